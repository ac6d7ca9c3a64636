/* Roles, weights and quota against a real master and agents: the operator
 * calls (UPDATE_WEIGHTS, GET_WEIGHTS, UPDATE_QUOTA, GET_QUOTA, SET_QUOTA,
 * REMOVE_QUOTA, GET_ROLES) in JSON and protobuf and the classic /weights,
 * /quota and /roles endpoints, bad input answered 400 (409 for quota set twice), weights and
 * quota kept across a master restart (SQLite registry), and schedulers in
 * several roles: offers per role with allocation_info, limits holding for
 * a role's descendants, suppression per role at SUBSCRIBE and through
 * UPDATE_FRAMEWORK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "harness.h"
#include "master.pb-c.h"
#include "quota.pb-c.h"
#include "wire/codec.h"
#include "wire/json.h"
#include "wire/pb.h"

struct fixture {
    struct h_cluster c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    const char *flags[] = {"--registry=sqlite", NULL};
    h_start_master(&f->c, flags);
    h_start_agent(&f->c, "cpus:4;mem:4096;disk:4096;ports:[31000-31099]", NULL);
    h_start_agent(&f->c, "cpus:4;mem:4096;disk:4096;ports:[31000-31099]", NULL);
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

static const char *media(enum wire_format fmt)
{
    return fmt == WIRE_PROTOBUF ? WIRE_MEDIA_PROTOBUF : WIRE_MEDIA_JSON;
}

/* Posts an operator call given as JSON, sent in fmt; the answer asked in
 * fmt too. Returns the status. */
static int op_call(int port, enum wire_format fmt, const char *call_json, struct h_response *out)
{
    struct buf body = BUF_INIT;
    if (fmt == WIRE_JSON) {
        buf_append_str(&body, call_json);
    } else {
        struct error err = {0};
        ProtobufCMessage *m = wire_json_decode(&tepui__master__call__descriptor, call_json,
                                               strlen(call_json), &err);
        if (m == NULL)
            fail_msg("bad test call %s: %s", call_json, err.msg);
        pb_pack_buf(m, &body);
        pb_free(m);
    }
    char headers[256];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\nAccept: %s\r\n", media(fmt),
             media(fmt));
    struct h_response r;
    assert_int_equal(h_http(port, "POST", "/api/v1", headers, body.data, body.len, &r), 0);
    buf_free(&body);
    int status = r.status;
    if (out != NULL)
        *out = r;
    else
        h_response_free(&r);
    return status;
}

/* The status of a call, checking that an error names what is wrong. */
static int op_status(int port, enum wire_format fmt, const char *call_json, const char *needle)
{
    struct h_response r;
    int status = op_call(port, fmt, call_json, &r);
    if (needle != NULL && (r.body == NULL || strstr(r.body, needle) == NULL))
        fail_msg("answer to %s: %d '%s', expected to mention '%s'", call_json, status,
                 r.body ? r.body : "", needle);
    h_response_free(&r);
    return status;
}

static Tepui__Master__Response *op_get(int port, enum wire_format fmt, const char *type)
{
    char call[128];
    snprintf(call, sizeof(call), "{\"type\":\"%s\"}", type);
    struct h_response r;
    assert_int_equal(op_call(port, fmt, call, &r), 200);
    struct error err = {0};
    Tepui__Master__Response *resp = (Tepui__Master__Response *)wire_decode(
        &tepui__master__response__descriptor, fmt, r.body, r.len, &err);
    h_response_free(&r);
    if (resp == NULL)
        fail_msg("undecodable %s answer: %s", type, err.msg);
    return resp;
}

static double weight_of(int port, enum wire_format fmt, const char *role)
{
    Tepui__Master__Response *r = op_get(port, fmt, "GET_WEIGHTS");
    assert_non_null(r->get_weights);
    double w = -1;
    for (size_t i = 0; i < r->get_weights->n_weight_infos; i++)
        if (strcmp(r->get_weights->weight_infos[i]->role, role) == 0)
            w = r->get_weights->weight_infos[i]->weight;
    pb_free(r);
    return w;
}

