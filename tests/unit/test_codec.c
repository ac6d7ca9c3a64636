/* Content negotiation and the format switch (src/wire/codec.c): Content-Type
 * and Accept as Mesos reads them, and decoding/encoding in both formats,
 * including protobuf bodies that are malformed, incomplete or too deep. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "test/codec_test.pb-c.h"
#include "wire/codec.h"
#include "wire/json.h"

static void content_type_picks_the_format(void **state)
{
    assert_int_equal(wire_format_from_content_type("application/json"), WIRE_JSON);
    assert_int_equal(wire_format_from_content_type("application/x-protobuf"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_content_type("Application/JSON; charset=utf-8"), WIRE_JSON);
    assert_int_equal(wire_format_from_content_type("  application/x-protobuf  "), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_content_type("APPLICATION/X-PROTOBUF;x=y;z"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_content_type("application/json ;charset=utf-8"), WIRE_JSON);
}

static void content_type_rejects_other_types(void **state)
{
    assert_int_equal(wire_format_from_content_type(NULL), 0);
    assert_int_equal(wire_format_from_content_type(""), 0);
    assert_int_equal(wire_format_from_content_type("text/plain"), 0);
    assert_int_equal(wire_format_from_content_type("application/jsonx"), 0);
    assert_int_equal(wire_format_from_content_type("application/js"), 0);
    assert_int_equal(wire_format_from_content_type("application/*"), 0);
    assert_int_equal(wire_format_from_content_type("*/*"), 0);
    assert_int_equal(wire_format_from_content_type("application/recordio"), 0);
    assert_int_equal(wire_format_from_content_type("application/json, application/x-protobuf"),
                     0);
}

static void accept_defaults_to_json(void **state)
{
    assert_int_equal(wire_format_from_accept(NULL), WIRE_JSON);
    assert_int_equal(wire_format_from_accept(""), WIRE_JSON);
    assert_int_equal(wire_format_from_accept("  "), WIRE_JSON);
    assert_int_equal(wire_format_from_accept("*/*"), WIRE_JSON);
    assert_int_equal(wire_format_from_accept("application/*"), WIRE_JSON);
    assert_int_equal(wire_format_from_accept("text/html, application/xhtml+xml, */*;q=0.8"),
                     WIRE_JSON);
}

