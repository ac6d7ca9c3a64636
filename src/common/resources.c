/* Resources: conversion from protobuf and from the --resources text/JSON
 * syntax (with Mesos's validation), the arithmetic the allocator runs on
 * every offer, and the forms shown in logs and state endpoints. It does not
 * know about agents, offers or quota; callers decide what a sum means. */
#include "common/resources.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Scratch space on the stack for range arithmetic: port sets of agents have
 * a handful of ranges, so the common case allocates nothing. */
#define RANGES_STACK 32

/* ---- scalars -------------------------------------------------------------- */

int64_t resources_scalar_from_double(double v)
{
    /* Inputs are validated against RES_SCALAR_MAX; clamping only keeps
     * llround defined for callers that skip validation. */
    if (isnan(v))
        return 0;
    if (v * 1000.0 >= 9.2e18)
        return INT64_MAX;
    if (v * 1000.0 <= -9.2e18)
        return INT64_MIN;
    return (int64_t)llround(v * 1000.0);
}

double resources_scalar_to_double(int64_t v)
{
    /* Integer part and thousandths separately, so the only floating point
     * division is of a number below 1000, as Mesos converts back. */
    return (double)(v / 1000) + (double)(v % 1000) / 1000.0;
}

static int64_t scalar_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* "2", "0.5", "1.125": at most three decimals, no trailing zeros. */
static void scalar_format(int64_t v, struct buf *out)
{
    if (v < 0) {
        buf_append_char(out, '-');
        v = v == INT64_MIN ? INT64_MAX : -v;
    }
    buf_printf(out, "%lld", (long long)(v / 1000));
    int frac = (int)(v % 1000);
    if (frac == 0)
        return;
    char digits[4];
    snprintf(digits, sizeof(digits), "%03d", frac);
    size_t n = 3;
    while (n > 0 && digits[n - 1] == '0')
        n--;
    buf_append_char(out, '.');
    buf_append(out, digits, n);
}

/* ---- ranges (sorted, coalesced arrays) ------------------------------------ */

static int range_cmp(const void *a, const void *b)
{
    const struct value_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Appends r to out[0..n), merging it into the last range when they overlap
 * or touch; r must not begin before the last range does. */
static size_t ranges_push(struct value_range *out, size_t n, struct value_range r)
{
    if (n > 0) {
        struct value_range *last = &out[n - 1];
        /* begin == 0 can only follow a range that also starts at 0. */
        if (r.begin == 0 || r.begin - 1 <= last->end) {
            if (r.end > last->end)
                last->end = r.end;
            return n;
        }
    }
    out[n] = r;
    return n + 1;
}

/* Sorts and coalesces in place; O(k log k). Returns the new count. */
static size_t ranges_normalize(struct value_range *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), range_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m = ranges_push(v, m, v[i]);
    return m;
}

/* out needs room for na + nb ranges. */
static size_t ranges_union(const struct value_range *a, size_t na, const struct value_range *b,
                           size_t nb, struct value_range *out)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        if (j >= nb || (i < na && a[i].begin <= b[j].begin))
            n = ranges_push(out, n, a[i++]);
        else
            n = ranges_push(out, n, b[j++]);
    }
    return n;
}

/* a minus b; out needs room for na + nb ranges (each range of b can split
 * one range of a in two). The pieces stay sorted and apart. */
static size_t ranges_difference(const struct value_range *a, size_t na,
                                const struct value_range *b, size_t nb, struct value_range *out)
{
    size_t j = 0, n = 0;
    for (size_t i = 0; i < na; i++) {
        uint64_t lo = a[i].begin, hi = a[i].end;
        bool left = true;
        while (j < nb && b[j].end < lo)
            j++;
        for (size_t k = j; k < nb && b[k].begin <= hi; k++) {
            if (b[k].begin > lo)
                out[n++] = (struct value_range){lo, b[k].begin - 1};
            if (b[k].end >= hi) {
                left = false;
                break;
            }
            lo = b[k].end + 1;
        }
        if (left)
            out[n++] = (struct value_range){lo, hi};
    }
    return n;
}

/* Whether every range of b lies within a; both coalesced, so each range of
 * b must fit in a single range of a. */
static bool ranges_subset(const struct value_range *b, size_t nb, const struct value_range *a,
                          size_t na)
{
    size_t i = 0;
    for (size_t j = 0; j < nb; j++) {
        while (i < na && a[i].end < b[j].begin)
            i++;
        if (i == na || a[i].begin > b[j].begin || a[i].end < b[j].end)
            return false;
    }
    return true;
}

/* Index of the first range of v that ends at or after x; n when none. */
static size_t ranges_first_ending_from(const struct value_range *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].end < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Replaces r->ranges[i..j) with the m ranges of with (m <= 2). */
static void ranges_splice(struct resource *r, size_t i, size_t j, const struct value_range *with,
                          size_t m)
{
    size_t n = r->n_ranges - (j - i) + m;
    if (n > r->n_ranges)
        r->ranges = xrealloc(r->ranges, n * sizeof(*r->ranges));
    memmove(&r->ranges[i + m], &r->ranges[j], (r->n_ranges - j) * sizeof(*r->ranges));
    for (size_t k = 0; k < m; k++)
        r->ranges[i + k] = with[k];
    r->n_ranges = n;
}

/* One range into r in place: binary search and a memmove instead of a full
 * merge, for the common case of a task's one or two ports. */
static void ranges_insert_one(struct resource *r, struct value_range add)
{
    /* The ranges that overlap or touch add are [i, j). */
    size_t i = ranges_first_ending_from(r->ranges, r->n_ranges, add.begin ? add.begin - 1 : 0);
    size_t j = i;
    while (j < r->n_ranges && (add.end == UINT64_MAX || r->ranges[j].begin <= add.end + 1))
        j++;
    if (j > i) {
        if (r->ranges[i].begin < add.begin)
            add.begin = r->ranges[i].begin;
        if (r->ranges[j - 1].end > add.end)
            add.end = r->ranges[j - 1].end;
    }
    ranges_splice(r, i, j, &add, 1);
}

static void ranges_remove_one(struct resource *r, struct value_range cut)
{
    size_t i = ranges_first_ending_from(r->ranges, r->n_ranges, cut.begin);
    size_t j = i;
    while (j < r->n_ranges && r->ranges[j].begin <= cut.end)
        j++;
    if (j == i)
        return;
    struct value_range keep[2];
    size_t m = 0;
    if (r->ranges[i].begin < cut.begin)
        keep[m++] = (struct value_range){r->ranges[i].begin, cut.begin - 1};
    if (r->ranges[j - 1].end > cut.end)
        keep[m++] = (struct value_range){cut.end + 1, r->ranges[j - 1].end};
    ranges_splice(r, i, j, keep, m);
}

static bool ranges_holds_one(const struct value_range *v, size_t n, struct value_range want)
{
    size_t i = ranges_first_ending_from(v, n, want.begin);
    return i < n && v[i].begin <= want.begin && want.end <= v[i].end;
}

/* Below this many ranges on the right-hand side, ranges are applied one at
 * a time in place; above it a linear merge through scratch space wins. */
#define RANGES_ONE_BY_ONE 4

static void resource_set_ranges(struct resource *r, const struct value_range *v, size_t n)
{
    /* Never shrink the allocation: the next add will likely need it again. */
    if (n > r->n_ranges)
        r->ranges = xrealloc(r->ranges, n * sizeof(*v));
    if (n > 0)
        memcpy(r->ranges, v, n * sizeof(*v));
    r->n_ranges = n;
}

static void ranges_format(const struct value_range *v, size_t n, struct buf *out)
{
    buf_append_char(out, '[');
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "%s%llu-%llu", i ? ", " : "", (unsigned long long)v[i].begin,
                   (unsigned long long)v[i].end);
    buf_append_char(out, ']');
}

/* ---- sets (sorted, unique item arrays) ------------------------------------ */