/* The role's quota config from GET_QUOTA: guarantee and limit of name
 * (-1 when absent); returns whether the role has quota. */
static int quota_of(int port, enum wire_format fmt, const char *role, const char *name,
                    double *guarantee, double *limit)
{
    Tepui__Master__Response *r = op_get(port, fmt, "GET_QUOTA");
    assert_non_null(r->get_quota);
    assert_non_null(r->get_quota->status);
    int found = 0;
    *guarantee = *limit = -1;
    const Tepui__Quota__QuotaStatus *s = r->get_quota->status;
    for (size_t i = 0; i < s->n_configs; i++) {
        if (strcmp(s->configs[i]->role, role) != 0)
            continue;
        found = 1;
        for (size_t k = 0; k < s->configs[i]->n_guarantees; k++)
            if (strcmp(s->configs[i]->guarantees[k]->key, name) == 0)
                *guarantee = s->configs[i]->guarantees[k]->value->value;
        for (size_t k = 0; k < s->configs[i]->n_limits; k++)
            if (strcmp(s->configs[i]->limits[k]->key, name) == 0)
                *limit = s->configs[i]->limits[k]->value->value;
    }
    pb_free(r);
    return found;
}

static int classic(int port, const char *method, const char *path, const char *body,
                   struct h_response *out)
{
    struct h_response r;
    assert_int_equal(h_http(port, method, path, "Content-Type: application/json\r\n", body,
                            body ? strlen(body) : 0, &r), 0);
    int status = r.status;
    if (out != NULL)
        *out = r;
    else
        h_response_free(&r);
    return status;
}

/* ---- weights ---- */

static void weights_are_set_and_read_in_both_encodings_and_classically(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
                               "[{\"role\":\"eng/web\",\"weight\":2.5},{\"role\":\"ops\","
                               "\"weight\":1}]}}", NULL),
                     200);
    assert_true(weight_of(port, WIRE_JSON, "eng/web") == 2.5);
    assert_true(weight_of(port, WIRE_PROTOBUF, "ops") == 1.0);
    assert_int_equal(op_status(port, WIRE_PROTOBUF,
                               "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
                               "[{\"role\":\"ops\",\"weight\":3}]}}", NULL),
                     200);
    assert_true(weight_of(port, WIRE_JSON, "ops") == 3.0);

    /* The classic endpoint: PUT a JSON array, GET it back. */
    assert_int_equal(classic(port, "PUT", "/weights", "[{\"role\":\"batch\",\"weight\":0.5}]",
                             NULL), 200);
    struct h_response r;
    assert_int_equal(classic(port, "GET", "/weights", NULL, &r), 200);
    json_t *arr = json_loadb(r.body, r.len, 0, NULL);
    h_response_free(&r);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 3);
    int seen = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *w = json_array_get(arr, i);
        if (strcmp(json_string_value(json_object_get(w, "role")), "batch") == 0) {
            assert_true(json_real_value(json_object_get(w, "weight")) == 0.5);
            seen = 1;
        }
    }
    json_decref(arr);
    assert_true(seen);
    assert_true(weight_of(port, WIRE_JSON, "batch") == 0.5);
    assert_int_equal(classic(port, "DELETE", "/weights", NULL, NULL), 405);
}

static void bad_weights_are_refused_with_a_reason(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    const struct {
        const char *infos;
        const char *needle;
    } bad[] = {
        {"[{\"role\":\"r\",\"weight\":0}]", "positive"},
        {"[{\"role\":\"r\",\"weight\":-2}]", "positive"},
        {"[{\"role\":\"a//b\",\"weight\":1}]", "a//b"},
        {"[{\"role\":\"/a\",\"weight\":1}]", "/a"},
        {"[{\"role\":\"a/..\",\"weight\":1}]", "a/.."},
        {"[{\"role\":\"-a\",\"weight\":1}]", "-a"},
        {"[{\"role\":\"a b\",\"weight\":1}]", "whitespace"},
        {"[{\"role\":\"r\",\"weight\":1},{\"role\":\"r\",\"weight\":2}]", "more than once"},
        {"[{\"weight\":1}]", "role"},
    };
    char call[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(call, sizeof(call),
                 "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":%s}}",
                 bad[i].infos);
        assert_int_equal(op_status(port, WIRE_JSON, call, bad[i].needle), 400);
        assert_int_equal(op_status(port, WIRE_PROTOBUF, call, NULL), 400);
        struct h_response r;
        assert_int_equal(classic(port, "PUT", "/weights", bad[i].infos, &r), 400);
        h_response_free(&r);
    }
    assert_int_equal(classic(port, "PUT", "/weights", "{\"role\":\"r\"}", NULL), 400);
    assert_int_equal(classic(port, "PUT", "/weights", "not json", NULL), 400);
    /* Nothing of it was kept. */
    assert_true(weight_of(port, WIRE_JSON, "r") < 0);
    assert_null(h_daemon_died(&f->c));
}

