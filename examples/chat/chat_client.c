/*
 * chat_client: the lecture notes' chat room client, over ipcq.
 *
 * It logs in as NAME (or asks for a name, again until one is accepted, as
 * the notes do), then forks, as the notes fork their sender and receiver:
 *   the receiver gets from chat.member.NAME and prints each line, until X
 *     (the server's last word to it), then deletes that queue;
 *   the sender reads the keyboard and puts each line to chat.server; "quit"
 *     or the end of input sends Q (leave) and ends it;
 * and the parent waits for both and reaps them. When one ends, the parent
 * tells the other: the receiver (SIGTERM) waits a little longer for its X,
 * then deletes its queue all the same; the sender (SIGTERM) stops without
 * a Q, for the receiver ended because the room is gone.
 *
 * Ctrl-C (SIGINT to the process group) reaches all three: the sender sends
 * Q, the server answers with X, the receiver deletes its queue, and the
 * parent reaps both and exits 130. SIGINT or SIGTERM to the parent alone
 * is passed to both children as SIGINT, to the same end.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ipcq.h>

#include "chat_cli.h"
#include "chat_lines.h"
#include "chat_msg.h"
#include "chat_proc.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

#define LOGIN_WAIT_MS 5000 /* for the server's answer to a login */
#define LEAVE_WAIT_MS 3000 /* for X, once leaving */
#define PUT_MS 2000        /* chat.server is unbounded: a put is quick */

static const char about[] =
    "A member of the chat room: logs in as NAME (asks for one without it),\n"
    "prints what the others say and sends each line typed; \"quit\", the end\n"
    "of input or Ctrl-C leaves. Needs chat_server running on the same broker.\n";

/* The answer of the server to a login of name: TOOL_EXIT_OK (in), _REFUSED
 * (why said on stderr) or an error's exit status. *sig: a stop signal that
 * came while waiting. */
static int
login(ipcq_client *c, const char *name, int *sig)
{
    char reply[CHAT_QUEUE_MAX], item[CHAT_ITEM_MAX];
    snprintf(reply, sizeof reply, "%s%d.%lld", CHAT_LOGIN_PREFIX, (int)getpid(),
             (long long)tool_now_ms());
    int n = chat_msg_format(item, sizeof item, "L", name, reply);
    int rc = ipcq_put(c, CHAT_SERVER_QUEUE, item, (size_t)n, PUT_MS);
    if (rc != IPCQ_OK)
        return chat_fail(c, CHAT_SERVER_QUEUE, rc);
    void *answer = NULL;
    size_t len = 0;
    int64_t deadline = tool_now_ms() + LOGIN_WAIT_MS;
    do {
        rc = ipcq_get(c, reply, &answer, &len, CHAT_SLICE_MS);
        *sig = chat_take_signal(0);
    } while (rc == IPCQ_EMPTY && tool_now_ms() < deadline && *sig != SIGINT && *sig != SIGTERM);
    ipcq_delete(c, reply);
    chat_msg m = {0};
    int out = CHAT_EXIT_REFUSED;
    if (rc == IPCQ_OK && chat_msg_parse(answer, len, &m) == 0 && m.type == 'O')
        out = TOOL_EXIT_OK;
    else if (rc == IPCQ_OK && m.type == 'E')
        fprintf(stderr, "%s: %s: %.*s\n", chat_prog, name, (int)m.text_len, m.text);
    else if (rc == IPCQ_OK)
        fprintf(stderr, "%s: a malformed answer from the server\n", chat_prog);
    else if (rc == IPCQ_EMPTY && *sig == 0)
        fprintf(stderr, "%s: no chat server answered on %s within %d s\n", chat_prog,
                CHAT_SERVER_QUEUE, LOGIN_WAIT_MS / 1000);
    else if (rc != IPCQ_EMPTY)
        out = chat_fail(c, reply, rc);
    ipcq_free(answer);
    return out;
}

/* Without a NAME operand: asks on stdout, reads the answer from lines, and
 * asks again after a refusal, as the notes' client does. */
