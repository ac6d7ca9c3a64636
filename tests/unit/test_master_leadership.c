/* The master's leadership: becoming the leader loads the registry (admitted
 * agents await re-registration, unreachable and gone ones are remembered);
 * stepping down forgets frameworks, agents, offers and tasks without
 * writing anything to the registry, and the master can be elected again;
 * a failed registry write stops the master. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "master/master.h"
#include "wire/pb.h"

struct fixture {
    struct event_base *base;
    struct master *m;
    struct flag_set fs;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    struct master_flags fl = {
        .ip = "127.0.0.1",
        .allocation_interval = 1,
        .min_allocatable_resources = "cpus:0.01|mem:32",
        .agent_ping_timeout = 15,
        .max_agent_ping_timeouts = 5,
        .framework_heartbeat_interval = 15,
        .max_completed_frameworks = 50,
        .max_completed_tasks_per_framework = 1000,
        .max_body_size = 1 << 20,
        .agent_reregister_timeout = 600,
        .registry_gc_interval = 900,
        .registry_max_agent_age = 14 * 86400,
        .registry_max_agent_count = 102400,
    };
    struct error err = {0};
    f->m = master_new(f->base, &fl, &f->fs, &err);
    assert_non_null(f->m);
    f->m->registry = registry_memory_new(f->base);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    master_free(f->m);
    event_base_free(f->base);
    free(f);
    return 0;
}

static Tepui__AgentInfo *agent_info(const char *id)
{
    Tepui__AgentInfo *info = xmalloc(sizeof(*info));
    tepui__agent_info__init(info);
    info->hostname = xstrdup("host");
    info->id = xmalloc(sizeof(*info->id));
    tepui__agent_id__init(info->id);
    info->id->value = xstrdup(id);
    return info;
}

static void seed_registry(struct fixture *f)
{
    Tepui__AgentInfo *info = agent_info("admitted");
    struct registry_op ops[] = {
        {.type = REGISTRY_ADMIT, .agent_id = "admitted", .info = info},
        {.type = REGISTRY_MARK_UNREACHABLE, .agent_id = "unreachable", .time = 100},
        {.type = REGISTRY_MARK_GONE, .agent_id = "gone", .time = 200},
    };
    for (size_t i = 0; i < 3; i++)
        registry_apply(f->m->registry, &ops[i], NULL, NULL);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    pb_free(info);
}

static void expect_recovered_view(struct master *m)
{
    assert_true(m->leading);
    struct recovered_agent *r = master_find_recovered(m, "admitted");
    assert_non_null(r);
    assert_string_equal(r->info->hostname, "host");
    assert_int_equal(HASH_COUNT(m->recovered), 1);
    struct unreachable_agent *u = master_find_unreachable(m, "unreachable");
    assert_non_null(u);
    assert_true(u->time == 100);
    struct gone_agent *g = master_find_gone(m, "gone");
    assert_non_null(g);
    assert_true(g->time == 200);
    assert_non_null(m->agent_reregister_timer);
    assert_non_null(m->registry_gc_timer);
}

/* What a registered agent with a task and an offer looks like inside. */
static void add_agent_framework_task_offer(struct master *m)
{
    struct agent *a = XNEW(struct agent);
    a->master = m;
    a->id = xstrdup("live");
    a->info = agent_info("live");
    TAILQ_INIT(&a->tasks);
    TAILQ_INIT(&a->offers);
    resources_init(&a->used);
    resources_init(&a->offered);
    assert_int_equal(resources_parse("cpus:4;mem:1024", NULL, &a->total, NULL), 0);
    a->connected = a->active = 1;
    HASH_ADD_KEYPTR(hh, m->agents, a->id, strlen(a->id), a);
    allocator_add_agent(m->allocator, a->id, &a->total);

    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    fi.user = "u";
    fi.name = "fw";
    struct framework *f = framework_create(m, "fw-1", &fi);
    f->connected = f->active = 1;
    struct framework *done = framework_create(m, "fw-2", &fi);
    framework_remove(done, "test");
    assert_int_equal(m->n_completed_frameworks, 1);

    struct resources res = RESOURCES_INIT;
    assert_int_equal(resources_parse("cpus:1;mem:32", NULL, &res, NULL), 0);
    resources_set_allocation_role(&res, "*");
    Tepui__TaskInfo ti = TEPUI__TASK_INFO__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    tid.value = "t-1";
    ti.name = "t";
    ti.task_id = &tid;
    task_create(f, a, &ti, &res, "*", NULL);
    allocator_add_used(m->allocator, f->id, a->id, &res);
    struct allocation alloc = {.agent_id = a->id, .role = "*", .resources = res};
    offer_make(m, f->id, &alloc, 1);
    assert_int_equal(HASH_COUNT(m->offers), 1);
    resources_free(&res);
}

