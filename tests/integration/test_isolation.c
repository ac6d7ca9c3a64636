/* Isolation against real cgroups and namespaces: agents run with
 * --isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid and a
 * cgroups root of their own. A memory hog ends TASK_FAILED with Mesos's
 * memory limitation; a CFS quota caps a spinning task; a fork bomb meets
 * its pids limit while another task runs on; a daemonized child dies with
 * its container; the executor is pid 1 of its own namespace;
 * /monitor/statistics reports usage; impossible isolators stop the agent;
 * a restarted agent finds its containers' cgroups (and --recover=cleanup,
 * or an orphan, destroys them). Every test ends with no cgroup, process or
 * mount left behind. Tests skip where the host has no writable cgroups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cgroups.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/pb.h"

#define ST(x) TEPUI__TASK_STATE__TASK_##x
#define REASON(x) TEPUI__TASK_STATUS__REASON__REASON_##x
#define EVENT_TIMEOUT 30.0

struct fixture {
    struct h_cluster c;
    struct cgroups cg;        /* the hierarchies, with this test's root */
    char root[64];            /* --cgroups_root */
    char flag_root[96];
    int proc_mounts;          /* proc mounts on the host before the test */
    struct h_sched s;
    int subscribed;
};

static int count_proc_mounts(void)
{
    FILE *fp = fopen("/proc/self/mounts", "r");
    if (fp == NULL)
        return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        n += strncmp(line, "proc ", 5) == 0;
    fclose(fp);
    return n;
}

/* Whether this host lets the tests make cgroups: root, and cpu, memory and
 * pids controllers (v1 or v2). */
static const char *cannot_isolate(struct cgroups *cg, const char *root)
{
    if (geteuid() != 0)
        return "not root";
    if (cgroups_detect(cg, "/sys/fs/cgroup", root, NULL) != 0)
        return "cannot read the mounts";
    if (!cg->version[CG_CPU] || !cg->version[CG_MEMORY] || !cg->version[CG_PIDS])
        return "no cpu, memory or pids cgroup controller";
    return NULL;
}

static void start_agent(struct fixture *f, const char *extra)
{
    const char *flags[] = {"--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid",
                           f->flag_root, "--cgroups_pids_max=64", extra, NULL};
    h_start_agent(&f->c, "cpus:2;mem:2048;disk:1024;ports:[31000-31099]", flags);
}

static int setup_with(void **state, const char *extra)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "tepui-test-%d", (int)getpid());
    snprintf(f->flag_root, sizeof(f->flag_root), "--cgroups_root=%s", f->root);
    const char *why = cannot_isolate(&f->cg, f->root);
    if (why != NULL) {
        print_message("isolation tests skipped: %s\n", why);
        free(f);
        *state = NULL;
        return 0;
    }
    f->cg.used = 1u << CG_CPU | 1u << CG_CPUACCT | 1u << CG_MEMORY | 1u << CG_PIDS |
                 (f->cg.version[CG_FREEZER] ? 1u << CG_FREEZER : 0);
    f->proc_mounts = count_proc_mounts();
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    start_agent(f, extra);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int setup_cfs(void **state)
{
    return setup_with(state, "--cgroups_enable_cfs");
}

static int no_cgroups_left(void *arg)
{
    struct fixture *f = arg;
    char **ids = NULL;
    size_t n = cgroups_list(&f->cg, &ids);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return n == 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0;
    if (f->subscribed)
        h_sched_close(&f->s);
    h_cluster_destroy(&f->c);
    /* Nothing of the containers outlives the agent: no cgroup, no process,
     * no mount. */
    int clean = h_wait_until(no_cgroups_left, f, 10);
    int leftovers = h_kill_leftovers(&f->c);
    int mounts = count_proc_mounts();
    for (int c = 0; c < CG_N; c++) {
        if (!(f->cg.used & (1u << c)))
            continue;
        char path[PATH_MAX];
        cgroups_path(&f->cg, (enum cg_controller)c, NULL, NULL, path, sizeof(path));
        rmdir(path);
    }
    int proc_mounts = f->proc_mounts;
    free(f);
    assert_true(clean);
    assert_int_equal(leftovers, 0);
    assert_int_equal(mounts, proc_mounts);
    return 0;
}

