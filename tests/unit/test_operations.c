/* Offer operations as resource arithmetic (master/operations.c): RESERVE,
 * UNRESERVE (with refinement), CREATE and DESTROY of persistent volumes,
 * and the validation Mesos applies to each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/resources.h"
#include "master/operations.h"
#include "wire/json.h"

/* ---- helpers ---- */

static const struct operation_actor any_operator = {0};

static char *const web_roles[] = {"web"};
static const struct operation_actor web_framework = {
    .roles = web_roles, .n_roles = 1, .principal = "ops", .refinement = 0, .shared = 0,
};

static int op_from_json(const char *json, const struct operation_actor *who,
                        struct operation *op, struct error *err)
{
    struct error jerr = {0};
    Tepui__Offer__Operation *p = (Tepui__Offer__Operation *)wire_json_decode(
        &tepui__offer__operation__descriptor, json, strlen(json), &jerr);
    if (p == NULL)
        fail_msg("bad test JSON: %s", jerr.msg);
    int rc = operation_from_offer_operation(p, who, op, err);
    protobuf_c_message_free_unpacked(&p->base, NULL);
    return rc;
}

static void op_ok(const char *json, const struct operation_actor *who, struct operation *op)
{
    struct error err = {0};
    if (op_from_json(json, who, op, &err) != 0)
        fail_msg("operation %s failed: %s", json, err.msg);
}

static void op_fails(const char *json, const struct operation_actor *who, const char *want)
{
    struct operation op;
    struct error err = {0};
    int rc = op_from_json(json, who, &op, &err);
    operation_free(&op);
    if (rc == 0)
        fail_msg("operation %s was accepted", json);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error '%s' does not mention '%s'", err.msg, want);
}

static void parse_ok(const char *text, struct resources *r)
{
    struct error err = {0};
    if (resources_parse(text, NULL, r, &err) != 0)
        fail_msg("parsing '%s' failed: %s", text, err.msg);
}

static double reserved(const struct resources *r, const char *role, const char *name)
{
    struct resources sel = RESOURCES_INIT;
    resources_reserved_to(r, role, &sel);
    double v = resources_scalar_to_double(resources_scalar(&sel, name));
    resources_free(&sel);
    return v;
}

#define RESERVE_WEB_CPUS(n, principal)                                                        \
    "{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\"," \
    "\"scalar\":{\"value\":" #n "},\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"web\","  \
    "\"principal\":\"" principal "\"}]}]}}"

#define UNRESERVE_WEB_CPUS(n, principal)                                                      \
    "{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"       \
    "\"SCALAR\",\"scalar\":{\"value\":" #n "},\"reservations\":[{\"type\":\"DYNAMIC\","         \
    "\"role\":\"web\",\"principal\":\"" principal "\"}]}]}}"

#define RESERVED_DISK "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"web\",\"principal\":\"ops\"}]"

#define VOLUME(kind, field, id, path, size, extra)                                            \
    "{\"type\":\"" kind "\",\"" field "\":{\"volumes\":[{\"name\":\"disk\",\"type\":\"SCALAR\"," \
    "\"scalar\":{\"value\":" #size "}," extra "\"disk\":{\"persistence\":{\"id\":\"" id "\"," \
    "\"principal\":\"ops\"},\"volume\":{\"container_path\":\"" path "\",\"mode\":\"RW\"}}}]}}"

/* ---- reservations ---- */

static void reserve_then_unreserve_round_trips(void **state)
{
    (void)state;
    struct resources total = RESOURCES_INIT, before = RESOURCES_INIT;
    parse_ok("cpus:4;mem:1024", &total);
    resources_copy(&before, &total);
    struct operation op;
    struct error err = {0};

    op_ok(RESERVE_WEB_CPUS(2, "ops"), &web_framework, &op);
    assert_int_equal(op.kind, OPERATION_RESERVE);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);
    assert_true(reserved(&total, "web", "cpus") == 2.0);
    assert_int_equal(resources_scalar(&total, "cpus"), 4000);

    op_ok(UNRESERVE_WEB_CPUS(2, "ops"), &web_framework, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);
    assert_true(resources_equal(&total, &before));
    resources_free(&total);
    resources_free(&before);
}

