/* ipcq top and ipcq stat --prometheus (issue 15, SPEC §5), run as real
 * programs against a real broker with traffic. top runs under a
 * pseudo-terminal (forkpty): the test reads the screen it draws, strips the
 * escapes, waits (with a deadline) for a frame that shows what it expects,
 * sends keys and checks that the terminal is given back. --once runs to a
 * pipe. --prometheus is parsed line by line and its values checked against
 * stat --json taken before and after it. */
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 15000
#define RUN_TIMEOUT_MS 30000
#define LEAVE "\033[0m\033[?25h\033[?1049l" /* what top writes last */

/* ---- top under a pseudo-terminal ---------------------------------------- */

typedef struct tty_run {
    pid_t pid;
    int master;
    program_output screen; /* every byte top wrote */
    struct termios before; /* the terminal's modes before top ran */
    bool closed;           /* top's side is gone: no more bytes */
} tty_run;

/* Starts ipcq --broker TB top ARGS... on a 40x120 pseudo-terminal. */
static void
tty_start(tty_run *r, const test_broker *tb, const char *const *args)
{
    const char *argv[16] = {IPCQ_CLI_PATH, "--broker", tb->endpoint, "top"};
    int n = 4;
    for (; *args != NULL && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    memset(r, 0, sizeof *r);
    program_output_add(&r->screen, "", 0);
    struct winsize ws = {.ws_row = 40, .ws_col = 120};
    fflush(NULL);
    r->pid = forkpty(&r->master, NULL, NULL, &ws);
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    track_child(r->pid);
    assert_int_equal(tcgetattr(r->master, &r->before), 0);
}

/* Reads what top wrote, waiting at most wait_ms for it. */
static void
tty_pump(tty_run *r, int wait_ms)
{
    if (r->closed)
        return;
    struct pollfd p = {r->master, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0)
        return;
    char buf[65536];
    ssize_t n = read(r->master, buf, sizeof buf);
    if (n > 0)
        program_output_add(&r->screen, buf, (size_t)n);
    else if (n == 0 || errno != EINTR) /* EIO: top's side closed */
        r->closed = true;
}

/* Text without escape sequences or carriage returns. */
static char *
strip_escapes(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\033' && i + 1 < len && s[i + 1] == '[') {
            for (i += 2; i < len && !(s[i] >= 0x40 && s[i] <= 0x7e); i++)
                ;
        } else if (s[i] == '\033') {
            i++;
        } else if (s[i] != '\r') {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* The last whole frame on the screen, as text (NULL if none yet): what lies
 * between the last cursor-home and the clear-to-end that closes it. */
static char *
last_frame(const tty_run *r)
{
    const char *s = r->screen.data, *end = NULL, *home = NULL;
    for (const char *p = s; (p = strstr(p, "\033[J")) != NULL; p++)
        end = p;
    if (end == NULL)
        return NULL;
    for (const char *p = s; (p = strstr(p, "\033[H")) != NULL && p < end; p++)
        home = p;
    if (home == NULL)
        return NULL;
    return strip_escapes(home, (size_t)(end - home));
}

/* Waits for a frame that check() accepts; fails the test, showing the last
 * frame, after WAIT_MS. */
static char *
tty_wait_frame(tty_run *r, bool (*check)(const char *frame, const void *arg), const void *arg,
               const char *what)
{
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        char *f = last_frame(r);
        if (f != NULL && check(f, arg))
            return f;
        if (now_ms() >= deadline || r->closed) {
            fprintf(stderr, "last frame:\n%s\n", f ? f : "(none)");
            free(f);
            fail_msg("top never showed %s", what);
        }
        free(f);
        tty_pump(r, 100);
    }
}

static bool
frame_has(const char *frame, const void *needle)
{
    return strstr(frame, needle) != NULL;
}

static void
tty_send(tty_run *r, const char *keys)
{
    assert_int_equal(write(r->master, keys, strlen(keys)), (ssize_t)strlen(keys));
}

/* Reads to the end, reaps top and returns its exit status. */
static int
tty_finish(tty_run *r)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (!r->closed && now_ms() < deadline)
        tty_pump(r, 100);
    int status = reap_child(r->pid, WAIT_MS);
    r->pid = 0;
    return status;
}

/* The terminal is as it was: top's last bytes restore it, and its modes
 * (canonical input, echo) are back. */
static void
expect_terminal_restored(tty_run *r)
{
    size_t n = strlen(LEAVE);
    assert_true(r->screen.len >= n);
    assert_memory_equal(r->screen.data + r->screen.len - n, LEAVE, n);
    struct termios now;
    assert_int_equal(tcgetattr(r->master, &now), 0);
    assert_int_equal(now.c_lflag & (ICANON | ECHO | ISIG),
                     r->before.c_lflag & (ICANON | ECHO | ISIG));
    assert_true(r->before.c_lflag & ICANON);
    assert_memory_equal(now.c_cc, r->before.c_cc, sizeof now.c_cc);
}

static void
tty_free(tty_run *r)
{
    close(r->master);
    free(r->screen.data);
}

/* ---- the rows of a frame ------------------------------------------------- */

enum { F_SIZE, F_MAXSIZE, F_PUTS, F_GETS, F_GETTERS, F_PUTTERS, F_LEASED, F_AGE, F_BYTES, NF };

/* The cells of queue's row in frame (the name last); false if none. */
static bool
row_of(const char *frame, const char *queue, char cells[NF][32])
{
    for (const char *line = frame; line != NULL && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)len, line);
        line = nl ? nl + 1 : NULL;
        char name[256];
        int used = 0;
        if (sscanf(buf, "%31s %31s %31s %31s %31s %31s %31s %31s %31s %255s%n", cells[0], cells[1],
                   cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8], name,
                   &used) == 10 &&
            strcmp(name, queue) == 0)
            return true;
    }
    return false;
}

