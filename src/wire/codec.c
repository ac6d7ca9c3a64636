/* Content negotiation for the v1 APIs (Content-Type and Accept, as Mesos's
 * src/common/http.cpp reads them) and the choice between the JSON codec and
 * protobuf-c's binary one. Routing and status codes are the HTTP layer's. */
#include "wire/codec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "wire/json.h"

static bool is_space(char c) { return c == ' ' || c == '\t'; }

/* The media type at s (up to its parameters), trimmed: *len is set. */
static const char *media_type(const char *s, const char *end, size_t *len)
{
    while (s < end && is_space(*s))
        s++;
    const char *e = s;
    while (e < end && *e != ';')
        e++;
    while (e > s && is_space(e[-1]))
        e--;
    *len = (size_t)(e - s);
    return s;
}

static bool media_is(const char *s, size_t len, const char *type)
{
    return strlen(type) == len && strncasecmp(s, type, len) == 0;
}

enum wire_format wire_format_from_content_type(const char *content_type)
{
    if (content_type == NULL)
        return 0;
    size_t len;
    const char *s = media_type(content_type, content_type + strlen(content_type), &len);
    if (media_is(s, len, WIRE_MEDIA_JSON))
        return WIRE_JSON;
    if (media_is(s, len, WIRE_MEDIA_PROTOBUF))
        return WIRE_PROTOBUF;
    return 0;
}

/* A q-value ("1", "0.5", "0.125"; RFC 7231 5.3.1) in thousandths, or -1 if
 * it is malformed. */
static int parse_qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (len == 1)
        return q;
    if (s[1] != '.' || len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The q of one media range's parameters ("; charset=x; q=0.5"), 1000 when
 * absent, -1 when malformed. */
static int range_quality(const char *p, const char *end)
{
    int q = 1000;
    while (p < end && *p == ';') {
        p++;
        while (p < end && is_space(*p))
            p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';' && !is_space(*p))
            p++;
        size_t name_len = (size_t)(p - name);
        while (p < end && is_space(*p))
            p++;
        const char *val = p;
        size_t val_len = 0;
        if (p < end && *p == '=') {
            p++;
            while (p < end && is_space(*p))
                p++;
            val = p;
            while (p < end && *p != ';' && !is_space(*p))
                p++;
            val_len = (size_t)(p - val);
        }
        while (p < end && *p != ';')
            p++;
        if (name_len == 1 && (name[0] == 'q' || name[0] == 'Q'))
            q = parse_qvalue(val, val_len);
    }
    return q;
}

struct candidate {
    const char *type;   /* "application/json" */
    int specificity;    /* of the range that decided q: 0 = * / *, 1 = type/ *, 2 = exact */
    int q;              /* thousandths; -1 until a range matches */
    int position;       /* index of that range in the header */
};

static void consider(struct candidate *c, const char *range, size_t len, int q, int position)
{
    int spec;
    if (media_is(range, len, "*/*"))
        spec = 0;
    else if (media_is(range, len, "application/*"))
        spec = 1;
    else if (media_is(range, len, c->type))
        spec = 2;
    else
        return;
    /* The most specific range decides (RFC 7231 5.3.2), so
     * "application/json;q=0, * / *" refuses JSON only. */
    if (spec > c->specificity || (spec == c->specificity && q > c->q)) {
        c->specificity = spec;
        c->q = q;
        c->position = position;
    }
}

enum wire_format wire_format_from_accept(const char *accept)
{
    if (accept == NULL)
        return WIRE_JSON;
    const char *p = accept, *end = accept + strlen(accept);
    while (p < end && (is_space(*p) || *p == ','))
        p++;
    if (p == end)
        return WIRE_JSON;

    struct candidate json = {WIRE_MEDIA_JSON, -1, -1, 0};
    struct candidate pb = {WIRE_MEDIA_PROTOBUF, -1, -1, 0};
    int position = 0;
    while (p < end) {
        const char *stop = memchr(p, ',', (size_t)(end - p));
        if (stop == NULL)
            stop = end;
        size_t len;
        const char *range = media_type(p, stop, &len);
        if (len > 0) {
            int q = range_quality(range + len, stop);
            if (q >= 0) {
                consider(&json, range, len, q, position);
                consider(&pb, range, len, q, position);
            }
            position++;
        }
        p = stop < end ? stop + 1 : end;
    }

