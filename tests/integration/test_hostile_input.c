/* Hostile input against the operator, scheduler and agent surfaces added
 * with roles, quota, reservations, volumes, maintenance, images and health
 * checks: every malformed, mistyped, oversized or unknown request is
 * answered 4xx with a message, the daemons stay up (and, built with the
 * sanitizers, report nothing), and the cluster's settings are as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "harness.h"
#include "master.pb-c.h"
#include "wire/codec.h"
#include "wire/json.h"
#include "wire/pb.h"

#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x

struct fixture {
    struct h_cluster c;
    char agent_id[256];
    char hostname[256];
    struct h_sched s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->s.fd = -1;
    h_cluster_init(&f->c);
    const char *flags[] = {"--allocation_interval=50ms", NULL};
    h_start_master(&f->c, flags);
    h_start_agent(&f->c, "cpus:4;mem:4096;disk:4096;ports:[31000-31099]", NULL);
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *a = json_array_get(json_object_get(st, "slaves"), 0);
    snprintf(f->agent_id, sizeof(f->agent_id), "%s",
             json_string_value(json_object_get(a, "id")));
    snprintf(f->hostname, sizeof(f->hostname), "%s",
             json_string_value(json_object_get(a, "hostname")));
    json_decref(st);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->s.fd >= 0)
        h_sched_close(&f->s);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- requests ---- */

/* want for "400, or 409": Mesos answers a DESTROY of volumes the agent
 * lacks 400 where tepui answers 409 (not available). */
#define BAD_OR_CONFLICT 4009

/* Sends a request and checks the answer: status want and, for an error, a
 * message. what names the case in a failure. */
static void expect(const struct fixture *f, int port, const char *method, const char *path,
                   const char *headers, const void *body, size_t len, int want, const char *what)
{
    struct h_response r = {0};
    if (h_http(port, method, path, headers, body, len, &r) != 0) {
        h_dump_logs(&f->c);
        fail_msg("%s %s (%.300s): no answer", method, path, what);
    }
    if (r.status != want && !(want == BAD_OR_CONFLICT && (r.status == 400 || r.status == 409))) {
        h_dump_logs(&f->c);
        fail_msg("%s %s (%.300s): %d '%.300s', expected %d", method, path, what, r.status,
                 r.body ? r.body : "", want);
    }
    if (want >= 400 && want != 404 && (r.body == NULL || r.len == 0))
        fail_msg("%s %s (%.300s): %d without a message", method, path, what, r.status);
    h_response_free(&r);
}

/* An operator call as JSON text, sent as it is. */
static void op_json(const struct fixture *f, const char *body, int want)
{
    expect(f, f->c.master.port, "POST", "/api/v1",
           "Content-Type: application/json\r\nAccept: application/json\r\n", body, strlen(body),
           want, body);
}

/* An operator call written as JSON, sent as protobuf. */
static void op_pb(const struct fixture *f, const char *json, int want)
{
    struct error err = {0};
    ProtobufCMessage *m = wire_json_decode(&tepui__master__call__descriptor, json, strlen(json),
                                           &err);
    if (m == NULL)
        fail_msg("bad test call %s: %s", json, err.msg);
    struct buf b = BUF_INIT;
    pb_pack_buf(m, &b);
    pb_free(m);
    expect(f, f->c.master.port, "POST", "/api/v1",
           "Content-Type: application/x-protobuf\r\nAccept: application/x-protobuf\r\n", b.data,
           b.len, want, json);
    buf_free(&b);
}

/* Both encodings. */
static void op_both(const struct fixture *f, const char *json, int want)
{
    op_json(f, json, want);
    op_pb(f, json, want);
}

static void classic(const struct fixture *f, const char *method, const char *path,
                    const char *ctype, const char *body, int want)
{
    char headers[128];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\n", ctype);
    expect(f, f->c.master.port, method, path, headers, body, body ? strlen(body) : 0, want,
           body ? body : "(no body)");
}

/* A string of n copies of c (malloc'd). */
static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- what must not change ---- */

static char *op_answer(int port, const char *type)
{
    char call[128];
    snprintf(call, sizeof(call), "{\"type\":\"%s\"}", type);
    struct h_response r = {0};
    assert_int_equal(h_http(port, "POST", "/api/v1",
                            "Content-Type: application/json\r\nAccept: application/json\r\n", call,
                            strlen(call), &r), 0);
    assert_int_equal(r.status, 200);
    char *body = xstrdup(r.body ? r.body : "");
    h_response_free(&r);
    return body;
}

/* Weights, quota, the maintenance schedule and status, and each agent's
 * total resources, activity and drain state, as one text. */
static char *snapshot(const struct fixture *f)
{
    int port = f->c.master.port;
    struct buf out = BUF_INIT;
    const char *calls[] = {"GET_WEIGHTS", "GET_QUOTA", "GET_MAINTENANCE_SCHEDULE",
                           "GET_MAINTENANCE_STATUS"};
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        char *a = op_answer(port, calls[i]);
        buf_append_str(&out, a);
        buf_append_str(&out, "\n");
        free(a);
    }
    char *agents = op_answer(port, "GET_AGENTS");
    json_t *j = json_loads(agents, 0, NULL);
    free(agents);
    json_t *list = json_object_get(json_object_get(j, "get_agents"), "agents");
    assert_int_equal(json_array_size(list), 1);
    json_t *a = json_array_get(list, 0);
    json_t *keep = json_pack("{sOsOsOsO*sO*}", "agent_info", json_object_get(a, "agent_info"),
                             "total_resources", json_object_get(a, "total_resources"), "active",
                             json_object_get(a, "active"), "deactivated",
                             json_object_get(a, "deactivated"), "drain_info",
                             json_object_get(a, "drain_info"));
    char *text = json_dumps(keep, JSON_SORT_KEYS | JSON_COMPACT);
    buf_append_str(&out, text);
    free(text);
    json_decref(keep);
    json_decref(j);
    return buf_steal(&out);
}

