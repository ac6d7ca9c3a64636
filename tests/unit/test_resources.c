/* Resources: the text and JSON syntax, protobuf validation and conversion,
 * the arithmetic the allocator relies on, and the shapes shown to users,
 * following Apache Mesos's semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/resources.h"

/* ---- helpers -------------------------------------------------------------- */

static void parse_ok(const char *text, const char *default_role, struct resources *r)
{
    struct error err = {0};
    if (resources_parse(text, default_role, r, &err) != 0)
        fail_msg("parsing '%s' failed: %s", text, err.msg);
}

/* Parses text that must fail and checks the message mentions want. */
static void parse_fails(const char *text, const char *want)
{
    struct resources r = RESOURCES_INIT;
    struct error err = {0};
    int rc = resources_parse(text, NULL, &r, &err);
    if (rc == 0)
        fail_msg("parsing '%s' succeeded", text);
    assert_int_equal(rc, err.code);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error for '%s' is '%s', expected it to mention '%s'", text, err.msg, want);
    assert_true(resources_empty(&r));
    resources_free(&r);
}

static void assert_format(const struct resources *r, const char *want)
{
    struct buf b = BUF_INIT;
    resources_format(r, &b);
    assert_string_equal(buf_cstr(&b), want);
    buf_free(&b);
}

static void assert_parses_to(const char *text, const char *want)
{
    struct resources r = RESOURCES_INIT;
    parse_ok(text, NULL, &r);
    assert_format(&r, want);
    resources_free(&r);
}

static void from_proto_fails(Tepui__Resource *p, const char *want)
{
    struct resources r = RESOURCES_INIT;
    struct error err = {0};
    Tepui__Resource *v[] = {p};
    assert_int_not_equal(resources_from_proto(v, 1, &r, &err), 0);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error is '%s', expected it to mention '%s'", err.msg, want);
    resources_free(&r);
}

static void from_proto_ok(Tepui__Resource *p, struct resources *r)
{
    struct error err = {0};
    Tepui__Resource *v[] = {p};
    if (resources_from_proto(v, 1, r, &err) != 0)
        fail_msg("from_proto failed: %s", err.msg);
}

/* ---- text syntax ---------------------------------------------------------- */

static void parse_reads_scalars_ranges_and_sets(void **state)
{
    (void)state;
    assert_parses_to("cpus:4;mem:2048;ports:[31000-32000, 33000-34000];zones:{b,a}",
                     "cpus:4;mem:2048;ports:[31000-32000, 33000-34000];zones:{a, b}");
}

static void parse_tolerates_whitespace(void **state)
{
    (void)state;
    assert_parses_to("  cpus : 0.5 ; mem:\t1024 ; ports: [ 1 - 2 , 4-5 ] ; disk ( web ) : 7 ;",
                     "cpus:0.5;mem:1024;ports:[1-2, 4-5];disk(web):7");
}

static void parse_role_is_static_reservation(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("cpus(web):2", NULL, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.v[0].reservation_role, "web");

    size_t n;
    Tepui__Resource **p = resources_to_proto(&r, &n);
    assert_int_equal(n, 1);
    assert_int_equal(p[0]->n_reservations, 1);
    assert_true(p[0]->reservations[0]->has_type);
    assert_int_equal(p[0]->reservations[0]->type, TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC);
    assert_string_equal(p[0]->reservations[0]->role, "web");
    resources_proto_free(p, n);
    resources_free(&r);
}

static void parse_star_role_is_unreserved(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("cpus(*):2", "web", &r);
    assert_null(r.v[0].reservation_role);
    assert_null(r.v[0].identity);
    resources_free(&r);
}

static void parse_gives_default_role_only_to_items_without_role(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("cpus:1;mem(*):2;disk(ops):3", "web", &r);
    assert_format(&r, "cpus(web):1;mem:2;disk(ops):3");
    resources_free(&r);
}

static void parse_sums_repeated_names(void **state)
{
    (void)state;
    assert_parses_to("cpus:1;cpus:2.5;ports:[1-2];ports:[3-4];cpus(web):1",
                     "cpus:3.5;ports:[1-4];cpus(web):1");
}

static void parse_drops_zero_scalars_and_empty_values(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("cpus:0;ports:[];zones:{};mem:1", NULL, &r);
    assert_format(&r, "mem:1");
    resources_free(&r);
}

static void parse_of_empty_text_is_empty(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("", NULL, &r);
    assert_true(resources_empty(&r));
    assert_format(&r, "{}");
    resources_free(&r);
}

static void parse_coalesces_overlapping_text_ranges(void **state)
{
    (void)state;
    assert_parses_to("ports:[10-20, 1-5, 15-30, 6-8]", "ports:[1-8, 10-30]");
}

static void parse_rejects_negative_scalar(void **state)
{
    (void)state;
    parse_fails("cpus:-1", "resource 'cpus': scalar value must be non-negative");
}

static void parse_rejects_nan_and_infinity(void **state)
{
    (void)state;
    parse_fails("cpus:nan", "resource 'cpus'");
    parse_fails("cpus:inf", "resource 'cpus'");
    parse_fails("mem:1e999", "resource 'mem'");
}

static void parse_rejects_scalar_that_rounds_to_zero(void **state)
{
    (void)state;
    parse_fails("cpus:0.0001", "rounds to zero");
}

static void parse_rejects_inverted_range(void **state)
{
    (void)state;
    parse_fails("ports:[20-10]", "resource 'ports': range 20-10 has begin after end");
}

static void parse_rejects_malformed_range(void **state)
{
    (void)state;
    parse_fails("ports:[1-2", "resource 'ports'");
    parse_fails("ports:[1-x]", "resource 'ports'");
    parse_fails("ports:[-1-5]", "resource 'ports'");
    parse_fails("ports:[18446744073709551616-18446744073709551617]", "resource 'ports'");
}

static void parse_rejects_duplicate_set_items(void **state)
{
    (void)state;
    parse_fails("zones:{a,b,a}", "resource 'zones': set item 'a' is duplicated");
}

static void parse_rejects_one_name_with_two_types(void **state)
{
    (void)state;
    parse_fails("gpus:1;gpus:{a}", "resource 'gpus': the same name is used with two different types");
}

