/* Who may connect (SPEC B3), end to end against a real ipcqd:
 *
 * - ipc: the socket is its owner's (0600); another user (a child that
 *   became nobody) is refused by the kernel, and the library says so at
 *   once with IPCQ_EACCESS, while the owner is served; with --group, a
 *   member of that group is served (0660) and a non-member still refused.
 * - TCP: with --curve-key and --allowed-keys, a client with an allowed key
 *   pair is served; one with no CURVE, an unknown key pair, an anonymous
 *   one or the wrong server key is refused with IPCQ_EACCESS (within its
 *   short timeout, the error saying which of these it was) while the
 *   broker goes on serving the allowed one; a key added to the directory
 *   takes effect without a restart. A TCP bind beyond loopback without
 *   CURVE is refused unless --insecure. The CLI takes the keys as flags.
 *
 * The ipc tests need root (to become another user); they are skipped
 * otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define CALL_MS 10000
#define REFUSED_MS 100 /* a refused client's calls: short, they fail anyway */
#define NOBODY 65534
#define NOGROUP 65534
#define OTHER_GROUP 54321 /* a group nobody is not in */

/* ---- ipc: by user and group ---- */

typedef struct stranger {
    const test_broker *tb;
    gid_t group; /* the stranger's only group */
} stranger;

/* Becomes nobody with the one group; false if that failed. */
static bool
become(gid_t group)
{
    return setgroups(1, &group) == 0 && setgid(group) == 0 && setuid(NOBODY) == 0 &&
           getuid() == NOBODY;
}

/* A fork_child() body: as nobody, a raw connect() to the socket, a ping
 * through the library and one through the CLI. Exits 0 when all are
 * refused for permission (the library saying so, the CLI exiting 3), 10
 * when all work, else something else. */
static int
child_stranger(void *arg)
{
    const stranger *s = arg;
    if (!become(s->group))
        return 99;
    const char *path = s->tb->path;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path) >= (int)sizeof addr.sun_path)
        return 97;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int raw = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 ? 0 : errno;
    close(fd);
    ipcq_client *c = NULL;
    if (ipcq_client_open(&c, s->tb->endpoint) != IPCQ_OK)
        return 98;
    ipcq_status rc = ipcq_ping(c);
    bool said_so = strstr(ipcq_client_error(c), "permission denied") != NULL;
    if (rc == IPCQ_OK) {
        void *data = NULL;
        size_t len = 0;
        rc = ipcq_put(c, "shared", "from nobody", 11, CALL_MS);
        rc = rc == IPCQ_OK ? ipcq_get(c, "shared", &data, &len, CALL_MS) : rc;
        ipcq_free(data);
    }
    ipcq_client_close(&c);
    const char *ping[] = {IPCQ_CLI_PATH, "--broker", s->tb->endpoint, "ping", NULL};
    int cli = run_quietly(ping);
    if (raw == EACCES && rc == IPCQ_EACCESS && said_so && cli == 3)
        return 0;
    return raw == 0 && rc == IPCQ_OK && cli == 0 ? 10 : 20 + (int)rc;
}

static void
skip_unless_root(void)
{
    if (geteuid() != 0) {
        print_message("not root: cannot become another user; skipped\n");
        skip();
    }
}

static mode_t
mode_of(const char *path, gid_t *gid)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if (gid != NULL)
        *gid = st.st_gid;
    return st.st_mode & 0777;
}

static void
ipc_socket_is_its_owners_only(void **state)
{
    test_broker *tb = *state;
    skip_unless_root();
    const char *path = tb->path;
    assert_int_equal(mode_of(path, NULL), 0600);
    /* Even with the directory open to all, the socket's mode refuses. */
    assert_int_equal(chmod(tb->dir, 0755), 0);
    stranger s = {tb, NOGROUP};
    assert_int_equal(reap_child(fork_child(child_stranger, &s), CALL_MS), 0);
    /* And the owner is served all the while. */
    ipcq_client *c = client_on(tb);
    put_text(c, "shared", "owner");
    expect_get(c, "shared", "owner", CALL_MS);
    ipcq_client_close(&c);
}

