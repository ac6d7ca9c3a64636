/* RENDLER's link extraction (frameworks/rendler/links.c): URL resolution
 * and normalization, and the href scanner's handling of the HTML that
 * trips naive ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rendler/links.h"
#include "rendler/rendler.h"

#define BASE "http://Example.COM:80/a/b/c.html?q=1#frag"

static void assert_resolves(const char *base, const char *ref, const char *want)
{
    char *got = url_resolve(base, ref);
    if (base == NULL)
        base = "(no base)";
    if (want == NULL) {
        if (got != NULL)
            fail_msg("'%s' against '%s' resolved to '%s', expected nothing", ref, base, got);
        return;
    }
    if (got == NULL)
        fail_msg("'%s' against '%s' did not resolve, expected '%s'", ref, base, want);
    assert_string_equal(got, want);
    free(got);
}

static void relative_references_resolve_as_rfc3986_says(void **state)
{
    (void)state;
    assert_resolves(BASE, "d.html", "http://example.com/a/b/d.html");
    assert_resolves(BASE, "./d.html", "http://example.com/a/b/d.html");
    assert_resolves(BASE, "../x", "http://example.com/a/x");
    assert_resolves(BASE, "..", "http://example.com/a/");
    assert_resolves(BASE, "/abs", "http://example.com/abs");
    assert_resolves(BASE, "//Other.org/p", "http://other.org/p");
    assert_resolves(BASE, "?y=2", "http://example.com/a/b/c.html?y=2");
    assert_resolves(BASE, "g;x?y#s", "http://example.com/a/b/g;x?y");
}

static void fragment_only_and_empty_references_are_the_page_itself(void **state)
{
    (void)state;
    assert_resolves(BASE, "#top", "http://example.com/a/b/c.html?q=1");
    assert_resolves(BASE, "", "http://example.com/a/b/c.html?q=1");
}

static void urls_are_normalized(void **state)
{
    (void)state;
    assert_resolves(NULL, "HTTP://WWW.Example.ORG", "http://www.example.org/");
    assert_resolves(NULL, "https://h:443/x", "https://h/x");
    assert_resolves(NULL, "http://h:8080/x#y", "http://h:8080/x");
    assert_resolves(NULL, "http://user:pw@h/x", "http://h/x");
    assert_resolves(NULL, "http://h/a/./b/../c", "http://h/a/c");
    assert_resolves(BASE, "a b.html", "http://example.com/a/b/a%20b.html");
}

static void only_http_and_https_urls_are_links(void **state)
{
    (void)state;
    assert_resolves(BASE, "mailto:someone@example.com", NULL);
    assert_resolves(BASE, "javascript:void(0)", NULL);
    assert_resolves(BASE, "ftp://example.com/file", NULL);
    assert_resolves(BASE, "data:text/html,hello", NULL);
    assert_resolves(NULL, "relative/only", NULL);
}

static void authority_keeps_a_port_only_when_not_default(void **state)
{
    (void)state;
    char *a = url_authority("http://Example.com:80/x");
    assert_string_equal(a, "example.com");
    free(a);
    a = url_authority("http://127.0.0.1:8123/x");
    assert_string_equal(a, "127.0.0.1:8123");
    free(a);
    assert_null(url_authority("mailto:x@y"));
}

static void extract(const char *html, const char *page, struct link_set *out)
{
    memset(out, 0, sizeof(*out));
    links_extract(html, strlen(html), page, 0, out);
}

static void links_come_from_a_and_area_hrefs_in_every_quoting(void **state)
{
    (void)state;
    struct link_set s;
    extract("<html><body>"
            "<a href=\"one.html\">1</a>"
            "<a href='two.html'>2</a>"
            "<a href=three.html>3</a>"
            "<A HREF = \"/four.html\" class=x>4</A>"
            "<map><area shape=rect href=\"five.html\"></map>"
            "<a class=\"x>y\" href=\"six.html\">6</a>"
            "<link rel=stylesheet href=\"style.css\">"
            "<img src=\"pic.png\"><abbr href=\"no.html\">"
            "<a data-href=\"no2.html\" title=\"href=no3.html\">x</a>"
            "<a name=anchor>no href</a>"
            "</body></html>",
            "http://h/dir/page.html", &s);
    const char *want[] = {"http://h/dir/one.html", "http://h/dir/two.html",
                          "http://h/dir/three.html", "http://h/four.html",
                          "http://h/dir/five.html", "http://h/dir/six.html"};
    assert_int_equal(s.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.urls[i], want[i]);
    link_set_free(&s);
}

static void comments_scripts_and_styles_hold_no_links(void **state)
{
    (void)state;
    struct link_set s;
    extract("<!-- <a href=\"commented.html\"> -->"
            "<script>document.write('<a href=\"scripted.html\">');</script>"
            "<style>a[href=\"styled.html\"] { color: red }</style>"
            "<title><a href=\"title.html\"></title>"
            "<a href=\"real.html\">real</a>"
            "<SCRIPT type=text/javascript>var s = '<a href=x.html>';</SCRIPT >"
            "<a href=\"after.html\">after</a>",
            "http://h/", &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.urls[0], "http://h/real.html");
    assert_string_equal(s.urls[1], "http://h/after.html");
    link_set_free(&s);
}

static void links_are_deduplicated_without_fragments_in_first_seen_order(void **state)
{
    (void)state;
    struct link_set s;
    extract("<a href=\"b.html#one\">b</a><a href=\"a.html\">a</a><a href=\"b.html#two\">b</a>"
            "<a href=\"./a.html\">a</a><a href=\"HTTP://H/b.html\">b</a><a href=\"#top\">top</a>",
            "http://h/index.html", &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.urls[0], "http://h/b.html");
    assert_string_equal(s.urls[1], "http://h/a.html");
    assert_string_equal(s.urls[2], "http://h/index.html");
    link_set_free(&s);
}

static void character_references_and_whitespace_in_hrefs_are_decoded(void **state)
{
    (void)state;
    struct link_set s;
    extract("<a href=\"p.html?x=1&amp;y=2\">1</a>"
            "<a href=\"  q.html\n\">2</a>"
            "<a href=\"r&#46;html\">3</a>"
            "<a href=\"s&#x2E;html&unknown;\">4</a>"
            "<a href=\"mailto:x@y\">mail</a><a href=\"javascript:go()\">js</a>",
            "http://h/d/", &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.urls[0], "http://h/d/p.html?x=1&y=2");
    assert_string_equal(s.urls[1], "http://h/d/q.html");
    assert_string_equal(s.urls[2], "http://h/d/r.html");
    assert_string_equal(s.urls[3], "http://h/d/s.html&unknown;");
    link_set_free(&s);
}

static void base_href_changes_what_relative_links_mean(void **state)
{
    (void)state;
    struct link_set s;
    extract("<head><base href=\"/other/\"><base href=\"/ignored/\"></head>"
            "<a href=\"x.html\">x</a>",
            "http://h/dir/page.html", &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.urls[0], "http://h/other/x.html");
    link_set_free(&s);
}

static void broken_markup_ends_the_scan_without_overrun(void **state)
{
    (void)state;
    const char *cases[] = {"<a href=\"unterminated", "<a href=", "<a", "<", "<!--", "<script>",
                           "<a href='x.html'", "text < more <3 <a href=ok.html>"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct link_set s;
        /* Not NUL-terminated where it ends: the scanner must keep to len. */
        size_t len = strlen(cases[i]);
        char *copy = malloc(len);
        memcpy(copy, cases[i], len);
        memset(&s, 0, sizeof(s));
        links_extract(copy, len, "http://h/", 0, &s);
        free(copy);
        link_set_free(&s);
    }
    struct link_set s;
    extract("text < more <3 <a href=ok.html>", "http://h/", &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.urls[0], "http://h/ok.html");
    link_set_free(&s);
}

