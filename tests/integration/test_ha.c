/* Several masters on one real ZooKeeper: one leads and the others redirect
 * to it; agents, schedulers (libtepui with zk://, and a raw one following
 * 307s) and the CLI find it; when it is killed another takes over and
 * everyone follows, tasks included; the registry in ZooKeeper outlives the
 * leader; and a ZooKeeper outage stops all leadership until it returns.
 * Sessions are short (--zk_session_timeout=2secs, ZooKeeper ticks of
 * 200 ms) so that failovers take seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ha/detector.h"
#include "harness_ha.h"
#include "tepui/scheduler.h"
#include "wire/pb.h"
#include "zk_registry.pb-c.h"

#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x
#define RUNNING TEPUI__TASK_STATE__TASK_RUNNING
#define FINISHED TEPUI__TASK_STATE__TASK_FINISHED
/* enum registry_agent_state (src/master/registry.h) */
#define ADMITTED 1
#define UNREACHABLE 2
#define GONE 3

/* A leader cut off from ZooKeeper steps down after 2 s; a killed one's
 * member lasts as long. Agents are found dead after 3 missed pings. */
static const char *const master_flags[] = {"--zk_session_timeout=2secs",
                                           "--agent_ping_timeout=300ms",
                                           "--max_agent_ping_timeouts=3", NULL};
static const char *const agent_flags[] = {"--status_update_retry_interval=1secs", NULL};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    if (!h_zk_available()) {
        fprintf(stderr, "test_ha: needs Java and ZooKeeper (zookeeper, default-jre-headless: "
                        "scripts/install-deps.sh)\n");
        return -1;
    }
    struct h_ha *c = calloc(1, sizeof(*c));
    h_ha_init(c);
    h_zk_start(c, 0, 200);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct h_ha *c = *state;
    h_ha_destroy(c);
    free(c);
    return 0;
}

static int start_masters(struct h_ha *c, int n)
{
    for (int i = 0; i < n; i++)
        h_ha_start_master(c, master_flags);
    int leader = h_ha_wait_leader(c, 20);
    if (leader < 0)
        h_ha_dump_logs(c);
    assert_true(leader >= 0);
    return leader;
}

/* "activated_slaves" of a master's /state; -1 unless it answers 200. */
static int active_agents(int port)
{
    struct h_response r;
    if (h_http(port, "GET", "/state", NULL, NULL, 0, &r) != 0)
        return -1;
    int n = -1;
    json_t *j = r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    if (j != NULL)
        n = (int)json_integer_value(json_object_get(j, "activated_slaves"));
    json_decref(j);
    h_response_free(&r);
    return n;
}

static void wait_active_agents(struct h_ha *c, int port, int n, double timeout)
{
    double deadline = clock_mono() + timeout;
    while (active_agents(port) != n && clock_mono() < deadline)
        sleep_ms(20);
    if (active_agents(port) != n)
        h_ha_dump_logs(c);
    assert_int_equal(active_agents(port), n);
}

/* The id a master gave the agent serving on agent_port. */
static char *agent_id_of(int master_port, int agent_port)
{
    json_t *st = h_get_json(master_port, "/state");
    char pid[64];
    snprintf(pid, sizeof(pid), ":%d", agent_port);
    char *id = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(st, "slaves"), i, a) {
        const char *p = json_string_value(json_object_get(a, "pid"));
        if (p != NULL && strlen(p) > strlen(pid) && strcmp(p + strlen(p) - strlen(pid), pid) == 0)
            id = xstrdup(json_string_value(json_object_get(a, "id")));
    }
    json_decref(st);
    assert_non_null(id);
    return id;
}

static void wait_log(const struct h_proc *p, const char *needle, double timeout)
{
    double deadline = clock_mono() + timeout;
    while (h_log_count(p, needle) == 0 && clock_mono() < deadline)
        sleep_ms(50);
    if (h_log_count(p, needle) == 0)
        fprintf(stderr, "test_ha: '%s' not in %s\n", needle, p->log);
    assert_true(h_log_count(p, needle) > 0);
}

/* A request's status and Location. */
static int request(int port, const char *method, const char *path, const char *headers,
                   const char *body, char *location, size_t n)
{
    struct h_response r;
    assert_int_equal(h_http(port, method, path, headers, body, body ? strlen(body) : 0, &r), 0);
    int status = r.status;
    if (location != NULL && h_header(&r, "Location", location, n) == NULL)
        location[0] = '\0';
    h_response_free(&r);
    return status;
}