/* The order in which the queues appear: position of each name's row. */
static int
row_position(const char *frame, const char *queue)
{
    char pat[300];
    snprintf(pat, sizeof pat, "  %s\n", queue);
    const char *p = strstr(frame, pat);
    return p ? (int)(p - frame) : -1;
}

typedef struct row_want {
    const char *queue;
    int field;
    const char *value; /* NULL: any number > 0 */
} row_want;

static bool
frame_row_has(const char *frame, const void *arg)
{
    const row_want *w = arg;
    char cells[NF][32];
    if (!row_of(frame, w->queue, cells))
        return false;
    if (w->value != NULL)
        return strcmp(cells[w->field], w->value) == 0;
    return strcmp(cells[w->field], "-") != 0 && strtod(cells[w->field], NULL) > 0;
}

typedef struct order_want {
    const char *sorted_by;
    const char *first, *second, *third;
} order_want;

static bool
frame_in_order(const char *frame, const void *arg)
{
    const order_want *w = arg;
    char line[64];
    snprintf(line, sizeof line, "sorted by %s;", w->sorted_by);
    int a = row_position(frame, w->first), b = row_position(frame, w->second),
        c = row_position(frame, w->third);
    return strstr(frame, line) != NULL && a >= 0 && a < b && b < c;
}

/* ---- traffic -------------------------------------------------------------- */

/* A child that puts and gets on "busy" until it is killed. */
static int
child_traffic(void *arg)
{
    ipcq_client *c = client_on(arg);
    for (;;) {
        void *data;
        size_t len;
        if (ipcq_put(c, "busy", "x", 1, IPCQ_FOREVER) != IPCQ_OK ||
            ipcq_get(c, "busy", &data, &len, IPCQ_FOREVER) != IPCQ_OK)
            return 1;
        ipcq_free(data);
        usleep(2000); /* a steady rate, not a measurement */
    }
}

/* Queues of known figures: "sized" with 5 items (maxsize 10), "waited"
 * with one blocked getter, "busy" with traffic. Returns the children. */
static void
make_traffic(const test_broker *tb, pid_t *getter, pid_t *traffic)
{
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_create(c, "sized", 10));
    for (int i = 0; i < 5; i++)
        put_text(c, "sized", "12345");
    assert_ipcq_ok(c, ipcq_create(c, "waited", 0));
    assert_ipcq_ok(c, ipcq_create(c, "busy", 0));
    static getter_args ga;
    ga = (getter_args){tb, "waited", 60000};
    *getter = fork_child(child_get_one, &ga);
    wait_queue_field(c, "waited", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    *traffic = fork_child(child_traffic, (void *)tb);
    ipcq_client_close(&c);
}

/* ---- the tests ------------------------------------------------------------ */