static int item_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* x += y, copying the items x lacks; merges from the back in place. */
static void set_union(struct resource *x, const struct resource *y)
{
    size_t extra = 0, i = 0, j = 0;
    while (j < y->n_items) {
        int c = i < x->n_items ? strcmp(x->items[i], y->items[j]) : 1;
        if (c < 0) {
            i++;
        } else {
            extra += c > 0;
            i += c == 0;
            j++;
        }
    }
    if (extra == 0)
        return;
    x->items = xrealloc(x->items, (x->n_items + extra) * sizeof(char *));
    size_t xi = x->n_items, yi = y->n_items, k = x->n_items + extra;
    while (yi > 0) {
        int c = xi > 0 ? strcmp(x->items[xi - 1], y->items[yi - 1]) : -1;
        if (c > 0) {
            x->items[--k] = x->items[--xi];
        } else if (c == 0) {
            x->items[--k] = x->items[--xi];
            yi--;
        } else {
            x->items[--k] = xstrdup(y->items[--yi]);
        }
    }
    x->n_items += extra;
}

/* x -= y; frees what it removes. */
static void set_difference(struct resource *x, const struct resource *y)
{
    size_t j = 0, m = 0;
    for (size_t i = 0; i < x->n_items; i++) {
        int c = 1;
        while (j < y->n_items && (c = strcmp(y->items[j], x->items[i])) < 0)
            j++;
        if (j < y->n_items && c == 0)
            free(x->items[i]);
        else
            x->items[m++] = x->items[i];
    }
    x->n_items = m;
}

static bool set_subset(const struct resource *y, const struct resource *x)
{
    size_t i = 0;
    for (size_t j = 0; j < y->n_items; j++) {
        int c = 1;
        while (i < x->n_items && (c = strcmp(x->items[i], y->items[j])) < 0)
            i++;
        if (i == x->n_items || c != 0)
            return false;
    }
    return true;
}

static void items_format(char *const *items, size_t n, struct buf *out)
{
    buf_append_char(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_append_str(out, ", ");
        buf_append_str(out, items[i]);
    }
    buf_append_char(out, '}');
}

/* ---- one resource --------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static void resource_clear(struct resource *r)
{
    free(r->name);
    free(r->ranges);
    for (size_t i = 0; i < r->n_items; i++)
        free(r->items[i]);
    free(r->items);
    free(r->reservation_role);
    free(r->allocation_role);
    free(r->identity);
    memset(r, 0, sizeof(*r));
}

static void resource_copy(struct resource *dst, const struct resource *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->ranges = NULL;
    if (src->n_ranges > 0)
        dst->ranges = xmemdup(src->ranges, src->n_ranges * sizeof(*src->ranges));
    dst->items = NULL;
    if (src->n_items > 0) {
        dst->items = xmalloc(src->n_items * sizeof(char *));
        for (size_t i = 0; i < src->n_items; i++)
            dst->items[i] = xstrdup(src->items[i]);
    }
    dst->reservation_role = src->reservation_role ? xstrdup(src->reservation_role) : NULL;
    dst->allocation_role = src->allocation_role ? xstrdup(src->allocation_role) : NULL;
    dst->identity = src->identity_len ? xmemdup(src->identity, src->identity_len) : NULL;
}

static bool resource_is_empty(const struct resource *r)
{
    switch (r->type) {
    case RES_SCALAR:
        return r->scalar <= 0;
    case RES_RANGES:
        return r->n_ranges == 0;
    case RES_SET:
        return r->n_items == 0;
    }
    return true;
}

/* Same name, type, allocation and identity: the entries describe the same
 * kind of thing and differ at most in quantity. */
static bool resource_compatible(const struct resource *a, const struct resource *b)
{
    return a->type == b->type && a->identity_len == b->identity_len &&
           strcmp(a->name, b->name) == 0 && str_eq(a->allocation_role, b->allocation_role) &&
           (a->identity_len == 0 || memcmp(a->identity, b->identity, a->identity_len) == 0);
}

static bool resource_value_equal(const struct resource *a, const struct resource *b)
{
    switch (a->type) {
    case RES_SCALAR:
        return a->scalar == b->scalar;
    case RES_RANGES:
        return a->n_ranges == b->n_ranges &&
               (a->n_ranges == 0 || memcmp(a->ranges, b->ranges, a->n_ranges * sizeof(*a->ranges)) == 0);
    case RES_SET:
        if (a->n_items != b->n_items)
            return false;
        for (size_t i = 0; i < a->n_items; i++)
            if (strcmp(a->items[i], b->items[i]) != 0)
                return false;
        return true;
    }
    return false;
}

static bool resource_same(const struct resource *a, const struct resource *b)
{
    return resource_compatible(a, b) && resource_value_equal(a, b);
}

/* Shared and exclusive entries are whole things: never merged or split. */
static bool resource_whole(const struct resource *r)
{
    return (r->flags & (RES_SHARED | RES_EXCLUSIVE)) != 0;
}

/* x += y for compatible entries. */
static void resource_merge(struct resource *x, const struct resource *y)
{
    switch (x->type) {
    case RES_SCALAR:
        x->scalar = scalar_add(x->scalar, y->scalar);
        break;
    case RES_RANGES: {
        if (y->n_ranges <= RANGES_ONE_BY_ONE) {
            for (size_t i = 0; i < y->n_ranges; i++)
                ranges_insert_one(x, y->ranges[i]);
            break;
        }
        struct value_range stack[RANGES_STACK];
        size_t need = x->n_ranges + y->n_ranges;
        struct value_range *tmp = need <= RANGES_STACK ? stack : xmalloc(need * sizeof(*tmp));
        size_t n = ranges_union(x->ranges, x->n_ranges, y->ranges, y->n_ranges, tmp);
        resource_set_ranges(x, tmp, n);
        if (tmp != stack)
            free(tmp);
        break;
    }
    case RES_SET:
        set_union(x, y);
        break;
    }
}

/* x -= y for compatible entries. */
static void resource_take(struct resource *x, const struct resource *y)
{
    switch (x->type) {
    case RES_SCALAR:
        x->scalar = scalar_add(x->scalar, -y->scalar);
        break;
    case RES_RANGES: {
        if (y->n_ranges <= RANGES_ONE_BY_ONE) {
            for (size_t i = 0; i < y->n_ranges && x->n_ranges > 0; i++)
                ranges_remove_one(x, y->ranges[i]);
            break;
        }
        struct value_range stack[RANGES_STACK];
        size_t need = x->n_ranges + y->n_ranges;
        struct value_range *tmp = need <= RANGES_STACK ? stack : xmalloc(need * sizeof(*tmp));
        size_t n = ranges_difference(x->ranges, x->n_ranges, y->ranges, y->n_ranges, tmp);
        resource_set_ranges(x, tmp, n);
        if (tmp != stack)
            free(tmp);
        break;
    }
    case RES_SET:
        set_difference(x, y);
        break;
    }
}

static bool resource_holds(const struct resource *x, const struct resource *y)
{
    switch (x->type) {
    case RES_SCALAR:
        return y->scalar <= x->scalar;
    case RES_RANGES:
        if (y->n_ranges == 1)
            return ranges_holds_one(x->ranges, x->n_ranges, y->ranges[0]);
        return ranges_subset(y->ranges, y->n_ranges, x->ranges, x->n_ranges);
    case RES_SET:
        return set_subset(y, x);
    }
    return false;
}

/* ---- the collection ------------------------------------------------------- */

void resources_init(struct resources *r)
{
    r->v = NULL;
    r->n = 0;
    r->cap = 0;
}

void resources_free(struct resources *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        resource_clear(&r->v[i]);
    free(r->v);
    resources_init(r);
}

/* Frees what dst held and moves src into it. */
static void resources_replace(struct resources *dst, struct resources *src)
{
    resources_free(dst);
    *dst = *src;
    resources_init(src);
}

static struct resource *resources_push(struct resources *r)
{
    size_t cap = r->cap < r->n ? r->n : r->cap;
    if (r->n == cap) {
        cap = cap ? cap * 2 : 8;
        r->v = xrealloc(r->v, cap * sizeof(*r->v));
    }
    r->cap = cap;
    struct resource *slot = &r->v[r->n++];
    memset(slot, 0, sizeof(*slot));
    return slot;
}

