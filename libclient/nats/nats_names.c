/* Queue names (any UTF-8, SPEC Q1) to JetStream names, which allow neither
 * '.', '*', '>', whitespace nor path separators: letters, digits and '-'
 * stay, every other byte becomes "_XX" (hex), after the prefix "Q_". A name
 * whose encoding is over 255 bytes becomes "QH_" and a 128-bit hash of it.
 * The subject of a queue is "ipcq.q." and its stream's name ("ipcq.x." once
 * shut down: nats_tasks.c); the queue's
 * own name is kept in the stream's description. */
#include <stdio.h>
#include <string.h>

#include "nats_internal.h"

static uint64_t
fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

void
nats_stream_name(const char *queue, char *stream)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 2;
    memcpy(stream, "Q_", 2);
    for (const unsigned char *p = (const unsigned char *)queue; *p; p++) {
        if (n + 3 > NATS_STREAM_MAX) {
            sprintf(stream, "QH_%016llx%016llx",
                    (unsigned long long)fnv1a(queue, 0xcbf29ce484222325ULL),
                    (unsigned long long)fnv1a(queue, 0x84222325cbf29ce4ULL));
            return;
        }
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-')
            stream[n++] = (char)*p;
        else { /* "_XX", written by hand: this runs for every put */
            stream[n++] = '_';
            stream[n++] = hex[*p >> 4];
            stream[n++] = hex[*p & 15];
        }
    }
    stream[n] = '\0';
}

static void
prefixed(const char *prefix, const char *queue, char *subject)
{
    strcpy(subject, prefix);
    nats_stream_name(queue, subject + strlen(prefix));
}

void
nats_subject(const char *queue, char *subject)
{
    prefixed(NATS_SUBJECT_PREFIX, queue, subject);
}

void
nats_shut_subject(const char *queue, char *subject)
{
    prefixed(NATS_SHUT_PREFIX, queue, subject);
}

bool
nats_is_queue_stream(const char *stream)
{
    return strncmp(stream, "Q_", 2) == 0 || strncmp(stream, "QH_", 3) == 0;
}