static void text_parse_errors_name_the_resource(void **state)
{
    (void)state;
    parse_fails("cpus:2;mem:lots", "resource 'mem': value 'lots' is not a scalar, ranges or set");
    parse_fails("cpus:2;mem", "resource 'mem': expected exactly one ':'");
    parse_fails("disk(web:2", "resource 'disk(web': mismatched parentheses");
    parse_fails(":2", "resource name must not be empty");
    parse_fails("cpus:", "resource 'cpus': value must not be empty");
}

static void parse_rejects_invalid_roles(void **state)
{
    (void)state;
    parse_fails("cpus(a//b):1", "must not contain '//'");
    parse_fails("cpus(-x):1", "starts with '-'");
    parse_fails("cpus(a/..):1", "'..'");
    parse_fails("cpus():1", "must not be empty");
    parse_fails("cpus(a/):1", "must not end with '/'");
}

static void parse_failure_leaves_out_untouched(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    struct error err = {0};
    parse_ok("cpus:1", NULL, &r);
    assert_int_not_equal(resources_parse("cpus:2;mem:-1", NULL, &r, &err), 0);
    assert_format(&r, "cpus:1");
    resources_free(&r);
}

static void parse_replaces_previous_contents(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("cpus:1", NULL, &r);
    parse_ok("mem:2", NULL, &r);
    assert_format(&r, "mem:2");
    resources_free(&r);
}

/* ---- JSON syntax ---------------------------------------------------------- */

static void parse_reads_json_array(void **state)
{
    (void)state;
    const char *json =
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":24}},"
        " {\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":24576.5}},"
        " {\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
        "[{\"begin\":30000,\"end\":34000},{\"begin\":21000,\"end\":24000}]}},"
        " {\"name\":\"bugs\",\"type\":\"SET\",\"set\":{\"item\":[\"c\",\"a\",\"b\"]},"
        "\"role\":\"debug_role\"},"
        " {\"name\":\"gpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
        "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"ml\"}]}]";
    assert_parses_to(json, "cpus:24;mem:24576.5;ports:[21000-24000, 30000-34000];"
                           "bugs(debug_role):{a, b, c};gpus(ml):1");
}

static void parse_json_gives_default_role_when_role_is_absent(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}},"
             " {\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2},\"role\":\"*\"}]",
             "web", &r);
    assert_format(&r, "cpus(web):1;mem:2");
    resources_free(&r);
}

static void parse_json_keeps_mount_disks_apart(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100},"
             "\"disk\":{\"source\":{\"type\":\"MOUNT\",\"mount\":{\"root\":\"/mnt/a\"}}}},"
             " {\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100},"
             "\"disk\":{\"source\":{\"type\":\"MOUNT\",\"mount\":{\"root\":\"/mnt/a\"}}}},"
             " {\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":5}}]",
             NULL, &r);
    /* A MOUNT disk is used whole, so two of them stay two entries. */
    assert_int_equal(r.n, 3);
    assert_true(r.v[0].flags & RES_EXCLUSIVE);
    assert_int_equal(resources_scalar(&r, "disk"), 205000);
    resources_free(&r);
}

static void parse_json_rejects_what_the_command_line_may_not_declare(void **state)
{
    (void)state;
    parse_fails("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"revocable\":{}}]",
                "resource 'cpus': revocable resources cannot be specified");
    parse_fails("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"web\"}]}]",
                "resource 'cpus': dynamic reservations cannot be specified");
    parse_fails("[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
                "\"role\":\"web\",\"disk\":{\"persistence\":{\"id\":\"v1\"}}}]",
                "resource 'disk': persistent volumes cannot be specified");
}

static void parse_json_errors_name_the_resource(void **state)
{
    (void)state;
    parse_fails("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":\"x\"}}]",
                "resource 'cpus': 'scalar.value' must be a number");
    parse_fails("[{\"name\":\"ports\",\"type\":\"RANGES\",\"scalar\":{\"value\":1}}]",
                "resource 'ports': a RANGES resource must set 'ranges'");
    parse_fails("[{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
                "[{\"begin\":1,\"end\":5},{\"begin\":3,\"end\":9}]}}]",
                "resource 'ports': ranges 1-5 and 3-9 overlap");
    parse_fails("[{\"type\":\"SCALAR\"}]", "resource 0: 'name' must be a string");
    parse_fails("[{\"name\":\"x\",\"type\":\"BOGUS\"}]", "resource 'x': 'type' must be");
    parse_fails("[{\"name\":\"cpus\"", "resources JSON");
}

/* ---- scalars -------------------------------------------------------------- */

static void scalars_round_to_thousandths_so_sums_do_not_drift(void **state)
{
    (void)state;
    struct resources sum = RESOURCES_INIT, tenth = RESOURCES_INIT;
    parse_ok("cpus:0.1", NULL, &tenth);
    for (int i = 0; i < 10000; i++)
        resources_add(&sum, &tenth);
    assert_int_equal(resources_scalar(&sum, "cpus"), 1000000);
    for (int i = 0; i < 9999; i++)
        resources_subtract(&sum, &tenth);
    assert_format(&sum, "cpus:0.1");
    resources_subtract(&sum, &tenth);
    assert_true(resources_empty(&sum));
    resources_free(&sum);
    resources_free(&tenth);
}

static void scalar_input_rounds_to_nearest_thousandth(void **state)
{
    (void)state;
    assert_int_equal(resources_scalar_from_double(1.5123), 1512);
    assert_int_equal(resources_scalar_from_double(1.5126), 1513);
    assert_int_equal(resources_scalar_from_double(0.1), 100);
    assert_true(resources_scalar_to_double(1512) == 1.512);
    assert_parses_to("cpus:1.5123", "cpus:1.512");
}

static void scalar_sums_over_identities(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("cpus:1;cpus(web):2.5;mem:10", NULL, &r);
    assert_int_equal(resources_scalar(&r, "cpus"), 3500);
    assert_int_equal(resources_scalar(&r, "gpus"), 0);
    resources_free(&r);
}

/* ---- add ------------------------------------------------------------------ */

