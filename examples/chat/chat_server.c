/*
 * chat_server: the lecture notes' UDP chat room server, over ipcq.
 *
 * It reads its queue, chat.server, and keeps the members: a member NAME is
 * reached on its queue chat.member.NAME, which the server makes when it
 * lets NAME in. Each message is forwarded to every other member; joins and
 * leaves are announced; a name already taken is refused. As in the notes,
 * a forked child reads the console (stdin) and sends each line typed there
 * into the server's own queue as a message from "admin", so that the one
 * process that keeps the members is the only one that writes to them.
 *
 * Ctrl-C or SIGTERM closes the room: the console child is stopped and
 * reaped, every member is told and sent X (which ends its receiver, that
 * deletes its queue), and chat.server is deleted. The messages are in
 * chat_msg.h.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ipcq.h>

#include "chat_cli.h"
#include "chat_lines.h"
#include "chat_msg.h"
#include "chat_proc.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

#define MAX_MEMBERS 64
#define PUT_MS 2000 /* the queues the server writes are unbounded: a put is quick */
#define CONSOLE_STOP_MS 2000

static const char about[] =
    "The chat room's server: keeps the members, refuses a name already taken,\n"
    "forwards each message to every other member and announces joins and\n"
    "leaves. Each line typed on its standard input goes to every member as a\n"
    "message from \"admin\". Ctrl-C closes the room.\n";

typedef struct room {
    ipcq_client *c;
    char names[MAX_MEMBERS][CHAT_NAME_MAX + 1];
    int n;
} room;

/* A line on stdout, at once: the server's log is read through pipes too. */
__attribute__((format(printf, 1, 2))) static void
say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int
find_member(const room *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->names[i], name) == 0)
            return i;
    return -1;
}

/* Puts item on queue; a failure is said, and the room goes on. */
static void
put_item(room *r, const char *queue, const char *item, int len)
{
    int rc = len < 0 ? IPCQ_ETOOBIG : ipcq_put(r->c, queue, item, (size_t)len, PUT_MS);
    if (rc != IPCQ_OK)
        chat_fail(r->c, queue, rc);
}

/* "M text" to member i. */
static void
tell(room *r, int i, const char *text)
{
    char queue[CHAT_QUEUE_MAX], item[CHAT_ITEM_MAX];
    chat_member_queue(queue, sizeof queue, r->names[i]);
    put_item(r, queue, item, chat_msg_format(item, sizeof item, "M", text, NULL));
}

/* "M text" to every member but the one named except (NULL: to all). */
static void
tell_others(room *r, const char *except, const char *text)
{
    for (int i = 0; i < r->n; i++)
        if (except == NULL || strcmp(r->names[i], except) != 0)
            tell(r, i, text);
}

/* The answer to a login goes to the reply queue the client named, never to
 * chat.member.NAME: when NAME is taken that queue is its owner's, and the
 * refused client must not read (or delete) what is sent there. The client
 * deletes its reply queue once it has the answer. */
static void
on_login(room *r, const char *name, const char *reply)
{
    const char *problem = chat_name_problem(name);
    if (problem == NULL && find_member(r, name) >= 0)
        problem = "the name is taken";
    if (problem == NULL && r->n == MAX_MEMBERS)
        problem = "the room is full";
    char queue[CHAT_QUEUE_MAX], item[CHAT_ITEM_MAX], text[CHAT_ITEM_MAX];
    if (problem == NULL) {
        chat_member_queue(queue, sizeof queue, name);
        ipcq_delete(r->c, queue); /* what a member of that name killed (-9) left */
        int rc = ipcq_create(r->c, queue, 0);
        if (rc != IPCQ_OK)
            problem = ipcq_strerror(rc);
    }
    if (problem != NULL) {
        say("refused %s: %s", name, problem);
        put_item(r, reply, item, chat_msg_format(item, sizeof item, "ERR", problem, NULL));
        return;
    }
    put_item(r, reply, "OK", 2);
    snprintf(text, sizeof text, "*** %s joined the room", name);
    tell_others(r, NULL, text);
    snprintf(r->names[r->n++], sizeof r->names[0], "%s", name);
    say("%s joined (%d in the room)", name, r->n);
}

static void
on_chat(room *r, const char *name, const char *text)
{
    if (strcmp(name, CHAT_ADMIN_NAME) != 0 && find_member(r, name) < 0)
        return; /* not in the room (a leftover of an earlier run) */
    char line[CHAT_ITEM_MAX];
    snprintf(line, sizeof line, "%s: %s", name, text);
    say("%s", line);
    tell_others(r, name, line);
}

/* As the notes' quit(): X ends the member's receiver, then the others hear. */
static void
on_leave(room *r, const char *name)
{
    int i = find_member(r, name);
    if (i < 0)
        return;
    char queue[CHAT_QUEUE_MAX], text[CHAT_ITEM_MAX];
    chat_member_queue(queue, sizeof queue, name);
    put_item(r, queue, "X", 1);
    memmove(r->names[i], r->names[i + 1], (size_t)(r->n - i - 1) * sizeof r->names[0]);
    r->n--;
    snprintf(text, sizeof text, "*** %s left the room", name);
    tell_others(r, NULL, text);
    say("%s left (%d in the room)", name, r->n);
}