/* ---- helpers ---- */

#define SKIP_IF_NO_CGROUPS(f)                                                                    \
    do {                                                                                         \
        if ((f) == NULL)                                                                         \
            skip();                                                                              \
    } while (0)

static void subscribe(struct fixture *f, int checkpoint)
{
    const char *fw = h_framework_json("isolation", checkpoint ? "\"checkpoint\":true" : NULL);
    assert_int_equal(h_sched_subscribe(&f->s, f->c.master.port, WIRE_JSON, fw), 200);
    f->subscribed = 1;
}

static Tepui__Offer *next_offer(struct fixture *f)
{
    Tepui__Scheduler__Event *ev = h_sched_next(&f->s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS,
                                               EVENT_TIMEOUT);
    assert_non_null(ev);
    assert_true(ev->offers->n_offers > 0);
    Tepui__Offer *o = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);
    return o;
}

/* Launches a command task with cpus and mem on the next offer. */
static void launch(struct fixture *f, const char *task_id, const char *command, double cpus,
                   double mem)
{
    Tepui__Offer *o = next_offer(f);
    char res[256];
    snprintf(res, sizeof(res),
             "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":%g}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":%g}}]", cpus, mem);
    assert_int_equal(h_sched_launch(&f->s, o, task_id, command, res), 202);
    pb_free(o);
}

static void wait_state(struct fixture *f, const char *task_id, int state)
{
    Tepui__TaskStatus *st = h_sched_wait_state(&f->s, task_id, state, EVENT_TIMEOUT);
    if (st == NULL) {
        h_dump_logs(&f->c);
        fail_msg("task %s never reached state %d", task_id, state);
    }
    pb_free(st);
}

static void kill_task(struct fixture *f, const char *task_id)
{
    char call[512];
    snprintf(call, sizeof(call), "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"%s\"}}}",
             task_id);
    assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
}

/* The container id of a (command) executor, from the agent's /state. */
static char *container_of(struct fixture *f, const char *executor_id)
{
    json_t *st = h_get_json(f->c.agents[0].port, "/state");
    char *id = NULL;
    size_t i, k;
    json_t *fw, *ex;
    json_array_foreach(json_object_get(st, "frameworks"), i, fw) {
        json_array_foreach(json_object_get(fw, "executors"), k, ex) {
            if (strcmp(json_string_value(json_object_get(ex, "id")), executor_id) == 0)
                id = xstrdup(json_string_value(json_object_get(ex, "container")));
        }
    }
    json_decref(st);
    assert_non_null(id);
    return id;
}

struct cg_wait {
    struct fixture *f;
    const char *id;
};

static int cgroup_gone(void *arg)
{
    struct cg_wait *w = arg;
    return !cgroups_exists(&w->f->cg, w->id);
}

static int file_has_line(void *arg)
{
    FILE *fp = fopen(arg, "r");
    if (fp == NULL)
        return 0;
    char line[256];
    int ok = fgets(line, sizeof(line), fp) != NULL && strchr(line, '\n') != NULL;
    fclose(fp);
    return ok;
}

static char *read_small(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static int pid_alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] != '\0' && paren[2] != 'Z' && paren[2] != 'X';
}

struct pids_wait {
    pid_t *pids;
    size_t n;
};

static int all_dead(void *arg)
{
    struct pids_wait *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (pid_alive(w->pids[i]))
            return 0;
    return 1;
}

/* Waits until a container's cgroup holds at least min processes; w keeps
 * the last listing. */
struct pids_count {
    struct fixture *f;
    const char *id;
    struct pids_wait w;
    size_t min;
};

static int pids_at_least(void *arg)
{
    struct pids_count *c = arg;
    free(c->w.pids);
    c->w.pids = NULL;
    c->w.n = cgroups_pids(&c->f->cg, c->id, &c->w.pids);
    return c->w.n >= c->min;
}

/* ---- tests ---- */