static void add_merges_compatible_scalars(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus:1;mem:100", NULL, &a);
    parse_ok("mem:28;cpus:0.5;disk:7", NULL, &b);
    resources_add(&a, &b);
    assert_format(&a, "cpus:1.5;mem:128;disk:7");
    resources_free(&a);
    resources_free(&b);
}

static void reserved_resources_do_not_merge_with_unreserved(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus:1", NULL, &a);
    parse_ok("cpus(web):2;cpus(web/api):3", NULL, &b);
    resources_add(&a, &b);
    assert_int_equal(a.n, 3);
    assert_format(&a, "cpus:1;cpus(web):2;cpus(web/api):3");
    resources_free(&a);
    resources_free(&b);
}

static void allocated_resources_do_not_merge_across_roles(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus:1", NULL, &a);
    parse_ok("cpus:2", NULL, &b);
    resources_set_allocation_role(&a, "x");
    resources_set_allocation_role(&b, "y");
    resources_add(&a, &b);
    assert_format(&a, "cpus(allocated: x):1;cpus(allocated: y):2");
    resources_free(&a);
    resources_free(&b);
}

static void add_coalesces_adjacent_and_overlapping_ranges(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("ports:[1-5, 20-30]", NULL, &a);
    parse_ok("ports:[6-10, 25-40, 50-50]", NULL, &b);
    resources_add(&a, &b);
    assert_format(&a, "ports:[1-10, 20-40, 50-50]");
    resources_free(&a);
    resources_free(&b);
}

static void add_unites_sets(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("zones:{b,d}", NULL, &a);
    parse_ok("zones:{a,b,c,e}", NULL, &b);
    resources_add(&a, &b);
    assert_format(&a, "zones:{a, b, c, d, e}");
    resources_free(&a);
    resources_free(&b);
}

static void add_to_itself_doubles(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT;
    parse_ok("cpus:1;ports:[1-2]", NULL, &a);
    resources_add(&a, &a);
    assert_format(&a, "cpus:2;ports:[1-2]");
    resources_free(&a);
}

static void add_one_of_its_own_entries_doubles_it(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT;
    parse_ok("cpus:1;ports:[1-2];zones:{a}", NULL, &a);
    for (size_t i = 0; i < 3; i++)
        resources_add_one(&a, &a.v[i]);
    assert_format(&a, "cpus:2;ports:[1-2];zones:{a}");
    resources_free(&a);
}

static void ranges_at_the_ends_of_uint64_coalesce(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("r:[0-0, 18446744073709551615-18446744073709551615]", NULL, &a);
    parse_ok("r:[1-18446744073709551614]", NULL, &b);
    resources_add(&a, &b);
    assert_format(&a, "r:[0-18446744073709551615]");
    resources_subtract(&a, &b);
    assert_format(&a, "r:[0-0, 18446744073709551615-18446744073709551615]");
    resources_free(&a);
    resources_free(&b);
}

/* Random ranges of a small universe, checked against one bool per value,
 * so both the one-range-at-a-time and the merging paths are exercised. */
#define MODEL_SIZE 200

static uint32_t lcg_next(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void random_ranges(uint32_t *seed, struct resources *r, bool model[MODEL_SIZE])
{
    struct buf text = BUF_INIT;
    memset(model, 0, MODEL_SIZE);
    int n = 1 + (int)(lcg_next(seed) % 8);
    buf_append_str(&text, "p:[");
    for (int i = 0; i < n; i++) {
        int b = (int)(lcg_next(seed) % MODEL_SIZE);
        int e = b + (int)(lcg_next(seed) % 12);
        if (e >= MODEL_SIZE)
            e = MODEL_SIZE - 1;
        buf_printf(&text, "%s%d-%d", i ? "," : "", b, e);
        for (int k = b; k <= e; k++)
            model[k] = true;
    }
    buf_append_str(&text, "]");
    parse_ok(buf_cstr(&text), NULL, r);
    buf_free(&text);
}

static void assert_matches_model(const struct resources *r, const bool model[MODEL_SIZE])
{
    bool got[MODEL_SIZE] = {false};
    struct value_range *v;
    size_t n;
    resources_ranges(r, "p", &v, &n);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(v[i].begin > v[i - 1].end + 1); /* sorted, apart */
        for (uint64_t k = v[i].begin; k <= v[i].end; k++)
            got[k] = true;
    }
    free(v);
    assert_memory_equal(got, model, MODEL_SIZE);
}

static void range_arithmetic_matches_a_bitmap_model(void **state)
{
    (void)state;
    uint32_t seed = 42;
    struct resources x = RESOURCES_INIT, y = RESOURCES_INIT;
    bool model[MODEL_SIZE] = {false}, ym[MODEL_SIZE];
    for (int step = 0; step < 3000; step++) {
        random_ranges(&seed, &y, ym);
        bool holds = true;
        for (int k = 0; k < MODEL_SIZE; k++)
            if (ym[k] && !model[k])
                holds = false;
        assert_int_equal(resources_contains(&x, &y), holds);
        if (lcg_next(&seed) % 2) {
            resources_add(&x, &y);
            for (int k = 0; k < MODEL_SIZE; k++)
                model[k] = model[k] || ym[k];
        } else {
            resources_subtract(&x, &y);
            for (int k = 0; k < MODEL_SIZE; k++)
                model[k] = model[k] && !ym[k];
        }
        assert_matches_model(&x, model);
    }
    resources_free(&x);
    resources_free(&y);
}

/* ---- subtract ------------------------------------------------------------- */

static void subtract_splits_port_range(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("ports:[31000-32000]", NULL, &a);
    parse_ok("ports:[31000-31000, 31500-31510, 32000-32000]", NULL, &b);
    resources_subtract(&a, &b);
    assert_format(&a, "ports:[31001-31499, 31511-31999]");
    resources_free(&a);
    resources_free(&b);
}

