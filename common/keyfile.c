/* Reading and writing CURVE key files (see keyfile.h). */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char z85_chars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                ".-:+=^!/*?&<>()[]{}@%$#";

bool
keyfile_z85_key(const char *s)
{
    size_t n = strspn(s, z85_chars);
    return n == KEYFILE_Z85_LEN && s[n] == '\0';
}

/* If line is "NAME = KEY", copies KEY into out; false otherwise. */
static bool
key_line(const char *line, const char *name, char out[KEYFILE_Z85_LEN + 1])
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0)
        return false;
    line += n;
    line += strspn(line, " \t");
    if (*line++ != '=')
        return false;
    line += strspn(line, " \t");
    char key[KEYFILE_Z85_LEN + 2];
    snprintf(key, sizeof key, "%.*s", (int)strcspn(line, " \t\r\n"), line);
    if (!keyfile_z85_key(key))
        return false;
    memcpy(out, key, KEYFILE_Z85_LEN + 1);
    return true;
}

int
keyfile_read(const char *path, char public_key[KEYFILE_Z85_LEN + 1],
             char secret_key[KEYFILE_Z85_LEN + 1], char *err, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, cap, "%s: cannot read key file: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (secret_key != NULL && fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
        fclose(f);
        snprintf(err, cap, "%s: secret key file is open to others (mode %03o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        return -1;
    }
    bool have_public = false, have_secret = secret_key == NULL;
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        have_public = have_public || key_line(line, "public-key", public_key);
        if (secret_key != NULL)
            have_secret = have_secret || key_line(line, "secret-key", secret_key);
    }
    fclose(f);
    if (!have_public || !have_secret) {
        snprintf(err, cap, "%s: not a%s key file of ipcq keygen (no %s-key line)", path,
                 secret_key ? " secret" : "", have_public ? "secret" : "public");
        return -1;
    }
    return 0;
}

/* Writes text to a new file at path with mode; never over an existing one. */
static int
write_new(const char *path, mode_t mode, const char *text, char *err, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, cap, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    if (n != (ssize_t)len || fchmod(fd, mode) != 0 || close(fd) != 0) {
        snprintf(err, cap, "%s: cannot write: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int
keyfile_write(const char *prefix, const char *public_key, const char *secret_key, char *err,
              size_t cap)
{
    char pub_path[4200], key_path[4200], text[512];
    snprintf(pub_path, sizeof pub_path, "%s.pub", prefix);
    snprintf(key_path, sizeof key_path, "%s.key", prefix);
    snprintf(text, sizeof text,
             "# ipcq CURVE key pair: keep this file secret (its .pub is for others)\n"
             "public-key = %s\nsecret-key = %s\n",
             public_key, secret_key);
    if (write_new(key_path, 0600, text, err, cap) != 0)
        return -1;
    snprintf(text, sizeof text, "# ipcq CURVE public key\npublic-key = %s\n", public_key);
    if (write_new(pub_path, 0644, text, err, cap) != 0) {
        unlink(key_path);
        return -1;
    }
    return 0;
}
