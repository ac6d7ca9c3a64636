/* JSON <-> protobuf-c messages by Mesos's mapping (stout's protobuf.hpp and
 * jsonify), driven only by descriptors. Encoding writes text straight into a
 * struct buf because it runs for every API response; decoding walks a
 * jansson tree. HTTP framing and content negotiation live in codec.c. */
#include "wire/json.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "wire/base64.h"

/* ---- output primitives ----------------------------------------------------
 * The encoder appends through these inline helpers and terminates the buffer
 * once at the end, instead of paying buf_append's bookkeeping per token. */

static inline void out_reserve(struct buf *b, size_t n)
{
    if (b->len + n + 1 > b->cap)
        buf_reserve(b, n);
}

static inline void out_raw(struct buf *b, const char *s, size_t n)
{
    out_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static inline void out_char(struct buf *b, char c)
{
    out_reserve(b, 1);
    b->data[b->len++] = c;
}

static inline void out_terminate(struct buf *b)
{
    out_reserve(b, 0);
    b->data[b->len] = '\0';
}

/* ---- numbers --------------------------------------------------------------- */

/* Decimal digits of v; p must hold 20 bytes. Returns the length. */
static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_i64(char *p, int64_t v)
{
    if (v < 0) {
        p[0] = '-';
        return 1 + fmt_u64(p + 1, (uint64_t)0 - (uint64_t)v);
    }
    return fmt_u64(p, (uint64_t)v);
}

#define REAL_MAX_LEN 32

/* Mesos writes doubles with rapidjson: the shortest digits that read back as
 * the same value, laid out by rapidjson's Prettify (2.0, 0.001, 1e21,
 * 1.5e-7), and non-finite values as the bare tokens Infinity, -Infinity and
 * NaN (kWriteNanAndInfFlag). A float gets the shortest digits that read back
 * as the same float, so 0.1f prints as 0.1. out holds REAL_MAX_LEN bytes. */
static size_t fmt_real(char *out, double d, bool single)
{
    char *p = out;
    if (isnan(d)) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (signbit(d)) {
        *p++ = '-';
        d = -d;
    }
    if (isinf(d)) {
        memcpy(p, "Infinity", 8);
        return (size_t)(p - out) + 8;
    }
    if (d == 0) {
        memcpy(p, "0.0", 3);
        return (size_t)(p - out) + 3;
    }
    /* Integral values below 2^53 (2^24 for floats) are their own shortest
     * form; they are most of what Mesos sends (cpus 2.0, mem 1024.0). */
    if (d < (single ? 16777216.0 : 9007199254740992.0) && d == (double)(uint64_t)d) {
        p += fmt_u64(p, (uint64_t)d);
        memcpy(p, ".0", 2);
        return (size_t)(p - out) + 2;
    }

    /* For normal numbers, decimals with DBL_DIG (FLT_DIG) significant digits
     * lie further apart than the values' ulp, so the nearest such decimal is
     * the shortest round-trip form whenever one that short exists; otherwise
     * the nearest with one or two more digits is. Subnormals carry fewer
     * bits, so their search starts at one digit. */
    char sci[40];
    int prec = single ? 6 : 15, last = single ? 9 : 17;
    if (d < (single ? FLT_MIN : DBL_MIN))
        prec = 1;
    for (;; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
        if (prec == last)
            break;
        if (single ? strtof(sci, NULL) == (float)d : strtod(sci, NULL) == d)
            break;
    }
    /* sci is "D.DDDDe[+-]XX" */
    char digits[20];
    int nd = 0;
    const char *s = sci;
    digits[nd++] = *s++;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits[nd++] = *s;
    int exp10 = atoi(s + 1); /* skips the 'e' */
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;

    int kk = exp10 + 1; /* position of the decimal point */
    int k = kk - nd;    /* value = digits * 10^k */
    if (k >= 0 && kk <= 21) {
        memcpy(p, digits, (size_t)nd);
        p += nd;
        memset(p, '0', (size_t)k);
        p += k;
        memcpy(p, ".0", 2);
        p += 2;
    } else if (kk > 0 && kk <= 21) {
        memcpy(p, digits, (size_t)kk);
        p += kk;
        *p++ = '.';
        memcpy(p, digits + kk, (size_t)(nd - kk));
        p += nd - kk;
    } else if (kk > -6 && kk <= 0) {
        *p++ = '0';
        *p++ = '.';
        memset(p, '0', (size_t)-kk);
        p += -kk;
        memcpy(p, digits, (size_t)nd);
        p += nd;
    } else {
        *p++ = digits[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)(nd - 1));
            p += nd - 1;
        }
        *p++ = 'e';
        int e = kk - 1;
        if (e < 0) {
            *p++ = '-';
            e = -e;
        }
        p += fmt_u64(p, (uint64_t)e);
    }
    return (size_t)(p - out);
}

/* ---- strings ------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) at s, or 0 if there is none. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        return avail >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

/* Writes s as a JSON string. protobuf strings are not validated by protobuf-c
 * and Mesos passes bytes through, which can make its output invalid JSON;
 * here each byte that does not start a well-formed UTF-8 sequence becomes
 * U+FFFD, so the output always parses. */
static void write_string(struct buf *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t start = 0, i = 0;

    out_reserve(b, len + 2);
    b->data[b->len++] = '"';
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq_len(s + i, len - i);
            if (n > 0) {
                i += n;
                continue;
            }
        }
        out_raw(b, str + start, i - start);
        switch (c) {
        case '"': out_raw(b, "\\\"", 2); break;
        case '\\': out_raw(b, "\\\\", 2); break;
        case '\b': out_raw(b, "\\b", 2); break;
        case '\f': out_raw(b, "\\f", 2); break;
        case '\n': out_raw(b, "\\n", 2); break;
        case '\r': out_raw(b, "\\r", 2); break;
        case '\t': out_raw(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                out_raw(b, u, 6);
            } else {
                out_raw(b, "\xef\xbf\xbd", 3);
            }
        }
        start = ++i;
    }
    out_raw(b, str + start, i - start);
    out_char(b, '"');
}

