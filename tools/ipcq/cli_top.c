/*
 * top: a live view of the broker, redrawn every --interval like top(1).
 *
 * Each turn takes one stat snapshot of every queue. Rates (puts/s, gets/s,
 * the broker's requests/s) are the differences of the cumulative counters
 * between this snapshot and the one before, over the time between them;
 * a queue that is new, or a broker that restarted (another pid, or its
 * uptime went back), has no rate until the next turn ("-").
 *
 * The frame is the broker's figures, the sort line, then one row per queue:
 * numbers right-aligned in columns as wide as their widest cell, the name
 * last. On a terminal (cli_term.c) it fills the window, each line cut to its
 * width, and keys change the order or quit; with --once, or when stdout is
 * not a terminal, it is printed once, plain and whole, from two snapshots
 * --interval apart. A broker that goes away is shown as such and asked again
 * each turn; with --once it ends the run as any command's would.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_cmds.h"
#include "cli_report.h"
#include "cli_stat.h"
#include "cli_term.h"
#include "tool_clock.h"

typedef enum sort_key { SORT_SIZE, SORT_PUTS, SORT_GETS, SORT_NAME, SORT_AGE, SORT_BYTES } sort_key;

static const struct {
    char key;
    const char *word;
} sort_keys[] = {
    [SORT_SIZE] = {'s', "size"}, [SORT_PUTS] = {'p', "puts"}, [SORT_GETS] = {'g', "gets"},
    [SORT_NAME] = {'n', "name"}, [SORT_AGE] = {'a', "age"},   [SORT_BYTES] = {'b', "bytes"},
};
#define NSORT_KEYS (sizeof sort_keys / sizeof sort_keys[0])

/* A snapshot and when it came. */
typedef struct sample {
    ipcq_stats *s; /* NULL: none */
    row_ref *by_name;
    size_t n;
    int64_t at_ms;
} sample;

/* A queue as shown: its row in the current sample and its rates. */
typedef struct top_row {
    const char *name;
    size_t index;
    double puts_rate, gets_rate; /* per second; < 0: none yet */
    int64_t size, age_ms, bytes; /* the figures it may be sorted by */
} top_row;

typedef struct top {
    ipcq_client *c;
    int64_t interval_ms;
    sort_key sort;
    sample cur, prev;
    top_row *rows; /* cur.n of them, in the order shown */
    double requests_rate;
    char error[512];    /* why the last snapshot failed; "" when it came */
    int64_t down_since; /* when the broker stopped answering */
} top;

static void
sample_free(sample *sm)
{
    ipcq_stats_free(&sm->s);
    free(sm->by_name);
    memset(sm, 0, sizeof *sm);
}

/* (now - before) per second over ms milliseconds; -1 if it makes no sense. */
static double
rate(int64_t now, int64_t before, int64_t ms)
{
    return ms > 0 && now >= before ? (double)(now - before) * 1000.0 / (double)ms : -1.0;
}

static int64_t
queue_of(const sample *sm, size_t index, ipcq_queue_field f)
{
    return ipcq_stats_queue(sm->s, index, f);
}

/* The rates of every queue of t->cur against t->prev. */
static void
compute_rates(top *t)
{
    const sample *cur = &t->cur, *prev = &t->prev;
    int64_t ms = cur->at_ms - prev->at_ms;
    bool same_broker = prev->s != NULL &&
                       ipcq_stats_broker(cur->s, IPCQ_BROKER_STAT_PID) ==
                           ipcq_stats_broker(prev->s, IPCQ_BROKER_STAT_PID) &&
                       ipcq_stats_broker(cur->s, IPCQ_BROKER_STAT_UPTIME_MS) >=
                           ipcq_stats_broker(prev->s, IPCQ_BROKER_STAT_UPTIME_MS);
    t->requests_rate = -1.0;
    if (same_broker)
        t->requests_rate = rate(ipcq_stats_broker(cur->s, IPCQ_BROKER_STAT_REQUESTS),
                                ipcq_stats_broker(prev->s, IPCQ_BROKER_STAT_REQUESTS), ms);
    for (size_t r = 0; r < cur->n; r++) {
        top_row *row = &t->rows[r];
        size_t i = cur->by_name[r].index;
        *row = (top_row){cur->by_name[r].name,
                         i,
                         -1.0,
                         -1.0,
                         queue_of(cur, i, IPCQ_QUEUE_SIZE),
                         queue_of(cur, i, IPCQ_QUEUE_OLDEST_MS),
                         queue_of(cur, i, IPCQ_QUEUE_BYTES)};
        const row_ref *was = same_broker ? find_row(prev->by_name, prev->n, row->name) : NULL;
        if (was == NULL)
            continue;
        row->puts_rate = rate(queue_of(cur, row->index, IPCQ_QUEUE_PUTS),
                              queue_of(prev, was->index, IPCQ_QUEUE_PUTS), ms);
        row->gets_rate = rate(queue_of(cur, row->index, IPCQ_QUEUE_GETS),
                              queue_of(prev, was->index, IPCQ_QUEUE_GETS), ms);
    }
}