static const char *subscribe_json(const char *framework_json)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf), "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":%s}}",
             framework_json);
    return buf;
}

static int master_alive(const struct h_ha *c, int port)
{
    for (int i = 0; i < c->n_masters; i++)
        if (c->masters[i].port == port && c->masters[i].pid > 0)
            return 1;
    return 0;
}

/* Subscribes a raw scheduler through any master, following a 307 as a
 * client of the HTTP API must, and trying again while a master does not
 * know the new leader yet (503, or a redirect to the one that died).
 * Returns the status of the last attempt. */
static int subscribe_following(const struct h_ha *c, struct h_sched *s, int port,
                               const char *framework_json)
{
    double deadline = clock_mono() + 15;
    int status = -1;
    while (clock_mono() < deadline) {
        int to = port;
        for (int hops = 0; hops < 3; hops++) {
            status = h_sched_subscribe(s, to, WIRE_JSON, framework_json);
            if (status != 307)
                break;
            to = h_location_port(s->location);
            h_sched_close(s);
            assert_true(to > 0);
            if (!master_alive(c, to))
                break;
        }
        if (status == 200 || (status >= 400 && status < 500))
            return status;
        h_sched_close(s);
        sleep_ms(50);
    }
    return status;
}

/* The same FrameworkInfo with an id: a scheduler failing over. */
static const char *with_id(const char *framework_json, const char *id)
{
    static char buf[1024];
    json_t *j = json_loads(framework_json, 0, NULL);
    assert_non_null(j);
    json_object_set_new(j, "id", json_pack("{s:s}", "value", id));
    char *text = json_dumps(j, JSON_COMPACT);
    snprintf(buf, sizeof(buf), "%s", text);
    free(text);
    json_decref(j);
    return buf;
}

static void decline(struct h_sched *s, const Tepui__Scheduler__Event *ev)
{
    for (size_t i = 0; i < ev->offers->n_offers; i++) {
        char call[512];
        snprintf(call, sizeof(call),
                 "{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                 "\"filters\":{\"refuse_seconds\":0.2}}}",
                 ev->offers->offers[i]->id->value);
        h_sched_call(s, call, NULL);
    }
}

/* ---- a libtepui scheduler given zk:// ---- */

struct lib_sched {
    struct event_base *base;
    struct tepui_scheduler *s;
    int subscribed;
    int offers;
    char framework_id[256];
    char leader[300];
};

static void lib_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                           void *arg)
{
    struct lib_sched *l = arg;
    l->subscribed++;
    snprintf(l->framework_id, sizeof(l->framework_id), "%s", e->framework_id->value);
    snprintf(l->leader, sizeof(l->leader), "%s", tepui_scheduler_leader(s));
}

static void lib_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e,
                       void *arg)
{
    struct lib_sched *l = arg;
    l->offers++;
    Tepui__Filters f = TEPUI__FILTERS__INIT;
    f.has_refuse_seconds = 1;
    f.refuse_seconds = 0.2;
    for (size_t i = 0; i < e->n_offers; i++)
        tepui_scheduler_decline(s, &e->offers[i]->id, 1, &f, NULL, NULL);
}

static void lib_start(struct lib_sched *l, const char *zk_url)
{
    memset(l, 0, sizeof(*l));
    l->base = event_base_new();
    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    fi.user = "tester";
    fi.name = "ha-libtepui";
    fi.has_failover_timeout = 1;
    fi.failover_timeout = 300;
    struct tepui_scheduler_options o = {.master = zk_url, .auto_reconnect = 1,
                                        .backoff_min_secs = 0.1, .backoff_max_secs = 1};
    struct tepui_scheduler_callbacks cb = {.subscribed = lib_subscribed, .offers = lib_offers};
    l->s = tepui_scheduler_new(l->base, &fi, &o, &cb, l);
    assert_non_null(l->s);
    assert_int_equal(tepui_scheduler_start(l->s), 0);
}

/* Runs the library's loop until *counter reaches want. */
static int lib_wait(struct lib_sched *l, const int *counter, int want, double timeout)
{
    double deadline = clock_mono() + timeout;
    while (*counter < want && clock_mono() < deadline) {
        struct timeval tv = {0, 20 * 1000};
        event_base_loopexit(l->base, &tv);
        event_base_dispatch(l->base);
    }
    return *counter >= want;
}