/* Keeps the order of the rest, so output (logs, protobuf) stays stable. */
static void resources_remove_at(struct resources *r, size_t i)
{
    resource_clear(&r->v[i]);
    memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
    r->n--;
}

static struct resource *resources_find_compatible(const struct resources *r,
                                                  const struct resource *one)
{
    for (size_t i = 0; i < r->n; i++)
        if (resource_compatible(&r->v[i], one))
            return &r->v[i];
    return NULL;
}

/* Adds one, taking over its members (one is left cleared). */
static void resources_add_owned(struct resources *a, struct resource *one)
{
    if (resource_is_empty(one)) {
        resource_clear(one);
        return;
    }
    if (!resource_whole(one)) {
        struct resource *x = resources_find_compatible(a, one);
        if (x != NULL) {
            resource_merge(x, one);
            resource_clear(one);
            return;
        }
    }
    *resources_push(a) = *one;
    memset(one, 0, sizeof(*one));
}

void resources_copy(struct resources *dst, const struct resources *src)
{
    if (dst == src)
        return;
    struct resources tmp = RESOURCES_INIT;
    if (src->n > 0) {
        tmp.v = xmalloc(src->n * sizeof(*tmp.v));
        tmp.cap = src->n;
        for (size_t i = 0; i < src->n; i++)
            resource_copy(&tmp.v[i], &src->v[i]);
        tmp.n = src->n;
    }
    resources_replace(dst, &tmp);
}

int resources_empty(const struct resources *r)
{
    return r->n == 0;
}

void resources_add_one(struct resources *a, const struct resource *one)
{
    if (resource_is_empty(one))
        return;
    /* An entry of a itself would move under us when a grows or merges. */
    if ((uintptr_t)one >= (uintptr_t)a->v && (uintptr_t)one < (uintptr_t)(a->v + a->n)) {
        struct resource copy;
        resource_copy(&copy, one);
        resources_add_owned(a, &copy);
        return;
    }
    if (!resource_whole(one)) {
        struct resource *x = resources_find_compatible(a, one);
        if (x != NULL) {
            resource_merge(x, one);
            return;
        }
    }
    resource_copy(resources_push(a), one);
}

void resources_add(struct resources *a, const struct resources *b)
{
    if (a == b) {
        struct resources copy = RESOURCES_INIT;
        resources_copy(&copy, b);
        resources_add(a, &copy);
        resources_free(&copy);
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        resources_add_one(a, &b->v[i]);
}

static void resources_subtract_one(struct resources *a, const struct resource *y)
{
    if (resource_is_empty(y))
        return;
    for (size_t i = 0; i < a->n; i++) {
        struct resource *x = &a->v[i];
        if (resource_whole(y)) {
            /* One copy of a shared volume, or the whole exclusive disk. */
            if (resource_same(x, y)) {
                resources_remove_at(a, i);
                return;
            }
            continue;
        }
        if (!resource_compatible(x, y))
            continue;
        resource_take(x, y);
        if (resource_is_empty(x))
            resources_remove_at(a, i);
        return;
    }
}

void resources_subtract(struct resources *a, const struct resources *b)
{
    if (a == b) {
        resources_free(a);
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        resources_subtract_one(a, &b->v[i]);
}

static size_t resources_count_same(const struct resources *r, const struct resource *one)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += resource_same(&r->v[i], one);
    return n;
}

int resources_contains(const struct resources *a, const struct resources *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct resource *y = &b->v[i];
        if (resource_is_empty(y))
            continue;
        if (resource_whole(y)) {
            if (resources_count_same(b, y) > resources_count_same(a, y))
                return 0;
            continue;
        }
        const struct resource *x = resources_find_compatible(a, y);
        if (x == NULL || !resource_holds(x, y))
            return 0;
    }
    return 1;
}

int resources_equal(const struct resources *a, const struct resources *b)
{
    return resources_contains(a, b) && resources_contains(b, a);
}

/* Mesos holds a shared resource once with a count, so sums and the state
 * view count it once however many copies are held. */
static bool is_repeated_shared_copy(const struct resources *r, size_t i)
{
    if (!(r->v[i].flags & RES_SHARED))
        return false;
    for (size_t j = 0; j < i; j++)
        if (resource_same(&r->v[j], &r->v[i]))
            return true;
    return false;
}

int64_t resources_scalar(const struct resources *r, const char *name)
{
    int64_t sum = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].type == RES_SCALAR && strcmp(r->v[i].name, name) == 0 &&
            !is_repeated_shared_copy(r, i))
            sum = scalar_add(sum, r->v[i].scalar);
    return sum;
}

void resources_ranges(const struct resources *r, const char *name, struct value_range **out,
                      size_t *n)
{
    struct value_range *acc = NULL;
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct resource *x = &r->v[i];
        if (x->type != RES_RANGES || strcmp(x->name, name) != 0)
            continue;
        struct value_range *next = xmalloc((m + x->n_ranges) * sizeof(*next));
        m = ranges_union(acc, m, x->ranges, x->n_ranges, next);
        free(acc);
        acc = next;
    }
    *out = acc;
    *n = m;
}

/* ---- selections ----------------------------------------------------------- */

/* Whether role may use what is reserved to reserved_to: the same role or a
 * descendant ("a/b" uses reservations of "a"), as Mesos's roles refine. */
static bool role_within(const char *role, const char *ancestor)
{
    size_t n = strlen(ancestor);
    return strncmp(role, ancestor, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

enum select_kind { SELECT_UNRESERVED, SELECT_RESERVED_TO, SELECT_ALLOCATABLE_TO };

static bool selected(const struct resource *x, enum select_kind kind, const char *role)
{
    switch (kind) {
    case SELECT_UNRESERVED:
        return x->reservation_role == NULL;
    case SELECT_RESERVED_TO:
        return x->reservation_role != NULL && (role == NULL || strcmp(x->reservation_role, role) == 0);
    case SELECT_ALLOCATABLE_TO:
        return x->reservation_role == NULL || (role != NULL && role_within(role, x->reservation_role));
    }
    return false;
}

static void resources_select(const struct resources *r, enum select_kind kind, const char *role,
                             struct resources *dst)
{
    /* Entries of r are already normalized, so a filter keeps them so. */
    struct resources tmp = RESOURCES_INIT;
    for (size_t i = 0; i < r->n; i++)
        if (selected(&r->v[i], kind, role))
            resource_copy(resources_push(&tmp), &r->v[i]);
    resources_replace(dst, &tmp);
}

void resources_unreserved(const struct resources *r, struct resources *dst)
{
    resources_select(r, SELECT_UNRESERVED, NULL, dst);
}

void resources_reserved_to(const struct resources *r, const char *role, struct resources *dst)
{
    resources_select(r, SELECT_RESERVED_TO, role, dst);
}

void resources_allocatable_to(const struct resources *r, const char *role, struct resources *dst)
{
    resources_select(r, SELECT_ALLOCATABLE_TO, role, dst);
}

void resources_set_allocation_role(struct resources *r, const char *role)
{
    struct resources tmp = RESOURCES_INIT;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].allocation_role);
        r->v[i].allocation_role = role ? xstrdup(role) : NULL;
        resources_add_owned(&tmp, &r->v[i]);
    }
    r->n = 0;
    resources_replace(r, &tmp);
}

/* ---- validation and conversion from protobuf ------------------------------ */

/* Names the resource in every message: "resource 'cpus': ...". */
__attribute__((format(printf, 3, 4))) static int res_error(struct error *err, const char *name,
                                                           const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return error_set(err, -EINVAL, "resource '%s': %s", name ? name : "", why);
}

