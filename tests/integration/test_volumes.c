/* Persistent volumes against real daemons: RESERVE and CREATE in one
 * ACCEPT make the volume's directory on the agent; a task writes into it
 * at its container_path; once the task ends the volume is offered to the
 * role again and a second task reads what the first wrote; DESTROY
 * removes the directory. Bad volumes and destroying a volume in use are
 * refused by the operator API. A task handed to a default executor that is
 * already running gets its volume in its own sandbox, until it ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/xalloc.h"
#include "harness.h"
#include "wire/pb.h"

#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x
#define ST(x) TEPUI__TASK_STATE__TASK_##x

static const char *const master_flags[] = {"--allocation_interval=50ms", NULL};

struct fixture {
    struct h_cluster c;
    struct h_sched s;
    char agent_id[256];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    *state = f;
    f->s.fd = -1;
    h_cluster_init(&f->c);
    h_start_master(&f->c, master_flags);
    h_start_agent(&f->c, "cpus:2;mem:1024;disk:1024", NULL);
    json_t *st = h_get_json(f->c.master.port, "/state");
    snprintf(f->agent_id, sizeof(f->agent_id), "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(st, "slaves"), 0),
                                               "id")));
    json_decref(st);
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

#define WEB "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"web\",\"principal\":\"ops\"}]"
#define ALLOC "\"allocation_info\":{\"role\":\"web\"}"
#define RESERVED_DISK(n)                                                                      \
    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #n "}," ALLOC "," WEB "}"
#define VOLUME(id, path, n)                                                                   \
    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #n "}," ALLOC "," WEB     \
    ",\"disk\":{\"persistence\":{\"id\":\"" id "\",\"principal\":\"ops\"},\"volume\":{"       \
    "\"container_path\":\"" path "\",\"mode\":\"RW\"}}}"
#define TASK_RES(volume)                                                                      \
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}," ALLOC "},"          \
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}," ALLOC "}," volume "]"

static int offer_has_volume(const Tepui__Offer *o, const char *id)
{
    for (size_t i = 0; i < o->n_resources; i++) {
        const Tepui__Resource *r = o->resources[i];
        if (r->disk != NULL && r->disk->persistence != NULL &&
            strcmp(r->disk->persistence->id, id) == 0)
            return 1;
    }
    return 0;
}

/* Waits for an offer holding volume id (declining the others). */
static Tepui__Scheduler__Event *offer_with_volume(struct h_sched *s, const char *id)
{
    for (int tries = 0; tries < 50; tries++) {
        Tepui__Scheduler__Event *ev = h_sched_next(s, EV(OFFERS), 10);
        assert_non_null(ev);
        Tepui__Offer *o = ev->offers->offers[0];
        if (offer_has_volume(o, id))
            return ev;
        char *call = xasprintf("{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":"
                               "\"%s\"}],\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
        assert_int_equal(h_sched_call(s, call, NULL), 202);
        free(call);
        pb_free(ev);
    }
    fail_msg("no offer with volume %s", id);
    return NULL;
}

static void accept_ops(struct h_sched *s, const Tepui__Offer *o, const char *operations)
{
    char *call = xasprintf("{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                           "\"operations\":%s,\"filters\":{\"refuse_seconds\":0}}}",
                           o->id->value, operations);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
}

static void run_task(struct h_sched *s, const Tepui__Offer *o, const char *id, const char *cmd,
                     int want)
{
    assert_int_equal(h_sched_launch(s, o, id, cmd, TASK_RES(VOLUME("v1", "data", 64))), 202);
    Tepui__TaskStatus *st = h_sched_wait_state(s, id, want, 20);
    assert_non_null(st);
    pb_free(st);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

struct gone {
    const char *path;
};

static int path_gone(void *arg)
{
    return !exists(((struct gone *)arg)->path);
}

static int mounted_under(const char *dir)
{
    FILE *fp = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    int found = 0;
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        found |= strstr(line, dir) != NULL;
    if (fp != NULL)
        fclose(fp);
    return found;
}

/* Mounts go when the executor is done, which may be just after the
 * task's terminal update. */
static int unmounted(void *root)
{
    return !mounted_under(root);
}

static void volume_outlives_its_tasks_and_is_destroyed(void **state)
{
    struct fixture *f = *state;
    struct h_sched *s = &f->s;
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("web", "\"role\":\"web\","
                                                               "\"principal\":\"ops\"")), 200);
    Tepui__Scheduler__Event *ev = h_sched_next(s, EV(OFFERS), 10);
    assert_non_null(ev);
    accept_ops(s, ev->offers->offers[0],
               "[{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESERVED_DISK(64) "]}},"
               "{\"type\":\"CREATE\",\"create\":{\"volumes\":[" VOLUME("v1", "data", 64) "]}}]");
    pb_free(ev);

    char path[700];
    snprintf(path, sizeof(path), "%s/volumes/roles/web/v1", f->c.agents[0].dir);
    struct gone made = {path};
    ev = offer_with_volume(s, "v1");
    assert_true(exists(path));
    assert_false(path_gone(&made));

    /* A task writes into the volume at its container path. */
    run_task(s, ev->offers->offers[0], "writer",
             "echo persisted > data/note.txt && test -f data/note.txt", ST(FINISHED));
    pb_free(ev);
    char note[800];
    snprintf(note, sizeof(note), "%s/note.txt", path);
    assert_true(exists(note));
    assert_true(h_wait_until(unmounted, f->c.root, 10));

    /* The volume comes back to the role; a second task reads the file. */
    ev = offer_with_volume(s, "v1");
    run_task(s, ev->offers->offers[0], "reader", "grep -q persisted data/note.txt", ST(FINISHED));
    pb_free(ev);

    /* DESTROY removes the directory; the disk stays reserved. */
    ev = offer_with_volume(s, "v1");
    accept_ops(s, ev->offers->offers[0],
               "[{\"type\":\"DESTROY\",\"destroy\":{\"volumes\":[" VOLUME("v1", "data", 64) "]}}]");
    pb_free(ev);
    assert_true(h_wait_until(path_gone, &made, 10));
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *a = json_array_get(json_object_get(st, "slaves"), 0);
    json_t *disk = json_object_get(json_object_get(json_object_get(a, "reserved_resources"), "web"),
                                   "disk");
    assert_true(json_number_value(disk) == 64.0);
    json_decref(st);
}

