/* RecordIO framing (src/wire/recordio.c): the writer's format, the reader
 * across arbitrary splits of the stream, and every malformed length. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "wire/recordio.h"

/* Takes every complete record out of r, appending "<record>|" to out;
 * returns the number taken. Fails the test on a stream error. */
static int drain(struct recordio_reader *r, struct buf *out)
{
    const char *data;
    size_t len;
    int n = 0, rc;
    struct error err = {0};
    while ((rc = recordio_reader_next(r, &data, &len, &err)) == 1) {
        buf_append(out, data, len);
        buf_append_char(out, '|');
        n++;
    }
    if (rc < 0)
        fail_msg("unexpected stream error: %s", err.msg);
    return n;
}

static void write_frames_length_newline_bytes(void **state)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "x");
    recordio_write(&b, "hello", 5);
    recordio_write(&b, "{\"type\":\"HEARTBEAT\"}", 20);
    assert_int_equal(b.len, 1 + 7 + 23);
    assert_memory_equal(b.data, "x5\nhello20\n{\"type\":\"HEARTBEAT\"}", b.len);
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

/* The master's event senders write the length line first and then the
 * record in place; the bytes must be those of recordio_write. */
static void length_line_then_record_in_place_equals_recordio_write(void **state)
{
    struct buf whole = BUF_INIT, split = BUF_INIT;
    const char rec[] = "0123456789abc";
    recordio_write(&whole, rec, 13);
    recordio_write(&whole, "", 0);
    recordio_write_length(&split, 13);
    assert_true(split.cap >= split.len + 13 + 1);
    buf_append(&split, rec, 13);
    recordio_write_length(&split, 0);
    assert_int_equal(split.len, whole.len);
    assert_memory_equal(split.data, "13\n0123456789abc0\n", split.len);
    assert_memory_equal(split.data, whole.data, whole.len);
    buf_free(&whole);
    buf_free(&split);
}

static void reads_back_what_was_written(void **state)
{
    struct buf stream = BUF_INIT, got = BUF_INIT;
    struct recordio_reader r;
    recordio_write(&stream, "a", 1);
    recordio_write(&stream, "bc\ndef", 6); /* newlines inside records are data */
    recordio_write(&stream, "\0\1\2", 3);
    recordio_reader_init(&r, 1024);
    recordio_reader_feed(&r, stream.data, stream.len);
    assert_int_equal(drain(&r, &got), 3);
    assert_int_equal(got.len, 1 + 1 + 6 + 1 + 3 + 1);
    assert_memory_equal(got.data, "a|bc\ndef|\0\1\2|", got.len);
    assert_int_equal(recordio_reader_buffered(&r), 0);
    recordio_reader_free(&r);
    buf_free(&stream);
    buf_free(&got);
}

static void reads_records_fed_one_byte_at_a_time(void **state)
{
    const char stream[] = "3\nabc10\n0123456789002\nxy";
    struct buf got = BUF_INIT;
    struct recordio_reader r;
    int n = 0;
    recordio_reader_init(&r, 100);
    for (size_t i = 0; i < sizeof(stream) - 1; i++) {
        recordio_reader_feed(&r, stream + i, 1);
        n += drain(&r, &got);
    }
    assert_int_equal(n, 3);
    assert_string_equal(got.data, "abc|0123456789|xy|");
    recordio_reader_free(&r);
    buf_free(&got);
}

static void reads_records_split_at_every_position(void **state)
{
    struct buf stream = BUF_INIT;
    recordio_write(&stream, "first record", 12);
    recordio_write(&stream, "2nd", 3);
    recordio_write(&stream, "0123456789abcdef", 16);
    for (size_t a = 0; a <= stream.len; a++) {
        for (size_t b = a; b <= stream.len; b++) {
            struct buf got = BUF_INIT;
            struct recordio_reader r;
            int n = 0;
            recordio_reader_init(&r, 64);
            recordio_reader_feed(&r, stream.data, a);
            n += drain(&r, &got);
            recordio_reader_feed(&r, stream.data + a, b - a);
            n += drain(&r, &got);
            recordio_reader_feed(&r, stream.data + b, stream.len - b);
            n += drain(&r, &got);
            assert_int_equal(n, 3);
            assert_string_equal(got.data, "first record|2nd|0123456789abcdef|");
            recordio_reader_free(&r);
            buf_free(&got);
        }
    }
    buf_free(&stream);
}

