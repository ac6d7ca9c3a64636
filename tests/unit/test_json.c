/* The JSON codec (src/wire/json.c) against Mesos's JSON mapping of protobuf,
 * using the test-only schema tests/unit/proto/codec_test.proto: output form of
 * every type, defaults, decoding leniencies, every error with its field path,
 * and round trips through JSON and protobuf. Runs under ASan in the SAN=1
 * build, which is what the leak checks rely on. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "test/codec_test.pb-c.h"
#include "wire/json.h"

#define TEST_DESC (&tepui__test__test__descriptor)
#define SCALARS_DESC (&tepui__test__scalars__descriptor)
#define DEFAULTS_DESC (&tepui__test__defaults__descriptor)
#define INNER_DESC (&tepui__test__inner__descriptor)

/* ---- helpers ---------------------------------------------------------------- */

static char *encode(const ProtobufCMessage *m)
{
    struct buf b = BUF_INIT;
    wire_json_encode(m, &b);
    return buf_steal(&b);
}

static void assert_encodes(const ProtobufCMessage *m, const char *expected)
{
    char *got = encode(m);
    assert_string_equal(got, expected);
    free(got);
}

static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *desc, const char *json)
{
    struct error err = {0};
    ProtobufCMessage *m = wire_json_decode(desc, json, strlen(json), &err);
    if (m == NULL)
        fail_msg("decoding %s: %s", json, err.msg);
    return m;
}

static void assert_decode_fails(const ProtobufCMessageDescriptor *desc, const char *json,
                                const char *expected)
{
    struct error err = {0};
    ProtobufCMessage *m = wire_json_decode(desc, json, strlen(json), &err);
    if (m != NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        fail_msg("decoding %s succeeded, expected: %s", json, expected);
    }
    assert_int_equal(err.code, -EINVAL);
    assert_string_equal(err.msg, expected);
}

/* JSON text -> message -> JSON text, which must come back as expected. */
static void assert_json_round_trip(const ProtobufCMessageDescriptor *desc, const char *in,
                                   const char *expected)
{
    ProtobufCMessage *m = decode(desc, in);
    assert_encodes(m, expected);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* message -> protobuf -> message -> JSON text. */
static void assert_protobuf_round_trip(const ProtobufCMessage *m, const char *expected)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *bytes = malloc(n + 1);
    protobuf_c_message_pack(m, bytes);
    ProtobufCMessage *back = protobuf_c_message_unpack(m->descriptor, NULL, n, bytes);
    free(bytes);
    assert_non_null(back);
    assert_encodes(back, expected);
    protobuf_c_message_free_unpacked(back, NULL);
}

static const char *const full_test_json =
    "{\"id\":\"t-1\",\"kind\":\"RED\",\"maybe\":\"BLUE\",\"colors\":[\"GREEN\",\"RED\"],"
    "\"scalars\":{\"i32\":-7,\"i64\":-9007199254740993,\"u32\":4294967295,"
    "\"u64\":18446744073709551615,\"s32\":-2147483648,\"s64\":-9223372036854775808,"
    "\"f32\":7,\"f64\":9223372036854775808,\"sf32\":-1,\"sf64\":9223372036854775807,"
    "\"fl\":0.1,\"db\":0.30000000000000004,\"b\":false,\"s\":\"caf\xc3\xa9\","
    "\"by\":\"AAEC/w==\",\"color\":\"COLOR_UNKNOWN\"},"
    "\"many\":[{\"i32\":1},{},{\"s\":\"\"}],"
    "\"defaults\":{\"refuse_seconds\":1.5,\"shell\":false,\"port\":5051,\"color\":\"GREEN\","
    "\"name\":\"default-name\",\"blob\":\"YWJj\",\"big\":18446744073709551615,\"neg\":-5,"
    "\"ratio\":0.5,\"role\":\"r\",\"off\":false,\"empty\":\"\"},"
    "\"inner\":{\"name\":\"a\",\"value\":1,\"children\":[{\"name\":\"b\",\"children\":"
    "[{\"name\":\"c\"}]}]},"
    "\"inners\":[{\"name\":\"x\"},{\"name\":\"y\",\"value\":-1}],"
    "\"next\":{\"id\":\"t-2\",\"kind\":\"GREEN\"},"
    "\"req\":{\"count\":0,\"with_default\":3,\"inner\":{\"name\":\"\"},\"data\":\"\"},"
    "\"tags\":[\"a\",\"\",\"\\\"q\\\"\"],\"blobs\":[\"\",\"YQ==\",\"YWI=\",\"YWJj\"],"
    "\"values\":[2.0,0.1,31000.0,-0.0,1e21,1.5e-7,Infinity,-Infinity],"
    "\"floats\":[0.1,3.4028235e38,1e-45],"
    "\"ints\":[2147483647,-2147483648,0],\"longs\":[9223372036854775807,-9223372036854775808],"
    "\"uints\":[0,4294967295],\"ulongs\":[0,18446744073709551615],"
    "\"sints\":[-1,1],\"slongs\":[-1,1],\"fixeds\":[1],\"fixed64s\":[18446744073709551615],"
    "\"sfixeds\":[-2147483648],\"sfixed64s\":[-9223372036854775808],\"flags\":[true,false],"
    "\"deprecated_name\":\"old\",\"text\":\"chosen\","
    "\"named\":{\"a\":{\"name\":\"x\"},\"b\":{\"name\":\"y\",\"value\":2}},"
    "\"labels\":{\"-1\":\"neg\",\"7\":\"seven\"},\"limits\":{\"cpus\":2.0,\"mem\":Infinity},"
    "\"switches\":{\"true\":\"RED\",\"false\":\"BLUE\"},"
    "\"blobs_by_id\":{\"18446744073709551615\":\"AAE=\"}}";

/* ---- encoding --------------------------------------------------------------- */

static void encode_empty_message_is_empty_object(void **state)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    assert_encodes(&s.base, "{}");
}

static void encode_every_scalar_type(void **state)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    uint8_t bytes[] = {0, 1, 2, 0xff};
    s.has_i32 = 1, s.i32 = -5;
    s.has_i64 = 1, s.i64 = -9007199254740993LL;
    s.has_u32 = 1, s.u32 = UINT32_MAX;
    s.has_u64 = 1, s.u64 = UINT64_MAX;
    s.has_s32 = 1, s.s32 = INT32_MIN;
    s.has_s64 = 1, s.s64 = INT64_MIN;
    s.has_f32 = 1, s.f32 = 7;
    s.has_f64 = 1, s.f64 = (uint64_t)1 << 63;
    s.has_sf32 = 1, s.sf32 = -1;
    s.has_sf64 = 1, s.sf64 = INT64_MAX;
    s.has_fl = 1, s.fl = 0.1f;
    s.has_db = 1, s.db = 0.1;
    s.has_b = 1, s.b = 1;
    s.s = "hi";
    s.has_by = 1, s.by.data = bytes, s.by.len = sizeof(bytes);
    s.has_color = 1, s.color = TEPUI__TEST__COLOR__BLUE;
    assert_encodes(&s.base,
                   "{\"i32\":-5,\"i64\":-9007199254740993,\"u32\":4294967295,"
                   "\"u64\":18446744073709551615,\"s32\":-2147483648,"
                   "\"s64\":-9223372036854775808,\"f32\":7,\"f64\":9223372036854775808,"
                   "\"sf32\":-1,\"sf64\":9223372036854775807,\"fl\":0.1,\"db\":0.1,"
                   "\"b\":true,\"s\":\"hi\",\"by\":\"AAEC/w==\",\"color\":\"BLUE\"}");
}

