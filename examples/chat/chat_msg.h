/*
 * The chat room's messages and queue names, after the lecture notes' UDP
 * chat room ("L name", "C name text", "Q name"): every item is one line of
 * text, a type letter, a space, then its fields separated by single spaces,
 * the last field (the text) taking the rest.
 *
 *   to the server, on chat.server:
 *     L NAME REPLYQ   log in as NAME; the answer goes to the queue REPLYQ
 *     C NAME TEXT     say TEXT to everyone else (NAME "admin": the console)
 *     Q NAME          leave
 *   the server's answer to a login, on REPLYQ:
 *     OK              NAME is yours: chat.member.NAME is your queue
 *     ERR REASON      refused (the name is taken, the room is full ...)
 *   to a member, on chat.member.NAME:
 *     M TEXT          a line to print
 *     X               you are out of the room: the last item of the queue
 *
 * No protobuf: the items are short lines between the two programs of one
 * example, which ipcq carries as opaque bytes; plain text keeps them
 * readable with `ipcq get chat.server` and needs no schema.
 */
#ifndef CHAT_MSG_H
#define CHAT_MSG_H

#include <stddef.h>

#define CHAT_SERVER_QUEUE "chat.server"
#define CHAT_MEMBER_PREFIX "chat.member."
#define CHAT_LOGIN_PREFIX "chat.login."
/* The console's name: reserved, as the notes reserve 管理员. */
#define CHAT_ADMIN_NAME "admin"

#define CHAT_NAME_MAX 32   /* bytes of a member's name */
#define CHAT_TEXT_MAX 1000 /* bytes of one line said */
#define CHAT_ITEM_MAX (CHAT_TEXT_MAX + CHAT_NAME_MAX + 64)
#define CHAT_QUEUE_MAX 128 /* bytes of a queue name the chat forms, NUL included */

/* One item taken apart; the pointers point into the item, unterminated. */
typedef struct chat_msg {
    char type;        /* 'L', 'C', 'Q', 'M', 'X', or 'O' for OK, 'E' for ERR */
    const char *name; /* L, C, Q */
    size_t name_len;
    const char *text; /* L: the reply queue; C, M, ERR: the text */
    size_t text_len;
} chat_msg;

/* Writes "TYPE[ FIELD[ FIELD]]" into buf (cap bytes, NUL included); a
 * NULL field is left out. The length, or -1 if it does not fit. */
int chat_msg_format(char *buf, size_t cap, const char *type, const char *field1,
                    const char *field2);

/* Takes item[0..len) apart: 0, or -1 if it is not a message of the table. */
int chat_msg_parse(const char *item, size_t len, chat_msg *m);

/* NULL if name may be a member's name, else why not (a string literal):
 * 1 to CHAT_NAME_MAX bytes, no space or control character, not "admin". */
const char *chat_name_problem(const char *name);

/* chat.member.NAME into buf (CHAT_QUEUE_MAX bytes); -1 if name is too long. */
int chat_member_queue(char *buf, size_t cap, const char *name);

#endif
