/* ipcq keygen (see cli_keygen.h). */
#include "cli_keygen.h"

#include <stdio.h>

#include "cli_report.h"

int
cmd_keygen(ipcq_client *c, const cli_opts *o)
{
    (void)c;
    const char *name = o->args[0];
    char why[512];
    int rc = ipcq_curve_keygen(name, why, sizeof why);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq: keygen: %s\n", why);
        return cli_exit_code(rc);
    }
    printf("%s.key: the key pair (secret: mode 0600, give it to no one)\n"
           "%s.pub: the public key (for the other side: a broker's --allowed-keys\n"
           "        directory, or a client's --curve-server)\n",
           name, name);
    return CLI_OK;
}
