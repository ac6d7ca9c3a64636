/* The growable buffer (src/common/buf.c): it is a NUL-terminated string at
 * every point, however it was grown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static void reserved_but_empty_buffer_is_an_empty_string(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_reserve(&b, 100);
    assert_string_equal(buf_cstr(&b), "");
    char *s = buf_steal(&b);
    assert_string_equal(s, "");
    free(s);
}

static void appends_and_consume_keep_the_terminator(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append_str(&b, "hello");
    buf_append_char(&b, ' ');
    buf_printf(&b, "%d", 42);
    assert_string_equal(buf_cstr(&b), "hello 42");
    buf_consume(&b, 6);
    assert_string_equal(buf_cstr(&b), "42");
    assert_int_equal(b.len, 2);
    buf_free(&b);
    assert_string_equal(buf_cstr(&b), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reserved_but_empty_buffer_is_an_empty_string),
        cmocka_unit_test(appends_and_consume_keep_the_terminator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