/* ---- quota ---- */

static void quota_is_set_read_and_removed(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":"
                               "[{\"role\":\"eng\",\"guarantees\":{\"cpus\":{\"value\":2}},"
                               "\"limits\":{\"cpus\":{\"value\":3},\"mem\":{\"value\":1024}}}]}}",
                               NULL),
                     200);
    double g, l;
    assert_true(quota_of(port, WIRE_PROTOBUF, "eng", "cpus", &g, &l));
    assert_true(g == 2 && l == 3);
    assert_true(quota_of(port, WIRE_JSON, "eng", "mem", &g, &l));
    assert_true(g < 0 && l == 1024);

    /* Protobuf, a nested role within its parent's limit. */
    assert_int_equal(op_status(port, WIRE_PROTOBUF,
                               "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":"
                               "[{\"role\":\"eng/web\",\"guarantees\":{\"cpus\":{\"value\":1}},"
                               "\"limits\":{\"cpus\":{\"value\":2}}}]}}", NULL),
                     200);
    assert_true(quota_of(port, WIRE_JSON, "eng/web", "cpus", &g, &l));

    /* The older calls: SET_QUOTA sets guarantee and limit; twice is a
     * conflict; REMOVE_QUOTA; removing again is an error. */
    const char *set = "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":"
                      "\"ops\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                      "\"scalar\":{\"value\":1}}]}}}";
    assert_int_equal(op_status(port, WIRE_JSON, set, NULL), 200);
    assert_true(quota_of(port, WIRE_JSON, "ops", "cpus", &g, &l));
    assert_true(g == 1 && l == 1);
    assert_int_equal(op_status(port, WIRE_PROTOBUF, set, "already has quota"), 409);
    assert_int_equal(op_status(port, WIRE_PROTOBUF,
                               "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"ops\"}}",
                               NULL),
                     200);
    assert_false(quota_of(port, WIRE_JSON, "ops", "cpus", &g, &l));
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"ops\"}}",
                               "no quota"),
                     400);

    /* The classic endpoint: POST a QuotaRequest, GET the status, DELETE. */
    assert_int_equal(classic(port, "POST", "/quota",
                             "{\"role\":\"batch\",\"guarantee\":[{\"name\":\"mem\",\"type\":"
                             "\"SCALAR\",\"scalar\":{\"value\":512}}]}", NULL),
                     200);
    struct h_response r;
    assert_int_equal(classic(port, "GET", "/quota", NULL, &r), 200);
    json_t *st = json_loadb(r.body, r.len, 0, NULL);
    h_response_free(&r);
    json_t *configs = json_object_get(st, "configs");
    assert_int_equal(json_array_size(configs), 3);   /* batch, eng, eng/web */
    assert_string_equal(json_string_value(json_object_get(json_array_get(configs, 0), "role")),
                        "batch");
    json_decref(st);
    assert_int_equal(classic(port, "DELETE", "/quota/batch", NULL, NULL), 200);
    assert_int_equal(classic(port, "DELETE", "/quota/batch", NULL, NULL), 400);
    assert_int_equal(classic(port, "DELETE", "/quota/eng/web", NULL, NULL), 200);
    assert_false(quota_of(port, WIRE_JSON, "eng/web", "cpus", &g, &l));
    assert_int_equal(classic(port, "PUT", "/quota", "{}", NULL), 405);

    /* An update to no guarantees and no limits removes the quota. */
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":"
                               "[{\"role\":\"eng\"}]}}", NULL),
                     200);
    assert_false(quota_of(port, WIRE_JSON, "eng", "cpus", &g, &l));
}