/* Mesos's role name rules; returns why role is invalid, or NULL. */
static const char *role_invalid(const char *role)
{
    if (strcmp(role, "*") == 0)
        return NULL;
    if (role[0] == '\0')
        return "must not be empty";
    if (role[0] == '/')
        return "must not start with '/'";
    if (role[strlen(role) - 1] == '/')
        return "must not end with '/'";
    if (strstr(role, "//") != NULL)
        return "must not contain '//'";
    const char *c = role;
    while (*c != '\0') {
        size_t len = strcspn(c, "/");
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return "must not have '.' or '..' as a component";
        if (len == 1 && c[0] == '*')
            return "must not have '*' as a component";
        if (c[0] == '-')
            return "must not have a component that starts with '-'";
        for (size_t i = 0; i < len; i++)
            if (strchr("\t\n\v\f\r \x7f", c[i]) != NULL)
                return "must not contain whitespace or DEL";
        c += len;
        if (*c == '/')
            c++;
    }
    return NULL;
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static bool labels_equal(const Tepui__Labels *a, const Tepui__Labels *b)
{
    size_t na = a ? a->n_labels : 0, nb = b ? b->n_labels : 0;
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(str_or_empty(a->labels[i]->key), str_or_empty(b->labels[i]->key)) != 0 ||
            !str_eq(a->labels[i]->value, b->labels[i]->value))
            return false;
    return true;
}

static bool proto_has_role(const Tepui__Resource *p)
{
    return p->role != NULL && p->role != tepui__resource__role__default_value;
}

static int validate_disk(const Tepui__Resource *p, struct error *err)
{
    const Tepui__Resource__DiskInfo *disk = p->disk;
    if (strcmp(p->name, "disk") != 0)
        return res_error(err, p->name, "disk info is only allowed on 'disk' resources");
    if (disk->persistence != NULL &&
        (disk->persistence->id == NULL || disk->persistence->id[0] == '\0'))
        return res_error(err, p->name, "persistence id must not be empty");
    if (disk->source == NULL)
        return 0;
    switch (disk->source->type) {
    case TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__PATH:
    case TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__MOUNT:
        return 0;
    case TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__BLOCK:
    case TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__RAW:
        if (disk->source->mount != NULL || disk->source->path != NULL)
            return res_error(err, p->name, "a BLOCK or RAW disk source must not have a path or mount");
        return 0;
    default:
        return res_error(err, p->name, "unsupported disk source type %d", (int)disk->source->type);
    }
}

/* Checks the reservation fields, in either format, as Mesos's
 * Resources::validate does. */
static int validate_reservations(const Tepui__Resource *p, struct error *err)
{
    const char *why;
    if (p->n_reservations == 0) {
        const char *role = proto_has_role(p) ? p->role : "*";
        if ((why = role_invalid(role)) != NULL)
            return res_error(err, p->name, "role '%s' %s", role, why);
        if (p->reservation != NULL) {
            if (p->reservation->has_type || p->reservation->role != NULL)
                return res_error(err, p->name,
                                 "'reservation' must not set type or role (use 'reservations')");
            if (strcmp(role, "*") == 0)
                return res_error(err, p->name, "role '*' cannot be dynamically reserved");
        }
        return 0;
    }

    for (size_t i = 0; i < p->n_reservations; i++) {
        const Tepui__Resource__ReservationInfo *r = p->reservations[i];
        if (r == NULL || !r->has_type)
            return res_error(err, p->name, "reservation %zu must have a type", i);
        if (r->type != TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC &&
            r->type != TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC)
            return res_error(err, p->name, "reservation %zu has unsupported type %d", i, (int)r->type);
        if (r->role == NULL)
            return res_error(err, p->name, "reservation %zu must have a role", i);
        if ((why = role_invalid(r->role)) != NULL)
            return res_error(err, p->name, "reservation role '%s' %s", r->role, why);
        if (strcmp(r->role, "*") == 0)
            return res_error(err, p->name, "role '*' cannot be reserved");
        if (i == 0)
            continue;
        const char *parent = p->reservations[i - 1]->role;
        if (r->type == TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC)
            return res_error(err, p->name, "refined reservation for '%s' cannot be STATIC", r->role);
        if (strcmp(r->role, parent) == 0 || !role_within(r->role, parent))
            return res_error(err, p->name, "reservation role '%s' is not a refinement of '%s'",
                             r->role, parent);
    }

    if (p->n_reservations > 1) {
        if (proto_has_role(p) || p->reservation != NULL)
            return res_error(err, p->name,
                             "'role' and 'reservation' must not be set with refined reservations");
        return 0;
    }

    /* One reservation: the old fields may ride along (the "endpoint" format)
     * when they agree with it. */
    const Tepui__Resource__ReservationInfo *r = p->reservations[0];
    if (proto_has_role(p) && strcmp(p->role, r->role) != 0)
        return res_error(err, p->name, "'role' '%s' does not match reservation role '%s'", p->role,
                         r->role);
    if (r->type == TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC) {
        if (p->reservation != NULL)
            return res_error(err, p->name, "'reservation' must not be set for a STATIC reservation");
        return 0;
    }
    if (proto_has_role(p) != (p->reservation != NULL))
        return res_error(err, p->name,
                         "'role' and 'reservation' must be both set or both unset");
    if (p->reservation != NULL &&
        (strcmp(str_or_empty(p->reservation->principal), str_or_empty(r->principal)) != 0 ||
         !labels_equal(p->reservation->labels, r->labels)))
        return res_error(err, p->name, "'reservation' does not match 'reservations'");
    return 0;
}

/* Fills out's value from p, which has been checked to carry the field of
 * its type. Text input coalesces overlapping ranges; protobuf input must
 * not overlap, as Mesos validates. */
static int value_from_proto(const Tepui__Resource *p, bool coalesce_overlaps, struct resource *out,
                            struct error *err)
{
    switch (p->type) {
    case TEPUI__VALUE__TYPE__SCALAR: {
        double v = p->scalar->value;
        if (!isfinite(v))
            return res_error(err, p->name, "scalar value must be finite");
        if (v < 0)
            return res_error(err, p->name, "scalar value must be non-negative");
        if (v > RES_SCALAR_MAX)
            return res_error(err, p->name, "scalar value %g is too large", v);
        out->scalar = resources_scalar_from_double(v);
        /* Mesos refuses a positive value that would round to nothing. */
        if (v != 0 && out->scalar == 0)
            return res_error(err, p->name, "scalar value %g rounds to zero (three decimals)", v);
        return 0;
    }
    case TEPUI__VALUE__TYPE__RANGES: {
        size_t n = p->ranges->n_range;
        if (n == 0)
            return 0;
        out->ranges = xmalloc(n * sizeof(*out->ranges));
        for (size_t i = 0; i < n; i++) {
            const Tepui__Value__Range *r = p->ranges->range[i];
            if (r->begin > r->end)
                return res_error(err, p->name, "range %llu-%llu has begin after end",
                                 (unsigned long long)r->begin, (unsigned long long)r->end);
            out->ranges[i] = (struct value_range){r->begin, r->end};
        }
        qsort(out->ranges, n, sizeof(*out->ranges), range_cmp);
        if (!coalesce_overlaps)
            for (size_t i = 1; i < n; i++)
                if (out->ranges[i].begin <= out->ranges[i - 1].end)
                    return res_error(err, p->name, "ranges %llu-%llu and %llu-%llu overlap",
                                     (unsigned long long)out->ranges[i - 1].begin,
                                     (unsigned long long)out->ranges[i - 1].end,
                                     (unsigned long long)out->ranges[i].begin,
                                     (unsigned long long)out->ranges[i].end);
        out->n_ranges = ranges_normalize(out->ranges, n);
        return 0;
    }
    case TEPUI__VALUE__TYPE__SET: {
        size_t n = p->set->n_item;
        if (n == 0)
            return 0;
        out->items = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            if (p->set->item[i] == NULL)
                return res_error(err, p->name, "set item %zu is missing", i);
            out->items[i] = xstrdup(p->set->item[i]);
            out->n_items = i + 1;
        }
        qsort(out->items, n, sizeof(char *), item_cmp);
        for (size_t i = 1; i < n; i++)
            if (strcmp(out->items[i], out->items[i - 1]) == 0)
                return res_error(err, p->name, "set item '%s' is duplicated", out->items[i]);
        return 0;
    }
    default:
        return res_error(err, p->name, "unsupported value type %d", (int)p->type);
    }
}