static void subtract_many_single_ports_leaves_the_gaps(void **state)
{
    (void)state;
    /* More pieces than the stack scratch holds. */
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    struct buf text = BUF_INIT;
    parse_ok("ports:[0-199]", NULL, &a);
    buf_append_str(&text, "ports:[");
    for (int i = 0; i < 200; i += 2)
        buf_printf(&text, "%s%d-%d", i ? "," : "", i, i);
    buf_append_str(&text, "]");
    parse_ok(buf_cstr(&text), NULL, &b);
    resources_subtract(&a, &b);
    struct value_range *v;
    size_t n;
    resources_ranges(&a, "ports", &v, &n);
    assert_int_equal(n, 100);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].begin, 2 * i + 1);
        assert_int_equal(v[i].end, 2 * i + 1);
    }
    free(v);
    resources_add(&a, &b);
    assert_format(&a, "ports:[0-199]");
    buf_free(&text);
    resources_free(&a);
    resources_free(&b);
}

static void subtract_removes_exhausted_entries(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus:2;mem:10;ports:[1-3];zones:{a}", NULL, &a);
    parse_ok("cpus:2;ports:[1-3];zones:{a}", NULL, &b);
    resources_subtract(&a, &b);
    assert_format(&a, "mem:10");
    resources_free(&a);
    resources_free(&b);
}

static void subtract_ignores_what_is_not_held(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus:2;mem:10", NULL, &a);
    parse_ok("cpus(web):1;mem:20;disk:5;ports:[1-2]", NULL, &b);
    resources_subtract(&a, &b);
    /* Taking more mem than held empties it rather than going negative. */
    assert_format(&a, "cpus:2");
    resources_free(&a);
    resources_free(&b);
}

static void subtract_removes_set_items(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("zones:{a,b,c,d}", NULL, &a);
    parse_ok("zones:{b,d,x}", NULL, &b);
    resources_subtract(&a, &b);
    assert_format(&a, "zones:{a, c}");
    resources_free(&a);
    resources_free(&b);
}

static void subtract_from_itself_empties(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT;
    parse_ok("cpus:1;ports:[1-2]", NULL, &a);
    resources_subtract(&a, &a);
    assert_true(resources_empty(&a));
    resources_free(&a);
}

/* ---- contains and equal --------------------------------------------------- */

static int contains_text(const char *a_text, const char *b_text)
{
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok(a_text, NULL, &a);
    parse_ok(b_text, NULL, &b);
    int rc = resources_contains(&a, &b);
    resources_free(&a);
    resources_free(&b);
    return rc;
}

static void contains_compares_scalars(void **state)
{
    (void)state;
    assert_true(contains_text("cpus:2;mem:10", "cpus:2"));
    assert_true(contains_text("cpus:2;mem:10", ""));
    assert_false(contains_text("cpus:2;mem:10", "cpus:2.001"));
    assert_false(contains_text("cpus:2", "cpus:1;gpus:1"));
}

static void contains_checks_range_coverage(void **state)
{
    (void)state;
    assert_true(contains_text("ports:[1-10, 20-30]", "ports:[2-3, 20-30]"));
    assert_false(contains_text("ports:[1-10, 20-30]", "ports:[9-21]"));
    assert_false(contains_text("ports:[1-10]", "ports:[0-0]"));
    assert_false(contains_text("ports:[1-10]", "ports:[11-11]"));
}

static void contains_checks_set_subsets(void **state)
{
    (void)state;
    assert_true(contains_text("zones:{a,b,c}", "zones:{a,c}"));
    assert_false(contains_text("zones:{a,b,c}", "zones:{a,d}"));
}

static void contains_requires_the_same_reservation(void **state)
{
    (void)state;
    assert_false(contains_text("cpus:4", "cpus(web):1"));
    assert_false(contains_text("cpus(web):4", "cpus:1"));
    assert_true(contains_text("cpus(web):4;cpus:1", "cpus(web):2;cpus:1"));
}

static void equal_ignores_entry_order(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus:1;mem:2;ports:[1-2,3-4]", NULL, &a);
    parse_ok("ports:[1-4];mem:2;cpus:0.5;cpus:0.5", NULL, &b);
    assert_true(resources_equal(&a, &b));
    resources_free(&a);
    resources_free(&b);
}

static void equal_distinguishes_amounts_and_roles(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT, c = RESOURCES_INIT;
    parse_ok("cpus:2;mem:2", NULL, &a);
    parse_ok("cpus:1;mem:2", NULL, &b);
    parse_ok("cpus(web):2;mem:2", NULL, &c);
    assert_false(resources_equal(&a, &b));
    assert_false(resources_equal(&b, &a));
    assert_false(resources_equal(&a, &c));
    resources_free(&a);
    resources_free(&b);
    resources_free(&c);
}

/* ---- selections ----------------------------------------------------------- */

static void allocatable_includes_ancestor_reservations(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT, out = RESOURCES_INIT;
    parse_ok("cpus:1;cpus(a):2;cpus(a/b):3;cpus(a/b/c):4;cpus(ab):5;cpus(z):6", NULL, &r);
    resources_allocatable_to(&r, "a/b", &out);
    assert_format(&out, "cpus:1;cpus(a):2;cpus(a/b):3");
    resources_allocatable_to(&r, "a", &out);
    assert_format(&out, "cpus:1;cpus(a):2");
    resources_allocatable_to(&r, "q", &out);
    assert_format(&out, "cpus:1");
    resources_free(&r);
    resources_free(&out);
}

static void unreserved_and_reserved_to_select_by_reservation(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT, out = RESOURCES_INIT;
    parse_ok("cpus:1;mem(web):2;disk(ops):3", NULL, &r);
    resources_unreserved(&r, &out);
    assert_format(&out, "cpus:1");
    resources_reserved_to(&r, "web", &out);
    assert_format(&out, "mem(web):2");
    resources_reserved_to(&r, NULL, &out);
    assert_format(&out, "mem(web):2;disk(ops):3");
    /* dst may be the source. */
    resources_unreserved(&r, &r);
    assert_format(&r, "cpus:1");
    resources_free(&r);
    resources_free(&out);
}

static void clearing_allocation_role_merges_entries(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus:1;ports:[1-2]", NULL, &a);
    parse_ok("cpus:2;ports:[3-4]", NULL, &b);
    resources_set_allocation_role(&a, "x");
    resources_set_allocation_role(&b, "y");
    resources_add(&a, &b);
    assert_int_equal(a.n, 4);
    resources_set_allocation_role(&a, NULL);
    assert_format(&a, "cpus:3;ports:[1-4]");
    resources_free(&a);
    resources_free(&b);
}