static void bad_quota_is_refused_with_a_reason(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    const struct {
        const char *configs;
        const char *needle;
    } bad[] = {
        {"[{\"role\":\"r\",\"guarantees\":{\"cpus\":{\"value\":3}},\"limits\":{\"cpus\":"
         "{\"value\":2}}}]", "greater than limit"},
        {"[{\"role\":\"r\",\"guarantees\":{\"cpus\":{\"value\":100}}}]", "capacity"},
        {"[{\"role\":\"r\",\"guarantees\":{\"ports\":{\"value\":1}}}]", "scalar"},
        {"[{\"role\":\"r\",\"limits\":{\"\":{\"value\":1}}}]", "empty"},
        {"[{\"role\":\"r\",\"limits\":{\"cpus\":{\"value\":-1}}}]", "non-negative"},
        {"[{\"role\":\"*\",\"limits\":{\"cpus\":{\"value\":1}}}]", "'*'"},
        {"[{\"role\":\"a//b\",\"limits\":{\"cpus\":{\"value\":1}}}]", "a//b"},
        {"[{\"role\":\"p\",\"limits\":{\"cpus\":{\"value\":2}}},{\"role\":\"p/c\",\"limits\":"
         "{\"cpus\":{\"value\":3}}}]", "parent"},
        {"[{\"role\":\"p\",\"guarantees\":{\"cpus\":{\"value\":1}}},{\"role\":\"p/c\","
         "\"guarantees\":{\"cpus\":{\"value\":2}}}]", "children"},
        {"[{\"role\":\"r\"},{\"role\":\"r\"}]", "more than once"},
    };
    char call[1024];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(call, sizeof(call),
                 "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":%s}}",
                 bad[i].configs);
        assert_int_equal(op_status(port, WIRE_JSON, call, bad[i].needle), 400);
        assert_int_equal(op_status(port, WIRE_PROTOBUF, call, NULL), 400);
    }
    double g, l;
    assert_false(quota_of(port, WIRE_JSON, "r", "cpus", &g, &l));
    /* Beyond the cluster's capacity, forced. */
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"force\":true,"
                               "\"quota_configs\":[{\"role\":\"r\",\"guarantees\":{\"cpus\":"
                               "{\"value\":100}}}]}}", NULL),
                     200);
    /* SET_QUOTA: no role, a range, a reserved resource; bad JSON classic. */
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{"
                               "\"guarantee\":[]}}}", "role"),
                     400);
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":"
                               "\"s\",\"guarantee\":[{\"name\":\"ports\",\"type\":\"RANGES\","
                               "\"ranges\":{\"range\":[{\"begin\":1,\"end\":2}]}}]}}}", "scalar"),
                     400);
    assert_int_equal(classic(port, "POST", "/quota", "{\"role\":", NULL), 400);
    assert_int_equal(classic(port, "DELETE", "/quota/", NULL, NULL), 400);
    assert_null(h_daemon_died(&f->c));
}

/* A restarted master reads weights and quota back from its registry. */
static void weights_and_quota_survive_a_master_restart(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
                               "[{\"role\":\"eng/web\",\"weight\":4}]}}", NULL),
                     200);
    assert_int_equal(op_status(port, WIRE_PROTOBUF,
                               "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":"
                               "[{\"role\":\"eng/web\",\"guarantees\":{\"cpus\":{\"value\":1}},"
                               "\"limits\":{\"cpus\":{\"value\":2}}},{\"role\":\"gone\","
                               "\"limits\":{\"mem\":{\"value\":5}}}]}}", NULL),
                     200);
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"gone\"}}",
                               NULL),
                     200);
    const char *flags[] = {"--registry=sqlite", NULL};
    h_restart_master(&f->c, SIGTERM, flags);
    port = f->c.master.port;
    assert_true(weight_of(port, WIRE_PROTOBUF, "eng/web") == 4.0);
    double g, l;
    assert_true(quota_of(port, WIRE_JSON, "eng/web", "cpus", &g, &l));
    assert_true(g == 1 && l == 2);
    assert_false(quota_of(port, WIRE_JSON, "gone", "mem", &g, &l));
    /* And once more, killed this time. */
    h_restart_master(&f->c, SIGKILL, flags);
    assert_true(weight_of(f->c.master.port, WIRE_JSON, "eng/web") == 4.0);
}

