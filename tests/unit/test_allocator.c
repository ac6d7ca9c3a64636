/* The allocator alone: DRF between frameworks and between weighted roles,
 * reservations, offer filters and their expiry, suppress and revive,
 * inactive frameworks and agents, and the minimum worth offering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "master/allocator/allocator.h"

#define MAX_GOT 256

struct got {
    char framework[32];
    char agent[32];
    char role[32];
    struct resources res;
};

static struct got got[MAX_GOT];
static size_t n_got;

static void on_offer(void *arg, const char *framework_id, const struct allocation *a, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n && n_got < MAX_GOT; i++) {
        struct got *g = &got[n_got++];
        snprintf(g->framework, sizeof(g->framework), "%s", framework_id);
        snprintf(g->agent, sizeof(g->agent), "%s", a[i].agent_id);
        snprintf(g->role, sizeof(g->role), "%s", a[i].role);
        resources_init(&g->res);
        resources_copy(&g->res, &a[i].resources);
    }
}

static void clear_got(void)
{
    for (size_t i = 0; i < n_got; i++)
        resources_free(&got[i].res);
    n_got = 0;
}

static int count_for(const char *framework)
{
    int n = 0;
    for (size_t i = 0; i < n_got; i++)
        n += strcmp(got[i].framework, framework) == 0;
    return n;
}

static struct allocator *new_allocator(const char *min_allocatable)
{
    struct allocator_options o = {.offer = on_offer};
    if (min_allocatable != NULL)
        assert_int_equal(allocator_parse_min_allocatable(min_allocatable, &o.min_allocatable,
                                                         &o.n_min_allocatable, NULL), 0);
    clear_got();
    return allocator_new(NULL, &o);
}

static void add_agents(struct allocator *a, int n, const char *text)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "agent%d", i);
        struct resources r = RESOURCES_INIT;
        assert_int_equal(resources_parse(text, NULL, &r, NULL), 0);
        allocator_add_agent(a, id, &r);
        resources_free(&r);
    }
}

static void add_framework(struct allocator *a, const char *id, const char *role)
{
    char *roles[1] = {(char *)role};
    allocator_add_framework(a, id, roles, 1, 1);
}

/* Gives everything offered back, as a decline with the given filter. */
static void give_back(struct allocator *a, double refuse)
{
    for (size_t i = 0; i < n_got; i++)
        allocator_recover(a, got[i].framework, got[i].agent, &got[i].res, refuse);
    clear_got();
}

static void lone_framework_gets_every_agent_once(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 5, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    allocator_run(a);
    assert_int_equal(n_got, 5);
    for (size_t i = 0; i < n_got; i++) {
        assert_int_equal(resources_scalar(&got[i].res, "cpus"), 4000);
        assert_string_equal(got[i].res.v[0].allocation_role, "*");
    }
    /* Everything is allocated now: nothing more to offer. */
    clear_got();
    allocator_run(a);
    assert_int_equal(n_got, 0);
    allocator_free(a);
}

static void two_frameworks_split_identical_agents_evenly(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    add_framework(a, "f2", "*");
    allocator_run(a);
    assert_int_equal(count_for("f1"), 5);
    assert_int_equal(count_for("f2"), 5);
    clear_got();
    allocator_free(a);
}

static void framework_with_larger_dominant_share_waits(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 2, "cpus:4;mem:4096");
    add_framework(a, "heavy", "*");
    add_framework(a, "light", "*");
    /* heavy already runs all of agent0 (half the cluster); the one free
     * agent must go to light, whose share is lower, whatever the order. */
    struct resources used = RESOURCES_INIT;
    resources_parse("cpus:4;mem:4096", NULL, &used, NULL);
    resources_set_allocation_role(&used, "*");
    allocator_add_used(a, "heavy", "agent0", &used);
    resources_free(&used);
    allocator_run(a);
    assert_int_equal(count_for("light"), 1);
    assert_int_equal(count_for("heavy"), 0);
    assert_string_equal(got[0].agent, "agent1");
    clear_got();
    allocator_free(a);
}