static void memory_hog_fails_with_memory_limitation(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    subscribe(f, 0);
    /* tail keeps the last lines of a file without newlines: all of it. */
    launch(f, "hog", "tail /dev/zero", 0.1, 64);
    Tepui__TaskStatus *st = h_sched_wait_state(&f->s, "hog", ST(FAILED), EVENT_TIMEOUT);
    if (st == NULL)
        h_dump_logs(&f->c);
    assert_non_null(st);
    assert_true(st->has_reason);
    assert_int_equal(st->reason, REASON(CONTAINER_LIMITATION_MEMORY));
    assert_true(st->has_source);
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_AGENT);
    assert_non_null(st->message);
    assert_non_null(strstr(st->message, "Memory limit exceeded: Requested: 96MB"));
    pb_free(st);
}

/* Reads one executor's statistics from /monitor/statistics (NULL when it is
 * not listed). */
static json_t *statistics_of(int port, const char *executor_id)
{
    json_t *all = h_get_json(port, "/monitor/statistics");
    assert_true(json_is_array(all));
    json_t *found = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "executor_id")), executor_id) == 0)
            found = json_incref(e);
    }
    json_decref(all);
    return found;
}

static double cpu_time(int port, const char *executor_id)
{
    json_t *e = statistics_of(port, executor_id);
    assert_non_null(e);
    json_t *s = json_object_get(e, "statistics");
    double t = json_number_value(json_object_get(s, "cpus_user_time_secs")) +
               json_number_value(json_object_get(s, "cpus_system_time_secs"));
    json_decref(e);
    return t;
}

static void cpu_quota_caps_a_spinning_task(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    subscribe(f, 0);
    launch(f, "spin", "while :; do :; done", 0.2, 64);
    wait_state(f, "spin", ST(RUNNING));
    char *id = container_of(f, "spin");
    char path[PATH_MAX], *text;
    /* Shares and quota follow the task's cpus plus the command executor's
     * 0.1, as Mesos's. */
    cgroups_path(&f->cg, CG_CPU, id, f->cg.version[CG_CPU] == 1 ? "cpu.shares" : "cpu.weight",
                 path, sizeof(path));
    text = read_small(path);
    if (f->cg.version[CG_CPU] == 1) {
        assert_int_equal(atoi(text), 307);
        cgroups_path(&f->cg, CG_CPU, id, "cpu.cfs_quota_us", path, sizeof(path));
        assert_int_equal(atoi(read_small(path)), 30000);
    }
    /* CPU time over wall time in one window: the quota (0.3 cpu) caps it
     * however idle the machine; the lower bound only says it ran. */
    double t0 = clock_mono(), c0 = cpu_time(f->c.agents[0].port, "spin");
    while (clock_mono() - t0 < 3.0)
        usleep(100 * 1000);
    double c1 = cpu_time(f->c.agents[0].port, "spin"), t1 = clock_mono();
    double ratio = (c1 - c0) / (t1 - t0);
    print_message("spinning task with a 0.3 cpu quota: %.2f cpu\n", ratio);
    assert_true(ratio < 0.45);
    assert_true(ratio > 0.02);
    json_t *e = statistics_of(f->c.agents[0].port, "spin");
    json_t *s = json_object_get(e, "statistics");
    assert_true(json_integer_value(json_object_get(s, "cpus_nr_throttled")) > 0);
    json_decref(e);
    kill_task(f, "spin");
    wait_state(f, "spin", ST(KILLED));
    struct cg_wait w = {f, id};
    assert_true(h_wait_until(cgroup_gone, &w, 10));
    free(id);
}

