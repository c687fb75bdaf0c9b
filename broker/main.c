/* ipcqd, the broker: reads its flags (options.c) and runs the ZeroMQ loop
 * (router.c) over the broker core until SIGINT or SIGTERM, telling systemd
 * when it is ready and when it stops (notify.c), and logging in the
 * journal's form when stderr is the journal. */
#include <signal.h>

#include "log.h"
#include "notify.h"
#include "options.h"
#include "router.h"

int
main(int argc, char **argv)
{
    ipcqd_options o;
    int status = options_parse(argc, argv, &o);
    if (status == OPTIONS_RUN) {
        log_set_level(o.log_level);
        log_detect_journal();
        o.router.events = &notify_events;
        signal(SIGPIPE, SIG_IGN);
        status = router_run(&o.router);
    } else if (status == OPTIONS_DONE) {
        status = 0;
    }
    options_free(&o);
    return status;
}
