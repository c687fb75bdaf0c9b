/* What the modes of ipcq-pool share (see pool_modes.h). */
#include "pool_modes.h"

const char pool_exit_help[] =
    "Exit status: 0 done and checked; 1 an item was lost or duplicated, or the sum\n"
    "is wrong; 2 usage error; 3 broker unreachable; 4 any other error; 130 after\n"
    "SIGINT (Ctrl-C) and 143 after SIGTERM, once every child has been stopped.\n"
    "See ipcq-pool(1) (man ipcq-pool).\n";

const tool_progress_style pool_progress_style = {
    .prefix = "", .unit_per_s = true, .interval_ms = 200};