static void fork_bomb_is_contained_by_pids_limit(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    subscribe(f, 0);
    /* The bomb forks in the background; the task itself needs no fork to
     * live on. */
    launch(f, "bomb", "(b() { b | b & sleep 1000; }; b) & exec sleep 1000", 0.1, 128);
    wait_state(f, "bomb", ST(RUNNING));
    char *id = container_of(f, "bomb");
    /* The bomb reaches its limit... */
    uint64_t current = 0, events = 0;
    double deadline = clock_mono() + 20;
    while (clock_mono() < deadline) {
        if (cgroups_read_key(&f->cg, CG_PIDS, id, "pids.events", "max", &events) == 0 &&
            events > 0)
            break;
        usleep(20 * 1000);
    }
    print_message("forks refused by the pids limit: %llu\n", (unsigned long long)events);
    if (events == 0) {
        h_dump_logs(&f->c);
        char path[PATH_MAX];
        cgroups_path(&f->cg, CG_PIDS, id, NULL, path, sizeof(path));
        print_message("cgroup %s exists: %d\n", path, access(path, F_OK) == 0);
    }
    assert_true(events > 0);
    assert_true(cgroups_read_u64(&f->cg, CG_PIDS, id, "pids.current", &current) == 0);
    assert_true(current <= 64);
    /* ... while another task on the agent starts and finishes. */
    char out[600], cmd[800];
    snprintf(out, sizeof(out), "%s/other.out", f->c.root);
    snprintf(cmd, sizeof(cmd), "for i in 1 2 3; do echo $i; done > %s", out);
    launch(f, "other", cmd, 0.1, 64);
    wait_state(f, "other", ST(FINISHED));
    assert_string_equal(read_small(out), "1\n2\n3\n");
    if (cgroups_read_u64(&f->cg, CG_PIDS, id, "pids.current", &current) != 0)
        h_dump_logs(&f->c);
    assert_true(cgroups_read_u64(&f->cg, CG_PIDS, id, "pids.current", &current) == 0);
    assert_true(current <= 64);
    /* Killing it leaves nothing, fork as it may. */
    kill_task(f, "bomb");
    wait_state(f, "bomb", ST(KILLED));
    struct cg_wait w = {f, id};
    int gone = h_wait_until(cgroup_gone, &w, 20);
    free(id);
    assert_true(gone);
}

static void daemonized_child_dies_with_its_container(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    subscribe(f, 0);
    char ready[600], cmd[1200];
    snprintf(ready, sizeof(ready), "%s/daemon.ready", f->c.root);
    /* Double fork and a session of its own: the daemon is nobody's child
     * in the task's tree. */
    snprintf(cmd, sizeof(cmd), "(setsid sh -c 'sleep 1000 & sleep 1000' &); echo up > %s; "
             "sleep 1000", ready);
    launch(f, "daemon", cmd, 0.1, 64);
    wait_state(f, "daemon", ST(RUNNING));
    assert_true(h_wait_until(file_has_line, ready, EVENT_TIMEOUT));
    char *id = container_of(f, "daemon");
    /* The executor, its task's shell and sleep, the daemon's shell and its
     * two sleeps (the daemon may still be starting them). */
    struct pids_count c = {f, id, {NULL, 0}, 5};
    assert_true(h_wait_until(pids_at_least, &c, EVENT_TIMEOUT));
    struct pids_wait w = c.w;
    kill_task(f, "daemon");
    wait_state(f, "daemon", ST(KILLED));
    assert_true(h_wait_until(all_dead, &w, 20));
    struct cg_wait cw = {f, id};
    assert_true(h_wait_until(cgroup_gone, &cw, 10));
    free(w.pids);
    free(id);
}

static void executor_is_init_of_its_pid_namespace(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    subscribe(f, 0);
    char out[600], cmd[1400];
    snprintf(out, sizeof(out), "%s/ns.out", f->c.root);
    snprintf(cmd, sizeof(cmd), "echo $$ $(ls /proc | grep -c '^[0-9]') "
             "$(tr '\\\\0' ' ' < /proc/1/cmdline) > %s", out);
    launch(f, "ns", cmd, 0.1, 64);
    wait_state(f, "ns", ST(FINISHED));
    int pid = 0, procs = 0;
    char init[256] = "";
    assert_int_equal(sscanf(read_small(out), "%d %d %255s", &pid, &procs, init), 3);
    print_message("task pid %d, %d processes seen, pid 1 is %s\n", pid, procs, init);
    assert_true(pid > 1 && pid < 10);
    assert_true(procs < 10);
    assert_non_null(strstr(init, "tepui-executor"));
}

