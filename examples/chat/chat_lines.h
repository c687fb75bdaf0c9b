/*
 * Lines typed on standard input (the client's keyboard, the server's
 * console), read while watching for a stop signal: a signalfd for SIGINT
 * and SIGTERM (blocked, see chat_proc.h) is polled beside stdin, so Ctrl-C
 * ends a wait for the keyboard at once.
 */
#ifndef CHAT_LINES_H
#define CHAT_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "chat_msg.h"

typedef struct chat_lines {
    int sigfd;
    char buf[CHAT_TEXT_MAX + 1]; /* a line of up to CHAT_TEXT_MAX bytes and its newline */
    size_t len;
    bool eof;
    bool skipping; /* dropping the rest of a line that was too long */
} chat_lines;

typedef enum chat_line_kind {
    CHAT_LINE,        /* a line, without its newline */
    CHAT_LINE_LONG,   /* a line over CHAT_TEXT_MAX bytes, dropped whole */
    CHAT_LINE_EOF,    /* end of input */
    CHAT_LINE_SIGNAL, /* SIGINT or SIGTERM came */
    CHAT_LINE_ERROR,  /* reading failed */
} chat_line_kind;

/* 0, or -1 if the signalfd cannot be made. */
int chat_lines_open(chat_lines *r);
void chat_lines_close(chat_lines *r);

/* The next line into out (CHAT_TEXT_MAX + 1 bytes at least, NUL-terminated),
 * or what stopped the wait; *sig is the signal for CHAT_LINE_SIGNAL. */
chat_line_kind chat_lines_next(chat_lines *r, char *out, int *sig);

#endif