    /* q=0 means "not acceptable"; otherwise the higher q wins, then a type
     * named outright over one matched by a wildcard, then the range listed
     * first, then JSON (Mesos's default). */
    if (json.q <= 0 && pb.q <= 0)
        return 0;
    if (pb.q <= 0)
        return WIRE_JSON;
    if (json.q <= 0)
        return WIRE_PROTOBUF;
    if (json.q != pb.q)
        return json.q > pb.q ? WIRE_JSON : WIRE_PROTOBUF;
    if (json.specificity != pb.specificity)
        return json.specificity > pb.specificity ? WIRE_JSON : WIRE_PROTOBUF;
    return pb.position < json.position ? WIRE_PROTOBUF : WIRE_JSON;
}

const char *wire_format_media_type(enum wire_format f)
{
    switch (f) {
    case WIRE_JSON:
        return WIRE_MEDIA_JSON;
    case WIRE_PROTOBUF:
        return WIRE_MEDIA_PROTOBUF;
    }
    return NULL;
}

/* ---- protobuf -------------------------------------------------------------- */

static bool read_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *i < len; shift += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* protobuf-c's unpack recurses once per nested message with no limit, so a
 * body of a few kilobytes of nested length prefixes could exhaust the stack.
 * This walks the wire format first (without allocating) and reports whether
 * messages nest deeper than the JSON decoder allows. Malformed input is left
 * for unpack to refuse. */
static bool too_deep(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                     int depth)
{
    size_t i = 0;
    if (depth > WIRE_JSON_MAX_DEPTH)
        return true;
    while (i < len) {
        uint64_t key, n;
        if (!read_varint(p, len, &i, &key))
            return false;
        switch (key & 7) {
        case 0: /* varint */
            if (!read_varint(p, len, &i, &n))
                return false;
            break;
        case 1: /* 64-bit */
            if (len - i < 8)
                return false;
            i += 8;
            break;
        case 5: /* 32-bit */
            if (len - i < 4)
                return false;
            i += 4;
            break;
        case 2: { /* length-delimited */
            if (!read_varint(p, len, &i, &n) || n > len - i)
                return false;
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3))
                    : NULL;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                too_deep(f->descriptor, p + i, (size_t)n, depth + 1))
                return true;
            i += (size_t)n;
            break;
        }
        default: /* groups, which protobuf-c does not support either */
            return false;
        }
    }
    return false;
}

/* ---- making protobuf-c's view of a message what C++ would see --------------
 * protobuf-c keeps what C++ proto2 (so Mesos) would not: an enum value that
 * the schema lacks (C++ moves it to the unknown fields: an optional field
 * reads as unset, a repeated one loses the element, a map loses the entry,
 * and a required one is missing, failing the parse), and repeated keys in a
 * map (C++ keeps the last). */

/* The fields leading to the one at fault, kept as names and indexes (-1 for
 * none) while walking and written out only for an error: every call a
 * daemon receives is normalized, and building the path string for each
 * nested message was a visible share of decoding. too_deep() bounds the
 * nesting, so the room below is never short (extra levels are not named). */
#define NORMALIZE_MAX_PATH (WIRE_JSON_MAX_DEPTH + 2)

struct normalize {
    const char *names[NORMALIZE_MAX_PATH];
    long index[NORMALIZE_MAX_PATH];
    size_t depth;
    char why[200];
};

static bool has_required_fields(const ProtobufCMessageDescriptor *desc)
{
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (desc->fields[i].label == PROTOBUF_C_LABEL_REQUIRED)
            return true;
    return false;
}

static bool enum_known(const ProtobufCFieldDescriptor *f, int v)
{
    return protobuf_c_enum_descriptor_get_value(f->descriptor, v) != NULL;
}

static int64_t key_signed(const ProtobufCFieldDescriptor *kf, const void *v)
{
    switch (kf->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return *(const int64_t *)v;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)v != 0;
    default:
        return *(const int32_t *)v;
    }
}