static int operator_status(int port, const char *json, char *body, size_t n)
{
    struct h_response r = {0};
    assert_int_equal(h_http(port, "POST", "/api/v1", "Content-Type: application/json\r\n", json,
                            strlen(json), &r), 0);
    int status = r.status;
    snprintf(body, n, "%s", r.body ? r.body : "");
    h_response_free(&r);
    return status;
}

static void bad_volumes_and_volumes_in_use_are_refused(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    char body[1024];
    char *json;

#define OPERATOR(type, field, list)                                                           \
    xasprintf("{\"type\":\"" type "\",\"" field "\":{\"agent_id\":{\"value\":\"%s\"},"        \
              "\"%s\":[" list "]}}", f->agent_id,                                             \
              strcmp(type, "RESERVE_RESOURCES") == 0 ? "resources" : "volumes")

    /* On unreserved disk. */
    json = OPERATOR("CREATE_VOLUMES", "create_volumes",
                    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":8},\"disk\":"
                    "{\"persistence\":{\"id\":\"u\"},\"volume\":{\"container_path\":\"d\","
                    "\"mode\":\"RW\"}}}");
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 400);
    assert_non_null(strstr(body, "unreserved"));
    free(json);

    json = OPERATOR("RESERVE_RESOURCES", "reserve_resources",
                    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":128}," WEB "}");
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 202);
    free(json);

#define OP_VOLUME(id, path, n)                                                                \
    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #n "}," WEB               \
    ",\"disk\":{\"persistence\":{\"id\":\"" id "\"},\"volume\":{\"container_path\":\""        \
    path "\",\"mode\":\"RW\"}}}"
    /* Absolute and escaping container paths. */
    json = OPERATOR("CREATE_VOLUMES", "create_volumes", OP_VOLUME("a", "/etc", 8));
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 400);
    assert_non_null(strstr(body, "relative"));
    free(json);
    json = OPERATOR("CREATE_VOLUMES", "create_volumes", OP_VOLUME("a", "x/../../y", 8));
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 400);
    free(json);
    /* A good one, then the same id again. */
    json = OPERATOR("CREATE_VOLUMES", "create_volumes", OP_VOLUME("v1", "data", 64));
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 202);
    free(json);
    json = OPERATOR("CREATE_VOLUMES", "create_volumes", OP_VOLUME("v1", "other", 8));
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 400);
    assert_non_null(strstr(body, "already in use"));
    free(json);
    /* Bigger than the reserved disk left. */
    json = OPERATOR("CREATE_VOLUMES", "create_volumes", OP_VOLUME("v2", "more", 100));
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 409);
    free(json);

    /* In use by a running task: DESTROY is refused. */
    struct h_sched *s = &f->s;
    assert_int_equal(h_sched_subscribe(s, port, WIRE_PROTOBUF,
                                       h_framework_json("web", "\"role\":\"web\"")), 200);
    Tepui__Scheduler__Event *ev = offer_with_volume(s, "v1");
    assert_int_equal(h_sched_launch(s, ev->offers->offers[0], "holder", "sleep 30",
                                    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":"
                                    "{\"value\":0.1}},{\"name\":\"mem\",\"type\":\"SCALAR\","
                                    "\"scalar\":{\"value\":32}}," OP_VOLUME("v1", "data", 64) "]"),
                     202);
    pb_free(ev);
    Tepui__TaskStatus *st = h_sched_wait_state(s, "holder", ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
    json = OPERATOR("DESTROY_VOLUMES", "destroy_volumes", OP_VOLUME("v1", "data", 64));
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 409);
    assert_non_null(strstr(body, "in use"));
    free(json);
    char path[700];
    snprintf(path, sizeof(path), "%s/volumes/roles/web/v1", f->c.agents[0].dir);
    assert_true(exists(path));

    /* Once the task is gone it may be destroyed (classic endpoint). */
    assert_int_equal(h_sched_call(s, "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":"
                                     "\"holder\"}}}", NULL), 202);
    st = h_sched_wait_state(s, "holder", ST(KILLED), 20);
    assert_non_null(st);
    pb_free(st);
    char *form = xasprintf(
        "slaveId=%s&volumes=%%5B%%7B%%22name%%22%%3A%%22disk%%22%%2C%%22type%%22%%3A%%22SCALAR%%22"
        "%%2C%%22scalar%%22%%3A%%7B%%22value%%22%%3A64%%7D%%2C%%22reservations%%22%%3A%%5B%%7B"
        "%%22type%%22%%3A%%22DYNAMIC%%22%%2C%%22role%%22%%3A%%22web%%22%%2C%%22principal%%22%%3A"
        "%%22ops%%22%%7D%%5D%%2C%%22disk%%22%%3A%%7B%%22persistence%%22%%3A%%7B%%22id%%22%%3A"
        "%%22v1%%22%%7D%%2C%%22volume%%22%%3A%%7B%%22container_path%%22%%3A%%22data%%22%%2C"
        "%%22mode%%22%%3A%%22RW%%22%%7D%%7D%%7D%%5D", f->agent_id);
    struct h_response r = {0};
    assert_int_equal(h_http(port, "POST", "/destroy-volumes",
                            "Content-Type: application/x-www-form-urlencoded\r\n", form,
                            strlen(form), &r), 0);
    assert_int_equal(r.status, 202);
    h_response_free(&r);
    free(form);
    struct gone g = {path};
    assert_true(h_wait_until(path_gone, &g, 10));
    assert_true(h_wait_until(unmounted, f->c.root, 10));
}