/* Both daemons answer /health, none died, and the settings are as before. */
static void assert_unharmed(const struct fixture *f, const char *before)
{
    const char *died = h_daemon_died(&f->c);
    if (died != NULL) {
        h_dump_logs(&f->c);
        fail_msg("a daemon died: %s", died);
    }
    struct h_response r = {0};
    assert_int_equal(h_http(f->c.master.port, "GET", "/health", "", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    assert_int_equal(h_http(f->c.agents[0].port, "GET", "/health", "", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
    char *after = snapshot(f);
    if (strcmp(before, after) != 0)
        fail_msg("state changed:\nbefore: %s\nafter:  %s", before, after);
    free(after);
}

/* Settings for the input to be measured against: a weight, a quota and a
 * maintenance window on a machine that is not the agent's. */
static char *arrange_settings(const struct fixture *f)
{
    op_json(f, "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
               "[{\"role\":\"eng\",\"weight\":2}]}}", 200);
    op_json(f, "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[{\"role\":"
               "\"eng\",\"guarantees\":{\"cpus\":{\"value\":1}},\"limits\":{\"cpus\":"
               "{\"value\":2}}}]}}", 200);
    op_json(f, "{\"type\":\"UPDATE_MAINTENANCE_SCHEDULE\",\"update_maintenance_schedule\":"
               "{\"schedule\":{\"windows\":[{\"machine_ids\":[{\"hostname\":\"elsewhere\"}],"
               "\"unavailability\":{\"start\":{\"nanoseconds\":4000000000000000000}}}]}}}", 200);
    return snapshot(f);
}

/* ---- the operator API ---- */

static void operator_api_refuses_malformed_calls(void **state)
{
    struct fixture *f = *state;
    char *before = arrange_settings(f);
    int port = f->c.master.port;

    /* Transport: method, content types, bodies that are not a Call. */
    expect(f, port, "GET", "/api/v1", "", NULL, 0, 405, "GET");
    expect(f, port, "PUT", "/api/v1", "Content-Type: application/json\r\n", "{}", 2, 405, "PUT");
    expect(f, port, "POST", "/api/v1", "", "{}", 2, 400, "no content type");
    expect(f, port, "POST", "/api/v1", "Content-Type: text/plain\r\n", "{}", 2, 415, "text");
    expect(f, port, "POST", "/api/v1", "Content-Type: application/json\r\nAccept: text/html\r\n",
           "{\"type\":\"GET_WEIGHTS\"}", 22, 406, "accept html");
    const char *bodies[] = {"", "{", "[]", "null", "42", "\"GET_HEALTH\"", "{\"type\":7.5}",
                            "{\"type\":\"NO_SUCH_CALL\"}", "{\"type\":null}", "{\"type\":[1]}",
                            "{\"type\":\"GET_HEALTH\"", "{\"type\":\"GET_HEALTH\"}xyz"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        op_json(f, bodies[i], 400);
    /* Deep nesting. */
    char *deep = repeat('[', 100000);
    op_json(f, deep, 400);
    free(deep);
    struct buf nested = BUF_INIT;
    buf_append_str(&nested, "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":");
    for (int i = 0; i < 5000; i++)
        buf_append_str(&nested, "[");
    op_json(f, buf_cstr(&nested), 400);
    buf_free(&nested);

    /* Protobuf that is not a Call: truncated, garbage, a wrong wire type. */
    const char *full = "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":"
                       "[{\"role\":\"ops\",\"weight\":3}]}}";
    struct error err = {0};
    ProtobufCMessage *m = wire_json_decode(&tepui__master__call__descriptor, full, strlen(full),
                                           &err);
    assert_non_null(m);
    struct buf pb = BUF_INIT;
    pb_pack_buf(m, &pb);
    pb_free(m);
    const char *pbh = "Content-Type: application/x-protobuf\r\nAccept: application/json\r\n";
    for (size_t cut = 1; cut < pb.len; cut += 3)
        expect(f, port, "POST", "/api/v1", pbh, pb.data, cut, 400, "truncated protobuf");
    buf_free(&pb);
    const unsigned char garbage[][6] = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                                        {0x08, 0x80, 0x80, 0x80, 0x80, 0x80},
                                        {0x0a, 0x05, 0x08, 0x01, 0x00, 0x00},
                                        {0x12, 0x7f, 0x00, 0x00, 0x00, 0x00}};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        expect(f, port, "POST", "/api/v1", pbh, garbage[i], sizeof(garbage[i]), 400, "garbage");

    /* Each call without its message, or with a message missing its
     * required fields. */
    const char *missing[] = {
        "UPDATE_WEIGHTS", "UPDATE_QUOTA", "SET_QUOTA", "REMOVE_QUOTA", "RESERVE_RESOURCES",
        "UNRESERVE_RESOURCES", "CREATE_VOLUMES", "DESTROY_VOLUMES",
        "UPDATE_MAINTENANCE_SCHEDULE", "START_MAINTENANCE", "STOP_MAINTENANCE", "DRAIN_AGENT",
        "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "MARK_AGENT_GONE"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        char call[128];
        snprintf(call, sizeof(call), "{\"type\":\"%s\"}", missing[i]);
        op_both(f, call, 400);
    }
    const char *empty_msgs[] = {
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{}}",
        "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{}}",
        "{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{}}",
        "{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":{}}}",
        "{\"type\":\"UNRESERVE_RESOURCES\",\"unreserve_resources\":{}}",
        "{\"type\":\"CREATE_VOLUMES\",\"create_volumes\":{}}",
        "{\"type\":\"DESTROY_VOLUMES\",\"destroy_volumes\":{}}",
        "{\"type\":\"UPDATE_MAINTENANCE_SCHEDULE\",\"update_maintenance_schedule\":{}}",
        "{\"type\":\"UPDATE_MAINTENANCE_SCHEDULE\",\"update_maintenance_schedule\":{\"schedule\":"
        "{\"windows\":[{\"machine_ids\":[{\"hostname\":\"x\"}]}]}}}",
        "{\"type\":\"UPDATE_MAINTENANCE_SCHEDULE\",\"update_maintenance_schedule\":{\"schedule\":"
        "{\"windows\":[{\"machine_ids\":[{\"hostname\":\"x\"}],\"unavailability\":{}}]}}}",
        "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{}}",
        "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{}}",
        "{\"type\":\"REACTIVATE_AGENT\",\"reactivate_agent\":{}}",
        "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{}}",
        "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{}}}",
    };
    for (size_t i = 0; i < sizeof(empty_msgs) / sizeof(empty_msgs[0]); i++)
        op_json(f, empty_msgs[i], 400);
    assert_unharmed(f, before);
    free(before);
}

static void weights_and_quota_refuse_bad_values(void **state)
{
    struct fixture *f = *state;
    char *before = arrange_settings(f);

#define W(x) "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":" x "}}"
    /* Wrong JSON types. */
    const char *json_only[] = {
        W("{}"), W("\"eng\""), W("[1]"), W("[[]]"),
        W("[{\"role\":\"ops\",\"weight\":\"heavy\"}]"), W("[{\"role\":\"ops\",\"weight\":true}]"),
        W("[{\"role\":\"ops\",\"weight\":{}}]"), W("[{\"role\":7,\"weight\":1}]"),
        W("[{\"role\":\"ops\",\"weight\":1e999}]"), W("[{\"role\":\"ops\",\"weight\":NaN}]"),
        W("[{\"role\":\"ops\",\"weight\":\"NaN\"}]"), W("[{\"role\":\"ops\",\"weight\":\"Infinity\"}]"),
        W("[{\"role\":\"ops\"}]"), W("[{\"role\":\"ops\",\"weight\":null}]"),
        "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":[]}",
        "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":\"x\"}",
        "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":{}}}",
        "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[{\"role\":\"ops\","
        "\"guarantees\":[]}]}}",
        "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[{\"role\":\"ops\","
        "\"guarantees\":{\"cpus\":1}}]}}",
        "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[{\"role\":\"ops\","
        "\"guarantees\":{\"cpus\":{\"value\":\"lots\"}}}]}}",
        "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"force\":\"yes\",\"quota_configs\":[]}}",
        "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[{\"role\":\"ops\","
        "\"guarantees\":{\"cpus\":{}}}]}}",
    };
    for (size_t i = 0; i < sizeof(json_only) / sizeof(json_only[0]); i++)
        op_json(f, json_only[i], 400);

    /* Bad values, in both encodings. */
    const char *bad[] = {
        W("[{\"role\":\"ops\",\"weight\":0}]"), W("[{\"role\":\"ops\",\"weight\":-1}]"),
        W("[{\"weight\":1}]"), W("[{\"role\":\"\",\"weight\":1}]"),
        W("[{\"role\":\"a b\",\"weight\":1}]"), W("[{\"role\":\"/eng\",\"weight\":1}]"),
        W("[{\"role\":\"eng/\",\"weight\":1}]"), W("[{\"role\":\"eng//web\",\"weight\":1}]"),
        W("[{\"role\":\"eng/../x\",\"weight\":1}]"), W("[{\"role\":\"..\",\"weight\":1}]"),
        W("[{\"role\":\".\",\"weight\":1}]"), W("[{\"role\":\"-x\",\"weight\":1}]"),
        W("[{\"role\":\"eng/*\",\"weight\":1}]"), W("[{\"role\":\"a\\tb\",\"weight\":1}]"),
        W("[{\"role\":\"ops\",\"weight\":1},{\"role\":\"ops\",\"weight\":2}]"),
        W("[{\"role\":\"ops\",\"weight\":1},{\"role\":\"x y\",\"weight\":2}]"),
#define Q(x) "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[" x "]}}"
        Q("{\"role\":\"*\",\"guarantees\":{\"cpus\":{\"value\":1}}}"),
        Q("{\"role\":\"a b\",\"guarantees\":{\"cpus\":{\"value\":1}}}"),
        Q("{\"role\":\"../etc\",\"guarantees\":{\"cpus\":{\"value\":1}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"cpus\":{\"value\":-1}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"cpus\":{\"value\":1e300}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"\":{\"value\":1}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"c p u\":{\"value\":1}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"ports\":{\"value\":1}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"cpus\":{\"value\":2}},\"limits\":{\"cpus\":"
          "{\"value\":1}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"cpus\":{\"value\":1000}}}"),
        Q("{\"role\":\"eng/web\",\"limits\":{\"cpus\":{\"value\":3}}}"),
        Q("{\"role\":\"eng/web\",\"guarantees\":{\"cpus\":{\"value\":2}}}"),
        Q("{\"role\":\"ops\",\"guarantees\":{\"cpus\":{\"value\":1}}},{\"role\":\"ops\","
          "\"guarantees\":{\"cpus\":{\"value\":1}}}"),
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":\"eng\",\"guarantee\":"
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}}}",
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"guarantee\":"
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}}}",
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":\"ops\"}}}",
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":\"ops\",\"guarantee\":"
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\"}]}}}",
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":\"ops\",\"guarantee\":"
        "[{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":1,\"end\":2}]}}]}}}",
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":\"ops\",\"guarantee\":"
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-3}}]}}}",
        "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":{\"role\":\"ops\",\"guarantee\":"
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"ops\"}]}]}}}",
        "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"nobody\"}}",
        "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"\"}}",
        "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"../eng\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* SET_QUOTA on a role with quota is a conflict. */
        int want = strstr(bad[i], "{\"role\":\"eng\",\"guarantee\"") ? 409 : 400;
        op_both(f, bad[i], want);
    }

    /* Very long role names, invalid somewhere far in. */
    char *role = repeat('r', 1 << 20);
    role[(1 << 20) - 1] = ' ';
    char *call = xasprintf(W("[{\"role\":\"%s\",\"weight\":1}]"), role);
    op_both(f, call, 400);
    free(call);
    call = xasprintf(Q("{\"role\":\"%s\",\"guarantees\":{\"cpus\":{\"value\":1}}}"), role);
    op_both(f, call, 400);
    free(call);
    call = xasprintf("{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"%s\"}}", role);
    op_both(f, call, 400);
    free(call);
    free(role);

    /* A huge array whose last entry is bad. */
    struct buf big = BUF_INIT;
    buf_append_str(&big, "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[");
    for (int i = 0; i < 50000; i++)
        buf_printf(&big, "{\"role\":\"r%d\",\"weight\":1},", i);
    buf_append_str(&big, "{\"role\":\"r0\",\"weight\":1}]}}");
    op_json(f, buf_cstr(&big), 400);
    buf_free(&big);
    buf_append_str(&big, "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[");
    for (int i = 0; i < 3000; i++)
        buf_printf(&big, "{\"role\":\"q%d\",\"limits\":{\"cpus\":{\"value\":1}}},", i);
    buf_append_str(&big, "{\"role\":\"q0\",\"limits\":{\"cpus\":{\"value\":1}}}]}}");
    op_json(f, buf_cstr(&big), 400);
    buf_free(&big);
    /* Many valid configs, refused only for the cluster's capacity at the end. */
    buf_append_str(&big, "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[");
    for (int i = 0; i < 2000; i++)
        buf_printf(&big, "{\"role\":\"t%d/u\",\"limits\":{\"cpus\":{\"value\":1}}},", i);
    buf_append_str(&big, "{\"role\":\"t\",\"guarantees\":{\"cpus\":{\"value\":1000}}}]}}");
    op_json(f, buf_cstr(&big), 400);
    buf_free(&big);