static uint64_t key_unsigned(const ProtobufCFieldDescriptor *kf, const void *v)
{
    if (kf->type == PROTOBUF_C_TYPE_UINT64 || kf->type == PROTOBUF_C_TYPE_FIXED64)
        return *(const uint64_t *)v;
    return *(const uint32_t *)v;
}

static bool key_is_unsigned(const ProtobufCFieldDescriptor *kf)
{
    return kf->type == PROTOBUF_C_TYPE_UINT32 || kf->type == PROTOBUF_C_TYPE_FIXED32 ||
           kf->type == PROTOBUF_C_TYPE_UINT64 || kf->type == PROTOBUF_C_TYPE_FIXED64;
}

struct map_slot {
    size_t index;
    const ProtobufCMessage *entry;
    const ProtobufCFieldDescriptor *kf;
};

static int map_slot_cmp(const void *pa, const void *pb)
{
    const struct map_slot *a = pa, *b = pb;
    const ProtobufCFieldDescriptor *kf = a->kf;
    const void *ka = (const char *)a->entry + kf->offset;
    const void *kb = (const char *)b->entry + kf->offset;
    int c;
    if (kf->type == PROTOBUF_C_TYPE_STRING) {
        const char *sa = *(const char *const *)ka, *sb = *(const char *const *)kb;
        c = strcmp(sa ? sa : "", sb ? sb : "");
    } else if (key_is_unsigned(kf)) {
        uint64_t ua = key_unsigned(kf, ka), ub = key_unsigned(kf, kb);
        c = ua < ub ? -1 : ua > ub;
    } else {
        int64_t ia = key_signed(kf, ka), ib = key_signed(kf, kb);
        c = ia < ib ? -1 : ia > ib;
    }
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Drops the entries of a map field that C++ would not have: those whose enum
 * value the schema lacks, and all but the last of each key. */
static void normalize_map(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    ProtobufCMessage **arr = *(ProtobufCMessage ***)((char *)m + f->offset);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    size_t n = *count;

    if (n == 0)
        return;
    bool *drop = xcalloc(n, sizeof(*drop));
    struct map_slot *slots = xmalloc(n * sizeof(*slots));
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        if (vf->type == PROTOBUF_C_TYPE_ENUM &&
            !enum_known(vf, *(const int *)((const char *)arr[i] + vf->offset))) {
            drop[i] = true;
            continue;
        }
        slots[live++] = (struct map_slot){i, arr[i], kf};
    }
    if (live > 1) {
        qsort(slots, live, sizeof(*slots), map_slot_cmp);
        for (size_t i = 0; i + 1 < live; i++) {
            struct map_slot a = slots[i], b = slots[i + 1];
            a.index = b.index = 0;
            if (map_slot_cmp(&a, &b) == 0)
                drop[slots[i].index] = true;
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (drop[i])
            protobuf_c_message_free_unpacked(arr[i], NULL);
        else
            arr[kept++] = arr[i];
    }
    *count = kept;
    free(slots);
    free(drop);
}

static void path_push(struct normalize *nz, const char *name, long index)
{
    if (nz->depth < NORMALIZE_MAX_PATH) {
        nz->names[nz->depth] = name;
        nz->index[nz->depth] = index;
    }
    nz->depth++;
}

static void path_pop(struct normalize *nz, size_t mark) { nz->depth = mark; }

/* Writes the path as ".name", "name[i]" style parts for error messages. */
static void path_format(const struct normalize *nz, struct buf *out)
{
    size_t n = nz->depth < NORMALIZE_MAX_PATH ? nz->depth : NORMALIZE_MAX_PATH;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_append_char(out, '.');
        buf_append_str(out, nz->names[i]);
        if (nz->index[i] >= 0)
            buf_printf(out, "[%ld]", nz->index[i]);
    }
}

