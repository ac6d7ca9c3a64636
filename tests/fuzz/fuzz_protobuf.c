/* libFuzzer target for protobuf bodies (wire_decode with
 * application/x-protobuf): arbitrary bytes as the test schema's Test
 * message, which the nesting check and protobuf-c must survive. What decodes
 * must encode to JSON that parses, whatever bytes its strings hold, and
 * decode back to the same JSON text. Build with `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "test/codec_test.pb-c.h"
#include "wire/codec.h"
#include "wire/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DESC (&tepui__test__test__descriptor)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error err = {0};
    ProtobufCMessage *m = wire_decode(DESC, WIRE_PROTOBUF, data, size, &err);
    if (m == NULL) {
        if (err.code >= 0 || err.msg[0] == '\0')
            abort();
        return 0;
    }

    struct buf text = BUF_INIT;
    wire_encode(m, WIRE_JSON, &text);
    ProtobufCMessage *again = wire_decode(DESC, WIRE_JSON, text.data, text.len, &err);
    if (again == NULL) {
        fprintf(stderr, "fuzz_protobuf: own JSON does not decode: %s\n  %s\n", err.msg, text.data);
        abort();
    }
    struct buf text2 = BUF_INIT;
    wire_encode(again, WIRE_JSON, &text2);
    if (strcmp(text.data, text2.data) != 0) {
        fprintf(stderr, "fuzz_protobuf: JSON round trip differs\n  %s\n  %s\n", text.data,
                text2.data);
        abort();
    }

    buf_free(&text2);
    buf_free(&text);
    protobuf_c_message_free_unpacked(again, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
