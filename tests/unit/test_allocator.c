/* The allocator alone: DRF between frameworks and between weighted roles,
 * roles in a hierarchy, quota guarantees and limits, reservations, offer
 * filters and their expiry, suppress and revive, inactive frameworks and
 * agents, and the minimum worth offering. */
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

#define MAX_GOT 1024

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

/* ---- roles in a hierarchy, quota ---- */

static int64_t cpus_for(const char *framework)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n_got; i++)
        if (strcmp(got[i].framework, framework) == 0)
            sum += resources_scalar(&got[i].res, "cpus");
    return sum;
}

static int64_t cpus_in_role(const char *role)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n_got; i++)
        if (strcmp(got[i].role, role) == 0)
            sum += resources_scalar(&got[i].res, "cpus");
    return sum;
}

static size_t quantities(const struct resources *r, struct allocator_quantity *q)
{
    for (size_t i = 0; i < r->n; i++)
        q[i] = (struct allocator_quantity){r->v[i].name, r->v[i].scalar};
    return r->n;
}

static void set_quota(struct allocator *a, const char *role, const char *guarantee,
                      const char *limit)
{
    struct resources g = RESOURCES_INIT, l = RESOURCES_INIT;
    if (guarantee != NULL)
        assert_int_equal(resources_parse(guarantee, NULL, &g, NULL), 0);
    if (limit != NULL)
        assert_int_equal(resources_parse(limit, NULL, &l, NULL), 0);
    struct allocator_quantity gq[8], lq[8];
    size_t ng = quantities(&g, gq), nl = quantities(&l, lq);
    allocator_set_quota(a, role, gq, ng, lq, nl);
    resources_free(&g);
    resources_free(&l);
}

/* Sibling subtrees are compared by everything below them: "a/x" and "a/y"
 * together get what "b" gets, and split it between them. */
static void sibling_subtrees_share_by_everything_below_them(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 12, "cpus:4;mem:1024");
    add_framework(a, "fx", "a/x");
    add_framework(a, "fy", "a/y");
    add_framework(a, "fb", "b");
    allocator_run(a);
    assert_int_equal(count_for("fx"), 3);
    assert_int_equal(count_for("fy"), 3);
    assert_int_equal(count_for("fb"), 6);
    clear_got();
    allocator_free(a);
}

/* A role's own frameworks compete with its children as one more sibling. */
static void a_role_with_frameworks_and_children_shares_with_them(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 8, "cpus:4;mem:1024");
    add_framework(a, "fe", "eng");
    add_framework(a, "fw", "eng/web");
    add_framework(a, "fo", "ops");
    allocator_run(a);
    assert_int_equal(count_for("fe"), 2);
    assert_int_equal(count_for("fw"), 2);
    assert_int_equal(count_for("fo"), 4);
    clear_got();
    allocator_free(a);
}

/* Weights apply among siblings deep in the tree too. */
static void weights_bias_nested_siblings(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    allocator_set_weight(a, "eng/a", 2);
    add_agents(a, 9, "cpus:4;mem:1024");
    add_framework(a, "fa", "eng/a");
    add_framework(a, "fb", "eng/b");
    allocator_run(a);
    assert_int_equal(count_for("fa"), 6);
    assert_int_equal(count_for("fb"), 3);
    clear_got();
    allocator_free(a);
}

/* Over many agents weighted shares converge to the weights' ratio. */
static void weighted_shares_converge(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    allocator_set_weight(a, "w1", 1);
    allocator_set_weight(a, "w2", 2);
    allocator_set_weight(a, "w3", 3);
    add_agents(a, 600, "cpus:1;mem:256");
    add_framework(a, "f1", "w1");
    add_framework(a, "f2", "w2");
    add_framework(a, "f3", "w3");
    allocator_run(a);
    assert_int_equal(count_for("f1"), 100);
    assert_int_equal(count_for("f2"), 200);
    assert_int_equal(count_for("f3"), 300);
    clear_got();
    allocator_free(a);
}

/* Within a role, DRF: a framework that already holds a lot (tasks reported
 * by an agent) waits until the other catches up. */
