/* Queue-name rules (SPEC Q1) and the limits both sides agree on. */
#ifndef IPCQ_NAMES_H
#define IPCQ_NAMES_H
#include <stdbool.h>
#include <stddef.h>

#define IPCQ_NAME_MAX 255

/* Room above the max item size for the rest of a request's encoding: the
 * broker's socket drops any message over max item size + this. */
#define IPCQ_MESSAGE_OVERHEAD (64 * 1024)

/* The wire protocol version this build speaks. */
#define IPCQ_PROTOCOL_VERSION 1

/* True when name[0..len) is 1 to 255 bytes of valid UTF-8 without control
 * characters (C0, DEL, C1). */
bool ipcq_name_valid(const void *name, size_t len);

#endif
