/* The nats:// backend of a library built without libnats: every call fails
 * IPCQ_ENOTSUP, saying how to get it (backend.h). */
#include "backend.h"

const client_backend backend_nats = {
    .name = "nats",
    .unsupported = "nats:// needs a libipcq built with libnats (install libnats-dev "
                   "and rebuild)",
};