static void ranges_merges_over_identities(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("ports:[1-5];ports(web):[6-9, 20-21]", NULL, &r);
    struct value_range *v;
    size_t n;
    resources_ranges(&r, "ports", &v, &n);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].begin, 1);
    assert_int_equal(v[0].end, 9);
    assert_int_equal(v[1].begin, 20);
    free(v);
    resources_ranges(&r, "other", &v, &n);
    assert_int_equal(n, 0);
    assert_null(v);
    resources_free(&r);
}

static void copy_is_independent(void **state)
{
    (void)state;
    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    parse_ok("cpus(web):1;zones:{a}", NULL, &a);
    resources_copy(&b, &a);
    resources_add(&b, &a);
    assert_format(&a, "cpus(web):1;zones:{a}");
    assert_format(&b, "cpus(web):2;zones:{a}");
    resources_free(&a);
    resources_free(&b);
}

/* ---- protobuf ------------------------------------------------------------- */

static void from_proto_converts_pre_refinement_role(void **state)
{
    (void)state;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    one.value = 1;
    Tepui__Resource old = TEPUI__RESOURCE__INIT;
    old.name = "cpus";
    old.scalar = &one;
    old.role = "eng";

    Tepui__Resource__ReservationInfo stat = TEPUI__RESOURCE__RESERVATION_INFO__INIT;
    stat.has_type = 1;
    stat.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
    stat.role = "eng";
    Tepui__Resource__ReservationInfo *stack[] = {&stat};
    Tepui__Resource post = TEPUI__RESOURCE__INIT;
    post.name = "cpus";
    post.scalar = &one;
    post.n_reservations = 1;
    post.reservations = stack;

    struct resources a = RESOURCES_INIT, b = RESOURCES_INIT;
    from_proto_ok(&old, &a);
    from_proto_ok(&post, &b);
    assert_string_equal(a.v[0].reservation_role, "eng");
    /* The same identity bytes, so the two merge. */
    assert_true(resources_equal(&a, &b));
    resources_add(&a, &b);
    assert_format(&a, "cpus(eng):2");

    size_t n;
    Tepui__Resource **p = resources_to_proto(&a, &n);
    assert_int_equal(p[0]->n_reservations, 1);
    assert_int_equal(p[0]->reservations[0]->type, TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC);
    assert_null(p[0]->reservation);
    assert_true(p[0]->role == NULL || p[0]->role == tepui__resource__role__default_value);
    resources_proto_free(p, n);
    resources_free(&a);
    resources_free(&b);
}

static void from_proto_converts_pre_refinement_dynamic_reservation(void **state)
{
    (void)state;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    one.value = 1;
    Tepui__Resource__ReservationInfo info = TEPUI__RESOURCE__RESERVATION_INFO__INIT;
    info.principal = "ops";
    Tepui__Resource old = TEPUI__RESOURCE__INIT;
    old.name = "cpus";
    old.scalar = &one;
    old.role = "eng";
    old.reservation = &info;

    struct resources r = RESOURCES_INIT;
    from_proto_ok(&old, &r);
    size_t n;
    Tepui__Resource **p = resources_to_proto(&r, &n);
    assert_int_equal(p[0]->n_reservations, 1);
    assert_int_equal(p[0]->reservations[0]->type, TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC);
    assert_string_equal(p[0]->reservations[0]->role, "eng");
    assert_string_equal(p[0]->reservations[0]->principal, "ops");
    resources_proto_free(p, n);
    resources_free(&r);

    /* Dynamically reserving to "*" makes no sense. */
    old.role = "*";
    from_proto_fails(&old, "resource 'cpus': role '*' cannot be dynamically reserved");
}

static void from_proto_accepts_refined_reservation_stack(void **state)
{
    (void)state;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    one.value = 1;
    Tepui__Resource__ReservationInfo r0 = TEPUI__RESOURCE__RESERVATION_INFO__INIT;
    r0.has_type = 1;
    r0.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
    r0.role = "eng";
    Tepui__Resource__ReservationInfo r1 = r0;
    r1.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC;
    r1.role = "eng/web";
    Tepui__Resource__ReservationInfo *stack[] = {&r0, &r1};
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "cpus";
    p.scalar = &one;
    p.n_reservations = 2;
    p.reservations = stack;

    struct resources r = RESOURCES_INIT, out = RESOURCES_INIT;
    from_proto_ok(&p, &r);
    assert_string_equal(r.v[0].reservation_role, "eng/web");
    resources_allocatable_to(&r, "eng", &out);
    assert_true(resources_empty(&out));
    resources_allocatable_to(&r, "eng/web/x", &out);
    assert_int_equal(out.n, 1);
    resources_free(&r);
    resources_free(&out);
}

static void from_proto_rejects_refinement_that_is_not_a_child(void **state)
{
    (void)state;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    one.value = 1;
    Tepui__Resource__ReservationInfo r0 = TEPUI__RESOURCE__RESERVATION_INFO__INIT;
    r0.has_type = 1;
    r0.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC;
    r0.role = "eng";
    Tepui__Resource__ReservationInfo r1 = r0;
    r1.role = "engine/web";
    Tepui__Resource__ReservationInfo *stack[] = {&r0, &r1};
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "cpus";
    p.scalar = &one;
    p.n_reservations = 2;
    p.reservations = stack;
    from_proto_fails(&p, "resource 'cpus': reservation role 'engine/web' is not a refinement of 'eng'");

    r1.role = "eng/web";
    r1.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
    from_proto_fails(&p, "cannot be STATIC");

    r1.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC;
    r1.role = NULL;
    from_proto_fails(&p, "resource 'cpus': reservation 1 must have a role");
}

static void from_proto_rejects_type_value_mismatch(void **state)
{
    (void)state;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    one.value = 1;
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "ports";
    p.type = TEPUI__VALUE__TYPE__RANGES;
    p.scalar = &one;
    from_proto_fails(&p, "resource 'ports': a RANGES resource must set 'ranges'");

    p.type = TEPUI__VALUE__TYPE__TEXT;
    from_proto_fails(&p, "resource 'ports': unsupported value type");

    p.type = TEPUI__VALUE__TYPE__SCALAR;
    p.name = "";
    from_proto_fails(&p, "resource name must not be empty");
}