static void monitor_statistics_reports_container_usage(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    subscribe(f, 0);
    launch(f, "stats", "sleep 1000", 0.5, 100);
    wait_state(f, "stats", ST(RUNNING));
    json_t *e = statistics_of(f->c.agents[0].port, "stats");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "framework_id")), f->s.framework_id);
    assert_non_null(json_object_get(e, "executor_name"));
    assert_non_null(json_object_get(e, "source"));
    json_t *s = json_object_get(e, "statistics");
    assert_true(json_number_value(json_object_get(s, "timestamp")) > 1e9);
    assert_true(json_integer_value(json_object_get(s, "mem_limit_bytes")) == 132 * 1024 * 1024);
    assert_true(json_number_value(json_object_get(s, "cpus_limit")) > 0.59);
    assert_true(json_number_value(json_object_get(s, "cpus_limit")) < 0.61);
    /* The executor and the task's sleep (the shell execs it). */
    assert_true(json_integer_value(json_object_get(s, "processes")) >= 2);
    assert_true(json_integer_value(json_object_get(s, "threads")) >=
                json_integer_value(json_object_get(s, "processes")));
    assert_true(json_integer_value(json_object_get(s, "mem_total_bytes")) > 0);
    assert_non_null(json_object_get(s, "mem_rss_bytes"));
    assert_non_null(json_object_get(s, "cpus_user_time_secs"));
    assert_non_null(json_object_get(s, "cpus_system_time_secs"));
    json_decref(e);
    /* The classic alias answers the same. */
    json_t *alias = h_get_json(f->c.agents[0].port, "/monitor/statistics.json");
    assert_int_equal(json_array_size(alias), 1);
    json_decref(alias);
    struct h_response r = {0};
    assert_int_equal(h_http(f->c.agents[0].port, "POST", "/monitor/statistics", NULL, "x", 1, &r),
                     0);
    assert_int_equal(r.status, 405);
    h_response_free(&r);
}

/* Runs the agent with flags; returns its exit status, its output in out. */
static int run_agent(const struct fixture *f, const char *isolation, const char *hierarchy,
                     char *out, size_t n)
{
    char work[600], iso[256], hier[300], master[64];
    snprintf(work, sizeof(work), "--work_dir=%s/bad-agent", f->c.root);
    snprintf(iso, sizeof(iso), "--isolation=%s", isolation);
    snprintf(hier, sizeof(hier), "--cgroups_hierarchy=%s", hierarchy);
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", f->c.master.port);
    const char *argv[] = {h_bin("tepui-agent"), master, work, "--port=0", iso, hier,
                          f->flag_root, NULL};
    return h_run_capture(argv, out, n, 20);
}

static void impossible_isolators_stop_the_agent(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    char out[8192];
    int status = run_agent(f, "cgroups/mem", "/nonexistent", out, sizeof(out));
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "--isolation=cgroups/mem needs the 'memory' cgroup controller"));
    status = run_agent(f, "cgroups/mem,network/port_mapping", "/sys/fs/cgroup", out, sizeof(out));
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "unknown or unsupported isolator 'network/port_mapping'"));
    if (access("/dev/nvidia0", F_OK) != 0) {
        char work[600], master[64];
        snprintf(work, sizeof(work), "--work_dir=%s/bad-agent", f->c.root);
        snprintf(master, sizeof(master), "--master=127.0.0.1:%d", f->c.master.port);
        const char *argv[] = {h_bin("tepui-agent"), master, work, "--port=0",
                              "--isolation=gpu/nvidia", "--resources=cpus:1;mem:256;gpus:1",
                              f->flag_root, NULL};
        status = h_run_capture(argv, out, sizeof(out), 20);
        assert_true(WIFEXITED(status));
        assert_int_not_equal(WEXITSTATUS(status), 0);
        assert_non_null(strstr(out, "--resources has gpus:1 but 0 NVIDIA GPU(s) were found"));
    }
}