static void encode_zero_values_when_set(void **state)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    s.has_i32 = 1;
    s.has_db = 1;
    s.has_b = 1;
    s.s = "";
    s.has_by = 1;
    s.has_color = 1;
    assert_encodes(&s.base,
                   "{\"i32\":0,\"db\":0.0,\"b\":false,\"s\":\"\",\"by\":\"\","
                   "\"color\":\"COLOR_UNKNOWN\"}");
}

static void check_double(double d, const char *expected)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    char want[128];
    s.has_db = 1;
    s.db = d;
    snprintf(want, sizeof(want), "{\"db\":%s}", expected);
    assert_encodes(&s.base, want);
}

static void check_float(float f, const char *expected)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    char want[128];
    s.has_fl = 1;
    s.fl = f;
    snprintf(want, sizeof(want), "{\"fl\":%s}", expected);
    assert_encodes(&s.base, want);
}

static void encode_doubles_in_shortest_form_with_decimal_point(void **state)
{
    check_double(2.0, "2.0");
    check_double(0.1, "0.1");
    check_double(31000.0, "31000.0");
    check_double(0.0, "0.0");
    check_double(-0.0, "-0.0");
    check_double(-2.5, "-2.5");
    check_double(123.456, "123.456");
    check_double(1.0 / 3.0, "0.3333333333333333");
    check_double(0.1 + 0.2, "0.30000000000000004");
    check_double(9007199254740992.0, "9007199254740992.0");
    check_double(9007199254740993.0 * 2, "18014398509481984.0");
    check_double(1e20, "100000000000000000000.0");
    check_double(1e21, "1e21");
    check_double(1.5e300, "1.5e300");
    check_double(0.000001, "0.000001");
    check_double(0.0000015, "0.0000015");
    check_double(1e-7, "1e-7");
    check_double(1.5e-7, "1.5e-7");
    check_double(5e-324, "5e-324");
    check_double(1e-310, "1e-310");
    check_double(2.5e-320, "2.5e-320");
    check_double(DBL_MAX, "1.7976931348623157e308");
    check_double(-DBL_MIN, "-2.2250738585072014e-308");
}

static void encode_non_finite_doubles_as_bare_tokens(void **state)
{
    check_double(INFINITY, "Infinity");
    check_double(-INFINITY, "-Infinity");
    check_double(NAN, "NaN");
    check_float(INFINITY, "Infinity");
    check_float(-INFINITY, "-Infinity");
}

static void encode_floats_in_shortest_float_form(void **state)
{
    check_float(0.1f, "0.1");
    check_float(1.1f, "1.1");
    check_float(2.0f, "2.0");
    check_float(16777216.0f, "16777216.0");
    check_float(1e10f, "10000000000.0");
    check_float(FLT_MAX, "3.4028235e38");
    check_float(1e-45f, "1e-45");
    check_float(1.5e-40f, "1.5e-40");
    check_float(FLT_MIN, "1.1754944e-38");
    check_float(-0.0f, "-0.0");
    check_float(0.3f, "0.3");
}

static void encode_escapes_strings(void **state)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    s.s = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_encodes(&s.base, "{\"s\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f caf\xc3\xa9 "
                            "\xe2\x82\xac \xf0\x9f\x98\x80\"}");
}

static void encode_replaces_invalid_utf8_with_replacement_character(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a\xff" "b", "a\xef\xbf\xbd" "b"},                    /* never valid */
        {"\xc3", "\xef\xbf\xbd"},                              /* truncated at the end */
        {"\xc3" "a", "\xef\xbf\xbd" "a"},                      /* bad continuation */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},              /* overlong '/' */
        {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong, 3 bytes */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
        {"\xf0\x9f\x98", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* truncated 4-byte */
        {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},              /* U+10FFFF is fine */
        {"\xef\xbf\xbf", "\xef\xbf\xbf"},                      /* U+FFFF is fine */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
        char want[64];
        s.s = (char *)cases[i].in;
        snprintf(want, sizeof(want), "{\"s\":\"%s\"}", cases[i].out);
        char *got = encode(&s.base);
        assert_string_equal(got, want);
        /* and it is valid JSON */
        json_t *j = json_loads(got, 0, NULL);
        assert_non_null(j);
        json_decref(j);
        free(got);
    }
}

static void encode_bytes_as_padded_base64(void **state)
{
    static const char *const want[] = {"", "YQ==", "YWI=", "YWJj", "YWJjZA==", "YWJjZGU="};
    for (size_t n = 0; n < 6; n++) {
        Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
        char expected[64];
        s.has_by = 1;
        s.by.data = (uint8_t *)"abcde";
        s.by.len = n;
        snprintf(expected, sizeof(expected), "{\"by\":\"%s\"}", want[n]);
        assert_encodes(&s.base, expected);
    }
}

static void encode_emits_explicit_defaults_but_not_deprecated_ones(void **state)
{
    Tepui__Test__Defaults d = TEPUI__TEST__DEFAULTS__INIT;
    assert_encodes(&d.base, "{\"refuse_seconds\":5.0,\"shell\":true,\"port\":5051,"
                            "\"color\":\"GREEN\",\"name\":\"default-name\",\"blob\":\"YWJj\","
                            "\"big\":18446744073709551615,\"neg\":-5,\"ratio\":0.5,"
                            "\"off\":false,\"empty\":\"\"}");
}

static void encode_set_fields_override_defaults_and_deprecated_set_fields_show(void **state)
{
    Tepui__Test__Defaults d = TEPUI__TEST__DEFAULTS__INIT;
    d.has_refuse_seconds = 1, d.refuse_seconds = 1.5;
    d.has_shell = 1, d.shell = 0;
    d.name = "n";
    d.role = "r";
    d.has_old_port = 1, d.old_port = 9;
    d.plain = "p";
    assert_encodes(&d.base, "{\"refuse_seconds\":1.5,\"shell\":false,\"port\":5051,"
                            "\"color\":\"GREEN\",\"name\":\"n\",\"blob\":\"YWJj\","
                            "\"big\":18446744073709551615,\"neg\":-5,\"ratio\":0.5,"
                            "\"role\":\"r\",\"old_port\":9,\"plain\":\"p\",\"off\":false,"
                            "\"empty\":\"\"}");
}

