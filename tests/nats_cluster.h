/* A NATS JetStream cluster for the suites of the nats:// backend: three
 * nats-server processes on loopback, each with its client and cluster port
 * (free ports picked at start), a store directory of its own in a temporary
 * directory, and routes to the others. Started and stopped by the test;
 * every process it starts is reaped. */
#ifndef IPCQ_TEST_NATS_CLUSTER_H
#define IPCQ_TEST_NATS_CLUSTER_H
#include <stdbool.h>
#include <sys/types.h>

#define NATS_NODES 3

typedef struct nats_cluster {
    char dir[256];
    int client_port[NATS_NODES], cluster_port[NATS_NODES], monitor_port[NATS_NODES];
    pid_t pid[NATS_NODES]; /* 0: not running */
    char endpoint[256];    /* nats://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 */
} nats_cluster;

/* The nats-server to run (IPCQ_NATS_SERVER at build time), or NULL if there
 * is none: the suite then skips, saying so. */
const char *nats_server_path(void);

/* Starts the three servers and waits (polling, with a deadline) until the
 * cluster takes a replicated queue; fails the test if it does not. */
void nats_cluster_start(nats_cluster *nc);
/* SIGKILLs node i and reaps it; its store stays for nats_node_restart. */
void nats_node_kill(nats_cluster *nc, int i);
/* Starts node i again on its ports and store. */
void nats_node_restart(nats_cluster *nc, int i);
/* A stream as node i holds it: its own copy's message count and first
 * and last sequence, read from the node's monitoring port (/jsz). False if
 * the node does not answer or holds no such stream. */
typedef struct nats_replica_state {
    unsigned long long msgs, first_seq, last_seq;
} nats_replica_state;
bool nats_node_stream_state(const nats_cluster *nc, int i, const char *stream,
                            nats_replica_state *out);
/* Stops every node (SIGTERM, then SIGKILL), reaps it, removes the directory. */
void nats_cluster_stop(nats_cluster *nc);

#endif