#undef W
#undef Q
    assert_unharmed(f, before);

    /* The classic endpoints. */
    classic(f, "POST", "/weights", "application/json", "[]", 405);
    classic(f, "DELETE", "/weights", "application/json", NULL, 405);
    const char *weights[] = {"", "{", "{}", "null", "[1]", "[{\"role\":\"ops\"}]",
                             "[{\"role\":\"ops\",\"weight\":-2}]",
                             "[{\"role\":\"a/../b\",\"weight\":2}]",
                             "[{\"role\":\"ops\",\"weight\":\"x\"}]",
                             "[{\"role\":\"ops\",\"weight\":1},[]]"};
    for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
        classic(f, "PUT", "/weights", "application/json", weights[i], 400);
    classic(f, "PUT", "/quota", "application/json", "{}", 405);
    classic(f, "GET", "/quota/eng", "application/json", NULL, 405);
    classic(f, "DELETE", "/quota", "application/json", NULL, 400);
    classic(f, "DELETE", "/quota/", "application/json", NULL, 400);
    classic(f, "DELETE", "/quota/nobody", "application/json", NULL, 400);
    classic(f, "DELETE", "/quota/a%20b", "application/json", NULL, 400);
    classic(f, "DELETE", "/quota/eng/..", "application/json", NULL, 400);
    classic(f, "DELETE", "/quota/%2e%2e", "application/json", NULL, 400);
    const char *quota[] = {"", "[", "[]", "{\"role\":5}",
                           "{\"role\":\"eng\",\"guarantee\":[{\"name\":\"cpus\",\"type\":"
                           "\"SCALAR\",\"scalar\":{\"value\":1}}]}",
                           "{\"role\":\"ops\",\"guarantee\":{}}",
                           "{\"role\":\"ops\",\"guarantee\":[{\"name\":\"cpus\"}]}",
                           "{\"role\":\"*\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                           "\"scalar\":{\"value\":1}}]}"};
    for (size_t i = 0; i < sizeof(quota) / sizeof(quota[0]); i++)
        classic(f, "POST", "/quota", "application/json", quota[i], i == 4 ? 409 : 400);
    assert_unharmed(f, before);
    free(before);
}

