/* libFuzzer target for the JSON codec: arbitrary bytes are decoded as the
 * test schema's Test message (every field type, recursion, a oneof). What
 * decodes must re-encode to text that decodes to the same message, and the
 * protobuf and jansson-tree paths must agree with it. Errors must say
 * something. Build with `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "test/codec_test.pb-c.h"
#include "wire/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DESC (&tepui__test__test__descriptor)

static void check(int ok, const char *what, const char *a, const char *b)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_json: %s\n  first:  %s\n  second: %s\n", what, a, b ? b : "(null)");
    abort();
}

static char *encode(const ProtobufCMessage *m)
{
    struct buf b = BUF_INIT;
    wire_json_encode(m, &b);
    return buf_steal(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error err = {0};
    ProtobufCMessage *m = wire_json_decode(DESC, (const char *)data, size, &err);
    if (m == NULL) {
        check(err.code < 0 && err.msg[0] != '\0', "error without a message", err.msg, NULL);
        return 0;
    }

    /* text -> message -> text is a fixed point */
    char *text = encode(m);
    ProtobufCMessage *again = wire_json_decode(DESC, text, strlen(text), &err);
    check(again != NULL, "own output does not decode", text, err.msg);
    char *text2 = encode(again);
    check(strcmp(text, text2) == 0, "re-encoding differs", text, text2);
    free(text2);
    protobuf_c_message_free_unpacked(again, NULL);

    /* through protobuf */
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *pb = malloc(n ? n : 1);
    protobuf_c_message_pack(m, pb);
    again = protobuf_c_message_unpack(DESC, NULL, n, pb);
    free(pb);
    check(again != NULL, "packed message does not unpack", text, NULL);
    text2 = encode(again);
    check(strcmp(text, text2) == 0, "protobuf round trip differs", text, text2);
    free(text2);
    protobuf_c_message_free_unpacked(again, NULL);

    /* through a jansson tree, and its dump */
    json_t *tree = wire_json_from_message(m);
    again = wire_json_to_message(DESC, tree, &err);
    check(again != NULL, "tree does not decode", text, err.msg);
    text2 = encode(again);
    check(strcmp(text, text2) == 0, "tree round trip differs", text, text2);
    free(text2);
    protobuf_c_message_free_unpacked(again, NULL);

    struct buf dumped = BUF_INIT;
    wire_json_dump(tree, &dumped);
    again = wire_json_decode(DESC, dumped.data, dumped.len, &err);
    check(again != NULL, "dumped tree does not decode", dumped.data, err.msg);
    text2 = encode(again);
    check(strcmp(text, text2) == 0, "dumped tree round trip differs", text, text2);
    free(text2);
    protobuf_c_message_free_unpacked(again, NULL);
    buf_free(&dumped);
    json_decref(tree);

    free(text);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
