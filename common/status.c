/* The text of every ipcq_status, and the library's version string. */
#include "ipcq.h"

#define IPCQ_STR2(x) #x
#define IPCQ_STR(x) IPCQ_STR2(x)

const char *
ipcq_strerror(ipcq_status status)
{
    switch ((ipcq_status)status) {
    case IPCQ_OK:
        return "success";
    case IPCQ_EMPTY:
        return "queue is empty";
    case IPCQ_FULL:
        return "queue is full";
    case IPCQ_ETIMEDOUT:
        return "timed out with work unfinished";
    case IPCQ_EINVAL:
        return "invalid argument";
    case IPCQ_ENOQUEUE:
        return "no such queue";
    case IPCQ_ECONFLICT:
        return "queue exists with a different maxsize";
    case IPCQ_EDELETED:
        return "queue deleted";
    case IPCQ_ESHUTDOWN:
        return "queue is shut down";
    case IPCQ_ETASKDONE:
        return "task_done() called too many times";
    case IPCQ_ETOOBIG:
        return "item too large";
    case IPCQ_EUNAVAILABLE:
        return "broker unavailable";
    case IPCQ_ESTOPPING:
        return "broker shutting down";
    case IPCQ_EPROTO:
        return "protocol error";
    case IPCQ_EVERSION:
        return "protocol version not supported";
    case IPCQ_ENOMEM:
        return "out of memory";
    case IPCQ_ESYSTEM:
        return "system error";
    case IPCQ_ELEASE:
        return "lease not held: it expired, or was acked or released";
    case IPCQ_ETASK:
        return "task failed";
    case IPCQ_EMEMLIMIT:
        return "over memory limit";
    case IPCQ_ELIMIT:
        return "limit reached";
    case IPCQ_EACCESS:
        return "permission denied";
    case IPCQ_ESTORAGE:
        return "broker storage failed";
    case IPCQ_ENOTSUP:
        return "not supported on this endpoint";
    }
    return "unknown status";
}

const char *
ipcq_version(void)
{
    return IPCQ_STR(IPCQ_VERSION_MAJOR) "." IPCQ_STR(IPCQ_VERSION_MINOR) "." IPCQ_STR(
        IPCQ_VERSION_PATCH);
}