/* Takes a snapshot: IPCQ_OK, or the failure (in t->error too). */
static int
take_sample(top *t)
{
    ipcq_stats *s;
    int rc = ipcq_stat(t->c, NULL, &s);
    if (rc != IPCQ_OK) {
        const char *detail = ipcq_client_error(t->c);
        snprintf(t->error, sizeof t->error, "%s", detail[0] ? detail : ipcq_strerror(rc));
        if (t->cur.s != NULL || t->down_since == 0)
            t->down_since = tool_now_ms();
        sample_free(&t->prev);
        sample_free(&t->cur);
        return rc;
    }
    row_ref *by_name = sorted_rows(s);
    size_t n = ipcq_stats_count(s);
    top_row *rows = realloc(t->rows, (n ? n : 1) * sizeof *rows);
    if (by_name == NULL || rows == NULL) {
        free(by_name);
        ipcq_stats_free(&s);
        snprintf(t->error, sizeof t->error, "out of memory");
        return IPCQ_ENOMEM;
    }
    t->rows = rows;
    t->error[0] = '\0';
    sample_free(&t->prev);
    t->prev = t->cur;
    t->cur = (sample){s, by_name, n, tool_now_ms()};
    compute_rates(t);
    return IPCQ_OK;
}

/* ---- the order of the rows --------------------------------------------- */

static sort_key order_key; /* for by_key(): qsort() takes no argument */

/* Larger first. */
static int
cmp_desc(double a, double b)
{
    return a < b ? 1 : a > b ? -1 : 0;
}

static int
by_key(const void *pa, const void *pb)
{
    const top_row *a = pa, *b = pb;
    int c = 0;
    switch (order_key) {
    case SORT_SIZE:
        c = cmp_desc((double)a->size, (double)b->size);
        break;
    case SORT_PUTS:
        c = cmp_desc(a->puts_rate, b->puts_rate);
        break;
    case SORT_GETS:
        c = cmp_desc(a->gets_rate, b->gets_rate);
        break;
    case SORT_AGE:
        c = cmp_desc((double)a->age_ms, (double)b->age_ms);
        break;
    case SORT_BYTES:
        c = cmp_desc((double)a->bytes, (double)b->bytes);
        break;
    case SORT_NAME:
        break;
    }
    return c != 0 ? c : strcmp(a->name, b->name);
}

/* ---- the frame ----------------------------------------------------------- */

/* Where a frame goes: a terminal's window (each line cut to cols, no more
 * than rows_left lines), or plain lines. */
typedef struct frame {
    FILE *out;
    bool tty;
    int rows_left, cols;
} frame;

/* One line of the frame; bar: in reverse video across the window. */
__attribute__((format(printf, 3, 4))) static void
frame_line(frame *f, bool bar, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!f->tty) {
        fprintf(f->out, "%s\n", line);
        return;
    }
    if (f->rows_left <= 0)
        return;
    size_t end = 0;
    int width = 0; /* characters, counted as UTF-8 lead bytes */
    for (; line[end] != '\0'; end++) {
        if (((unsigned char)line[end] & 0xC0) == 0x80)
            continue;
        if (width == f->cols)
            break;
        width++;
    }
    fputs(bar ? "\033[7m" : "", f->out);
    fwrite(line, 1, end, f->out);
    if (bar)
        fprintf(f->out, "%*s\033[0m", f->cols - width, "");
    fputs(--f->rows_left > 0 ? "\033[K\n" : "\033[K", f->out);
}

/* 4.0K, 1.5M: bytes in a few characters. */
static void
fmt_bytes(char *buf, size_t cap, int64_t v)
{
    static const char units[] = "KMGTPE";
    if (v < 1024) {
        snprintf(buf, cap, "%lld", (long long)v);
        return;
    }
    double d = (double)v / 1024.0;
    size_t u = 0;
    for (; d >= 1024.0 && u + 1 < sizeof units - 1; u++)
        d /= 1024.0;
    snprintf(buf, cap, "%.1f%c", d, units[u]);
}