/* ---- reservations and volumes ---- */

static void resource_operations_refuse_bad_input(void **state)
{
    struct fixture *f = *state;
    char *before = arrange_settings(f);
    const char *id = f->agent_id;
    const char *kinds[][2] = {{"RESERVE_RESOURCES", "reserve_resources\":{\"resources"},
                              {"UNRESERVE_RESOURCES", "unreserve_resources\":{\"resources"},
                              {"CREATE_VOLUMES", "create_volumes\":{\"volumes"},
                              {"DESTROY_VOLUMES", "destroy_volumes\":{\"volumes"}};
    const char *cpus_reserved = "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                                "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]}";
    const char *lists[] = {
        "[]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1e300},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"reservations\":[{\"type\":\"DYNAMIC\","
        "\"role\":\"eng\"}]}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\"}]}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"role\":\"eng\"}]}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"../eng\"}]}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"*\"}]}]",
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"},{\"type\":\"DYNAMIC\",\"role\":\"ops\"}]}]",
        "[{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":9,\"end\":1}]},"
        "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]}]",
        "[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],\"disk\":{\"persistence\":{\"id\":\"../x\"},"
        "\"volume\":{\"container_path\":\"v\",\"mode\":\"RW\"}}}]",
        "[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],\"disk\":{\"persistence\":{\"id\":\"p\"},"
        "\"volume\":{\"container_path\":\"../../etc\",\"mode\":\"RW\"}}}]",
        "[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],\"disk\":{\"persistence\":{\"id\":\"p\"},"
        "\"volume\":{\"container_path\":\"/abs\",\"mode\":\"RW\"}}}]",
        "[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],\"disk\":{\"persistence\":{\"id\":\"p\"},"
        "\"volume\":{\"container_path\":\"v\",\"mode\":\"RO\"}}}]",
        "[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],\"disk\":{\"persistence\":{\"id\":\"p\"}}}]",
        "[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":"
        "[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],\"disk\":{\"persistence\":{}, \"volume\":"
        "{\"container_path\":\"v\",\"mode\":\"RW\"}}}]",
    };
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
            char *call = xasprintf("{\"type\":\"%s\",\"%s\":%s,\"agent_id\":{\"value\":\"%s\"}}}",
                                   kinds[k][0], kinds[k][1], lists[i], id);
            /* Values the decoder takes but the operation does not. */
            struct error err = {0};
            ProtobufCMessage *m = wire_json_decode(&tepui__master__call__descriptor, call,
                                                   strlen(call), &err);
            int want = k == 3 ? BAD_OR_CONFLICT : 400;
            if (m != NULL) {
                pb_free(m);
                op_both(f, call, want);
            } else {
                op_json(f, call, want);
            }
            free(call);
        }
        /* Unknown and empty agents, and types that are not a list. */
        char *call = xasprintf("{\"type\":\"%s\",\"%s\":[%s],\"agent_id\":{\"value\":"
                               "\"no-such-agent\"}}}", kinds[k][0], kinds[k][1], cpus_reserved);
        op_both(f, call, 400);
        free(call);
        call = xasprintf("{\"type\":\"%s\",\"%s\":[%s],\"agent_id\":{\"value\":\"\"}}}",
                         kinds[k][0], kinds[k][1], cpus_reserved);
        op_both(f, call, 400);
        free(call);
        call = xasprintf("{\"type\":\"%s\",\"%s\":\"cpus:1\",\"agent_id\":{\"value\":\"%s\"}}}",
                         kinds[k][0], kinds[k][1], id);
        op_json(f, call, 400);
        free(call);
        call = xasprintf("{\"type\":\"%s\",\"%s\":[%s],\"agent_id\":\"%s\"}}", kinds[k][0],
                         kinds[k][1], cpus_reserved, id);
        op_json(f, call, 400);
        free(call);
    }
    /* More than the agent has, and what is not reserved or no volume. */
    char *call = xasprintf("{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                           "{\"value\":\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":"
                           "\"SCALAR\",\"scalar\":{\"value\":5},\"reservations\":[{\"type\":"
                           "\"DYNAMIC\",\"role\":\"eng\"}]}]}}", id);
    op_both(f, call, 409);
    free(call);
    call = xasprintf("{\"type\":\"UNRESERVE_RESOURCES\",\"unreserve_resources\":{\"agent_id\":"
                     "{\"value\":\"%s\"},\"resources\":[%s]}}", id, cpus_reserved);
    op_both(f, call, 409);
    free(call);
    assert_unharmed(f, before);

    /* The classic endpoints: form-encoded, garbled in every way. */
    const char *paths[] = {"/reserve", "/unreserve", "/create-volumes", "/destroy-volumes"};
    const char *fields[] = {"resources", "resources", "volumes", "volumes"};
    const char *form = "application/x-www-form-urlencoded";
    for (size_t k = 0; k < 4; k++) {
        classic(f, "GET", paths[k], form, NULL, 405);
        classic(f, "PUT", paths[k], form, "slaveId=x", 405);
        char *bodies[] = {
            xstrdup(""),
            xstrdup("&&&==&"),
            xasprintf("%s=[]", fields[k]),
            xasprintf("slaveId=&%s=[]", fields[k]),
            xasprintf("slaveId=%s", id),
            xasprintf("slaveId=%s&%s=", id, fields[k]),
            xasprintf("slaveId=%s&%s={}", id, fields[k]),
            xasprintf("slaveId=%s&%s=%%5B%%7B", id, fields[k]),
            xasprintf("slaveId=%s&%s=%%ZZ%%", id, fields[k]),
            xasprintf("slaveId=%s&%s=%%", id, fields[k]),
            xasprintf("slaveId=%s&%s=[1,2]", id, fields[k]),
            xasprintf("slaveId=%s&%s=[null]", id, fields[k]),
            xasprintf("slaveId=%s&%s=[{\"name\":5}]", id, fields[k]),
            xasprintf("slaveId=%s&%s=[]", id, fields[k]),
            xasprintf("slaveId=no-such-agent&%s=[%s]", fields[k], cpus_reserved),
            xasprintf("slaveId=%%00&%s=[%s]", fields[k], cpus_reserved),
            xasprintf("slaveId=%s%%ZZ&%s=[%s]", id, fields[k], cpus_reserved),
        };
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
            classic(f, "POST", paths[k], form, bodies[i], 400);
            free(bodies[i]);
        }
    }
    assert_unharmed(f, before);
    free(before);
}

