/* The tepui command line as a user runs it: `tepui execute` against a real
 * master and agent (success, failure, kill, several instances, both
 * encodings, environment, bad flags), the list commands, `tepui cluster up`
 * from start to Ctrl-C, and the top-level usage. The CLI is the binary in
 * $TEPUI_BUILD_DIR/bin; its stdout and stderr go to files that the tests
 * read. Under the sanitizers a leak in the CLI changes its exit status, so
 * every exit status is checked exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "harness.h"

/* Under ASan on two cores a task takes a few seconds end to end. */
#define RUN_SECS 30.0
/* Small tasks: five fit on the test agent at once. */
#define SMALL "--resources=cpus:0.1;mem:32"

struct fixture {
    struct h_cluster c;
    char master[64];          /* --master=127.0.0.1:PORT */
    int runs;                 /* numbers the output files */
    char *out, *err;          /* of the latest run */
    pid_t bg;                 /* a CLI left running (cluster up) */
};

static int setup_cluster(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, NULL);
    snprintf(f->master, sizeof(f->master), "--master=127.0.0.1:%d", f->c.master.port);
    *state = f;
    return 0;
}

/* Only a temporary directory: the test brings its own daemons, or none. */
static int setup_bare(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->bg > 0) {
        /* Its daemons get SIGTERM when it dies (PR_SET_PDEATHSIG). */
        kill(f->bg, SIGKILL);
        waitpid(f->bg, NULL, 0);
    }
    free(f->out);
    free(f->err);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- running the CLI ---- */

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return xstrdup("");
    struct stat sb;
    size_t size = fstat(fileno(fp), &sb) == 0 ? (size_t)sb.st_size : 0;
    char *data = xmalloc(size + 1);
    size_t n = fread(data, 1, size, fp);
    data[n] = '\0';
    fclose(fp);
    return data;
}

/* Starts tepui with args (NULL-terminated, after the program name), its
 * stdout and stderr going to files named in out_path and err_path. */
static pid_t cli_spawn(struct fixture *f, const char *const *args, char *out_path,
                       char *err_path, size_t n)
{
    int k = ++f->runs;
    snprintf(out_path, n, "%s/cli%d.out", f->c.root, k);
    snprintf(err_path, n, "%s/cli%d.err", f->c.root, k);
    const char *argv[32] = {h_bin("tepui")};
    size_t i = 1;
    for (const char *const *a = args; *a != NULL && i < 31; a++)
        argv[i++] = *a;
    argv[i] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0)
            _exit(126);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        dup2(in, STDIN_FILENO);
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits up to secs for pid; its wait status, or -1 (then it is killed).
 * Fails at once when a daemon of the fixture dies meanwhile: a CLI would
 * wait for it in vain. */
static int wait_exit(struct fixture *f, pid_t pid, double secs)
{
    double deadline = clock_mono() + secs;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        const char *died = h_daemon_died(&f->c);
        if (clock_mono() > deadline || died != NULL) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            if (died != NULL) {
                h_dump_logs(&f->c);
                fail_msg("a daemon exited while tepui ran; see %s", died);
            }
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return status;
}

/* Runs tepui to completion; returns its exit code (-1 when it timed out or
 * died of a signal) with its output in f->out and f->err. */
static int cli(struct fixture *f, const char *const *args, double secs)
{
    char out_path[600], err_path[600];
    pid_t pid = cli_spawn(f, args, out_path, err_path, sizeof(out_path));
    int status = wait_exit(f, pid, secs);
    free(f->out);
    free(f->err);
    f->out = slurp(out_path);
    f->err = slurp(err_path);
    int code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == -1 || getenv("TEPUI_TEST_VERBOSE") != NULL)
        fprintf(stderr, "tepui %s ... -> %s %d\n---- stdout\n%s---- stderr\n%s", args[0],
                status == -1 ? "timed out" : WIFEXITED(status) ? "exit" : "signal",
                status == -1 ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                f->out, f->err);
    return code;
}

/* Asserts that text contains needle, showing both when it does not. */
#define assert_contains(text, needle) \
    do { \
        const char *t_ = (text), *n_ = (needle); \
        if (strstr(t_, n_) == NULL) \
            fail_msg("expected \"%s\" in:\n%s", n_, t_); \
    } while (0)

#define assert_exit(f, expected, ...) \
    do { \
        const char *args_[] = {__VA_ARGS__, NULL}; \
        int code_ = cli((f), args_, RUN_SECS); \
        if (code_ != (expected)) \
            fail_msg("tepui %s exited %d, expected %d\nstdout:\n%s\nstderr:\n%s", args_[0], \
                     code_, (expected), (f)->out, (f)->err); \
    } while (0)

