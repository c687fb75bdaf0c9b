/* The report of a run, for a person or as JSON (see bench_report.h). */
#include "bench_report.h"

#include <string.h>

#include "ipcq.h"

const tool_progress_style bench_progress_style = {
    .prefix = "ipcq-bench: ", .unit_per_s = false, .interval_ms = 250};

static double
rate_of(const bench_result *r)
{
    return r->seconds > 0 ? (double)r->got_items / r->seconds : 0.0;
}

static double
us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static const char *
plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void
text_latency(FILE *out, const char *what, const bench_hist *h)
{
    if (h->count == 0) {
        fprintf(out, "%s latency: no calls\n", what);
        return;
    }
    fprintf(out, "%s latency: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us (%llu %s)\n",
            what, us(bench_hist_quantile(h, 0.5)), us(bench_hist_quantile(h, 0.99)),
            us(bench_hist_quantile(h, 0.999)), us(h->max_ns), (unsigned long long)h->count,
            plural((long long)h->count, "call", "calls"));
}

static void
text_broker(FILE *out, const char *kind, int pid, const char *endpoint)
{
    if (strcmp(kind, "shared") != 0)
        fprintf(out, "broker: %s, pid %d, %s\n", kind, pid, endpoint);
    else if (pid > 0)
        fprintf(out, "broker: %s, pid %d\n", endpoint, pid);
    else
        fprintf(out, "broker: %s, pid unknown\n", endpoint);
}

void
bench_report_text(FILE *out, const bench_opts *o, const bench_result *r)
{
    fprintf(out, "ipcq-bench: %s mode", bench_mode_name(o->mode));
    if (o->mode == BENCH_BATCH || o->mode == BENCH_ASYNC)
        fprintf(out, " (batch %lld", (long long)o->batch);
    else if (o->mode == BENCH_PREFETCH)
        fprintf(out, " (prefetch %lld", (long long)o->batch);
    if (o->window > 0)
        fprintf(out, ", window %lld", (long long)o->window);
    if (o->mode != BENCH_STRICT)
        fputc(')', out);
    fprintf(out, ", %d %s, %d %s, %d %s, %lld-byte items\n", o->producers,
            plural(o->producers, "producer", "producers"), o->consumers,
            plural(o->consumers, "consumer", "consumers"), o->queues,
            plural(o->queues, "queue", "queues"), (long long)o->size);
    if (o->idle_queues > 0)
        fprintf(out, "idle queues: %lld more, empty, created before the run\n",
                (long long)o->idle_queues);
    text_broker(out, r->broker_kind, r->broker_pid, r->endpoint);
    fprintf(out, "items: %llu put, %llu got in %.3f s: %.0f items/s\n",
            (unsigned long long)r->put_items, (unsigned long long)r->got_items, r->seconds,
            rate_of(r));
    if (r->verified)
        fprintf(out, "check: every item got exactly once, in order, intact\n");
    else
        fprintf(out,
                "check: FAILED: %llu lost, %llu duplicated, %llu producers' items swapped, "
                "%llu damaged, %llu out of order\n",
                (unsigned long long)r->lost, (unsigned long long)r->duplicated,
                (unsigned long long)r->mismatched, (unsigned long long)r->damaged,
                (unsigned long long)r->reordered);
    if (r->check_failed != NULL)
        fprintf(out, "check: FAILED: the figure '%s' is missing or does not add up\n",
                r->check_failed);
    text_latency(out, "put", &r->put_latency);
    text_latency(out, "get", &r->get_latency);
    if (r->cpu_known)
        fprintf(out, "broker CPU: %.2f s, %.2f of one CPU, %.2f us per item\n", r->broker_cpu_s,
                r->seconds > 0 ? r->broker_cpu_s / r->seconds : 0.0,
                r->got_items > 0 ? r->broker_cpu_s * 1e6 / (double)r->got_items : 0.0);
    else
        fprintf(out, "broker CPU: unknown (give --broker-pid)\n");
    if (r->rss_known)
        fprintf(out, "broker peak RSS: %.1f MiB\n", (double)r->broker_rss_kib / 1024.0);
    else
        fprintf(out, "broker peak RSS: unknown (give --broker-pid)\n");
}

static void
json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

/* "broker":{"private":..,"kind":..,"endpoint":..,"pid":..  (left open) */
static void
json_broker(FILE *out, const char *kind, int pid, const char *endpoint)
{
    fprintf(out, "\"broker\":{\"private\":%s,\"kind\":\"%s\",\"endpoint\":",
            strcmp(kind, "shared") != 0 ? "true" : "false", kind);
    json_string(out, endpoint);
    if (pid > 0)
        fprintf(out, ",\"pid\":%d", pid);
    else
        fputs(",\"pid\":null", out);
}