static void unreserve_more_than_reserved_changes_nothing(void **state)
{
    (void)state;
    struct resources total = RESOURCES_INIT, before = RESOURCES_INIT;
    parse_ok("cpus:4", &total);
    struct operation op;
    struct error err = {0};
    op_ok(RESERVE_WEB_CPUS(1, "ops"), &web_framework, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);
    resources_copy(&before, &total);

    op_ok(UNRESERVE_WEB_CPUS(2, "ops"), &web_framework, &op);
    assert_int_equal(operation_apply(&total, &op, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "not available"));
    operation_free(&op);
    /* Another principal's reservation is another resource. */
    op_ok(UNRESERVE_WEB_CPUS(1, "other"), &any_operator, &op);
    assert_int_equal(operation_apply(&total, &op, &err), -ENOSPC);
    operation_free(&op);
    assert_true(resources_equal(&total, &before));
    resources_free(&total);
    resources_free(&before);
}

static void reserve_is_validated_as_mesos_does(void **state)
{
    (void)state;
    /* For a role the framework is not in. */
    op_fails("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\","
             "\"role\":\"db\",\"principal\":\"ops\"}]}]}}",
             &web_framework, "not one of the framework's roles");
    /* Another principal than the framework's. */
    op_fails(RESERVE_WEB_CPUS(1, "mallory"), &web_framework, "principal");
    /* An invalid role. */
    op_fails("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\","
             "\"role\":\"a/../b\"}]}]}}",
             &any_operator, "role");
    /* Not reserved at all, or statically. */
    op_fails("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":1}}]}}",
             &any_operator, "has no reservation");
    op_fails("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"STATIC\","
             "\"role\":\"web\"}]}]}}",
             &any_operator, "dynamically");
    op_fails("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[]}}", &any_operator,
             "no resources");
    /* Unreserving a static reservation. */
    op_fails("{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"STATIC\","
             "\"role\":\"web\"}]}]}}",
             &any_operator, "not dynamically reserved");
}

static void refinement_reserves_for_a_child_role(void **state)
{
    (void)state;
    struct resources total = RESOURCES_INIT;
    parse_ok("cpus:4", &total);
    struct operation op;
    struct error err = {0};
    op_ok("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
          "\"SCALAR\",\"scalar\":{\"value\":2},\"reservations\":[{\"type\":\"DYNAMIC\","
          "\"role\":\"eng\"}]}]}}",
          &any_operator, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);

    const char *refine =
        "{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
        "\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\","
        "\"role\":\"eng\"},{\"type\":\"DYNAMIC\",\"role\":\"eng/web\"}]}]}}";
    char *const roles[] = {"eng/web"};
    struct operation_actor fw = {.roles = roles, .n_roles = 1};
    op_fails(refine, &fw, "RESERVATION_REFINEMENT");
    fw.refinement = 1;
    op_ok(refine, &fw, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);
    assert_true(reserved(&total, "eng", "cpus") == 1.0);
    assert_true(reserved(&total, "eng/web", "cpus") == 1.0);

    /* Unreserving the refinement gives it back to the parent. */
    op_ok("{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
          "\"SCALAR\",\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\","
          "\"role\":\"eng\"},{\"type\":\"DYNAMIC\",\"role\":\"eng/web\"}]}]}}",
          &fw, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);
    assert_true(reserved(&total, "eng", "cpus") == 2.0);
    assert_true(reserved(&total, "eng/web", "cpus") == 0.0);
    resources_free(&total);
}

/* ---- persistent volumes ---- */

