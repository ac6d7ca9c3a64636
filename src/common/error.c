/* The project-wide error value: formatting and prefixing messages. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(struct error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

int error_prefix(struct error *err, const char *fmt, ...)
{
    if (err == NULL)
        return 0;
    char prefix[256];
    char old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Very long messages are cut; the prefix and the start matter most. */
    size_t p = strlen(prefix);
    if (p > sizeof(err->msg) - 3)
        p = sizeof(err->msg) - 3;
    memcpy(err->msg, prefix, p);
    memcpy(err->msg + p, ": ", 2);
    size_t room = sizeof(err->msg) - p - 3;
    size_t o = strnlen(old, room);
    memcpy(err->msg + p + 2, old, o);
    err->msg[p + 2 + o] = '\0';
    return err->code;
}

void error_clear(struct error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