static void from_proto_rejects_bad_values(void **state)
{
    (void)state;
    Tepui__Value__Scalar s = TEPUI__VALUE__SCALAR__INIT;
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "cpus";
    p.scalar = &s;
    s.value = -0.5;
    from_proto_fails(&p, "resource 'cpus': scalar value must be non-negative");
    s.value = INFINITY;
    from_proto_fails(&p, "resource 'cpus': scalar value must be finite");
    s.value = 1e300;
    from_proto_fails(&p, "resource 'cpus': scalar value 1e+300 is too large");

    Tepui__Value__Range r0 = TEPUI__VALUE__RANGE__INIT, r1 = TEPUI__VALUE__RANGE__INIT;
    r0.begin = 10;
    r0.end = 5;
    Tepui__Value__Range *rv[] = {&r0, &r1};
    Tepui__Value__Ranges ranges = TEPUI__VALUE__RANGES__INIT;
    ranges.n_range = 1;
    ranges.range = rv;
    Tepui__Resource q = TEPUI__RESOURCE__INIT;
    q.name = "ports";
    q.type = TEPUI__VALUE__TYPE__RANGES;
    q.ranges = &ranges;
    from_proto_fails(&q, "resource 'ports': range 10-5 has begin after end");

    char *items[] = {"a", "b", "a"};
    Tepui__Value__Set set = TEPUI__VALUE__SET__INIT;
    set.n_item = 3;
    set.item = items;
    Tepui__Resource t = TEPUI__RESOURCE__INIT;
    t.name = "zones";
    t.type = TEPUI__VALUE__TYPE__SET;
    t.set = &set;
    from_proto_fails(&t, "resource 'zones': set item 'a' is duplicated");
}

static void from_proto_accepts_adjacent_ranges_and_coalesces_them(void **state)
{
    (void)state;
    Tepui__Value__Range r0 = TEPUI__VALUE__RANGE__INIT, r1 = TEPUI__VALUE__RANGE__INIT;
    r0.begin = 6;
    r0.end = 9;
    r1.begin = 1;
    r1.end = 5;
    Tepui__Value__Range *rv[] = {&r0, &r1};
    Tepui__Value__Ranges ranges = TEPUI__VALUE__RANGES__INIT;
    ranges.n_range = 2;
    ranges.range = rv;
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "ports";
    p.type = TEPUI__VALUE__TYPE__RANGES;
    p.ranges = &ranges;
    struct resources r = RESOURCES_INIT;
    from_proto_ok(&p, &r);
    assert_format(&r, "ports:[1-9]");
    resources_free(&r);
}

static void from_proto_requires_shared_to_be_a_persistent_volume(void **state)
{
    (void)state;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    one.value = 1;
    Tepui__Resource__SharedInfo shared = TEPUI__RESOURCE__SHARED_INFO__INIT;
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "cpus";
    p.scalar = &one;
    p.shared = &shared;
    from_proto_fails(&p, "resource 'cpus': only persistent volumes can be shared");
}

/* A resource with every identity field set, for the round trip. */
struct full {
    Tepui__Value__Scalar scalar;
    Tepui__ResourceProviderID provider;
    Tepui__Resource__ReservationInfo r0, r1;
    Tepui__Resource__ReservationInfo *stack[2];
    Tepui__Label label;
    Tepui__Label *labelv[1];
    Tepui__Labels labels;
    Tepui__Resource__DiskInfo disk;
    Tepui__Resource__DiskInfo__Persistence persistence;
    Tepui__Resource__DiskInfo__Source source;
    Tepui__Resource__DiskInfo__Source__Mount mount;
    Tepui__Resource__AllocationInfo alloc;
    Tepui__Resource res;
};

static void full_init(struct full *f)
{
    tepui__value__scalar__init(&f->scalar);
    f->scalar.value = 2048;
    tepui__resource_provider_id__init(&f->provider);
    f->provider.value = "rp-1";
    tepui__label__init(&f->label);
    f->label.key = "k";
    f->label.value = "v";
    f->labelv[0] = &f->label;
    tepui__labels__init(&f->labels);
    f->labels.n_labels = 1;
    f->labels.labels = f->labelv;
    tepui__resource__reservation_info__init(&f->r0);
    f->r0.has_type = 1;
    f->r0.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
    f->r0.role = "eng";
    tepui__resource__reservation_info__init(&f->r1);
    f->r1.has_type = 1;
    f->r1.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC;
    f->r1.role = "eng/db";
    f->r1.principal = "alice";
    f->r1.labels = &f->labels;
    f->stack[0] = &f->r0;
    f->stack[1] = &f->r1;
    tepui__resource__disk_info__persistence__init(&f->persistence);
    f->persistence.id = "vol-1";
    tepui__resource__disk_info__source__mount__init(&f->mount);
    f->mount.root = "/mnt/a";
    tepui__resource__disk_info__source__init(&f->source);
    f->source.type = TEPUI__RESOURCE__DISK_INFO__SOURCE__TYPE__MOUNT;
    f->source.mount = &f->mount;
    tepui__resource__disk_info__init(&f->disk);
    f->disk.persistence = &f->persistence;
    f->disk.source = &f->source;
    tepui__resource__allocation_info__init(&f->alloc);
    f->alloc.role = "eng/db/x";
    tepui__resource__init(&f->res);
    f->res.name = "disk";
    f->res.scalar = &f->scalar;
    f->res.provider_id = &f->provider;
    f->res.n_reservations = 2;
    f->res.reservations = f->stack;
    f->res.disk = &f->disk;
    f->res.allocation_info = &f->alloc;
}

