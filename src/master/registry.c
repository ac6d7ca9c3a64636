/* What every registry backend shares: freeing a loaded state, records, and the
 * per-turn batch of changes (registry_batch.h) that the in-memory and
 * SQLite backends make durable together. The backends themselves live in
 * registry_memory.c and registry_sqlite.c. */
#include "master/registry.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "master/registry_batch.h"
#include "wire/pb.h"

void registry_state_free(struct registry_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_agents; i++) {
        free(s->agents[i].id);
        pb_free(s->agents[i].info);
    }
    free(s->agents);
    s->agents = NULL;
    s->n_agents = 0;
    for (size_t i = 0; i < s->n_records; i++) {
        free(s->records[i].kind);
        free(s->records[i].key);
        free(s->records[i].value);
    }
    free(s->records);
    s->records = NULL;
    s->n_records = 0;
}

void registry_state_add_record(struct registry_state *s, const char *kind, const char *key,
                               const void *value, size_t len)
{
    s->records = xrealloc(s->records, (s->n_records + 1) * sizeof(*s->records));
    struct registry_record *r = &s->records[s->n_records++];
    r->kind = xstrdup(kind);
    r->key = xstrdup(key);
    r->value = xmalloc(len ? len : 1);
    if (len > 0)
        memcpy(r->value, value, len);
    r->len = len;
}

/* ---- the turn's batch ---- */

static void batch_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct registry_batch *b = arg;
    (void)fd;
    (void)what;
    b->flush_fn(b->flush_arg);
}

void registry_batch_init(struct registry_batch *b, struct event_base *base,
                         void (*flush_fn)(void *arg), void *arg)
{
    memset(b, 0, sizeof(*b));
    b->flush_fn = flush_fn;
    b->flush_arg = arg;
    b->flush_event = event_new(base, -1, 0, batch_flush_cb, b);
}

int registry_batch_open(const struct registry_batch *b)
{
    return b->n > 0;
}

void registry_batch_add(struct registry_batch *b, registry_done_fn done, void *arg)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
    }
    b->v[b->n++] = (struct registry_batch_entry){done, arg};
    /* An active event runs once the loop is done with the current
     * callback, before it polls for I/O again. */
    if (b->n == 1)
        event_active(b->flush_event, EV_TIMEOUT, 1);
}

void registry_batch_finish(struct registry_batch *b, int rc, const struct error *err)
{
    struct registry_batch_entry *v = b->v;
    size_t n = b->n;
    b->v = NULL;
    b->n = b->cap = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].done != NULL)
            v[i].done(v[i].arg, rc, rc != 0 ? err : NULL);
    free(v);
}

void registry_batch_fini(struct registry_batch *b)
{
    if (b->flush_event != NULL)
        event_free(b->flush_event);
    free(b->v);
    memset(b, 0, sizeof(*b));
}