static void frameworks_within_a_role_catch_up_by_drf(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    add_framework(a, "old", "r");
    add_framework(a, "new", "r");
    struct resources used = RESOURCES_INIT;
    assert_int_equal(resources_parse("cpus:4;mem:1024", NULL, &used, NULL), 0);
    resources_set_allocation_role(&used, "r");
    for (int i = 0; i < 4; i++) {
        char id[32];
        snprintf(id, sizeof(id), "agent%d", i);
        allocator_add_used(a, "old", id, &used);
    }
    resources_free(&used);
    allocator_run(a);
    /* 6 agents free: "new" gets 5 to reach 5, "old" one to reach 5. */
    assert_int_equal(count_for("new"), 5);
    assert_int_equal(count_for("old"), 1);
    clear_got();
    allocator_free(a);
}

/* A framework in several roles is offered in each, every resource carrying
 * the role it is allocated to. */
static void a_multi_role_framework_is_offered_in_each_role(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 4, "cpus:4;mem:1024;ports:[31000-31009]");
    char *roles[2] = {"r1", "r2"};
    allocator_add_framework(a, "multi", roles, 2, 1);
    add_framework(a, "single", "r2");
    allocator_run(a);
    int in_r1 = 0, in_r2 = 0;
    for (size_t i = 0; i < n_got; i++) {
        for (size_t j = 0; j < got[i].res.n; j++)
            assert_string_equal(got[i].res.v[j].allocation_role, got[i].role);
        if (strcmp(got[i].framework, "multi") == 0) {
            in_r1 += strcmp(got[i].role, "r1") == 0;
            in_r2 += strcmp(got[i].role, "r2") == 0;
        } else {
            assert_string_equal(got[i].role, "r2");
        }
    }
    assert_int_equal(in_r1, 2);
    assert_true(in_r2 >= 1);
    assert_int_equal(n_got, 4);
    clear_got();
    allocator_free(a);
}

/* UPDATE_FRAMEWORK's suppressed_roles replace the set: a role left out is
 * offered again, one named stops being offered. */
static void suppressed_roles_can_be_replaced(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 2, "cpus:4;mem:1024");
    char *roles[2] = {"r1", "r2"};
    allocator_add_framework(a, "f", roles, 2, 1);
    char *r1[1] = {"r1"}, *r2[1] = {"r2"};
    allocator_suppress(a, "f", r1, 1);
    allocator_run(a);
    assert_int_equal(n_got, 2);
    assert_string_equal(got[0].role, "r2");
    assert_string_equal(got[1].role, "r2");
    give_back(a, -1);
    allocator_set_suppressed_roles(a, "f", r2, 1);
    allocator_run(a);
    assert_int_equal(n_got, 2);
    assert_string_equal(got[0].role, "r1");
    assert_string_equal(got[1].role, "r1");
    give_back(a, -1);
    allocator_set_suppressed_roles(a, "f", NULL, 0);
    allocator_run(a);
    assert_int_equal(n_got, 2);
    clear_got();
    allocator_free(a);
}

/* Stage one: a role whose guarantee is not met gets it before roles
 * without quota share what is left, however many there are. */
static void quota_guarantee_is_met_before_fair_sharing(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    set_quota(a, "q", "cpus:24", NULL);
    add_framework(a, "fa", "a");
    add_framework(a, "fb", "b");
    add_framework(a, "fc", "c");
    add_framework(a, "fq", "q");
    allocator_run(a);
    assert_true(cpus_for("fq") >= 24000);
    assert_true(cpus_for("fa") > 0);
    int64_t total = 0;
    for (size_t i = 0; i < n_got; i++)
        total += resources_scalar(&got[i].res, "cpus");
    assert_int_equal(total, 40000);
    clear_got();
    allocator_free(a);
}

/* Headroom: resources are held back for a guarantee even while no
 * framework of that role is there to take them, and go to it when one
 * comes. */
static void headroom_is_kept_for_an_unmet_guarantee(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    set_quota(a, "q", "cpus:16", NULL);
    add_framework(a, "fa", "a");
    allocator_run(a);
    assert_int_equal(cpus_for("fa"), 24000);
    clear_got();
    allocator_run(a);
    assert_int_equal(n_got, 0);
    add_framework(a, "fq", "q");
    allocator_run(a);
    assert_int_equal(cpus_for("fq"), 16000);
    clear_got();
    /* The quota removed, nothing is held back any more. */
    set_quota(a, "q", NULL, NULL);
    allocator_run(a);
    clear_got();
    allocator_free(a);
}

