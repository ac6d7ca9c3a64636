/* One error type for the whole project: a code and a human-readable message
 * that names the offending input. Functions that fail fill an optional
 * struct error * and return a negative errno-style code or NULL. */
#ifndef TEPUI_COMMON_ERROR_H
#define TEPUI_COMMON_ERROR_H

#include <stddef.h>

struct error {
    int code;       /* negative errno-style code, 0 when unset */
    char msg[512];
};

/* Sets *err (when err is not NULL) and returns code, so callers can write
 * `return error_set(err, -EINVAL, "field '%s' ...", name);`. */
int error_set(struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("decoding Call: ..."). */
int error_prefix(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void error_clear(struct error *err);

#endif