static void proto_round_trip_keeps_every_field(void **state)
{
    (void)state;
    struct full f;
    full_init(&f);
    struct resources r = RESOURCES_INIT, back = RESOURCES_INIT;
    from_proto_ok(&f.res, &r);
    assert_string_equal(r.v[0].reservation_role, "eng/db");
    assert_string_equal(r.v[0].allocation_role, "eng/db/x");
    assert_true(r.v[0].flags & RES_EXCLUSIVE);

    size_t n;
    Tepui__Resource **p = resources_to_proto(&r, &n);
    assert_int_equal(n, 1);
    Tepui__Resource *q = p[0];
    assert_string_equal(q->name, "disk");
    assert_int_equal(q->type, TEPUI__VALUE__TYPE__SCALAR);
    assert_true(q->scalar->value == 2048.0);
    assert_string_equal(q->provider_id->value, "rp-1");
    assert_int_equal(q->n_reservations, 2);
    assert_string_equal(q->reservations[1]->role, "eng/db");
    assert_string_equal(q->reservations[1]->principal, "alice");
    assert_string_equal(q->reservations[1]->labels->labels[0]->key, "k");
    assert_string_equal(q->disk->persistence->id, "vol-1");
    assert_string_equal(q->disk->source->mount->root, "/mnt/a");
    assert_string_equal(q->allocation_info->role, "eng/db/x");
    assert_null(q->revocable);

    /* And back again: the same resources, bytewise the same packing. */
    from_proto_ok(q, &back);
    assert_true(resources_equal(&r, &back));
    size_t a_len = protobuf_c_message_get_packed_size(&f.res.base);
    size_t b_len = protobuf_c_message_get_packed_size(&q->base);
    assert_int_equal(a_len, b_len);
    uint8_t *a_bytes = malloc(a_len), *b_bytes = malloc(b_len);
    protobuf_c_message_pack(&f.res.base, a_bytes);
    protobuf_c_message_pack(&q->base, b_bytes);
    assert_memory_equal(a_bytes, b_bytes, a_len);
    free(a_bytes);
    free(b_bytes);
    resources_proto_free(p, n);
    resources_free(&r);
    resources_free(&back);
}

static void proto_round_trip_of_plain_text_resources(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT, back = RESOURCES_INIT;
    parse_ok("cpus:1.25;ports:[1-2, 5-9];zones:{a,b};mem(web):4", NULL, &r);
    size_t n;
    Tepui__Resource **p = resources_to_proto(&r, &n);
    assert_int_equal(n, 4);
    assert_int_equal(p[1]->ranges->n_range, 2);
    assert_int_equal(p[1]->ranges->range[1]->begin, 5);
    assert_int_equal(p[2]->set->n_item, 2);
    assert_null(p[0]->allocation_info);
    struct error err = {0};
    assert_int_equal(resources_from_proto(p, n, &back, &err), 0);
    assert_true(resources_equal(&r, &back));
    assert_format(&back, "cpus:1.25;ports:[1-2, 5-9];zones:{a, b};mem(web):4");
    resources_proto_free(p, n);
    resources_free(&r);
    resources_free(&back);
}

static void persistent_volumes_do_not_merge_and_leave_whole(void **state)
{
    (void)state;
    struct full f;
    full_init(&f);
    f.res.allocation_info = NULL;
    struct resources one = RESOURCES_INIT, sum = RESOURCES_INIT;
    from_proto_ok(&f.res, &one);
    resources_add(&sum, &one);
    resources_add(&sum, &one);
    assert_int_equal(sum.n, 2);
    assert_true(resources_contains(&sum, &one));

    /* A smaller piece of the volume is not the volume. */
    struct resources part = RESOURCES_INIT;
    f.scalar.value = 1024;
    from_proto_ok(&f.res, &part);
    assert_false(resources_contains(&sum, &part));
    resources_subtract(&sum, &part);
    assert_int_equal(sum.n, 2);

    resources_subtract(&sum, &one);
    assert_int_equal(sum.n, 1);
    assert_true(resources_equal(&sum, &one));
    resources_free(&one);
    resources_free(&sum);
    resources_free(&part);
}

static void shared_volumes_count_copies(void **state)
{
    (void)state;
    struct full f;
    full_init(&f);
    Tepui__Resource__SharedInfo shared = TEPUI__RESOURCE__SHARED_INFO__INIT;
    f.res.shared = &shared;
    f.res.allocation_info = NULL;
    struct resources one = RESOURCES_INIT, two = RESOURCES_INIT, three = RESOURCES_INIT;
    from_proto_ok(&f.res, &one);
    assert_true(one.v[0].flags & RES_SHARED);
    resources_add(&two, &one);
    resources_add(&two, &one);
    resources_copy(&three, &two);
    resources_add(&three, &one);
    assert_int_equal(three.n, 3);
    /* Sums and the state view count the volume once, as Mesos does. */
    assert_int_equal(resources_scalar(&three, "disk"), 2048000);
    json_t *j = resources_to_state_json(&three);
    assert_true(json_real_value(json_object_get(j, "disk")) == 2048.0);
    json_decref(j);
    assert_true(resources_contains(&three, &two));
    assert_false(resources_contains(&two, &three));
    resources_subtract(&three, &one);
    assert_true(resources_equal(&three, &two));
    resources_free(&one);
    resources_free(&two);
    resources_free(&three);
}

/* ---- output --------------------------------------------------------------- */

static void format_shows_roles_allocation_and_flags(void **state)
{
    (void)state;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    one.value = 0.125;
    Tepui__Resource__RevocableInfo rev = TEPUI__RESOURCE__REVOCABLE_INFO__INIT;
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "cpus";
    p.scalar = &one;
    p.revocable = &rev;
    p.role = "web";
    struct resources r = RESOURCES_INIT;
    from_proto_ok(&p, &r);
    resources_set_allocation_role(&r, "web");
    assert_format(&r, "cpus(allocated: web)(web){REV}:0.125");
    resources_free(&r);
}

static void state_json_has_mesos_shape(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    parse_ok("cpus:1.5;cpus(web):0.5;mem:1024;ports:[33000-34000];ports(web):[31000-32000];"
             "zones:{b,a}",
             NULL, &r);
    json_t *j = resources_to_state_json(&r);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"cpus\":2.0,\"disk\":0.0,\"gpus\":0.0,\"mem\":1024.0,"
                              "\"ports\":\"[31000-32000, 33000-34000]\",\"zones\":\"{a, b}\"}");
    assert_true(json_is_real(json_object_get(j, "disk")));
    free(text);
    json_decref(j);
    resources_free(&r);
}

static void state_json_of_nothing_has_the_four_zeros(void **state)
{
    (void)state;
    struct resources r = RESOURCES_INIT;
    json_t *j = resources_to_state_json(&r);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"cpus\":0.0,\"disk\":0.0,\"gpus\":0.0,\"mem\":0.0}");
    free(text);
    json_decref(j);
}

