/* Standard base64 with padding for JSON bytes fields. Decoding is as lenient
 * as Mesos's (whitespace, missing padding) but rejects what could only be
 * corruption (stray characters, data after the padding). */
#include "wire/base64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static const char alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Sextet value of each byte; 64 = whitespace, 65 = '=', 255 = invalid. */
enum { B64_SPACE = 64, B64_PAD = 65, B64_BAD = 255 };
static const uint8_t sextet[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255,  64,  64,  64,  64,  64, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
     64, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255,  65, 255, 255,
    255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
    255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

size_t base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

void base64_encode(struct buf *out, const void *data, size_t len)
{
    const uint8_t *in = data;
    size_t need = base64_encoded_len(len);
    buf_reserve(out, need);
    char *p = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        *p++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        *p++ = '=';
    }
    out->len += need;
    out->data[out->len] = '\0';
}

static int bad_char(struct error *err, unsigned char c, size_t at)
{
    if (c >= 0x20 && c < 0x7f)
        return error_set(err, -EINVAL, "invalid base64: unexpected character '%c' at offset %zu",
                         c, at);
    return error_set(err, -EINVAL, "invalid base64: unexpected byte 0x%02x at offset %zu", c, at);
}

int base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len,
                  struct error *err)
{
    const unsigned char *s = (const unsigned char *)text;
    uint8_t *res = NULL;
    size_t n = 0;       /* bytes written */
    size_t groups = 0;  /* sextets in the current quantum */
    size_t pads = 0;
    uint32_t acc = 0;

    *out = NULL;
    *out_len = 0;
    if (len == 0)
        return 0;
    res = xmalloc(len / 4 * 3 + 3);

    size_t i = 0;
    for (; i < len; i++) {
        uint8_t v = sextet[s[i]];
        if (v < 64) {
            acc = acc << 6 | v;
            if (++groups == 4) {
                res[n++] = (uint8_t)(acc >> 16);
                res[n++] = (uint8_t)(acc >> 8);
                res[n++] = (uint8_t)acc;
                groups = 0;
                acc = 0;
            }
        } else if (v == B64_SPACE) {
            continue;
        } else if (v == B64_PAD) {
            break;
        } else {
            bad_char(err, s[i], i);
            goto fail;
        }
    }

    /* Padding: only '=' and whitespace may follow, and exactly as many '='
     * as the last quantum lacks. */
    for (; i < len; i++) {
        uint8_t v = sextet[s[i]];
        if (v == B64_PAD) {
            pads++;
        } else if (v != B64_SPACE) {
            if (v < 64)
                error_set(err, -EINVAL, "invalid base64: data after padding at offset %zu", i);
            else
                bad_char(err, s[i], i);
            goto fail;
        }
    }
    if (groups == 1) {
        error_set(err, -EINVAL, "invalid base64: truncated input (a lone trailing character)");
        goto fail;
    }
    /* "YQ=" is short of its padding; Mesos accepts it, and so do we. */
    if (pads > 0 && (groups == 0 || groups + pads > 4)) {
        error_set(err, -EINVAL, "invalid base64: wrong padding");
        goto fail;
    }
    if (groups == 2) {
        res[n++] = (uint8_t)(acc >> 4);
    } else if (groups == 3) {
        res[n++] = (uint8_t)(acc >> 10);
        res[n++] = (uint8_t)(acc >> 2);
    }

    if (n == 0) {
        free(res);
        return 0;
    }
    *out = res;
    *out_len = n;
    return 0;

fail:
    free(res);
    return -EINVAL;
}
