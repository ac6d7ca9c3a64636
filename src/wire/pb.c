/* protobuf-c helpers. */
#include "wire/pb.h"

#include <stdlib.h>

#include "common/xalloc.h"

ProtobufCMessage *pb_copy(const ProtobufCMessage *m)
{
    if (m == NULL)
        return NULL;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t small[1024];
    uint8_t *data = len <= sizeof(small) ? small : xmalloc(len);
    protobuf_c_message_pack(m, data);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, data);
    if (data != small)
        free(data);
    if (copy == NULL)
        abort();   /* what we packed must unpack; anything else is memory corruption */
    return copy;
}

void pb_free(void *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
}

void pb_pack_buf(const ProtobufCMessage *m, struct buf *out)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    buf_reserve(out, len);
    protobuf_c_message_pack(m, (uint8_t *)out->data + out->len);
    out->len += len;
    out->data[out->len] = '\0';
}
