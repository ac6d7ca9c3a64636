/* The emulated cluster at a small scale, so that the scale benchmark
 * (bench/scale.sh) cannot rot: a real master with a few hundred agents
 * played by bench/emulator over the internal protocol, a few thousand tasks
 * launched by emulated frameworks through the scheduler API, each finished
 * exactly once, and every agent re-registering after the master restarts
 * from its sqlite registry. Figures are the benchmark's business; this only
 * checks that everything arrives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define AGENTS 300
#define TASKS 3000

static const char *const master_flags[] = {"--registry=sqlite", "--allocation_interval=100ms",
                                           NULL};

static const char *emulator_path(void)
{
    static char path[512];
    const char *dir = getenv("TEPUI_BUILD_DIR");
    snprintf(path, sizeof(path), "%s/bench/emulator", dir && *dir ? dir : "build");
    return path;
}

struct fixture {
    struct h_cluster c;
    pid_t agents;             /* the emulator playing the agents */
    char out[600];            /* its stdout */
};

static pid_t spawn_emulator(const char *const *argv, const char *out)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Whether the file holds a line starting with prefix. */
static int file_has(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strncmp(line, prefix, strlen(prefix)) == 0;
    fclose(f);
    return found;
}

struct wait_line {
    const char *path, *prefix;
};

static int line_arrived(void *arg)
{
    struct wait_line *w = arg;
    return file_has(w->path, w->prefix);
}

struct wait_metric {
    int port;
    const char *name;
    double value;
};

static int metric_is(void *arg)
{
    struct wait_metric *w = arg;
    return h_metric(w->port, w->name) == w->value;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, master_flags);
    f->agents = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->agents > 0) {
        kill(f->agents, SIGKILL);
        waitpid(f->agents, NULL, 0);
    }
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

static void emulated_agents_run_every_task_once_and_reregister_after_restart(void **state)
{
    struct fixture *f = *state;
    char masters[64], agents[32], tasks[32];
    snprintf(masters, sizeof(masters), "--masters=127.0.0.1:%d", f->c.master.port);
    snprintf(agents, sizeof(agents), "--agents=%d", AGENTS);
    snprintf(tasks, sizeof(tasks), "--tasks=%d", TASKS);
    snprintf(f->out, sizeof(f->out), "%s/emulated-agents.out", f->c.root);

    /* Arrange: the agents register. */
    const char *const agents_argv[] = {emulator_path(), masters, agents, NULL};
    f->agents = spawn_emulator(agents_argv, f->out);
    assert_true(f->agents > 0);
    char registered[64];
    snprintf(registered, sizeof(registered), "registered: %d agents", AGENTS);
    struct wait_line reg = {f->out, registered};
    assert_true(h_wait_until(line_arrived, &reg, 60));
    struct wait_metric active = {f->c.master.port, "master/slaves_active", AGENTS};
    assert_true(h_wait_until(metric_is, &active, 30));

    /* Act: two frameworks launch the tasks through the scheduler API. */
    const char *const fw_argv[] = {emulator_path(), masters, "--agents=0", "--frameworks=2",
                                   tasks, "--window=500", "--exit_when_done",
                                   "--duration=120secs", NULL};
    char out[4096];
    int st = h_run_capture(fw_argv, out, sizeof(out), 150);
    if (st != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        h_dump_logs(&f->c);
    assert_int_equal(st, 0);
    char expect[160];
    snprintf(expect, sizeof(expect),
             "tasks: %d launched, %d finished, 0 ended otherwise, 0 duplicate terminal updates",
             TASKS, TASKS);
    if (strstr(out, expect) == NULL)
        fprintf(stderr, "frameworks said:\n%s\n", out);
    assert_non_null(strstr(out, expect));

    /* The master counted each task finished once and none still running. */
    struct wait_metric finished = {f->c.master.port, "master/tasks_finished", TASKS};
    assert_true(h_wait_until(metric_is, &finished, 10));
    assert_true(h_metric(f->c.master.port, "master/tasks_running") == 0);

    /* Act: the master dies and comes back on its port with its registry. */
    h_restart_master(&f->c, SIGKILL, master_flags);

    /* Assert: every agent re-registers, as the emulator and master agree. */
    char reregistered[64];
    snprintf(reregistered, sizeof(reregistered), "re-registered: %d agents", AGENTS);
    struct wait_line rereg = {f->out, reregistered};
    if (!h_wait_until(line_arrived, &rereg, 90)) {
        char tail[2048];
        const char *const argv[] = {"/usr/bin/tail", "-n", "5", f->out, NULL};
        h_run_capture(argv, tail, sizeof(tail), 5);
        fprintf(stderr, "the emulated agents said:\n%s\nthe master counts %.0f active\n", tail,
                h_metric(f->c.master.port, "master/slaves_active"));
        fail();
    }
    active.port = f->c.master.port;
    assert_true(h_wait_until(metric_is, &active, 30));
    assert_true(h_metric(f->c.master.port, "master/slaves_unreachable") <= 0);

    /* The agents sent one RUNNING and one FINISHED per task, no more. */
    kill(f->agents, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(f->agents, &status, 0), f->agents);
    f->agents = -1;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char sent[160];
    snprintf(sent, sizeof(sent),
             "agents: %d of %d registered; updates sent: %d TASK_RUNNING, %d terminal", AGENTS,
             AGENTS, TASKS, TASKS);
    assert_true(file_has(f->out, sent));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            emulated_agents_run_every_task_once_and_reregister_after_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
