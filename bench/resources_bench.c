/* Micro-benchmark of the resources arithmetic the allocator runs on every
 * offer cycle (add, subtract, contains) and of parsing --resources text.
 * Prints ns/op; it asserts nothing about time and is not part of the suite.
 *
 * Build and run (after `make BUILD=build-res build-res/lib/libtepui.a`):
 *
 *   cc -O2 -std=c17 -D_GNU_SOURCE -DPROTOBUF_C__NO_DEPRECATED -Isrc -Ibuild-res/gen \
 *      $(pkg-config --cflags jansson libprotobuf-c) bench/resources_bench.c \
 *      build-res/lib/libtepui.a $(pkg-config --libs jansson libprotobuf-c) -lm \
 *      -o build-res/resources_bench
 *   build-res/resources_bench [rounds]
 *
 * The workload is an agent with a few scalars, a reservation and a port
 * range, and a batch of tasks that each take a little cpu and memory and one
 * distinct port: subtracting the batch fragments the port range the way
 * running tasks do, and adding it back coalesces it again. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/resources.h"

static const char *const AGENT =
    "cpus:1000;mem:1048576;disk:1048576;gpus:8;ports:[31000-32999];"
    "cpus(web):8;mem(web):16384";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void parse_or_die(const char *text, struct resources *r)
{
    struct error err = {0};
    if (resources_parse(text, NULL, r, &err) != 0) {
        fprintf(stderr, "resources_bench: parsing '%s': %s\n", text, err.msg);
        exit(1);
    }
}

static void report(const char *what, double ns, long ops)
{
    printf("%-44s %9.1f ns/op  (%ld ops)\n", what, ns / (double)ops, ops);
}

/* Subtracts and re-adds a batch of `batch` tasks `rounds` times, timing
 * each kind of call and a contains check against the full agent. */
static void run_batch(int batch, long rounds)
{
    struct resources agent = RESOURCES_INIT, avail = RESOURCES_INIT;
    struct resources *tasks = calloc((size_t)batch, sizeof(*tasks));
    char text[128];
    parse_or_die(AGENT, &agent);
    for (int i = 0; i < batch; i++) {
        /* Every other port, so no two tasks' ports coalesce. */
        snprintf(text, sizeof(text), "cpus:0.5;mem:512;ports:[%d-%d]", 31000 + 2 * i,
                 31000 + 2 * i);
        parse_or_die(text, &tasks[i]);
    }
    resources_copy(&avail, &agent);

    double t_sub = 0, t_add = 0, t_contains = 0;
    volatile int sink = 0;
    for (long r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (int i = 0; i < batch; i++)
            sink += resources_contains(&avail, &tasks[i]);
        double t1 = now_ns();
        for (int i = 0; i < batch; i++)
            resources_subtract(&avail, &tasks[i]);
        double t2 = now_ns();
        for (int i = 0; i < batch; i++)
            resources_add(&avail, &tasks[i]);
        double t3 = now_ns();
        t_contains += t1 - t0;
        t_sub += t2 - t1;
        t_add += t3 - t2;
    }
    if (!resources_equal(&avail, &agent) || sink != (int)(rounds * batch)) {
        fprintf(stderr, "resources_bench: the batch did not restore the agent\n");
        exit(1);
    }

    long ops = rounds * batch;
    char label[64];
    snprintf(label, sizeof(label), "contains (agent, 1 task; batch %d)", batch);
    report(label, t_contains, ops);
    snprintf(label, sizeof(label), "subtract (1 task from agent; batch %d)", batch);
    report(label, t_sub, ops);
    snprintf(label, sizeof(label), "add (1 task to agent; batch %d)", batch);
    report(label, t_add, ops);

    for (int i = 0; i < batch; i++)
        resources_free(&tasks[i]);
    free(tasks);
    resources_free(&agent);
    resources_free(&avail);
}

static void run_parse(const char *label, const char *text, long n)
{
    struct resources r = RESOURCES_INIT;
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        parse_or_die(text, &r);
    double t1 = now_ns();
    report(label, t1 - t0, n);
    resources_free(&r);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 20000;
    if (rounds <= 0)
        rounds = 1;
    run_batch(16, rounds);
    run_batch(256, rounds / 16 > 0 ? rounds / 16 : 1);
    run_parse("parse (agent text, 7 items)", AGENT, rounds * 4);
    run_parse("parse (task text, 3 items)", "cpus:0.5;mem:512;ports:[31000-31000]", rounds * 4);
    run_parse("parse (agent JSON, 3 items)",
              "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":24}},"
              "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":24576}},"
              "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
              "[{\"begin\":31000,\"end\":32000}]}}]",
              rounds * 4);
    return 0;
}
