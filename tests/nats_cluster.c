/* The three-node NATS cluster of the nats:// suites (nats_cluster.h). */
#include "nats_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define READY_MS 30000 /* the longest a cluster may take to elect its leaders */
#define STOP_MS 10000

const char *
nats_server_path(void)
{
#ifdef IPCQ_NATS_SERVER
    const char *p = IPCQ_NATS_SERVER;
    return p[0] != '\0' && access(p, X_OK) == 0 ? p : NULL;
#else
    return NULL;
#endif
}

/* A TCP port on 127.0.0.1 that nothing listens on now. */
static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void
start_node(nats_cluster *nc, int i)
{
    char name[16], client[16], monitor[16], cluster[64], store[300], log[300], routes[256] = "";
    snprintf(name, sizeof name, "n%d", i);
    snprintf(client, sizeof client, "%d", nc->client_port[i]);
    snprintf(monitor, sizeof monitor, "%d", nc->monitor_port[i]);
    snprintf(cluster, sizeof cluster, "nats://127.0.0.1:%d", nc->cluster_port[i]);
    snprintf(store, sizeof store, "%s/%s", nc->dir, name);
    snprintf(log, sizeof log, "%s/%s.log", nc->dir, name);
    for (int j = 0; j < NATS_NODES; j++) {
        size_t n = strlen(routes);
        snprintf(routes + n, sizeof routes - n, "%snats-route://127.0.0.1:%d", n ? "," : "",
                 nc->cluster_port[j]);
    }
    const char *argv[] = {nats_server_path(),
                          "-a",
                          "127.0.0.1",
                          "-p",
                          client,
                          "-m",
                          monitor,
                          "-n",
                          name,
                          "--cluster_name",
                          "ipcqtest",
                          "--cluster",
                          cluster,
                          "--routes",
                          routes,
                          "-js",
                          "-sd",
                          store,
                          "-l",
                          log,
                          NULL};
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a crashed suite */
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    nc->pid[i] = pid; /* not a tracked child: a failed test leaves the cluster up */
}

/* Polls until the cluster takes a queue replicated on its three nodes. */
static void
wait_ready(nats_cluster *nc)
{
    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, nc->endpoint), IPCQ_OK);
    int64_t deadline = now_ms() + READY_MS;
    int rc;
    while ((rc = ipcq_create(c, "nats-ready", 0)) != IPCQ_OK && now_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc != IPCQ_OK)
        fail_msg("the NATS cluster in %s was not ready in %d ms: %s", nc->dir, READY_MS,
                 ipcq_client_error(c));
    assert_ipcq_ok(c, ipcq_delete(c, "nats-ready"));
    ipcq_client_close(&c);
}

void
nats_cluster_start(nats_cluster *nc)
{
    memset(nc, 0, sizeof *nc);
    snprintf(nc->dir, sizeof nc->dir, "/tmp/ipcq-nats-XXXXXX");
    assert_non_null(mkdtemp(nc->dir));
    size_t n = 0;
    n += (size_t)snprintf(nc->endpoint, sizeof nc->endpoint, "nats://");
    for (int i = 0; i < NATS_NODES; i++) {
        nc->client_port[i] = free_port();
        nc->cluster_port[i] = free_port();
        nc->monitor_port[i] = free_port();
        n += (size_t)snprintf(nc->endpoint + n, sizeof nc->endpoint - n, "%s127.0.0.1:%d",
                              i ? "," : "", nc->client_port[i]);
    }
    for (int i = 0; i < NATS_NODES; i++)
        start_node(nc, i);
    wait_ready(nc);
}

/* Waits for node i to exit, SIGKILLing it at the deadline. */
static void
reap_node(nats_cluster *nc, int i, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int status;
    while (waitpid(nc->pid[i], &status, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(nc->pid[i], SIGKILL);
            waitpid(nc->pid[i], &status, 0);
            break;
        }
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    nc->pid[i] = 0;
}

void
nats_node_kill(nats_cluster *nc, int i)
{
    if (nc->pid[i] > 0) {
        kill(nc->pid[i], SIGKILL);
        reap_node(nc, i, STOP_MS);
    }
}

void
nats_node_restart(nats_cluster *nc, int i)
{
    assert_int_equal(nc->pid[i], 0);
    start_node(nc, i);
}

/* The body of GET path from node i's monitoring port, NUL-terminated in
 * buf; false if it does not answer in full. */
static bool
monitor_get(const nats_cluster *nc, int i, const char *path, char *buf, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)nc->monitor_port[i]),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, req, (size_t)n) == n;
    size_t have = 0;
    for (ssize_t r; ok && have + 1 < size; have += (size_t)r)
        if ((r = read(fd, buf + have, size - 1 - have)) <= 0) {
            ok = r == 0;
            break;
        }
    close(fd);
    buf[have] = '\0';
    return ok && have + 1 < size && strstr(buf, "\r\n\r\n") != NULL; /* HTTP/1.0: to EOF */
}

/* The value of the first "key" in text at or after from (the monitor's
 * JSON is indented: blanks may stand around the colon), or NULL. */
static const char *
json_value(const char *from, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    for (const char *p = strstr(from, quoted); p != NULL; p = strstr(p + 1, quoted)) {
        const char *v = p + strlen(quoted);
        v += strspn(v, " \t\r\n");
        if (*v == ':')
            return v + 1 + strspn(v + 1, " \t\r\n");
    }
    return NULL;
}

static bool
json_number(const char *from, const char *key, unsigned long long *out)
{
    const char *v = json_value(from, key);
    return v != NULL && sscanf(v, "%llu", out) == 1;
}

bool
nats_node_stream_state(const nats_cluster *nc, int i, const char *stream, nats_replica_state *out)
{
    static char body[1 << 20];
    if (nc->pid[i] == 0 || !monitor_get(nc, i, "/jsz?streams=true", body, sizeof body))
        return false;
    size_t len = strlen(stream);
    for (const char *v = json_value(body, "name"); v != NULL; v = json_value(v, "name")) {
        if (*v == '"' && strncmp(v + 1, stream, len) == 0 && v[1 + len] == '"') {
            const char *state = json_value(v, "state");
            return state != NULL && json_number(state, "messages", &out->msgs) &&
                   json_number(state, "first_seq", &out->first_seq) &&
                   json_number(state, "last_seq", &out->last_seq);
        }
    }
    return false;
}

void
nats_cluster_stop(nats_cluster *nc)
{
    for (int i = 0; i < NATS_NODES; i++)
        if (nc->pid[i] > 0)
            kill(nc->pid[i], SIGTERM);
    for (int i = 0; i < NATS_NODES; i++)
        if (nc->pid[i] > 0)
            reap_node(nc, i, STOP_MS);
    if (nc->dir[0] != '\0') {
        const char *argv[] = {"/bin/rm", "-rf", nc->dir, NULL};
        (void)run_quietly(argv);
        nc->dir[0] = '\0';
    }
}
