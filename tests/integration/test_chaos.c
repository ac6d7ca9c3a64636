/* Chaos: a framework runs many short tasks on a cluster of real daemons
 * while the test kills (SIGKILL) the master, an agent or the scheduler
 * itself at random moments and starts the victim again, the way a machine
 * fails and comes back. The scheduler is the durable example (a journal,
 * failover with the same framework id, reconciliation); the master keeps
 * its registry in SQLite, agents checkpoint and recover their executors.
 *
 * What must hold at the end: the scheduler saw every task end exactly once,
 * no task ran twice (each appends its id to a shared file), every task that
 * FINISHED ran exactly once, every task that ran FINISHED (its end outlives
 * the death of its agent, the master and the scheduler), and nothing ran
 * that was never launched. Tasks whose launch died with the scheduler or
 * the master before an agent had them end GONE or DROPPED, never run.
 *
 * TEPUI_CHAOS_TASKS (default 1000) and TEPUI_CHAOS_SEED (default: the time,
 * printed) make a failing run repeatable in shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "common/clock.h"
#include "harness.h"

struct seen {
    char id[32];
    int launched;       /* L lines */
    int ended;          /* T lines */
    char state[128];
    int runs;           /* lines in the runs file */
    UT_hash_handle hh;
};

static struct seen *seen_get(struct seen **table, const char *id)
{
    struct seen *s = NULL;
    HASH_FIND_STR(*table, id, s);
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        snprintf(s->id, sizeof(s->id), "%s", id);
        HASH_ADD_STR(*table, id, s);
    }
    return s;
}

