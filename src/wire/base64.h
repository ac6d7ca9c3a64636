/* Standard base64 (RFC 4648 section 4, with '=' padding), the encoding Mesos
 * uses for protobuf bytes fields in JSON. Only the standard alphabet: the
 * URL-safe one never appears in the Mesos JSON mapping. */
#ifndef TEPUI_WIRE_BASE64_H
#define TEPUI_WIRE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* The length of the encoding of n bytes, padding included. */
size_t base64_encoded_len(size_t n);

/* Appends the padded encoding of data to out. */
void base64_encode(struct buf *out, const void *data, size_t len);

/* Decodes text into a new malloc'd buffer (*out, *out_len; *out is NULL
 * when the result is empty). As Mesos does, whitespace is skipped and
 * padding is optional or may fall short ("YQ="); unlike Mesos, anything
 * after the padding, too much padding and a lone trailing character are
 * errors.
 * Returns 0, or -EINVAL with err naming the offending character. */
int base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len,
                  struct error *err);

#endif