static void
group_flag_opens_the_socket_to_that_group(void **state)
{
    (void)state;
    skip_unless_root();
    test_broker tb;
    test_broker_start(&tb, "--group", "nogroup", NULL);
    /* The test's directory is its own to open to the group, as a user does
     * with a socket outside the default directory (which ipcqd opens). */
    assert_int_equal(chown(tb.dir, (uid_t)-1, NOGROUP), 0);
    assert_int_equal(chmod(tb.dir, 0710), 0);
    gid_t gid;
    assert_int_equal(mode_of(tb.path, &gid), 0660);
    assert_int_equal(gid, NOGROUP);
    stranger member = {&tb, NOGROUP}, outsider = {&tb, OTHER_GROUP};
    assert_int_equal(reap_child(fork_child(child_stranger, &member), CALL_MS), 10);
    assert_int_equal(reap_child(fork_child(child_stranger, &outsider), CALL_MS), 0);
    ipcq_client *c = client_on(&tb);
    assert_int_equal(queue_field(c, "shared", IPCQ_QUEUE_PUTS), 1);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

/* ---- TCP: CURVE and the allowed keys ---- */

typedef struct curve_setup {
    char dir[64];      /* keys: server, alice (allowed), mallory (not) */
    char allowed[80];  /* DIR/allowed: alice.pub */
    char endpoint[64]; /* tcp://127.0.0.1:PORT */
    int port;
    test_broker tb;
} curve_setup;

/* A TCP port that was free a moment ago. */
static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void
keygen(const curve_setup *cs, const char *name)
{
    char prefix[128], why[512];
    snprintf(prefix, sizeof prefix, "%s/%s", cs->dir, name);
    if (ipcq_curve_keygen(prefix, why, sizeof why) != IPCQ_OK)
        fail_msg("ipcq_curve_keygen(%s): %s", prefix, why);
}

static void
copy_file(const char *from, const char *to)
{
    char buf[512];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    ssize_t n = read(in, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

/* Sets the client's keys in the environment: NULL unsets. */
static void
use_keys(const curve_setup *cs, const char *server, const char *client)
{
    char path[160];
    if (server != NULL) {
        snprintf(path, sizeof path, "%s/%s.pub", cs->dir, server);
        setenv(IPCQ_CURVE_SERVER_ENV, path, 1);
    } else {
        unsetenv(IPCQ_CURVE_SERVER_ENV);
    }
    if (client != NULL) {
        snprintf(path, sizeof path, "%s/%s.key", cs->dir, client);
        setenv(IPCQ_CURVE_KEY_ENV, path, 1);
    } else {
        unsetenv(IPCQ_CURVE_KEY_ENV);
    }
}

static int
curve_up(void **state)
{
    curve_setup *cs = calloc(1, sizeof *cs);
    assert_non_null(cs);
    *state = cs;
    snprintf(cs->dir, sizeof cs->dir, "/tmp/ipcq-keys-XXXXXX");
    assert_non_null(mkdtemp(cs->dir));
    snprintf(cs->allowed, sizeof cs->allowed, "%s/allowed", cs->dir);
    assert_int_equal(mkdir(cs->allowed, 0700), 0);
    keygen(cs, "server");
    keygen(cs, "alice");
    keygen(cs, "mallory");
    char from[160], to[160];
    snprintf(from, sizeof from, "%s/alice.pub", cs->dir);
    snprintf(to, sizeof to, "%s/alice.pub", cs->allowed);
    copy_file(from, to);
    cs->port = free_port();
    snprintf(cs->endpoint, sizeof cs->endpoint, "tcp://127.0.0.1:%d", cs->port);
    char bind[80], key[120], allowed[120];
    snprintf(bind, sizeof bind, "--bind=%s", cs->endpoint);
    snprintf(key, sizeof key, "--curve-key=%s/server.key", cs->dir);
    snprintf(allowed, sizeof allowed, "--allowed-keys=%s", cs->allowed);
    test_broker_start(&cs->tb, bind, key, allowed, NULL);
    return 0;
}

static int
curve_down(void **state)
{
    curve_setup *cs = *state;
    kill_all_children();
    use_keys(cs, NULL, NULL);
    int status = test_broker_stop_status(&cs->tb);
    static const char *const names[] = {"server", "alice", "mallory"};
    char path[200];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.pub", cs->allowed, names[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.pub", cs->dir, names[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.key", cs->dir, names[i]);
        unlink(path);
    }
    rmdir(cs->allowed);
    rmdir(cs->dir);
    free(cs);
    assert_int_equal(status, 0);
    return 0;
}

/* A client of the TCP endpoint with the keys the environment names now
 * (they are read when it first connects: its first call). */
static ipcq_client *
tcp_client(const curve_setup *cs, const char *server, const char *client)
{
    use_keys(cs, server, client);
    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, cs->endpoint), IPCQ_OK);
    assert_ipcq_ok(c, ipcq_ping(c));
    return c;
}

/* A get with a short timeout by a client with these keys: refused with
 * IPCQ_EACCESS, within its own timeout, the error saying why (says). */
static void
refused_get(const curve_setup *cs, const char *server, const char *client, const char *says)
{
    use_keys(cs, server, client);
    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, cs->endpoint), IPCQ_OK);
    void *data = NULL;
    size_t len = 0;
    int64_t t0 = now_ms();
    int rc = ipcq_get(c, "secret", &data, &len, REFUSED_MS);
    int64_t took = now_ms() - t0;
    if (rc != IPCQ_EACCESS || strstr(ipcq_client_error(c), "permission denied") == NULL ||
        strstr(ipcq_client_error(c), says) == NULL)
        fail_msg("keys %s/%s: refused with %d '%s', not IPCQ_EACCESS saying '%s'",
                 server ? server : "-", client ? client : "-", rc, ipcq_client_error(c), says);
    ipcq_free(data);
    ipcq_client_close(&c);
    assert_true(took < CALL_MS); /* refused within its own timeout and grace */
}