static void partial_record_waits_for_more_bytes(void **state)
{
    struct recordio_reader r;
    const char *data;
    size_t len;
    struct error err = {0};
    recordio_reader_init(&r, 100);
    recordio_reader_feed(&r, "12", 2);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), 0);
    recordio_reader_feed(&r, "\nabc", 4);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), 0);
    assert_int_equal(recordio_reader_buffered(&r), 6);
    recordio_reader_feed(&r, "defghijkl", 9);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), 1);
    assert_int_equal(len, 12);
    assert_memory_equal(data, "abcdefghijkl", 12);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), 0);
    recordio_reader_free(&r);
}

static void leading_zeros_in_the_length_are_digits(void **state)
{
    struct recordio_reader r;
    struct buf got = BUF_INIT;
    recordio_reader_init(&r, 100);
    recordio_reader_feed(&r, "0003\nabc00000000000000000001\nz", 30);
    assert_int_equal(drain(&r, &got), 2);
    assert_string_equal(got.data, "abc|z|");
    recordio_reader_free(&r);
    buf_free(&got);
}

static void expect_stream_error(const char *bytes, size_t n, size_t max, const char *msg)
{
    struct recordio_reader r;
    const char *data;
    size_t len;
    struct error err = {0};
    recordio_reader_init(&r, max);
    recordio_reader_feed(&r, bytes, n);
    int rc;
    while ((rc = recordio_reader_next(&r, &data, &len, &err)) == 1)
        ;
    assert_int_equal(rc, -EPROTO);
    assert_int_equal(err.code, -EPROTO);
    assert_string_equal(err.msg, msg);
    /* it stays failed, whatever comes next */
    recordio_reader_feed(&r, "1\na", 3);
    error_clear(&err);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), -EPROTO);
    assert_string_equal(err.msg, "RecordIO stream is malformed (failed earlier)");
    assert_int_equal(recordio_reader_buffered(&r), 0);
    recordio_reader_free(&r);
}

static void rejects_malformed_lengths(void **state)
{
    expect_stream_error("abc\n", 4, 100, "RecordIO: invalid byte 0x61 in a record length");
    expect_stream_error("-1\nx", 4, 100, "RecordIO: invalid byte 0x2d in a record length");
    expect_stream_error(" 1\nx", 4, 100, "RecordIO: invalid byte 0x20 in a record length");
    expect_stream_error("1 \nx", 4, 100, "RecordIO: invalid byte 0x20 in a record length");
    expect_stream_error("1\r\nx", 4, 100, "RecordIO: invalid byte 0x0d in a record length");
    expect_stream_error("+1\nx", 4, 100, "RecordIO: invalid byte 0x2b in a record length");
    expect_stream_error("\nx", 2, 100, "RecordIO: empty record length");
    expect_stream_error("0\n", 2, 100, "RecordIO: record length 0 (records are never empty)");
    expect_stream_error("000\n", 4, 100, "RecordIO: record length 0 (records are never empty)");
    expect_stream_error("1\na2\nbc0\n", 9, 100,
                        "RecordIO: record length 0 (records are never empty)");
    expect_stream_error("101\n", 4, 100, "RecordIO: record of 101 bytes exceeds the limit of 100");
    expect_stream_error("000000000000000000001", 21, 100,
                        "RecordIO: record length longer than 20 digits");
    expect_stream_error("18446744073709551616\n", 21, 0,
                        "RecordIO: record length does not fit in 64 bits");
    expect_stream_error("99999999999999999999\n", 21, 0,
                        "RecordIO: record length does not fit in 64 bits");
    expect_stream_error("18446744073709551615\n", 21, 1 << 20,
                        "RecordIO: record of 18446744073709551615 bytes exceeds the limit of "
                        "1048576");
}

static void rejects_a_bad_length_before_its_newline_arrives(void **state)
{
    struct recordio_reader r;
    const char *data;
    size_t len;
    struct error err = {0};
    recordio_reader_init(&r, 100);
    recordio_reader_feed(&r, "12", 2);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), 0);
    recordio_reader_feed(&r, "x", 1);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), -EPROTO);
    recordio_reader_free(&r);

    /* and an endless run of digits is cut off at 21 */
    recordio_reader_init(&r, 0);
    for (int i = 0; i < 20; i++) {
        recordio_reader_feed(&r, "1", 1);
        assert_int_equal(recordio_reader_next(&r, &data, &len, &err), 0);
    }
    recordio_reader_feed(&r, "1", 1);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), -EPROTO);
    recordio_reader_free(&r);
}

