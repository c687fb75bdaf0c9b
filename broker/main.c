/* ipcqd, the broker: reads its flags (options.c) and runs the ZeroMQ loop
 * (router.c) over the broker core until SIGINT or SIGTERM. */
#include <signal.h>

#include "log.h"
#include "options.h"
#include "router.h"

int
main(int argc, char **argv)
{
    ipcqd_options o;
    int status = options_parse(argc, argv, &o);
    if (status == OPTIONS_RUN) {
        log_set_level(o.log_level);
        signal(SIGPIPE, SIG_IGN);
        status = router_run(&o.router);
    } else if (status == OPTIONS_DONE) {
        status = 0;
    }
    options_free(&o);
    return status;
}
