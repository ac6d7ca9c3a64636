/* UUID generation from the kernel's random source. */
#include "common/uuid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void uuid_random(struct uuid *u)
{
    size_t got = 0;
    while (got < sizeof(u->b)) {
        ssize_t n = getrandom(u->b + got, sizeof(u->b) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40);
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
}

void uuid_format(const struct uuid *u, char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u->b[i] >> 4];
        out[o++] = hex[u->b[i] & 15];
    }
    out[o] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int uuid_parse(const char *s, struct uuid *u)
{
    if (strlen(s) != 36)
        return -EINVAL;
    int bi = 0;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        u->b[bi++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

void uuid_format_bytes(const uint8_t *data, size_t len, char out[UUID_STR_LEN])
{
    if (len == 16) {
        struct uuid u;
        memcpy(u.b, data, 16);
        uuid_format(&u, out);
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < len && o + 2 < UUID_STR_LEN; i++)
        o += (size_t)snprintf(out + o, UUID_STR_LEN - o, "%02x", data[i]);
    out[o] = '\0';
}
