/* Allocation that never returns NULL: a daemon that cannot allocate a few
 * bytes cannot keep its state consistent, so it stops loudly instead. */
#ifndef TEPUI_COMMON_XALLOC_H
#define TEPUI_COMMON_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define XNEW(type) ((type *)xcalloc(1, sizeof(type)))

#endif
