#include "wire.h"

#include <stdint.h>

/* Length of the UTF-8 sequence starting at s (at most avail bytes), or 0 if
 * it is not a valid, shortest-form, non-surrogate sequence. *cp gets the
 * code point. */
static size_t
utf8_sequence(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

bool
queue_name_valid(const void *name, size_t len)
{
    const unsigned char *s = name;
    if (name == NULL || len == 0 || len > IPCQ_NAME_MAX)
        return false;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_sequence(s + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            return false;
        i += n;
    }
    return true;
}