static void
top_shows_the_queues_sorts_and_quits(void **state)
{
    test_broker *tb = *state;
    pid_t getter, traffic;
    make_traffic(tb, &getter, &traffic);
    tty_run r;
    tty_start(&r, tb, (const char *const[]){"--interval", "0.2", NULL});

    free(tty_wait_frame(&r, frame_row_has, &(row_want){"sized", F_SIZE, "5"}, "sized's 5 items"));
    char *f = tty_wait_frame(&r, frame_row_has, &(row_want){"busy", F_PUTS, NULL}, "busy's puts/s");
    char cells[NF][32];
    assert_true(row_of(f, "sized", cells));
    assert_string_equal(cells[F_MAXSIZE], "10");
    assert_string_equal(cells[F_BYTES], "25");
    assert_string_equal(cells[F_GETTERS], "0");
    assert_true(row_of(f, "waited", cells));
    assert_string_equal(cells[F_GETTERS], "1");
    assert_string_equal(cells[F_SIZE], "0");
    assert_non_null(strstr(f, "ipcqd pid "));
    assert_non_null(strstr(f, "3 queues, "));
    assert_non_null(strstr(f, "QUEUE"));
    free(f);

    tty_send(&r, "n");
    free(tty_wait_frame(&r, frame_in_order, &(order_want){"name", "busy", "sized", "waited"},
                        "the queues by name"));
    tty_send(&r, "s");
    free(tty_wait_frame(&r, frame_in_order, &(order_want){"size", "sized", "busy", "waited"},
                        "the queues by size"));
    tty_send(&r, "q");
    assert_int_equal(tty_finish(&r), 0);
    expect_terminal_restored(&r);
    tty_free(&r);
    kill_child(traffic);
    kill_child(getter);
}

/* The broker goes away: top says so and keeps asking; it comes back; a
 * SIGTERM ends top with 128 + 15, the terminal restored. */
static void
top_outlives_the_broker(void **state)
{
    test_broker *tb = *state;
    tty_run r;
    tty_start(&r, tb, (const char *const[]){"--interval", "0.2", "--sort", "name", NULL});
    free(tty_wait_frame(&r, frame_has, "sorted by name", "the first frame"));
    test_broker_kill(tb);
    free(tty_wait_frame(&r, frame_has, "broker unavailable", "the broker gone"));
    test_broker_restart(tb);
    ipcq_client *c = client_on(tb);
    put_text(c, "back", "x");
    ipcq_client_close(&c);
    free(tty_wait_frame(&r, frame_row_has, &(row_want){"back", F_SIZE, "1"}, "the broker back"));
    assert_int_equal(kill(r.pid, SIGTERM), 0);
    assert_int_equal(tty_finish(&r), 128 + SIGTERM);
    expect_terminal_restored(&r);
    tty_free(&r);
}

