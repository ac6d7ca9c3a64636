/* Random (version 4) UUIDs: stream ids, status update uuids, id prefixes.
 * Mesos carries status-update uuids as 16 raw bytes and prints them in the
 * canonical 36-character form. */
#ifndef TEPUI_COMMON_UUID_H
#define TEPUI_COMMON_UUID_H

#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 37   /* 36 characters and the NUL */

struct uuid { uint8_t b[16]; };

void uuid_random(struct uuid *u);
void uuid_format(const struct uuid *u, char out[UUID_STR_LEN]);
/* Parses the canonical form; returns 0 or -EINVAL. */
int uuid_parse(const char *s, struct uuid *u);
/* Formats raw bytes (any length up to 16) as a uuid when they are 16 bytes
 * long, or as hex otherwise; for logs and JSON views. */
void uuid_format_bytes(const uint8_t *data, size_t len, char out[UUID_STR_LEN]);

#endif