/* ---- maintenance ---- */

static void maintenance_refuses_bad_schedules_and_agents(void **state)
{
    struct fixture *f = *state;
    char *before = arrange_settings(f);

#define S(x) "{\"type\":\"UPDATE_MAINTENANCE_SCHEDULE\",\"update_maintenance_schedule\":" \
             "{\"schedule\":{\"windows\":[" x "]}}}"
#define U "\"unavailability\":{\"start\":{\"nanoseconds\":1}}"
    const char *schedules[] = {
        S("{\"machine_ids\":[]," U "}"),
        S("{\"machine_ids\":[{}]," U "}"),
        S("{\"machine_ids\":[{\"hostname\":\"\",\"ip\":\"\"}]," U "}"),
        S("{\"machine_ids\":[{\"ip\":\"300.1.1.1\"}]," U "}"),
        S("{\"machine_ids\":[{\"ip\":\"not an ip\"}]," U "}"),
        S("{\"machine_ids\":[{\"hostname\":\"a\"},{\"hostname\":\"A\"}]," U "}"),
        S("{\"machine_ids\":[{\"hostname\":\"a\"}]," U "},{\"machine_ids\":[{\"hostname\":\"a\"}],"
          U "}"),
        S("{\"machine_ids\":[{\"hostname\":\"a\"}],\"unavailability\":{\"start\":"
          "{\"nanoseconds\":1},\"duration\":{\"nanoseconds\":-5}}}"),
    };
    for (size_t i = 0; i < sizeof(schedules) / sizeof(schedules[0]); i++)
        op_both(f, schedules[i], 400);
    const char *json_only[] = {
        S("{\"machine_ids\":{}," U "}"),
        S("{\"machine_ids\":[\"a\"]," U "}"),
        S("{\"machine_ids\":[{\"hostname\":\"a\"}],\"unavailability\":{\"start\":"
          "{\"nanoseconds\":\"soon\"}}}"),
        S("{\"machine_ids\":[{\"hostname\":\"a\"}],\"unavailability\":{\"start\":"
          "{\"nanoseconds\":1e40}}}"),
        S("{\"machine_ids\":[{\"hostname\":\"a\"}],\"unavailability\":{\"start\":"
          "{\"nanoseconds\":99999999999999999999999}}}"),
        S("{\"machine_ids\":[{\"hostname\":\"a\"}],\"unavailability\":{\"start\":"
          "{\"nanoseconds\":1.5}}}"),
        S("{\"machine_ids\":[{\"hostname\":null}]," U "}"),
    };
    for (size_t i = 0; i < sizeof(json_only) / sizeof(json_only[0]); i++)
        op_json(f, json_only[i], 400);
#undef S
#undef U

    const char *machine_calls[] = {"START_MAINTENANCE\",\"start_maintenance",
                                   "STOP_MAINTENANCE\",\"stop_maintenance"};
    for (size_t k = 0; k < 2; k++) {
        const char *lists[] = {"[]", "[{}]", "[{\"ip\":\"1.2.3\"}]",
                               "[{\"hostname\":\"nowhere\"}]",
                               "[{\"hostname\":\"x\"},{\"hostname\":\"X\"}]",
                               /* elsewhere is DRAINING, so cannot be brought up */
                               k == 1 ? "[{\"hostname\":\"elsewhere\"}]" : "[{\"ip\":\"\"}]"};
        for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
            char *call = xasprintf("{\"type\":\"%s\":{\"machines\":%s}}", machine_calls[k],
                                   lists[i]);
            op_both(f, call, 400);
            free(call);
        }
    }

    /* Agents: unknown, empty, out-of-range grace periods. */
    const char *agent_calls[] = {"DRAIN_AGENT\",\"drain_agent", "DEACTIVATE_AGENT\","
                                 "\"deactivate_agent", "REACTIVATE_AGENT\",\"reactivate_agent",
                                 "MARK_AGENT_GONE\",\"mark_agent_gone"};
    for (size_t k = 0; k < 4; k++) {
        char *call = xasprintf("{\"type\":\"%s\":{\"agent_id\":{\"value\":\"no-such-agent\"}}}",
                               agent_calls[k]);
        op_both(f, call, 404);
        free(call);
        call = xasprintf("{\"type\":\"%s\":{\"agent_id\":{\"value\":\"\"}}}", agent_calls[k]);
        op_both(f, call, 404);
        free(call);
        call = xasprintf("{\"type\":\"%s\":{\"agent_id\":[]}}", agent_calls[k]);
        op_json(f, call, 400);
        free(call);
    }
    char *call = xasprintf("{\"type\":\"REACTIVATE_AGENT\",\"reactivate_agent\":{\"agent_id\":"
                           "{\"value\":\"%s\"}}}", f->agent_id);
    op_both(f, call, 400);
    free(call);
    const char *graces[] = {"{\"seconds\":-1}", "{\"nanos\":-1}",
                            "{\"seconds\":9223372036854775807}",
                            "{\"seconds\":9223372036854775807,\"nanos\":999999999}",
                            "{\"seconds\":-9223372036854775807}",
                            "{\"nanos\":2000000000}", "{\"seconds\":10000000000000}"};
    for (size_t i = 0; i < sizeof(graces) / sizeof(graces[0]); i++) {
        call = xasprintf("{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":"
                         "\"%s\"},\"max_grace_period\":%s}}", f->agent_id, graces[i]);
        op_both(f, call, 400);
        free(call);
    }
    assert_unharmed(f, before);

    /* The classic endpoints. */
    const char *json = "application/json";
    classic(f, "PUT", "/maintenance/schedule", json, "{}", 405);
    classic(f, "POST", "/maintenance/status", json, "{}", 405);
    classic(f, "GET", "/machine/down", json, NULL, 405);
    classic(f, "GET", "/machine/up", json, NULL, 405);
    const char *sched[] = {"", "[", "[]", "{\"windows\":{}}", "{\"windows\":[{}]}",
                           "{\"windows\":[{\"machine_ids\":[{\"hostname\":\"a\"}]}]}",
                           "{\"windows\":[{\"machine_ids\":[],\"unavailability\":{\"start\":"
                           "{\"nanoseconds\":0}}}]}"};
    for (size_t i = 0; i < sizeof(sched) / sizeof(sched[0]); i++)
        classic(f, "POST", "/maintenance/schedule", json, sched[i], 400);
    expect(f, f->c.master.port, "POST", "/maintenance/schedule", "", NULL, 0, 400, "no body");
    const char *machines[] = {"", "{", "{}", "[1]", "[[]]", "[{\"hostname\":7}]", "[]", "[{}]",
                              "[{\"hostname\":\"nowhere\"}]", "[{\"ip\":\"1.1.1.1.1\"}]"};
    for (size_t i = 0; i < sizeof(machines) / sizeof(machines[0]); i++) {
        classic(f, "POST", "/machine/down", json, machines[i], 400);
        classic(f, "POST", "/machine/up", json, machines[i], 400);
    }
    /* Long lists. */
    struct buf big = BUF_INIT;
    buf_append_str(&big, "[");
    for (int i = 0; i < 20000; i++)
        buf_printf(&big, "{\"hostname\":\"h%d\"},", i);
    buf_append_str(&big, "{\"hostname\":\"h0\"}]");
    classic(f, "POST", "/machine/down", json, buf_cstr(&big), 400);
    buf_free(&big);
    assert_unharmed(f, before);
    free(before);
}