static int
login_asking(ipcq_client *c, chat_lines *lines, char *name, int *sig)
{
    char text[CHAT_TEXT_MAX + 1];
    for (;;) {
        printf("your name: ");
        fflush(stdout);
        chat_line_kind kind = chat_lines_next(lines, text, sig);
        if (kind == CHAT_LINE_SIGNAL)
            return 128 + *sig;
        if (kind != CHAT_LINE && kind != CHAT_LINE_LONG)
            return CHAT_EXIT_REFUSED; /* no name given */
        const char *problem = kind == CHAT_LINE ? chat_name_problem(text) : "the line is too long";
        if (problem != NULL) {
            fprintf(stderr, "%s: %s\n", chat_prog, problem);
            continue;
        }
        int rc = login(c, text, sig);
        if (rc != CHAT_EXIT_REFUSED || *sig != 0) {
            snprintf(name, CHAT_NAME_MAX + 1, "%.*s", CHAT_NAME_MAX, text); /* checked: fits */
            return rc;
        }
    }
}

/* The receiver child: prints what arrives on queue until X. A stop signal,
 * or leaving already, bounds the wait for X. */
static int
receive(ipcq_client *c, const char *queue, bool leaving)
{
    int64_t leaving_since = leaving ? tool_now_ms() : -1;
    int rc = TOOL_EXIT_OK;
    for (;;) {
        int sig = chat_take_signal(0);
        if ((sig == SIGINT || sig == SIGTERM) && leaving_since < 0)
            leaving_since = tool_now_ms();
        if (leaving_since >= 0 && tool_now_ms() - leaving_since > LEAVE_WAIT_MS)
            break; /* the server did not answer the leave: clean up alone */
        void *item;
        size_t len;
        int st = ipcq_get(c, queue, &item, &len, CHAT_SLICE_MS);
        if (st == IPCQ_EMPTY)
            continue;
        if (st != IPCQ_OK) {
            rc = st == IPCQ_EDELETED ? TOOL_EXIT_OK : chat_fail(c, queue, st);
            break;
        }
        chat_msg m;
        bool last = chat_msg_parse(item, len, &m) == 0 && m.type == 'X';
        if (!last && m.type == 'M') {
            printf("%.*s\n", (int)m.text_len, m.text);
            fflush(stdout);
        }
        ipcq_free(item);
        if (last)
            break;
    }
    ipcq_delete(c, queue);
    return rc;
}

/* Q: the server answers with X on the member's queue. */
static int
send_leave(ipcq_client *c, const char *name)
{
    char item[CHAT_ITEM_MAX];
    int n = chat_msg_format(item, sizeof item, "Q", name, NULL);
    int st = ipcq_put(c, CHAT_SERVER_QUEUE, item, (size_t)n, PUT_MS);
    return st == IPCQ_OK ? TOOL_EXIT_OK : chat_fail(c, CHAT_SERVER_QUEUE, st);
}

/* The sender child: each line typed goes to the room; "quit", the end of
 * input or SIGINT sends Q. SIGTERM (from the parent) stops it without. */
static int
send_lines(ipcq_client *c, chat_lines *lines, const char *name)
{
    char text[CHAT_TEXT_MAX + 1], item[CHAT_ITEM_MAX];
    int sig = 0, rc = TOOL_EXIT_OK;
    for (;;) {
        chat_line_kind kind = chat_lines_next(lines, text, &sig);
        if (kind == CHAT_LINE_LONG) {
            fprintf(stderr, "%s: a line over %d bytes was not sent\n", chat_prog, CHAT_TEXT_MAX);
            continue;
        }
        if (kind == CHAT_LINE_SIGNAL && sig == SIGTERM)
            return 128 + sig;
        if (kind == CHAT_LINE_ERROR)
            rc = TOOL_EXIT_ERROR;
        if (kind != CHAT_LINE || strcmp(text, "quit") == 0)
            break;
        if (text[0] == '\0')
            continue;
        int n = chat_msg_format(item, sizeof item, "C", name, text);
        int st = ipcq_put(c, CHAT_SERVER_QUEUE, item, (size_t)n, PUT_MS);
        if (st != IPCQ_OK)
            return chat_fail(c, CHAT_SERVER_QUEUE, st);
    }
    int st = send_leave(c, name);
    return sig != 0 ? 128 + sig : st != TOOL_EXIT_OK ? st : rc;
}