/* Depth is bounded by too_deep(), which runs first. */
static int normalize_message(ProtobufCMessage *m, struct normalize *nz)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        char *base = (char *)m;
        bool oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
        if (oneof && *(uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_NONE)
            continue; /* proto3 enums are open */
        size_t mark = nz->depth;

        if (f->type == PROTOBUF_C_TYPE_ENUM && f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *n = (size_t *)(base + f->quantifier_offset);
            int *arr = *(int **)(base + f->offset);
            size_t kept = 0;
            for (size_t k = 0; k < *n; k++)
                if (enum_known(f, arr[k]))
                    arr[kept++] = arr[k];
            *n = kept;
        } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
            int *v = (int *)(base + f->offset);
            if (enum_known(f, *v))
                continue;
            if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
                path_push(nz, f->name, -1);
                snprintf(nz->why, sizeof(nz->why), "holds %d, which enum %s lacks", *v,
                         ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
                return -EINVAL;
            }
            const ProtobufCEnumDescriptor *ed = f->descriptor;
            if (oneof)
                *(uint32_t *)(base + f->quantifier_offset) = 0;
            else
                *(protobuf_c_boolean *)(base + f->quantifier_offset) = 0;
            *v = f->default_value ? *(const int *)f->default_value
                                  : ed->n_values ? ed->values[0].value : 0;
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label == PROTOBUF_C_LABEL_REPEATED) {
            bool map = wire_field_is_map(desc, f);
            if (map)
                normalize_map(m, f);
            size_t n = *(size_t *)(base + f->quantifier_offset);
            ProtobufCMessage **arr = *(ProtobufCMessage ***)(base + f->offset);
            for (size_t k = 0; k < n; k++) {
                path_push(nz, f->name, (long)k);
                /* C++ reads a map entry without its value as the value
                 * type's empty instance, which lacks its required fields. */
                const ProtobufCFieldDescriptor *vf = &((const ProtobufCMessageDescriptor *)f->descriptor)->fields[1];
                if (map && vf->type == PROTOBUF_C_TYPE_MESSAGE &&
                    *(ProtobufCMessage **)((char *)arr[k] + vf->offset) == NULL &&
                    has_required_fields(vf->descriptor)) {
                    snprintf(nz->why, sizeof(nz->why),
                             "is a map entry without its value, which has required fields");
                    return -EINVAL;
                }
                if (normalize_message(arr[k], nz) < 0)
                    return -EINVAL;
                path_pop(nz, mark);
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *sub = *(ProtobufCMessage **)(base + f->offset);
            if (sub == NULL)
                continue;
            path_push(nz, f->name, -1);
            if (normalize_message(sub, nz) < 0)
                return -EINVAL;
            path_pop(nz, mark);
        }
    }
    return 0;
}

ProtobufCMessage *wire_decode(const ProtobufCMessageDescriptor *desc, enum wire_format f,
                              const void *data, size_t len, struct error *err)
{
    static const uint8_t empty[1];
    ProtobufCMessage *msg;

    switch (f) {
    case WIRE_JSON:
        return wire_json_decode(desc, data, len, err);
    case WIRE_PROTOBUF:
        if (data == NULL)
            data = empty;
        if (too_deep(desc, data, len, 0)) {
            error_set(err, -EINVAL, "protobuf %s: messages nested deeper than %d levels",
                      desc->name, WIRE_JSON_MAX_DEPTH);
            return NULL;
        }
        /* protobuf-c checks required fields itself (except those that
         * declare a default) but does not say what failed. */
        msg = protobuf_c_message_unpack(desc, NULL, len, data);
        if (msg == NULL) {
            error_set(err, -EINVAL,
                      "failed to parse the body as a protobuf %s message "
                      "(malformed, or missing required fields)",
                      desc->name);
            return NULL;
        }
        struct normalize nz;
        nz.depth = 0;
        if (normalize_message(msg, &nz) < 0) {
            struct buf path = BUF_INIT;
            path_format(&nz, &path);
            error_set(err, -EINVAL, "failed to parse the body as a protobuf %s message: "
                      "field '%s' %s", desc->name, buf_cstr(&path), nz.why);
            buf_free(&path);
            protobuf_c_message_free_unpacked(msg, NULL);
            msg = NULL;
        }
        return msg;
    }
    error_set(err, -EINVAL, "unsupported wire format %d", (int)f);
    return NULL;
}

void wire_encode(const ProtobufCMessage *msg, enum wire_format f, struct buf *out)
{
    switch (f) {
    case WIRE_JSON:
        wire_json_encode(msg, out);
        return;
    case WIRE_PROTOBUF: {
        size_t n = protobuf_c_message_get_packed_size(msg);
        buf_reserve(out, n);
        protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
        out->len += n;
        out->data[out->len] = '\0';
        return;
    }
    }
}