static void
only_allowed_keys_get_in_and_the_broker_keeps_serving(void **state)
{
    curve_setup *cs = *state;
    ipcq_client *alice = tcp_client(cs, "server", "alice");
    put_text(alice, "secret", "one");
    /* No CURVE at all; an unknown key pair; an anonymous one; the right
     * server key but the client's key taken for the server's. */
    refused_get(cs, NULL, NULL, "the broker wants CURVE");
    put_text(alice, "secret", "two");
    refused_get(cs, "server", "mallory", "not among the broker's --allowed-keys");
    put_text(alice, "secret", "three");
    refused_get(cs, "server", NULL, "no CURVE key pair of its own");
    refused_get(cs, "alice", "alice", "is its public key right?");
    /* Nothing was taken by the refused clients; alice is served still. */
    expect_get(alice, "secret", "one", CALL_MS);
    expect_get(alice, "secret", "two", CALL_MS);
    expect_get(alice, "secret", "three", CALL_MS);
    /* A key added to the directory counts from the next connection. */
    char from[160], to[160];
    snprintf(from, sizeof from, "%s/mallory.pub", cs->dir);
    snprintf(to, sizeof to, "%s/mallory.pub", cs->allowed);
    copy_file(from, to);
    ipcq_client *mallory = tcp_client(cs, "server", "mallory");
    put_text(mallory, "secret", "welcome");
    expect_get(alice, "secret", "welcome", CALL_MS);
    ipcq_client_close(&mallory);
    ipcq_client_close(&alice);
    /* The broker's ipc socket needs no key: its file mode guards it. */
    use_keys(cs, NULL, NULL);
    ipcq_client *local = client_on(&cs->tb);
    assert_ipcq_ok(local, ipcq_ping(local));
    ipcq_client_close(&local);
}

/* A client whose IPCQ_CURVE_KEY is key_file fails IPCQ_EINVAL saying want. */
static void
expect_key_error(const curve_setup *cs, const char *key_file, const char *want)
{
    use_keys(cs, "server", NULL);
    setenv(IPCQ_CURVE_KEY_ENV, key_file, 1);
    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, cs->endpoint), IPCQ_OK);
    int rc = ipcq_ping(c);
    bool clear = strstr(ipcq_client_error(c), IPCQ_CURVE_KEY_ENV ": ") != NULL &&
                 strstr(ipcq_client_error(c), want) != NULL;
    char error[600];
    snprintf(error, sizeof error, "%s", ipcq_client_error(c));
    ipcq_client_close(&c);
    assert_int_equal(rc, IPCQ_EINVAL);
    if (!clear)
        fail_msg("error '%s' does not say '%s'", error, want);
}

