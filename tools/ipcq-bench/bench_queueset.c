/* Creating or deleting many queues, pipelined (see bench_queueset.h). */
#include "bench_queueset.h"

#include <stdio.h>

#include "bench_report.h"
#include "tool_progress.h"
#include "ipcq.h"
#include "wire.h"
#include "tool_proc.h"

#define REPLY_WAIT_MS 60000 /* the longest wait for one reply */

void
bench_queueset_name(char *buf, size_t cap, const char *prefix, int64_t i)
{
    snprintf(buf, cap, "%s.%lld", prefix, (long long)i);
}

int
bench_queueset_apply(const char *endpoint, bench_wire_op op, const char *prefix, int64_t n,
                     char *why, size_t cap)
{
    const char *verb = op == BENCH_WIRE_CREATE ? "creating" : "deleting";
    bench_wire w;
    int rc = bench_wire_open(&w, endpoint, 1);
    if (rc != IPCQ_OK) {
        snprintf(why, cap, "connecting to %s: %s", endpoint, ipcq_strerror(rc));
        return rc;
    }
    tool_progress progress;
    tool_progress_start(&progress, &bench_progress_style, prefix,
                        op == BENCH_WIRE_CREATE ? "queues created" : "queues deleted", (uint64_t)n);
    int64_t sent = 0, done = 0;
    while (rc == IPCQ_OK && done < n) {
        if (sent < n && sent - done < BENCH_QUEUESET_WINDOW) {
            char name[IPCQ_NAME_MAX + 1];
            bench_queueset_name(name, sizeof name, prefix, sent);
            uint64_t id;
            rc = bench_wire_send(&w, 0, op, name, 0, &id);
            if (rc != IPCQ_OK)
                snprintf(why, cap, "%s queue %s: cannot send", verb, name);
            sent++;
            continue;
        }
        bench_wire_reply r;
        rc = bench_wire_recv(&w, REPLY_WAIT_MS, &r);
        if (rc == IPCQ_OK && r.status != IPCQ_OK) {
            char name[IPCQ_NAME_MAX + 1];
            bench_queueset_name(name, sizeof name, prefix, (int64_t)r.id - 1); /* ids from 1 */
            rc = r.status;
            snprintf(why, cap, "%s queue %s (%lld done): %s", verb, name, (long long)done,
                     r.error[0] != '\0' ? r.error : ipcq_strerror(rc));
        } else if (rc == IPCQ_EMPTY) {
            rc = tool_stop_signal() != 0 ? IPCQ_ESTOPPING : IPCQ_EUNAVAILABLE;
            snprintf(why, cap, "%s queues: %s", verb,
                     rc == IPCQ_ESTOPPING ? "stopped" : "no reply within 60 s");
        } else if (rc != IPCQ_OK) {
            snprintf(why, cap, "%s queues: %s", verb, ipcq_strerror(rc));
        }
        done++;
        tool_progress_update(&progress, (uint64_t)done);
    }
    tool_progress_end(&progress);
    bench_wire_close(&w);
    return rc;
}