/* ---- tepui execute ---- */

static void execute_prints_updates_and_task_output_and_exits_0(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "execute", f->master, "--name=hello", "--command=echo hello", SMALL);
    assert_contains(f->out, "Received status update TASK_RUNNING for task 'hello'");
    assert_contains(f->out, "Received status update TASK_FINISHED for task 'hello'");
    assert_contains(f->out, "---- stdout of task 'hello' ----\nhello\n");
    /* Updates come in order, the output after them. */
    const char *running = strstr(f->out, "TASK_RUNNING");
    const char *finished = strstr(f->out, "TASK_FINISHED");
    const char *output = strstr(f->out, "---- stdout");
    assert_true(running < finished && finished < output);
}

static void execute_with_default_resources_runs_the_task(void **state)
{
    struct fixture *f = *state;
    /* No --resources: the default (cpus:1;mem:128) fits the agent. */
    assert_exit(f, 0, "execute", f->master, "--name=plain", "--command=true");
    assert_contains(f->out, "Received status update TASK_FINISHED for task 'plain'");
}

static void failing_command_exits_with_its_status(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 7, "execute", f->master, "--name=fails", "--command=echo oops >&2; exit 7",
                SMALL);
    assert_contains(f->out, "Received status update TASK_FAILED for task 'fails'");
    assert_contains(f->out, "Command exited with status 7");
    assert_contains(f->out, "---- stderr of task 'fails' ----\noops\n");
    assert_null(strstr(f->out, "TASK_FINISHED"));
}

static void kill_after_kills_a_running_task(void **state)
{
    struct fixture *f = *state;
    double start = clock_mono();
    const char *args[] = {"execute", f->master, "--name=sleeper", "--command=sleep 60",
                          "--kill_after=1secs", SMALL, NULL};
    /* A task that did not exit with a status of its own gives 1. */
    assert_int_equal(cli(f, args, RUN_SECS), 1);
    assert_contains(f->out, "Received status update TASK_RUNNING for task 'sleeper'");
    assert_contains(f->out, "Killing task 'sleeper' (--kill_after elapsed)");
    assert_contains(f->out, "Received status update TASK_KILLED for task 'sleeper'");
    /* Killed, not left to run its minute. */
    assert_true(clock_mono() - start < 45);
}

static void instances_run_as_numbered_tasks_that_all_finish(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "execute", f->master, "--name=many", "--command=echo out-$((40 + 2))",
                "--instances=5", SMALL);
    for (int i = 0; i < 5; i++) {
        char line[128];
        snprintf(line, sizeof(line), "Received status update TASK_FINISHED for task 'many-%d'", i);
        assert_contains(f->out, line);
        snprintf(line, sizeof(line), "---- stdout of task 'many-%d' ----\nout-42\n", i);
        assert_contains(f->out, line);
    }
    assert_null(strstr(f->out, "task 'many-5'"));
    /* The master saw five tasks finish. */
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *fw = json_array_get(json_object_get(st, "completed_frameworks"), 0);
    assert_non_null(fw);
    json_t *tasks = json_object_get(fw, "completed_tasks");
    assert_int_equal(json_array_size(tasks), 5);
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
        assert_string_equal(json_string_value(json_object_get(t, "state")), "TASK_FINISHED");
    json_decref(st);
}

static void instances_beyond_the_agent_run_as_resources_free_up(void **state)
{
    struct fixture *f = *state;
    /* Four fit on the agent's 4 cpus at once; the other two wait. */
    assert_exit(f, 0, "execute", f->master, "--name=queue", "--command=sleep 0.2",
                "--instances=6", "--resources=cpus:1;mem:128");
    for (int i = 0; i < 6; i++) {
        char line[128];
        snprintf(line, sizeof(line), "Received status update TASK_FINISHED for task 'queue-%d'", i);
        assert_contains(f->out, line);
    }
}

static void kill_after_with_task_killing_state_reports_killing_first(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"execute", f->master, "--name=slow", "--command=sleep 60",
                          "--kill_after=0.5secs", "--framework_capabilities=TASK_KILLING_STATE",
                          SMALL, NULL};
    assert_int_equal(cli(f, args, RUN_SECS), 1);
    const char *killing = strstr(f->out, "Received status update TASK_KILLING for task 'slow'");
    const char *killed = strstr(f->out, "Received status update TASK_KILLED for task 'slow'");
    if (killing == NULL || killed == NULL || killing > killed)
        fail_msg("expected TASK_KILLING, then TASK_KILLED:\n%s", f->out);
}

