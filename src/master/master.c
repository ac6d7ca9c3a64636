/* The master's lifetime: identity (a UUID per run, as Mesos draws one),
 * MasterInfo, the HTTP server and its routes, the allocator, and lookups
 * shared by the other master modules. */
#include "master/master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "common/xalloc.h"
#include "master/quota.h"

#define LOG_COMPONENT "master"

void master_new_id(struct master *m, char kind, char *out, size_t n)
{
    switch (kind) {
    case 'F':
        snprintf(out, n, "%s-%04" PRIu64, m->id, m->next_framework++);
        break;
    case 'O':
        snprintf(out, n, "%s-O%" PRIu64, m->id, m->next_offer++);
        break;
    case 'S':
        snprintf(out, n, "%s-S%" PRIu64, m->id, m->next_agent++);
        break;
    default:
        snprintf(out, n, "%s-%c", m->id, kind);
    }
}

struct framework *master_find_framework(struct master *m, const char *id)
{
    struct framework *f = NULL;
    HASH_FIND_STR(m->frameworks, id, f);
    return f;
}

struct agent *master_find_agent(struct master *m, const char *id)
{
    struct agent *a = NULL;
    HASH_FIND_STR(m->agents, id, a);
    return a;
}

static void build_master_info(struct master *m)
{
    Tepui__MasterInfo *mi = xmalloc(sizeof(*mi));
    tepui__master_info__init(mi);
    mi->id = xstrdup(m->id);
    struct in_addr addr;
    if (inet_pton(AF_INET, m->ip, &addr) == 1)
        mi->ip = addr.s_addr;   /* network byte order, as Mesos stores it */
    mi->port = (uint32_t)m->port;
    mi->pid = xstrdup(m->pid);
    mi->hostname = xstrdup(m->hostname);
    mi->version = xstrdup(TEPUI_VERSION);
    Tepui__Address *a = xmalloc(sizeof(*a));
    tepui__address__init(a);
    a->hostname = xstrdup(m->hostname);
    a->ip = xstrdup(m->ip);
    a->port = m->port;
    mi->address = a;
    m->info = mi;
}

static int create_allocator(struct master *m, struct error *err)
{
    const struct master_flags *flags = &m->flags;
    struct resources *min = NULL;
    size_t n_min = 0;
    if (flags->min_allocatable_resources != NULL && flags->min_allocatable_resources[0] != '\0' &&
        allocator_parse_min_allocatable(flags->min_allocatable_resources, &min, &n_min, err) != 0)
        return -EINVAL;
    struct allocator_options ao = {
        .allocation_interval = flags->allocation_interval,
        .min_allocatable = min,
        .n_min_allocatable = n_min,
        .offer = offer_make,
        .arg = m,
    };
    m->allocator = allocator_new(m->base, &ao);
    return 0;
}

void master_reset_allocator(struct master *m)
{
    allocator_free(m->allocator);
    m->allocator = NULL;
    /* The flag parsed when the master started. */
    create_allocator(m, NULL);
}

struct master *master_new(struct event_base *base, struct master_flags *flags,
                          struct flag_set *flag_set, struct error *err)
{
    struct master *m = XNEW(struct master);
    m->base = base;
    m->flags = *flags;
    m->flag_set = flag_set;
    struct uuid u;
    char us[UUID_STR_LEN];
    uuid_random(&u);
    uuid_format(&u, us);
    snprintf(m->id, sizeof(m->id), "%s", us);
    snprintf(m->ip, sizeof(m->ip), "%s", flags->ip);
    if (flags->hostname != NULL && flags->hostname[0] != '\0')
        snprintf(m->hostname, sizeof(m->hostname), "%s", flags->hostname);
    else if (gethostname(m->hostname, sizeof(m->hostname)) != 0)
        snprintf(m->hostname, sizeof(m->hostname), "%s", flags->ip);
    m->start_time = clock_wall();
    m->elected_time = m->start_time;
    m->next_framework = 0;
    m->next_agent = 0;
    m->next_offer = 0;

    if (create_allocator(m, err) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

int master_start(struct master *m, struct error *err)
{
    struct http_server_options ho = {
        .max_body_bytes = (size_t)m->flags.max_body_size,
        .max_header_bytes = 64 * 1024,
        .idle_timeout_secs = 300,
    };
    m->http = http_server_new(m->base, &ho);
    if (m->http == NULL)
        return error_set(err, -ENOMEM, "cannot create the HTTP server");
    int rc = http_server_bind(m->http, m->ip, m->flags.port, &m->port, err);
    if (rc != 0)
        return rc;
    snprintf(m->pid, sizeof(m->pid), "master@%s:%d", m->ip, m->port);
    build_master_info(m);
    scheduler_api_routes(m);
    agent_routes(m);
    state_routes(m);
    operator_api_routes(m);
    quota_routes(m);
    log_info("master %s listening on %s:%d", m->id, m->ip, m->port);
    return 0;
}

void master_free(struct master *m)
{
    if (m == NULL)
        return;
    /* As a Mesos master that exits: agents keep running their tasks and
     * re-register with the next master; nothing is killed or recorded. */
    master_forget_state(m);
    master_durable_answers_free(m);
    http_server_free(m->http);
    allocator_free(m->allocator);
    if (m->info)
        protobuf_c_message_free_unpacked(&m->info->base, NULL);
    registry_free(m->registry);
    quota_free(m->quota);
    free(m);
}