#define SMALL                                                                                 \
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}," ALLOC "},"          \
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}," ALLOC "}]"

/* LAUNCH_GROUP of one task onto the default executor "pod". */
static void launch_on_pod(struct h_sched *s, const Tepui__Offer *o, const char *id,
                          const char *cmd, const char *resources)
{
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
        "\"operations\":[{\"type\":\"LAUNCH_GROUP\",\"launch_group\":{\"executor\":"
        "{\"type\":\"DEFAULT\",\"executor_id\":{\"value\":\"pod\"},\"resources\":" SMALL "},"
        "\"task_group\":{\"tasks\":[{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},"
        "\"agent_id\":{\"value\":\"%s\"},\"resources\":%s,\"command\":{\"value\":\"%s\"}}]}}}],"
        "\"filters\":{\"refuse_seconds\":0}}}",
        o->id->value, id, id, o->agent_id->value, resources, cmd);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
}

static void task_handed_to_a_running_default_executor_gets_its_volume(void **state)
{
    struct fixture *f = *state;
    struct h_sched *s = &f->s;
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("web", "\"role\":\"web\","
                                                               "\"principal\":\"ops\"")), 200);
    Tepui__Scheduler__Event *ev = h_sched_next(s, EV(OFFERS), 10);
    assert_non_null(ev);
    accept_ops(s, ev->offers->offers[0],
               "[{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[" RESERVED_DISK(64) "]}},"
               "{\"type\":\"CREATE\",\"create\":{\"volumes\":[" VOLUME("v1", "data", 64) "]}}]");
    pb_free(ev);
    ev = offer_with_volume(s, "v1");
    char seed[800];
    snprintf(seed, sizeof(seed), "%s/volumes/roles/web/v1/seed.txt", f->c.agents[0].dir);
    FILE *fp = fopen(seed, "w");
    assert_non_null(fp);
    fputs("seeded\n", fp);
    fclose(fp);

    /* The executor runs a first task that has no volume. */
    launch_on_pod(s, ev->offers->offers[0], "first", "sleep 60", SMALL);
    pb_free(ev);
    Tepui__TaskStatus *st = h_sched_wait_state(s, "first", ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
    assert_false(mounted_under("tasks/"));

    /* A second group lands on the running executor with the volume: the
     * task finds the volume's files in its own sandbox. */
    ev = offer_with_volume(s, "v1");
    launch_on_pod(s, ev->offers->offers[0], "second",
                  "grep -q seeded data/seed.txt && echo back > data/back.txt",
                  TASK_RES(VOLUME("v1", "data", 64)));
    pb_free(ev);
    st = h_sched_wait_state(s, "second", ST(FINISHED), 20);
    assert_non_null(st);
    pb_free(st);
    char back[800];
    snprintf(back, sizeof(back), "%s/volumes/roles/web/v1/back.txt", f->c.agents[0].dir);
    assert_true(exists(back));

    /* Once no task uses it the mount goes, while the executor runs on. */
    assert_true(h_wait_until(unmounted, "tasks/second/data", 10));
    json_t *js = h_get_json(f->c.master.port, "/state");
    json_t *fw = json_array_get(json_object_get(js, "frameworks"), 0);
    assert_int_equal(json_array_size(json_object_get(fw, "tasks")), 1);
    json_decref(js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(volume_outlives_its_tasks_and_is_destroyed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_volumes_and_volumes_in_use_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(task_handed_to_a_running_default_executor_gets_its_volume,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