static void
unreadable_keys_are_clear_errors(void **state)
{
    curve_setup *cs = *state;
    /* A public key file given as the client's key pair: refused as open to
     * others, and once private, as no key pair. */
    char pub[160];
    snprintf(pub, sizeof pub, "%s/alice.pub", cs->dir);
    expect_key_error(cs, pub, "alice.pub: secret key file is open to others (mode 644)");
    assert_int_equal(chmod(pub, 0600), 0);
    expect_key_error(cs, pub, "alice.pub: not a secret key file of ipcq keygen");
    /* keygen never overwrites. */
    char prefix[128], why[512];
    snprintf(prefix, sizeof prefix, "%s/alice", cs->dir);
    assert_int_equal(ipcq_curve_keygen(prefix, why, sizeof why), IPCQ_ESYSTEM);
    assert_non_null(strstr(why, "alice.key: cannot create: File exists"));
}

/* ---- ipcqd's refusals, and the CLI ---- */

static void
tcp_beyond_loopback_needs_curve_or_insecure(void **state)
{
    (void)state;
    char bind[64];
    snprintf(bind, sizeof bind, "--bind=tcp://0.0.0.0:%d", free_port());
    const char *plain[] = {IPCQD_PATH, bind, NULL};
    assert_int_equal(run_quietly(plain), 1);
    const char *half[] = {IPCQD_PATH, bind, "--curve-key=/nonexistent", NULL};
    assert_int_equal(run_quietly(half), 2); /* --allowed-keys missing */
    /* With --insecure it serves, there too. */
    test_broker tb;
    test_broker_start(&tb, bind, "--insecure", NULL);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%s", strrchr(bind, ':') + 1);
    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, ep), IPCQ_OK);
    assert_ipcq_ok(c, ipcq_ping(c));
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

static void
cli_takes_the_keys_as_flags(void **state)
{
    curve_setup *cs = *state;
    use_keys(cs, NULL, NULL);
    char server[160], alice[160], mallory[160];
    snprintf(server, sizeof server, "--curve-server=%s/server.pub", cs->dir);
    snprintf(alice, sizeof alice, "--curve-key=%s/alice.key", cs->dir);
    snprintf(mallory, sizeof mallory, "--curve-key=%s/mallory.key", cs->dir);
    const char *cli = IPCQ_CLI_PATH, *ep = cs->endpoint;
    const char *put[] = {cli, "--broker", ep, server, alice, "put", "cli", "hello", NULL};
    assert_int_equal(run_quietly(put), 0);
    const char *stranger_get[] = {cli,   "--broker", ep,          server, mallory,
                                  "get", "cli",      "--timeout", "0.1",  NULL};
    assert_int_equal(run_quietly(stranger_get), 3);
    const char *plain_get[] = {cli, "--broker", ep, "get", "cli", "--timeout", "0.1", NULL};
    assert_int_equal(run_quietly(plain_get), 3);
    const char *get[] = {cli, "--broker", ep, server, alice, "get", "cli", "--nowait", NULL};
    assert_int_equal(run_quietly(get), 0);
    /* keygen writes a secret file only its owner reads. */
    char prefix[128], path[160];
    snprintf(prefix, sizeof prefix, "%s/server2", cs->dir);
    const char *gen[] = {cli, "keygen", prefix, NULL};
    assert_int_equal(run_quietly(gen), 0);
    snprintf(path, sizeof path, "%s.key", prefix);
    assert_int_equal(mode_of(path, NULL), 0600);
    unlink(path);
    snprintf(path, sizeof path, "%s.pub", prefix);
    assert_int_equal(mode_of(path, NULL), 0644);
    assert_int_equal(run_quietly(gen), 4); /* server2.pub exists */
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ipc_socket_is_its_owners_only, fixture_broker_up,
                                        fixture_broker_down),
        cmocka_unit_test(group_flag_opens_the_socket_to_that_group),
        cmocka_unit_test_setup_teardown(only_allowed_keys_get_in_and_the_broker_keeps_serving,
                                        curve_up, curve_down),
        cmocka_unit_test_setup_teardown(unreadable_keys_are_clear_errors, curve_up, curve_down),
        cmocka_unit_test(tcp_beyond_loopback_needs_curve_or_insecure),
        cmocka_unit_test_setup_teardown(cli_takes_the_keys_as_flags, curve_up, curve_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