static void output_longer_than_one_read_is_printed_whole(void **state)
{
    struct fixture *f = *state;
    /* 108,894 bytes: two reads of the agent's /files/read (64 KiB each). */
    assert_exit(f, 0, "execute", f->master, "--name=long", "--command=seq 1 20000", SMALL);
    const char *header = "---- stdout of task 'long' ----\n";
    const char *p = strstr(f->out, header);
    assert_non_null(p);
    p += strlen(header);
    for (int i = 1; i <= 20000; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (v != i || *end != '\n')
            fail_msg("line %d of the output is '%.20s'", i, p);
        p = end + 1;
    }
    assert_null(strstr(p, "\n1\n"));
}

static void execute_speaks_json_to_the_master(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "execute", f->master, "--name=json", "--command=echo in json",
                "--content_type=json", SMALL);
    assert_contains(f->out, "Received status update TASK_FINISHED for task 'json'");
    assert_contains(f->out, "---- stdout of task 'json' ----\nin json\n");
}

static void env_reaches_the_task(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "execute", f->master, "--name=env", "--command=echo FOO=$FOO",
                "--env={\"FOO\":\"bar\"}", SMALL);
    assert_contains(f->out, "---- stdout of task 'env' ----\nFOO=bar\n");
}

static void execute_gives_up_when_no_master_answers(void **state)
{
    struct fixture *f = *state;
    /* Port 1 on loopback: nothing listens there. */
    assert_exit(f, 1, "execute", "--master=127.0.0.1:1", "--name=x", "--command=true",
                "--subscribe_timeout=1secs");
    assert_contains(f->err, "could not subscribe to the master");
}

static void bad_flags_exit_2_with_a_message(void **state)
{
    struct fixture *f = *state;
    /* Nothing reaches the master: each is refused before subscribing. */
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true", "--resources=cpus:-1");
    assert_contains(f->err, "--resources");
    assert_exit(f, 2, "execute", f->master, "--command=true");
    assert_contains(f->err, "--name");
    assert_exit(f, 2, "execute", f->master, "--name=x");
    assert_contains(f->err, "--command");
    assert_exit(f, 2, "execute", "--name=x", "--command=true");
    assert_contains(f->err, "--master");
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true", "--env=notjson");
    assert_contains(f->err, "--env");
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true", "--env=[1]");
    assert_contains(f->err, "--env");
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true", "--bogus=1");
    assert_contains(f->err, "unknown flag '--bogus'");
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true", "--instances=0");
    assert_contains(f->err, "--instances");
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true", "--instances=many");
    assert_contains(f->err, "instances");
    assert_exit(f, 2, "execute", "--master=127.0.0.1:notaport", "--name=x", "--command=true");
    assert_contains(f->err, "--master");
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true",
                "--framework_capabilities=NO_SUCH_CAPABILITY");
    assert_contains(f->err, "NO_SUCH_CAPABILITY");
    assert_exit(f, 2, "execute", f->master, "--name=x", "--command=true", "--kill_after=soon");
    assert_contains(f->err, "kill_after");
    json_t *st = h_get_json(f->c.master.port, "/state");
    assert_int_equal(json_array_size(json_object_get(st, "frameworks")), 0);
    assert_int_equal(json_array_size(json_object_get(st, "completed_frameworks")), 0);
    json_decref(st);
}

static void execute_help_lists_its_flags(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "execute", "--help");
    assert_contains(f->out, "--kill_after");
    assert_contains(f->out, "--instances");
    assert_contains(f->out, "--content_type");
}

/* ---- the list commands ---- */

static void task_list_all_shows_finished_and_failed_tasks(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "execute", f->master, "--name=good", "--command=true", SMALL);
    assert_exit(f, 3, "execute", f->master, "--name=bad", "--command=exit 3", SMALL);
    assert_exit(f, 0, "task", "list", f->master, "--all");
    assert_contains(f->out, "STATE");
    const char *good = strstr(f->out, "\ngood ");
    const char *bad = strstr(f->out, "\nbad ");
    assert_non_null(good);
    assert_non_null(bad);
    assert_contains(good, "TASK_FINISHED");
    assert_contains(bad, "TASK_FAILED");
    /* Without --all only active frameworks' tasks: none here. */
    assert_exit(f, 0, "task", "list", f->master);
    assert_null(strstr(f->out, "good"));
    assert_null(strstr(f->out, "bad"));
}

