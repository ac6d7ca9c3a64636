/* What the in-memory and SQLite registry backends share: the changes made
 * during one turn of the loop form a batch, made durable together (one
 * transaction) at the end of that turn, after which their callbacks run in
 * order. Private to the backends. */
#ifndef TEPUI_MASTER_REGISTRY_BATCH_H
#define TEPUI_MASTER_REGISTRY_BATCH_H

#include <event2/event.h>
#include <stddef.h>

#include "master/registry.h"

struct registry_batch_entry {
    registry_done_fn done;
    void *arg;
};

struct registry_batch {
    struct event *flush_event;            /* runs flush_fn at the end of the turn */
    void (*flush_fn)(void *arg);
    void *flush_arg;
    struct registry_batch_entry *v;
    size_t n, cap;
};

/* flush_fn(arg) makes the batch durable and calls registry_batch_finish. */
void registry_batch_init(struct registry_batch *b, struct event_base *base,
                         void (*flush_fn)(void *arg), void *arg);
/* Whether changes are waiting for the end of the turn. */
int registry_batch_open(const struct registry_batch *b);
/* Adds a change's callback (done may be NULL) and schedules the flush. */
void registry_batch_add(struct registry_batch *b, registry_done_fn done, void *arg);
/* Runs the batch's callbacks in order with rc and err, and empties it;
 * callbacks may queue changes, which go into the next batch. */
void registry_batch_finish(struct registry_batch *b, int rc, const struct error *err);
/* Drops the callbacks still queued (without running them). */
void registry_batch_fini(struct registry_batch *b);

#endif