/* Packs the identity fields of p into out->identity, converting the
 * pre-refinement role/reservation into a one-entry reservations stack. */
static void identity_from_proto(const Tepui__Resource *p, struct resource *out)
{
    Tepui__Resource id = TEPUI__RESOURCE__INIT;
    Tepui__Resource__ReservationInfo upgraded = TEPUI__RESOURCE__RESERVATION_INFO__INIT;
    Tepui__Resource__ReservationInfo *upgraded_stack[1] = {&upgraded};

    /* name is required; "" keeps the encoding fixed. */
    id.name = (char *)"";
    id.provider_id = p->provider_id;
    id.disk = p->disk;
    id.revocable = p->revocable;
    id.shared = p->shared;
    if (p->n_reservations > 0) {
        id.n_reservations = p->n_reservations;
        id.reservations = p->reservations;
    } else if (proto_has_role(p) && strcmp(p->role, "*") != 0) {
        upgraded.has_type = 1;
        upgraded.role = p->role;
        if (p->reservation != NULL) {
            upgraded.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC;
            upgraded.principal = p->reservation->principal;
            upgraded.labels = p->reservation->labels;
        } else {
            upgraded.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
        }
        id.n_reservations = 1;
        id.reservations = upgraded_stack;
    }

    if (id.n_reservations > 0)
        out->reservation_role = xstrdup(id.reservations[id.n_reservations - 1]->role);
    if (p->revocable != NULL)
        out->flags |= RES_REVOCABLE;
    if (p->shared != NULL)
        out->flags |= RES_SHARED;
    if (p->disk != NULL && !(out->flags & RES_SHARED)) {
        const Tepui__Resource__DiskInfo__Source *src = p->disk->source;
        /* Mesos's addable(): volumes and whole-device disks never merge. */
        if (p->disk->persistence != NULL ||
            (src != NULL && (src->type == TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__MOUNT ||
                             src->type == TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__BLOCK ||
                             (src->type == TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__RAW &&
                              src->id != NULL))))
            out->flags |= RES_EXCLUSIVE;
    }

    if (id.provider_id == NULL && id.disk == NULL && id.revocable == NULL && id.shared == NULL &&
        id.n_reservations == 0)
        return;
    out->identity_len = protobuf_c_message_get_packed_size(&id.base);
    out->identity = xmalloc(out->identity_len);
    protobuf_c_message_pack(&id.base, out->identity);
}

/* Validates one protobuf resource and builds its entry (possibly empty). */
static int resource_from_proto(const Tepui__Resource *p, bool coalesce_overlaps,
                               struct resource *out, struct error *err)
{
    int rc;
    memset(out, 0, sizeof(*out));

    if (p->name == NULL || p->name[0] == '\0') {
        rc = error_set(err, -EINVAL, "resource name must not be empty");
        goto out;
    }
    bool fields_ok = false;
    switch (p->type) {
    case TEPUI__VALUE__TYPE__SCALAR:
        fields_ok = p->scalar != NULL && p->ranges == NULL && p->set == NULL;
        break;
    case TEPUI__VALUE__TYPE__RANGES:
        fields_ok = p->scalar == NULL && p->ranges != NULL && p->set == NULL;
        break;
    case TEPUI__VALUE__TYPE__SET:
        fields_ok = p->scalar == NULL && p->ranges == NULL && p->set != NULL;
        break;
    default:
        rc = res_error(err, p->name, "unsupported value type %d", (int)p->type);
        goto out;
    }
    if (!fields_ok) {
        static const char *const names[] = {"SCALAR", "RANGES", "SET"};
        static const char *const fields[] = {"scalar", "ranges", "set"};
        rc = res_error(err, p->name, "a %s resource must set '%s' and no other value",
                       names[p->type], fields[p->type]);
        goto out;
    }
    if (p->provider_id != NULL && p->provider_id->value == NULL) {
        rc = res_error(err, p->name, "provider_id must have a value");
        goto out;
    }
    if (p->disk != NULL && (rc = validate_disk(p, err)) != 0)
        goto out;
    if ((rc = validate_reservations(p, err)) != 0)
        goto out;
    if (p->shared != NULL &&
        (strcmp(p->name, "disk") != 0 || p->disk == NULL || p->disk->persistence == NULL)) {
        rc = res_error(err, p->name, "only persistent volumes can be shared");
        goto out;
    }

    out->name = xstrdup(p->name);
    out->type = (enum resource_type)p->type;
    if ((rc = value_from_proto(p, coalesce_overlaps, out, err)) != 0)
        goto out;
    if (p->allocation_info != NULL)
        out->allocation_role = xstrdup(str_or_empty(p->allocation_info->role));
    identity_from_proto(p, out);
    rc = 0;
out:
    if (rc != 0)
        resource_clear(out);
    return rc;
}

int resources_from_proto(Tepui__Resource *const *v, size_t n, struct resources *out,
                         struct error *err)
{
    struct resources tmp = RESOURCES_INIT;
    struct resource one;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == NULL) {
            rc = error_set(err, -EINVAL, "resource %zu is missing", i);
            goto out;
        }
        if ((rc = resource_from_proto(v[i], false, &one, err)) != 0)
            goto out;
        resources_add_owned(&tmp, &one);
    }
    resources_replace(out, &tmp);
out:
    resources_free(&tmp);
    return rc;
}

/* ---- conversion to protobuf ----------------------------------------------- */

static Tepui__Resource *resource_to_proto(const struct resource *r)
{
    Tepui__Resource *p;
    if (r->identity_len > 0) {
        p = (Tepui__Resource *)protobuf_c_message_unpack(&tepui__resource__descriptor, NULL,
                                                         r->identity_len, r->identity);
        /* We packed these bytes ourselves; failing to read them back is a
         * memory corruption, not an input error. */
        if (p == NULL)
            abort();
        free(p->name);
    } else {
        p = xmalloc(sizeof(*p));
        tepui__resource__init(p);
    }
    p->name = xstrdup(r->name);
    p->type = (Tepui__Value__Type)r->type;
    switch (r->type) {
    case RES_SCALAR:
        p->scalar = xmalloc(sizeof(*p->scalar));
        tepui__value__scalar__init(p->scalar);
        p->scalar->value = resources_scalar_to_double(r->scalar);
        break;
    case RES_RANGES:
        p->ranges = xmalloc(sizeof(*p->ranges));
        tepui__value__ranges__init(p->ranges);
        p->ranges->n_range = r->n_ranges;
        p->ranges->range = r->n_ranges ? xmalloc(r->n_ranges * sizeof(*p->ranges->range)) : NULL;
        for (size_t i = 0; i < r->n_ranges; i++) {
            Tepui__Value__Range *range = xmalloc(sizeof(*range));
            tepui__value__range__init(range);
            range->begin = r->ranges[i].begin;
            range->end = r->ranges[i].end;
            p->ranges->range[i] = range;
        }
        break;
    case RES_SET:
        p->set = xmalloc(sizeof(*p->set));
        tepui__value__set__init(p->set);
        p->set->n_item = r->n_items;
        p->set->item = r->n_items ? xmalloc(r->n_items * sizeof(char *)) : NULL;
        for (size_t i = 0; i < r->n_items; i++)
            p->set->item[i] = xstrdup(r->items[i]);
        break;
    }
    if (r->allocation_role != NULL) {
        p->allocation_info = xmalloc(sizeof(*p->allocation_info));
        tepui__resource__allocation_info__init(p->allocation_info);
        p->allocation_info->role = xstrdup(r->allocation_role);
    }
    return p;
}

Tepui__Resource **resources_to_proto(const struct resources *r, size_t *n)
{
    Tepui__Resource **v = xmalloc((r->n ? r->n : 1) * sizeof(*v));
    for (size_t i = 0; i < r->n; i++)
        v[i] = resource_to_proto(&r->v[i]);
    *n = r->n;
    return v;
}