static void role_weights_bias_the_split(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    allocator_set_weight(a, "r1", 3);
    allocator_set_weight(a, "r2", 1);
    add_agents(a, 8, "cpus:4;mem:1024");
    add_framework(a, "f1", "r1");
    add_framework(a, "f2", "r2");
    allocator_run(a);
    assert_int_equal(count_for("f1"), 6);
    assert_int_equal(count_for("f2"), 2);
    clear_got();
    allocator_free(a);
}

static void reserved_resources_go_only_to_their_role(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 1, "cpus(web):2;mem(web):512");
    add_framework(a, "other", "batch");
    allocator_run(a);
    assert_int_equal(n_got, 0);
    add_framework(a, "webfw", "web");
    allocator_run(a);
    assert_int_equal(count_for("webfw"), 1);
    assert_string_equal(got[0].role, "web");
    assert_int_equal(resources_scalar(&got[0].res, "cpus"), 2000);
    clear_got();
    allocator_free(a);
}

static void refused_resources_are_not_offered_until_the_filter_expires(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 1, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    allocator_run(a);
    assert_int_equal(n_got, 1);
    give_back(a, 0.2);
    allocator_run(a);
    assert_int_equal(n_got, 0);
    /* The filter lapses: the next cycle after it offers again. */
    double deadline = clock_mono() + 5;
    while (n_got == 0 && clock_mono() < deadline)
        allocator_run(a);
    assert_int_equal(n_got, 1);
    clear_got();
    allocator_free(a);
}

static void a_filter_of_one_framework_lets_another_have_the_agent(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 1, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    allocator_run(a);
    assert_int_equal(count_for("f1"), 1);
    give_back(a, 3600);
    add_framework(a, "f2", "*");
    allocator_run(a);
    assert_int_equal(count_for("f2"), 1);
    assert_int_equal(count_for("f1"), 0);
    clear_got();
    allocator_free(a);
}

static void a_filter_on_less_does_not_hide_more(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 1, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    allocator_run(a);
    assert_int_equal(n_got, 1);
    /* It keeps half (a task) and refuses the rest for an hour. */
    struct resources half = RESOURCES_INIT, rest = RESOURCES_INIT;
    resources_parse("cpus:2;mem:512", NULL, &half, NULL);
    resources_copy(&rest, &got[0].res);
    resources_set_allocation_role(&half, "*");
    resources_subtract(&rest, &half);
    allocator_recover(a, "f1", "agent0", &rest, 3600);
    clear_got();
    allocator_run(a);
    assert_int_equal(n_got, 0);
    /* The task ends: what is free now is more than the refused part. */
    allocator_recover(a, "f1", "agent0", &half, -1);
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_int_equal(resources_scalar(&got[0].res, "cpus"), 4000);
    resources_free(&half);
    resources_free(&rest);
    clear_got();
    allocator_free(a);
}

static void suppressed_framework_gets_nothing_until_revived(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 2, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    allocator_suppress(a, "f1", NULL, 0);
    allocator_run(a);
    assert_int_equal(n_got, 0);
    allocator_revive(a, "f1", NULL, 0);
    allocator_run(a);
    assert_int_equal(n_got, 2);
    /* Revive also clears filters. */
    give_back(a, 3600);
    allocator_run(a);
    assert_int_equal(n_got, 0);
    allocator_revive(a, "f1", NULL, 0);
    allocator_run(a);
    assert_int_equal(n_got, 2);
    clear_got();
    allocator_free(a);
}

/* Filters are per role: a framework in two roles that declines the agent in
 * one is offered it in the other; reviving one role brings back only that
 * role's offers, however many times the filtered answer was asked before. */
static void filters_and_revive_are_per_role(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 1, "cpus:4;mem:1024");
    char *roles[2] = {"a", "b"};
    allocator_add_framework(a, "f1", roles, 2, 1);
    allocator_run(a);
    assert_int_equal(n_got, 1);
    char first[32];
    snprintf(first, sizeof(first), "%s", got[0].role);
    give_back(a, 3600);
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_string_not_equal(got[0].role, first);
    give_back(a, 3600);
    for (int i = 0; i < 3; i++) {
        allocator_run(a);
        assert_int_equal(n_got, 0);
    }
    char *revived[1] = {first};
    allocator_revive(a, "f1", revived, 1);
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_string_equal(got[0].role, first);
    give_back(a, 3600);
    /* Dropping an agent or a framework drops its filters too. */
    allocator_remove_agent(a, "agent0");
    add_agents(a, 1, "cpus:4;mem:1024");
    allocator_run(a);
    assert_int_equal(n_got, 1);
    give_back(a, 3600);
    allocator_remove_framework(a, "f1");
    allocator_free(a);
}

