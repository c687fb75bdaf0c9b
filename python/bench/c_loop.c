/* The C side of overhead.py: N rounds of ipcq_put + ipcq_get of one small
 * item on one handle; prints the median microseconds per put and per get. */
#include <ipcq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const char *ep = argv[1], *q = argv[2];
    long n = atol(argv[3]);
    ipcq_client *c;
    if (ipcq_client_open(&c, ep) != IPCQ_OK)
        return 1;
    double *put = malloc(n * sizeof *put), *get = malloc(n * sizeof *get);
    if (!put || !get)
        return 1;
    for (long i = 0; i < n; i++) {
        double t0 = now_us();
        if (ipcq_put(c, q, "0123456789abcdef", 16, IPCQ_FOREVER) != IPCQ_OK)
            return 1;
        double t1 = now_us();
        void *item;
        size_t len;
        if (ipcq_get(c, q, &item, &len, IPCQ_FOREVER) != IPCQ_OK)
            return 1;
        double t2 = now_us();
        ipcq_free(item);
        put[i] = t1 - t0;
        get[i] = t2 - t1;
    }
    qsort(put, n, sizeof *put, cmp);
    qsort(get, n, sizeof *get, cmp);
    printf("%.2f %.2f\n", put[n / 2], get[n / 2]);
    free(put);
    free(get);
    ipcq_client_close(&c);
    return 0;
}