/* A limit caps what a role and its descendants hold together, offers
 * included, cycle after cycle; other roles get the rest. */
static void limit_is_never_exceeded_counting_descendants(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    set_quota(a, "eng", NULL, "cpus:10");
    add_framework(a, "fa", "eng/a");
    add_framework(a, "fb", "eng/b");
    add_framework(a, "fo", "ops");
    allocator_run(a);
    assert_int_equal(cpus_for("fa") + cpus_for("fb"), 10000);
    assert_int_equal(cpus_for("fo"), 30000);
    /* Give back what eng got and run again: still within the limit. */
    for (size_t i = 0; i < n_got; i++)
        if (strcmp(got[i].framework, "fo") != 0)
            allocator_recover(a, got[i].framework, got[i].agent, &got[i].res, -1);
    clear_got();
    allocator_run(a);
    assert_int_equal(cpus_in_role("eng/a") + cpus_in_role("eng/b"), 10000);
    assert_int_equal(cpus_for("fo"), 0);
    clear_got();
    /* A limit on the child is within the parent's. */
    set_quota(a, "eng/a", NULL, "cpus:2");
    allocator_run(a);
    assert_int_equal(n_got, 0);
    allocator_free(a);
}

/* A guarantee with a limit: the role gets its guarantee first and never
 * more than its limit. */
static void guarantee_and_limit_together(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    set_quota(a, "q", "cpus:8", "cpus:12");
    add_framework(a, "fq", "q");
    add_framework(a, "f1", "x");
    add_framework(a, "f2", "y");
    add_framework(a, "f3", "z");
    allocator_run(a);
    assert_true(cpus_for("fq") >= 8000);
    assert_true(cpus_for("fq") <= 12000);
    clear_got();
    allocator_free(a);
}

static void add_agent(struct allocator *a, const char *id, const char *text)
{
    struct resources r = RESOURCES_INIT;
    assert_int_equal(resources_parse(text, NULL, &r, NULL), 0);
    allocator_add_agent(a, id, &r);
    resources_free(&r);
}

static int64_t unreserved_cpus_for(const char *framework)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n_got; i++) {
        if (strcmp(got[i].framework, framework) != 0)
            continue;
        for (size_t j = 0; j < got[i].res.n; j++)
            if (got[i].res.v[j].reservation_role == NULL &&
                strcmp(got[i].res.v[j].name, "cpus") == 0)
                sum += got[i].res.v[j].scalar;
    }
    return sum;
}

/* Mesos 1.9+: a role's unallocated reservations count towards its limit,
 * so a reservation as large as the limit leaves no room for unreserved
 * resources; the reservation itself is still offered. */
static void a_reservation_up_to_the_limit_leaves_no_unreserved_room(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 3, "cpus:4;mem:1024");
    add_agent(a, "reserved", "cpus(r):2;mem(r):512");
    set_quota(a, "r", NULL, "cpus:2;mem:512");
    add_framework(a, "fr", "r");
    add_framework(a, "fo", "other");
    allocator_run(a);
    assert_int_equal(unreserved_cpus_for("fr"), 0);
    assert_int_equal(cpus_for("fr"), 2000);
    assert_int_equal(cpus_for("fo"), 12000);
    /* Declined and offered again: the same, cycle after cycle. */
    give_back(a, -1);
    allocator_run(a);
    assert_int_equal(unreserved_cpus_for("fr"), 0);
    assert_int_equal(cpus_for("fr"), 2000);
    clear_got();
    allocator_free(a);
}

/* Reservations to a descendant count towards an ancestor's limit too. */
static void a_descendants_reservation_counts_towards_the_parents_limit(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 3, "cpus:4;mem:1024");
    add_agent(a, "reserved", "cpus(eng/web):3;mem(eng/web):512");
    set_quota(a, "eng", NULL, "cpus:4;mem:1024");
    add_framework(a, "fb", "eng/batch");
    allocator_run(a);
    /* eng/web's unallocated 3 cpus leave eng/batch one of the limit's 4. */
    assert_int_equal(cpus_for("fb"), 1000);
    clear_got();
    allocator_free(a);
}

