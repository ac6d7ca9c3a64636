/* A growable byte buffer: the one way strings and wire bytes are built,
 * so no fixed-size buffer can overflow. Always NUL-terminated. */
#ifndef TEPUI_COMMON_BUF_H
#define TEPUI_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;   /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

/* Makes room for n more bytes; aborts on out-of-memory (as malloc failures
 * are not recoverable in a daemon that must keep its state consistent). */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hands the bytes to the caller (who frees them) and resets the buffer. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
const char *buf_cstr(const struct buf *b);

#endif
