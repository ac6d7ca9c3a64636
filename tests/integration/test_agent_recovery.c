/* Agent checkpointing and recovery against real processes: an agent killed
 * (-9) and restarted on its port and work dir takes its executors back
 * (same pids) and their tasks finish normally, each update reaching the
 * scheduler once; an update made while the agent was down arrives after;
 * executors that died meanwhile, or do not re-subscribe in time, end their
 * tasks with Mesos's state and reason; --recover=cleanup, a reboot, a
 * damaged checkpoint (--strict or not) and --reconfiguration_policy; tasks
 * of frameworks that do not checkpoint do not survive; a custom executor
 * and the default executor (task groups) survive too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/base64.h"
#include "wire/pb.h"

#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x
#define ST(x) TEPUI__TASK_STATE__TASK_##x
#define REASON(x) TEPUI__TASK_STATUS__REASON__REASON_##x

/* Generous: executors start slowly under the sanitizers. */
#define EVENT_TIMEOUT 20.0

/* Executors started by the first agent retry their subscription at most
 * this far apart (MESOS_SUBSCRIPTION_BACKOFF_MAX); the debug log shows the
 * agent taking acknowledgements. */
static const char *const first_run[] = {"--executor_reregistration_timeout=500ms",
                                        "--logging_level=DEBUG", NULL};
/* A restarted agent waits long enough for executors under the sanitizers. */
static const char *const second_run[] = {"--executor_reregistration_timeout=20secs",
                                         "--logging_level=DEBUG", NULL};

struct fixture {
    struct h_cluster c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, first_run);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- processes ---- */

static int pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return 0;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || (paren[2] != 'Z' && paren[2] != 'X');
}

static int pid_gone(void *arg)
{
    return !pid_alive(*(pid_t *)arg);
}

struct task_pids {
    pid_t task, executor;
};

static void file_path(const struct fixture *f, const char *task_id, const char *ext, char *out,
                      size_t n)
{
    snprintf(out, n, "%s/%s.%s", f->c.root, task_id, ext);
}

static int pidfile_written(void *arg)
{
    FILE *fp = fopen(arg, "r");
    if (fp == NULL)
        return 0;
    int a = 0, b = 0;
    int ok = fscanf(fp, "%d %d", &a, &b) == 2;
    fclose(fp);
    return ok;
}

/* The pids a task wrote: its own and its parent's (the command executor). */
static struct task_pids read_pids(const struct fixture *f, const char *task_id)
{
    char path[600];
    file_path(f, task_id, "pid", path, sizeof(path));
    assert_true(h_wait_until(pidfile_written, path, EVENT_TIMEOUT));
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    int a = 0, b = 0;
    assert_int_equal(fscanf(fp, "%d %d", &a, &b), 2);
    fclose(fp);
    struct task_pids p = {(pid_t)a, (pid_t)b};
    assert_true(pid_alive(p.task));
    assert_true(pid_alive(p.executor));
    return p;
}