static pid_t start_scheduler(const char *bin, const char *master, const char *state_dir,
                             int tasks, const char *command, const char *log)
{
    char m[128], sd[700], t[32], cmd[1024];
    snprintf(m, sizeof(m), "--master=%s", master);
    snprintf(sd, sizeof(sd), "--state_dir=%s", state_dir);
    snprintf(t, sizeof(t), "--tasks=%d", tasks);
    snprintf(cmd, sizeof(cmd), "--command=%s", command);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* It goes when the test goes, however the test ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        dup2(2, 1);
        execl(bin, bin, m, sd, t, cmd, "--max_in_flight=40", "--failover_timeout=1hrs",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void chaos_under_random_kills(void **state)
{
    (void)state;
    int n_tasks = getenv("TEPUI_CHAOS_TASKS") ? atoi(getenv("TEPUI_CHAOS_TASKS")) : 1000;
    unsigned int seed = getenv("TEPUI_CHAOS_SEED") ? (unsigned int)atoi(getenv("TEPUI_CHAOS_SEED"))
                                                   : (unsigned int)time(NULL);
    fprintf(stderr, "chaos: %d tasks, seed %u\n", n_tasks, seed);

    struct h_cluster c;
    h_cluster_init(&c);
    static const char *const master_flags[] = {"--registry=sqlite", NULL};
    h_start_master(&c, master_flags);
    h_start_agent(&c, NULL, NULL);
    h_start_agent(&c, NULL, NULL);

    char bin[600], state_dir[600], runs[600], log[600], command[900], master[64];
    char bin_dir[512];
    snprintf(bin_dir, sizeof(bin_dir), "%s", h_bin("tepui-master"));
    snprintf(bin, sizeof(bin), "%s/../examples/durable_scheduler", dirname(bin_dir));
    snprintf(state_dir, sizeof(state_dir), "%s/scheduler", c.root);
    assert_int_equal(mkdir(state_dir, 0755), 0);
    snprintf(runs, sizeof(runs), "%s/runs", c.root);
    snprintf(log, sizeof(log), "%s/scheduler.log", c.root);
    /* Each run leaves its id behind, then stays a while so that kills find
     * tasks in flight. */
    snprintf(command, sizeof(command), "echo %%s >> %s; sleep 0.5", runs);
    snprintf(master, sizeof(master), "127.0.0.1:%d", c.master.port);

    pid_t sched = start_scheduler(bin, master, state_dir, n_tasks, command, log);
    int kills[3] = {0, 0, 0};
    int done = 0;
    double deadline = clock_mono() + 240;
    while (!done && clock_mono() < deadline) {
        /* A pause of 0.3 to 1.3 s, watching the scheduler meanwhile. */
        double until = clock_mono() + 0.3 + (double)(rand_r(&seed) % 1000) / 1000.0;
        while (clock_mono() < until) {
            int status;
            pid_t r = waitpid(sched, &status, WNOHANG);
            if (r == sched) {
                if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                    h_dump_logs(&c);
                    fail_msg("the scheduler exited with status %d (see %s)", status, log);
                }
                done = 1;
                break;
            }
            usleep(20000);
        }
        if (done)
            break;
        const char *dead = h_daemon_died(&c);
        if (dead != NULL) {
            h_dump_logs(&c);
            fail_msg("a daemon crashed: %s", dead);
        }
        int victim = rand_r(&seed) % 3;
        kills[victim]++;
        if (victim == 0) {
            h_restart_master(&c, SIGKILL, master_flags);
        } else if (victim == 1) {
            int i = rand_r(&seed) % c.n_agents;
            h_stop(&c.agents[i], SIGKILL);
            if (h_restart_agent(&c, i, NULL, NULL) != 0) {
                h_dump_logs(&c);
                fail_msg("agent %d did not come back after a SIGKILL", i);
            }
        } else {
            kill(sched, SIGKILL);
            waitpid(sched, NULL, 0);
            sched = start_scheduler(bin, master, state_dir, n_tasks, command, log);
        }
    }
    if (!done) {
        kill(sched, SIGKILL);
        waitpid(sched, NULL, 0);
        h_dump_logs(&c);
        fail_msg("the scheduler did not see every task end within the deadline (see %s)", log);
    }

    /* What the scheduler journaled against what ran. */
    struct seen *table = NULL;
    char path[700], line[256];
    snprintf(path, sizeof(path), "%s/journal", state_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char a[64], b[128];
        if (line[0] == 'L' && sscanf(line, "L %63s %127s", a, b) == 2)
            seen_get(&table, a)->launched++;
        else if (line[0] == 'T' && sscanf(line, "T %63s %127s", a, b) == 2) {
            struct seen *s = seen_get(&table, a);
            s->ended++;
            snprintf(s->state, sizeof(s->state), "%s", b);
        }
    }
    fclose(f);
    f = fopen(runs, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] != '\0')
            seen_get(&table, line)->runs++;
    }
    fclose(f);

    int finished = 0, other = 0, problems = 0;
    struct seen *s, *tmp;
    HASH_ITER(hh, table, s, tmp) {
        const char *why = NULL;
        if (s->launched != 1)
            why = s->launched == 0 ? "ran but was never launched" : "was launched twice";
        else if (s->ended != 1)
            why = s->ended == 0 ? "never ended" : "ended twice";
        else if (s->runs > 1)
            why = "ran more than once";
        else if (strcmp(s->state, "TASK_FINISHED") == 0 && s->runs != 1)
            why = "FINISHED without running";
        else if (strcmp(s->state, "TASK_FINISHED") != 0 && s->runs != 0)
            /* Nothing here kills an executor: a task that started must be
             * seen to finish, whoever died meanwhile. */
            why = "ran but did not end FINISHED";
        if (why != NULL) {
            fprintf(stderr, "chaos: task %s %s (launched %d, ended %d as %s, ran %d)\n", s->id,
                    why, s->launched, s->ended, s->state, s->runs);
            problems++;
        }
        if (strcmp(s->state, "TASK_FINISHED") == 0) {
            finished++;
        } else {
            other++;
            fprintf(stderr, "chaos: task %s ended %s and ran %d time(s)\n", s->id, s->state,
                    s->runs);
        }
        HASH_DEL(table, s);
        free(s);
    }
    fprintf(stderr,
            "chaos: %d tasks ended (%d finished, %d otherwise) through %d master, %d agent and "
            "%d scheduler kills\n",
            finished + other, finished, other, kills[0], kills[1], kills[2]);
    if (problems > 0) {
        h_dump_logs(&c);
        fail_msg("%d tasks broke the rules (seed %u)", problems, seed);
    }
    assert_int_equal(finished + other, n_tasks);
    /* Executors of checkpointing frameworks outlive a killed agent; the
     * last ones have ended with their tasks, any still here are strays. */
    h_kill_leftovers(&c);
    h_cluster_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chaos_under_random_kills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