static void max_links_caps_the_set(void **state)
{
    (void)state;
    struct link_set s = {0};
    const char *html = "<a href=1>1</a><a href=2>2</a><a href=3>3</a>";
    links_extract(html, strlen(html), "http://h/", 2, &s);
    assert_int_equal(s.n, 2);
    link_set_free(&s);
}

static void results_survive_a_round_trip_and_bad_ones_are_refused(void **state)
{
    (void)state;
    char *links[] = {"http://h/a", "http://h/b"};
    struct rendler_result in = {.kind = RENDLER_RESULT_CRAWL, .task_id = "crawl-0-1",
                                .url = "http://h/", .final_url = "http://h/",
                                .http_status = 200, .content_type = "text/html",
                                .links = links, .n_links = 2};
    size_t len = 0;
    char *text = rendler_result_encode(&in, &len);
    struct rendler_result out;
    struct error err = {0};
    assert_int_equal(rendler_result_decode(text, len, &out, &err), 0);
    free(text);
    assert_int_equal(out.kind, RENDLER_RESULT_CRAWL);
    assert_string_equal(out.task_id, "crawl-0-1");
    assert_int_equal(out.n_links, 2);
    assert_string_equal(out.links[1], "http://h/b");
    rendler_result_clear(&out);

    const char *bad[] = {"", "[]", "{\"kind\":\"crawl\"}", "{\"kind\":\"x\",\"task_id\":\"t\"}",
                         "{\"kind\":\"crawl\",\"task_id\":\"t\",\"url\":\"u\",\"links\":[1]}",
                         "{\"kind\":\"render\",\"task_id\":\"t\",\"url\":\"u\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(rendler_result_decode(bad[i], strlen(bad[i]), &out, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relative_references_resolve_as_rfc3986_says),
        cmocka_unit_test(fragment_only_and_empty_references_are_the_page_itself),
        cmocka_unit_test(urls_are_normalized),
        cmocka_unit_test(only_http_and_https_urls_are_links),
        cmocka_unit_test(authority_keeps_a_port_only_when_not_default),
        cmocka_unit_test(links_come_from_a_and_area_hrefs_in_every_quoting),
        cmocka_unit_test(comments_scripts_and_styles_hold_no_links),
        cmocka_unit_test(links_are_deduplicated_without_fragments_in_first_seen_order),
        cmocka_unit_test(character_references_and_whitespace_in_hrefs_are_decoded),
        cmocka_unit_test(base_href_changes_what_relative_links_mean),
        cmocka_unit_test(broken_markup_ends_the_scan_without_overrun),
        cmocka_unit_test(max_links_caps_the_set),
        cmocka_unit_test(results_survive_a_round_trip_and_bad_ones_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