void resources_proto_free(Tepui__Resource **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        if (v[i] != NULL)
            protobuf_c_message_free_unpacked(&v[i]->base, NULL);
    free(v);
}

/* ---- parsing: text -------------------------------------------------------- */

/* Trims in place; returns the start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Mesos drops every space from a value before reading it. */
static void strip_spaces(char *s)
{
    char *w = s;
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            *w++ = *s;
    *w = '\0';
}

static int parse_u64(const char *s, const char *end, uint64_t *out)
{
    if (s == end)
        return -1;
    uint64_t v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            return -1;
    }
    *out = v;
    return 0;
}

/* "[a-b,c-d]" (spaces already gone) into p->ranges; the Range messages are
 * allocated in one block *storage for the caller to free. */
static int parse_ranges(const char *name, char *text, Tepui__Value__Ranges *ranges,
                        Tepui__Value__Range **storage, Tepui__Value__Range ***ptrs,
                        struct error *err)
{
    size_t len = strlen(text);
    if (len < 2 || text[len - 1] != ']')
        return res_error(err, name, "ranges '%s' must end with ']'", text);
    text[len - 1] = '\0';
    char *body = text + 1;
    size_t cap = 1;
    for (char *c = body; *c != '\0'; c++)
        cap += *c == ',';
    *storage = xcalloc(cap, sizeof(**storage));
    *ptrs = xcalloc(cap, sizeof(**ptrs));
    size_t n = 0;
    if (*body == '\0')
        goto done;
    for (char *tok = body;;) {
        char *comma = strchr(tok, ',');
        char *end = comma ? comma : tok + strlen(tok);
        char *dash = memchr(tok, '-', (size_t)(end - tok));
        uint64_t b, e;
        if (dash == NULL || parse_u64(tok, dash, &b) != 0 || parse_u64(dash + 1, end, &e) != 0)
            return res_error(err, name, "range '%.*s' is not BEGIN-END with non-negative integers",
                             (int)(end - tok), tok);
        Tepui__Value__Range *r = &(*storage)[n];
        tepui__value__range__init(r);
        r->begin = b;
        r->end = e;
        (*ptrs)[n++] = r;
        if (comma == NULL)
            break;
        tok = comma + 1;
    }
done:
    ranges->n_range = n;
    ranges->range = *ptrs;
    return 0;
}

/* "{a,b}" into items pointing into text; empty items are skipped, as
 * Mesos's tokenizer does. */
static int parse_set(const char *name, char *text, Tepui__Value__Set *set, char ***items,
                     struct error *err)
{
    size_t len = strlen(text);
    if (len < 2 || text[len - 1] != '}')
        return res_error(err, name, "set '%s' must end with '}'", text);
    text[len - 1] = '\0';
    char *body = text + 1;
    if (strpbrk(body, "{}[]") != NULL)
        return res_error(err, name, "set items must not contain brackets");
    size_t cap = 1;
    for (char *c = body; *c != '\0'; c++)
        cap += *c == ',';
    *items = xcalloc(cap, sizeof(char *));
    size_t n = 0;
    for (char *tok = body; tok != NULL;) {
        char *comma = strchr(tok, ',');
        if (comma != NULL)
            *comma = '\0';
        if (*tok != '\0')
            (*items)[n++] = tok;
        tok = comma ? comma + 1 : NULL;
    }
    set->n_item = n;
    set->item = *items;
    return 0;
}

static int parse_scalar(const char *name, const char *text, double *out, struct error *err)
{
    /* Only plain decimal numbers: strtod alone would take "nan", "inf" and
     * hex floats. */
    if (text[strspn(text, "0123456789.eE+-")] != '\0')
        return res_error(err, name, "value '%s' is not a scalar, ranges or set", text);
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0')
        return res_error(err, name, "value '%s' is not a number", text);
    if (v < 0 || text[0] == '-')
        return res_error(err, name, "scalar value must be non-negative");
    if (errno == ERANGE && v > 1)
        return res_error(err, name, "scalar value '%s' is too large", text);
    *out = v;
    return 0;
}

/* One "name(role):value" item into a validated entry. */
static int parse_text_item(char *token, const char *default_role, struct resource *out,
                           struct error *err)
{
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    Tepui__Value__Scalar scalar = TEPUI__VALUE__SCALAR__INIT;
    Tepui__Value__Ranges ranges = TEPUI__VALUE__RANGES__INIT;
    Tepui__Value__Set set = TEPUI__VALUE__SET__INIT;
    Tepui__Resource__ReservationInfo reservation = TEPUI__RESOURCE__RESERVATION_INFO__INIT;
    Tepui__Resource__ReservationInfo *stack[1] = {&reservation};
    Tepui__Value__Range *range_storage = NULL;
    Tepui__Value__Range **range_ptrs = NULL;
    char **items = NULL;
    char *whole = trim(token);
    int rc;

    char *colon = strchr(whole, ':');
    if (colon == NULL || strchr(colon + 1, ':') != NULL) {
        rc = error_set(err, -EINVAL, "resource '%s': expected exactly one ':' (name:value)", whole);
        goto out;
    }
    *colon = '\0';
    char *key = whole, *value = colon + 1;
    const char *role = default_role;
    char *open = strchr(key, '(');
    if (open != NULL) {
        char *close = strchr(open, ')');
        if (close == NULL || *trim(close + 1) != '\0' || strchr(open + 1, '(') != NULL) {
            rc = error_set(err, -EINVAL, "resource '%s': mismatched parentheses around the role", key);
            goto out;
        }
        *open = '\0';
        *close = '\0';
        role = trim(open + 1);
    }
    char *name = trim(key);
    if (*name == '\0') {
        rc = error_set(err, -EINVAL, "resource name must not be empty in '%s:%s'", whole, value);
        goto out;
    }
    p.name = name;
    if (role != NULL && strcmp(role, "*") != 0) {
        /* A role in text is a static reservation (Mesos's Resources::parse). */
        reservation.has_type = 1;
        reservation.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
        reservation.role = (char *)role;
        p.n_reservations = 1;
        p.reservations = stack;
    }

    strip_spaces(value);
    if (*value == '\0') {
        rc = res_error(err, name, "value must not be empty");
        goto out;
    }
    if (value[0] == '[') {
        p.type = TEPUI__VALUE__TYPE__RANGES;
        p.ranges = &ranges;
        rc = parse_ranges(name, value, &ranges, &range_storage, &range_ptrs, err);
    } else if (value[0] == '{') {
        p.type = TEPUI__VALUE__TYPE__SET;
        p.set = &set;
        rc = parse_set(name, value, &set, &items, err);
    } else {
        p.type = TEPUI__VALUE__TYPE__SCALAR;
        p.scalar = &scalar;
        rc = parse_scalar(name, value, &scalar.value, err);
    }
    if (rc != 0)
        goto out;
    rc = resource_from_proto(&p, true, out, err);
out:
    free(range_storage);
    free(range_ptrs);
    free(items);
    return rc;
}

/* ---- parsing: JSON -------------------------------------------------------- */

/* The JSON form is parsed here by hand (rather than by the generic codec)
 * for the handful of fields the --resources flag can carry. */

static int json_enum(const json_t *v, const char *const *names, size_t n, int *out)
{
    if (json_is_integer(v)) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    return -1;
}