/* 3.2s, 5m02s, 2h07m: an age or a duration. */
static void
fmt_age(char *buf, size_t cap, int64_t ms)
{
    long long s = (long long)(ms / 1000);
    if (ms < 60000)
        snprintf(buf, cap, "%.1fs", (double)ms / 1000.0);
    else if (s < 3600)
        snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%lldh%02lldm", s / 3600, s / 60 % 60);
}

static void
fmt_rate(char *buf, size_t cap, double r)
{
    if (r < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, r < 100.0 ? "%.1f" : "%.0f", r);
}

enum { C_SIZE, C_MAXSIZE, C_PUTS, C_GETS, C_GETTERS, C_PUTTERS, C_LEASED, C_AGE, C_BYTES, NCOLS };
static const char *const col_headers[NCOLS] = {"SIZE",    "MAXSIZE", "PUT/S",  "GET/S", "GETTERS",
                                               "PUTTERS", "LEASED",  "OLDEST", "BYTES"};
typedef char cells[NCOLS][24];

static void
row_cells(const top *t, const top_row *row, cells out)
{
    int64_t maxsize = queue_of(&t->cur, row->index, IPCQ_QUEUE_MAXSIZE);
    snprintf(out[C_SIZE], sizeof out[0], "%lld", (long long)row->size);
    snprintf(out[C_MAXSIZE], sizeof out[0], maxsize ? "%lld" : "inf", (long long)maxsize);
    fmt_rate(out[C_PUTS], sizeof out[0], row->puts_rate);
    fmt_rate(out[C_GETS], sizeof out[0], row->gets_rate);
    snprintf(out[C_GETTERS], sizeof out[0], "%lld",
             (long long)queue_of(&t->cur, row->index, IPCQ_QUEUE_GETTERS));
    snprintf(out[C_PUTTERS], sizeof out[0], "%lld",
             (long long)queue_of(&t->cur, row->index, IPCQ_QUEUE_PUTTERS));
    snprintf(out[C_LEASED], sizeof out[0], "%lld",
             (long long)queue_of(&t->cur, row->index, IPCQ_QUEUE_LEASED));
    if (row->size > 0)
        fmt_age(out[C_AGE], sizeof out[0], row->age_ms);
    else
        snprintf(out[C_AGE], sizeof out[0], "-");
    fmt_bytes(out[C_BYTES], sizeof out[0], row->bytes);
}

/* The queue table: one row per queue in t->rows' order. */
static void
render_queues(const top *t, frame *f)
{
    int w[NCOLS];
    cells c;
    for (int k = 0; k < NCOLS; k++)
        w[k] = (int)strlen(col_headers[k]);
    for (size_t r = 0; r < t->cur.n; r++) {
        row_cells(t, &t->rows[r], c);
        for (int k = 0; k < NCOLS; k++)
            if ((int)strlen(c[k]) > w[k])
                w[k] = (int)strlen(c[k]);
    }
    char line[1024];
    size_t len = 0;
    for (int k = 0; k < NCOLS; k++)
        len += (size_t)snprintf(line + len, sizeof line - len, "%*s  ", w[k], col_headers[k]);
    frame_line(f, f->tty, "%sQUEUE", line);
    for (size_t r = 0; r < t->cur.n; r++) {
        row_cells(t, &t->rows[r], c);
        len = 0;
        for (int k = 0; k < NCOLS; k++)
            len += (size_t)snprintf(line + len, sizeof line - len, "%*s  ", w[k], c[k]);
        frame_line(f, false, "%s%s", line, t->rows[r].name);
    }
}

/* The broker's lines. */
static void
render_broker(const top *t, frame *f)
{
#define B(field) ((long long)ipcq_stats_broker(t->cur.s, IPCQ_BROKER_STAT_##field))
    char up[24], held[24], reqs[24], rss[24] = "?";
    fmt_age(up, sizeof up, B(UPTIME_MS));
    fmt_bytes(held, sizeof held, B(BYTES));
    fmt_rate(reqs, sizeof reqs, t->requests_rate);
    if (B(RSS_BYTES) >= 0)
        fmt_bytes(rss, sizeof rss, B(RSS_BYTES));
    frame_line(f, false,
               "ipcqd pid %lld, up %s: %lld queues, %lld items (%s bytes); %lld clients, %lld "
               "sessions; memory %s",
               B(PID), up, B(QUEUES), B(ITEMS), held, B(CLIENTS), B(SESSIONS), rss);
    frame_line(f, false, "requests: %s/s, %lld bad, %lld unroutable; %lld disconnects", reqs,
               B(BAD_REQUESTS), B(UNROUTABLE), B(DISCONNECTS));
    if (B(LOG_SEGMENTS) >= 0) {
        char disk[24], live[24];
        fmt_bytes(disk, sizeof disk, B(LOG_DISK_BYTES));
        fmt_bytes(live, sizeof live, B(LOG_LIVE_BYTES));
        frame_line(f, false, "log: %s bytes on disk in %lld segments, %s live%s", disk,
                   B(LOG_SEGMENTS), live, B(STORAGE_FAILED) > 0 ? "; STORAGE FAILED" : "");
    }
#undef B
}