/* Runs ipcq --broker EP ARGS... to the end, stdout and stderr to pipes. */
static void
run_cli(program_run *r, const char *endpoint, const char *const *args)
{
    const char *argv[16] = {IPCQ_CLI_PATH, "--broker", endpoint};
    int n = 3;
    for (; *args != NULL && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    program_start(r, &(program_spec){.argv = argv});
    program_finish(r, RUN_TIMEOUT_MS);
}

static void
top_once_prints_one_plain_frame(void **state)
{
    test_broker *tb = *state;
    pid_t getter, traffic;
    make_traffic(tb, &getter, &traffic);
    program_run r;
    run_cli(&r, tb->endpoint, (const char *const[]){"top", "--once", "--interval", "0.1", NULL});
    expect_exit(&r, 0);
    assert_null(strchr(r.out.data, '\033'));
    expect_out_has(&r, "sorted by size; rates over the last 0.");
    char cells[NF][32];
    assert_true(row_of(r.out.data, "sized", cells));
    assert_string_equal(cells[F_SIZE], "5");
    assert_true(row_of(r.out.data, "waited", cells));
    assert_string_equal(cells[F_GETTERS], "1");
    /* one frame: the table's header once */
    const char *hdr = strstr(r.out.data, "QUEUE\n");
    assert_non_null(hdr);
    assert_null(strstr(hdr + 1, "QUEUE\n"));
    program_free(&r);
    kill_child(traffic);
    kill_child(getter);

    /* no broker: exit 3, one line */
    char ep[400];
    snprintf(ep, sizeof ep, "%s", tb->endpoint);
    char *sock = strstr(ep, "broker.sock");
    assert_non_null(sock);
    strcpy(sock, "none.sock");
    run_cli(&r, ep, (const char *const[]){"top", "--once", NULL});
    expect_exit(&r, 3);
    expect_out(&r, "");
    expect_err_has(&r, "broker unavailable");
    assert_non_null(strchr(r.err.data, '\n'));
    assert_string_equal(strchr(r.err.data, '\n'), "\n");
    program_free(&r);
}

/* ---- stat --prometheus ---------------------------------------------------- */

/* Each metric, and the stat --json key it shows. */
static const struct metric {
    const char *name, *key;
    bool broker, seconds;
} metrics[] = {
    {"ipcq_broker_queues", "queues", true, false},
    {"ipcq_broker_sessions", "sessions", true, false},
    {"ipcq_broker_items", "items", true, false},
    {"ipcq_broker_bytes", "bytes", true, false},
    {"ipcq_broker_uptime_seconds", "uptime_ms", true, true},
    {"ipcq_broker_requests_total", "requests", true, false},
    {"ipcq_broker_bad_requests_total", "bad_requests", true, false},
    {"ipcq_broker_unroutable_replies_total", "unroutable", true, false},
    {"ipcq_broker_disconnects_total", "disconnects", true, false},
    {"ipcq_broker_max_item_size_bytes", "max_item_size", true, false},
    /* these move between the three runs (each is a client; memory shifts):
     * present and well formed; test_queue checks the count */
    {"ipcq_broker_clients", NULL, true, false},
    {"ipcq_broker_resident_memory_bytes", NULL, true, false},
    {"ipcq_queue_size", "size", false, false},
    {"ipcq_queue_maxsize", "maxsize", false, false},
    {"ipcq_queue_bytes", "bytes", false, false},
    {"ipcq_queue_blocked_getters", "getters", false, false},
    {"ipcq_queue_blocked_putters", "putters", false, false},
    {"ipcq_queue_blocked_joiners", "joiners", false, false},
    {"ipcq_queue_unfinished_tasks", "unfinished", false, false},
    {"ipcq_queue_leased_items", "leased", false, false},
    {"ipcq_queue_oldest_item_age_seconds", "oldest_ms", false, true},
    {"ipcq_queue_puts_total", "puts", false, false},
    {"ipcq_queue_gets_total", "gets", false, false},
    {"ipcq_queue_shutdown", "shutdown", false, false},
    /* not in stat --json: checked for form only */
    {"ipcq_queue_dead_lettered_total", NULL, false, false},
    {"ipcq_queue_max_deliveries", NULL, false, false},
};
#define NMETRICS (sizeof metrics / sizeof metrics[0])

/* The number after "KEY": in the object that starts at obj; JSON's true
 * and false as 1 and 0. */
static double
json_number(const char *obj, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(obj, pat), *end = strchr(obj, '}');
    assert_non_null(p);
    assert_true(end == NULL || p < end);
    p += strlen(pat);
    if (strncmp(p, "true", 4) == 0)
        return 1;
    if (strncmp(p, "false", 5) == 0)
        return 0;
    return strtod(p, NULL);
}

/* The object of queue (name unescaped) in stat --json's output. */
static const char *
json_queue_object(const char *json, const char *queue)
{
    char pat[600], *o = pat + snprintf(pat, sizeof pat, "{\"name\":\"");
    for (const char *s = queue; *s; s++) {
        if (*s == '"' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    strcpy(o, "\"");
    const char *p = strstr(json, pat);
    if (p == NULL)
        fail_msg("no queue '%s' in %s", queue, json);
    return p;
}

static const struct metric *
find_metric(const char *name)
{
    for (size_t i = 0; i < NMETRICS; i++)
        if (strcmp(metrics[i].name, name) == 0)
            return &metrics[i];
    return NULL;
}

static bool
valid_metric_name(const char *s)
{
    if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* Reads the label set {queue="..."} at *p, unescaping the value into
 * queue; *p is left after the '}'. */
static void
parse_queue_label(const char **p, char *queue, size_t cap)
{
    assert_memory_equal(*p, "{queue=\"", 8);
    const char *s = *p + 8;
    size_t n = 0;
    for (; *s != '"'; s++) {
        assert_true(*s != '\0' && *s != '\n');
        char ch = *s;
        if (ch == '\\') {
            s++;
            assert_true(*s == '\\' || *s == '"' || *s == 'n');
            ch = *s == 'n' ? '\n' : *s;
        }
        assert_true(n + 1 < cap);
        queue[n++] = ch;
    }
    queue[n] = '\0';
    assert_int_equal(s[1], '}');
    *p = s + 2;
}

/* Checks one sample line against the JSON before and after it. */
static void
check_sample(const char *line, const char *family, const char *json1, const char *json2,
             int *queue_samples)
{
    char name[128];
    size_t n = strcspn(line, "{ ");
    assert_true(n < sizeof name);
    snprintf(name, sizeof name, "%.*s", (int)n, line);
    assert_string_equal(name, family); /* under its own HELP and TYPE */
    const struct metric *m = find_metric(name);
    const char *p = line + n;
    char queue[300] = "";
    if (!m->broker) {
        parse_queue_label(&p, queue, sizeof queue);
        (*queue_samples)++;
    }
    assert_int_equal(*p, ' ');
    char *end;
    double v = strtod(p + 1, &end);
    assert_true(end != p + 1 && *end == '\0');
    if (m->key == NULL)
        return;
    const char *o1 = m->broker ? strstr(json1, "\"broker\":{") : json_queue_object(json1, queue);
    const char *o2 = m->broker ? strstr(json2, "\"broker\":{") : json_queue_object(json2, queue);
    double a = json_number(o1, m->key), b = json_number(o2, m->key);
    if (m->seconds)
        v *= 1000.0;
    if (v < a - 0.5 || v > b + 0.5)
        fail_msg("%s: %g, but stat --json said %g before and %g after", line, v, a, b);
}

static void
stat_prometheus_is_well_formed_and_matches_json(void **state)
{
    test_broker *tb = *state;
    static const char weird[] = "we\"ird\\q\xc3\xa9"; /* quote, backslash, é */
    ipcq_client *c = client_on(tb);
    put_text(c, weird, "abc");
    pid_t getter, traffic;
    make_traffic(tb, &getter, &traffic);
    kill_child(traffic); /* figures that hold still, but for the clocks */
    ipcq_client_close(&c);

    program_run j1, pr, j2;
    run_cli(&j1, tb->endpoint, (const char *const[]){"stat", "--json", NULL});
    run_cli(&pr, tb->endpoint, (const char *const[]){"stat", "--prometheus", NULL});
    run_cli(&j2, tb->endpoint, (const char *const[]){"stat", "--json", NULL});
    expect_exit(&j1, 0);
    expect_exit(&pr, 0);
    expect_exit(&j2, 0);

    char family[128] = "", help_of[128] = "";
    bool seen[NMETRICS] = {0};
    int queue_samples = 0, families = 0;
    char *text = strdup(pr.out.data);
    assert_non_null(text);
    assert_true(pr.out.len > 0 && text[pr.out.len - 1] == '\n');
    for (char *save, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char name[128], rest[256];
        if (sscanf(line, "# HELP %127s %255[^\n]", name, rest) == 2) {
            assert_true(valid_metric_name(name));
            snprintf(help_of, sizeof help_of, "%s", name);
        } else if (sscanf(line, "# TYPE %127s %255s", name, rest) == 2) {
            assert_string_equal(name, help_of); /* HELP first */
            const struct metric *m = find_metric(name);
            if (m == NULL)
                fail_msg("unknown metric %s", name);
            assert_false(seen[m - metrics]); /* one family each */
            seen[m - metrics] = true;
            bool counter = strcmp(rest, "counter") == 0;
            assert_true(counter || strcmp(rest, "gauge") == 0);
            size_t len = strlen(name);
            assert_int_equal(counter, len > 6 && strcmp(name + len - 6, "_total") == 0);
            snprintf(family, sizeof family, "%s", name);
            families++;
        } else {
            assert_true(line[0] != '#');
            check_sample(line, family, j1.out.data, j2.out.data, &queue_samples);
        }
    }
    free(text);
    for (size_t i = 0; i < NMETRICS; i++)
        if (!seen[i])
            fail_msg("no %s", metrics[i].name);
    assert_int_equal(families, NMETRICS);
    int queue_families = 0;
    for (size_t i = 0; i < NMETRICS; i++)
        queue_families += !metrics[i].broker;
    assert_int_equal(queue_samples, 4 * queue_families); /* weird, sized, waited, busy */
    /* the weird name, escaped as the format says */
    expect_out_has(&pr, "ipcq_queue_size{queue=\"we\\\"ird\\\\q\xc3\xa9\"} 1\n");
    expect_out_has(&pr, "ipcq_queue_blocked_getters{queue=\"waited\"} 1\n");
    program_free(&j1);
    program_free(&pr);
    program_free(&j2);

    /* one queue: only its figures */
    run_cli(&pr, tb->endpoint, (const char *const[]){"stat", "sized", "--prometheus", NULL});
    expect_exit(&pr, 0);
    expect_out_has(&pr, "ipcq_queue_size{queue=\"sized\"} 5\n");
    assert_null(strstr(pr.out.data, "ipcq_broker_"));
    assert_null(strstr(pr.out.data, "queue=\"waited\""));
    program_free(&pr);
    run_cli(&pr, tb->endpoint, (const char *const[]){"stat", "--json", "--prometheus", NULL});
    expect_exit(&pr, 2);
    program_free(&pr);
    kill_child(getter);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fixture_broker_up, fixture_broker_down)
    const struct CMUnitTest tests[] = {
        T(top_shows_the_queues_sorts_and_quits),
        T(top_outlives_the_broker),
        T(top_once_prints_one_plain_frame),
        T(stat_prometheus_is_well_formed_and_matches_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