static char *json_dup_string(const json_t *v)
{
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static int json_labels(const char *name, const json_t *j, Tepui__Labels **out, struct error *err)
{
    const json_t *arr = json_object_get(j, "labels");
    if (!json_is_object(j) || (arr != NULL && !json_is_array(arr)))
        return res_error(err, name, "'labels' must be an object with a 'labels' array");
    Tepui__Labels *labels = xmalloc(sizeof(*labels));
    tepui__labels__init(labels);
    *out = labels;
    size_t n = arr ? json_array_size(arr) : 0;
    labels->labels = n ? xcalloc(n, sizeof(*labels->labels)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(arr, i);
        const json_t *key = json_object_get(l, "key"), *value = json_object_get(l, "value");
        if (!json_is_string(key) || (value != NULL && !json_is_string(value)))
            return res_error(err, name, "label %zu needs a string 'key' and optional string 'value'", i);
        Tepui__Label *label = xmalloc(sizeof(*label));
        tepui__label__init(label);
        label->key = json_dup_string(key);
        label->value = json_dup_string(value);
        labels->labels[labels->n_labels++] = label;
    }
    return 0;
}

static int json_reservation(const char *name, const json_t *j,
                            Tepui__Resource__ReservationInfo **out, struct error *err)
{
    static const char *const types[] = {"UNKNOWN", "STATIC", "DYNAMIC"};
    if (!json_is_object(j))
        return res_error(err, name, "a reservation must be an object");
    Tepui__Resource__ReservationInfo *r = xmalloc(sizeof(*r));
    tepui__resource__reservation_info__init(r);
    *out = r;
    const json_t *v;
    if ((v = json_object_get(j, "type")) != NULL) {
        int t;
        if (json_enum(v, types, 3, &t) != 0)
            return res_error(err, name, "reservation 'type' must be STATIC or DYNAMIC");
        r->has_type = 1;
        r->type = (Tepui__Resource__ReservationInfo__Type)t;
    }
    if ((v = json_object_get(j, "role")) != NULL && !(r->role = json_dup_string(v)))
        return res_error(err, name, "reservation 'role' must be a string");
    if ((v = json_object_get(j, "principal")) != NULL && !(r->principal = json_dup_string(v)))
        return res_error(err, name, "reservation 'principal' must be a string");
    if ((v = json_object_get(j, "labels")) != NULL)
        return json_labels(name, v, &r->labels, err);
    return 0;
}

static int json_disk(const char *name, const json_t *j, Tepui__Resource__DiskInfo **out,
                     struct error *err)
{
    static const char *const types[] = {"UNKNOWN", "PATH", "MOUNT", "BLOCK", "RAW"};
    if (!json_is_object(j))
        return res_error(err, name, "'disk' must be an object");
    Tepui__Resource__DiskInfo *disk = xmalloc(sizeof(*disk));
    tepui__resource__disk_info__init(disk);
    *out = disk;
    const json_t *pj = json_object_get(j, "persistence");
    if (pj != NULL) {
        disk->persistence = xmalloc(sizeof(*disk->persistence));
        tepui__resource__disk_info__persistence__init(disk->persistence);
        disk->persistence->id = json_dup_string(json_object_get(pj, "id"));
        disk->persistence->principal = json_dup_string(json_object_get(pj, "principal"));
    }
    const json_t *sj = json_object_get(j, "source");
    if (sj == NULL)
        return 0;
    int t;
    if (!json_is_object(sj) || json_enum(json_object_get(sj, "type"), types, 5, &t) != 0)
        return res_error(err, name, "disk 'source' needs a 'type' of PATH, MOUNT, BLOCK or RAW");
    Tepui__Resource__DiskInfo__Source *src = xmalloc(sizeof(*src));
    tepui__resource__disk_info__source__init(src);
    disk->source = src;
    src->type = (Tepui__Resource__DiskInfo__Source__Type)t;
    src->id = json_dup_string(json_object_get(sj, "id"));
    src->vendor = json_dup_string(json_object_get(sj, "vendor"));
    src->profile = json_dup_string(json_object_get(sj, "profile"));
    const json_t *path = json_object_get(sj, "path"), *mount = json_object_get(sj, "mount");
    if (path != NULL) {
        src->path = xmalloc(sizeof(*src->path));
        tepui__resource__disk_info__source__path__init(src->path);
        src->path->root = json_dup_string(json_object_get(path, "root"));
    }
    if (mount != NULL) {
        src->mount = xmalloc(sizeof(*src->mount));
        tepui__resource__disk_info__source__mount__init(src->mount);
        src->mount->root = json_dup_string(json_object_get(mount, "root"));
    }
    return 0;
}

/* The value fields of one JSON resource into p. */
static int json_value(const char *name, const json_t *j, Tepui__Resource *p, struct error *err)
{
    const json_t *v;
    if ((v = json_object_get(j, "scalar")) != NULL) {
        const json_t *num = json_object_get(v, "value");
        if (!json_is_number(num))
            return res_error(err, name, "'scalar.value' must be a number");
        p->scalar = xmalloc(sizeof(*p->scalar));
        tepui__value__scalar__init(p->scalar);
        p->scalar->value = json_number_value(num);
    }
    if ((v = json_object_get(j, "ranges")) != NULL) {
        const json_t *arr = json_object_get(v, "range");
        if (arr != NULL && !json_is_array(arr))
            return res_error(err, name, "'ranges.range' must be an array");
        p->ranges = xmalloc(sizeof(*p->ranges));
        tepui__value__ranges__init(p->ranges);
        size_t n = arr ? json_array_size(arr) : 0;
        p->ranges->range = n ? xcalloc(n, sizeof(*p->ranges->range)) : NULL;
        for (size_t i = 0; i < n; i++) {
            const json_t *r = json_array_get(arr, i);
            const json_t *b = json_object_get(r, "begin"), *e = json_object_get(r, "end");
            if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
                json_integer_value(e) < 0)
                return res_error(err, name,
                                 "range %zu needs non-negative integer 'begin' and 'end'", i);
            Tepui__Value__Range *range = xmalloc(sizeof(*range));
            tepui__value__range__init(range);
            range->begin = (uint64_t)json_integer_value(b);
            range->end = (uint64_t)json_integer_value(e);
            p->ranges->range[p->ranges->n_range++] = range;
        }
    }
    if ((v = json_object_get(j, "set")) != NULL) {
        const json_t *arr = json_object_get(v, "item");
        if (arr != NULL && !json_is_array(arr))
            return res_error(err, name, "'set.item' must be an array");
        p->set = xmalloc(sizeof(*p->set));
        tepui__value__set__init(p->set);
        size_t n = arr ? json_array_size(arr) : 0;
        p->set->item = n ? xcalloc(n, sizeof(char *)) : NULL;
        for (size_t i = 0; i < n; i++) {
            const json_t *item = json_array_get(arr, i);
            if (!json_is_string(item))
                return res_error(err, name, "set item %zu must be a string", i);
            p->set->item[p->set->n_item++] = xstrdup(json_string_value(item));
        }
    }
    return 0;
}

/* One element of the JSON array into a newly allocated protobuf resource
 * (*out is set even on failure, for the caller to free). */
static int json_resource(const json_t *j, size_t index, const char *default_role,
                         Tepui__Resource **out, struct error *err)
{
    static const char *const types[] = {"SCALAR", "RANGES", "SET", "TEXT"};
    Tepui__Resource *p = xmalloc(sizeof(*p));
    tepui__resource__init(p);
    *out = p;
    if (!json_is_object(j))
        return error_set(err, -EINVAL, "resource %zu: must be an object", index);
    const json_t *name = json_object_get(j, "name");
    if (!json_is_string(name))
        return error_set(err, -EINVAL, "resource %zu: 'name' must be a string", index);
    p->name = xstrdup(json_string_value(name));
    int type;
    if (json_enum(json_object_get(j, "type"), types, 4, &type) != 0)
        return res_error(err, p->name, "'type' must be SCALAR, RANGES or SET");
    p->type = (Tepui__Value__Type)type;

    int rc;
    const json_t *v;
    if ((rc = json_value(p->name, j, p, err)) != 0)
        return rc;
    if ((v = json_object_get(j, "role")) != NULL) {
        if (!json_is_string(v))
            return res_error(err, p->name, "'role' must be a string");
        p->role = xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(j, "reservation")) != NULL &&
        (rc = json_reservation(p->name, v, &p->reservation, err)) != 0)
        return rc;
    if ((v = json_object_get(j, "reservations")) != NULL) {
        if (!json_is_array(v))
            return res_error(err, p->name, "'reservations' must be an array");
        size_t n = json_array_size(v);
        p->reservations = n ? xcalloc(n, sizeof(*p->reservations)) : NULL;
        for (size_t i = 0; i < n; i++) {
            rc = json_reservation(p->name, json_array_get(v, i), &p->reservations[i], err);
            p->n_reservations = i + 1;
            if (rc != 0)
                return rc;
        }
    }
    if ((v = json_object_get(j, "disk")) != NULL && (rc = json_disk(p->name, v, &p->disk, err)) != 0)
        return rc;
    if (json_object_get(j, "revocable") != NULL) {
        p->revocable = xmalloc(sizeof(*p->revocable));
        tepui__resource__revocable_info__init(p->revocable);
    }
    if (json_object_get(j, "shared") != NULL) {
        p->shared = xmalloc(sizeof(*p->shared));
        tepui__resource__shared_info__init(p->shared);
    }
    /* As Mesos's fromJSON: no role and no reservations means the default. */
    if (!proto_has_role(p) && p->n_reservations == 0 && default_role != NULL)
        p->role = xstrdup(default_role);
    return 0;
}

