/* DRF sorter implementation. Shares are recomputed only for dirty clients or
 * after the pool's totals change; a full sort is a qsort of a few hundred
 * pointers, and during an allocation cycle a client that received resources
 * is moved by insertion rather than re-sorting everyone. */
#include "master/allocator/sorter.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

int sorter_pool_index(struct sorter_pool *pool, const char *name)
{
    for (size_t i = 0; i < pool->n_names; i++)
        if (strcmp(pool->names[i], name) == 0)
            return (int)i;
    if (pool->n_names == SORTER_MAX_NAMES)
        return -1;
    pool->names[pool->n_names] = xstrdup(name);
    pool->total[pool->n_names] = 0;
    return (int)pool->n_names++;
}

void sorter_pool_free(struct sorter_pool *pool)
{
    for (size_t i = 0; i < pool->n_names; i++)
        free(pool->names[i]);
    pool->n_names = 0;
}

void sorter_init(struct sorter *s, struct sorter_pool *pool)
{
    memset(s, 0, sizeof(*s));
    s->pool = pool;
}

void sorter_free(struct sorter *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->clients[i]->name);
        free(s->clients[i]);
    }
    free(s->clients);
    s->clients = NULL;
    s->n = 0;
}

struct sorter_client *sorter_add(struct sorter *s, const char *name, void *data)
{
    struct sorter_client *c = XNEW(struct sorter_client);
    c->name = xstrdup(name);
    c->weight = 1.0;
    c->active = 1;
    c->dirty = 1;
    c->data = data;
    s->clients = xrealloc(s->clients, (s->n + 1) * sizeof(*s->clients));
    s->clients[s->n++] = c;
    s->dirty = 1;
    return c;
}

void sorter_remove(struct sorter *s, struct sorter_client *c)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->clients[i] == c) {
            memmove(&s->clients[i], &s->clients[i + 1], (s->n - i - 1) * sizeof(*s->clients));
            s->n--;
            break;
        }
    }
    free(c->name);
    free(c);
}

struct sorter_client *sorter_find(const struct sorter *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->clients[i]->name, name) == 0)
            return s->clients[i];
    return NULL;
}

void sorter_set_weight(struct sorter *s, struct sorter_client *c, double weight)
{
    c->weight = weight > 0 ? weight : 1.0;
    c->dirty = 1;
    s->dirty = 1;
}

void sorter_set_active(struct sorter *s, struct sorter_client *c, int active)
{
    c->active = active;
    s->dirty = 1;
}

void sorter_update(struct sorter *s, struct sorter_client *c, const int64_t *q, int sign)
{
    for (size_t i = 0; i < s->pool->n_names; i++) {
        c->allocated[i] += sign * q[i];
        if (c->allocated[i] < 0)
            c->allocated[i] = 0;
    }
    if (sign > 0)
        c->allocations++;
    c->dirty = 1;
    s->dirty = 1;
}

void sorter_invalidate(struct sorter *s) { s->dirty = 1; }

double sorter_share(struct sorter *s, struct sorter_client *c)
{
    if (!c->dirty && c->share_generation == s->pool->generation)
        return c->share;
    double share = 0;
    for (size_t i = 0; i < s->pool->n_names; i++) {
        if (s->pool->total[i] <= 0 || c->allocated[i] <= 0)
            continue;
        double f = (double)c->allocated[i] / (double)s->pool->total[i];
        if (f > share)
            share = f;
    }
    c->share = share / c->weight;
    c->share_generation = s->pool->generation;
    c->dirty = 0;
    return c->share;
}

/* Inactive clients sort last; then by share, allocations, name. */
static int compare_clients(const struct sorter_client *a, const struct sorter_client *b)
{
    if (a->active != b->active)
        return a->active ? -1 : 1;
    if (a->share < b->share)
        return -1;
    if (a->share > b->share)
        return 1;
    if (a->allocations != b->allocations)
        return a->allocations < b->allocations ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int compare_ptrs(const void *x, const void *y)
{
    return compare_clients(*(struct sorter_client *const *)x, *(struct sorter_client *const *)y);
}

struct sorter_client **sorter_sorted(struct sorter *s, size_t *n)
{
    int need = s->dirty;
    for (size_t i = 0; i < s->n; i++) {
        struct sorter_client *c = s->clients[i];
        if (c->dirty || c->share_generation != s->pool->generation) {
            sorter_share(s, c);
            need = 1;
        }
    }
    if (need && s->n > 1)
        qsort(s->clients, s->n, sizeof(*s->clients), compare_ptrs);
    s->dirty = 0;
    *n = s->n;
    return s->clients;
}

void sorter_reposition(struct sorter *s, size_t i)
{
    struct sorter_client *c = s->clients[i];
    sorter_share(s, c);
    size_t j = i;
    while (j + 1 < s->n && compare_clients(s->clients[j + 1], c) < 0) {
        s->clients[j] = s->clients[j + 1];
        j++;
    }
    s->clients[j] = c;
}