/* A copy of s with every byte that does not start a well-formed UTF-8
 * sequence replaced by U+FFFD (for jansson, which refuses invalid UTF-8). */
static char *utf8_sanitize(const char *str, size_t len, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)str;
    struct buf b = BUF_INIT;
    size_t start = 0, i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq_len(s + i, len - i);
        if (n > 0) {
            i += n;
            continue;
        }
        buf_append(&b, str + start, i - start);
        buf_append(&b, "\xef\xbf\xbd", 3);
        start = ++i;
    }
    buf_append(&b, str + start, i - start);
    *out_len = b.len;
    return buf_steal(&b);
}

/* ---- descriptors ----------------------------------------------------------- */

static const char *const type_names[] = {
    [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
    [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
    [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
    [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
    [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
    [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_ENUM] = "enum",
    [PROTOBUF_C_TYPE_STRING] = "string",     [PROTOBUF_C_TYPE_BYTES] = "bytes",
    [PROTOBUF_C_TYPE_MESSAGE] = "message",
};

/* Size of one value of the field's type in a message or repeated array. */
static size_t value_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

static bool is_oneof(const ProtobufCFieldDescriptor *f)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

static bool is_zeroish(const ProtobufCFieldDescriptor *f, const void *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)v;
        return s == NULL || *s == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)v)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)v == NULL;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)v == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)v == 0;
    default:
        if (value_size(f->type) == 8)
            return *(const uint64_t *)v == 0;
        return *(const uint32_t *)v == 0;
    }
}

/* Whether a non-repeated field holds a value, by protobuf-c's own rules (the
 * ones protobuf_c_message_pack applies): a string or message set to its
 * default pointer is unset, other optional fields have a has_ flag, a oneof
 * member is set when the case names it. */
static bool field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *member = CMEMBER(m, f->offset);
    bool pointer = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;

    if (is_oneof(f)) {
        if (*(const uint32_t *)CMEMBER(m, f->quantifier_offset) != f->id)
            return false;
        if (pointer) {
            const void *ptr = *(const void *const *)member;
            return ptr != NULL && ptr != f->default_value;
        }
        return true;
    }
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return true;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (pointer) {
            const void *ptr = *(const void *const *)member;
            return ptr != NULL && ptr != f->default_value;
        }
        return *(const protobuf_c_boolean *)CMEMBER(m, f->quantifier_offset) != 0;
    case PROTOBUF_C_LABEL_NONE:
        return !is_zeroish(f, member);
    default:
        return false;
    }
}

/* Where to read a non-repeated field's value for output: the member when set,
 * the declared default when the field has one and is not deprecated (Mesos
 * emits those: Filters.refuse_seconds 5.0, CommandInfo.shell true), else NULL.
 * A string default is the string itself, not a pointer to a char *, so its
 * descriptor slot is returned instead. */
static const void *field_output_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (field_is_set(m, f))
        return CMEMBER(m, f->offset);
    if (f->default_value == NULL || (f->flags & PROTOBUF_C_FIELD_FLAG_DEPRECATED))
        return NULL;
    if (f->type == PROTOBUF_C_TYPE_STRING)
        return &f->default_value;
    return f->default_value;
}

static const ProtobufCEnumValue *enum_value(const ProtobufCFieldDescriptor *f, int v)
{
    return protobuf_c_enum_descriptor_get_value(f->descriptor, v);
}

bool wire_field_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    if (d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2 ||
        strcmp(d->fields[0].name, "key") != 0 || strcmp(d->fields[1].name, "value") != 0)
        return false;
    /* protoc names the entry type of map field "foo_bar" FooBarEntry and
     * nests it in the message holding the field (MapEntryName()). */
    const char *s = d->short_name;
    bool cap = true;
    for (const char *n = f->name; *n != '\0'; n++) {
        if (*n == '_') {
            cap = true;
            continue;
        }
        char want = cap && *n >= 'a' && *n <= 'z' ? (char)(*n - 'a' + 'A') : *n;
        if (*s++ != want)
            return false;
        cap = false;
    }
    if (strcmp(s, "Entry") != 0)
        return false;
    size_t plen = strlen(parent->name);
    return strncmp(d->name, parent->name, plen) == 0 && d->name[plen] == '.' &&
           strcmp(d->name + plen + 1, d->short_name) == 0;
}

/* ---- encoding to text ------------------------------------------------------ */

static void encode_message(const ProtobufCMessage *m, struct buf *b);