/* ---- parsing: entry point ------------------------------------------------- */

/* What an operator may not write in --resources (Mesos's
 * validateCommandLineResources); one is the entry just parsed. */
static int check_command_line(const struct resources *seen, const struct resource *one,
                              const Tepui__Resource *p, struct error *err)
{
    if (p->disk != NULL && p->disk->persistence != NULL)
        return res_error(err, one->name, "persistent volumes cannot be specified here");
    if (p->revocable != NULL)
        return res_error(err, one->name, "revocable resources cannot be specified here");
    if (p->n_reservations > 0 &&
        p->reservations[p->n_reservations - 1]->type == TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC)
        return res_error(err, one->name, "dynamic reservations cannot be specified here");
    if (p->n_reservations == 0 && p->reservation != NULL)
        return res_error(err, one->name, "dynamic reservations cannot be specified here");
    for (size_t i = 0; i < seen->n; i++)
        if (strcmp(seen->v[i].name, one->name) == 0 && seen->v[i].type != one->type)
            return res_error(err, one->name, "the same name is used with two different types");
    return 0;
}

static int parse_json(const char *text, const char *default_role, struct resources *out,
                      struct error *err)
{
    struct resources tmp = RESOURCES_INIT;
    /* Types of every item, empty ones included, for the one-name-one-type rule. */
    struct resources names = RESOURCES_INIT;
    Tepui__Resource *p = NULL;
    struct resource one;
    json_error_t jerr;
    int rc = 0;

    json_t *root = json_loads(text, 0, &jerr);
    if (root == NULL || !json_is_array(root)) {
        rc = error_set(err, -EINVAL, "resources JSON: %s",
                       root ? "expected an array of Resource objects" : jerr.text);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(root); i++) {
        if ((rc = json_resource(json_array_get(root, i), i, default_role, &p, err)) != 0)
            goto out;
        if ((rc = resource_from_proto(p, false, &one, err)) != 0)
            goto out;
        if ((rc = check_command_line(&names, &one, p, err)) != 0) {
            resource_clear(&one);
            goto out;
        }
        struct resource *seen = resources_push(&names);
        seen->name = xstrdup(one.name);
        seen->type = one.type;
        resources_add_owned(&tmp, &one);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        p = NULL;
    }
    resources_replace(out, &tmp);
out:
    if (p != NULL)
        protobuf_c_message_free_unpacked(&p->base, NULL);
    json_decref(root);
    resources_free(&names);
    resources_free(&tmp);
    return rc;
}

static int parse_text(const char *text, const char *default_role, struct resources *out,
                      struct error *err)
{
    struct resources tmp = RESOURCES_INIT;
    struct resources names = RESOURCES_INIT;
    struct resource one;
    int rc = 0;
    char *copy = xstrdup(text);

    for (char *tok = copy; tok != NULL;) {
        char *semi = strchr(tok, ';');
        if (semi != NULL)
            *semi = '\0';
        char *item = tok;
        tok = semi ? semi + 1 : NULL;
        /* Empty items (a trailing ';') are skipped, as Mesos's tokenizer does. */
        if (*trim(item) == '\0')
            continue;
        /* The fields the text syntax can carry, for check_command_line. */
        Tepui__Resource shape = TEPUI__RESOURCE__INIT;
        if ((rc = parse_text_item(item, default_role, &one, err)) != 0)
            goto out;
        if ((rc = check_command_line(&names, &one, &shape, err)) != 0) {
            resource_clear(&one);
            goto out;
        }
        struct resource *seen = resources_push(&names);
        seen->name = xstrdup(one.name);
        seen->type = one.type;
        resources_add_owned(&tmp, &one);
    }
    resources_replace(out, &tmp);
out:
    free(copy);
    resources_free(&names);
    resources_free(&tmp);
    return rc;
}

int resources_parse(const char *text, const char *default_role, struct resources *out,
                    struct error *err)
{
    const char *c = text;
    while (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')
        c++;
    /* No text item starts with '[', so this is the JSON form. */
    if (*c == '[')
        return parse_json(text, default_role, out, err);
    return parse_text(text, default_role, out, err);
}

/* ---- output for people ---------------------------------------------------- */

static void value_format(const struct resource *r, struct buf *out)
{
    switch (r->type) {
    case RES_SCALAR:
        scalar_format(r->scalar, out);
        break;
    case RES_RANGES:
        ranges_format(r->ranges, r->n_ranges, out);
        break;
    case RES_SET:
        items_format(r->items, r->n_items, out);
        break;
    }
}

void resources_format(const struct resources *r, struct buf *out)
{
    if (r->n == 0) {
        buf_append_str(out, "{}");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct resource *x = &r->v[i];
        if (i > 0)
            buf_append_char(out, ';');
        buf_append_str(out, x->name);
        if (x->allocation_role != NULL)
            buf_printf(out, "(allocated: %s)", x->allocation_role);
        if (x->reservation_role != NULL)
            buf_printf(out, "(%s)", x->reservation_role);
        if (x->flags & RES_REVOCABLE)
            buf_append_str(out, "{REV}");
        if (x->flags & RES_SHARED)
            buf_append_str(out, "<SHARED>");
        buf_append_char(out, ':');
        value_format(x, out);
    }
}

/* Everything named name with the given revocability and type, merged into
 * one value (scalars summed, ranges and sets united). */
static void aggregate(const struct resources *r, const char *name, enum resource_type type,
                      bool revocable, struct resource *acc)
{
    memset(acc, 0, sizeof(*acc));
    acc->type = type;
    for (size_t i = 0; i < r->n; i++) {
        const struct resource *x = &r->v[i];
        if (x->type == type && !(x->flags & RES_REVOCABLE) == !revocable &&
            strcmp(x->name, name) == 0 && !is_repeated_shared_copy(r, i))
            resource_merge(acc, x);
    }
}

json_t *resources_to_state_json(const struct resources *r)
{
    json_t *obj = json_object();
    static const char *const always[] = {"cpus", "gpus", "mem", "disk"};
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(obj, always[i], json_real(0.0));

    struct buf key = BUF_INIT, text = BUF_INIT;
    for (size_t i = 0; i < r->n; i++) {
        const struct resource *x = &r->v[i];
        bool revocable = (x->flags & RES_REVOCABLE) != 0;
        /* The first entry of each (name, revocability) speaks for all. */
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            if (strcmp(r->v[j].name, x->name) == 0 && !(r->v[j].flags & RES_REVOCABLE) == !revocable)
                first = false;
        if (!first)
            continue;

        struct resource acc;
        aggregate(r, x->name, x->type, revocable, &acc);
        buf_reset(&key);
        buf_printf(&key, "%s%s", x->name, revocable ? "_revocable" : "");
        if (x->type == RES_SCALAR) {
            json_object_set_new(obj, buf_cstr(&key), json_real(resources_scalar_to_double(acc.scalar)));
        } else {
            buf_reset(&text);
            value_format(&acc, &text);
            json_object_set_new(obj, buf_cstr(&key), json_string(buf_cstr(&text)));
        }
        resource_clear(&acc);
    }
    buf_free(&key);
    buf_free(&text);
    return obj;
}