static void leader_recovers_the_registry_and_steps_down_quietly(void **state)
{
    struct fixture *f = *state;
    struct master *m = f->m;
    seed_registry(f);
    assert_false(m->leading);
    struct error err = {0};
    assert_int_equal(master_become_leader(m, &err), 0);
    expect_recovered_view(m);
    add_agent_framework_task_offer(m);

    master_stop_leading(m);
    assert_false(m->leading);
    assert_null(m->frameworks);
    assert_null(m->agents);
    assert_null(m->offers);
    assert_null(m->recovered);
    assert_null(m->unreachable);
    assert_null(m->gone);
    assert_int_equal(m->n_completed_frameworks, 0);
    assert_int_equal(m->flags.max_completed_frameworks, 50);
    assert_null(m->agent_reregister_timer);
    assert_null(m->registry_gc_timer);
    assert_non_null(m->allocator);
    /* Stepping down wrote nothing: the live agent was never lost. */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    struct registry_state s = {0};
    assert_int_equal(registry_load(m->registry, &s, &err), 0);
    assert_int_equal(s.n_agents, 3);
    registry_state_free(&s);
    assert_false(m->registry_failed);

    /* Elected again: the same view from the registry. */
    assert_int_equal(master_become_leader(m, &err), 0);
    expect_recovered_view(m);
    /* A second call changes nothing. */
    assert_int_equal(master_become_leader(m, &err), 0);
    assert_int_equal(HASH_COUNT(m->recovered), 1);
}

static void stepping_down_when_not_leading_does_nothing(void **state)
{
    struct fixture *f = *state;
    master_stop_leading(f->m);
    assert_false(f->m->leading);
}

/* A backend whose writes fail. */
static int failing_load(struct registry *r, struct registry_state *out, struct error *err)
{
    (void)r;
    (void)err;
    memset(out, 0, sizeof(*out));
    return 0;
}

static void failing_apply(struct registry *r, const struct registry_op *op, registry_done_fn done,
                          void *arg)
{
    (void)r;
    struct error err = {0};
    error_set(&err, -EIO, "disk full writing agent %s", op->agent_id);
    done(arg, -EIO, &err);
}

static void failing_free(struct registry *r)
{
    (void)r;
}

static const struct registry_backend failing_backend = {
    .name = "failing", .load = failing_load, .apply = failing_apply, .free = failing_free};

static void failed_registry_write_stops_the_master(void **state)
{
    struct fixture *f = *state;
    registry_free(f->m->registry);
    static struct registry failing = {.backend = &failing_backend};
    failing.base = f->base;
    f->m->registry = &failing;
    assert_int_equal(master_become_leader(f->m, NULL), 0);
    master_registry_apply(f->m, REGISTRY_MARK_GONE, "a", NULL, 1);
    assert_true(f->m->registry_failed);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(leader_recovers_the_registry_and_steps_down_quietly),
        T(stepping_down_when_not_leading_does_nothing),
        T(failed_registry_write_stops_the_master),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