static void accept_honours_the_listed_type(void **state)
{
    assert_int_equal(wire_format_from_accept("application/json"), WIRE_JSON);
    assert_int_equal(wire_format_from_accept("application/x-protobuf"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("APPLICATION/X-PROTOBUF"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept(" , application/x-protobuf ;level=1"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("text/html,application/x-protobuf"), WIRE_PROTOBUF);
}

static void accept_prefers_higher_q_then_the_first_listed(void **state)
{
    assert_int_equal(wire_format_from_accept("application/x-protobuf;q=0.5, application/json;q=0.9"),
                     WIRE_JSON);
    assert_int_equal(wire_format_from_accept("application/json;q=0.5, application/x-protobuf"),
                     WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/x-protobuf, application/json"),
                     WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/json, application/x-protobuf"),
                     WIRE_JSON);
    assert_int_equal(wire_format_from_accept("application/x-protobuf;q=0.8, */*;q=0.9"),
                     WIRE_JSON);
    assert_int_equal(wire_format_from_accept("application/x-protobuf;q=0.9, */*;q=0.8"),
                     WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/json;q=0.001, application/*;q=0.002"),
                     WIRE_PROTOBUF);
    /* on a tie in q, a type named outright beats one matched by a wildcard */
    assert_int_equal(wire_format_from_accept("*/*, application/x-protobuf"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/*, application/x-protobuf"),
                     WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/x-protobuf;q=0.5, */*;q=0.5"),
                     WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/x-protobuf;Q=1.000, application/json"),
                     WIRE_PROTOBUF);
}

static void accept_q_zero_means_not_acceptable(void **state)
{
    assert_int_equal(wire_format_from_accept("application/json;q=0"), 0);
    assert_int_equal(wire_format_from_accept("application/json;q=0, */*"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("*/*, application/json; q=0.0"), WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/x-protobuf;q=0, application/*"),
                     WIRE_JSON);
    assert_int_equal(wire_format_from_accept("*/*;q=0"), 0);
    assert_int_equal(wire_format_from_accept("application/*;q=0, text/plain"), 0);
    assert_int_equal(wire_format_from_accept("application/json;q=0,application/x-protobuf;q=0"),
                     0);
}

static void accept_without_a_supported_type_is_not_acceptable(void **state)
{
    assert_int_equal(wire_format_from_accept("text/html"), 0);
    assert_int_equal(wire_format_from_accept("application/recordio"), 0);
    assert_int_equal(wire_format_from_accept("application/jsonx"), 0);
    assert_int_equal(wire_format_from_accept("garbage"), 0);
    assert_int_equal(wire_format_from_accept("*/json"), 0);
}

static void accept_ignores_ranges_with_malformed_q(void **state)
{
    assert_int_equal(wire_format_from_accept("application/json;q=2, application/x-protobuf"),
                     WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/json;q=abc, application/x-protobuf"),
                     WIRE_PROTOBUF);
    assert_int_equal(wire_format_from_accept("application/json;q=0.12345"), 0);
    assert_int_equal(wire_format_from_accept("application/json;q="), 0);
    assert_int_equal(wire_format_from_accept("application/json;q=1.5"), 0);
    assert_int_equal(wire_format_from_accept("application/json;q=.5"), 0);
    assert_int_equal(wire_format_from_accept("application/json;q=0.5"), WIRE_JSON);
}

static void media_types_of_formats(void **state)
{
    assert_string_equal(wire_format_media_type(WIRE_JSON), "application/json");
    assert_string_equal(wire_format_media_type(WIRE_PROTOBUF), "application/x-protobuf");
    assert_null(wire_format_media_type(0));
}

static const char *const sample_json =
    "{\"id\":\"t\",\"kind\":\"BLUE\",\"colors\":[\"RED\"],\"inner\":{\"name\":\"n\","
    "\"children\":[{\"name\":\"c\"}]},\"blobs\":[\"AAE=\"],\"values\":[1.5,Infinity],"
    "\"ulongs\":[18446744073709551615],\"text\":\"x\"}";

static void decode_and_encode_in_both_formats(void **state)
{
    struct error err = {0};
    ProtobufCMessage *m = wire_decode(&tepui__test__test__descriptor, WIRE_JSON, sample_json,
                                      strlen(sample_json), &err);
    assert_non_null(m);

    struct buf pb = BUF_INIT;
    buf_append_str(&pb, "prefix");
    wire_encode(m, WIRE_PROTOBUF, &pb);
    assert_int_equal(pb.len, 6 + protobuf_c_message_get_packed_size(m));
    assert_memory_equal(pb.data, "prefix", 6);

    ProtobufCMessage *back = wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF,
                                         pb.data + 6, pb.len - 6, &err);
    assert_non_null(back);
    struct buf json = BUF_INIT;
    wire_encode(back, WIRE_JSON, &json);
    assert_string_equal(json.data, sample_json);

    buf_free(&json);
    buf_free(&pb);
    protobuf_c_message_free_unpacked(back, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void decode_reports_json_errors(void **state)
{
    struct error err = {0};
    const char *body = "{\"id\":1}";
    assert_null(wire_decode(&tepui__test__test__descriptor, WIRE_JSON, body, strlen(body), &err));
    assert_string_equal(err.msg, "field 'id': expected a string, got a number");
}

static void decode_empty_protobuf_body(void **state)
{
    struct error err = {0};
    ProtobufCMessage *m = wire_decode(&tepui__test__scalars__descriptor, WIRE_PROTOBUF, NULL, 0,
                                      &err);
    assert_non_null(m);
    struct buf json = BUF_INIT;
    wire_encode(m, WIRE_JSON, &json);
    assert_string_equal(json.data, "{}");
    buf_free(&json);
    protobuf_c_message_free_unpacked(m, NULL);

    /* but a message with required fields needs them */
    assert_null(wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, "", 0, &err));
    assert_string_equal(err.msg, "failed to parse the body as a protobuf tepui.test.Test message "
                                 "(malformed, or missing required fields)");
}

static void decode_protobuf_missing_nested_required_field(void **state)
{
    /* Test{id: "x", kind: 0, inner: {}}: Inner.name is required. (protobuf-c
     * itself packs an unset required string as "", so this is hand-made.) */
    static const char missing[] = "\x0a\x01x\x10\x00\x42\x00";
    static const char present[] = "\x0a\x01x\x10\x00\x42\x03\x0a\x01n";
    struct error err = {0};
    assert_null(wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, missing,
                            sizeof(missing) - 1, &err));
    assert_int_equal(err.code, -EINVAL);

    ProtobufCMessage *m = wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, present,
                                      sizeof(present) - 1, &err);
    assert_non_null(m);
    assert_string_equal(((Tepui__Test__Test *)m)->inner->name, "n");
    protobuf_c_message_free_unpacked(m, NULL);
}

static void decode_protobuf_enum_values_the_schema_lacks_as_cpp_does(void **state)
{
    /* Test{id: "x", kind: RED, maybe: 99, colors: [RED, 99, BLUE],
     * many: [{color: 42}]} */
    static const char unknown[] = "\x0a\x01x\x10\x01\x18\x63\x20\x01\x20\x63\x20\x03"
                                  "\x32\x03\x80\x01\x2a";
    struct error err = {0};
    ProtobufCMessage *m = wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, unknown,
                                      sizeof(unknown) - 1, &err);
    assert_non_null(m);
    Tepui__Test__Test *t = (Tepui__Test__Test *)m;
    assert_false(t->has_maybe);
    assert_int_equal(t->n_colors, 2);
    assert_false(t->many[0]->has_color);
    struct buf json = BUF_INIT;
    wire_encode(m, WIRE_JSON, &json);
    assert_string_equal(json.data, "{\"id\":\"x\",\"kind\":\"RED\",\"colors\":[\"RED\",\"BLUE\"],"
                                   "\"many\":[{}]}");
    buf_free(&json);
    protobuf_c_message_free_unpacked(m, NULL);

    /* a required one cannot be dropped: Test{id: "x", kind: RED,
     * next: {id: "y", kind: 50}} */
    static const char required[] = "\x0a\x01x\x10\x01\x52\x05\x0a\x01y\x10\x32";
    assert_null(wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, required,
                            sizeof(required) - 1, &err));
    assert_string_equal(err.msg, "failed to parse the body as a protobuf tepui.test.Test message: "
                                 "field 'next.kind' holds 50, which enum tepui.test.Color lacks");
}

static void decode_protobuf_map_keeps_the_last_entry_per_key(void **state)
{
    /* Test{id: "x", kind: RED, labels: {1: "a", 2: "b", 1: "c"},
     * switches: {true: 99, false: BLUE}} */
    static const char body[] = "\x0a\x01x\x10\x01"
                               "\xca\x02\x05\x08\x01\x12\x01" "a"
                               "\xca\x02\x05\x08\x02\x12\x01" "b"
                               "\xca\x02\x05\x08\x01\x12\x01" "c"
                               "\xda\x02\x04\x08\x01\x10\x63"
                               "\xda\x02\x04\x08\x00\x10\x03";
    struct error err = {0};
    ProtobufCMessage *m =
        wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, body, sizeof(body) - 1, &err);
    assert_non_null(m);
    struct buf json = BUF_INIT;
    wire_encode(m, WIRE_JSON, &json);
    assert_string_equal(json.data, "{\"id\":\"x\",\"kind\":\"RED\",\"labels\":{\"2\":\"b\","
                                   "\"1\":\"c\"},\"switches\":{\"false\":\"BLUE\"}}");
    buf_free(&json);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void decode_protobuf_map_entry_without_a_required_value(void **state)
{
    /* Test{id: "x", kind: RED, named: {"a": <no value>}}: Inner has a
     * required name, so C++ would find it missing. */
    static const char body[] = "\x0a\x01x\x10\x01\xc2\x02\x03\x0a\x01" "a";
    struct error err = {0};
    assert_null(wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, body, sizeof(body) - 1,
                            &err));
    assert_string_equal(err.msg, "failed to parse the body as a protobuf tepui.test.Test message: "
                                 "field 'named[0]' is a map entry without its value, which has "
                                 "required fields");
    /* with a value it is fine */
    static const char ok[] = "\x0a\x01x\x10\x01\xc2\x02\x08\x0a\x01" "a" "\x12\x03\x0a\x01n";
    ProtobufCMessage *m =
        wire_decode(&tepui__test__test__descriptor, WIRE_PROTOBUF, ok, sizeof(ok) - 1, &err);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void decode_rejects_malformed_protobuf(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x0a\x05" "ab", 4},            /* string longer than the body */
        {"\x0a", 1},                     /* key without value */
        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11}, /* endless varint */
        {"\x0b", 1},                     /* start group */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct error err = {0};
        assert_null(wire_decode(&tepui__test__scalars__descriptor, WIRE_PROTOBUF, bad[i].bytes,
                                bad[i].len, &err));
        assert_int_equal(err.code, -EINVAL);
    }
}

static void put_varint(struct buf *out, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        buf_append_char(out, (char)((v & 0x7f) | 0x80));
    buf_append_char(out, (char)v);
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

/* An Inner with `levels` nested children, in protobuf wire format: each
 * level is name "n" then field 3 holding the next level. */
static void nested_inner_pb(struct buf *out, int levels)
{
    size_t *len = malloc(((size_t)levels + 1) * sizeof(size_t));
    len[0] = 3;
    for (int i = 1; i <= levels; i++)
        len[i] = 4 + varint_size(len[i - 1]) + len[i - 1];
    for (int i = levels; i >= 1; i--) {
        buf_append(out, "\x0a\x01n\x1a", 4);
        put_varint(out, len[i - 1]);
    }
    buf_append(out, "\x0a\x01n", 3);
    free(len);
}

static void decode_limits_protobuf_nesting_depth(void **state)
{
    struct buf pb = BUF_INIT;
    struct error err = {0};

    nested_inner_pb(&pb, WIRE_JSON_MAX_DEPTH);
    ProtobufCMessage *m =
        wire_decode(&tepui__test__inner__descriptor, WIRE_PROTOBUF, pb.data, pb.len, &err);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);

    buf_reset(&pb);
    nested_inner_pb(&pb, WIRE_JSON_MAX_DEPTH + 1);
    assert_null(wire_decode(&tepui__test__inner__descriptor, WIRE_PROTOBUF, pb.data, pb.len, &err));
    assert_string_equal(err.msg, "protobuf tepui.test.Inner: messages nested deeper than 64 levels");

    /* deep enough to overflow protobuf-c's recursion if it were reached */
    buf_reset(&pb);
    nested_inner_pb(&pb, 200000);
    assert_null(wire_decode(&tepui__test__inner__descriptor, WIRE_PROTOBUF, pb.data, pb.len, &err));
    buf_free(&pb);
}

static void decode_unknown_format_is_an_error(void **state)
{
    struct error err = {0};
    assert_null(wire_decode(&tepui__test__scalars__descriptor, 0, "{}", 2, &err));
    assert_string_equal(err.msg, "unsupported wire format 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_type_picks_the_format),
        cmocka_unit_test(content_type_rejects_other_types),
        cmocka_unit_test(accept_defaults_to_json),
        cmocka_unit_test(accept_honours_the_listed_type),
        cmocka_unit_test(accept_prefers_higher_q_then_the_first_listed),
        cmocka_unit_test(accept_q_zero_means_not_acceptable),
        cmocka_unit_test(accept_without_a_supported_type_is_not_acceptable),
        cmocka_unit_test(accept_ignores_ranges_with_malformed_q),
        cmocka_unit_test(media_types_of_formats),
        cmocka_unit_test(decode_and_encode_in_both_formats),
        cmocka_unit_test(decode_reports_json_errors),
        cmocka_unit_test(decode_empty_protobuf_body),
        cmocka_unit_test(decode_protobuf_missing_nested_required_field),
        cmocka_unit_test(decode_protobuf_enum_values_the_schema_lacks_as_cpp_does),
        cmocka_unit_test(decode_protobuf_map_keeps_the_last_entry_per_key),
        cmocka_unit_test(decode_protobuf_map_entry_without_a_required_value),
        cmocka_unit_test(decode_rejects_malformed_protobuf),
        cmocka_unit_test(decode_limits_protobuf_nesting_depth),
        cmocka_unit_test(decode_unknown_format_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