static void write_key(struct buf *b, const char *name, bool *first)
{
    size_t n = strlen(name);
    out_reserve(b, n + 4);
    char *p = b->data + b->len;
    if (!*first)
        *p++ = ',';
    *first = false;
    *p++ = '"';
    memcpy(p, name, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    b->len = (size_t)(p - b->data);
}

/* Writes one value of field f stored at v (a member, an array element or a
 * default). */
static void write_value(struct buf *b, const ProtobufCFieldDescriptor *f, const void *v)
{
    char num[REAL_MAX_LEN];
    size_t n;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        n = fmt_i64(num, *(const int32_t *)v);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        n = fmt_i64(num, *(const int64_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        n = fmt_u64(num, *(const uint32_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        n = fmt_u64(num, *(const uint64_t *)v);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        n = fmt_real(num, *(const float *)v, true);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        n = fmt_real(num, *(const double *)v, false);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (*(const protobuf_c_boolean *)v)
            out_raw(b, "true", 4);
        else
            out_raw(b, "false", 5);
        return;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = enum_value(f, *(const int *)v);
        if (ev != NULL) {
            size_t len = strlen(ev->name);
            out_reserve(b, len + 2);
            b->data[b->len++] = '"';
            memcpy(b->data + b->len, ev->name, len);
            b->len += len;
            b->data[b->len++] = '"';
            return;
        }
        /* Only a required field gets here with a value its enum lacks. */
        n = fmt_i64(num, *(const int *)v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)v;
        if (s == NULL)
            out_raw(b, "\"\"", 2);
        else
            write_string(b, s, strlen(s));
        return;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = v;
        out_char(b, '"');
        base64_encode(b, bd->data, bd->len);
        out_char(b, '"');
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;
        if (sub == NULL)
            out_raw(b, "{}", 2);
        else
            encode_message(sub, b);
        return;
    }
    default:
        out_raw(b, "null", 4);
        return;
    }
    out_raw(b, num, n);
}

/* A map key as a JSON object key: strings as they are, integers and bools
 * in their JSON text (Mesos's jsonify), always quoted. */
static void write_map_key(struct buf *b, const ProtobufCFieldDescriptor *kf, const void *v)
{
    if (kf->type == PROTOBUF_C_TYPE_STRING) {
        write_value(b, kf, v);
        return;
    }
    out_char(b, '"');
    write_value(b, kf, v);
    out_char(b, '"');
}

/* Mesos writes a map<K, V> field as a JSON object, not as the repeated
 * entries that protobuf-c (and the wire format) hold. An entry's value is
 * written even when unset, as C++ reads the default then. */
static void encode_map(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                       struct buf *b, bool *first)
{
    size_t count = *(const size_t *)CMEMBER(m, f->quantifier_offset);
    const ProtobufCMessage *const *arr = *(const ProtobufCMessage *const *const *)CMEMBER(m, f->offset);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];

    if (count == 0 || arr == NULL)
        return;
    write_key(b, f->name, first);
    out_char(b, '{');
    bool efirst = true;
    for (size_t i = 0; i < count; i++) {
        if (arr[i] == NULL)
            continue;
        if (!efirst)
            out_char(b, ',');
        efirst = false;
        write_map_key(b, kf, CMEMBER(arr[i], kf->offset));
        out_char(b, ':');
        write_value(b, vf, CMEMBER(arr[i], vf->offset));
    }
    out_char(b, '}');
}

static void encode_repeated(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                            struct buf *b, bool *first)
{
    size_t count = *(const size_t *)CMEMBER(m, f->quantifier_offset);
    const char *arr = *(const char *const *)CMEMBER(m, f->offset);
    size_t size = value_size(f->type);
    bool is_enum = f->type == PROTOBUF_C_TYPE_ENUM;

    if (count == 0 || arr == NULL)
        return;
    if (is_enum) {
        /* Values the enum lacks would be unknown fields in C++ (proto2), so
         * they are not written; nor is a field left with none. */
        size_t known = 0;
        for (size_t i = 0; i < count; i++)
            known += enum_value(f, *(const int *)(arr + i * size)) != NULL;
        if (known == 0)
            return;
    }
    write_key(b, f->name, first);
    out_char(b, '[');
    bool efirst = true;
    for (size_t i = 0; i < count; i++) {
        const void *v = arr + i * size;
        if (is_enum && enum_value(f, *(const int *)v) == NULL)
            continue;
        if (!efirst)
            out_char(b, ',');
        efirst = false;
        write_value(b, f, v);
    }
    out_char(b, ']');
}

static void encode_message(const ProtobufCMessage *m, struct buf *b)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    bool first = true;

    out_char(b, '{');
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (wire_field_is_map(desc, f))
                encode_map(m, f, b, &first);
            else
                encode_repeated(m, f, b, &first);
            continue;
        }
        const void *v = field_output_value(m, f);
        if (v == NULL)
            continue;
        /* An optional enum holding a value its enum lacks is unset in C++. */
        if (f->type == PROTOBUF_C_TYPE_ENUM && f->label != PROTOBUF_C_LABEL_REQUIRED &&
            enum_value(f, *(const int *)v) == NULL)
            continue;
        write_key(b, f->name, &first);
        write_value(b, f, v);
    }
    out_char(b, '}');
}

void wire_json_encode(const ProtobufCMessage *msg, struct buf *out)
{
    encode_message(msg, out);
    out_terminate(out);
}

/* ---- encoding to a jansson tree -------------------------------------------- */

static json_t *string_to_json(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j == NULL) {
        size_t clean_len;
        char *clean = utf8_sanitize(s, len, &clean_len);
        j = json_stringn_nocheck(clean, clean_len);
        free(clean);
    }
    return j;
}

static json_t *real_to_json(double d, bool single)
{
    if (!isfinite(d))
        return json_string(isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity");
    if (single) {
        char num[REAL_MAX_LEN + 1];
        size_t n = fmt_real(num, d, true);
        num[n] = '\0';
        d = strtod(num, NULL);
    }
    return json_real(d);
}

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *v);

static json_t *map_to_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    size_t count = *(const size_t *)CMEMBER(m, f->quantifier_offset);
    const ProtobufCMessage *const *arr = *(const ProtobufCMessage *const *const *)CMEMBER(m, f->offset);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];

    if (count == 0 || arr == NULL)
        return NULL;
    json_t *obj = json_object();
    struct buf key = BUF_INIT;
    for (size_t i = 0; i < count; i++) {
        if (arr[i] == NULL)
            continue;
        buf_reset(&key);
        const void *kv = CMEMBER(arr[i], kf->offset);
        if (kf->type == PROTOBUF_C_TYPE_STRING) {
            const char *ks = *(const char *const *)kv;
            size_t clean_len;
            char *clean = utf8_sanitize(ks ? ks : "", ks ? strlen(ks) : 0, &clean_len);
            buf_append_str(&key, clean);
            free(clean);
        } else {
            write_value(&key, kf, kv);
            out_terminate(&key);
        }
        json_object_set_new(obj, buf_cstr(&key), value_to_json(vf, CMEMBER(arr[i], vf->offset)));
    }
    buf_free(&key);
    return obj;
}