static void encode_required_fields_always(void **state)
{
    Tepui__Test__Test t = TEPUI__TEST__TEST__INIT;
    Tepui__Test__Required r = TEPUI__TEST__REQUIRED__INIT;
    /* id is NULL and inner is NULL: what protobuf-c would pack */
    t.req = &r;
    assert_encodes(&t.base, "{\"id\":\"\",\"kind\":\"COLOR_UNKNOWN\",\"req\":{\"count\":0,"
                            "\"with_default\":3,\"inner\":{},\"data\":\"\"}}");
}

static void encode_skips_enum_values_the_enum_lacks(void **state)
{
    Tepui__Test__Test t = TEPUI__TEST__TEST__INIT;
    Tepui__Test__Color colors[] = {TEPUI__TEST__COLOR__RED, 99, TEPUI__TEST__COLOR__BLUE};
    Tepui__Test__Color unknown[] = {42, 43};
    t.id = "x";
    t.kind = 77;
    t.has_maybe = 1;
    t.maybe = 99;
    t.n_colors = 3;
    t.colors = colors;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":77,\"colors\":[\"RED\",\"BLUE\"]}");
    t.colors = unknown;
    t.n_colors = 2;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":77}");
}

static void encode_repeated_only_when_not_empty(void **state)
{
    Tepui__Test__Test t = TEPUI__TEST__TEST__INIT;
    char *tags[] = {"a", "b"};
    t.id = "x";
    t.kind = TEPUI__TEST__COLOR__RED;
    t.tags = tags;
    t.n_tags = 0;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":\"RED\"}");
    t.n_tags = 2;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":\"RED\",\"tags\":[\"a\",\"b\"]}");
}

static void encode_oneof_member_only_when_selected(void **state)
{
    Tepui__Test__Test t = TEPUI__TEST__TEST__INIT;
    Tepui__Test__Inner node = TEPUI__TEST__INNER__INIT;
    t.id = "x";
    t.kind = TEPUI__TEST__COLOR__RED;
    t.choice_case = TEPUI__TEST__TEST__CHOICE_NUMBER;
    t.number = 0;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":\"RED\",\"number\":0}");
    node.name = "n";
    t.choice_case = TEPUI__TEST__TEST__CHOICE_NODE;
    t.node = &node;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":\"RED\",\"node\":{\"name\":\"n\"}}");
    t.choice_case = TEPUI__TEST__TEST__CHOICE__NOT_SET;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":\"RED\"}");
}

static void encode_appends_to_the_buffer(void **state)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    struct buf b = BUF_INIT;
    s.has_i32 = 1;
    s.i32 = 1;
    buf_append_str(&b, "[");
    wire_json_encode(&s.base, &b);
    buf_append_str(&b, ",");
    wire_json_encode(&s.base, &b);
    buf_append_str(&b, "]");
    assert_string_equal(buf_cstr(&b), "[{\"i32\":1},{\"i32\":1}]");
    assert_int_equal(b.len, strlen(b.data));
    buf_free(&b);
}

/* ---- round trips ------------------------------------------------------------ */

static void json_round_trip_of_every_field(void **state)
{
    assert_json_round_trip(TEST_DESC, full_test_json, full_test_json);
}

static void protobuf_round_trip_of_every_field(void **state)
{
    ProtobufCMessage *m = decode(TEST_DESC, full_test_json);
    assert_protobuf_round_trip(m, full_test_json);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void round_trip_of_oneof_members(void **state)
{
    static const char *const cases[] = {
        "{\"id\":\"x\",\"kind\":\"RED\",\"number\":-3}",
        "{\"id\":\"x\",\"kind\":\"RED\",\"node\":{\"name\":\"n\"}}",
        "{\"id\":\"x\",\"kind\":\"RED\",\"raw\":\"AAE=\"}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_json_round_trip(TEST_DESC, cases[i], cases[i]);
        ProtobufCMessage *m = decode(TEST_DESC, cases[i]);
        assert_protobuf_round_trip(m, cases[i]);
        protobuf_c_message_free_unpacked(m, NULL);
    }
}

static void round_trip_keeps_doubles_exact(void **state)
{
    static const double values[] = {0.1, 1.0 / 3, 2.0 / 3, 1e-300, 123456789.123456789,
                                    4.35, 5e-324, DBL_MAX, 1e23, 9007199254740993.0};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
        s.has_db = 1;
        s.db = values[i];
        s.has_fl = 1;
        s.fl = (float)values[i];
        char *text = encode(&s.base);
        Tepui__Test__Scalars *back = (Tepui__Test__Scalars *)decode(SCALARS_DESC, text);
        assert_true(back->has_db);
        assert_true(back->db == values[i]);
        assert_true(back->fl == (float)values[i]);
        protobuf_c_message_free_unpacked(&back->base, NULL);
        free(text);
    }
}

/* ---- maps ------------------------------------------------------------------- */

static void encode_maps_as_objects_keyed_by_the_key_text(void **state)
{
    Tepui__Test__Test t = TEPUI__TEST__TEST__INIT;
    Tepui__Test__Test__LabelsEntry l1 = TEPUI__TEST__TEST__LABELS_ENTRY__INIT;
    Tepui__Test__Test__LabelsEntry l2 = TEPUI__TEST__TEST__LABELS_ENTRY__INIT;
    Tepui__Test__Test__LabelsEntry *labels[] = {&l1, &l2};
    Tepui__Test__Test__NamedEntry n1 = TEPUI__TEST__TEST__NAMED_ENTRY__INIT;
    Tepui__Test__Test__NamedEntry *named[] = {&n1};
    Tepui__Test__Test__SwitchesEntry s1 = TEPUI__TEST__TEST__SWITCHES_ENTRY__INIT;
    Tepui__Test__Test__SwitchesEntry *switches[] = {&s1};
    t.id = "x";
    t.kind = TEPUI__TEST__COLOR__RED;
    l1.has_key = 1, l1.key = -5, l1.value = "minus five";
    l2.value = "unset key"; /* reads as 0, as C++ would */
    t.n_labels = 2, t.labels = labels;
    n1.key = "k\"q"; /* value unset */
    t.n_named = 1, t.named = named;
    s1.has_key = 1, s1.key = 1; /* value unset: the enum's first value */
    t.n_switches = 1, t.switches = switches;
    assert_encodes(&t.base, "{\"id\":\"x\",\"kind\":\"RED\",\"named\":{\"k\\\"q\":{}},"
                            "\"labels\":{\"-5\":\"minus five\",\"0\":\"unset key\"},"
                            "\"switches\":{\"true\":\"COLOR_UNKNOWN\"}}");

    json_t *tree = wire_json_from_message(&t.base);
    struct buf b = BUF_INIT;
    wire_json_dump(tree, &b);
    assert_string_equal(b.data, "{\"id\":\"x\",\"kind\":\"RED\",\"named\":{\"k\\\"q\":{}},"
                                "\"labels\":{\"-5\":\"minus five\",\"0\":\"unset key\"},"
                                "\"switches\":{\"true\":\"COLOR_UNKNOWN\"}}");
    buf_free(&b);
    json_decref(tree);
}