static void lib_stop(struct lib_sched *l)
{
    tepui_scheduler_free(l->s);
    event_base_loop(l->base, EVLOOP_NONBLOCK);
    event_base_free(l->base);
}

/* ---- the registry in ZooKeeper ---- */

/* The state of an agent's registry entry, 0 when there is none. */
static int registry_state(const struct h_ha *c, const char *agent_id)
{
    char path[512];
    snprintf(path, sizeof(path), "/tepui/registry/agents/%s", agent_id);
    size_t len = 0;
    char *data = h_zk_get(c, path, &len);
    if (data == NULL)
        return 0;
    Tepui__Internal__ZkRegistryAgent *z =
        tepui__internal__zk_registry_agent__unpack(NULL, len, (const uint8_t *)data);
    free(data);
    assert_non_null(z);
    int state = z->state;
    pb_free(z);
    return state;
}

static void wait_registry_state(const struct h_ha *c, const char *agent_id, int state)
{
    double deadline = clock_mono() + 15;
    while (registry_state(c, agent_id) != state && clock_mono() < deadline)
        sleep_ms(50);
    assert_int_equal(registry_state(c, agent_id), state);
}

/* ---- tests ---- */

static void one_of_three_masters_leads_and_the_others_redirect_to_it(void **state)
{
    struct h_ha *c = *state;
    int leader = start_masters(c, 3);
    /* The election is stable. */
    sleep_ms(500);
    assert_int_equal(h_ha_wait_leader(c, 1), leader);
    int lport = c->masters[leader].port;
    char loc[512], want[512];
    for (int i = 0; i < c->n_masters; i++) {
        int port = c->masters[i].port;
        if (i == leader) {
            assert_int_equal(request(port, "GET", "/redirect", NULL, NULL, loc, sizeof(loc)), 307);
            assert_int_equal(h_location_port(loc), lport);
            continue;
        }
        assert_int_equal(request(port, "POST", "/api/v1/scheduler",
                                 "Content-Type: application/json\r\n",
                                 subscribe_json(h_framework_json("redirected", NULL)), loc,
                                 sizeof(loc)),
                         307);
        assert_int_equal(h_location_port(loc), lport);
        snprintf(want, sizeof(want), ":%d/api/v1/scheduler", lport);
        assert_non_null(strstr(loc, want));
        assert_int_equal(request(port, "GET", "/redirect", NULL, NULL, loc, sizeof(loc)), 307);
        snprintf(want, sizeof(want), ":%d", lport);
        assert_non_null(strstr(loc, want));
        assert_int_equal(strchr(loc + 2, '/'), NULL);
        assert_int_equal(request(port, "GET", "/state?jsonp=x", NULL, NULL, loc, sizeof(loc)), 307);
        snprintf(want, sizeof(want), ":%d/state?jsonp=x", lport);
        assert_non_null(strstr(loc, want));
        assert_int_equal(request(port, "POST", "/internal/agent",
                                 "Content-Type: application/x-protobuf\r\n", "", loc, sizeof(loc)),
                         307);
        assert_int_equal(h_location_port(loc), lport);
        /* Endpoints about the master itself answer locally. */
        assert_int_equal(request(port, "GET", "/health", NULL, NULL, NULL, 0), 200);
    }

    /* Clients read the leader's MasterInfo (JSON) from ZooKeeper. */
    char host[256];
    int port = 0;
    struct error err = {0};
    assert_int_equal(detector_resolve(c->zk_url, 10, host, sizeof(host), &port, &err), 0);
    assert_int_equal(port, lport);
    assert_string_equal(host, "127.0.0.1");

    /* An agent given zk:// registers with the leader. */
    h_ha_start_agent(c, agent_flags);
    wait_active_agents(c, lport, 1, 20);

    /* The CLI: a task through zk://, and lists through zk:// or any master. */
    char zkflag[200], out[8192];
    snprintf(zkflag, sizeof(zkflag), "--master=%s", c->zk_url);
    const char *exec_argv[] = {h_bin("tepui"), "execute", zkflag, "--name=ha-hello",
                               "--command=echo hello from the leader", NULL};
    int status = h_run_capture(exec_argv, out, sizeof(out), 60);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fprintf(stderr, "tepui execute said:\n%s\n", out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, "hello from the leader"));
    const char *list_argv[] = {h_bin("tepui"), "task", "list", zkflag, "--all", NULL};
    status = h_run_capture(list_argv, out, sizeof(out), 30);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, "ha-hello"));
    char follower[64];
    snprintf(follower, sizeof(follower), "--master=127.0.0.1:%d",
             c->masters[(leader + 1) % 3].port);
    const char *list2_argv[] = {h_bin("tepui"), "agent", "list", follower, NULL};
    status = h_run_capture(list2_argv, out, sizeof(out), 30);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, "yes"));
}

