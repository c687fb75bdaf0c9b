/*
 * consumer.c — a program built outside the source tree against the
 * installed libipcq (ipcq.h, ipcq.pc or find_package(ipcq)), by
 * run_install_test.sh. It uses nothing but <ipcq.h>.
 *
 *   consumer ENDPOINT          put an item, get it back, check it; prints OK
 *   consumer ENDPOINT --ping   exit 0 if the broker answers a ping
 *
 * Exits 0 on success, 1 on failure.
 */
#include <ipcq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define HEADER_VERSION                                                                             \
    STR(IPCQ_VERSION_MAJOR) "." STR(IPCQ_VERSION_MINOR) "." STR(IPCQ_VERSION_PATCH)

static int
fail(ipcq_client **c, const char *what, int rc)
{
    fprintf(stderr, "consumer: %s: %s (%s)\n", what, ipcq_strerror(rc),
            *c ? ipcq_client_error(*c) : "");
    ipcq_client_close(c);
    return 1;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--ping") != 0)) {
        fprintf(stderr, "usage: consumer ENDPOINT [--ping]\n");
        return 1;
    }
    if (strcmp(ipcq_version(), HEADER_VERSION) != 0) {
        fprintf(stderr, "consumer: library version %s, header version %s\n", ipcq_version(),
                HEADER_VERSION);
        return 1;
    }

    ipcq_client *c = NULL;
    int rc = ipcq_client_open(&c, argv[1]);
    if (rc != IPCQ_OK)
        return fail(&c, "open", rc);
    if (argc == 3) {
        rc = ipcq_ping(c);
        ipcq_client_close(&c);
        return rc == IPCQ_OK ? 0 : 1;
    }

    /* Bytes with a NUL and high bits, so that nothing treats them as text. */
    static const unsigned char payload[] = {'i', 'n', 's', 't', 0, 0xff, 0x80, '\n', 'q'};
    const char *queue = "install-test";
    if ((rc = ipcq_put(c, queue, payload, sizeof payload, 5000)) != IPCQ_OK)
        return fail(&c, "put", rc);
    void *item = NULL;
    size_t len = 0;
    if ((rc = ipcq_get(c, queue, &item, &len, 5000)) != IPCQ_OK)
        return fail(&c, "get", rc);
    int same = len == sizeof payload && memcmp(item, payload, len) == 0;
    ipcq_free(item);
    if (!same) {
        fprintf(stderr, "consumer: got %zu bytes, not the %zu put\n", len, sizeof payload);
        ipcq_client_close(&c);
        return 1;
    }
    if ((rc = ipcq_delete(c, queue)) != IPCQ_OK)
        return fail(&c, "delete", rc);
    ipcq_client_close(&c);
    printf("OK %s\n", ipcq_version());
    return 0;
}