/* Lets a task of wait_for_go() finish. */
static void go(const struct fixture *f, const char *task_id)
{
    char path[600];
    file_path(f, task_id, "go", path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
}

/* A command that records its pids, then runs until go(). */
static const char *wait_for_go(const struct fixture *f, const char *task_id)
{
    static char cmd[1600];
    char pid[600], gofile[600];
    file_path(f, task_id, "pid", pid, sizeof(pid));
    file_path(f, task_id, "go", gofile, sizeof(gofile));
    snprintf(cmd, sizeof(cmd), "echo $$ $PPID > %s; while [ ! -e %s ]; do sleep 0.05; done", pid,
             gofile);
    return cmd;
}

/* The pid of the live process of the cluster whose environment says
 * MESOS_EXECUTOR_ID=executor_id, or 0. */
static pid_t executor_pid(const struct fixture *f, const char *executor_id)
{
    char want_id[300], want_dir[400];
    snprintf(want_id, sizeof(want_id), "MESOS_EXECUTOR_ID=%s", executor_id);
    snprintf(want_dir, sizeof(want_dir), "MESOS_DIRECTORY=%s/", f->c.root);
    pid_t found = 0;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *de;
    while (found == 0 && (de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 1)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        static char env[1 << 16];
        size_t n = fread(env, 1, sizeof(env) - 1, fp);
        fclose(fp);
        env[n] = '\0';
        int id = 0, dir = 0;
        for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
            id |= strcmp(env + i, want_id) == 0;
            dir |= strncmp(env + i, want_dir, strlen(want_dir)) == 0;
        }
        /* Its tasks inherit its environment: the program tells them apart. */
        char argv0[512] = "";
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        fp = fopen(path, "r");
        if (fp != NULL) {
            size_t k = fread(argv0, 1, sizeof(argv0) - 1, fp);
            argv0[k] = '\0';
            fclose(fp);
        }
        if (id && dir && strstr(argv0, "executor") != NULL && pid_alive((pid_t)pid))
            found = (pid_t)pid;
    }
    closedir(d);
    return found;
}

/* ---- the agent ---- */

static char *agent_id(int port)
{
    json_t *st = h_get_json(port, "/state");
    char *id = xstrdup(json_string_value(json_object_get(st, "id")));
    json_decref(st);
    return id;
}

static int registered(void *arg)
{
    return h_agent_registered(*(int *)arg);
}

static void kill_agent(struct fixture *f)
{
    h_stop(&f->c.agents[0], SIGKILL);
}

/* Restarts the agent and waits until it has registered again. */
static void restart_agent(struct fixture *f, const char *resources, const char *const *flags)
{
    if (h_restart_agent(&f->c, 0, resources, flags) != 0) {
        h_dump_logs(&f->c);
        fail_msg("the agent did not restart");
    }
    if (!h_wait_until(registered, &f->c.agents[0].port, 60)) {
        h_dump_logs(&f->c);
        fail_msg("the restarted agent did not register");
    }
}

/* Restarts the agent expecting it to refuse to start; returns its log. */
static char *restart_refused(struct fixture *f, const char *resources, const char *const *flags)
{
    assert_int_equal(h_restart_agent(&f->c, 0, resources, flags), -1);
    int status = h_stop(&f->c.agents[0], SIGKILL);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    FILE *fp = fopen(f->c.agents[0].log, "r");
    assert_non_null(fp);
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_append(&b, chunk, n);
    fclose(fp);
    return buf_steal(&b);
}

struct ack_wait {
    struct h_proc *agent;
    char line[400];
};

static int ack_logged(void *arg)
{
    struct ack_wait *w = arg;
    return h_log_count(w->agent, w->line) > 0;
}

/* Waits until the agent has taken the scheduler's acknowledgement of a
 * task's update of that state (so a kill cannot make it resend it). */
static void wait_acknowledged(struct fixture *f, const char *task_id, const char *state)
{
    struct ack_wait w = {&f->c.agents[0], ""};
    snprintf(w.line, sizeof(w.line), "status update %s of task %s of framework", state, task_id);
    if (!h_wait_until(ack_logged, &w, EVENT_TIMEOUT)) {
        h_dump_logs(&f->c);
        fail_msg("the agent never took the acknowledgement of %s of %s", state, task_id);
    }
}

/* ---- the database, edited while the agent is stopped ---- */

static void edit_checkpoint(struct fixture *f, const char *sql)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/meta/agent.db", f->c.agents[0].dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    assert_true(sqlite3_changes(db) > 0);
    sqlite3_close(db);
}

/* ---- the scheduler ---- */

static void subscribe(struct fixture *f, struct h_sched *s, const char *name, int checkpoint)
{
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, WIRE_JSON,
                                       h_framework_json(name, checkpoint ? "\"checkpoint\":true"
                                                                         : NULL)),
                     200);
}