static void agents_and_schedulers_follow_a_new_leader_when_the_leader_is_killed(void **state)
{
    struct h_ha *c = *state;
    int leader = start_masters(c, 3);
    h_ha_start_agent(c, agent_flags);
    wait_active_agents(c, c->masters[leader].port, 1, 20);

    /* A raw scheduler, subscribed through a master that does not lead. */
    int follower = (leader + 1) % 3;
    struct h_sched s;
    const char *fw = h_framework_json("ha-raw", "\"failover_timeout\": 300");
    assert_int_equal(subscribe_following(c, &s, c->masters[follower].port, fw), 200);
    char framework_id[256];
    snprintf(framework_id, sizeof(framework_id), "%s", s.framework_id);

    /* A task that runs until told to finish. */
    char go[600], cmd[800];
    snprintf(go, sizeof(go), "%s/go", c->root);
    snprintf(cmd, sizeof(cmd), "while [ ! -e %s ]; do sleep 0.05; done", go);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(OFFERS), 15);
    assert_non_null(ev);
    assert_int_equal(h_sched_launch(&s, ev->offers->offers[0], "long-task", cmd, NULL), 202);
    pb_free(ev);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "long-task", RUNNING, 20);
    assert_non_null(st);
    pb_free(st);

    /* libtepui, given zk:// only. */
    struct lib_sched l;
    lib_start(&l, c->zk_url);
    assert_true(lib_wait(&l, &l.subscribed, 1, 20));
    char lib_framework[256];
    snprintf(lib_framework, sizeof(lib_framework), "%s", l.framework_id);
    char want[64];
    snprintf(want, sizeof(want), ":%d", c->masters[leader].port);
    assert_non_null(strstr(l.leader, want));

    /* The leader dies without a word. */
    double killed = clock_mono();
    h_stop(&c->masters[leader], SIGKILL);
    int next = h_ha_wait_leader(c, 20);
    if (next < 0)
        h_ha_dump_logs(c);
    assert_true(next >= 0 && next != leader);
    int nport = c->masters[next].port;
    double elected = clock_mono() - killed;

    /* The agent follows, reporting its running task. */
    wait_active_agents(c, nport, 1, 20);

    /* The raw scheduler's stream ended with its master; it subscribes
     * again with its framework id through whichever master it asks. */
    h_sched_close(&s);
    int other = 3 - leader - next;
    assert_int_equal(subscribe_following(c, &s, c->masters[other].port, with_id(fw, framework_id)),
                     200);
    assert_string_equal(s.framework_id, framework_id);
    assert_int_equal(s.port, nport);

    /* Offers resume, and the running task is reconciled. */
    ev = h_sched_next(&s, EV(OFFERS), 15);
    assert_non_null(ev);
    double offered = clock_mono() - killed;
    decline(&s, ev);
    pb_free(ev);
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[{\"task_id\":{\"value\":"
             "\"long-task\"}}]}}");
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    st = h_sched_wait_state(&s, "long-task", RUNNING, 10);
    assert_non_null(st);
    pb_free(st);

    /* It finishes under the new leader. */
    FILE *f = fopen(go, "w");
    assert_non_null(f);
    fclose(f);
    st = h_sched_wait_state(&s, "long-task", FINISHED, 20);
    if (st == NULL)
        h_ha_dump_logs(c);
    assert_non_null(st);
    pb_free(st);

    /* libtepui re-subscribed to the new leader with its framework id, and
     * is offered the agent once the raw scheduler is gone with its offers. */
    h_sched_close(&s);
    int offers_before = l.offers;
    assert_true(lib_wait(&l, &l.subscribed, 2, 20));
    assert_string_equal(l.framework_id, lib_framework);
    snprintf(want, sizeof(want), ":%d", nport);
    assert_non_null(strstr(l.leader, want));
    assert_true(lib_wait(&l, &l.offers, offers_before + 1, 20));
    lib_stop(&l);
    fprintf(stderr, "test_ha: new leader %.2fs after the kill, offers again after %.2fs\n",
            elected, offered);
}