/* A declined agent stays filtered cycle after cycle; once something else
 * on it is freed, it is offered again. */
static void freeing_more_lifts_a_remembered_filter(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 1, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    add_framework(a, "f2", "*");
    allocator_run(a);
    assert_int_equal(n_got, 1);
    char holder[32];
    snprintf(holder, sizeof(holder), "%s", got[0].framework);
    const char *other = strcmp(holder, "f1") == 0 ? "f2" : "f1";
    /* The holder keeps a task's worth, the other declines the rest. */
    struct resources task = RESOURCES_INIT, rest = RESOURCES_INIT;
    resources_parse("cpus:1;mem:256", NULL, &task, NULL);
    resources_set_allocation_role(&task, "*");
    resources_copy(&rest, &got[0].res);
    resources_subtract(&rest, &task);
    allocator_recover(a, holder, "agent0", &rest, 3600);
    clear_got();
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_string_equal(got[0].framework, other);
    give_back(a, 3600);
    for (int i = 0; i < 3; i++) {
        allocator_run(a);
        assert_int_equal(n_got, 0);
    }
    /* The task ends: more is free than either refused. */
    clear_got();
    allocator_recover(a, holder, "agent0", &task, -1);
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_int_equal(resources_scalar(&got[0].res, "cpus"), 4000);
    resources_free(&task);
    resources_free(&rest);
    clear_got();
    allocator_free(a);
}

static void inactive_frameworks_and_agents_are_skipped(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 2, "cpus:4;mem:1024");
    add_framework(a, "f1", "*");
    allocator_deactivate_framework(a, "f1");
    allocator_run(a);
    assert_int_equal(n_got, 0);
    allocator_activate_framework(a, "f1");
    allocator_deactivate_agent(a, "agent1");
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_string_equal(got[0].agent, "agent0");
    clear_got();
    allocator_free(a);
}

static void too_little_to_be_worth_offering_is_kept(void **state)
{
    (void)state;
    struct allocator *a = new_allocator("cpus:0.01|mem:32");
    add_agents(a, 1, "cpus:0.005;mem:16");
    add_framework(a, "f1", "*");
    allocator_run(a);
    assert_int_equal(n_got, 0);
    struct resources more = RESOURCES_INIT;
    resources_parse("mem:32", NULL, &more, NULL);
    allocator_add_agent(a, "big", &more);
    resources_free(&more);
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_string_equal(got[0].agent, "big");
    clear_got();
    allocator_free(a);
}

static void bad_min_allocatable_is_an_error(void **state)
{
    (void)state;
    struct resources *alts = NULL;
    size_t n = 0;
    struct error err = {0};
    assert_true(allocator_parse_min_allocatable("cpus:-1|mem:32", &alts, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "min_allocatable"));
    assert_null(alts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lone_framework_gets_every_agent_once),
        cmocka_unit_test(two_frameworks_split_identical_agents_evenly),
        cmocka_unit_test(framework_with_larger_dominant_share_waits),
        cmocka_unit_test(role_weights_bias_the_split),
        cmocka_unit_test(reserved_resources_go_only_to_their_role),
        cmocka_unit_test(refused_resources_are_not_offered_until_the_filter_expires),
        cmocka_unit_test(a_filter_of_one_framework_lets_another_have_the_agent),
        cmocka_unit_test(a_filter_on_less_does_not_hide_more),
        cmocka_unit_test(filters_and_revive_are_per_role),
        cmocka_unit_test(freeing_more_lifts_a_remembered_filter),
        cmocka_unit_test(suppressed_framework_gets_nothing_until_revived),
        cmocka_unit_test(inactive_frameworks_and_agents_are_skipped),
        cmocka_unit_test(too_little_to_be_worth_offering_is_kept),
        cmocka_unit_test(bad_min_allocatable_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
