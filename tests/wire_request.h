/* Requests built by hand, for the suites and tools that speak the wire
 * protocol raw (test_badinput over ZeroMQ, test_lane over unix://, the fuzz
 * seeds): protobuf-c only, no test framework. */
#ifndef IPCQ_TEST_WIRE_REQUEST_H
#define IPCQ_TEST_WIRE_REQUEST_H
#include <stddef.h>
#include <stdint.h>

#include "ipcq.pb-c.h"

/* A version-1 request with this id and op, on queue (NULL: none). The
 * queue's bytes are borrowed. */
Ipcqwire__Request wire_request(uint64_t id, Ipcqwire__Op op, const char *queue);

/* The encoding of r in a buffer to free(); aborts if out of memory. */
uint8_t *wire_pack(const Ipcqwire__Request *r, size_t *len);

#endif