/* ---- schedulers in several roles ---- */

static int64_t offered_cpus_in(const Tepui__Offer *o, const char *role)
{
    int64_t sum = 0;
    for (size_t i = 0; i < o->n_resources; i++) {
        const Tepui__Resource *r = o->resources[i];
        assert_non_null(r->allocation_info);
        assert_string_equal(r->allocation_info->role, role);
        if (strcmp(r->name, "cpus") == 0)
            sum += (int64_t)(r->scalar->value * 1000 + 0.5);
    }
    return sum;
}

/* A MULTI_ROLE framework is offered per role, every resource carrying its
 * allocation_info; a limit on "eng" holds for its child "eng/web". */
static void multi_role_offers_carry_allocation_info_within_limits(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":"
                               "[{\"role\":\"eng\",\"limits\":{\"cpus\":{\"value\":1.5}}}]}}",
                               NULL),
                     200);
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_PROTOBUF,
                                       h_framework_json("multi", "\"roles\":[\"eng/web\",\"ops\"],"
                                                        "\"capabilities\":[{\"type\":"
                                                        "\"MULTI_ROLE\"}]")),
                     200);
    int64_t eng = 0, ops = 0;
    while (eng + ops < 8000) {
        Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
        assert_non_null(ev);
        for (size_t i = 0; i < ev->offers->n_offers; i++) {
            const Tepui__Offer *o = ev->offers->offers[i];
            assert_non_null(o->allocation_info);
            const char *role = o->allocation_info->role;
            if (strcmp(role, "eng/web") == 0)
                eng += offered_cpus_in(o, role);
            else if (strcmp(role, "ops") == 0)
                ops += offered_cpus_in(o, role);
            else
                fail_msg("offer in role %s", role);
        }
        pb_free(ev);
    }
    /* eng/web's share is cut to eng's limit; ops has the rest. */
    assert_int_equal(eng, 1500);
    assert_int_equal(ops, 6500);
    h_sched_close(&s);
}

static const char *offer_role(const Tepui__Scheduler__Event *ev)
{
    return ev->offers->offers[0]->allocation_info->role;
}

static void decline_all(struct h_sched *s, const Tepui__Scheduler__Event *ev)
{
    for (size_t i = 0; i < ev->offers->n_offers; i++) {
        char call[512];
        snprintf(call, sizeof(call),
                 "{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                 "\"filters\":{\"refuse_seconds\":3600}}}",
                 ev->offers->offers[i]->id->value);
        assert_int_equal(h_sched_call(s, call, NULL), 202);
    }
}

/* Suppression is per role: roles suppressed at SUBSCRIBE get no offers;
 * UPDATE_FRAMEWORK replaces the set. A suppressed role that is not one of
 * the framework's is refused. */
