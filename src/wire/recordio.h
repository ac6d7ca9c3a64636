/* RecordIO framing, as the Mesos streaming APIs use it: each record is
 * "<decimal length>\n" followed by exactly that many bytes. Record
 * boundaries are unrelated to HTTP chunk boundaries, so the reader is
 * incremental: feed it bytes as they arrive and take records out. */
#ifndef TEPUI_WIRE_RECORDIO_H
#define TEPUI_WIRE_RECORDIO_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* Appends one framed record to out. */
void recordio_write(struct buf *out, const void *data, size_t len);
/* Appends only the length line of a record of len bytes (and reserves room
 * for them), for a caller that then writes the record in place. */
void recordio_write_length(struct buf *out, size_t len);

/* The longest length line accepted: a uint64 has at most 20 digits. */
#define RECORDIO_MAX_LENGTH_DIGITS 20

struct recordio_reader {
    struct buf pending;      /* bytes received but not yet returned */
    size_t start;            /* offset in pending of the first byte not yet
                              * returned: records are consumed by moving it,
                              * and the buffer is compacted only when that
                              * prefix grows large, so a buffer holding many
                              * records is not memmoved once per record */
    size_t max_record;       /* records longer than this are an error */
    int failed;              /* set once the stream is malformed */
};

/* max_record 0 means no limit beyond what a uint64 length can say; network
 * readers should always pass a limit. */
void recordio_reader_init(struct recordio_reader *r, size_t max_record);
void recordio_reader_free(struct recordio_reader *r);

/* Adds received bytes (ignored once the reader has failed). */
void recordio_reader_feed(struct recordio_reader *r, const void *data, size_t len);

/* Takes the next complete record: returns 1 and sets *data and *len (valid until
 * the next call on the reader), 0 when more bytes are needed, or a negative
 * code with err filled when the stream is malformed (non-digit length,
 * zero or oversized length); after an error the reader stays failed. */
int recordio_reader_next(struct recordio_reader *r, const char **data, size_t *len,
                         struct error *err);

/* Bytes fed but not yet returned as records (a partial record at the end of
 * a stream means the peer went away mid-record). */
size_t recordio_reader_buffered(const struct recordio_reader *r);

#endif