static json_t *message_to_json(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    json_t *obj = json_object();

    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        json_t *j = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED && wire_field_is_map(desc, f)) {
            j = map_to_json(m, f);
            if (j == NULL)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)CMEMBER(m, f->quantifier_offset);
            const char *arr = *(const char *const *)CMEMBER(m, f->offset);
            if (count == 0 || arr == NULL)
                continue;
            size_t size = value_size(f->type);
            j = json_array();
            for (size_t k = 0; k < count; k++) {
                const void *v = arr + k * size;
                if (f->type == PROTOBUF_C_TYPE_ENUM && enum_value(f, *(const int *)v) == NULL)
                    continue;
                json_array_append_new(j, value_to_json(f, v));
            }
            if (json_array_size(j) == 0) {
                json_decref(j);
                continue;
            }
        } else {
            const void *v = field_output_value(m, f);
            if (v == NULL)
                continue;
            if (f->type == PROTOBUF_C_TYPE_ENUM && f->label != PROTOBUF_C_LABEL_REQUIRED &&
                enum_value(f, *(const int *)v) == NULL)
                continue;
            j = value_to_json(f, v);
        }
        json_object_set_new_nocheck(obj, f->name, j);
    }
    return obj;
}

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)v);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)v);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)v);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)v;
        if (u <= INT64_MAX)
            return json_integer((json_int_t)u);
        char num[21];
        num[fmt_u64(num, u)] = '\0';
        return json_string(num);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return real_to_json(*(const float *)v, true);
    case PROTOBUF_C_TYPE_DOUBLE:
        return real_to_json(*(const double *)v, false);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)v);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = enum_value(f, *(const int *)v);
        return ev ? json_string(ev->name) : json_integer(*(const int *)v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)v;
        return s ? string_to_json(s, strlen(s)) : json_string("");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = v;
        struct buf b = BUF_INIT;
        base64_encode(&b, bd->data, bd->len);
        json_t *j = json_stringn_nocheck(buf_cstr(&b), b.len);
        buf_free(&b);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;
        return sub ? message_to_json(sub) : json_object();
    }
    }
    return json_null();
}

json_t *wire_json_from_message(const ProtobufCMessage *msg)
{
    return message_to_json(msg);
}

/* ---- dumping a jansson tree ------------------------------------------------ */

static void dump_value(const json_t *v, struct buf *b)
{
    char num[REAL_MAX_LEN];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        bool first = true;
        out_char(b, '{');
        json_object_foreach((json_t *)v, key, val) {
            if (!first)
                out_char(b, ',');
            first = false;
            write_string(b, key, strlen(key));
            out_char(b, ':');
            dump_value(val, b);
        }
        out_char(b, '}');
        break;
    }
    case JSON_ARRAY: {
        out_char(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                out_char(b, ',');
            dump_value(json_array_get(v, i), b);
        }
        out_char(b, ']');
        break;
    }
    case JSON_STRING:
        write_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        out_raw(b, num, fmt_i64(num, json_integer_value(v)));
        break;
    case JSON_REAL:
        out_raw(b, num, fmt_real(num, json_real_value(v), false));
        break;
    case JSON_TRUE:
        out_raw(b, "true", 4);
        break;
    case JSON_FALSE:
        out_raw(b, "false", 5);
        break;
    case JSON_NULL:
        out_raw(b, "null", 4);
        break;
    }
}

void wire_json_dump(const json_t *value, struct buf *out)
{
    if (value == NULL)
        out_raw(out, "null", 4);
    else
        dump_value(value, out);
    out_terminate(out);
}

/* ---- decoding -------------------------------------------------------------- */

/* The path to the value being decoded, kept as frames and only turned into
 * text ("a.b[2].c") when an error needs it. */
struct frame {
    const char *name;
    long index;      /* element of a repeated field, or -1 */
    const char *key; /* entry of a map field, or NULL */
};

struct decoder {
    struct error *err;
    struct frame path[WIRE_JSON_MAX_DEPTH + 2];
    int depth;          /* frames in use */
    struct buf missing; /* "a.b, c, " : required fields not given */
};

static void path_format(const struct decoder *dec, struct buf *out)
{
    for (int i = 0; i < dec->depth; i++) {
        if (i > 0)
            buf_append_char(out, '.');
        buf_append_str(out, dec->path[i].name);
        if (dec->path[i].index >= 0)
            buf_printf(out, "[%ld]", dec->path[i].index);
        if (dec->path[i].key != NULL)
            buf_printf(out, "[%s]", dec->path[i].key);
    }
}

/* The path for an error message: a very deep one loses its middle, so the
 * message still fits struct error and ends with what went wrong. */
#define PATH_SHOWN_HEAD 100
#define PATH_SHOWN_TAIL 140
static void path_for_error(const struct decoder *dec, struct buf *out)
{
    path_format(dec, out);
    if (out->len > PATH_SHOWN_HEAD + PATH_SHOWN_TAIL + 3) {
        memcpy(out->data + PATH_SHOWN_HEAD, "...", 3);
        memmove(out->data + PATH_SHOWN_HEAD + 3, out->data + out->len - PATH_SHOWN_TAIL,
                PATH_SHOWN_TAIL);
        out->len = PATH_SHOWN_HEAD + 3 + PATH_SHOWN_TAIL;
        out->data[out->len] = '\0';
    }
}