static void
render(top *t, frame *f)
{
    if (t->cur.s == NULL) {
        char down[24];
        fmt_age(down, sizeof down, tool_now_ms() - t->down_since);
        frame_line(f, false, "ipcq top: broker unavailable: %s", t->error);
        frame_line(f, false, "down for %s; asking again every %.1f s (q quits)", down,
                   (double)t->interval_ms / 1000.0);
        return;
    }
    order_key = t->sort;
    qsort(t->rows, t->cur.n, sizeof *t->rows, by_key);
    render_broker(t, f);
    if (f->tty)
        frame_line(f, false,
                   "sorted by %s; keys: s size, p puts/s, g gets/s, n name, a age, b bytes, q quit",
                   sort_keys[t->sort].word);
    else
        frame_line(f, false, "sorted by %s; rates over the last %.1f s", sort_keys[t->sort].word,
                   (double)(t->cur.at_ms - t->prev.at_ms) / 1000.0);
    frame_line(f, false, "%s", "");
    render_queues(t, f);
}

/* Redraws the whole window in one write. */
static void
draw(top *t, const cli_term *term)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return;
    frame f = {out, true, term->rows, term->cols};
    fputs("\033[H", out);
    render(t, &f);
    fputs("\033[J", out);
    if (fclose(out) == 0)
        term_write(buf, len);
    free(buf);
}

/* ---- the runs ------------------------------------------------------------ */

static int
parse_sort(const char *s, sort_key *out)
{
    for (size_t k = 0; k < NSORT_KEYS; k++)
        if (strcmp(s, sort_keys[k].word) == 0 || (s[0] == sort_keys[k].key && s[1] == '\0')) {
            *out = (sort_key)k;
            return CLI_OK;
        }
    return tool_usage_error(&cli_usage, "top",
                            "invalid --sort '%s': want size, puts, gets, name, age or bytes", s);
}

/* --once: two snapshots an interval apart, one plain frame. */
static int
run_once(top *t)
{
    int rc = take_sample(t);
    if (rc == IPCQ_OK) {
        tool_sleep_ms((long)t->interval_ms);
        rc = take_sample(t);
    }
    if (rc != IPCQ_OK)
        return cli_fail(t->c, NULL, rc);
    frame f = {stdout, false, 0, 0};
    render(t, &f);
    return CLI_OK;
}

/* The live view, until q or a stop signal. */
static int
run_live(top *t)
{
    cli_term term;
    term_open(&term);
    take_sample(t);
    draw(t, &term);
    int64_t next = tool_now_ms() + t->interval_ms;
    int status = CLI_OK, key = 0;
    for (;;) {
        term_event ev = term_wait(&term, next - tool_now_ms(), &key);
        if (ev == TERM_STOP) {
            status = 128 + term_stop_signal();
            break;
        }
        if (ev == TERM_KEY && (key == 'q' || key == 'Q'))
            break;
        if (ev == TERM_KEY) {
            for (size_t k = 0; k < NSORT_KEYS; k++)
                if (key == sort_keys[k].key)
                    t->sort = (sort_key)k;
        } else if (ev == TERM_TIMEOUT) {
            take_sample(t);
            next += t->interval_ms;
            if (next <= tool_now_ms()) /* the snapshot took longer than a turn */
                next = tool_now_ms() + t->interval_ms;
        }
        draw(t, &term);
    }
    term_close(&term);
    return status;
}

int
cmd_top(ipcq_client *c, const cli_opts *o)
{
    top t = {.c = c, .interval_ms = o->interval_ms, .sort = SORT_SIZE};
    if (o->sort != NULL && parse_sort(o->sort, &t.sort) != CLI_OK)
        return CLI_USAGE;
    int rc = (o->seen & OPT_ONCE) || !isatty(STDOUT_FILENO) ? run_once(&t) : run_live(&t);
    sample_free(&t.prev);
    sample_free(&t.cur);
    free(t.rows);
    return rc;
}
