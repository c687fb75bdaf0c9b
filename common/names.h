/* Queue-name rules (SPEC Q1) and the limits both sides agree on. */
#ifndef IPCQ_NAMES_H
#define IPCQ_NAMES_H
#include <stdbool.h>
#include <stddef.h>

#define IPCQ_NAME_MAX 255

/* The wire protocol version this build speaks. */
#define IPCQ_PROTOCOL_VERSION 1

/* True when name[0..len) is 1 to 255 bytes of valid UTF-8 without control
 * characters (C0, DEL, C1). */
bool ipcq_name_valid(const void *name, size_t len);

#endif