static void suppression_is_per_role_and_update_framework_replaces_it(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    struct h_sched bad;
    char info[512];
    snprintf(info, sizeof(info), "%s",
             h_framework_json("bad", "\"roles\":[\"a\"],\"capabilities\":[{\"type\":"
                                     "\"MULTI_ROLE\"}]"));
    struct h_response r;
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":%s,"
             "\"suppressed_roles\":[\"zzz\"]}}", info);
    assert_int_equal(h_http(port, "POST", "/api/v1/scheduler",
                            "Content-Type: application/json\r\nAccept: application/json\r\n",
                            body, strlen(body), &r), 0);
    /* As Mesos: an invalid subscription is answered with an ERROR event. */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "ERROR"));
    assert_non_null(strstr(r.body, "zzz"));
    h_response_free(&r);
    (void)bad;

    /* Subscribed with "a" suppressed: only "b" is offered. */
    struct h_sched s;
    memset(&s, 0, sizeof(s));
    const char *fw = "\"roles\":[\"a\",\"b\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]";
    snprintf(info, sizeof(info), "%s", h_framework_json("per-role", fw));
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_JSON, info), 200);
    snprintf(body, sizeof(body), "{\"type\":\"SUPPRESS\",\"suppress\":{\"roles\":[\"a\"]}}");
    assert_int_equal(h_sched_call(&s, body, NULL), 202);
    Tepui__Scheduler__Event *ev;
    int b_offers = 0;
    /* Offers may have gone out in "a" before the SUPPRESS: decline them
     * with a long filter until two agents' worth came in "b". */
    while (b_offers < 2) {
        ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
        assert_non_null(ev);
        for (size_t i = 0; i < ev->offers->n_offers; i++)
            b_offers += strcmp(ev->offers->offers[i]->allocation_info->role, "b") == 0;
        decline_all(&s, ev);
        pb_free(ev);
    }
    /* Now suppress "b" instead (UPDATE_FRAMEWORK): "a" is offered. */
    snprintf(body, sizeof(body),
             "{\"type\":\"UPDATE_FRAMEWORK\",\"update_framework\":{\"framework_info\":%s,"
             "\"suppressed_roles\":[\"b\"]}}", info);
    /* The framework id is needed in the info. */
    char *p = strstr(body, "\"framework_info\":{");
    assert_non_null(p);
    char with_id[1536];
    size_t head = (size_t)(p - body) + strlen("\"framework_info\":{");
    snprintf(with_id, sizeof(with_id), "%.*s\"id\":{\"value\":\"%s\"},%s", (int)head, body,
             s.framework_id, body + head);
    assert_int_equal(h_sched_call(&s, with_id, NULL), 200);
    ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    assert_string_equal(offer_role(ev), "a");
    pb_free(ev);
    h_sched_close(&s);
}

/* ---- roles ---- */

static const Tepui__Role *role_in(const Tepui__Master__Response *r, const char *name)
{
    for (size_t i = 0; i < r->get_roles->n_roles; i++)
        if (strcmp(r->get_roles->roles[i]->name, name) == 0)
            return r->get_roles->roles[i];
    return NULL;
}

static double role_cpus(const Tepui__Role *role)
{
    double sum = 0;
    for (size_t i = 0; i < role->n_resources; i++)
        if (strcmp(role->resources[i]->name, "cpus") == 0)
            sum += role->resources[i]->scalar->value;
    return sum;
}

static json_t *classic_role(json_t *body, const char *name)
{
    json_t *roles = json_object_get(body, "roles");
    assert_true(json_is_array(roles));
    for (size_t i = 0; i < json_array_size(roles); i++) {
        json_t *r = json_array_get(roles, i);
        if (strcmp(json_string_value(json_object_get(r, "name")), name) == 0)
            return r;
    }
    return NULL;
}

/* A quantity of a "quota" or top-level map of a /roles entry; 0 if absent. */
static double quantity(json_t *role, const char *outer, const char *map, const char *name)
{
    json_t *o = outer != NULL ? json_object_get(role, outer) : role;
    json_t *v = json_object_get(json_object_get(o, map), name);
    return v != NULL ? json_number_value(v) : 0;
}

/* GET_ROLES (both encodings) and /roles list every role the master knows:
 * with a framework, a weight, quota or a reservation, and nothing else.
 * /roles has Mesos 1.9+'s breakdown: allocated, offered, reserved, and
 * quota with what is consumed, unallocated reservations included. */