/* A guarantee partly met by an unallocated reservation holds back, and
 * then draws, only the rest of it from the unreserved pool. */
static void a_guarantee_partly_met_by_a_reservation_draws_only_the_rest(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    add_agent(a, "reserved", "cpus(q):1;mem(q):256");
    set_quota(a, "q", "cpus:4", NULL);
    add_framework(a, "fa", "a");
    allocator_run(a);
    /* 40 unreserved cpus, 3 held back for q (4 less the reserved 1). */
    assert_int_equal(cpus_for("fa"), 37000);
    clear_got();
    add_framework(a, "fq", "q");
    allocator_run(a);
    assert_int_equal(unreserved_cpus_for("fq"), 3000);
    assert_int_equal(cpus_for("fq"), 4000);
    clear_got();
    allocator_free(a);
}

/* Another role's unallocated reservation cannot meet a guarantee, so it is
 * no part of the headroom: the unreserved pool alone is held back. */
static void other_roles_reservations_are_not_headroom(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 10, "cpus:4;mem:1024");
    add_agent(a, "reserved", "cpus(r):8;mem(r):1024");
    set_quota(a, "q", "cpus:16", NULL);
    add_framework(a, "fa", "a");
    allocator_run(a);
    assert_int_equal(cpus_for("fa"), 24000);
    clear_got();
    allocator_free(a);
}

/* The total of an agent can change under the allocator (reservations made
 * by the operator): what is allocated stays, the rest is the new free part. */
static void agent_total_can_change_with_allocations_kept(void **state)
{
    (void)state;
    struct allocator *a = new_allocator(NULL);
    add_agents(a, 1, "cpus:4;mem:1024");
    add_framework(a, "f", "r");
    add_framework(a, "g", "other");
    struct resources half = RESOURCES_INIT, total = RESOURCES_INIT;
    assert_int_equal(resources_parse("cpus:2;mem:512", NULL, &half, NULL), 0);
    resources_set_allocation_role(&half, "other");
    allocator_add_used(a, "g", "agent0", &half);
    /* Half the agent is reserved to "r" now. */
    assert_int_equal(resources_parse("cpus:2;mem:512;cpus(r):2;mem(r):512", NULL, &total, NULL), 0);
    allocator_update_agent_total(a, "agent0", &total);
    allocator_run(a);
    assert_int_equal(n_got, 1);
    assert_string_equal(got[0].framework, "f");
    assert_int_equal(resources_scalar(&got[0].res, "cpus"), 2000);
    assert_non_null(got[0].res.v[0].reservation_role);
    clear_got();
    resources_free(&half);
    resources_free(&total);
    allocator_free(a);
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
        cmocka_unit_test(sibling_subtrees_share_by_everything_below_them),
        cmocka_unit_test(a_role_with_frameworks_and_children_shares_with_them),
        cmocka_unit_test(weights_bias_nested_siblings),
        cmocka_unit_test(weighted_shares_converge),
        cmocka_unit_test(frameworks_within_a_role_catch_up_by_drf),
        cmocka_unit_test(a_multi_role_framework_is_offered_in_each_role),
        cmocka_unit_test(suppressed_roles_can_be_replaced),
        cmocka_unit_test(quota_guarantee_is_met_before_fair_sharing),
        cmocka_unit_test(headroom_is_kept_for_an_unmet_guarantee),
        cmocka_unit_test(limit_is_never_exceeded_counting_descendants),
        cmocka_unit_test(guarantee_and_limit_together),
        cmocka_unit_test(agent_total_can_change_with_allocations_kept),
        cmocka_unit_test(a_reservation_up_to_the_limit_leaves_no_unreserved_room),
        cmocka_unit_test(a_descendants_reservation_counts_towards_the_parents_limit),
        cmocka_unit_test(a_guarantee_partly_met_by_a_reservation_draws_only_the_rest),
        cmocka_unit_test(other_roles_reservations_are_not_headroom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
