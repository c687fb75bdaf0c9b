/*
 * nats_peer — the native NATS JetStream floor of ipcq's nats:// rows (issue
 * 14): what libnats does on its own for the work that ipcq-bench's strict
 * and async modes ask of ipcq's nats:// backend. One producer process and
 * one consumer process, SIZE-byte items, on a work-queue stream (file
 * storage, replicas min(3, servers)) with one durable pull consumer
 * (explicit acks), made for the run and deleted after it.
 *
 *   nats_peer URLS rtt SECONDS [SIZE]            js_Publish, waiting for each
 *                                                ack; Fetch of 1 and AckSync
 *   nats_peer URLS pipeline SECONDS [SIZE [N [B]]]
 *                         js_PublishAsync, N (default 100) in flight; Fetch of
 *                         up to B (default N), acked (the last with AckSync)
 *
 * URLS: nats://host:port[,nats://host:port...]. The end is an empty item;
 * the consumer checks it got every item the producer put, in order (each
 * carries its sequence number). Prints one JSON line.
 */
#include "peer.h"

#include <nats/nats.h>

static const char usage[] =
    "usage: nats_peer nats://HOST:PORT[,...] rtt|pipeline SECONDS [SIZE [DEPTH [BATCH]]]\n";

#define FETCH_WAIT_MS 5000 /* a fetch that finds nothing this long: the run is broken */

typedef struct cfg {
    const char *urls;
    char stream[64], subject[80];
    int replicas;
    peer_flow f;
    size_t batch; /* the consumer's fetch */
} cfg;

static void
check(natsStatus s, jsErrCode jerr, const char *what)
{
    if (s == NATS_OK)
        return;
    fprintf(stderr, "nats_peer: %s: %s (JetStream error %d; %s)\n", what, natsStatus_GetText(s),
            (int)jerr, nats_GetLastError(NULL));
    exit(1);
}

static void
open_js(const cfg *c, natsConnection **nc, jsCtx **js, int64_t max_pending)
{
    check(natsConnection_ConnectTo(nc, c->urls), 0, "connecting");
    jsOptions o;
    jsOptions_Init(&o);
    if (max_pending > 0) {
        o.PublishAsync.MaxPending = max_pending;
        o.PublishAsync.StallWait = 10000; /* a full window waits for acks, not fails */
    }
    check(natsConnection_JetStream(js, *nc, &o), 0, "JetStream context");
}

static void
producer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    natsConnection *nc;
    jsCtx *js;
    open_js(c, &nc, &js, c->f.pipelined ? (int64_t)c->f.depth : 0);
    char *item = malloc(c->f.size);
    if (item == NULL)
        peer_die("malloc");
    memset(item, 'x', c->f.size);
    peer_ready(s);
    uint64_t stop = peer_now_ns() + (uint64_t)(c->f.seconds * 1e9), n = 0;
    jsErrCode jerr = 0;
    while (peer_now_ns() < stop) {
        for (int i = 0; i < 64; i++, n++) {
            peer_item_stamp(item, c->f.size, n);
            if (c->f.pipelined) {
                check(js_PublishAsync(js, c->subject, item, (int)c->f.size, NULL), 0, "publish");
            } else {
                jsPubAck *pa = NULL;
                check(js_Publish(&pa, js, c->subject, item, (int)c->f.size, NULL, &jerr), jerr,
                      "publish");
                jsPubAck_Destroy(pa);
            }
        }
    }
    if (c->f.pipelined) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 30000;
        check(js_PublishAsyncComplete(js, &po), 0, "publishes in flight");
    }
    jsPubAck *pa = NULL;
    check(js_Publish(&pa, js, c->subject, "", 0, NULL, &jerr), jerr, "the end");
    jsPubAck_Destroy(pa);
    peer_result r = {.count = n, .last_ns = peer_now_ns()};
    peer_send_result(s, &r);
    free(item);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void