static const struct h_ha *zk_cluster;

static int zk_has(void *arg)
{
    size_t len = 0;
    char *data = h_zk_get(zk_cluster, arg, &len);
    free(data);
    return data != NULL;
}

/* The weights and quota set before the leader died, as the new leader
 * reports them. */
static void expect_weights_and_quota(int port)
{
    struct h_response r;
    static const char json[] = "Content-Type: application/json\r\nAccept: application/json\r\n";
    static const char get_weights[] = "{\"type\":\"GET_WEIGHTS\"}";
    assert_int_equal(h_http(port, "POST", "/api/v1", json, get_weights, strlen(get_weights), &r),
                     0);
    assert_int_equal(r.status, 200);
    json_t *w = json_loadb(r.body, r.len, 0, NULL);
    json_t *infos = json_object_get(json_object_get(w, "get_weights"), "weight_infos");
    assert_int_equal(json_array_size(infos), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(infos, 0), "role")),
                        "eng/web");
    assert_true(json_real_value(json_object_get(json_array_get(infos, 0), "weight")) == 2.5);
    json_decref(w);
    h_response_free(&r);

    static const char get_quota[] = "{\"type\":\"GET_QUOTA\"}";
    assert_int_equal(h_http(port, "POST", "/api/v1", json, get_quota, strlen(get_quota), &r), 0);
    assert_int_equal(r.status, 200);
    json_t *q = json_loadb(r.body, r.len, 0, NULL);
    json_t *configs = json_object_get(
        json_object_get(json_object_get(q, "get_quota"), "status"), "configs");
    assert_int_equal(json_array_size(configs), 1);
    json_t *cfg = json_array_get(configs, 0);
    assert_string_equal(json_string_value(json_object_get(cfg, "role")), "eng");
    json_t *limit = json_object_get(json_object_get(json_object_get(cfg, "limits"), "cpus"),
                                    "value");
    assert_true(json_number_value(limit) == 3);
    json_decref(q);
    h_response_free(&r);
}

static void the_registry_in_zookeeper_outlives_the_leader(void **state)
{
    struct h_ha *c = *state;
    zk_cluster = c;
    int leader = start_masters(c, 2);
    int lport = c->masters[leader].port;
    int a = h_ha_start_agent(c, agent_flags);
    int b = h_ha_start_agent(c, agent_flags);
    wait_active_agents(c, lport, 2, 20);
    char *id_a = agent_id_of(lport, c->agents[a].port);
    char *id_b = agent_id_of(lport, c->agents[b].port);
    wait_registry_state(c, id_a, ADMITTED);
    wait_registry_state(c, id_b, ADMITTED);

    /* The operator marks one agent gone; the other stops answering and is
     * marked unreachable. */
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
             id_b);
    assert_int_equal(request(lport, "POST", "/api/v1", "Content-Type: application/json\r\n", call,
                             NULL, 0),
                     200);
    wait_registry_state(c, id_b, GONE);
    /* Refused for good, the agent shuts down (a Mesos agent's ShutdownMessage). */
    int status = h_ha_wait_exit(&c->agents[b], 20);
    assert_true(WIFEXITED(status));
    kill(c->agents[a].pid, SIGSTOP);
    wait_registry_state(c, id_a, UNREACHABLE);

    /* Weights and quota live in the registry too. */
    static const char json[] = "Content-Type: application/json\r\n";
    assert_int_equal(request(lport, "POST", "/api/v1", json,
                             "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
                             "[{\"role\":\"eng/web\",\"weight\":2.5}]}}", NULL, 0),
                     200);
    assert_int_equal(request(lport, "POST", "/api/v1", json,
                             "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"force\":true,"
                             "\"quota_configs\":[{\"role\":\"eng\",\"guarantees\":{\"cpus\":"
                             "{\"value\":1}},\"limits\":{\"cpus\":{\"value\":3}}}]}}", NULL, 0),
                     200);
    /* Answered only once ZooKeeper holds them: nothing to wait for. */
    assert_true(zk_has((void *)"/tepui/registry/records/weight/eng%2Fweb"));
    assert_true(zk_has((void *)"/tepui/registry/records/quota/eng"));

    /* A new leader reads that back: the gone agent, which still tries to
     * register, stays gone; the other stays unreachable until it comes
     * back, and is then admitted again. */
    h_stop(&c->masters[leader], SIGKILL);
    int next = h_ha_wait_leader(c, 20);
    assert_true(next >= 0 && next != leader);
    wait_log(&c->masters[next], "1 unreachable and 1 gone", 10);
    expect_weights_and_quota(c->masters[next].port);
    /* Started again on its work dir, the gone agent (its id checkpointed)
     * is refused by the new leader too. */
    h_ha_restart_agent(c, b, agent_flags);
    char refused[300];
    snprintf(refused, sizeof(refused), "refusing re-registration of agent %s", id_b);
    wait_log(&c->masters[next], refused, 10);
    status = h_ha_wait_exit(&c->agents[b], 20);
    assert_true(WIFEXITED(status));
    assert_int_equal(active_agents(c->masters[next].port), 0);
    assert_int_equal(registry_state(c, id_a), UNREACHABLE);
    kill(c->agents[a].pid, SIGCONT);
    wait_active_agents(c, c->masters[next].port, 1, 20);
    char *again = agent_id_of(c->masters[next].port, c->agents[a].port);
    assert_string_equal(again, id_a);
    free(again);
    wait_registry_state(c, id_a, ADMITTED);
    assert_int_equal(registry_state(c, id_b), GONE);
    free(id_a);
    free(id_b);
}

