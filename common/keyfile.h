/* CURVE key files, as `ipcq keygen` writes them and the broker and the
 * client library read them (SPEC B3):
 *
 *   NAME.pub   # ipcq CURVE public key
 *              public-key = <40 characters of Z85>
 *   NAME.key   the same public-key line and a secret-key line; mode 0600
 *
 * A broker's --allowed-keys directory holds its clients' .pub files. */
#ifndef IPCQ_KEYFILE_H
#define IPCQ_KEYFILE_H
#include <stdbool.h>
#include <stddef.h>

#define KEYFILE_Z85_LEN 40 /* a 32-byte key in Z85 */

/* True when s is exactly KEYFILE_Z85_LEN characters of Z85. */
bool keyfile_z85_key(const char *s);

/* Reads the key file at path into public_key (and, with secret_key not NULL,
 * its secret key, which must then be there; a secret key file must not be
 * readable by others). Returns 0, or -1 with a one-line reason in err. */
int keyfile_read(const char *path, char public_key[KEYFILE_Z85_LEN + 1],
                 char secret_key[KEYFILE_Z85_LEN + 1], char *err, size_t cap);

/* Writes PREFIX.pub and PREFIX.key (0600), never over existing files.
 * Returns 0, or -1 with a one-line reason in err. */
int keyfile_write(const char *prefix, const char *public_key, const char *secret_key, char *err,
                  size_t cap);

#endif