static Tepui__Offer *next_offer(struct h_sched *s)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, EV(OFFERS), EVENT_TIMEOUT);
    assert_non_null(ev);
    Tepui__Offer *o = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);
    return o;
}

static const char *const small =
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]";

/* Launches command tasks that run until go() on the next offer, and waits
 * until they run (RUNNING acknowledged by the agent). */
static void launch_waiting(struct fixture *f, struct h_sched *s, const char *const *ids, int n)
{
    Tepui__Offer *o = next_offer(s);
    struct buf tasks = BUF_INIT;
    for (int i = 0; i < n; i++) {
        json_t *cmd = json_string(wait_for_go(f, ids[i]));
        char *cmd_text = json_dumps(cmd, JSON_ENCODE_ANY);
        json_decref(cmd);
        buf_printf(&tasks, "%s{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},"
                   "\"agent_id\":{\"value\":\"%s\"},\"resources\":%s,"
                   "\"command\":{\"value\":%s}}", i ? "," : "", ids[i], ids[i],
                   o->agent_id->value, small, cmd_text);
        free(cmd_text);
    }
    char *call = xasprintf("{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                           "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[%s]}}],"
                           "\"filters\":{\"refuse_seconds\":0}}}", o->id->value, buf_cstr(&tasks));
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
    buf_free(&tasks);
    pb_free(o);
    /* The RUNNING updates come in any order. */
    int running[8] = {0};
    for (int left = n; left > 0;) {
        Tepui__Scheduler__Event *ev = h_sched_next(s, EV(UPDATE), EVENT_TIMEOUT);
        if (ev == NULL)
            fail_msg("%d task(s) never ran", left);
        const Tepui__TaskStatus *st = ev->update->status;
        h_sched_ack(s, st);
        for (int i = 0; i < n; i++)
            if (!running[i] && strcmp(ids[i], st->task_id->value) == 0 &&
                (int)st->state == ST(RUNNING)) {
                running[i] = 1;
                left--;
            }
        pb_free(ev);
    }
    for (int i = 0; i < n; i++)
        wait_acknowledged(f, ids[i], "TASK_RUNNING");
}

/* The next UPDATE (of any task), acknowledged; NULL on timeout. */
static Tepui__TaskStatus *next_update(struct h_sched *s, double timeout)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, EV(UPDATE), timeout);
    if (ev == NULL)
        return NULL;
    Tepui__TaskStatus *st = PB_COPY(Tepui__TaskStatus, ev->update->status);
    pb_free(ev);
    h_sched_ack(s, st);
    return st;
}

/* The next update of task_id (others are acknowledged and dropped). */
static Tepui__TaskStatus *next_update_of(struct h_sched *s, const char *task_id, double timeout)
{
    double deadline = clock_mono() + timeout;
    for (;;) {
        double left = deadline - clock_mono();
        Tepui__TaskStatus *st = left > 0 ? next_update(s, left) : NULL;
        if (st == NULL || strcmp(st->task_id->value, task_id) == 0)
            return st;
        pb_free(st);
    }
}

/* Expects the terminal update of each task, once, and no other update. */
static void expect_each_once(struct h_sched *s, const char *const *ids, int n, int state)
{
    int seen[8] = {0};
    int left = n;
    double deadline = clock_mono() + EVENT_TIMEOUT;
    while (left > 0) {
        double remaining = deadline - clock_mono();
        Tepui__TaskStatus *st = remaining > 0 ? next_update(s, remaining) : NULL;
        if (st == NULL)
            fail_msg("%d task(s) never ended", left);
        int i = 0;
        while (i < n && strcmp(ids[i], st->task_id->value) != 0)
            i++;
        if (i == n || (int)st->state != state || seen[i])
            fail_msg("unexpected update %s of task %s", task_state_name(st->state),
                     st->task_id->value);
        seen[i] = 1;
        left--;
        pb_free(st);
    }
    /* Nothing more: no update came twice. */
    Tepui__TaskStatus *extra = next_update(s, 1.5);
    if (extra != NULL)
        fail_msg("unexpected update %s of task %s", task_state_name(extra->state),
                 extra->task_id->value);
}

