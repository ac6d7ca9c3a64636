/* The master's bounded history of a framework's completed tasks: a task that
 * comes back (its agent re-registered) leaves it, and the rest keep their
 * oldest-first order whether or not the ring had wrapped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "master/master.h"

static Tepui__Task *task_named(const char *id)
{
    Tepui__Task *t = xmalloc(sizeof(*t));
    tepui__task__init(t);
    t->task_id = xmalloc(sizeof(*t->task_id));
    tepui__task_id__init(t->task_id);
    t->task_id->value = xstrdup(id);
    return t;
}

/* A full ring of 4 whose oldest entry sits at index 2: c, d, a, b. */
static void fill_wrapped(struct framework *f)
{
    static const char *const order[] = {"c", "d", "a", "b"};
    f->completed.cap = 4;
    f->completed.n = 4;
    f->completed.next = 2;
    f->completed.v = xcalloc(4, sizeof(Tepui__Task *));
    for (size_t i = 0; i < 4; i++)
        f->completed.v[i] = task_named(order[i]);
}

static void expect(const struct framework *f, const char *ids)
{
    assert_int_equal(f->completed.n, strlen(ids));
    assert_int_equal(f->completed.next, 0);
    for (size_t i = 0; i < f->completed.n; i++) {
        char want[2] = {ids[i], '\0'};
        assert_string_equal(f->completed.v[i]->task_id->value, want);
    }
}

static void clear(struct framework *f)
{
    for (size_t i = 0; i < f->completed.n; i++)
        protobuf_c_message_free_unpacked(&f->completed.v[i]->base, NULL);
    free(f->completed.v);
}

static void forgotten_task_leaves_a_wrapped_ring_in_order(void **state)
{
    (void)state;
    struct framework f = {0};
    fill_wrapped(&f);
    task_forget_completed(&f, "c");
    expect(&f, "abd");
    task_forget_completed(&f, "a");
    expect(&f, "bd");
    clear(&f);
}

static void unknown_task_changes_nothing(void **state)
{
    (void)state;
    struct framework f = {0};
    task_forget_completed(&f, "x");
    assert_int_equal(f.completed.n, 0);
    fill_wrapped(&f);
    task_forget_completed(&f, "x");
    assert_int_equal(f.completed.n, 4);
    assert_int_equal(f.completed.next, 2);
    clear(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forgotten_task_leaves_a_wrapped_ring_in_order),
        cmocka_unit_test(unknown_task_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
