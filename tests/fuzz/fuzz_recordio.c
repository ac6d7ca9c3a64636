/* libFuzzer target for the RecordIO reader: the input is fed once whole and
 * once in pseudo-random pieces (down to single bytes); both readers must
 * return the same records and end in the same state, and every record must
 * survive recordio_write and a second read. Build with `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "wire/recordio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORD 4096

/* Appends "<len>:<bytes>" per record to out; returns the final status. */
static int drain(struct recordio_reader *r, struct buf *out)
{
    const char *rec;
    size_t len;
    int rc;
    struct error err = {0};
    while ((rc = recordio_reader_next(r, &rec, &len, &err)) == 1) {
        if (len == 0 || len > MAX_RECORD)
            abort();
        buf_printf(out, "%zu:", len);
        buf_append(out, rec, len);
    }
    if (rc < 0 && (err.code != rc || err.msg[0] == '\0'))
        abort();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recordio_reader whole, pieces, again;
    struct buf a = BUF_INIT, b = BUF_INIT, rewritten = BUF_INIT, c = BUF_INIT;
    int rc_a, rc_b = 0;

    recordio_reader_init(&whole, MAX_RECORD);
    recordio_reader_feed(&whole, data, size);
    rc_a = drain(&whole, &a);

    recordio_reader_init(&pieces, MAX_RECORD);
    uint32_t seed = size ? data[0] * 2654435761u + (uint32_t)size : 1;
    for (size_t off = 0; off < size;) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % (seed & 0x100 ? 64 : 3);
        if (n > size - off)
            n = size - off;
        recordio_reader_feed(&pieces, data + off, n);
        off += n;
        rc_b = drain(&pieces, &b);
        if (rc_b < 0)
            break;
    }
    if (size == 0)
        rc_b = drain(&pieces, &b);
    if (rc_a != rc_b || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) {
        fprintf(stderr, "fuzz_recordio: whole (%d) and pieces (%d) disagree\n", rc_a, rc_b);
        abort();
    }

    /* The records, written out again, read back identically and cleanly. */
    const char *p = buf_cstr(&a), *end = p + a.len;
    while (p < end) {
        char *colon;
        size_t len = strtoul(p, &colon, 10);
        recordio_write(&rewritten, colon + 1, len);
        p = colon + 1 + len;
    }
    recordio_reader_init(&again, MAX_RECORD);
    recordio_reader_feed(&again, rewritten.data, rewritten.len);
    if (drain(&again, &c) != 0 || c.len != a.len || (a.len && memcmp(a.data, c.data, a.len) != 0))
        abort();
    if (recordio_reader_buffered(&again) != 0)
        abort();

    recordio_reader_free(&whole);
    recordio_reader_free(&pieces);
    recordio_reader_free(&again);
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
    buf_free(&rewritten);
    return 0;
}