static void roles_are_listed_with_frameworks_resources_and_quota(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    assert_true(h_start_agent(&f->c, "cpus(db):1;mem(db):256;disk:100", NULL) >= 0);
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
                               "[{\"role\":\"ops\",\"weight\":2}]}}", NULL),
                     200);
    assert_int_equal(op_status(port, WIRE_JSON,
                               "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":"
                               "[{\"role\":\"eng\",\"guarantees\":{\"cpus\":{\"value\":1}},"
                               "\"limits\":{\"cpus\":{\"value\":3}}}]}}", NULL),
                     200);
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_JSON,
                                       h_framework_json("web", "\"roles\":[\"eng/web\"],"
                                                        "\"capabilities\":[{\"type\":"
                                                        "\"MULTI_ROLE\"}]")),
                     200);
    /* Offers up to eng's limit, kept outstanding. */
    int64_t offered = 0;
    while (offered < 3000) {
        Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
        assert_non_null(ev);
        for (size_t i = 0; i < ev->offers->n_offers; i++)
            offered += offered_cpus_in(ev->offers->offers[i], "eng/web");
        pb_free(ev);
    }
    assert_int_equal(offered, 3000);

    enum wire_format fmts[2] = {WIRE_JSON, WIRE_PROTOBUF};
    for (int k = 0; k < 2; k++) {
        Tepui__Master__Response *r = op_get(port, fmts[k], "GET_ROLES");
        assert_non_null(r->get_roles);
        assert_int_equal(r->get_roles->n_roles, 4);
        const Tepui__Role *web = role_in(r, "eng/web");
        assert_non_null(web);
        assert_int_equal(web->n_frameworks, 1);
        assert_string_equal(web->frameworks[0]->value, s.framework_id);
        assert_true(web->weight == 1.0);
        assert_true(role_cpus(web) == 3.0);
        assert_non_null(role_in(r, "eng"));
        assert_non_null(role_in(r, "db"));
        assert_non_null(role_in(r, "ops"));
        assert_true(role_in(r, "ops")->weight == 2.0);
        assert_int_equal(role_in(r, "ops")->n_frameworks, 0);
        pb_free(r);
    }

    const char *paths[2] = {"/roles", "/master/roles"};
    for (int k = 0; k < 2; k++) {
        json_t *body = h_get_json(port, paths[k]);
        assert_non_null(body);
        assert_int_equal(json_array_size(json_object_get(body, "roles")), 4);
        json_t *web = classic_role(body, "eng/web");
        assert_non_null(web);
        assert_string_equal(json_string_value(json_array_get(json_object_get(web, "frameworks"),
                                                             0)),
                            s.framework_id);
        assert_true(quantity(web, NULL, "offered", "cpus") == 3.0);
        assert_true(quantity(web, NULL, "allocated", "cpus") == 0.0);
        assert_true(quantity(web, NULL, "resources", "cpus") == 3.0);
        json_t *eng = classic_role(body, "eng");
        assert_non_null(eng);
        assert_string_equal(json_string_value(json_object_get(json_object_get(eng, "quota"),
                                                              "role")),
                            "eng");
        assert_true(quantity(eng, "quota", "guarantee", "cpus") == 1.0);
        assert_true(quantity(eng, "quota", "limit", "cpus") == 3.0);
        /* Its descendant's offers count towards it. */
        assert_true(quantity(eng, "quota", "consumed", "cpus") == 3.0);
        json_t *db = classic_role(body, "db");
        assert_non_null(db);
        assert_true(quantity(db, NULL, "reserved", "cpus") == 1.0);
        assert_true(quantity(db, NULL, "allocated", "cpus") == 0.0);
        /* An unallocated reservation is consumed quota (Mesos 1.9+). */
        assert_true(quantity(db, "quota", "consumed", "cpus") == 1.0);
        assert_true(json_real_value(json_object_get(classic_role(body, "ops"), "weight")) == 2.0);
        json_decref(body);
    }
    struct h_response r;
    assert_int_equal(classic(port, "POST", "/roles", "{}", &r), 405);
    h_response_free(&r);
    h_sched_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(weights_are_set_and_read_in_both_encodings_and_classically,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(bad_weights_are_refused_with_a_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(quota_is_set_read_and_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_quota_is_refused_with_a_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(weights_and_quota_survive_a_master_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(multi_role_offers_carry_allocation_info_within_limits,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(roles_are_listed_with_frameworks_resources_and_quota,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(suppression_is_per_role_and_update_framework_replaces_it,
                                        setup, teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