/* Waits for both children and reaps them (see the top of the file); the
 * exit status of the client. */
static int
supervise(pid_t receiver, pid_t sender)
{
    int stop = 0, recv_status = 0, send_status = 0;
    int64_t kill_at = INT64_MAX;
    while (receiver > 0 || sender > 0) {
        int sig = chat_take_signal(CHAT_SLICE_MS);
        if ((sig == SIGINT || sig == SIGTERM) && stop == 0) {
            stop = sig;
            if (receiver > 0)
                kill(receiver, SIGINT);
            if (sender > 0)
                kill(sender, SIGINT);
            kill_at = tool_now_ms() + LEAVE_WAIT_MS + 2000;
        }
        if (sender > 0 && tool_reap(sender, &send_status)) {
            sender = 0;
            if (receiver > 0)
                kill(receiver, SIGTERM); /* leaving: the X comes, or not */
            if (kill_at == INT64_MAX)
                kill_at = tool_now_ms() + LEAVE_WAIT_MS + 2000;
        }
        if (receiver > 0 && tool_reap(receiver, &recv_status)) {
            receiver = 0;
            if (sender > 0)
                kill(sender, SIGTERM); /* the room is gone: no Q */
            if (kill_at == INT64_MAX)
                kill_at = tool_now_ms() + 2000;
        }
        if (tool_now_ms() > kill_at) { /* reaped on the next turns */
            if (receiver > 0)
                kill(receiver, SIGKILL);
            if (sender > 0)
                kill(sender, SIGKILL);
        }
    }
    if (stop != 0)
        return 128 + stop;
    if (send_status != 0 && send_status != 128 + SIGTERM)
        return send_status;
    return recv_status;
}

int
main(int argc, char **argv)
{
    chat_args args;
    int rc = chat_args_parse(argc, argv, "[NAME]", about, true, &args);
    if (rc >= 0)
        return rc;
    const char *problem = args.name != NULL ? chat_name_problem(args.name) : NULL;
    if (problem != NULL) {
        fprintf(stderr, "%s: %s\n", chat_prog, problem);
        return TOOL_EXIT_USAGE;
    }
    chat_signals_block();
    chat_lines lines;
    if (chat_lines_open(&lines) != 0) {
        perror("signalfd");
        return TOOL_EXIT_ERROR;
    }
    ipcq_client *c = NULL;
    char name[CHAT_NAME_MAX + 1] = "";
    int sig = 0;
    if ((rc = chat_connect(args.broker, &c)) >= 0)
        return rc;
    if (args.name != NULL) {
        snprintf(name, sizeof name, "%s", args.name);
        rc = login(c, name, &sig);
    } else {
        rc = login_asking(c, &lines, name, &sig);
    }
    if (rc != TOOL_EXIT_OK) {
        ipcq_client_close(&c);
        return sig != 0 ? 128 + sig : rc;
    }
    char queue[CHAT_QUEUE_MAX];
    chat_member_queue(queue, sizeof queue, name);
    if (sig != 0) { /* a stop signal during the login: in, and out at once */
        send_leave(c, name);
        receive(c, queue, true);
        ipcq_client_close(&c);
        return 128 + sig;
    }
    printf("joined the room as %s: type a line to say it, quit to leave\n", name);
    fflush(NULL);
    pid_t receiver = tool_fork();
    if (receiver == 0)
        _exit(receive(c, queue, false));
    pid_t sender = receiver > 0 ? tool_fork() : -1;
    if (sender == 0)
        _exit(send_lines(c, &lines, name));
    if (sender > 0) {
        rc = supervise(receiver, sender);
    } else { /* leave at once, and reap the receiver if there is one */
        perror("fork");
        send_leave(c, name);
        if (receiver > 0)
            kill(receiver, SIGTERM);
        else
            receive(c, queue, true);
        supervise(receiver > 0 ? receiver : 0, 0);
        rc = TOOL_EXIT_ERROR;
    }
    printf("left the room\n");
    fflush(stdout);
    chat_lines_close(&lines);
    ipcq_client_close(&c);
    return rc;
}