/* ---- tests ---- */

static void running_tasks_survive_an_agent_kill_and_finish_once(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "survivor", 1);
    static const char *const ids[] = {"t1", "t2"};
    launch_waiting(f, &s, ids, 2);
    struct task_pids p1 = read_pids(f, "t1"), p2 = read_pids(f, "t2");
    char *id = agent_id(f->c.agents[0].port);

    kill_agent(f);
    restart_agent(f, NULL, second_run);

    /* The same agent, the same processes, taken back. */
    char *again = agent_id(f->c.agents[0].port);
    assert_string_equal(again, id);
    assert_true(pid_alive(p1.task) && pid_alive(p1.executor));
    assert_true(pid_alive(p2.task) && pid_alive(p2.executor));
    assert_true(h_log_count(&f->c.agents[0], "re-subscribed after the agent's restart") >= 2);
    json_t *ms = h_get_json(f->c.master.port, "/state");
    json_t *slaves = json_object_get(ms, "slaves");
    assert_int_equal(json_array_size(slaves), 1);
    assert_true(json_is_true(json_object_get(json_array_get(slaves, 0), "active")));
    json_decref(ms);

    go(f, "t1");
    go(f, "t2");
    expect_each_once(&s, ids, 2, ST(FINISHED));
    assert_true(h_wait_until(pid_gone, &p1.executor, EVENT_TIMEOUT));
    assert_true(h_wait_until(pid_gone, &p2.executor, EVENT_TIMEOUT));
    free(id);
    free(again);
    h_sched_close(&s);
}

static void an_update_made_while_the_agent_is_down_arrives_after_its_restart(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "downtime", 1);
    static const char *const ids[] = {"d1"};
    launch_waiting(f, &s, ids, 1);
    struct task_pids p = read_pids(f, "d1");

    kill_agent(f);
    /* The task ends while nobody can take its update. */
    go(f, "d1");
    assert_true(h_wait_until(pid_gone, &p.task, EVENT_TIMEOUT));
    assert_true(pid_alive(p.executor));
    restart_agent(f, NULL, second_run);

    Tepui__TaskStatus *st = next_update_of(&s, "d1", EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, ST(FINISHED));
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
    pb_free(st);
    assert_null(next_update(&s, 1.5));
    /* Acknowledged, the executor is done. */
    assert_true(h_wait_until(pid_gone, &p.executor, EVENT_TIMEOUT));
    h_sched_close(&s);
}

static void an_executor_that_died_while_the_agent_was_down_fails_its_task(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "crash", 1);
    static const char *const ids[] = {"c1"};
    launch_waiting(f, &s, ids, 1);
    struct task_pids p = read_pids(f, "c1");

    kill_agent(f);
    kill(p.executor, SIGKILL);
    assert_true(h_wait_until(pid_gone, &p.executor, EVENT_TIMEOUT));
    restart_agent(f, NULL, second_run);

    Tepui__TaskStatus *st = next_update_of(&s, "c1", EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, ST(FAILED));
    assert_int_equal(st->reason, REASON(EXECUTOR_TERMINATED));
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_AGENT);
    pb_free(st);
    /* What the executor left behind (its task) went too. */
    assert_true(h_wait_until(pid_gone, &p.task, EVENT_TIMEOUT));
    h_sched_close(&s);
}