static void agent_list_shows_the_registered_agent(void **state)
{
    struct fixture *f = *state;
    json_t *st = h_get_json(f->c.master.port, "/state");
    char id[256];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(st, "slaves"), 0),
                                               "id")));
    json_decref(st);
    assert_exit(f, 0, "agent", "list", f->master);
    const char *row = strstr(f->out, id);
    assert_non_null(row);
    /* The agent's 4 cpus and 4096 MB, active. */
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(row, "\n"), row);
    assert_contains(line, "4.00");
    assert_contains(line, "4096");
    assert_contains(line, "yes");
}

static void framework_list_all_shows_completed_frameworks(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "execute", f->master, "--name=fw", "--command=true", SMALL);
    assert_exit(f, 0, "framework", "list", f->master, "--all");
    assert_contains(f->out, "tepui-execute instance: fw");
    assert_exit(f, 0, "framework", "list", f->master);
    assert_null(strstr(f->out, "tepui-execute instance: fw"));
}

static void list_against_no_master_fails_with_a_message(void **state)
{
    struct fixture *f = *state;
    /* A port nothing listens on: the master of this fixture, stopped. */
    char master[64];
    snprintf(master, sizeof(master), "%s", f->master);
    int status = h_stop(&f->c.agents[0], SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    status = h_stop(&f->c.master, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_exit(f, 1, "task", "list", master);
    assert_contains(f->err, "/state");
    assert_exit(f, 2, "agent", "list", "--master=:");
}

/* ---- tepui cluster up ---- */

/* Pids of live processes whose command line mentions needle (up to max). */
static int processes_mentioning(const char *needle, pid_t *pids, int max)
{
    int n = 0;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == getpid())
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        char cmd[4096];
        size_t len = fread(cmd, 1, sizeof(cmd) - 1, fp);
        fclose(fp);
        for (size_t i = 0; i < len; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        cmd[len] = '\0';
        /* Zombies have an empty command line and are gone for our purpose. */
        if (strstr(cmd, needle) != NULL && n < max)
            pids[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

static int file_contains(const char *path, const char *needle)
{
    char *text = slurp(path);
    int found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static void cluster_up_serves_tasks_and_stops_everything_on_ctrl_c(void **state)
{
    struct fixture *f = *state;
    char dir[600], wd_flag[700], out_path[600], err_path[600];
    snprintf(dir, sizeof(dir), "%s/cluster", f->c.root);
    snprintf(wd_flag, sizeof(wd_flag), "--work_dir=%s", dir);
    const char *args[] = {"cluster", "up", "--agents=2", "--port=0", wd_flag,
                          "--resources=cpus:2;mem:1024;disk:1024;ports:[32000-32099]", NULL};
    f->bg = cli_spawn(f, args, out_path, err_path, sizeof(out_path));

    /* Ready: the banner names the master and both agents. */
    double deadline = clock_mono() + RUN_SECS;
    while (!file_contains(out_path, "Press Ctrl-C") && clock_mono() < deadline) {
        assert_int_equal(waitpid(f->bg, NULL, WNOHANG), 0);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char *out = slurp(out_path);
    int port = 0, agents = 0;
    const char *banner = strstr(out, "master at http://127.0.0.1:");
    if (banner == NULL)
        fail_msg("no banner from tepui cluster up:\n%s", out);
    assert_int_equal(sscanf(banner, "master at http://127.0.0.1:%d with %d agent(s)", &port, &agents),
                     2);
    assert_int_equal(agents, 2);
    assert_contains(out, dir);
    free(out);

    /* The port file agrees, and the master has both agents, active. */
    char port_path[700];
    snprintf(port_path, sizeof(port_path), "%s/master.port", dir);
    char *port_text = slurp(port_path);
    assert_int_equal(atoi(port_text), port);
    free(port_text);
    json_t *st = h_get_json(port, "/state");
    assert_int_equal(json_integer_value(json_object_get(st, "activated_slaves")), 2);
    json_t *slaves = json_object_get(st, "slaves");
    assert_int_equal(json_array_size(slaves), 2);
    for (size_t i = 0; i < 2; i++)
        assert_true(json_is_true(json_object_get(json_array_get(slaves, i), "active")));
    json_decref(st);

    /* It runs tasks. */
    char master[64];
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", port);
    assert_exit(f, 0, "execute", master, "--name=on-cluster", "--command=echo up", SMALL);
    assert_contains(f->out, "---- stdout of task 'on-cluster' ----\nup\n");

    pid_t pids[16];
    assert_true(processes_mentioning(dir, pids, 16) >= 3);   /* master and 2 agents */

    /* Ctrl-C: it stops agents and master and exits 0. */
    assert_int_equal(kill(f->bg, SIGINT), 0);
    int status = wait_exit(f, f->bg, RUN_SECS);
    f->bg = 0;
    assert_true(status != -1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    out = slurp(out_path);
    assert_contains(out, "stopping");
    free(out);
    int left = processes_mentioning(dir, pids, 16);
    if (left > 0)
        fail_msg("%d process(es) of the cluster remain, e.g. pid %d", left, (int)pids[0]);
    /* Stopped gracefully: the daemons' logs say nothing of sanitizer errors
     * (cluster up does not report how its children exited). */
    const char *logs[] = {"master.log", "agent0.log", "agent1.log"};
    for (size_t i = 0; i < 3; i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%s", dir, logs[i]);
        char *log = slurp(path);
        assert_true(strlen(log) > 0);
        if (strstr(log, "Sanitizer") != NULL)
            fail_msg("%s:\n%s", path, log);
        free(log);
    }
}

static void cluster_up_on_a_busy_port_fails_with_the_master_log(void **state)
{
    struct fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char port[32], wd[700];
    snprintf(port, sizeof(port), "--port=%d", ntohs(sa.sin_port));
    snprintf(wd, sizeof(wd), "--work_dir=%s/busy", f->c.root);
    const char *args[] = {"cluster", "up", port, wd, NULL};
    int code = cli(f, args, RUN_SECS);
    close(fd);
    assert_int_equal(code, 1);
    assert_contains(f->err, "the master did not start");
    assert_contains(f->err, "Address already in use");
    assert_null(strstr(f->out, "Press Ctrl-C"));
}

static void cluster_without_up_is_a_usage_error(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 2, "cluster");
    assert_contains(f->err, "Usage: tepui cluster up");
    assert_exit(f, 2, "cluster", "down");
    assert_exit(f, 2, "cluster", "up", "--agents=1000");
    assert_contains(f->err, "--agents");
}

/* ---- usage ---- */

static void help_lists_the_commands_and_exits_0(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "--help");
    const char *commands[] = {"cluster up", "execute", "task list", "agent list",
                              "framework list", "version"};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        assert_contains(f->out, commands[i]);
    assert_string_equal(f->err, "");
}

static void unknown_command_exits_2(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 2, "nonsense");
    assert_contains(f->err, "unknown command 'nonsense'");
    assert_contains(f->err, "Usage: tepui");
    assert_exit(f, 2, "task");
    assert_exit(f, 2, "task", "remove");
}

static void no_arguments_prints_usage_and_exits_2(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {NULL};
    char out_path[600], err_path[600];
    pid_t pid = cli_spawn(f, args, out_path, err_path, sizeof(out_path));
    int status = wait_exit(f, pid, RUN_SECS);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_true(file_contains(err_path, "Usage: tepui"));
}

static void version_prints_the_version(void **state)
{
    struct fixture *f = *state;
    assert_exit(f, 0, "version");
    assert_contains(f->out, "tepui ");
    FILE *vf = fopen("VERSION", "r");
    if (vf != NULL) {
        char v[64] = "";
        if (fscanf(vf, "%63s", v) == 1)
            assert_contains(f->out, v);
        fclose(vf);
    }
}

int main(void)
{
#define C(name) cmocka_unit_test_setup_teardown(name, setup_cluster, teardown)
#define B(name) cmocka_unit_test_setup_teardown(name, setup_bare, teardown)
    const struct CMUnitTest tests[] = {
        C(execute_prints_updates_and_task_output_and_exits_0),
        C(execute_with_default_resources_runs_the_task),
        C(failing_command_exits_with_its_status),
        C(kill_after_kills_a_running_task),
        C(instances_run_as_numbered_tasks_that_all_finish),
        C(instances_beyond_the_agent_run_as_resources_free_up),
        C(kill_after_with_task_killing_state_reports_killing_first),
        C(output_longer_than_one_read_is_printed_whole),
        C(execute_speaks_json_to_the_master),
        C(env_reaches_the_task),
        C(execute_gives_up_when_no_master_answers),
        C(bad_flags_exit_2_with_a_message),
        B(execute_help_lists_its_flags),
        C(task_list_all_shows_finished_and_failed_tasks),
        C(agent_list_shows_the_registered_agent),
        C(framework_list_all_shows_completed_frameworks),
        C(list_against_no_master_fails_with_a_message),
        B(cluster_up_serves_tasks_and_stops_everything_on_ctrl_c),
        B(cluster_up_on_a_busy_port_fails_with_the_master_log),
        B(cluster_without_up_is_a_usage_error),
        B(help_lists_the_commands_and_exits_0),
        B(unknown_command_exits_2),
        B(no_arguments_prints_usage_and_exits_2),
        B(version_prints_the_version),
    };
#undef C
#undef B
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