static void
on_item(room *r, const char *item, size_t len)
{
    chat_msg m;
    char name[CHAT_NAME_MAX + 1], text[CHAT_ITEM_MAX];
    if (chat_msg_parse(item, len, &m) != 0 || m.name_len > CHAT_NAME_MAX ||
        m.text_len >= sizeof text) {
        say("ignored a malformed message of %zu bytes", len);
        return;
    }
    snprintf(name, sizeof name, "%.*s", (int)m.name_len, m.name);
    snprintf(text, sizeof text, "%.*s", (int)m.text_len, m.text);
    if (m.type == 'L')
        on_login(r, name, text);
    else if (m.type == 'C')
        on_chat(r, name, text);
    else if (m.type == 'Q')
        on_leave(r, name);
    else
        say("ignored a message of type %c", m.type);
}

/* The console child: each line typed becomes "C admin LINE" on chat.server
 * (the notes' admin process, which cannot see the members either). */
static int
console(ipcq_client *c)
{
    chat_lines lines;
    if (chat_lines_open(&lines) != 0)
        return TOOL_EXIT_ERROR;
    char text[CHAT_TEXT_MAX + 1], item[CHAT_ITEM_MAX];
    int sig = 0, rc = TOOL_EXIT_OK;
    for (;;) {
        chat_line_kind kind = chat_lines_next(&lines, text, &sig);
        if (kind == CHAT_LINE_LONG) {
            fprintf(stderr, "%s: a line over %d bytes was not sent\n", chat_prog, CHAT_TEXT_MAX);
            continue;
        }
        if (kind == CHAT_LINE_ERROR)
            rc = TOOL_EXIT_ERROR;
        if (kind != CHAT_LINE)
            break; /* end of input, or a stop signal */
        if (text[0] == '\0')
            continue;
        int n = chat_msg_format(item, sizeof item, "C", CHAT_ADMIN_NAME, text);
        int st = ipcq_put(c, CHAT_SERVER_QUEUE, item, (size_t)n, PUT_MS);
        if (st != IPCQ_OK) {
            rc = chat_fail(c, CHAT_SERVER_QUEUE, st);
            break;
        }
    }
    chat_lines_close(&lines);
    return sig != 0 ? 128 + sig : rc;
}

/* Tells every member the room is closing and sends each its X. */
static void
close_room(room *r)
{
    tell_others(r, NULL, "*** the server closed the room");
    for (int i = 0; i < r->n; i++) {
        char queue[CHAT_QUEUE_MAX];
        chat_member_queue(queue, sizeof queue, r->names[i]);
        put_item(r, queue, "X", 1);
    }
    r->n = 0;
    ipcq_delete(r->c, CHAT_SERVER_QUEUE);
}

/* Serves chat.server until a stop signal (its exit status then) or an
 * error of the broker. */
static int
serve(room *r, pid_t *console_pid)
{
    for (;;) {
        int sig = chat_take_signal(0);
        if (sig == SIGINT || sig == SIGTERM)
            return 128 + sig;
        int status;
        if (*console_pid > 0 && tool_reap(*console_pid, &status)) {
            *console_pid = 0; /* the console closed: the room goes on */
            say("the console closed");
        }
        void *item;
        size_t len;
        int rc = ipcq_get(r->c, CHAT_SERVER_QUEUE, &item, &len, CHAT_SLICE_MS);
        if (rc == IPCQ_EMPTY)
            continue;
        if (rc != IPCQ_OK)
            return chat_fail(r->c, CHAT_SERVER_QUEUE, rc);
        on_item(r, item, len);
        ipcq_free(item);
    }
}

int
main(int argc, char **argv)
{
    chat_args args;
    int rc = chat_args_parse(argc, argv, "", about, false, &args);
    if (rc >= 0)
        return rc;
    chat_signals_block();
    room r = {0};
    if ((rc = chat_connect(args.broker, &r.c)) >= 0)
        return rc;
    if ((rc = ipcq_create(r.c, CHAT_SERVER_QUEUE, 0)) != IPCQ_OK) {
        rc = chat_fail(r.c, CHAT_SERVER_QUEUE, rc);
        ipcq_client_close(&r.c);
        return rc;
    }
    fflush(NULL);
    pid_t console_pid = tool_fork();
    if (console_pid == 0)
        _exit(console(r.c));
    if (console_pid < 0) {
        perror("fork");
        ipcq_client_close(&r.c);
        return TOOL_EXIT_ERROR;
    }
    say("chat server on %s (pid %d, console pid %d); lines typed here go to everyone",
        CHAT_SERVER_QUEUE, (int)getpid(), (int)console_pid);
    rc = serve(&r, &console_pid);
    if (console_pid > 0)
        tool_stop_children(&console_pid, 1, CONSOLE_STOP_MS);
    close_room(&r);
    say("room closed");
    ipcq_client_close(&r.c);
    return rc;
}