static void an_executor_that_does_not_resubscribe_in_time_is_destroyed(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "stopped", 1);
    static const char *const ids[] = {"h1"};
    launch_waiting(f, &s, ids, 1);
    struct task_pids p = read_pids(f, "h1");

    kill_agent(f);
    kill(p.executor, SIGSTOP);
    static const char *const flags[] = {"--executor_reregistration_timeout=1secs",
                                        "--logging_level=DEBUG", NULL};
    restart_agent(f, NULL, flags);

    Tepui__TaskStatus *st = next_update_of(&s, "h1", EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, ST(LOST));
    assert_int_equal(st->reason, REASON(EXECUTOR_REREGISTRATION_TIMEOUT));
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_AGENT);
    pb_free(st);
    assert_true(h_wait_until(pid_gone, &p.executor, EVENT_TIMEOUT));
    assert_true(h_wait_until(pid_gone, &p.task, EVENT_TIMEOUT));
    h_sched_close(&s);
}

static void recover_cleanup_kills_the_old_executors_and_registers_a_new_agent(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "cleanup", 1);
    static const char *const ids[] = {"k1"};
    launch_waiting(f, &s, ids, 1);
    struct task_pids p = read_pids(f, "k1");
    char *id = agent_id(f->c.agents[0].port);

    kill_agent(f);
    static const char *const flags[] = {"--recover=cleanup", NULL};
    restart_agent(f, NULL, flags);
    assert_true(h_wait_until(pid_gone, &p.executor, EVENT_TIMEOUT));
    assert_true(h_wait_until(pid_gone, &p.task, EVENT_TIMEOUT));
    char *now = agent_id(f->c.agents[0].port);
    assert_string_not_equal(now, id);
    free(id);
    free(now);
    h_sched_close(&s);
}

static void a_reboot_makes_a_new_agent(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "reboot", 1);
    static const char *const ids[] = {"r1"};
    launch_waiting(f, &s, ids, 1);
    struct task_pids p = read_pids(f, "r1");
    char *id = agent_id(f->c.agents[0].port);

    kill_agent(f);
    edit_checkpoint(f, "UPDATE agent SET value = CAST('00000000-0000-0000-0000-000000000000' "
                       "AS BLOB) WHERE key = 'boot_id'");
    restart_agent(f, NULL, second_run);
    char *now = agent_id(f->c.agents[0].port);
    assert_string_not_equal(now, id);
    assert_true(h_log_count(&f->c.agents[0], "the machine rebooted") == 1);
    /* (After a real reboot none would be left; these are not taken back.) */
    assert_true(h_wait_until(pid_gone, &p.executor, EVENT_TIMEOUT));
    free(id);
    free(now);
    h_sched_close(&s);
}

static void a_damaged_row_stops_a_strict_agent_and_not_a_lenient_one(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "damaged", 1);
    static const char *const ids[] = {"x1"};
    launch_waiting(f, &s, ids, 1);
    struct task_pids p = read_pids(f, "x1");
    char *id = agent_id(f->c.agents[0].port);

    kill_agent(f);
    edit_checkpoint(f, "UPDATE tasks SET info = x'0a03ffffff' WHERE id = 'x1'");
    char *log = restart_refused(f, NULL, second_run);
    assert_non_null(strstr(log, "refusing to start"));
    assert_non_null(strstr(log, "the TaskInfo of task x1 of framework"));
    assert_non_null(strstr(log, "cannot be decoded"));
    assert_non_null(strstr(log, "--no-strict"));
    free(log);
    /* Nothing was touched. */
    assert_true(pid_alive(p.executor) && pid_alive(p.task));

    static const char *const lenient[] = {"--no-strict", "--executor_reregistration_timeout=20secs",
                                          "--logging_level=DEBUG", NULL};
    restart_agent(f, NULL, lenient);
    char *now = agent_id(f->c.agents[0].port);
    assert_string_equal(now, id);
    assert_true(h_log_count(&f->c.agents[0], "(not recovered)") >= 1);
    assert_true(h_metric(f->c.agents[0].port, "slave/recovery_errors") >= 1);
    /* The task the agent lost is lost for the master too; its executor,
     * with nothing to run, is shut down. */
    Tepui__TaskStatus *st = next_update_of(&s, "x1", EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, ST(LOST));
    pb_free(st);
    assert_true(h_wait_until(pid_gone, &p.executor, EVENT_TIMEOUT));
    free(id);
    free(now);
    h_sched_close(&s);
}