consumer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    natsConnection *nc;
    jsCtx *js;
    open_js(c, &nc, &js, 0);
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = c->stream;
    so.Consumer = "bench";
    jsErrCode jerr = 0;
    check(js_PullSubscribe(&sub, js, c->subject, "bench", NULL, &so, &jerr), jerr, "subscribe");
    peer_ready(s);
    uint64_t n = 0;
    int batch = (int)c->batch;
    for (int done = 0; !done;) {
        natsMsgList list = {0};
        check(natsSubscription_Fetch(&list, sub, batch, FETCH_WAIT_MS, &jerr), jerr, "fetch");
        for (int i = 0; i < list.Count; i++) {
            natsMsg *m = list.Msgs[i];
            int len = natsMsg_GetDataLength(m);
            if (len == 0)
                done = 1;
            else if (!peer_item_check("nats_peer", natsMsg_GetData(m), (size_t)len, c->f.size, n++))
                _exit(1);
            /* Acks go in order on one connection: the last one's answer
             * says the server has them all. */
            if (i + 1 < list.Count)
                check(natsMsg_Ack(m, NULL), 0, "ack");
            else
                check(natsMsg_AckSync(m, NULL, &jerr), jerr, "ack");
        }
        natsMsgList_Destroy(&list);
    }
    peer_result r = {.count = n, .last_ns = peer_now_ns(), .consumer = 1};
    peer_send_result(s, &r);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void
create_stream(const cfg *c)
{
    natsConnection *nc;
    jsCtx *js;
    open_js(c, &nc, &js, 0);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {c->subject};
    sc.Name = c->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    sc.Replicas = c->replicas;
    jsErrCode jerr = 0;
    check(js_AddStream(NULL, js, &sc, NULL, &jerr), jerr, "creating the stream");
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = "bench";
    cc.AckPolicy = js_AckExplicit;
    cc.MaxAckPending = -1;
    check(js_AddConsumer(NULL, js, c->stream, &cc, NULL, &jerr), jerr, "creating the consumer");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void
delete_stream(const cfg *c)
{
    natsConnection *nc;
    jsCtx *js;
    open_js(c, &nc, &js, 0);
    jsErrCode jerr = 0;
    check(js_DeleteStream(js, c->stream, NULL, &jerr), jerr, "deleting the stream");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Runs fn(c) in a child process and waits for it; exits if it failed. */
static void
in_child(void (*fn)(const cfg *), const cfg *c)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        peer_die("fork");
    if (pid == 0) {
        fn(c);
        _exit(0);
    }
    peer_reap(pid);
}

int
main(int argc, char **argv)
{
    if (argc < 3 || strncmp(argv[1], "nats://", 7) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    /* BATCH, if given, is the last word: the flow's words come before it */
    int flow_words = argc - 2;
    size_t batch = 0;
    if (flow_words == 5) {
        batch = (size_t)peer_arg(argv[argc - 1], usage);
        flow_words--;
    }
    cfg c = {.urls = argv[1], .f = peer_flow_args(flow_words, argv + 2, usage), .replicas = 1};
    c.batch = !c.f.pipelined ? 1 : batch ? batch : c.f.depth;
    for (const char *p = c.urls; (p = strchr(p, ',')) != NULL; p++)
        c.replicas++;
    if (c.replicas > 3)
        c.replicas = 3;
    snprintf(c.stream, sizeof c.stream, "NATS_PEER_%d", (int)getpid());
    snprintf(c.subject, sizeof c.subject, "nats_peer.%d", (int)getpid());

    /* libnats's threads do not survive fork(): this process never opens
     * it, its children do (the stream's setup and removal in one each). */
    in_child(create_stream, &c);
    uint64_t count;
    double seconds = peer_run_pair(producer, consumer, &c, "nats_peer", &count);
    char extra[160];
    snprintf(extra, sizeof extra, "\"replicas\": %d, \"batch\": %zu", c.replicas, c.batch);
    in_child(delete_stream, &c);
    peer_flow_report("nats", "publish/fetch", &c.f, count, seconds, extra);
    return 0;
}