/* "field 'a.b': <message>" */
static int fail(struct decoder *dec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct decoder *dec, const char *fmt, ...)
{
    struct buf path = BUF_INIT;
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    path_for_error(dec, &path);
    error_set(dec->err, -EINVAL, "field '%s': %s", buf_cstr(&path), msg);
    buf_free(&path);
    return -EINVAL;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Mesos's wording for a structural mismatch, with the full path. */
static int not_expecting(struct decoder *dec, const char *kind)
{
    struct buf path = BUF_INIT;
    path_for_error(dec, &path);
    error_set(dec->err, -EINVAL, "Not expecting a JSON %s for field '%s'", kind, buf_cstr(&path));
    buf_free(&path);
    return -EINVAL;
}

static int type_error(struct decoder *dec, const char *expected, const json_t *v)
{
    return fail(dec, "expected %s, got %s", expected, json_kind(v));
}

/* A JSON value seen as a number: an integer keeps its exact magnitude (up to
 * 2^64 - 1, for uint64 fields given as quoted strings), a real its double. */
struct number {
    bool is_int;
    bool neg;
    bool overflow; /* integer beyond 64 bits */
    uint64_t mag;
    double real;
    const json_t *src;
};

/* Parses text with the JSON number grammar (what Mesos accepts inside
 * quotes); returns false if it is not one. */
static bool parse_number_text(const char *s, size_t len, struct number *n)
{
    size_t i = 0;
    bool frac = false;

    n->neg = false;
    n->overflow = false;
    n->mag = 0;
    if (i < len && s[i] == '-') {
        n->neg = true;
        i++;
    }
    if (i < len && s[i] == '0') {
        i++;
    } else if (i < len && s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned)(s[i] - '0');
            if (n->mag > (UINT64_MAX - d) / 10)
                n->overflow = true;
            else
                n->mag = n->mag * 10 + d;
            i++;
        }
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        frac = true;
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return false;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        frac = true;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return false;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i != len)
        return false;
    n->is_int = !frac;
    /* jansson strings are NUL-terminated and the grammar consumed all of s. */
    n->real = strtod(s, NULL);
    return true;
}

static void number_text(const struct number *n, char *out, size_t cap)
{
    if (json_is_string(n->src))
        snprintf(out, cap, "'%.60s'", json_string_value(n->src));
    else if (json_is_integer(n->src))
        snprintf(out, cap, "%lld", (long long)json_integer_value(n->src));
    else
        snprintf(out, cap, "%.17g", n->real);
}

static int get_number(struct decoder *dec, const ProtobufCFieldDescriptor *f, const json_t *v,
                      struct number *n)
{
    n->src = v;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        n->is_int = true;
        n->neg = i < 0;
        n->overflow = false;
        n->mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        n->real = (double)i;
        return 0;
    }
    if (json_is_real(v)) {
        n->is_int = false;
        n->neg = json_real_value(v) < 0;
        n->overflow = false;
        n->mag = 0;
        n->real = json_real_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        if (!parse_number_text(json_string_value(v), json_string_length(v), n))
            return fail(dec, "expected %s, got the string '%.60s'", "a number",
                        json_string_value(v));
        return 0;
    }
    return type_error(dec, "a number", v);
}

static int range_error(struct decoder *dec, const ProtobufCFieldDescriptor *f,
                       const struct number *n)
{
    char text[80];
    number_text(n, text, sizeof(text));
    return fail(dec, "value %s is out of range for %s", text, type_names[f->type]);
}

static int integral_real(struct decoder *dec, const struct number *n)
{
    if (isfinite(n->real) && n->real == trunc(n->real))
        return 0;
    char text[80];
    number_text(n, text, sizeof(text));
    return fail(dec, "expected an integer, got %s", text);
}

static int to_signed(struct decoder *dec, const ProtobufCFieldDescriptor *f,
                     const struct number *n, int64_t min, int64_t max, int64_t *out)
{
    if (n->is_int) {
        if (n->overflow)
            return range_error(dec, f, n);
        if (n->neg) {
            if (n->mag > (uint64_t)0 - (uint64_t)min)
                return range_error(dec, f, n);
            *out = n->mag == 0 ? 0 : -(int64_t)(n->mag - 1) - 1;
        } else {
            if (n->mag > (uint64_t)max)
                return range_error(dec, f, n);
            *out = (int64_t)n->mag;
        }
        return 0;
    }
    if (integral_real(dec, n) < 0)
        return -EINVAL;
    /* (double)max + 1.0 is exactly 2^31 or 2^63. */
    if (n->real < (double)min || n->real >= (double)max + 1.0)
        return range_error(dec, f, n);
    *out = (int64_t)n->real;
    return 0;
}

static int to_unsigned(struct decoder *dec, const ProtobufCFieldDescriptor *f,
                       const struct number *n, uint64_t max, uint64_t *out)
{
    if (n->is_int) {
        if (n->overflow || (n->neg && n->mag != 0) || n->mag > max)
            return range_error(dec, f, n);
        *out = n->mag;
        return 0;
    }
    if (integral_real(dec, n) < 0)
        return -EINVAL;
    /* (double)max + 1.0 is exactly 2^32 or 2^64. */
    if (n->real < 0 || n->real >= (double)max + 1.0)
        return range_error(dec, f, n);
    *out = (uint64_t)n->real;
    return 0;
}

/* The value of a floating-point field: numbers, numbers in strings, and the
 * names Mesos uses for non-finite values. */
static int to_real(struct decoder *dec, const ProtobufCFieldDescriptor *f, const json_t *v,
                   double *out)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "Infinity") == 0) {
            *out = INFINITY;
            return 0;
        }
        if (strcmp(s, "-Infinity") == 0) {
            *out = -INFINITY;
            return 0;
        }
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
    }
    struct number n;
    if (get_number(dec, f, v, &n) < 0)
        return -EINVAL;
    if (isinf(n.real))
        return range_error(dec, f, &n);
    /* Below 2^128 - 2^103 a double rounds to at most FLT_MAX. */
    if (f->type == PROTOBUF_C_TYPE_FLOAT && fabs(n.real) >= 0x1.ffffffp127)
        return range_error(dec, f, &n);
    *out = n.real;
    return 0;
}