static void state_json_reports_revocable_separately(void **state)
{
    (void)state;
    Tepui__Value__Scalar two = TEPUI__VALUE__SCALAR__INIT;
    two.value = 2;
    Tepui__Resource__RevocableInfo rev = TEPUI__RESOURCE__REVOCABLE_INFO__INIT;
    Tepui__Resource p = TEPUI__RESOURCE__INIT;
    p.name = "cpus";
    p.scalar = &two;
    p.revocable = &rev;
    Tepui__Resource q = TEPUI__RESOURCE__INIT;
    q.name = "cpus";
    q.scalar = &two;
    Tepui__Resource *v[] = {&p, &q};
    struct resources r = RESOURCES_INIT;
    struct error err = {0};
    assert_int_equal(resources_from_proto(v, 2, &r, &err), 0);
    assert_int_equal(r.n, 2);
    json_t *j = resources_to_state_json(&r);
    assert_true(json_real_value(json_object_get(j, "cpus")) == 2.0);
    assert_true(json_real_value(json_object_get(j, "cpus_revocable")) == 2.0);
    json_decref(j);
    resources_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_reads_scalars_ranges_and_sets),
        cmocka_unit_test(parse_tolerates_whitespace),
        cmocka_unit_test(parse_role_is_static_reservation),
        cmocka_unit_test(parse_star_role_is_unreserved),
        cmocka_unit_test(parse_gives_default_role_only_to_items_without_role),
        cmocka_unit_test(parse_sums_repeated_names),
        cmocka_unit_test(parse_drops_zero_scalars_and_empty_values),
        cmocka_unit_test(parse_of_empty_text_is_empty),
        cmocka_unit_test(parse_coalesces_overlapping_text_ranges),
        cmocka_unit_test(parse_rejects_negative_scalar),
        cmocka_unit_test(parse_rejects_nan_and_infinity),
        cmocka_unit_test(parse_rejects_scalar_that_rounds_to_zero),
        cmocka_unit_test(parse_rejects_inverted_range),
        cmocka_unit_test(parse_rejects_malformed_range),
        cmocka_unit_test(parse_rejects_duplicate_set_items),
        cmocka_unit_test(parse_rejects_one_name_with_two_types),
        cmocka_unit_test(text_parse_errors_name_the_resource),
        cmocka_unit_test(parse_rejects_invalid_roles),
        cmocka_unit_test(parse_failure_leaves_out_untouched),
        cmocka_unit_test(parse_replaces_previous_contents),
        cmocka_unit_test(parse_reads_json_array),
        cmocka_unit_test(parse_json_gives_default_role_when_role_is_absent),
        cmocka_unit_test(parse_json_keeps_mount_disks_apart),
        cmocka_unit_test(parse_json_rejects_what_the_command_line_may_not_declare),
        cmocka_unit_test(parse_json_errors_name_the_resource),
        cmocka_unit_test(scalars_round_to_thousandths_so_sums_do_not_drift),
        cmocka_unit_test(scalar_input_rounds_to_nearest_thousandth),
        cmocka_unit_test(scalar_sums_over_identities),
        cmocka_unit_test(add_merges_compatible_scalars),
        cmocka_unit_test(reserved_resources_do_not_merge_with_unreserved),
        cmocka_unit_test(allocated_resources_do_not_merge_across_roles),
        cmocka_unit_test(add_coalesces_adjacent_and_overlapping_ranges),
        cmocka_unit_test(add_unites_sets),
        cmocka_unit_test(add_to_itself_doubles),
        cmocka_unit_test(add_one_of_its_own_entries_doubles_it),
        cmocka_unit_test(ranges_at_the_ends_of_uint64_coalesce),
        cmocka_unit_test(range_arithmetic_matches_a_bitmap_model),
        cmocka_unit_test(subtract_splits_port_range),
        cmocka_unit_test(subtract_many_single_ports_leaves_the_gaps),
        cmocka_unit_test(subtract_removes_exhausted_entries),
        cmocka_unit_test(subtract_ignores_what_is_not_held),
        cmocka_unit_test(subtract_removes_set_items),
        cmocka_unit_test(subtract_from_itself_empties),
        cmocka_unit_test(contains_compares_scalars),
        cmocka_unit_test(contains_checks_range_coverage),
        cmocka_unit_test(contains_checks_set_subsets),
        cmocka_unit_test(contains_requires_the_same_reservation),
        cmocka_unit_test(equal_ignores_entry_order),
        cmocka_unit_test(equal_distinguishes_amounts_and_roles),
        cmocka_unit_test(allocatable_includes_ancestor_reservations),
        cmocka_unit_test(unreserved_and_reserved_to_select_by_reservation),
        cmocka_unit_test(clearing_allocation_role_merges_entries),
        cmocka_unit_test(ranges_merges_over_identities),
        cmocka_unit_test(copy_is_independent),
        cmocka_unit_test(from_proto_converts_pre_refinement_role),
        cmocka_unit_test(from_proto_converts_pre_refinement_dynamic_reservation),
        cmocka_unit_test(from_proto_accepts_refined_reservation_stack),
        cmocka_unit_test(from_proto_rejects_refinement_that_is_not_a_child),
        cmocka_unit_test(from_proto_rejects_type_value_mismatch),
        cmocka_unit_test(from_proto_rejects_bad_values),
        cmocka_unit_test(from_proto_accepts_adjacent_ranges_and_coalesces_them),
        cmocka_unit_test(from_proto_requires_shared_to_be_a_persistent_volume),
        cmocka_unit_test(proto_round_trip_keeps_every_field),
        cmocka_unit_test(proto_round_trip_of_plain_text_resources),
        cmocka_unit_test(persistent_volumes_do_not_merge_and_leave_whole),
        cmocka_unit_test(shared_volumes_count_copies),
        cmocka_unit_test(format_shows_roles_allocation_and_flags),
        cmocka_unit_test(state_json_has_mesos_shape),
        cmocka_unit_test(state_json_of_nothing_has_the_four_zeros),
        cmocka_unit_test(state_json_reports_revocable_separately),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