static void create_then_destroy_volume_round_trips(void **state)
{
    (void)state;
    struct resources total = RESOURCES_INIT, before = RESOURCES_INIT;
    parse_ok("cpus:1;disk:1000", &total);
    struct operation op;
    struct error err = {0};
    op_ok("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"disk\",\"type\":"
          "\"SCALAR\",\"scalar\":{\"value\":100}," RESERVED_DISK "}]}}",
          &web_framework, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);
    resources_copy(&before, &total);

    op_ok(VOLUME("CREATE", "create", "v1", "data", 64, RESERVED_DISK ","), &web_framework, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    assert_true(resources_contains(&total, &op.produced));
    /* The volume is taken whole from the reserved disk. */
    assert_true(reserved(&total, "web", "disk") == 100.0);
    /* The same id again on this agent is refused. */
    struct operation again;
    op_ok(VOLUME("CREATE", "create", "v1", "other", 10, RESERVED_DISK ","), &web_framework,
          &again);
    assert_int_equal(operation_apply(&total, &again, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "already in use"));
    assert_true(operation_volume_overlap(&again.produced, &total, NULL, 0));
    operation_free(&again);
    operation_free(&op);

    op_ok(VOLUME("DESTROY", "destroy", "v1", "data", 64, RESERVED_DISK ","), &web_framework, &op);
    assert_int_equal(operation_apply(&total, &op, &err), 0);
    operation_free(&op);
    assert_true(resources_equal(&total, &before));
    /* Gone: destroying it again finds nothing. */
    op_ok(VOLUME("DESTROY", "destroy", "v1", "data", 64, RESERVED_DISK ","), &web_framework, &op);
    assert_int_equal(operation_apply(&total, &op, &err), -ENOSPC);
    operation_free(&op);
    resources_free(&total);
    resources_free(&before);
}

static void bad_volumes_are_refused(void **state)
{
    (void)state;
    op_fails(VOLUME("CREATE", "create", "v1", "data", 10, ""), &any_operator, "unreserved disk");
    op_fails(VOLUME("CREATE", "create", "v1", "/abs", 10, RESERVED_DISK ","), &any_operator,
             "must be relative");
    op_fails(VOLUME("CREATE", "create", "v1", "a/../../b", 10, RESERVED_DISK ","), &any_operator,
             "'..'");
    op_fails(VOLUME("CREATE", "create", "..", "data", 10, RESERVED_DISK ","), &any_operator,
             "persistence id");
    op_fails("{\"type\":\"CREATE\",\"create\":{\"volumes\":[{\"name\":\"disk\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":5}," RESERVED_DISK "}]}}",
             &any_operator, "not a persistent volume");
    /* Two volumes with one id in one operation. */
    op_fails("{\"type\":\"CREATE\",\"create\":{\"volumes\":["
             "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":5}," RESERVED_DISK
             ",\"disk\":{\"persistence\":{\"id\":\"x\"},\"volume\":{\"container_path\":\"a\","
             "\"mode\":\"RW\"}}},"
             "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":6}," RESERVED_DISK
             ",\"disk\":{\"persistence\":{\"id\":\"x\"},\"volume\":{\"container_path\":\"b\","
             "\"mode\":\"RW\"}}}]}}",
             &any_operator, "given twice");
    /* A shared volume needs the capability. */
    op_fails(VOLUME("CREATE", "create", "v1", "data", 10, RESERVED_DISK ",\"shared\":{},"),
             &web_framework, "SHARED_RESOURCES");
    /* A persistent volume cannot be unreserved before it is destroyed. */
    op_fails("{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":[{\"name\":\"disk\",\"type\":"
             "\"SCALAR\",\"scalar\":{\"value\":5}," RESERVED_DISK ",\"disk\":{\"persistence\":"
             "{\"id\":\"x\"},\"volume\":{\"container_path\":\"a\",\"mode\":\"RW\"}}}]}}",
             &any_operator, "destroyed");
}

static void allocation_roles_are_dropped_for_the_agent_total(void **state)
{
    (void)state;
    struct operation op, plain;
    op_ok("{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[{\"name\":\"cpus\",\"type\":"
          "\"SCALAR\",\"scalar\":{\"value\":1},\"allocation_info\":{\"role\":\"web\"},"
          "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"web\",\"principal\":\"ops\"}]}]}}",
          &web_framework, &op);
    assert_string_equal(op.consumed.v[0].allocation_role, "web");
    operation_unallocated(&op, &plain);
    assert_null(plain.consumed.v[0].allocation_role);
    assert_null(plain.produced.v[0].allocation_role);
    assert_string_equal(plain.produced.v[0].reservation_role, "web");
    operation_free(&op);
    operation_free(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reserve_then_unreserve_round_trips),
        cmocka_unit_test(unreserve_more_than_reserved_changes_nothing),
        cmocka_unit_test(reserve_is_validated_as_mesos_does),
        cmocka_unit_test(refinement_reserves_for_a_child_role),
        cmocka_unit_test(create_then_destroy_volume_round_trips),
        cmocka_unit_test(bad_volumes_are_refused),
        cmocka_unit_test(allocation_roles_are_dropped_for_the_agent_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
