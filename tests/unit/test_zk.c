/* zk:// URLs as Mesos's --zk and --master take them: hosts with ports,
 * optional digest credentials, a path that names a znode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ha/zk.h"

static void url_with_several_hosts_and_a_nested_path(void **state)
{
    (void)state;
    struct zk_url u;
    struct error err = {0};
    assert_int_equal(zk_url_parse("zk://10.0.0.1:2181,10.0.0.2:2182/mesos/prod", &u, &err), 0);
    assert_string_equal(u.hosts, "10.0.0.1:2181,10.0.0.2:2182");
    assert_string_equal(u.path, "/mesos/prod");
    assert_string_equal(u.auth, "");
}

static void url_credentials_and_trailing_slashes(void **state)
{
    (void)state;
    struct zk_url u;
    struct error err = {0};
    assert_int_equal(zk_url_parse("zk://jane:secret@zk1:2181/mesos//", &u, &err), 0);
    assert_string_equal(u.auth, "jane:secret");
    assert_string_equal(u.hosts, "zk1:2181");
    assert_string_equal(u.path, "/mesos");
}

static void bad_urls_say_what_is_wrong(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "http://zk1:2181/mesos",   /* not zk:// */
        "zk://zk1:2181",           /* no path */
        "zk://zk1:2181/",          /* the root is no group */
        "zk:///mesos",             /* no hosts */
        "zk://zk1/mesos",          /* no port */
        "zk://zk1:21x1/mesos",     /* bad port */
        "zk://zk1:2181,/mesos",    /* empty host */
        "zk://jane@zk1:2181/mesos",/* credentials without a password */
        "zk://zk1:2181/a//b",      /* empty component */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct zk_url u;
        struct error err = {0};
        assert_int_not_equal(zk_url_parse(bad[i], &u, &err), 0);
        assert_true(strlen(err.msg) > 0);
    }
    assert_true(zk_url_is("zk://h:1/p"));
    assert_false(zk_url_is("127.0.0.1:5050"));
    assert_false(zk_url_is(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_with_several_hosts_and_a_nested_path),
        cmocka_unit_test(url_credentials_and_trailing_slashes),
        cmocka_unit_test(bad_urls_say_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