static void
json_latency(FILE *out, const char *key, const bench_hist *h)
{
    fprintf(out, "\"%s\":{\"calls\":%llu", key, (unsigned long long)h->count);
    if (h->count > 0)
        fprintf(out, ",\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}",
                us(bench_hist_quantile(h, 0.5)), us(bench_hist_quantile(h, 0.99)),
                us(bench_hist_quantile(h, 0.999)), us(h->max_ns), us(h->sum_ns) / (double)h->count);
    else
        fputs(",\"p50\":null,\"p99\":null,\"p999\":null,\"max\":null,\"mean\":null}", out);
}

void
bench_report_json(FILE *out, const bench_opts *o, const bench_result *r)
{
    fprintf(out,
            "{\"tool\":\"ipcq-bench\",\"version\":\"%s\",\"scenario\":\"throughput\","
            "\"mode\":\"%s\",\"producers\":%d,\"consumers\":%d,\"queues\":%d,"
            "\"idle_queues\":%lld,\"size\":%lld,\"batch\":%lld,\"window\":%lld,"
            "\"maxsize\":%lld,",
            ipcq_version(), bench_mode_name(o->mode), o->producers, o->consumers, o->queues,
            (long long)o->idle_queues, (long long)o->size, (long long)o->batch,
            (long long)o->window, (long long)o->maxsize);
    fprintf(out,
            "\"items\":%llu,\"items_got\":%llu,\"seconds\":%.6f,\"items_per_s\":%.1f,"
            "\"put_calls\":%llu,\"get_calls\":%llu,",
            (unsigned long long)r->put_items, (unsigned long long)r->got_items, r->seconds,
            rate_of(r), (unsigned long long)r->put_calls, (unsigned long long)r->get_calls);
    json_latency(out, "put_latency_us", &r->put_latency);
    fputc(',', out);
    json_latency(out, "get_latency_us", &r->get_latency);
    fputc(',', out);
    json_broker(out, r->broker_kind, r->broker_pid, r->endpoint);
    if (r->cpu_known)
        fprintf(out, ",\"cpu_s\":%.3f,\"cpu_us_per_item\":%.3f", r->broker_cpu_s,
                r->got_items > 0 ? r->broker_cpu_s * 1e6 / (double)r->got_items : 0.0);
    else
        fputs(",\"cpu_s\":null,\"cpu_us_per_item\":null", out);
    if (r->rss_known)
        fprintf(out, ",\"peak_rss_kib\":%lld}", (long long)r->broker_rss_kib);
    else
        fputs(",\"peak_rss_kib\":null}", out);
    fprintf(out,
            ",\"verified\":%s,\"lost\":%llu,\"duplicated\":%llu,\"mismatched\":%llu,"
            "\"damaged\":%llu,\"reordered\":%llu,\"check\":",
            r->verified ? "true" : "false", (unsigned long long)r->lost,
            (unsigned long long)r->duplicated, (unsigned long long)r->mismatched,
            (unsigned long long)r->damaged, (unsigned long long)r->reordered);
    if (!o->check)
        fputs("null", out);
    else if (r->check_failed == NULL)
        fputs("\"ok\"", out);
    else
        json_string(out, r->check_failed);
    fputs("}\n", out);
}

void
bench_report_scale_text(FILE *out, const bench_opts *o, const bench_scale_result *r)
{
    fprintf(out, "ipcq-bench: %s scenario\n", bench_scenario_name(o->scenario));
    text_broker(out, r->broker_kind, r->broker_pid, r->endpoint);
    for (int i = 0; i < r->nfacts; i++) {
        const bench_fact *f = &r->facts[i];
        if (f->known)
            fprintf(out, "%s: %.*f%s%s\n", f->label, f->decimals, f->value,
                    f->unit[0] != '\0' ? " " : "", f->unit);
        else
            fprintf(out, "%s: unknown%s\n", f->label,
                    r->broker_pid > 0 ? "" : " (give --broker-pid)");
    }
    if (r->verified)
        fprintf(out, "check: passed\n");
    else
        fprintf(out, "check: FAILED: %s\n", r->failure);
}

void
bench_report_scale_json(FILE *out, const bench_opts *o, const bench_scale_result *r)
{
    fprintf(out, "{\"tool\":\"ipcq-bench\",\"version\":\"%s\",\"scenario\":\"%s\",", ipcq_version(),
            bench_scenario_name(o->scenario));
    json_broker(out, r->broker_kind, r->broker_pid, r->endpoint);
    fputc('}', out);
    for (int i = 0; i < r->nfacts; i++) {
        const bench_fact *f = &r->facts[i];
        if (f->known)
            fprintf(out, ",\"%s\":%.*f", f->key, f->decimals, f->value);
        else
            fprintf(out, ",\"%s\":null", f->key);
    }
    fprintf(out, ",\"verified\":%s,\"failure\":", r->verified ? "true" : "false");
    if (r->verified)
        fputs("null", out);
    else
        json_string(out, r->failure);
    fputs("}\n", out);
}
