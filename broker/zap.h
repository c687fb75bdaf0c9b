/* Client authentication for CURVE (SPEC B3): a ZAP handler (ZeroMQ RFC 27)
 * that lets a CURVE client in only if its public key is in the broker's
 * --allowed-keys directory. */
#ifndef IPCQ_ZAP_H
#define IPCQ_ZAP_H
#include <stddef.h>

typedef struct zap_handler zap_handler;

/* Binds the handler in ctx (before any CURVE endpoint is bound, so that no
 * client is ever let in unchecked) and starts its thread. NULL, with a
 * one-line reason in err, on failure. */
zap_handler *zap_start(void *ctx, const char *keys_dir, char *err, size_t cap);

/* Joins the thread and frees *z (NULL: no-op). Call it once zmq_ctx_term()
 * has returned: terminating the context is what ends the thread. */
void zap_stop(zap_handler **z);

#endif