static void decode_maps_from_objects(void **state)
{
    Tepui__Test__Test *t = (Tepui__Test__Test *)decode(
        TEST_DESC, "{\"id\":\"x\",\"kind\":\"RED\",\"labels\":{\"1\":\"a\",\"-2\":\"b\"},"
                   "\"limits\":{\"cpus\":\"1.5\",\"gpus\":\"Infinity\",\"mem\":null},"
                   "\"switches\":{\"false\":\"BLUE\",\"true\":\"PURPLE\"},\"named\":{}}");
    assert_int_equal(t->n_labels, 2);
    assert_true(t->labels[0]->has_key && t->labels[0]->key == 1);
    assert_string_equal(t->labels[0]->value, "a");
    assert_int_equal(t->labels[1]->key, -2);
    assert_int_equal(t->n_limits, 3);
    assert_string_equal(t->limits[0]->key, "cpus");
    assert_true(t->limits[0]->has_value && t->limits[0]->value == 1.5);
    assert_true(isinf(t->limits[1]->value));
    assert_false(t->limits[2]->has_value);
    assert_int_equal(t->n_switches, 2);
    assert_true(t->switches[0]->has_value && t->switches[0]->value == TEPUI__TEST__COLOR__BLUE);
    assert_false(t->switches[1]->has_value); /* unknown name: unset, as stout leaves it */
    assert_int_equal(t->n_named, 0);
    protobuf_c_message_free_unpacked(&t->base, NULL);
}

static void decode_map_errors_name_the_entry(void **state)
{
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"\"labels\":{\"x\":\"a\"}", "field 'labels[x]': expected a number, got the string 'x'"},
        {"\"labels\":{\"2147483648\":\"a\"}",
         "field 'labels[2147483648]': value '2147483648' is out of range for int32"},
        {"\"labels\":{\"1\":2}", "field 'labels[1]': expected a string, got a number"},
        {"\"switches\":{\"yes\":\"RED\"}",
         "field 'switches[yes]': expected a boolean, got the string 'yes'"},
        {"\"limits\":{\"cpus\":[1]}", "Not expecting a JSON array for field 'limits[cpus]'"},
        {"\"limits\":{\"cpus\":{}}", "Not expecting a JSON object for field 'limits[cpus]'"},
        {"\"named\":[{\"key\":\"a\"}]", "Not expecting a JSON array for field 'named'"},
        {"\"named\":\"a\"", "field 'named': expected an object (a map), got a string"},
        {"\"named\":{\"a\":{\"name\":\"n\",\"children\":[{\"name\":5}]}}",
         "field 'named[a].children[0].name': expected a string, got a number"},
        {"\"named\":{\"a\":{\"name\":\"n\"},\"b\":{}}", "Missing required fields: named[b].name"},
        {"\"named\":{\"a\":null}", "Missing required fields: named[a].name"},
        {"\"blobs_by_id\":{\"-1\":\"\"}", "field 'blobs_by_id[-1]': value '-1' is out of range for uint64"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json), "{\"id\":\"x\",\"kind\":\"RED\",%s}", bad[i].json);
        assert_decode_fails(TEST_DESC, json, bad[i].msg);
    }
}

static void maps_are_recognised_by_protoc_naming(void **state)
{
    const ProtobufCMessageDescriptor *look = &tepui__test__lookalike__descriptor;
    assert_true(wire_field_is_map(TEST_DESC, protobuf_c_message_descriptor_get_field_by_name(
                                                 TEST_DESC, "named")));
    assert_true(wire_field_is_map(TEST_DESC, protobuf_c_message_descriptor_get_field_by_name(
                                                 TEST_DESC, "blobs_by_id")));
    assert_false(wire_field_is_map(TEST_DESC, protobuf_c_message_descriptor_get_field_by_name(
                                                  TEST_DESC, "inners")));
    assert_false(wire_field_is_map(TEST_DESC, protobuf_c_message_descriptor_get_field_by_name(
                                                  TEST_DESC, "tags")));
    /* indistinguishable from a map in protobuf-c's descriptors */
    assert_true(wire_field_is_map(look, protobuf_c_message_descriptor_get_field_by_name(look,
                                                                                        "pairs")));
    assert_false(wire_field_is_map(look, protobuf_c_message_descriptor_get_field_by_name(look,
                                                                                         "others")));
    assert_json_round_trip(look, "{\"others\":[{\"key\":\"k\",\"value\":\"v\"}]}",
                           "{\"others\":[{\"key\":\"k\",\"value\":\"v\"}]}");
}

/* ---- decoding: accepted forms ------------------------------------------------ */

