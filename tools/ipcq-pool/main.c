/*
 * ipcq-pool — the forking tool of SPEC §6: processes and pool workers
 * talking through the broker, with the fork discipline of a careful Unix
 * program.
 *
 *   ipcq-pool prodcons ...   producer and consumer processes (pool_prodcons.c)
 *   ipcq-pool primes ...     a process pool summing primes (pool_primes.c)
 *   ipcq-pool tasks ...      tiny tasks per second through a pool (pool_tasks.c)
 *
 * main() installs the stop-signal handlers (tool_proc.h), finds the mode
 * and hands it the remaining words. Every child of a run is reported with
 * its pid and parent pid, reaped, and stopped on Ctrl-C or SIGTERM; with no
 * --broker the run has a private broker of its own, stopped after it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ipcq.h"
#include "pool_args.h"
#include "pool_modes.h"
#include "tool_exit.h"
#include "tool_proc.h"

static const pool_mode *const modes[] = {&pool_prodcons_mode, &pool_primes_mode, &pool_tasks_mode};

static int
print_usage(void)
{
    printf("Usage: ipcq-pool MODE [OPTIONS]\n"
           "       ipcq-pool --help | --version\n\n"
           "Forks processes that talk through an ipcq broker, reports each child's pid\n"
           "and parent pid, reaps every one, and checks the result. A progress line is\n"
           "shown when standard error is a terminal.\n\n"
           "Modes:\n");
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        printf("  %s\n      %s\n", modes[i]->synopsis, modes[i]->summary);
    printf("\n'ipcq-pool MODE --help' tells more about MODE.\n\n%s", pool_exit_help);
    return tool_flush_stdout("ipcq-pool", TOOL_EXIT_OK);
}

int
main(int argc, char **argv)
{
    tool_signals_install();
    if (argc < 2)
        return tool_usage_error(&pool_usage, NULL, "missing mode");
    const char *word = argv[1];
    if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
        return print_usage();
    if (strcmp(word, "--version") == 0) {
        printf("ipcq-pool %s\n", ipcq_version());
        return tool_flush_stdout("ipcq-pool", TOOL_EXIT_OK);
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(word, modes[i]->name) == 0) {
            /* Lines, not blocks: the parent's lines keep their place among
             * the ones its children write. */
            setvbuf(stdout, NULL, _IOLBF, 0);
            int rc = modes[i]->run(argc - 2, argv + 2);
            int sig = tool_stop_signal();
            if (sig == 0)
                return tool_flush_stdout("ipcq-pool", rc);
            fprintf(stderr, "ipcq-pool: %s: stopped by %s; every child was stopped\n", word,
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            return 128 + sig;
        }
    if (word[0] == '-')
        return tool_usage_error(&pool_usage, NULL, "unrecognized option '%s'", word);
    return tool_usage_error(&pool_usage, NULL, "unknown mode '%s'", word);
}
