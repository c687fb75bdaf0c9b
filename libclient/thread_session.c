/*
 * Handles that threads share (SPEC D8): every thread that calls on a
 * handle works through a session of its own, an ipcq_client with its own
 * connection, request ids, async window, batch, prefetch buffer and error
 * text. A thread blocked in a get therefore holds only its own session's
 * lock, and another thread's put on the same handle goes out at once on
 * another connection. This is what Python's Manager proxies do (a
 * connection per thread); a shared connection with its replies dispatched
 * among threads would need the ZeroMQ socket to be polled and written from
 * several threads, which libzmq forbids.
 *
 * The handle the user opened is the root and the first session; the others
 * hang off it. A thread finds its session through a one-entry thread-local
 * cache, else under sessions_lock. When a thread ends, its sessions stay
 * open, unowned, for the next new thread to adopt, so a program that starts
 * threads over and over does not open connection after connection. Leases
 * belong to the handle, not to one session: requests carry the handle's id,
 * and the broker lets any session of the handle ack, release or extend a
 * lease another one took.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "client.h"

/* A thread that has used a handle, and the sessions it owns. */
struct client_thread {
    ipcq_client *owned; /* linked through next_owned */
};

/* Guards every owner and next_owned link, and the roots' session lists. */
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t next_serial;

static _Thread_local struct client_thread *this_thread;
static _Thread_local ipcq_client *recent_root, *recent_session;
static _Thread_local uint64_t recent_serial;

/* The thread ends: its sessions are free for other threads to adopt. */
static void
thread_ended(void *arg)
{
    struct client_thread *t = arg;
    pthread_mutex_lock(&sessions_lock);
    for (ipcq_client *s = t->owned, *next; s != NULL; s = next) {
        next = s->next_owned;
        s->next_owned = NULL;
        atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
    }
    pthread_mutex_unlock(&sessions_lock);
    free(t);
}

/* The parent's other threads may have held the lock at fork() time. */
static void
reset_lock_in_child(void)
{
    pthread_mutex_init(&sessions_lock, NULL);
}

static void
init_thread_key(void)
{
    pthread_key_create(&thread_key, thread_ended);
    pthread_atfork(NULL, NULL, reset_lock_in_child);
}

/* The calling thread's record, made on its first call; NULL if out of memory. */
static struct client_thread *
current_thread(void)
{
    if (this_thread != NULL)
        return this_thread;
    pthread_once(&thread_key_once, init_thread_key);
    struct client_thread *t = calloc(1, sizeof *t);
    if (t == NULL || pthread_setspecific(thread_key, t) != 0) {
        free(t);
        return NULL;
    }
    return this_thread = t;
}

/* Under sessions_lock. */
static void
take_ownership(ipcq_client *s, struct client_thread *t)
{
    atomic_store_explicit(&s->owner, t, memory_order_relaxed);
    s->next_owned = t->owned;
    t->owned = s;
}

int
client_threads_init_root(ipcq_client *root)
{
    root->root = root;
    root->serial = atomic_fetch_add(&next_serial, 1) + 1;
    if (getrandom(&root->nonce, sizeof root->nonce, GRND_NONBLOCK) != sizeof root->nonce)
        root->nonce = (uint64_t)(uintptr_t)root ^ (uint64_t)time(NULL) << 20 ^ root->serial;
    struct client_thread *t = current_thread();
    if (t != NULL) {
        pthread_mutex_lock(&sessions_lock);
        take_ownership(root, t);
        pthread_mutex_unlock(&sessions_lock);
    }
    return IPCQ_OK;
}

uint64_t
client_handle_id(const ipcq_client *c)
{
    /* Another process's sessions of an inherited handle are not this
     * handle's: the pid tells them apart (D4). */
    return c->root->nonce ^ (uint64_t)client_process_pid() * 0x9E3779B97F4A7C15ULL;
}

/* Under sessions_lock: t's session of root, NULL if it has none. */
static ipcq_client *
owned_by(ipcq_client *root, const struct client_thread *t)
{
    for (ipcq_client *s = root; s != NULL; s = s->next_session)
        if (atomic_load_explicit(&s->owner, memory_order_relaxed) == t)
            return s;
    return NULL;
}

/* Under sessions_lock: a session of root for t, adopted or new. */
static ipcq_client *
session_for(ipcq_client *root, struct client_thread *t)
{
    ipcq_client *s = owned_by(root, t);
    if (s != NULL)
        return s;
    s = owned_by(root, NULL); /* left by a thread that ended */
    if (s == NULL) {
        s = client_session_new(root);
        if (s == NULL)
            return NULL;
        s->next_session = root->next_session;
        root->next_session = s;
    }
    take_ownership(s, t);
    return s;
}

ipcq_client *
client_session(ipcq_client *c)
{
    if (c == NULL)
        return NULL;
    struct client_thread *t = this_thread;
    if (t != NULL && atomic_load_explicit(&c->owner, memory_order_relaxed) == t)
        return c;
    ipcq_client *root = c->root;
    if (root == recent_root && root->serial == recent_serial)
        return recent_session;
    t = current_thread();
    if (t == NULL)
        return root; /* out of memory: share the root, under its lock */
    pthread_mutex_lock(&sessions_lock);
    ipcq_client *s = session_for(root, t);
    pthread_mutex_unlock(&sessions_lock);
    if (s == NULL)
        return root;
    recent_root = root;
    recent_serial = root->serial;
    recent_session = s;
    return s;
}

const ipcq_client *
client_session_found(const ipcq_client *c)
{
    struct client_thread *t = this_thread;
    if (c == NULL || t == NULL)
        return NULL;
    pthread_mutex_lock(&sessions_lock);
    const ipcq_client *s = owned_by(c->root, t);
    pthread_mutex_unlock(&sessions_lock);
    return s;
}

ipcq_client *
client_sessions_detach(ipcq_client *root)
{
    pthread_mutex_lock(&sessions_lock);
    for (ipcq_client *s = root; s != NULL; s = s->next_session) {
        struct client_thread *t = atomic_load_explicit(&s->owner, memory_order_relaxed);
        if (t == NULL)
            continue;
        for (ipcq_client **p = &t->owned; *p != NULL; p = &(*p)->next_owned)
            if (*p == s) {
                *p = s->next_owned;
                break;
            }
        atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
    }
    ipcq_client *others = root->next_session;
    root->next_session = NULL;
    pthread_mutex_unlock(&sessions_lock);
    if (recent_root == root)
        recent_root = NULL;
    return others;
}