static void a_damaged_file_stops_a_strict_agent_and_a_lenient_one_starts_afresh(void **state)
{
    struct fixture *f = *state;
    char *id = agent_id(f->c.agents[0].port);
    assert_int_equal(h_stop(&f->c.agents[0], SIGTERM), 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/meta/agent.db", f->c.agents[0].dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "this is no database at all", 26, 0), 26);
    close(fd);
    char *log = restart_refused(f, NULL, NULL);
    assert_non_null(strstr(log, "refusing to start"));
    assert_non_null(strstr(log, "not a database"));
    free(log);

    static const char *const lenient[] = {"--no-strict", NULL};
    restart_agent(f, NULL, lenient);
    char *now = agent_id(f->c.agents[0].port);
    assert_string_not_equal(now, id);
    free(id);
    free(now);
}

static int master_sees_cpus(void *arg)
{
    int port = *(int *)arg;
    json_t *st = h_get_json(port, "/state");
    json_t *sl = json_array_get(json_object_get(st, "slaves"), 0);
    double cpus = json_number_value(json_object_get(json_object_get(sl, "resources"), "cpus"));
    int zone = json_object_get(json_object_get(sl, "attributes"), "zone") != NULL;
    json_decref(st);
    return cpus > 7.99 && cpus < 8.01 && zone;
}

static void reconfiguration_equal_refuses_changes_and_additive_allows_growth(void **state)
{
    struct fixture *f = *state;
    /* An agent that gains an attribute (an addition), stopped gracefully. */
    assert_int_equal(h_stop(&f->c.agents[0], SIGTERM), 0);
    static const char *const rack[] = {"--attributes=rack:r1",
                                       "--reconfiguration_policy=additive", NULL};
    restart_agent(f, NULL, rack);
    char *id = agent_id(f->c.agents[0].port);
    assert_int_equal(h_stop(&f->c.agents[0], SIGTERM), 0);

    const char *more = "cpus:8;mem:4096;disk:4096;ports:[31000-31099]";
    static const char *const grown[] = {"--attributes=rack:r1;zone:a", NULL};
    char *log = restart_refused(f, more, grown);
    assert_non_null(strstr(log, "Incompatible agent info detected"));
    assert_non_null(strstr(log, "resources changed from"));
    assert_non_null(strstr(log, "attribute zone:a added"));
    free(log);

    static const char *const additive[] = {"--attributes=rack:r1;zone:a",
                                           "--reconfiguration_policy=additive", NULL};
    restart_agent(f, more, additive);
    char *now = agent_id(f->c.agents[0].port);
    assert_string_equal(now, id);
    free(now);
    /* The master takes the new total of the agent it knows. */
    assert_true(h_wait_until(master_sees_cpus, &f->c.master.port, EVENT_TIMEOUT));
    struct h_sched s;
    subscribe(f, &s, "grown", 0);
    Tepui__Offer *o = next_offer(&s);
    double cpus = 0;
    for (size_t i = 0; i < o->n_resources; i++)
        if (strcmp(o->resources[i]->name, "cpus") == 0)
            cpus += o->resources[i]->scalar->value;
    assert_true(cpus > 7.99);
    pb_free(o);
    h_sched_close(&s);

    /* Shrinking is no addition; nor is a changed attribute. */
    assert_int_equal(h_stop(&f->c.agents[0], SIGTERM), 0);
    static const char *const shrunk[] = {"--attributes=rack:r2;zone:a",
                                         "--reconfiguration_policy=additive", NULL};
    log = restart_refused(f, NULL, shrunk);
    assert_non_null(strstr(log, "Incompatible agent info detected"));
    assert_non_null(strstr(log, "not a superset"));
    assert_non_null(strstr(log, "attribute rack changed from r1 to r2"));
    free(log);
    restart_agent(f, more, additive);
    free(id);
}

static void tasks_of_frameworks_that_do_not_checkpoint_do_not_survive(void **state)
{
    struct fixture *f = *state;
    struct h_sched keep, lose;
    subscribe(f, &keep, "keeps", 1);
    subscribe(f, &lose, "loses", 0);
    static const char *const kept[] = {"kept"};
    static const char *const lost[] = {"lost"};
    launch_waiting(f, &keep, kept, 1);
    launch_waiting(f, &lose, lost, 1);
    struct task_pids pk = read_pids(f, "kept"), pl = read_pids(f, "lost");

    /* A graceful stop leaves only the checkpointing framework's executor. */
    assert_int_equal(h_stop(&f->c.agents[0], SIGTERM), 0);
    assert_true(h_wait_until(pid_gone, &pl.executor, EVENT_TIMEOUT));
    assert_true(h_wait_until(pid_gone, &pl.task, EVENT_TIMEOUT));
    assert_true(pid_alive(pk.executor) && pid_alive(pk.task));
    Tepui__TaskStatus *st = next_update_of(&lose, "lost", EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, ST(LOST));
    pb_free(st);

    restart_agent(f, NULL, second_run);
    assert_true(pid_alive(pk.executor) && pid_alive(pk.task));
    /* The master has the one task back, the other stays gone. */
    json_t *ms = h_get_json(f->c.master.port, "/state");
    size_t i;
    json_t *fw;
    json_array_foreach(json_object_get(ms, "frameworks"), i, fw) {
        size_t n = json_array_size(json_object_get(fw, "tasks"));
        if (strcmp(json_string_value(json_object_get(fw, "id")), keep.framework_id) == 0)
            assert_int_equal(n, 1);
        else
            assert_int_equal(n, 0);
    }
    json_decref(ms);
    go(f, "kept");
    expect_each_once(&keep, kept, 1, ST(FINISHED));

    /* Killed (-9), an agent's executors of such frameworks give up alone. */
    launch_waiting(f, &lose, (const char *const[]){"lost2"}, 1);
    struct task_pids p2 = read_pids(f, "lost2");
    kill_agent(f);
    assert_true(h_wait_until(pid_gone, &p2.executor, EVENT_TIMEOUT));
    assert_true(h_wait_until(pid_gone, &p2.task, EVENT_TIMEOUT));
    restart_agent(f, NULL, second_run);
    h_sched_close(&keep);
    h_sched_close(&lose);
}

static const char *thread_executor(void)
{
    static char path[600];
    const char *dir = getenv("TEPUI_BUILD_DIR");
    char rel[500];
    snprintf(rel, sizeof(rel), "%s/examples/thread_executor", dir ? dir : "build");
    if (realpath(rel, path) == NULL)
        snprintf(path, sizeof(path), "%s", rel);
    return path;
}

static int launch_on_thread_executor(struct h_sched *s, const Tepui__Offer *o,
                                     const char *task_id, const char *data)
{
    struct buf b64 = BUF_INIT;
    base64_encode(&b64, data, strlen(data));
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
        "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"%s\","
        "\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"},\"data\":\"%s\","
        "\"resources\":%s,\"executor\":{\"executor_id\":{\"value\":\"threads\"},"
        "\"type\":\"CUSTOM\",\"command\":{\"value\":\"%s\",\"shell\":false},\"resources\":%s}}]}}],"
        "\"filters\":{\"refuse_seconds\":0}}}",
        o->id->value, task_id, task_id, o->agent_id->value, buf_cstr(&b64), small,
        thread_executor(), small);
    buf_free(&b64);
    int rc = h_sched_call(s, call, NULL);
    free(call);
    return rc;
}

