/* The chat room's messages and queue names (see chat_msg.h). */
#include "chat_msg.h"

#include <stdio.h>
#include <string.h>

int
chat_msg_format(char *buf, size_t cap, const char *type, const char *field1, const char *field2)
{
    int n = snprintf(buf, cap, "%s%s%s%s%s", type, field1 != NULL ? " " : "",
                     field1 != NULL ? field1 : "", field2 != NULL ? " " : "",
                     field2 != NULL ? field2 : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* The next space-separated field of [*p, end): its start and length. */
static void
next_field(const char **p, const char *end, const char **field, size_t *field_len)
{
    const char *space = memchr(*p, ' ', (size_t)(end - *p));
    const char *stop = space != NULL ? space : end;
    *field = *p;
    *field_len = (size_t)(stop - *p);
    *p = space != NULL ? space + 1 : end;
}

int
chat_msg_parse(const char *item, size_t len, chat_msg *m)
{
    memset(m, 0, sizeof *m);
    const char *end = item + len;
    if (len == 2 && memcmp(item, "OK", 2) == 0) {
        m->type = 'O';
        return 0;
    }
    if (len >= 3 && memcmp(item, "ERR", 3) == 0) {
        m->type = 'E';
        m->text = len > 4 ? item + 4 : end;
        m->text_len = len > 4 ? len - 4 : 0;
        return 0;
    }
    if (len == 0 || (len > 1 && item[1] != ' '))
        return -1;
    m->type = item[0];
    const char *p = len > 1 ? item + 2 : end;
    switch (m->type) {
    case 'X':
        return len == 1 ? 0 : -1;
    case 'M': /* the rest is the text */
        m->text = p;
        m->text_len = (size_t)(end - p);
        return 0;
    case 'L':
    case 'C':
    case 'Q':
        next_field(&p, end, &m->name, &m->name_len);
        m->text = p; /* L: the reply queue; C: the text; Q: nothing */
        m->text_len = (size_t)(end - p);
        return m->name_len > 0 && (m->type != 'L' || m->text_len > 0) ? 0 : -1;
    default:
        return -1;
    }
}

const char *
chat_name_problem(const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return "the name is empty";
    if (len > CHAT_NAME_MAX)
        return "the name is longer than 32 bytes";
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        if (*p <= ' ' || *p == 0x7f)
            return "the name may not hold spaces or control characters";
    if (strcmp(name, CHAT_ADMIN_NAME) == 0)
        return "the name is reserved for the server's console";
    return NULL;
}

int
chat_member_queue(char *buf, size_t cap, const char *name)
{
    int n = snprintf(buf, cap, "%s%s", CHAT_MEMBER_PREFIX, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