union value {
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    float f;
    double d;
    protobuf_c_boolean b;
    int e;
    char *s;
    ProtobufCBinaryData bytes;
};

enum { VALUE_SET = 0, VALUE_SKIPPED = 1 };

/* Decodes a JSON value for a non-message field into *out. Returns VALUE_SET,
 * VALUE_SKIPPED (an unknown enum name for a field that is not required), or
 * a negative code with the error filled. */
static int decode_scalar(struct decoder *dec, const ProtobufCFieldDescriptor *f,
                         const json_t *v, union value *out)
{
    struct number n;
    int64_t i;
    uint64_t u;
    double d;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (get_number(dec, f, v, &n) < 0 || to_signed(dec, f, &n, INT32_MIN, INT32_MAX, &i) < 0)
            return -EINVAL;
        out->i32 = (int32_t)i;
        return VALUE_SET;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (get_number(dec, f, v, &n) < 0 || to_signed(dec, f, &n, INT64_MIN, INT64_MAX, &i) < 0)
            return -EINVAL;
        out->i64 = i;
        return VALUE_SET;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (get_number(dec, f, v, &n) < 0 || to_unsigned(dec, f, &n, UINT32_MAX, &u) < 0)
            return -EINVAL;
        out->u32 = (uint32_t)u;
        return VALUE_SET;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (get_number(dec, f, v, &n) < 0 || to_unsigned(dec, f, &n, UINT64_MAX, &u) < 0)
            return -EINVAL;
        out->u64 = u;
        return VALUE_SET;
    case PROTOBUF_C_TYPE_FLOAT:
        if (to_real(dec, f, v, &d) < 0)
            return -EINVAL;
        out->f = (float)d;
        return VALUE_SET;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (to_real(dec, f, v, &d) < 0)
            return -EINVAL;
        out->d = d;
        return VALUE_SET;
    case PROTOBUF_C_TYPE_BOOL:
        if (json_is_boolean(v)) {
            out->b = json_is_true(v);
            return VALUE_SET;
        }
        if (json_is_string(v)) {
            if (strcmp(json_string_value(v), "true") == 0) {
                out->b = 1;
                return VALUE_SET;
            }
            if (strcmp(json_string_value(v), "false") == 0) {
                out->b = 0;
                return VALUE_SET;
            }
            return fail(dec, "expected a boolean, got the string '%.60s'", json_string_value(v));
        }
        return type_error(dec, "a boolean", v);
    case PROTOBUF_C_TYPE_ENUM: {
        if (!json_is_string(v))
            return type_error(dec, "a string (an enum value name)", v);
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        if (ev == NULL) {
            /* proto2, as Mesos: an unknown name leaves an optional field
             * unset and is dropped from a repeated one (a newer peer may
             * know more values); only a required field cannot do without. */
            if (f->label != PROTOBUF_C_LABEL_REQUIRED)
                return VALUE_SKIPPED;
            return fail(dec, "unknown value '%.60s' for enum %s", json_string_value(v), ed->name);
        }
        out->e = ev->value;
        return VALUE_SET;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(v))
            return type_error(dec, "a string", v);
        out->s = xmemdup(json_string_value(v), json_string_length(v) + 1);
        return VALUE_SET;
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            return type_error(dec, "a base64 string", v);
        struct error berr = {0};
        uint8_t *data;
        size_t len;
        if (base64_decode(json_string_value(v), json_string_length(v), &data, &len, &berr) < 0)
            return fail(dec, "%s", berr.msg);
        out->bytes.data = data;
        out->bytes.len = len;
        return VALUE_SET;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    return fail(dec, "unsupported field type");
}

/* Frees what a non-repeated field owns and marks it unset; for a oneof,
 * whichever member is selected (they share storage). */
static void clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const ProtobufCFieldDescriptor *held = f;

    if (is_oneof(f)) {
        uint32_t *which = MEMBER(m, f->quantifier_offset);
        if (*which == 0)
            return;
        held = protobuf_c_message_descriptor_get_field(m->descriptor, *which);
        *which = 0;
        if (held == NULL)
            return;
    }
    void *member = MEMBER(m, held->offset);
    switch (held->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char **s = member;
        if (*s != NULL && *s != held->default_value && *s != protobuf_c_empty_string)
            free(*s);
        *s = (char *)held->default_value;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = member;
        const ProtobufCBinaryData *def = held->default_value;
        if (bd->data != NULL && (def == NULL || bd->data != def->data))
            free(bd->data);
        if (def != NULL)
            *bd = *def;
        else
            bd->data = NULL, bd->len = 0;
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage **sub = member;
        if (*sub != NULL && *sub != held->default_value)
            protobuf_c_message_free_unpacked(*sub, NULL);
        *sub = NULL;
        break;
    }
    default:
        break;
    }
    if (!is_oneof(held) && held->label == PROTOBUF_C_LABEL_OPTIONAL &&
        held->type != PROTOBUF_C_TYPE_STRING && held->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)MEMBER(m, held->quantifier_offset) = 0;
}

/* Stores a decoded value (ownership passes to the message) and marks the
 * field set. */
static void commit_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                         const void *value)
{
    clear_field(m, f);
    memcpy(MEMBER(m, f->offset), value, value_size(f->type));
    if (is_oneof(f))
        *(uint32_t *)MEMBER(m, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)MEMBER(m, f->quantifier_offset) = 1;
}

