/*
 * stat --prometheus: one stat snapshot in the Prometheus text exposition
 * format (version 0.0.4), for node_exporter's textfile collector.
 *
 * Each figure is a metric family named by Prometheus's conventions: the
 * ipcq_broker_ or ipcq_queue_ prefix, base units (milliseconds become
 * seconds; sizes are _bytes), counters ending in _total. Every family has
 * its HELP and TYPE lines before its samples; the queue families have one
 * sample per queue, labelled queue="NAME" with the name escaped as the
 * format says (backslash, double quote and newline). The broker's durable
 * figures are left out when the broker keeps no log, as stat --json does.
 */
#include <stdio.h>

#include "cli_stat.h"

typedef struct family {
    const char *name;
    const char *help;
    bool counter;
    bool millis; /* the figure is milliseconds, shown as seconds */
    int field;   /* an ipcq_broker_field or ipcq_queue_field */
} family;

static const family broker_families[] = {
    {"ipcq_broker_queues", "Queues the broker holds.", false, false, IPCQ_BROKER_STAT_QUEUES},
    {"ipcq_broker_sessions", "Clients holding blocked calls or unconfirmed items.", false, false,
     IPCQ_BROKER_STAT_SESSIONS},
    {"ipcq_broker_items", "Items in all queues.", false, false, IPCQ_BROKER_STAT_ITEMS},
    {"ipcq_broker_bytes", "Bytes of the items in all queues.", false, false,
     IPCQ_BROKER_STAT_BYTES},
    {"ipcq_broker_uptime_seconds", "Time since the broker started.", false, true,
     IPCQ_BROKER_STAT_UPTIME_MS},
    {"ipcq_broker_requests_total", "Requests the broker served.", true, false,
     IPCQ_BROKER_STAT_REQUESTS},
    {"ipcq_broker_bad_requests_total", "Malformed, unknown or over-limit requests.", true, false,
     IPCQ_BROKER_STAT_BAD_REQUESTS},
    {"ipcq_broker_unroutable_replies_total", "Replies dropped because their client was gone.", true,
     false, IPCQ_BROKER_STAT_UNROUTABLE},
    {"ipcq_broker_disconnects_total", "Client connections closed.", true, false,
     IPCQ_BROKER_STAT_DISCONNECTS},
    {"ipcq_broker_max_item_size_bytes", "The largest item the broker takes.", false, false,
     IPCQ_BROKER_STAT_MAX_ITEM_SIZE},
    {"ipcq_broker_log_disk_bytes", "Bytes of the durable log's files, preallocation included.",
     false, false, IPCQ_BROKER_STAT_LOG_DISK_BYTES},
    {"ipcq_broker_log_live_bytes", "Bytes of the durable log's records still needed.", false, false,
     IPCQ_BROKER_STAT_LOG_LIVE_BYTES},
    {"ipcq_broker_log_segments", "Segment files of the durable log.", false, false,
     IPCQ_BROKER_STAT_LOG_SEGMENTS},
    {"ipcq_broker_storage_failed", "1 when the durable log failed: no more changes are taken.",
     false, false, IPCQ_BROKER_STAT_STORAGE_FAILED},
    {"ipcq_broker_clients", "Client connections open now.", false, false, IPCQ_BROKER_STAT_CLIENTS},
    {"ipcq_broker_resident_memory_bytes", "The broker process's resident memory.", false, false,
     IPCQ_BROKER_STAT_RSS_BYTES},
};

static const family queue_families[] = {
    {"ipcq_queue_size", "Items in the queue.", false, false, IPCQ_QUEUE_SIZE},
    {"ipcq_queue_maxsize", "The queue's bound in items; 0 is unbounded.", false, false,
     IPCQ_QUEUE_MAXSIZE},
    {"ipcq_queue_bytes", "Bytes of the items in the queue.", false, false, IPCQ_QUEUE_BYTES},
    {"ipcq_queue_blocked_getters", "Gets waiting for an item.", false, false, IPCQ_QUEUE_GETTERS},
    {"ipcq_queue_blocked_putters", "Puts waiting for room.", false, false, IPCQ_QUEUE_PUTTERS},
    {"ipcq_queue_blocked_joiners", "Joins waiting for every task to be done.", false, false,
     IPCQ_QUEUE_JOINERS},
    {"ipcq_queue_unfinished_tasks", "Tasks not yet marked done.", false, false,
     IPCQ_QUEUE_UNFINISHED},
    {"ipcq_queue_leased_items", "Items handed out whose receipt is not yet confirmed.", false,
     false, IPCQ_QUEUE_LEASED},
    {"ipcq_queue_oldest_item_age_seconds", "Age of the oldest item; 0 when empty.", false, true,
     IPCQ_QUEUE_OLDEST_MS},
    {"ipcq_queue_puts_total", "Items put on the queue since it was created.", true, false,
     IPCQ_QUEUE_PUTS},
    {"ipcq_queue_gets_total", "Items handed out since the queue was created.", true, false,
     IPCQ_QUEUE_GETS},
    {"ipcq_queue_dead_lettered_total", "Items moved to the queue's dead-letter queue.", true, false,
     IPCQ_QUEUE_DEAD_LETTERED},
    {"ipcq_queue_max_deliveries", "Deliveries before an item is dead-lettered; 0 is no limit.",
     false, false, IPCQ_QUEUE_MAX_DELIVERIES},
    {"ipcq_queue_shutdown", "1 once the queue is shut down.", false, false, IPCQ_QUEUE_SHUTDOWN},
};

#define COUNT(a) (sizeof(a) / sizeof(a)[0])

static void
header(const family *f)
{
    /* the help texts above have no backslash or newline to escape */
    printf("# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
           f->counter ? "counter" : "gauge");
}

static void
value(const family *f, int64_t v)
{
    if (f->millis)
        printf(" %lld.%03lld\n", (long long)(v / 1000), (long long)(v % 1000));
    else
        printf(" %lld\n", (long long)v);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label_value(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            printf("\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else
            putchar(*s);
    }
    putchar('"');
}

void
print_prometheus(const ipcq_stats *s, const row_ref *rows, size_t n, bool with_broker)
{
    for (size_t k = 0; with_broker && k < COUNT(broker_families); k++) {
        const family *f = &broker_families[k];
        int64_t v = ipcq_stats_broker(s, (ipcq_broker_field)f->field);
        if (v < 0) /* a durable broker's figure, from a memory-only one */
            continue;
        header(f);
        fputs(f->name, stdout);
        value(f, v);
    }
    for (size_t k = 0; k < COUNT(queue_families); k++) {
        const family *f = &queue_families[k];
        header(f);
        for (size_t r = 0; r < n; r++) {
            printf("%s{queue=", f->name);
            label_value(rows[r].name);
            putchar('}');
            value(f, ipcq_stats_queue(s, rows[r].index, (ipcq_queue_field)f->field));
        }
    }
}