static void a_custom_executor_survives_an_agent_restart(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "custom", 1);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_on_thread_executor(&s, o, "long", "sleep:600"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "long", ST(RUNNING), EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
    wait_acknowledged(f, "long", "TASK_RUNNING");
    pid_t pid = executor_pid(f, "threads");
    assert_true(pid > 0);

    kill_agent(f);
    restart_agent(f, NULL, second_run);
    assert_int_equal(executor_pid(f, "threads"), pid);

    /* The executor, taken back, runs a new task and kills the old one. */
    o = next_offer(&s);
    assert_int_equal(launch_on_thread_executor(&s, o, "short", "done"), 202);
    pb_free(o);
    st = h_sched_wait_state(&s, "short", ST(FINISHED), EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
    assert_int_equal(h_sched_call(&s, "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":"
                                      "\"long\"}}}", NULL), 202);
    st = h_sched_wait_state(&s, "long", ST(KILLED), EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
    assert_int_equal(executor_pid(f, "threads"), pid);
    h_sched_close(&s);
}

static void a_default_executor_survives_an_agent_restart(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "group", 1);
    Tepui__Offer *o = next_offer(&s);
    struct buf tasks = BUF_INIT;
    static const char *const ids[] = {"g1", "g2"};
    for (int i = 0; i < 2; i++) {
        json_t *cmd = json_string(wait_for_go(f, ids[i]));
        char *text = json_dumps(cmd, JSON_ENCODE_ANY);
        json_decref(cmd);
        buf_printf(&tasks, "%s{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},"
                   "\"agent_id\":{\"value\":\"%s\"},\"resources\":%s,\"command\":{\"value\":%s}}",
                   i ? "," : "", ids[i], ids[i], o->agent_id->value, small, text);
        free(text);
    }
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
        "\"operations\":[{\"type\":\"LAUNCH_GROUP\",\"launch_group\":{\"executor\":"
        "{\"type\":\"DEFAULT\",\"executor_id\":{\"value\":\"pod\"},\"resources\":%s},"
        "\"task_group\":{\"tasks\":[%s]}}}],\"filters\":{\"refuse_seconds\":0}}}",
        o->id->value, small, buf_cstr(&tasks));
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    free(call);
    buf_free(&tasks);
    pb_free(o);
    for (int i = 0; i < 2; i++) {
        Tepui__TaskStatus *st = h_sched_wait_state(&s, ids[i], ST(RUNNING), EVENT_TIMEOUT);
        assert_non_null(st);
        pb_free(st);
        wait_acknowledged(f, ids[i], "TASK_RUNNING");
    }
    pid_t pid = executor_pid(f, "pod");
    assert_true(pid > 0);

    kill_agent(f);
    restart_agent(f, NULL, second_run);
    assert_int_equal(executor_pid(f, "pod"), pid);
    go(f, "g1");
    go(f, "g2");
    expect_each_once(&s, ids, 2, ST(FINISHED));
    h_sched_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(running_tasks_survive_an_agent_kill_and_finish_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_update_made_while_the_agent_is_down_arrives_after_its_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_executor_that_died_while_the_agent_was_down_fails_its_task, setup, teardown),
        cmocka_unit_test_setup_teardown(an_executor_that_does_not_resubscribe_in_time_is_destroyed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            recover_cleanup_kills_the_old_executors_and_registers_a_new_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reboot_makes_a_new_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(a_damaged_row_stops_a_strict_agent_and_not_a_lenient_one,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_damaged_file_stops_a_strict_agent_and_a_lenient_one_starts_afresh, setup, teardown),
        cmocka_unit_test_setup_teardown(
            reconfiguration_equal_refuses_changes_and_additive_allows_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_of_frameworks_that_do_not_checkpoint_do_not_survive,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_custom_executor_survives_an_agent_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_default_executor_survives_an_agent_restart, setup,
                                        teardown),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