static void clear_repeated(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    size_t *count = MEMBER(m, f->quantifier_offset);
    void **arr = MEMBER(m, f->offset);
    if (*arr != NULL) {
        for (size_t i = 0; i < *count; i++) {
            void *v = (char *)*arr + i * value_size(f->type);
            if (f->type == PROTOBUF_C_TYPE_STRING)
                free(*(char **)v);
            else if (f->type == PROTOBUF_C_TYPE_BYTES)
                free(((ProtobufCBinaryData *)v)->data);
            else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                protobuf_c_message_free_unpacked(*(ProtobufCMessage **)v, NULL);
        }
        free(*arr);
    }
    *arr = NULL;
    *count = 0;
}

static ProtobufCMessage *message_new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = xmalloc(desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

static int decode_object(struct decoder *dec, ProtobufCMessage *m, const json_t *obj);

/* The elements of a repeated field. The array belongs to the message from
 * the start and grows one committed element at a time, so an error midway
 * leaves a message that protobuf_c_message_free_unpacked can free. */
static int decode_repeated(struct decoder *dec, ProtobufCMessage *m,
                           const ProtobufCFieldDescriptor *f, const json_t *value)
{
    bool is_array = json_is_array(value);
    size_t total = is_array ? json_array_size(value) : 1;
    size_t size = value_size(f->type);
    size_t *count = MEMBER(m, f->quantifier_offset);
    char **arr = MEMBER(m, f->offset);
    struct frame *frame = &dec->path[dec->depth - 1];

    clear_repeated(m, f);
    if (total == 0)
        return 0;
    *arr = xmalloc(total * size);
    for (size_t i = 0; i < total; i++) {
        const json_t *el = is_array ? json_array_get(value, i) : value;
        if (is_array)
            frame->index = (long)i;
        if (json_is_null(el))
            continue;
        if (json_is_array(el))
            return not_expecting(dec, "array");
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (!json_is_object(el))
                return type_error(dec, "an object", el);
            ProtobufCMessage *sub = message_new(f->descriptor);
            memcpy(*arr + *count * size, &sub, size);
            (*count)++;
            int rc = decode_object(dec, sub, el);
            if (rc < 0)
                return rc;
            continue;
        }
        if (json_is_object(el))
            return not_expecting(dec, "object");
        union value v;
        int rc = decode_scalar(dec, f, el, &v);
        if (rc < 0)
            return rc;
        if (rc == VALUE_SKIPPED)
            continue;
        memcpy(*arr + *count * size, &v, size);
        (*count)++;
    }
    frame->index = -1;
    if (*count == 0) {
        free(*arr);
        *arr = NULL;
    }
    return 0;
}

static int decode_field(struct decoder *dec, ProtobufCMessage *m,
                        const ProtobufCFieldDescriptor *f, const json_t *value);

/* A map<K, V> field from a JSON object, one entry per key, as stout parses
 * it: the key text is read as a K (so "42" for an integer key), the value
 * as a V; null leaves a scalar value unset and makes a message value empty.
 * Errors name the entry as field[key]. */
static int decode_map(struct decoder *dec, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                      const json_t *value)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    size_t *count = MEMBER(m, f->quantifier_offset);
    ProtobufCMessage ***arr = MEMBER(m, f->offset);
    struct frame *frame = &dec->path[dec->depth - 1];
    const char *key;
    json_t *v;

    if (json_is_array(value))
        return not_expecting(dec, "array");
    if (!json_is_object(value))
        return type_error(dec, "an object (a map)", value);
    clear_repeated(m, f);
    if (json_object_size(value) == 0)
        return 0;
    *arr = xmalloc(json_object_size(value) * sizeof(**arr));
    json_object_foreach((json_t *)value, key, v) {
        frame->key = key;
        ProtobufCMessage *entry = message_new(ed);
        (*arr)[(*count)++] = entry;
        json_t *k = json_string(key);
        int rc = decode_field(dec, entry, kf, k);
        json_decref(k);
        if (rc < 0)
            return rc;
        if (json_is_null(v) && vf->type == PROTOBUF_C_TYPE_MESSAGE) {
            /* C++ reads it as the empty instance, which must still have
             * its required fields. */
            json_t *empty = json_object();
            rc = decode_field(dec, entry, vf, empty);
            json_decref(empty);
        } else if (!json_is_null(v)) {
            rc = decode_field(dec, entry, vf, v);
        }
        if (rc < 0)
            return rc;
    }
    frame->key = NULL;
    return 0;
}

/* Decodes one field's value. Returns 1 if the field is now set, 0 if the
 * value was dropped, or a negative code. */
static int decode_field(struct decoder *dec, ProtobufCMessage *m,
                        const ProtobufCFieldDescriptor *f, const json_t *value)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        int rc = wire_field_is_map(m->descriptor, f) ? decode_map(dec, m, f, value)
                                                      : decode_repeated(dec, m, f, value);
        return rc < 0 ? rc : 1;
    }
    if (json_is_array(value))
        return not_expecting(dec, "array");
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (!json_is_object(value))
            return type_error(dec, "an object", value);
        ProtobufCMessage *sub = message_new(f->descriptor);
        int rc = decode_object(dec, sub, value);
        if (rc < 0) {
            protobuf_c_message_free_unpacked(sub, NULL);
            return rc;
        }
        commit_field(m, f, &sub);
        return 1;
    }
    if (json_is_object(value))
        return not_expecting(dec, "object");
    union value v;
    int rc = decode_scalar(dec, f, value, &v);
    if (rc < 0)
        return rc;
    if (rc == VALUE_SKIPPED)
        return 0;
    commit_field(m, f, &v);
    return 1;
}

/* Adds the required fields of m that were not given to dec->missing, ahead
 * of those of its sub-messages (recorded from offset mark on), as C++'s
 * InitializationErrorString lists them. */
