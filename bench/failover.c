/* The failover benchmark's scheduler (bench/failover.sh runs the cluster):
 * subscribes through ZooKeeper with libtepui, waits until it has been
 * offered every agent, kills the leading master with SIGKILL, and measures
 * how long until a new leader is detected, until the first offer arrives
 * from it, and until every agent has been offered again. A detector of its
 * own notes when ZooKeeper names the new leader (the killed one's session
 * has expired), which splits the time into ZooKeeper's part and tepui's.
 *
 *   build/bench/failover --master=zk://127.0.0.1:2181/tepui --agents=100 \
 *       --pids=PORT:PID,PORT:PID,PORT:PID */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ha/detector.h"
#include "tepui/scheduler.h"

#define LOG_COMPONENT "failover"

struct seen {
    char *id;
    UT_hash_handle hh;
};

struct bench {
    struct event_base *base;
    struct tepui_scheduler *s;
    int agents;
    int ports[8], pids[8], n;
    int phase;                   /* 0: warming up, 1: after the kill */
    int killed_port;
    struct seen *offered;        /* agents offered in this phase */
    double killed, new_leader, subscribed_again, first_offer, all_offered;
    char leader_before[300];
    double timeout;
};

static void forget_offered(struct bench *b)
{
    struct seen *e, *tmp;
    HASH_ITER(hh, b->offered, e, tmp) {
        HASH_DEL(b->offered, e);
        free(e->id);
        free(e);
    }
}

static void kill_leader(struct bench *b)
{
    const char *leader = tepui_scheduler_leader(b->s);
    snprintf(b->leader_before, sizeof(b->leader_before), "%s", leader);
    const char *colon = strrchr(leader, ':');
    int port = colon ? atoi(colon + 1) : 0;
    for (int i = 0; i < b->n; i++)
        if (b->ports[i] == port) {
            forget_offered(b);
            b->phase = 1;
            b->killed_port = port;
            b->killed = clock_mono();
            kill(b->pids[i], SIGKILL);
            fprintf(stderr, "failover: killed the leading master %s (pid %d)\n", leader,
                    b->pids[i]);
            return;
        }
    fprintf(stderr, "failover: the leader %s is not in --pids\n", leader);
    event_base_loopbreak(b->base);
}

static void on_leader(void *arg, const struct detector_leader *leader)
{
    struct bench *b = arg;
    /* (Its first answer may come late and still name the killed one.) */
    if (b->phase == 1 && leader != NULL && leader->port != b->killed_port && b->new_leader == 0)
        b->new_leader = clock_mono() - b->killed;
}

static void on_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                          void *arg)
{
    struct bench *b = arg;
    (void)e;
    if (b->phase == 1 && b->subscribed_again == 0) {
        b->subscribed_again = clock_mono() - b->killed;
        fprintf(stderr, "failover: subscribed to %s after %.3fs\n", tepui_scheduler_leader(s),
                b->subscribed_again);
    }
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e,
                      void *arg)
{
    struct bench *b = arg;
    Tepui__Filters f = TEPUI__FILTERS__INIT;
    f.has_refuse_seconds = 1;
    f.refuse_seconds = 0.5;
    if (b->phase == 1 && b->first_offer == 0 && e->n_offers > 0)
        b->first_offer = clock_mono() - b->killed;
    for (size_t i = 0; i < e->n_offers; i++) {
        const char *id = e->offers[i]->agent_id->value;
        struct seen *x = NULL;
        HASH_FIND_STR(b->offered, id, x);
        if (x == NULL) {
            x = XNEW(struct seen);
            x->id = xstrdup(id);
            HASH_ADD_KEYPTR(hh, b->offered, x->id, strlen(x->id), x);
        }
        tepui_scheduler_decline(s, &e->offers[i]->id, 1, &f, NULL, NULL);
    }
    if ((int)HASH_COUNT(b->offered) < b->agents)
        return;
    if (b->phase == 0) {
        fprintf(stderr, "failover: offered all %d agents; killing the leader\n", b->agents);
        kill_leader(b);
    } else if (b->all_offered == 0) {
        b->all_offered = clock_mono() - b->killed;
        event_base_loopbreak(b->base);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;
    (void)fd;
    (void)what;
    fprintf(stderr, "failover: timed out (phase %d, %u agents offered)\n", b->phase,
            HASH_COUNT(b->offered));
    event_base_loopbreak(b->base);
}

int main(int argc, char **argv)
{
    char *master = NULL, *pids = NULL;
    struct bench b = {0};
    struct flag_def defs[] = {
        {"master", FLAG_STRING, &master, NULL, "zk://host:port/path of the masters"},
        {"agents", FLAG_INT, &b.agents, "100", "Agents to wait for (each offered once)"},
        {"pids", FLAG_STRING, &pids, NULL, "PORT:PID of every master, comma-separated"},
        {"timeout", FLAG_DURATION, &b.timeout, "5mins", "Give up after this long"},
    };
    struct flag_set fs = {.program = "failover", .defs = defs, .n = 4};
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0 || master == NULL || pids == NULL) {
        fprintf(stderr, "failover: %s\n", rc < 0 ? err.msg : "--master and --pids are required");
        flags_free(&fs);
        return 2;
    }
    /* Calls in flight to the killed master fail: not worth a line each. */
    log_set_level(getenv("FAILOVER_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    char *copy = xstrdup(pids), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t != NULL && b.n < 8; t = strtok_r(NULL, ",", &save))
        if (sscanf(t, "%d:%d", &b.ports[b.n], &b.pids[b.n]) == 2)
            b.n++;
    free(copy);

    b.base = event_base_new();
    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    fi.user = "bench";
    fi.name = "failover-bench";
    fi.has_failover_timeout = 1;
    fi.failover_timeout = 600;
    struct tepui_scheduler_options o = {.master = master, .auto_reconnect = 1,
                                        .format = getenv("FAILOVER_JSON") ? TEPUI_FORMAT_JSON : 0,
                                        .backoff_min_secs = 0.05, .backoff_max_secs = 1};
    struct tepui_scheduler_callbacks cb = {.subscribed = on_subscribed, .offers = on_offers};
    b.s = tepui_scheduler_new(b.base, &fi, &o, &cb, &b);
    if (b.s == NULL || tepui_scheduler_start(b.s) != 0) {
        fprintf(stderr, "failover: cannot start the scheduler\n");
        return 1;
    }
    struct detector *d = detector_new(b.base, master, 10, on_leader, &b, &err);
    if (d == NULL) {
        fprintf(stderr, "failover: %s\n", err.msg);
        return 1;
    }
    struct event *timer = evtimer_new(b.base, on_timeout, &b);
    struct timeval tv = clock_timeval(b.timeout);
    evtimer_add(timer, &tv);
    event_base_dispatch(b.base);
    event_free(timer);
    detector_free(d);
    tepui_scheduler_free(b.s);
    event_base_loop(b.base, EVLOOP_NONBLOCK);
    event_base_free(b.base);
    forget_offered(&b);
    flags_free(&fs);
    if (b.all_offered == 0)
        return 1;
    /* One line for the benchmark's table. */
    printf("agents=%d new_leader=%.3f subscribed_again=%.3f first_offer=%.3f all_offered=%.3f\n",
           b.agents, b.new_leader, b.subscribed_again, b.first_offer, b.all_offered);
    return 0;
}
