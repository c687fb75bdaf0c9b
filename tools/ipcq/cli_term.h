/*
 * The terminal of ipcq top, with plain ANSI escapes and termios (no curses):
 * the alternate screen with the cursor hidden while top runs, keys read one
 * at a time without echo (stdin in non-canonical mode, when it is a
 * terminal), the window's size, and the signals that end or redraw the view.
 *
 * term_open() saves what it changes and term_close() puts it back: the
 * termios of stdin, the main screen, the cursor, the attributes. SIGINT and
 * SIGTERM only stop the view (term_wait() says so) so that the terminal is
 * restored before the program exits; SIGWINCH asks for a redraw. Between
 * two term_wait() calls these signals are held back (blocked), so that none
 * is missed while top talks to the broker.
 */
#ifndef IPCQ_CLI_TERM_H
#define IPCQ_CLI_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

typedef struct cli_term {
    bool keys;            /* stdin is a terminal, in non-canonical mode */
    struct termios saved; /* stdin's termios before, when keys */
    int rows, cols;       /* the window's size */
} cli_term;

typedef enum term_event {
    TERM_TIMEOUT, /* the time given passed */
    TERM_KEY,     /* a key was pressed */
    TERM_RESIZE,  /* the window changed size (rows and cols are updated) */
    TERM_STOP,    /* SIGINT or SIGTERM: term_stop_signal() says which */
} term_event;

/* Takes the terminal of stdout (and stdin's keys, if it is one). */
void term_open(cli_term *t);

/* Waits at most timeout_ms for a key, a resize or a stop signal. */
term_event term_wait(cli_term *t, int64_t timeout_ms, int *key);

/* The stop signal that came, or 0. */
int term_stop_signal(void);

/* Writes len bytes to the terminal, all of them unless it fails. */
void term_write(const char *buf, size_t len);

/* Gives the terminal back as term_open() found it. */
void term_close(cli_term *t);

#endif