static void note_missing(struct decoder *dec, const ProtobufCMessageDescriptor *desc,
                         const uint64_t *seen, size_t mark)
{
    struct buf own = BUF_INIT;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REQUIRED || (seen[i / 64] >> (i % 64) & 1))
            continue;
        path_format(dec, &own);
        if (dec->depth > 0)
            buf_append_char(&own, '.');
        buf_append_str(&own, f->name);
        buf_append(&own, ", ", 2);
    }
    if (own.len > 0) {
        struct buf *b = &dec->missing;
        buf_reserve(b, own.len);
        memmove(b->data + mark + own.len, b->data + mark, b->len - mark);
        memcpy(b->data + mark, own.data, own.len);
        b->len += own.len;
        b->data[b->len] = '\0';
    }
    buf_free(&own);
}

static int decode_object(struct decoder *dec, ProtobufCMessage *m, const json_t *obj)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    uint64_t seen_small[8] = {0};
    uint64_t *seen = seen_small;
    size_t mark = dec->missing.len;
    const char *key;
    json_t *value;
    int rc = 0;

    if (dec->depth > WIRE_JSON_MAX_DEPTH)
        return fail(dec, "messages nested deeper than %d levels", WIRE_JSON_MAX_DEPTH);
    if (desc->n_fields > 64 * 8)
        seen = xcalloc((desc->n_fields + 63) / 64, sizeof(uint64_t));

    /* jansson's iteration API takes a non-const object but does not
     * modify it. */
    json_object_foreach((json_t *)obj, key, value) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(desc, key);
        if (f == NULL || json_is_null(value))
            continue;
        dec->path[dec->depth].name = f->name;
        dec->path[dec->depth].index = -1;
        dec->path[dec->depth].key = NULL;
        dec->depth++;
        rc = decode_field(dec, m, f, value);
        dec->depth--;
        if (rc < 0)
            goto out;
        if (rc > 0) {
            size_t i = (size_t)(f - desc->fields);
            seen[i / 64] |= (uint64_t)1 << (i % 64);
        }
    }
    rc = 0;
    note_missing(dec, desc, seen, mark);
out:
    if (seen != seen_small)
        free(seen);
    return rc;
}

ProtobufCMessage *wire_json_to_message(const ProtobufCMessageDescriptor *desc,
                                       const json_t *value, struct error *err)
{
    if (value == NULL || !json_is_object(value)) {
        error_set(err, -EINVAL, "expected a JSON object, got %s",
                  value ? json_kind(value) : "nothing");
        return NULL;
    }

    struct decoder dec = {.err = err, .depth = 0, .missing = BUF_INIT};
    ProtobufCMessage *m = message_new(desc);
    int rc = decode_object(&dec, m, value);
    if (rc == 0 && dec.missing.len > 0) {
        dec.missing.len -= 2; /* the last ", " */
        dec.missing.data[dec.missing.len] = '\0';
        rc = error_set(err, -EINVAL, "Missing required fields: %s", dec.missing.data);
    }
    buf_free(&dec.missing);
    if (rc < 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

/* Whether tok is an integer literal outside int64 (jansson refuses those). */
static bool is_big_integer(const char *tok, size_t len)
{
    size_t i = tok[0] == '-' ? 1 : 0;
    size_t digits = len - i;
    if (digits == 0)
        return false;
    for (size_t k = i; k < len; k++)
        if (tok[k] < '0' || tok[k] > '9')
            return false;
    if (digits != 19)
        return digits > 19;
    return memcmp(tok + i, i ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* jansson refuses two things Mesos peers send: the bare Infinity, -Infinity
 * and NaN tokens rapidjson writes (and wire_json_encode too), and integers
 * beyond int64 (uint64 fields). When a parse fails, quote those tokens and
 * try again; the field decoders accept numbers in strings. Returns NULL when
 * there was nothing to quote or it still does not parse. */
static json_t *load_lenient(const char *data, size_t len)
{
    struct buf b = BUF_INIT;
    bool changed = false;
    size_t i = 0, copied = 0;

    while (i < len) {
        char c = data[i];
        if (c == '"') {
            for (i++; i < len && data[i] != '"'; i++)
                if (data[i] == '\\')
                    i++;
            i++;
            continue;
        }
        bool word = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!word && c != '-') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && ((data[i] >= '0' && data[i] <= '9') || (data[i] >= 'a' && data[i] <= 'z') ||
                           (data[i] >= 'A' && data[i] <= 'Z') || data[i] == '-' ||
                           data[i] == '+' || data[i] == '.'))
            i++;
        size_t n = i - start;
        const char *tok = data + start;
        if ((n == 8 && memcmp(tok, "Infinity", 8) == 0) ||
            (n == 9 && memcmp(tok, "-Infinity", 9) == 0) || (n == 3 && memcmp(tok, "NaN", 3) == 0) ||
            is_big_integer(tok, n)) {
            buf_append(&b, data + copied, start - copied);
            buf_append_char(&b, '"');
            buf_append(&b, tok, n);
            buf_append_char(&b, '"');
            copied = i;
            changed = true;
        }
    }
    json_t *root = NULL;
    if (changed) {
        buf_append(&b, data + copied, len - copied);
        root = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    }
    buf_free(&b);
    return root;
}

ProtobufCMessage *wire_json_decode(const ProtobufCMessageDescriptor *desc, const char *data,
                                   size_t len, struct error *err)
{
    json_error_t jerr;
    if (data == NULL)
        data = "";
    json_t *root = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        root = load_lenient(data, len);
        if (root == NULL) {
            error_set(err, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
                      jerr.column, jerr.text);
            return NULL;
        }
    }
    ProtobufCMessage *m = wire_json_to_message(desc, root, err);
    json_decref(root);
    return m;
}
