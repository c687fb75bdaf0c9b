/*
 * stat and ls: views of one ipcq_stat() snapshot. Queues are shown sorted by
 * name. stat prints an aligned table, or with --json one object per queue
 * (keys of SPEC §5) and, for the whole broker, {"broker": {...}, "queues":
 * [...]}. One column table drives both the table and the JSON keys. With
 * --prometheus it hands the snapshot to cli_prom.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_cmds.h"
#include "cli_report.h"
#include "cli_stat.h"

typedef struct column {
    const char *header; /* in the table */
    const char *key;    /* in JSON */
    ipcq_queue_field field;
} column;

static const column columns[] = {
    {"SIZE", "size", IPCQ_QUEUE_SIZE},
    {"MAXSIZE", "maxsize", IPCQ_QUEUE_MAXSIZE},
    {"BYTES", "bytes", IPCQ_QUEUE_BYTES},
    {"GETTERS", "getters", IPCQ_QUEUE_GETTERS},
    {"PUTTERS", "putters", IPCQ_QUEUE_PUTTERS},
    {"JOINERS", "joiners", IPCQ_QUEUE_JOINERS},
    {"UNFINISHED", "unfinished", IPCQ_QUEUE_UNFINISHED},
    {"LEASED", "leased", IPCQ_QUEUE_LEASED},
    {"OLDEST_MS", "oldest_ms", IPCQ_QUEUE_OLDEST_MS},
    {"PUTS", "puts", IPCQ_QUEUE_PUTS},
    {"GETS", "gets", IPCQ_QUEUE_GETS},
    {"SHUTDOWN", "shutdown", IPCQ_QUEUE_SHUTDOWN},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

typedef struct broker_key {
    const char *key;
    ipcq_broker_field field;
} broker_key;

static const broker_key broker_keys[] = {
    {"queues", IPCQ_BROKER_STAT_QUEUES},
    {"sessions", IPCQ_BROKER_STAT_SESSIONS},
    {"items", IPCQ_BROKER_STAT_ITEMS},
    {"bytes", IPCQ_BROKER_STAT_BYTES},
    {"uptime_ms", IPCQ_BROKER_STAT_UPTIME_MS},
    {"requests", IPCQ_BROKER_STAT_REQUESTS},
    {"bad_requests", IPCQ_BROKER_STAT_BAD_REQUESTS},
    {"unroutable", IPCQ_BROKER_STAT_UNROUTABLE},
    {"max_item_size", IPCQ_BROKER_STAT_MAX_ITEM_SIZE},
    {"pid", IPCQ_BROKER_STAT_PID},
    {"disconnects", IPCQ_BROKER_STAT_DISCONNECTS},
    {"log_disk_bytes", IPCQ_BROKER_STAT_LOG_DISK_BYTES},
    {"log_live_bytes", IPCQ_BROKER_STAT_LOG_LIVE_BYTES},
    {"log_segments", IPCQ_BROKER_STAT_LOG_SEGMENTS},
    {"storage_failed", IPCQ_BROKER_STAT_STORAGE_FAILED},
    {"clients", IPCQ_BROKER_STAT_CLIENTS},
    {"rss_bytes", IPCQ_BROKER_STAT_RSS_BYTES},
};

static int
by_name(const void *a, const void *b)
{
    return strcmp(((const row_ref *)a)->name, ((const row_ref *)b)->name);
}

row_ref *
sorted_rows(const ipcq_stats *s)
{
    size_t n = ipcq_stats_count(s);
    row_ref *rows = malloc((n ? n : 1) * sizeof *rows);
    if (rows == NULL) {
        fprintf(stderr, "ipcq: out of memory\n");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = (row_ref){ipcq_stats_name(s, i), i};
    qsort(rows, n, sizeof *rows, by_name);
    return rows;
}

const row_ref *
find_row(const row_ref *rows, size_t n, const char *name)
{
    row_ref key = {name, 0};
    return bsearch(&key, rows, n, sizeof *rows, by_name);
}

static void
cell_text(const ipcq_stats *s, size_t row, const column *col, char *buf, size_t cap)
{
    int64_t v = ipcq_stats_queue(s, row, col->field);
    if (col->field == IPCQ_QUEUE_SHUTDOWN)
        snprintf(buf, cap, "%s", v ? "yes" : "no");
    else if (col->field == IPCQ_QUEUE_MAXSIZE && v == 0)
        snprintf(buf, cap, "inf");
    else
        snprintf(buf, cap, "%lld", (long long)v);
}

/* Numbers right-aligned in columns as wide as their widest cell; the name
 * comes last, so that no UTF-8 name can throw the columns out of line. */
static void
print_table(const ipcq_stats *s, const row_ref *rows, size_t n)
{
    int w[NCOLUMNS];
    char buf[32];
    for (size_t c = 0; c < NCOLUMNS; c++) {
        w[c] = (int)strlen(columns[c].header);
        for (size_t r = 0; r < n; r++) {
            cell_text(s, rows[r].index, &columns[c], buf, sizeof buf);
            if ((int)strlen(buf) > w[c])
                w[c] = (int)strlen(buf);
        }
    }
    for (size_t c = 0; c < NCOLUMNS; c++)
        printf("%*s  ", w[c], columns[c].header);
    printf("QUEUE\n");
    for (size_t r = 0; r < n; r++) {
        for (size_t c = 0; c < NCOLUMNS; c++) {
            cell_text(s, rows[r].index, &columns[c], buf, sizeof buf);
            printf("%*s  ", w[c], buf);
        }
        printf("%s\n", rows[r].name);
    }
}

static void
print_broker(const ipcq_stats *s)
{
#define B(f) ((long long)ipcq_stats_broker(s, IPCQ_BROKER_STAT_##f))
    printf("broker: pid %lld, up %.1f s, %lld queues, %lld items, %lld bytes, %lld sessions, "
           "%lld requests (%lld bad, %lld unroutable), max item %lld bytes\n",
           B(PID), (double)B(UPTIME_MS) / 1000.0, B(QUEUES), B(ITEMS), B(BYTES), B(SESSIONS),
           B(REQUESTS), B(BAD_REQUESTS), B(UNROUTABLE), B(MAX_ITEM_SIZE));
    if (B(CLIENTS) >= 0 && B(RSS_BYTES) >= 0)
        printf("clients: %lld connected; memory: %lld bytes resident\n", B(CLIENTS), B(RSS_BYTES));
    if (B(LOG_SEGMENTS) >= 0)
        printf("log: %lld bytes on disk in %lld segments, %lld live%s\n", B(LOG_DISK_BYTES),
               B(LOG_SEGMENTS), B(LOG_LIVE_BYTES),
               B(STORAGE_FAILED) > 0 ? "; STORAGE FAILED: no more changes until restarted" : "");
#undef B
}

/* A JSON string: quote and backslash escaped, control bytes as \u00XX. */
static void
json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void
json_queue(const ipcq_stats *s, size_t i)
{
    fputs("{\"name\":", stdout);
    json_string(ipcq_stats_name(s, i));
    for (size_t c = 0; c < NCOLUMNS; c++) {
        int64_t v = ipcq_stats_queue(s, i, columns[c].field);
        if (columns[c].field == IPCQ_QUEUE_SHUTDOWN)
            printf(",\"%s\":%s", columns[c].key, v ? "true" : "false");
        else
            printf(",\"%s\":%lld", columns[c].key, (long long)v);
    }
    putchar('}');
}

static void
json_all(const ipcq_stats *s, const row_ref *rows, size_t n)
{
    fputs("{\"broker\":{", stdout);
    for (size_t k = 0; k < sizeof broker_keys / sizeof broker_keys[0]; k++) {
        long long v = ipcq_stats_broker(s, broker_keys[k].field);
        if (v < 0) /* a durable broker's figure, from a memory-only one */
            continue;
        printf("%s\"%s\":%lld", k ? "," : "", broker_keys[k].key, v);
    }
    fputs("},\"queues\":[", stdout);
    for (size_t r = 0; r < n; r++) {
        if (r > 0)
            putchar(',');
        json_queue(s, rows[r].index);
    }
    fputs("]}", stdout);
}

/* What stat and ls show of one snapshot: queue as asked (NULL: the broker
 * and every queue), its rows sorted by name. */
typedef void (*snapshot_view)(const ipcq_stats *s, const row_ref *rows, size_t n, const char *queue,
                              const cli_opts *o);

/* Takes one stat of queue and shows it with view: the exit status. */
static int
show_snapshot(ipcq_client *c, const char *queue, const cli_opts *o, snapshot_view view)
{
    ipcq_stats *s;
    int rc = ipcq_stat(c, queue, &s);
    if (rc != IPCQ_OK)
        return cli_fail(c, queue, rc);
    row_ref *rows = sorted_rows(s);
    bool ok = rows != NULL;
    if (ok)
        view(s, rows, ipcq_stats_count(s), queue, o);
    free(rows);
    ipcq_stats_free(&s);
    return ok ? CLI_OK : CLI_ERROR;
}

static void
view_stat(const ipcq_stats *s, const row_ref *rows, size_t n, const char *queue, const cli_opts *o)
{
    if (o->seen & OPT_PROMETHEUS) {
        print_prometheus(s, rows, n, queue == NULL);
        return;
    }
    if (o->seen & OPT_JSON) {
        if (queue != NULL && n > 0)
            json_queue(s, 0);
        else
            json_all(s, rows, n);
        putchar('\n');
        return;
    }
    if (queue == NULL)
        print_broker(s);
    print_table(s, rows, n);
}

static void
view_ls(const ipcq_stats *s, const row_ref *rows, size_t n, const char *queue, const cli_opts *o)
{
    for (size_t r = 0; r < n; r++)
        printf("%s\n", rows[r].name);
}

int
cmd_stat(ipcq_client *c, const cli_opts *o)
{
    return show_snapshot(c, o->nargs > 0 ? o->args[0] : NULL, o, view_stat);
}

int
cmd_ls(ipcq_client *c, const cli_opts *o)
{
    return show_snapshot(c, NULL, o, view_ls);
}
