/* A Dominant Resource Fairness sorter: orders clients (roles, or frameworks
 * within a role) by their dominant share, the largest fraction of any
 * resource of the pool they hold, divided by their weight. Ties go to the
 * client with fewer allocations, then to the name. Sorting is lazy: only
 * clients whose allocation changed are re-scored. */
#ifndef TEPUI_MASTER_SORTER_H
#define TEPUI_MASTER_SORTER_H

#include <stddef.h>
#include <stdint.h>

/* Scalar resources tracked for fairness; names past this many are ignored
 * by the sorter (they are still allocated, just not weighed). */
#define SORTER_MAX_NAMES 16

struct sorter_pool {
    char *names[SORTER_MAX_NAMES];
    size_t n_names;
    int64_t total[SORTER_MAX_NAMES];   /* thousandths, the cluster's total */
    uint64_t generation;               /* bumps when totals change */
};

/* Index of a scalar resource name in the pool, adding it if there is room;
 * -1 when the pool is full. */
int sorter_pool_index(struct sorter_pool *pool, const char *name);
void sorter_pool_free(struct sorter_pool *pool);

struct sorter_client {
    char *name;
    double weight;
    int active;
    int64_t allocated[SORTER_MAX_NAMES];
    uint64_t allocations;              /* how many times it was allocated to */
    double share;                      /* cached dominant share / weight */
    uint64_t share_generation;
    int dirty;
    void *data;                        /* owner's pointer */
};

struct sorter {
    struct sorter_pool *pool;
    struct sorter_client **clients;    /* sorted when !dirty */
    size_t n;
    int dirty;
};

void sorter_init(struct sorter *s, struct sorter_pool *pool);
void sorter_free(struct sorter *s);
struct sorter_client *sorter_add(struct sorter *s, const char *name, void *data);
void sorter_remove(struct sorter *s, struct sorter_client *c);
struct sorter_client *sorter_find(const struct sorter *s, const char *name);
void sorter_set_weight(struct sorter *s, struct sorter_client *c, double weight);
void sorter_set_active(struct sorter *s, struct sorter_client *c, int active);
/* Adds (sign = +1) or removes (-1) a quantity vector from the client. */
void sorter_update(struct sorter *s, struct sorter_client *c, const int64_t *quantities, int sign);
/* Marks every share stale (the pool's totals changed). */
void sorter_invalidate(struct sorter *s);
/* Clients in fair order (lowest share first); the array is the sorter's own. */
struct sorter_client **sorter_sorted(struct sorter *s, size_t *n);
/* Re-sorts after the client at position i gained an allocation during a
 * cycle, by moving it right past clients it now exceeds. */
void sorter_reposition(struct sorter *s, size_t i);
double sorter_share(struct sorter *s, struct sorter_client *c);

#endif