/* ---- the scheduler API ---- */

static Tepui__Offer *wait_offer(struct h_sched *s, Tepui__Scheduler__Event **ev)
{
    *ev = h_sched_next(s, EV(OFFERS), 10);
    assert_non_null(*ev);
    assert_true((*ev)->offers->n_offers > 0);
    return (*ev)->offers->offers[0];
}

static void scheduler_calls_refuse_bad_input(void **state)
{
    struct fixture *f = *state;
    char *before = arrange_settings(f);
    struct h_sched *s = &f->s;
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("hostile", "\"roles\":[\"eng\"],"
                                                        "\"capabilities\":[{\"type\":"
                                                        "\"MULTI_ROLE\"}]")),
                     200);

    /* Inverse offers: unknown ids are ignored (202), missing messages 400. */
    assert_int_equal(h_sched_call(s, "{\"type\":\"ACCEPT_INVERSE_OFFERS\"}", NULL), 400);
    assert_int_equal(h_sched_call(s, "{\"type\":\"DECLINE_INVERSE_OFFERS\"}", NULL), 400);
    assert_int_equal(h_sched_call(s, "{\"type\":\"ACCEPT_INVERSE_OFFERS\",\"accept_inverse_offers"
                                     "\":{\"inverse_offer_ids\":[{\"value\":\"nope\"}],"
                                     "\"filters\":{\"refuse_seconds\":-1e308}}}", NULL), 202);
    assert_int_equal(h_sched_call(s, "{\"type\":\"DECLINE_INVERSE_OFFERS\",\"decline_inverse_offers"
                                     "\":{\"inverse_offer_ids\":[{\"value\":\"nope\"},{\"value\":"
                                     "\"nope\"}],\"filters\":{\"refuse_seconds\":1e308}}}", NULL),
                     202);
    assert_int_equal(h_sched_call(s, "{\"type\":\"ACCEPT_INVERSE_OFFERS\",\"accept_inverse_offers"
                                     "\":{\"inverse_offer_ids\":[{}]}}", NULL), 400);

    /* UPDATE_FRAMEWORK: a missing message, suppressed roles it lacks, bad roles. */
    assert_int_equal(h_sched_call(s, "{\"type\":\"UPDATE_FRAMEWORK\"}", NULL), 400);
    char *fw = xasprintf("{\"user\":\"root\",\"name\":\"hostile\",\"id\":{\"value\":\"%s\"},"
                         "\"roles\":[\"eng\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
                         s->framework_id);
    char *call = xasprintf("{\"type\":\"UPDATE_FRAMEWORK\",\"update_framework\":{\"framework_info\""
                           ":%s,\"suppressed_roles\":[\"ops\"]}}", fw);
    assert_int_equal(h_sched_call(s, call, NULL), 400);
    free(call);
    const char *roles[] = {"[\"a b\"]", "[\"..\"]", "[\"eng\",\"eng\"]", "[\"/x\"]", "[\"\"]"};
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        call = xasprintf("{\"type\":\"UPDATE_FRAMEWORK\",\"update_framework\":{\"framework_info\":"
                         "{\"user\":\"root\",\"name\":\"hostile\",\"id\":{\"value\":\"%s\"},"
                         "\"roles\":%s,\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}}}",
                         s->framework_id, roles[i]);
        assert_int_equal(h_sched_call(s, call, NULL), 400);
        free(call);
    }
    call = xasprintf("{\"type\":\"UPDATE_FRAMEWORK\",\"update_framework\":{\"framework_info\":"
                     "{\"user\":\"root\",\"name\":\"hostile\",\"id\":{\"value\":\"other\"},"
                     "\"roles\":[\"eng\"]}}}");
    assert_int_equal(h_sched_call(s, call, NULL), 400);
    free(call);
    free(fw);

    /* ACCEPT with resource operations that are invalid: dropped, and the
     * agent's resources as before. */
    Tepui__Scheduler__Event *ev;
    const Tepui__Offer *o = wait_offer(s, &ev);
    const char *ops[] = {
        "{\"type\":\"RESERVE\"}",
        "{\"type\":\"UNRESERVE\"}",
        "{\"type\":\"CREATE\"}",
        "{\"type\":\"DESTROY\"}",
        "{\"type\":\"RESERVE\",\"reserve\":{}}",
        "{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
        "\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"ops\"}]}]}}",
        "{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
        "\"scalar\":{\"value\":100},\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]}]}}",
        "{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
        "\"scalar\":{\"value\":1},\"allocation_info\":{\"role\":\"ops\"},\"reservations\":[{"
        "\"type\":\"DYNAMIC\",\"role\":\"eng\"}]}]}}",
        "{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
        "\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":"
        "\"eng\"}]}]}}",
        "{\"type\":\"CREATE\",\"create\":{\"volumes\":[{\"name\":\"disk\",\"type\":\"SCALAR\","
        "\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],"
        "\"disk\":{\"persistence\":{\"id\":\"v\"},\"volume\":{\"container_path\":\"v\",\"mode\":"
        "\"RW\"}}}]}}",
        "{\"type\":\"DESTROY\",\"destroy\":{\"volumes\":[{\"name\":\"disk\",\"type\":\"SCALAR\","
        "\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],"
        "\"disk\":{\"persistence\":{\"id\":\"v\"},\"volume\":{\"container_path\":\"v\",\"mode\":"
        "\"RW\"}}}]}}",
        "{\"type\":\"RESERVE\",\"id\":{\"value\":\"op1\"},\"reserve\":{\"resources\":[],"
        "\"source\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}}",
    };
    struct buf b = BUF_INIT;
    buf_printf(&b, "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                   "\"filters\":{\"refuse_seconds\":0},\"operations\":[", o->id->value);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        buf_printf(&b, "%s%s", i ? "," : "", ops[i]);
    buf_append_str(&b, "]}}");
    pb_free(ev);
    assert_int_equal(h_sched_call(s, buf_cstr(&b), NULL), 202);
    buf_free(&b);
    /* Operation feedback for the one with an id. */
    ev = h_sched_next(s, EV(UPDATE_OPERATION_STATUS), 10);
    assert_non_null(ev);
    assert_int_equal(ev->update_operation_status->status->state,
                     TEPUI__OPERATION_STATE__OPERATION_ERROR);
    pb_free(ev);

    /* Unknown offers, and an ACCEPT without its message. */
    assert_int_equal(h_sched_call(s, "{\"type\":\"ACCEPT\"}", NULL), 400);
    assert_int_equal(h_sched_call(s, "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":"
                                     "\"no-such-offer\"}],\"operations\":[{\"type\":\"RESERVE\","
                                     "\"reserve\":{}}]}}", NULL), 202);

    /* Tasks with bad health checks and images end in TASK_ERROR or
     * TASK_FAILED; none starts. */
    o = wait_offer(s, &ev);
    const char *tasks[][2] = {
        {"hc1", "\"health_check\":{}"},
        {"hc2", "\"health_check\":{\"type\":\"HTTP\"}"},
        {"hc3", "\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":70000}}"},
        {"hc4", "\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"x y\"}}"},
        {"hc5", "\"health_check\":{\"type\":\"TCP\",\"tcp\":{\"port\":0}}"},
        {"hc6", "\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":\"\"}}"},
        {"hc7", "\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":\"true\"},"
                "\"interval_seconds\":-1}"},
        {"hc8", "\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":80,\"scheme\":\"gopher\"}}"},
        {"ck1", "\"check\":{\"type\":\"COMMAND\",\"command\":{\"command\":{}}}"},
        {"ck2", "\"check\":{\"type\":\"TCP\"}"},
        {"ck3", "\"check\":{\"type\":\"HTTP\",\"http\":{\"port\":1,\"path\":\"nope\"}}"},
        {"ck4", "\"check\":{\"type\":\"UNKNOWN\"}"},
    };
    b = (struct buf)BUF_INIT;
    buf_printf(&b, "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                   "\"filters\":{\"refuse_seconds\":0},\"operations\":[{\"type\":\"LAUNCH\","
                   "\"launch\":{\"task_infos\":[", o->id->value);
    for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
        buf_printf(&b, "%s{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":"
                       "\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":"
                       "{\"value\":0.1}}],\"command\":{\"value\":\"sleep 100\"},%s}",
                   i ? "," : "", tasks[i][0], tasks[i][0], f->agent_id, tasks[i][1]);
    buf_append_str(&b, "]}}]}}");
    pb_free(ev);
    assert_int_equal(h_sched_call(s, buf_cstr(&b), NULL), 202);
    buf_free(&b);
    for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
        Tepui__TaskStatus *st = h_sched_wait_state(s, tasks[i][0], TEPUI__TASK_STATE__TASK_ERROR,
                                                   10);
        if (st == NULL)
            fail_msg("task %s did not end in TASK_ERROR", tasks[i][0]);
        pb_free(st);
    }

    /* Images with names that try to leave the store. */
    o = wait_offer(s, &ev);
    const char *images[] = {"../../etc", "a/../../b", "/etc/passwd", "x:../../y", "a b",
                            "%2e%2e/x", ""};
    b = (struct buf)BUF_INIT;
    buf_printf(&b, "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                   "\"filters\":{\"refuse_seconds\":0},\"operations\":[{\"type\":\"LAUNCH\","
                   "\"launch\":{\"task_infos\":[", o->id->value);
    for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++)
        buf_printf(&b, "%s{\"name\":\"img%zu\",\"task_id\":{\"value\":\"img%zu\"},\"agent_id\":"
                       "{\"value\":\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                       "\"scalar\":{\"value\":0.1}}],\"command\":{\"value\":\"true\"},"
                       "\"container\":{\"type\":\"MESOS\",\"mesos\":{\"image\":{\"type\":"
                       "\"DOCKER\",\"docker\":{\"name\":\"%s\"}}}}}",
                   i ? "," : "", i, i, f->agent_id, images[i]);
    buf_append_str(&b, "]}}]}}");
    pb_free(ev);
    assert_int_equal(h_sched_call(s, buf_cstr(&b), NULL), 202);
    buf_free(&b);
    size_t ended = 0, n_images = sizeof(images) / sizeof(images[0]);
    while (ended < n_images) {
        ev = h_sched_next(s, EV(UPDATE), 10);
        if (ev == NULL)
            fail_msg("only %zu of %zu image tasks ended", ended, n_images);
        const Tepui__TaskStatus *st = ev->update->status;
        if (strncmp(st->task_id->value, "img", 3) == 0) {
            if (st->state != TEPUI__TASK_STATE__TASK_FAILED &&
                st->state != TEPUI__TASK_STATE__TASK_ERROR)
                fail_msg("task %s: state %d", st->task_id->value, (int)st->state);
            ended++;
        }
        h_sched_ack(s, st);
        pb_free(ev);
    }
    assert_unharmed(f, before);
    free(before);
}

/* ---- the agent ---- */

static void monitor_statistics_refuses_other_methods(void **state)
{
    struct fixture *f = *state;
    int port = f->c.agents[0].port;
    expect(f, port, "POST", "/monitor/statistics", "Content-Type: application/json\r\n", "{}", 2,
           405, "POST");
    expect(f, port, "DELETE", "/monitor/statistics", "", NULL, 0, 405, "DELETE");
    expect(f, port, "GET", "/monitor/statistics?jsonp=%ZZ&x", "", NULL, 0, 200, "odd query");
    expect(f, port, "GET", "/monitor/statistics.json", "", NULL, 0, 200, ".json");
    expect(f, port, "GET", "/monitor/statistics/%2e%2e/%2e%2e/etc", "", NULL, 0, 404, "climb");
    char *before = snapshot(f);
    assert_unharmed(f, before);
    free(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(operator_api_refuses_malformed_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(weights_and_quota_refuse_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(resource_operations_refuse_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(maintenance_refuses_bad_schedules_and_agents, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(scheduler_calls_refuse_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(monitor_statistics_refuses_other_methods, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