static void decode_quoted_numbers_and_booleans(void **state)
{
    Tepui__Test__Scalars *s = (Tepui__Test__Scalars *)decode(
        SCALARS_DESC, "{\"i32\":\"42\",\"i64\":\"-9223372036854775808\","
                      "\"u64\":\"18446744073709551615\",\"u32\":\"4e3\",\"db\":\"1.5\","
                      "\"fl\":\"0.25\",\"b\":\"true\",\"sf32\":\"-0\"}");
    assert_int_equal(s->i32, 42);
    assert_true(s->i64 == INT64_MIN);
    assert_true(s->u64 == UINT64_MAX);
    assert_int_equal(s->u32, 4000);
    assert_true(s->db == 1.5);
    assert_true(s->fl == 0.25f);
    assert_true(s->has_b && s->b);
    assert_true(s->has_sf32 && s->sf32 == 0);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    s = (Tepui__Test__Scalars *)decode(SCALARS_DESC, "{\"b\":\"false\"}");
    assert_true(s->has_b && !s->b);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void decode_infinity_as_string_or_bare_token(void **state)
{
    Tepui__Test__Scalars *s = (Tepui__Test__Scalars *)decode(
        SCALARS_DESC, "{\"db\":\"Infinity\",\"fl\":\"-Infinity\"}");
    assert_true(isinf(s->db) && s->db > 0);
    assert_true(isinf(s->fl) && s->fl < 0);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    s = (Tepui__Test__Scalars *)decode(SCALARS_DESC, "{\"db\":-Infinity,\"fl\":NaN}");
    assert_true(isinf(s->db) && s->db < 0);
    assert_true(isnan(s->fl));
    protobuf_c_message_free_unpacked(&s->base, NULL);

    s = (Tepui__Test__Scalars *)decode(SCALARS_DESC, "{\"db\":\"NaN\",\"s\":\"Infinity\"}");
    assert_true(isnan(s->db));
    assert_string_equal(s->s, "Infinity");
    protobuf_c_message_free_unpacked(&s->base, NULL);

    assert_decode_fails(SCALARS_DESC, "{\"i32\":\"Infinity\"}",
                        "field 'i32': expected a number, got the string 'Infinity'");
    assert_decode_fails(SCALARS_DESC, "{\"db\":\"infinity\"}",
                        "field 'db': expected a number, got the string 'infinity'");
}

static void decode_bare_integers_beyond_int64(void **state)
{
    Tepui__Test__Scalars *s = (Tepui__Test__Scalars *)decode(
        SCALARS_DESC, "{\"u64\":18446744073709551615,\"f64\":9223372036854775808,"
                      "\"i64\":-9223372036854775808,\"s\":\"18446744073709551615\"}");
    assert_true(s->u64 == UINT64_MAX);
    assert_true(s->f64 == (uint64_t)1 << 63);
    assert_true(s->i64 == INT64_MIN);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    s = (Tepui__Test__Scalars *)decode(SCALARS_DESC, "{\"db\":100000000000000000000000}");
    assert_true(s->db == 1e23);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void decode_integral_reals_into_integer_fields(void **state)
{
    Tepui__Test__Scalars *s =
        (Tepui__Test__Scalars *)decode(SCALARS_DESC, "{\"i32\":3.0,\"u64\":1e3,\"i64\":-2E2}");
    assert_int_equal(s->i32, 3);
    assert_true(s->u64 == 1000);
    assert_true(s->i64 == -200);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    assert_decode_fails(SCALARS_DESC, "{\"i32\":1.5}", "field 'i32': expected an integer, got 1.5");
    assert_decode_fails(SCALARS_DESC, "{\"u32\":\"0.5\"}",
                        "field 'u32': expected an integer, got '0.5'");
}

static void decode_null_means_unset(void **state)
{
    Tepui__Test__Test *t = (Tepui__Test__Test *)decode(
        TEST_DESC, "{\"id\":\"x\",\"kind\":\"RED\",\"maybe\":null,\"scalars\":null,"
                   "\"tags\":null,\"inners\":[null,{\"name\":\"a\"},null],\"values\":[null],"
                   "\"text\":null}");
    assert_false(t->has_maybe);
    assert_null(t->scalars);
    assert_int_equal(t->n_tags, 0);
    assert_int_equal(t->n_inners, 1);
    assert_string_equal(t->inners[0]->name, "a");
    assert_int_equal(t->n_values, 0);
    assert_null(t->values);
    assert_int_equal(t->choice_case, TEPUI__TEST__TEST__CHOICE__NOT_SET);
    protobuf_c_message_free_unpacked(&t->base, NULL);
}

static void decode_ignores_unknown_keys(void **state)
{
    assert_json_round_trip(TEST_DESC,
                           "{\"unknown\":{\"deep\":[1,{\"x\":null}]},\"id\":\"x\",\"Kind\":1,"
                           "\"kind\":\"RED\",\"zzz\":[[[]]]}",
                           "{\"id\":\"x\",\"kind\":\"RED\"}");
}

static void decode_single_value_for_repeated_field(void **state)
{
    assert_json_round_trip(TEST_DESC,
                           "{\"id\":\"x\",\"kind\":\"RED\",\"tags\":\"solo\",\"ints\":5,"
                           "\"inners\":{\"name\":\"n\"},\"colors\":\"BLUE\"}",
                           "{\"id\":\"x\",\"kind\":\"RED\",\"colors\":[\"BLUE\"],"
                           "\"inners\":[{\"name\":\"n\"}],\"tags\":[\"solo\"],\"ints\":[5]}");
}

static void decode_enums_drops_unknown_names_unless_required(void **state)
{
    Tepui__Test__Test *t = (Tepui__Test__Test *)decode(
        TEST_DESC, "{\"id\":\"x\",\"kind\":\"RED\",\"maybe\":\"PURPLE\","
                   "\"colors\":[\"RED\",\"PURPLE\",\"BLUE\"],\"scalars\":{\"color\":\"red\"}}");
    assert_false(t->has_maybe);
    assert_int_equal(t->n_colors, 2);
    assert_int_equal(t->colors[0], TEPUI__TEST__COLOR__RED);
    assert_int_equal(t->colors[1], TEPUI__TEST__COLOR__BLUE);
    assert_false(t->scalars->has_color);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    t = (Tepui__Test__Test *)decode(TEST_DESC,
                                    "{\"id\":\"x\",\"kind\":\"RED\",\"colors\":[\"PURPLE\"]}");
    assert_int_equal(t->n_colors, 0);
    assert_null(t->colors);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* an optional enum with a default keeps reporting the default */
    Tepui__Test__Defaults *d = (Tepui__Test__Defaults *)decode(DEFAULTS_DESC, "{\"color\":\"X\"}");
    assert_false(d->has_color);
    assert_int_equal(d->color, TEPUI__TEST__COLOR__GREEN);
    protobuf_c_message_free_unpacked(&d->base, NULL);

    assert_decode_fails(TEST_DESC, "{\"id\":\"x\",\"kind\":\"PURPLE\"}",
                        "field 'kind': unknown value 'PURPLE' for enum tepui.test.Color");
    assert_decode_fails(TEST_DESC, "{\"id\":\"x\",\"kind\":\"RED\",\"maybe\":1}",
                        "field 'maybe': expected a string (an enum value name), got a number");
    assert_decode_fails(TEST_DESC, "{\"id\":\"x\",\"kind\":\"RED\",\"colors\":[\"RED\",true]}",
                        "field 'colors[1]': expected a string (an enum value name), "
                        "got a boolean");
}

static void decode_base64_forms(void **state)
{
    static const struct {
        const char *in;
        const char *out;
        size_t len;
    } ok[] = {
        {"", "", 0},
        {"YQ==", "a", 1},
        {"YQ", "a", 1},
        {"YQ=", "a", 1},
        {"YWI=", "ab", 2},
        {"YWI", "ab", 2},
        {"YWJj", "abc", 3},
        {"YW Jj\\nZA==", "abcd", 4},
        {" YWJjZGU= ", "abcde", 5},
        {"AAEC/w==", "\x00\x01\x02\xff", 4},
        {"+/+/", "\xfb\xff\xbf", 3},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char json[64];
        snprintf(json, sizeof(json), "{\"by\":\"%s\"}", ok[i].in);
        Tepui__Test__Scalars *s = (Tepui__Test__Scalars *)decode(SCALARS_DESC, json);
        assert_true(s->has_by);
        assert_int_equal(s->by.len, ok[i].len);
        if (ok[i].len == 0)
            assert_null(s->by.data);
        else
            assert_memory_equal(s->by.data, ok[i].out, ok[i].len);
        protobuf_c_message_free_unpacked(&s->base, NULL);
    }

    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"Y!==", "field 'by': invalid base64: unexpected character '!' at offset 1"},
        {"YQ==YQ==", "field 'by': invalid base64: data after padding at offset 4"},
        {"Y", "field 'by': invalid base64: truncated input (a lone trailing character)"},
        {"YWJjZ", "field 'by': invalid base64: truncated input (a lone trailing character)"},
        {"YQ===", "field 'by': invalid base64: wrong padding"},
        {"YWJj=", "field 'by': invalid base64: wrong padding"},
        {"=", "field 'by': invalid base64: wrong padding"},
        {"YW-_", "field 'by': invalid base64: unexpected character '-' at offset 2"},
        {"YQ==\\u0001", "field 'by': invalid base64: unexpected byte 0x01 at offset 4"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[64];
        snprintf(json, sizeof(json), "{\"by\":\"%s\"}", bad[i].in);
        assert_decode_fails(SCALARS_DESC, json, bad[i].msg);
    }
    assert_decode_fails(TEST_DESC, "{\"id\":\"x\",\"kind\":\"RED\",\"blobs\":[\"YQ==\",\"a!\"]}",
                        "field 'blobs[1]': invalid base64: unexpected character '!' at offset 1");
    assert_decode_fails(SCALARS_DESC, "{\"by\":5}", "field 'by': expected a base64 string, "
                                                   "got a number");
}

static void decode_strings_with_defaults_are_owned_by_the_message(void **state)
{
    Tepui__Test__Defaults *d = (Tepui__Test__Defaults *)decode(DEFAULTS_DESC, "{}");
    assert_string_equal(d->name, "default-name");
    assert_string_equal(d->role, "*");
    assert_int_equal(d->blob.len, 3);
    assert_true(d->port == 5051);
    protobuf_c_message_free_unpacked(&d->base, NULL);

    d = (Tepui__Test__Defaults *)decode(DEFAULTS_DESC,
                                        "{\"name\":\"mine\",\"role\":\"r\",\"blob\":\"eHl6\","
                                        "\"empty\":\"e\",\"port\":1}");
    assert_string_equal(d->name, "mine");
    assert_string_equal(d->role, "r");
    assert_memory_equal(d->blob.data, "xyz", 3);
    assert_string_equal(d->empty, "e");
    assert_true(d->has_port && d->port == 1);
    protobuf_c_message_free_unpacked(&d->base, NULL); /* ASan: nothing leaks */
}

static void decode_oneof_keeps_the_last_member_given(void **state)
{
    Tepui__Test__Test *t = (Tepui__Test__Test *)decode(
        TEST_DESC, "{\"id\":\"x\",\"kind\":\"RED\",\"text\":\"a\",\"number\":5}");
    assert_int_equal(t->choice_case, TEPUI__TEST__TEST__CHOICE_NUMBER);
    assert_int_equal(t->number, 5);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* each replaced member is freed (ASan would report the leak) */
    t = (Tepui__Test__Test *)decode(TEST_DESC,
                                    "{\"id\":\"x\",\"kind\":\"RED\",\"node\":{\"name\":\"n\"},"
                                    "\"raw\":\"AAE=\",\"text\":\"t\"}");
    assert_int_equal(t->choice_case, TEPUI__TEST__TEST__CHOICE_TEXT);
    assert_string_equal(t->text, "t");
    protobuf_c_message_free_unpacked(&t->base, NULL);

    t = (Tepui__Test__Test *)decode(TEST_DESC,
                                    "{\"id\":\"x\",\"kind\":\"RED\",\"text\":\"t\","
                                    "\"node\":{\"name\":\"n\"}}");
    assert_int_equal(t->choice_case, TEPUI__TEST__TEST__CHOICE_NODE);
    assert_string_equal(t->node->name, "n");
    protobuf_c_message_free_unpacked(&t->base, NULL);
}

static void decode_duplicate_keys_keep_the_last(void **state)
{
    assert_json_round_trip(TEST_DESC,
                           "{\"id\":\"a\",\"kind\":\"RED\",\"id\":\"b\",\"tags\":[\"1\"],"
                           "\"tags\":[\"2\",\"3\"]}",
                           "{\"id\":\"b\",\"kind\":\"RED\",\"tags\":[\"2\",\"3\"]}");
}

/* ---- decoding: errors -------------------------------------------------------- */

struct bad_case {
    const char *json;
    const char *msg;
};

static void check_bad(const ProtobufCMessageDescriptor *desc, const struct bad_case *cases,
                      size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_decode_fails(desc, cases[i].json, cases[i].msg);
}

static void decode_integer_overflow_is_an_error_per_width(void **state)
{
    static const struct bad_case bad[] = {
        {"{\"i32\":2147483648}", "field 'i32': value 2147483648 is out of range for int32"},
        {"{\"i32\":-2147483649}", "field 'i32': value -2147483649 is out of range for int32"},
        {"{\"s32\":\"2147483648\"}", "field 's32': value '2147483648' is out of range for sint32"},
        {"{\"sf32\":-2147483649}", "field 'sf32': value -2147483649 is out of range for sfixed32"},
        {"{\"u32\":4294967296}", "field 'u32': value 4294967296 is out of range for uint32"},
        {"{\"u32\":-1}", "field 'u32': value -1 is out of range for uint32"},
        {"{\"f32\":-1}", "field 'f32': value -1 is out of range for fixed32"},
        {"{\"f32\":4294967296.0}",
         "field 'f32': value 4294967296 is out of range for fixed32"},
        {"{\"i64\":9223372036854775808}",
         "field 'i64': value '9223372036854775808' is out of range for int64"},
        {"{\"s64\":-9223372036854775809}",
         "field 's64': value '-9223372036854775809' is out of range for sint64"},
        {"{\"sf64\":9.3e18}", "field 'sf64': value 9.3e+18 is out of range for sfixed64"},
        {"{\"i64\":9223372036854775807.0}",
         "field 'i64': value 9.2233720368547758e+18 is out of range for int64"},
        {"{\"u64\":18446744073709551616}",
         "field 'u64': value '18446744073709551616' is out of range for uint64"},
        {"{\"u64\":\"99999999999999999999999\"}",
         "field 'u64': value '99999999999999999999999' is out of range for uint64"},
        {"{\"f64\":-1}", "field 'f64': value -1 is out of range for fixed64"},
        {"{\"u64\":1.8446744073709552e19}",
         "field 'u64': value 1.8446744073709552e+19 is out of range for uint64"},
        {"{\"fl\":1e39}", "field 'fl': value 9.9999999999999994e+38 is out of range for float"},
        {"{\"fl\":\"-3.5e38\"}", "field 'fl': value '-3.5e38' is out of range for float"},
        {"{\"db\":\"1e400\"}", "field 'db': value '1e400' is out of range for double"},
    };
    check_bad(SCALARS_DESC, bad, sizeof(bad) / sizeof(bad[0]));

    /* the edges themselves are fine */
    Tepui__Test__Scalars *s = (Tepui__Test__Scalars *)decode(
        SCALARS_DESC, "{\"i32\":-2147483648,\"u32\":4294967295,\"sf32\":2147483647,"
                      "\"fl\":3.4028235e38,\"db\":1.7976931348623157e308}");
    assert_int_equal(s->i32, INT32_MIN);
    assert_true(s->u32 == UINT32_MAX);
    assert_int_equal(s->sf32, INT32_MAX);
    assert_true(s->fl == FLT_MAX);
    assert_true(s->db == DBL_MAX);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void decode_type_mismatches_name_the_full_path(void **state)
{
    static const struct bad_case bad[] = {
        {"{\"id\":5,\"kind\":\"RED\"}", "field 'id': expected a string, got a number"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"inner\":{\"name\":true}}",
         "field 'inner.name': expected a string, got a boolean"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"inners\":[{\"name\":\"a\"},{\"name\":1.5}]}",
         "field 'inners[1].name': expected a string, got a number"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"next\":{\"next\":{\"scalars\":{\"i32\":\"x\"}}}}",
         "field 'next.next.scalars.i32': expected a number, got the string 'x'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"inner\":{\"name\":\"a\",\"children\":[{},"
         "{\"children\":[{\"value\":{}}]}]}}",
         "Not expecting a JSON object for field 'inner.children[1].children[0].value'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"tags\":[\"a\",\"b\",3]}",
         "field 'tags[2]': expected a string, got a number"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"scalars\":{\"i32\":[1]}}",
         "Not expecting a JSON array for field 'scalars.i32'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"scalars\":{\"s\":{}}}",
         "Not expecting a JSON object for field 'scalars.s'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"scalars\":[]}",
         "Not expecting a JSON array for field 'scalars'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"inner\":\"x\"}",
         "field 'inner': expected an object, got a string"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"inners\":[{\"name\":\"a\"},1]}",
         "field 'inners[1]': expected an object, got a number"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"tags\":[[\"a\"]]}",
         "Not expecting a JSON array for field 'tags[0]'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"tags\":[{}]}",
         "Not expecting a JSON object for field 'tags[0]'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"flags\":[true,1]}",
         "field 'flags[1]': expected a boolean, got a number"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"flags\":\"yes\"}",
         "field 'flags': expected a boolean, got the string 'yes'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"values\":[1,false]}",
         "field 'values[1]': expected a number, got a boolean"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"longs\":[\" 1\"]}",
         "field 'longs[0]': expected a number, got the string ' 1'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"longs\":[\"01\"]}",
         "field 'longs[0]': expected a number, got the string '01'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"longs\":[\"0x10\"]}",
         "field 'longs[0]': expected a number, got the string '0x10'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"number\":\"1.\"}",
         "field 'number': expected a number, got the string '1.'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"node\":{\"name\":\"n\",\"value\":\"-\"}}",
         "field 'node.value': expected a number, got the string '-'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"req\":{\"count\":1,\"with_default\":1,"
         "\"data\":\"\",\"inner\":{\"name\":[]}}}",
         "Not expecting a JSON array for field 'req.inner.name'"},
    };
    check_bad(TEST_DESC, bad, sizeof(bad) / sizeof(bad[0]));
}

static void decode_missing_required_fields_lists_every_path(void **state)
{
    static const struct bad_case bad[] = {
        {"{}", "Missing required fields: id, kind"},
        {"{\"id\":null,\"kind\":\"RED\"}", "Missing required fields: id"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"inner\":{},\"inners\":[{\"name\":\"a\"},{}],"
         "\"req\":{\"inner\":{}}}",
         "Missing required fields: inner.name, inners[1].name, req.count, req.with_default, "
         "req.data, req.inner.name"},
        {"{\"kind\":\"RED\",\"next\":{\"id\":\"y\",\"next\":{\"inner\":{\"children\":"
         "[{\"name\":\"c\"},{\"children\":[{}]}]}}}}",
         "Missing required fields: id, next.kind, next.next.id, next.next.kind, "
         "next.next.inner.name, next.next.inner.children[1].name, "
         "next.next.inner.children[1].children[0].name"},
    };
    check_bad(TEST_DESC, bad, sizeof(bad) / sizeof(bad[0]));
}

static void decode_rejects_invalid_json_with_position(void **state)
{
    struct error err = {0};
    const char *text = "{\n  \"id\": x\n}";
    assert_null(wire_json_decode(TEST_DESC, text, strlen(text), &err));
    assert_int_equal(err.code, -EINVAL);
    assert_true(strncmp(err.msg, "invalid JSON at line 2, column ", 31) == 0);

    static const char *const bad[] = {
        "", "{", "{\"id\":\"x\"", "{\"id\":\"x\",}", "{} {}", "{\"id\":\"\xff\"}",
        "{\"id\":\"\\u0000\"}", "{\"db\":-}", "{\"db\":Infinityx}", "nul",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error_clear(&err);
        assert_null(wire_json_decode(TEST_DESC, bad[i], strlen(bad[i]), &err));
        assert_true(strncmp(err.msg, "invalid JSON at line ", 21) == 0);
    }
    error_clear(&err);
    assert_null(wire_json_decode(TEST_DESC, NULL, 0, &err));
    assert_true(strncmp(err.msg, "invalid JSON at line ", 21) == 0);
}

static void decode_requires_an_object_at_the_top(void **state)
{
    assert_decode_fails(TEST_DESC, "[]", "expected a JSON object, got an array");
    assert_decode_fails(TEST_DESC, "42", "expected a JSON object, got a number");
    assert_decode_fails(TEST_DESC, "\"x\"", "expected a JSON object, got a string");
    assert_decode_fails(TEST_DESC, "null", "expected a JSON object, got null");
    assert_decode_fails(TEST_DESC, "Infinity", "expected a JSON object, got a string");

    struct error err = {0};
    assert_null(wire_json_to_message(TEST_DESC, NULL, &err));
    assert_string_equal(err.msg, "expected a JSON object, got nothing");
}

/* {"name":"n","children":[ ... ]} nested `levels` times below the top. */
static char *nested_inner(int levels)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < levels; i++)
        buf_append_str(&b, "{\"name\":\"n\",\"children\":[");
    buf_append_str(&b, "{\"name\":\"leaf\"}");
    for (int i = 0; i < levels; i++)
        buf_append_str(&b, "]}");
    return buf_steal(&b);
}