static void max_record_zero_means_no_limit(void **state)
{
    struct recordio_reader r;
    struct buf stream = BUF_INIT, got = BUF_INIT;
    char *big = malloc(100000);
    memset(big, 'q', 100000);
    recordio_write(&stream, big, 100000);
    recordio_reader_init(&r, 0);
    recordio_reader_feed(&r, stream.data, stream.len);
    assert_int_equal(drain(&r, &got), 1);
    assert_int_equal(got.len, 100001);
    recordio_reader_free(&r);
    buf_free(&stream);
    buf_free(&got);
    free(big);
}

static void consecutive_records_come_out_in_order(void **state)
{
    struct recordio_reader r;
    const char *a, *b;
    size_t alen, blen;
    struct error err = {0};
    recordio_reader_init(&r, 100);
    recordio_reader_feed(&r, "1\na1\nb", 6);
    assert_int_equal(recordio_reader_next(&r, &a, &alen, &err), 1);
    assert_int_equal(alen, 1);
    assert_memory_equal(a, "a", 1);
    assert_int_equal(recordio_reader_next(&r, &b, &blen, &err), 1);
    assert_int_equal(blen, 1);
    assert_memory_equal(b, "b", 1);
    assert_int_equal(recordio_reader_next(&r, &b, &blen, &err), 0);
    recordio_reader_free(&r);
}

/* Many records in one buffer, taken out while more keep arriving: exercises
 * the consume-by-offset and the occasional compaction. */
static void many_records_stream_through_with_compaction(void **state)
{
    struct recordio_reader r;
    struct buf chunk = BUF_INIT;
    const int total = 20000;
    int next_expected = 0, fed = 0;
    recordio_reader_init(&r, 1000);

    while (next_expected < total) {
        /* feed a chunk of up to 997 records, cut at an arbitrary byte */
        buf_reset(&chunk);
        for (int i = 0; i < 997 && fed < total; i++, fed++) {
            char rec[32];
            int n = snprintf(rec, sizeof(rec), "record-%d", fed);
            recordio_write(&chunk, rec, (size_t)n);
        }
        size_t cut = chunk.len * 2 / 3;
        recordio_reader_feed(&r, chunk.data, cut);
        const char *data;
        size_t len;
        struct error err = {0};
        int rc;
        for (int pass = 0; pass < 2; pass++) {
            while ((rc = recordio_reader_next(&r, &data, &len, &err)) == 1) {
                char want[32];
                int n = snprintf(want, sizeof(want), "record-%d", next_expected++);
                assert_int_equal(len, (size_t)n);
                assert_memory_equal(data, want, len);
            }
            assert_int_equal(rc, 0);
            if (pass == 0)
                recordio_reader_feed(&r, chunk.data + cut, chunk.len - cut);
        }
        /* the chunk held whole records, so nothing is left over */
        assert_int_equal(recordio_reader_buffered(&r), 0);
    }
    assert_int_equal(next_expected, total);
    recordio_reader_free(&r);
    buf_free(&chunk);
}

static void feed_of_nothing_is_harmless(void **state)
{
    struct recordio_reader r;
    const char *data;
    size_t len;
    struct error err = {0};
    recordio_reader_init(&r, 10);
    recordio_reader_feed(&r, NULL, 0);
    assert_int_equal(recordio_reader_next(&r, &data, &len, &err), 0);
    recordio_reader_free(&r);
    recordio_reader_free(&r); /* twice is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_frames_length_newline_bytes),
        cmocka_unit_test(length_line_then_record_in_place_equals_recordio_write),
        cmocka_unit_test(reads_back_what_was_written),
        cmocka_unit_test(reads_records_fed_one_byte_at_a_time),
        cmocka_unit_test(reads_records_split_at_every_position),
        cmocka_unit_test(partial_record_waits_for_more_bytes),
        cmocka_unit_test(leading_zeros_in_the_length_are_digits),
        cmocka_unit_test(rejects_malformed_lengths),
        cmocka_unit_test(rejects_a_bad_length_before_its_newline_arrives),
        cmocka_unit_test(max_record_zero_means_no_limit),
        cmocka_unit_test(consecutive_records_come_out_in_order),
        cmocka_unit_test(many_records_stream_through_with_compaction),
        cmocka_unit_test(feed_of_nothing_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
