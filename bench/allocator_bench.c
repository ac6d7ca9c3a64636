/* The allocator alone, measured like Mesos's allocator benchmarks: A agents
 * (cpus:24;mem:4096;disk:4096;ports:[31000-32000]) and F frameworks spread
 * over R roles, no master and no network. For each size it prints the time of:
 *   - "full": the first cycle, every agent free (everything is offered);
 *   - "filtered": a cycle where every framework has declined every agent
 *     with a long filter (the worst case for filter checks: nothing goes;
 *     measured up to A x F = 2M filters);
 *   - "steady": after each framework gives back a quarter of what it holds
 *     on every agent (many small allocations, as tasks end).
 *
 * With --quota the frameworks' roles are nested ("eng/role<i>"), every
 * other role has a guarantee (together half the cluster's cpus) and every
 * role a limit (twice an even share of the cluster), so each cycle runs
 * both quota stages, headroom and limit checks.
 *
 *   build/bench/allocator_bench [--agents=1000,10000,50000] [--frameworks=10,100,1000]
 *       [--roles=1] [--quota] [--csv=FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/resources.h"
#include "common/xalloc.h"
#include "master/allocator/allocator.h"

struct given {
    char *framework;
    char *agent;
    struct resources res;
};

static struct given *givens;
static size_t n_givens, cap_givens;

static void on_offer(void *arg, const char *framework_id, const struct allocation *allocs, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        if (n_givens == cap_givens) {
            cap_givens = cap_givens ? cap_givens * 2 : 1024;
            givens = xrealloc(givens, cap_givens * sizeof(*givens));
        }
        struct given *g = &givens[n_givens++];
        g->framework = xstrdup(framework_id);
        g->agent = xstrdup(allocs[i].agent_id);
        resources_init(&g->res);
        resources_copy(&g->res, &allocs[i].resources);
    }
}

static void clear_givens(void)
{
    for (size_t i = 0; i < n_givens; i++) {
        free(givens[i].framework);
        free(givens[i].agent);
        resources_free(&givens[i].res);
    }
    n_givens = 0;
}

static double ms_of_run(struct allocator *a)
{
    int64_t t0 = clock_mono_ns();
    allocator_run(a);
    return (double)(clock_mono_ns() - t0) / 1e6;
}

static int parse_list(const char *text, int *out, int max)
{
    int n = 0;
    char *copy = xstrdup(text), *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p && n < max; p = strtok_r(NULL, ",", &save))
        out[n++] = atoi(p);
    free(copy);
    return n;
}

int main(int argc, char **argv)
{
    char *agents_text = NULL, *fw_text = NULL, *csv = NULL;
    int n_roles = 1;
    int with_quota = 0;
    struct flag_def defs[] = {
        {"agents", FLAG_STRING, &agents_text, "1000,10000,50000", "Agent counts"},
        {"frameworks", FLAG_STRING, &fw_text, "10,100,1000", "Framework counts"},
        {"roles", FLAG_INT, &n_roles, "1", "Roles the frameworks are spread over"},
        {"quota", FLAG_BOOL, &with_quota, "false", "Nested roles with guarantees and limits"},
        {"csv", FLAG_STRING, &csv, NULL, "Also write agents,frameworks,full,filtered,steady ms here"},
    };
    struct flag_set fs = {.program = "allocator_bench", .defs = defs,
                          .n = sizeof(defs) / sizeof(defs[0])};
    struct error err = {0};
    if (flags_parse(&fs, argc, argv, NULL, NULL, &err) != 0) {
        fprintf(stderr, "allocator_bench: %s\n", err.msg);
        return 2;
    }
    log_set_level(LOG_LEVEL_ERROR);
    int agent_counts[16], fw_counts[16];
    int na = parse_list(agents_text, agent_counts, 16);
    int nf = parse_list(fw_text, fw_counts, 16);
    FILE *out = csv ? fopen(csv, "w") : NULL;
    if (out)
        fprintf(out, "agents,frameworks,full_ms,filtered_ms,steady_ms\n");

    struct resources agent_res = RESOURCES_INIT;
    resources_parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]", NULL, &agent_res, NULL);
    printf("%8s %10s %10s %12s %10s\n", "agents", "frameworks", "full ms", "filtered ms", "steady ms");
    for (int ai = 0; ai < na; ai++) {
        for (int fi = 0; fi < nf; fi++) {
            int A = agent_counts[ai], F = fw_counts[fi];
            struct allocator_options o = {.offer = on_offer};
            allocator_parse_min_allocatable("cpus:0.01|mem:32", &o.min_allocatable,
                                            &o.n_min_allocatable, NULL);
            struct allocator *a = allocator_new(NULL, &o);
            char id[64];
            for (int i = 0; i < A; i++) {
                snprintf(id, sizeof(id), "agent-%d", i);
                allocator_add_agent(a, id, &agent_res);
            }
            if (with_quota) {
                /* Guarantees: half the cpus over the even roles; limits:
                 * twice an even share for every role. */
                int64_t cpus = (int64_t)A * 24000;
                int n_even = (n_roles + 1) / 2;
                for (int r = 0; r < n_roles; r++) {
                    char role[32];
                    snprintf(role, sizeof(role), "eng/role%d", r);
                    struct allocator_quantity g = {"cpus", cpus / 2 / n_even};
                    struct allocator_quantity l = {"cpus", 2 * cpus / n_roles};
                    allocator_set_quota(a, role, &g, r % 2 == 0, &l, 1);
                }
            }
            for (int i = 0; i < F; i++) {
                char role[32];
                if (with_quota)
                    snprintf(role, sizeof(role), "eng/role%d", i % n_roles);
                else
                    snprintf(role, sizeof(role), n_roles > 1 ? "role%d" : "*", i % n_roles);
                char *roles[1] = {role};
                snprintf(id, sizeof(id), "framework-%d", i);
                allocator_add_framework(a, id, roles, 1, 1);
            }
            double full = ms_of_run(a);
            /* Keep three quarters of each allocation (running tasks), give
             * back a quarter without a filter. */
            struct resources quarter = RESOURCES_INIT;
            resources_parse("cpus:6;mem:1024;disk:1024", NULL, &quarter, NULL);
            size_t n = n_givens;
            struct given *held = givens;
            givens = NULL;
            n_givens = cap_givens = 0;
            /* Every framework declines every agent with a long filter: hand
             * the declined agents round after round to the frameworks that
             * have not refused them yet, until a cycle gives nothing. Then
             * time one more cycle: nothing goes, every check is a filter hit.
             * A x F filters: skipped above 2M (memory, not time). */
            double filtered = -1;
            if ((double)A * F <= 2e6) {
                for (size_t i = 0; i < n; i++)
                    allocator_recover(a, held[i].framework, held[i].agent, &held[i].res, 1e6);
                for (;;) {
                    allocator_run(a);
                    if (n_givens == 0)
                        break;
                    for (size_t i = 0; i < n_givens; i++)
                        allocator_recover(a, givens[i].framework, givens[i].agent,
                                          &givens[i].res, 1e6);
                    clear_givens();
                }
                filtered = ms_of_run(a);
            } else {
                for (size_t i = 0; i < n; i++)
                    allocator_recover(a, held[i].framework, held[i].agent, &held[i].res, -1);
            }
            clear_givens();
            /* Take it all back (no filters), then give a quarter back. */
            for (int i = 0; i < F; i++) {
                snprintf(id, sizeof(id), "framework-%d", i);
                allocator_revive(a, id, NULL, 0);
            }
            allocator_run(a);
            size_t retaken = n_givens;
            for (size_t i = 0; i < n_givens; i++) {
                struct resources q = RESOURCES_INIT;
                resources_copy(&q, &quarter);
                resources_set_allocation_role(&q, givens[i].res.v[0].allocation_role);
                allocator_recover(a, givens[i].framework, givens[i].agent, &q, -1);
                resources_free(&q);
            }
            clear_givens();
            double steady = ms_of_run(a);
            if (getenv("ALLOC_BENCH_DEBUG"))
                fprintf(stderr, "full gave %zu, retaken %zu, steady gave %zu\n", n, retaken, n_givens);
            clear_givens();
            if (filtered < 0)
                printf("%8d %10d %10.2f %12s %10.2f\n", A, F, full, "-", steady);
            else
                printf("%8d %10d %10.2f %12.2f %10.2f\n", A, F, full, filtered, steady);
            fflush(stdout);
            if (out)
                fprintf(out, "%d,%d,%.3f,%.3f,%.3f\n", A, F, full, filtered, steady);
            for (size_t i = 0; i < n; i++) {
                free(held[i].framework);
                free(held[i].agent);
                resources_free(&held[i].res);
            }
            free(held);
            resources_free(&quarter);
            allocator_free(a);
        }
    }
    if (out)
        fclose(out);
    resources_free(&agent_res);
    free(givens);
    flags_free(&fs);
    return 0;
}