static void decode_limits_nesting_depth(void **state)
{
    char *ok = nested_inner(WIRE_JSON_MAX_DEPTH);
    ProtobufCMessage *m = decode(INNER_DESC, ok);
    char *back = encode(m);
    assert_string_equal(back, ok);
    free(back);
    protobuf_c_message_free_unpacked(m, NULL);
    free(ok);

    char *deep = nested_inner(WIRE_JSON_MAX_DEPTH + 1);
    struct error err = {0};
    assert_null(wire_json_decode(INNER_DESC, deep, strlen(deep), &err));
    assert_true(strncmp(err.msg, "field 'children[0].children[0].", 31) == 0);
    assert_non_null(strstr(err.msg, "messages nested deeper than 64 levels"));
    free(deep);

    /* far deeper than anything: refused by the parser, without recursion
     * into the decoder */
    char *hostile = nested_inner(100000);
    error_clear(&err);
    assert_null(wire_json_decode(INNER_DESC, hostile, strlen(hostile), &err));
    assert_true(strncmp(err.msg, "invalid JSON at line 1", 22) == 0);
    free(hostile);
}

static void decode_error_midway_frees_everything(void **state)
{
    /* partially built strings, arrays, sub-messages and oneof members
     * must all be released (ASan's leak checker runs at exit) */
    static const struct bad_case bad[] = {
        {"{\"id\":\"x\",\"kind\":\"RED\",\"tags\":[\"a\",\"b\"],\"blobs\":[\"YQ==\"],"
         "\"inners\":[{\"name\":\"a\",\"children\":[{\"name\":\"b\"}]},{\"name\":\"c\","
         "\"children\":[{\"name\":\"d\",\"value\":\"v\"}]}]}",
         "field 'inners[1].children[0].value': expected a number, got the string 'v'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"text\":\"t\",\"node\":{\"name\":\"n\",\"value\":[]}}",
         "Not expecting a JSON array for field 'node.value'"},
        {"{\"id\":\"x\",\"kind\":\"RED\",\"defaults\":{\"name\":\"n\",\"blob\":\"YQ==\","
         "\"port\":\"p\"}}",
         "field 'defaults.port': expected a number, got the string 'p'"},
    };
    check_bad(TEST_DESC, bad, sizeof(bad) / sizeof(bad[0]));
}

