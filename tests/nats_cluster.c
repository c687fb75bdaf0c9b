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
    char name[16], client[16], cluster[64], store[300], log[300], routes[256] = "";
    snprintf(name, sizeof name, "n%d", i);
    snprintf(client, sizeof client, "%d", nc->client_port[i]);
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
