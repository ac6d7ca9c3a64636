/* Offers: turning the allocator's allocations into Offer messages, their
 * bookkeeping on framework and agent, expiry (--offer_timeout) and rescinds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/maintenance.h"
#include "master/master.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

/* How long a framework without GPU_RESOURCES is not offered a GPU agent's
 * resources again after the allocator handed them to it. */
#define GPU_AGENT_FILTER_SECS 60.0

/* As Mesos: only frameworks that say they can use GPUs (GPU_RESOURCES) are
 * offered agents that have any, so GPUs are not taken by frameworks that
 * would tie them up with ordinary tasks. */
static int gpus_withheld(const struct framework *f, const struct agent *a)
{
    if (resources_scalar(&a->total, "gpus") <= 0)
        return 0;
    for (size_t i = 0; i < f->info->n_capabilities; i++)
        if (f->info->capabilities[i]->has_type &&
            f->info->capabilities[i]->type == TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__GPU_RESOURCES)
            return 0;
    return 1;
}

struct offer *offer_find(struct master *m, const char *id)
{
    struct offer *o = NULL;
    HASH_FIND_STR(m->offers, id, o);
    return o;
}

void offer_discard(struct offer *o)
{
    struct master *m = o->framework->master;
    HASH_DEL(m->offers, o);
    TAILQ_REMOVE(&o->framework->offers, o, framework_link);
    TAILQ_REMOVE(&o->agent->offers, o, agent_link);
    resources_subtract(&o->framework->offered, &o->resources);
    resources_subtract(&o->agent->offered, &o->resources);
    if (o->expiry_timer != NULL)
        event_free(o->expiry_timer);
    resources_free(&o->resources);
    free(o->role);
    free(o->id);
    free(o);
}

void offer_rescind(struct offer *o, int notify)
{
    struct master *m = o->framework->master;
    struct framework *f = o->framework;
    log_debug("rescinding offer %s of framework %s on agent %s", o->id, f->id, o->agent->id);
    allocator_recover(m->allocator, f->id, o->agent->id, &o->resources, -1);
    if (notify && f->connected) {
        Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
        Tepui__Scheduler__Event__Rescind r = TEPUI__SCHEDULER__EVENT__RESCIND__INIT;
        Tepui__OfferID oid = TEPUI__OFFER_ID__INIT;
        oid.value = o->id;
        r.offer_id = &oid;
        ev.has_type = 1;
        ev.type = TEPUI__SCHEDULER__EVENT__TYPE__RESCIND;
        ev.rescind = &r;
        framework_send_event(f, &ev);
        m->metrics.offers_rescinded++;
    }
    offer_discard(o);
}

static void offer_expired(evutil_socket_t fd, short what, void *arg)
{
    struct offer *o = arg;
    (void)fd;
    (void)what;
    log_info("offer %s of framework %s expired", o->id, o->framework->id);
    offer_rescind(o, 1);
}

void offer_make(void *arg, const char *framework_id, const struct allocation *allocs, size_t n)
{
    struct master *m = arg;
    struct framework *f = master_find_framework(m, framework_id);
    if (f == NULL || !f->connected) {
        for (size_t i = 0; i < n; i++)
            allocator_recover(m->allocator, framework_id, allocs[i].agent_id,
                              &allocs[i].resources, 0);
        return;
    }

    Tepui__Offer **offers = xcalloc(n, sizeof(*offers));
    size_t n_offers = 0;
    for (size_t i = 0; i < n; i++) {
        struct agent *a = master_find_agent(m, allocs[i].agent_id);
        if (a == NULL || !a->active) {
            allocator_recover(m->allocator, framework_id, allocs[i].agent_id,
                              &allocs[i].resources, 0);
            continue;
        }
        if (gpus_withheld(f, a)) {
            allocator_recover(m->allocator, framework_id, allocs[i].agent_id,
                              &allocs[i].resources, GPU_AGENT_FILTER_SECS);
            continue;
        }
        struct offer *o = XNEW(struct offer);
        char id[128];
        master_new_id(m, 'O', id, sizeof(id));
        o->id = xstrdup(id);
        o->framework = f;
        o->agent = a;
        o->role = xstrdup(allocs[i].role);
        resources_copy(&o->resources, &allocs[i].resources);
        HASH_ADD_KEYPTR(hh, m->offers, o->id, strlen(o->id), o);
        TAILQ_INSERT_TAIL(&f->offers, o, framework_link);
        TAILQ_INSERT_TAIL(&a->offers, o, agent_link);
        resources_add(&f->offered, &o->resources);
        resources_add(&a->offered, &o->resources);
        if (m->flags.offer_timeout > 0) {
            o->expiry_timer = event_new(m->base, -1, 0, offer_expired, o);
            struct timeval tv = clock_timeval(m->flags.offer_timeout);
            event_add(o->expiry_timer, &tv);
        }

        /* The message borrows from the agent and offer, except what we
         * allocate here and free below. */
        Tepui__Offer *po = xmalloc(sizeof(*po));
        tepui__offer__init(po);
        Tepui__OfferID *oid = xmalloc(sizeof(*oid));
        tepui__offer_id__init(oid);
        oid->value = o->id;
        po->id = oid;
        po->framework_id = f->info->id;
        po->agent_id = a->info->id;
        po->hostname = a->info->hostname;
        po->resources = resources_to_proto(&o->resources, &po->n_resources);
        po->n_attributes = a->info->n_attributes;
        po->attributes = a->info->attributes;
        po->domain = a->info->domain;
        /* Resources of a machine scheduled for maintenance say until when. */
        po->unavailability = (Tepui__Unavailability *)maintenance_unavailability(m, a);
        Tepui__Resource__AllocationInfo *ai = xmalloc(sizeof(*ai));
        tepui__resource__allocation_info__init(ai);
        ai->role = o->role;
        po->allocation_info = ai;
        /* Executors of this framework already running there. */
        size_t ne = 0;
        for (size_t k = 0; k < a->n_executors; k++)
            if (strcmp(a->executors[k].re->framework_id->value, f->id) == 0)
                ne++;
        if (ne > 0) {
            po->executor_ids = xcalloc(ne, sizeof(*po->executor_ids));
            for (size_t k = 0; k < a->n_executors; k++)
                if (strcmp(a->executors[k].re->framework_id->value, f->id) == 0)
                    po->executor_ids[po->n_executor_ids++] = a->executors[k].re->info->executor_id;
        }
        offers[n_offers++] = po;
    }

    if (n_offers > 0) {
        Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
        Tepui__Scheduler__Event__Offers eo = TEPUI__SCHEDULER__EVENT__OFFERS__INIT;
        eo.offers = offers;
        eo.n_offers = n_offers;
        ev.has_type = 1;
        ev.type = TEPUI__SCHEDULER__EVENT__TYPE__OFFERS;
        ev.offers = &eo;
        framework_send_event(f, &ev);
        m->metrics.offers_sent += n_offers;
    }

    for (size_t i = 0; i < n_offers; i++) {
        Tepui__Offer *po = offers[i];
        free(po->id);
        resources_proto_free(po->resources, po->n_resources);
        free(po->allocation_info);
        free(po->executor_ids);
        free(po);
    }
    free(offers);
}