/* ---- jansson trees -------------------------------------------------------------- */

static void from_message_builds_an_equivalent_tree(void **state)
{
    ProtobufCMessage *m = decode(TEST_DESC, full_test_json);
    json_t *tree = wire_json_from_message(m);
    assert_non_null(tree);

    /* what jansson cannot hold natively */
    json_t *scalars = json_object_get(tree, "scalars");
    assert_string_equal(json_string_value(json_object_get(scalars, "u64")),
                        "18446744073709551615");
    assert_true(json_real_value(json_object_get(scalars, "fl")) == 0.1);
    json_t *values = json_object_get(tree, "values");
    assert_string_equal(json_string_value(json_array_get(values, 6)), "Infinity");
    assert_string_equal(json_string_value(json_array_get(values, 7)), "-Infinity");

    /* and it decodes back to the same message */
    struct error err = {0};
    ProtobufCMessage *back = wire_json_to_message(TEST_DESC, tree, &err);
    assert_non_null(back);
    assert_encodes(back, full_test_json);
    protobuf_c_message_free_unpacked(back, NULL);

    /* wire_json_dump prints it the way the encoder does, but for the values
     * that the tree holds as strings */
    struct buf b = BUF_INIT;
    wire_json_dump(tree, &b);
    back = wire_json_decode(TEST_DESC, b.data, b.len, &err);
    assert_non_null(back);
    assert_encodes(back, full_test_json);
    protobuf_c_message_free_unpacked(back, NULL);
    buf_free(&b);

    json_decref(tree);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void from_message_replaces_invalid_utf8(void **state)
{
    Tepui__Test__Scalars s = TEPUI__TEST__SCALARS__INIT;
    s.s = "a\xff";
    json_t *tree = wire_json_from_message(&s.base);
    assert_string_equal(json_string_value(json_object_get(tree, "s")), "a\xef\xbf\xbd");
    json_decref(tree);
}

static void dump_formats_like_the_encoder(void **state)
{
    json_t *v = json_pack("{s:[i,f,f,b,n,s],s:{},s:s#}", "a", -3, 0.1, 2.0, 1, "x\n", "b", "c",
                          "\x00\x01", 2);
    struct buf b = BUF_INIT;
    buf_append_str(&b, ">");
    wire_json_dump(v, &b);
    assert_string_equal(b.data, ">{\"a\":[-3,0.1,2.0,true,null,\"x\\n\"],\"b\":{},"
                                "\"c\":\"\\u0000\\u0001\"}");
    json_decref(v);
    buf_reset(&b);
    wire_json_dump(NULL, &b);
    assert_string_equal(b.data, "null");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_empty_message_is_empty_object),
        cmocka_unit_test(encode_every_scalar_type),
        cmocka_unit_test(encode_zero_values_when_set),
        cmocka_unit_test(encode_doubles_in_shortest_form_with_decimal_point),
        cmocka_unit_test(encode_non_finite_doubles_as_bare_tokens),
        cmocka_unit_test(encode_floats_in_shortest_float_form),
        cmocka_unit_test(encode_escapes_strings),
        cmocka_unit_test(encode_replaces_invalid_utf8_with_replacement_character),
        cmocka_unit_test(encode_bytes_as_padded_base64),
        cmocka_unit_test(encode_emits_explicit_defaults_but_not_deprecated_ones),
        cmocka_unit_test(encode_set_fields_override_defaults_and_deprecated_set_fields_show),
        cmocka_unit_test(encode_required_fields_always),
        cmocka_unit_test(encode_skips_enum_values_the_enum_lacks),
        cmocka_unit_test(encode_repeated_only_when_not_empty),
        cmocka_unit_test(encode_oneof_member_only_when_selected),
        cmocka_unit_test(encode_appends_to_the_buffer),
        cmocka_unit_test(json_round_trip_of_every_field),
        cmocka_unit_test(protobuf_round_trip_of_every_field),
        cmocka_unit_test(round_trip_of_oneof_members),
        cmocka_unit_test(round_trip_keeps_doubles_exact),
        cmocka_unit_test(encode_maps_as_objects_keyed_by_the_key_text),
        cmocka_unit_test(decode_maps_from_objects),
        cmocka_unit_test(decode_map_errors_name_the_entry),
        cmocka_unit_test(maps_are_recognised_by_protoc_naming),
        cmocka_unit_test(decode_quoted_numbers_and_booleans),
        cmocka_unit_test(decode_infinity_as_string_or_bare_token),
        cmocka_unit_test(decode_bare_integers_beyond_int64),
        cmocka_unit_test(decode_integral_reals_into_integer_fields),
        cmocka_unit_test(decode_null_means_unset),
        cmocka_unit_test(decode_ignores_unknown_keys),
        cmocka_unit_test(decode_single_value_for_repeated_field),
        cmocka_unit_test(decode_enums_drops_unknown_names_unless_required),
        cmocka_unit_test(decode_base64_forms),
        cmocka_unit_test(decode_strings_with_defaults_are_owned_by_the_message),
        cmocka_unit_test(decode_oneof_keeps_the_last_member_given),
        cmocka_unit_test(decode_duplicate_keys_keep_the_last),
        cmocka_unit_test(decode_integer_overflow_is_an_error_per_width),
        cmocka_unit_test(decode_type_mismatches_name_the_full_path),
        cmocka_unit_test(decode_missing_required_fields_lists_every_path),
        cmocka_unit_test(decode_rejects_invalid_json_with_position),
        cmocka_unit_test(decode_requires_an_object_at_the_top),
        cmocka_unit_test(decode_limits_nesting_depth),
        cmocka_unit_test(decode_error_midway_frees_everything),
        cmocka_unit_test(from_message_builds_an_equivalent_tree),
        cmocka_unit_test(from_message_replaces_invalid_utf8),
        cmocka_unit_test(dump_formats_like_the_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
