/*
 * ipcq_roundtrip — one ipcq client making strict requests back to back, the
 * counterpart of zmq_echo's one sync client (issue 4: a strict ipcq request
 * round trip against the bare ZeroMQ echo on the same transport).
 *
 *   ipcq_roundtrip put SECONDS [SIZE [ENDPOINT]]      ipcq_put of SIZE (100) bytes
 *   ipcq_roundtrip put+get SECONDS [SIZE [ENDPOINT]]  ipcq_put, then ipcq_get of it
 *
 * Against the broker at ENDPOINT (unix://PATH, ipc://PATH, ...), or with
 * none a private broker (ipcq_broker_start), as ipcq-bench's default.
 * put+get counts two requests per item; its get also sends the one-way
 * receipt (D1) that makes a third message. Prints one JSON line in
 * requests per second, with the endpoint.
 */
#include "peer.h"

#include <ipcq.h>

static const char usage[] = "usage: ipcq_roundtrip put|put+get SECONDS [SIZE [ENDPOINT]]\n";

static void
die(ipcq_client *c, const char *what, int rc)
{
    fprintf(stderr, "ipcq_roundtrip: %s: %s\n", what, c ? ipcq_client_error(c) : "");
    exit(rc == IPCQ_EUNAVAILABLE ? 3 : 4);
}

/* s as it can go between JSON quotes: a quote, a backslash or a control
 * character becomes '?' (an endpoint has none in practice). */
static const char *
json_safe(const char *s)
{
    static char buf[300];
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < sizeof buf; i++)
        buf[i] = s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20 ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

int
main(int argc, char **argv)
{
    if (argc < 3 || argc > 5 || (strcmp(argv[1], "put") != 0 && strcmp(argv[1], "put+get") != 0)) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    bool with_get = strcmp(argv[1], "put+get") == 0;
    double seconds = peer_arg(argv[2], usage);
    size_t size = argc >= 4 ? (size_t)peer_arg(argv[3], usage) : 100;
    const char *endpoint = argc == 5 ? argv[4] : NULL;
    char *item = calloc(1, size);
    ipcq_broker *broker = NULL;
    ipcq_client *c = NULL;
    int rc = item ? IPCQ_OK : IPCQ_ENOMEM;
    if (rc == IPCQ_OK && endpoint == NULL && (rc = ipcq_broker_start(&broker)) == IPCQ_OK)
        endpoint = ipcq_broker_endpoint(broker);
    if (rc != IPCQ_OK)
        die(NULL, "starting a private broker", rc);
    if ((rc = ipcq_client_open(&c, endpoint)) != IPCQ_OK)
        die(c, "open", rc);
    /* A queue of this process's own: a shared broker may serve other runs. */
    char queue[64];
    snprintf(queue, sizeof queue, "roundtrip.%d", (int)getpid());
    if ((rc = ipcq_ping(c)) != IPCQ_OK)
        die(c, "ping", rc);
    uint64_t requests = 0, start = peer_now_ns();
    uint64_t end = start + (uint64_t)(seconds * 1e9), now = start;
    while (now < end) {
        for (int i = 0; i < 100; i++) {
            if ((rc = ipcq_put(c, queue, item, size, IPCQ_FOREVER)) != IPCQ_OK)
                die(c, "put", rc);
            if (!with_get)
                continue;
            void *data;
            size_t len;
            if ((rc = ipcq_get(c, queue, &data, &len, IPCQ_NOWAIT)) != IPCQ_OK)
                die(c, "get", rc);
            ipcq_free(data);
        }
        requests += with_get ? 200 : 100;
        now = peer_now_ns();
    }
    double secs = (double)(now - start) / 1e9;
    char extra[512];
    snprintf(extra, sizeof extra, "\"clients\": 1, \"endpoint\": \"%s\", \"private\": %s",
             json_safe(endpoint), broker != NULL ? "true" : "false");
    ipcq_delete(c, queue); /* the queue leaves a shared broker as it came */
    ipcq_client_close(&c);
    ipcq_broker_stop(&broker);
    free(item);
    peer_report("ipcq", with_get ? "strict put + get, 1 client" : "strict put, 1 client",
                "requests/s", requests, secs, extra);
    return 0;
}