static void a_zookeeper_outage_stops_leadership_until_it_returns(void **state)
{
    struct h_ha *c = *state;
    int leader = start_masters(c, 2);
    h_ha_start_agent(c, agent_flags);
    int lport = c->masters[leader].port;
    wait_active_agents(c, lport, 1, 20);
    struct h_sched s;
    const char *fw = h_framework_json("ha-outage", "\"failover_timeout\": 300");
    assert_int_equal(subscribe_following(c, &s, lport, fw), 200);
    char framework_id[256];
    snprintf(framework_id, sizeof(framework_id), "%s", s.framework_id);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(OFFERS), 15);
    assert_non_null(ev);
    decline(&s, ev);
    pb_free(ev);

    /* ZooKeeper goes away: within the session timeout nobody leads. */
    h_zk_stop(c);
    double deadline = clock_mono() + 10;
    int leading = 1;
    while (leading && clock_mono() < deadline) {
        leading = 0;
        for (int i = 0; i < c->n_masters; i++)
            leading |= h_metric(c->masters[i].port, "master/elected") == 1;
        if (leading)
            sleep_ms(50);
    }
    assert_false(leading);
    /* The stream ended (offers may have come until then), and no master
     * takes a subscription. */
    while ((ev = h_sched_next(&s, 0, 2)) != NULL)
        pb_free(ev);
    assert_true(s.closed);
    h_sched_close(&s);
    for (int i = 0; i < c->n_masters; i++) {
        int status = request(c->masters[i].port, "POST", "/api/v1/scheduler",
                             "Content-Type: application/json\r\n", subscribe_json(fw), NULL, 0);
        assert_true(status == 503 || status == 307);
    }

    /* It comes back (same data): a leader is elected and the cluster resumes. */
    h_zk_start(c, c->zk.port, 200);
    int next = h_ha_wait_leader(c, 30);
    if (next < 0)
        h_ha_dump_logs(c);
    assert_true(next >= 0);
    wait_active_agents(c, c->masters[next].port, 1, 30);
    assert_int_equal(
        subscribe_following(c, &s, c->masters[1 - next].port, with_id(fw, framework_id)), 200);
    assert_string_equal(s.framework_id, framework_id);
    ev = h_sched_next(&s, EV(OFFERS), 15);
    assert_non_null(ev);
    pb_free(ev);
    h_sched_close(&s);
}

int main(void)
{
    log_set_level(LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_of_three_masters_leads_and_the_others_redirect_to_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            agents_and_schedulers_follow_a_new_leader_when_the_leader_is_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(the_registry_in_zookeeper_outlives_the_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_zookeeper_outage_stops_leadership_until_it_returns,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