/* Needs no cgroups: gpus given by --resources are only accounted. */
static void gpus_are_offered_only_to_gpu_frameworks(void **state)
{
    (void)state;
    struct h_cluster c;
    h_cluster_init(&c);
    h_start_master(&c, NULL);
    h_start_agent(&c, "cpus:1;mem:256;disk:256;gpus:1", NULL);
    struct h_sched plain, gpu;
    assert_int_equal(h_sched_subscribe(&plain, c.master.port, WIRE_JSON,
                                       h_framework_json("plain", NULL)), 200);
    /* Several allocation cycles pass without an offer of the GPU agent. */
    Tepui__Scheduler__Event *ev = h_sched_next(&plain, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 3);
    assert_null(ev);
    assert_int_equal(h_sched_subscribe(&gpu, c.master.port, WIRE_JSON,
                                       h_framework_json("gpu", "\"capabilities\":[{\"type\":"
                                                        "\"GPU_RESOURCES\"}]")), 200);
    ev = h_sched_next(&gpu, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, EVENT_TIMEOUT);
    assert_non_null(ev);
    double gpus = 0;
    for (size_t i = 0; i < ev->offers->offers[0]->n_resources; i++) {
        const Tepui__Resource *r = ev->offers->offers[0]->resources[i];
        if (strcmp(r->name, "gpus") == 0)
            gpus += r->scalar->value;
    }
    assert_true(gpus == 1.0);
    pb_free(ev);
    h_sched_close(&plain);
    h_sched_close(&gpu);
    h_cluster_destroy(&c);
}

static int registered(void *arg)
{
    return h_agent_registered(*(int *)arg);
}

static void restarted_agent_finds_and_cleans_cgroups(void **state)
{
    struct fixture *f = *state;
    SKIP_IF_NO_CGROUPS(f);
    subscribe(f, 1);
    launch(f, "keep", "sleep 1000", 0.1, 64);
    wait_state(f, "keep", ST(RUNNING));
    char *id = container_of(f, "keep");
    pid_t *pids = NULL;
    size_t n = cgroups_pids(&f->cg, id, &pids);
    assert_true(n >= 2);

    /* Reconnect: the agent dies, the container runs on and is found. */
    h_stop(&f->c.agents[0], SIGKILL);
    const char *flags[] = {"--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid",
                           f->flag_root, "--executor_reregistration_timeout=20secs", NULL};
    /* An orphan: a cgroup under the root that no checkpoint knows. */
    assert_int_equal(cgroups_create(&f->cg, "orphan", NULL), 0);
    assert_int_equal(h_restart_agent(&f->c, 0, "cpus:2;mem:2048;disk:1024;ports:[31000-31099]",
                                     flags), 0);
    assert_true(h_wait_until(registered, &f->c.agents[0].port, 60));
    struct cg_wait orphan = {f, "orphan"};
    assert_true(h_wait_until(cgroup_gone, &orphan, 10));
    assert_true(cgroups_exists(&f->cg, id));
    struct pids_wait w = {pids, n};
    assert_false(all_dead(&w));

    /* Cleanup: the agent dies again and comes back forgetting it all. */
    h_stop(&f->c.agents[0], SIGKILL);
    const char *cleanup[] = {"--isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid",
                             f->flag_root, "--recover=cleanup", NULL};
    assert_int_equal(h_restart_agent(&f->c, 0, "cpus:2;mem:2048;disk:1024;ports:[31000-31099]",
                                     cleanup), 0);
    assert_true(h_wait_until(registered, &f->c.agents[0].port, 60));
    struct cg_wait gone = {f, id};
    assert_true(h_wait_until(cgroup_gone, &gone, 10));
    assert_true(h_wait_until(all_dead, &w, 10));
    free(pids);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(memory_hog_fails_with_memory_limitation, setup, teardown),
        cmocka_unit_test_setup_teardown(cpu_quota_caps_a_spinning_task, setup_cfs, teardown),
        cmocka_unit_test_setup_teardown(fork_bomb_is_contained_by_pids_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(daemonized_child_dies_with_its_container, setup, teardown),
        cmocka_unit_test_setup_teardown(executor_is_init_of_its_pid_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(monitor_statistics_reports_container_usage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(impossible_isolators_stop_the_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(restarted_agent_finds_and_cleans_cgroups, setup,
                                        teardown),
        cmocka_unit_test(gpus_are_offered_only_to_gpu_frameworks),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
