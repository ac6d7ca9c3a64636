/* RecordIO framing ("<decimal length>\n<bytes>", docs/recordio.md in Mesos)
 * for the event streams. The reader is incremental and strict about the
 * length line; what a record contains is the caller's business. */
#include "wire/recordio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Compact the pending buffer once this many returned bytes sit in front of
 * it and they are at least half of it: each byte is then moved O(1) times. */
#define RECORDIO_COMPACT_MIN 4096

void recordio_write_length(struct buf *out, size_t len)
{
    char digits[RECORDIO_MAX_LENGTH_DIGITS + 1];
    size_t n = 0;
    uint64_t v = len;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    buf_reserve(out, n + 1 + len);
    buf_append(out, digits + sizeof(digits) - n, n);
    buf_append_char(out, '\n');
}

void recordio_write(struct buf *out, const void *data, size_t len)
{
    recordio_write_length(out, len);
    buf_append(out, data, len);
}

void recordio_reader_init(struct recordio_reader *r, size_t max_record)
{
    r->pending = (struct buf)BUF_INIT;
    r->start = 0;
    r->max_record = max_record ? max_record : SIZE_MAX;
    r->failed = 0;
}

void recordio_reader_free(struct recordio_reader *r)
{
    buf_free(&r->pending);
    r->start = 0;
}

void recordio_reader_feed(struct recordio_reader *r, const void *data, size_t len)
{
    if (r->failed || len == 0)
        return;
    if (r->start == r->pending.len) {
        buf_reset(&r->pending);
        r->start = 0;
    } else if (r->start >= RECORDIO_COMPACT_MIN && r->start >= r->pending.len / 2) {
        buf_consume(&r->pending, r->start);
        r->start = 0;
    }
    buf_append(&r->pending, data, len);
}

size_t recordio_reader_buffered(const struct recordio_reader *r)
{
    return r->pending.len - r->start;
}

static int fail(struct recordio_reader *r, struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct recordio_reader *r, struct error *err, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->failed = 1;
    buf_free(&r->pending);
    r->start = 0;
    return error_set(err, -EPROTO, "RecordIO: %s", msg);
}

int recordio_reader_next(struct recordio_reader *r, const char **data, size_t *len,
                         struct error *err)
{
    if (r->failed)
        return error_set(err, -EPROTO, "RecordIO stream is malformed (failed earlier)");
    /* The previous record's bytes may go now that the caller is done. */
    if (r->start > 0 && r->start == r->pending.len) {
        buf_reset(&r->pending);
        r->start = 0;
    }

    const char *p = buf_cstr(&r->pending) + r->start;
    size_t avail = r->pending.len - r->start;
    uint64_t size = 0;
    size_t i = 0;

    /* Digits are checked as they arrive, so a malformed stream is refused
     * at its first wrong byte rather than after buffering more. */
    for (; i < avail && p[i] != '\n'; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < '0' || c > '9')
            return fail(r, err, "invalid byte 0x%02x in a record length", c);
        if (i == RECORDIO_MAX_LENGTH_DIGITS)
            return fail(r, err, "record length longer than %d digits",
                        RECORDIO_MAX_LENGTH_DIGITS);
        unsigned d = (unsigned)(c - '0');
        if (size > (UINT64_MAX - d) / 10)
            return fail(r, err, "record length does not fit in 64 bits");
        size = size * 10 + d;
    }
    if (i == avail)
        return 0;
    if (i == 0)
        return fail(r, err, "empty record length");
    if (size == 0)
        return fail(r, err, "record length 0 (records are never empty)");
    if (size > r->max_record)
        return fail(r, err, "record of %llu bytes exceeds the limit of %zu",
                    (unsigned long long)size, r->max_record);
    if (avail - i - 1 < size)
        return 0;

    *data = p + i + 1;
    *len = (size_t)size;
    r->start += i + 1 + (size_t)size;
    return 1;
}
