/* RENDLER's link extraction: URL resolution and normalization on libcurl's
 * URL API, and a scanner for the href attributes of <a>, <area> and <base>
 * elements. Not responsible for fetching pages (crawl_executor.c). */
#include "links.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#include "common/buf.h"
#include "common/xalloc.h"

struct link_entry {
    char *url;            /* borrowed from the set's array */
    UT_hash_handle hh;
};

/* ---- the set ---- */

int link_set_has(const struct link_set *s, const char *url)
{
    struct link_entry *e = NULL;
    HASH_FIND_STR(s->index_, url, e);
    return e != NULL;
}

int link_set_add(struct link_set *s, const char *url)
{
    if (link_set_has(s, url))
        return 0;
    s->urls = xrealloc(s->urls, (s->n + 1) * sizeof(*s->urls));
    s->urls[s->n] = xstrdup(url);
    struct link_entry *e = XNEW(struct link_entry);
    e->url = s->urls[s->n];
    s->n++;
    HASH_ADD_KEYPTR(hh, s->index_, e->url, strlen(e->url), e);
    return 1;
}

void link_set_free(struct link_set *s)
{
    struct link_entry *e, *tmp;
    HASH_ITER(hh, s->index_, e, tmp) {
        HASH_DEL(s->index_, e);
        free(e);
    }
    for (size_t i = 0; i < s->n; i++)
        free(s->urls[i]);
    free(s->urls);
    memset(s, 0, sizeof(*s));
}

/* ---- URLs ---- */

static void lowercase(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* The normalized form of what h holds, or NULL unless it is http(s). */
static char *url_rebuild(CURLU *h)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *out = NULL;
    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    lowercase(scheme);
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        goto out;
    if (host[0] == '\0')
        goto out;
    lowercase(host);
    curl_url_get(h, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
    curl_url_get(h, CURLUPART_PATH, &path, 0);
    curl_url_get(h, CURLUPART_QUERY, &query, 0);
    out = xasprintf("%s://%s%s%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
                    path && path[0] ? "" : "/", path ? path : "", query ? "?" : "");
    if (query != NULL) {
        char *with_query = xasprintf("%s%s", out, query);
        free(out);
        out = with_query;
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    return out;
}

char *url_resolve(const char *base, const char *ref)
{
    char *out = NULL;
    /* The fragment goes before resolution: it never changes the page, and
     * libcurl 7.88 resolves a fragment-only or empty reference against the
     * base's directory rather than the base itself. */
    size_t n = strcspn(ref, "#");
    char *r = xstrndup(ref, n);
    CURLU *h = curl_url();
    if (h == NULL)
        goto out;
    if (base != NULL && curl_url_set(h, CURLUPART_URL, base, CURLU_URLENCODE) != CURLUE_OK)
        goto out;
    if (r[0] == '\0') {
        if (base == NULL)
            goto out;
    } else if (curl_url_set(h, CURLUPART_URL, r, CURLU_URLENCODE) != CURLUE_OK) {
        goto out;
    }
    out = url_rebuild(h);
out:
    curl_url_cleanup(h);
    free(r);
    return out;
}

char *url_authority(const char *url)
{
    char *norm = url_resolve(NULL, url);
    if (norm == NULL)
        return NULL;
    char *start = strstr(norm, "://") + 3;
    char *auth = xstrndup(start, strcspn(start, "/?"));
    free(norm);
    return auth;
}

/* ---- HTML ---- */

struct scanner {
    const char *p, *end;
};

static int starts_with_ci(const struct scanner *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n)
        return 0;
    return strncasecmp(s->p, word, n) == 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Moves past the first occurrence of needle (case-insensitive), or to the end. */
static void skip_past(struct scanner *s, const char *needle)
{
    size_t n = strlen(needle);
    while (s->p < s->end) {
        if ((size_t)(s->end - s->p) >= n && strncasecmp(s->p, needle, n) == 0) {
            s->p += n;
            return;
        }
        s->p++;
    }
}

static void append_utf8(struct buf *b, uint32_t cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, u, n);
}

/* An attribute value as a URL parser wants it: character references
 * decoded (the ones that occur in URLs: &amp; &lt; &gt; &quot; &apos; and
 * numeric ones), tabs and newlines removed, surrounding spaces trimmed. */
static char *attr_value(const char *v, size_t len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    struct buf b = BUF_INIT;
    size_t i = 0;
    while (i < len) {
        char c = v[i];
        if (c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        if (c != '&') {
            buf_append_char(&b, c);
            i++;
            continue;
        }
        int done = 0;
        for (size_t k = 0; k < sizeof(named) / sizeof(named[0]) && !done; k++) {
            size_t n = strlen(named[k].name);
            if (len - i - 1 >= n && strncmp(v + i + 1, named[k].name, n) == 0) {
                buf_append_char(&b, named[k].c);
                i += 1 + n;
                done = 1;
            }
        }
        if (!done && i + 2 < len && v[i + 1] == '#') {
            size_t j = i + 2;
            int hex = v[j] == 'x' || v[j] == 'X';
            j += (size_t)hex;
            uint32_t cp = 0;
            size_t digits = 0;
            while (j < len && (hex ? isxdigit((unsigned char)v[j]) : isdigit((unsigned char)v[j]))) {
                int d = isdigit((unsigned char)v[j]) ? v[j] - '0'
                                                     : tolower((unsigned char)v[j]) - 'a' + 10;
                if (cp <= 0x10FFFF)
                    cp = cp * (hex ? 16u : 10u) + (uint32_t)d;
                j++;
                digits++;
            }
            if (digits > 0) {
                append_utf8(&b, cp);
                i = j < len && v[j] == ';' ? j + 1 : j;
                done = 1;
            }
        }
        if (!done) {
            buf_append_char(&b, '&');
            i++;
        }
    }
    size_t start = 0, end = b.len;
    while (start < end && is_space(b.data[start]))
        start++;
    while (end > start && is_space(b.data[end - 1]))
        end--;
    char *trimmed = xstrndup(end > start ? b.data + start : "", end - start);
    buf_free(&b);
    return trimmed;
}

/* Elements whose content is text, never markup: a "<a href" inside them is
 * no link. */
static const char *const raw_text[] = {"script", "style", "textarea", "title", "xmp",
                                       "plaintext", "noembed", "iframe"};

/* Reads a start tag after its '<' and name; sets *href to its href value
 * (owned) when it has one. Leaves s after the tag's '>'. */
static void read_attributes(struct scanner *s, char **href)
{
    *href = NULL;
    while (s->p < s->end) {
        while (s->p < s->end && (is_space(*s->p) || *s->p == '/'))
            s->p++;
        if (s->p >= s->end)
            return;
        if (*s->p == '>') {
            s->p++;
            return;
        }
        const char *name = s->p;
        while (s->p < s->end && !is_space(*s->p) && *s->p != '/' && *s->p != '>' && *s->p != '=')
            s->p++;
        size_t name_len = (size_t)(s->p - name);
        if (name_len == 0) {
            /* A stray '=' where a name belongs: HTML reads it as a name. */
            s->p++;
            continue;
        }
        while (s->p < s->end && is_space(*s->p))
            s->p++;
        const char *value = NULL;
        size_t value_len = 0;
        if (s->p < s->end && *s->p == '=') {
            s->p++;
            while (s->p < s->end && is_space(*s->p))
                s->p++;
            if (s->p < s->end && (*s->p == '"' || *s->p == '\'')) {
                char q = *s->p++;
                value = s->p;
                while (s->p < s->end && *s->p != q)
                    s->p++;
                value_len = (size_t)(s->p - value);
                if (s->p < s->end)
                    s->p++;
            } else {
                value = s->p;
                while (s->p < s->end && !is_space(*s->p) && *s->p != '>')
                    s->p++;
                value_len = (size_t)(s->p - value);
            }
        }
        /* The first of duplicate attributes counts, as in browsers. */
        if (*href == NULL && value != NULL && name_len == 4 && strncasecmp(name, "href", 4) == 0)
            *href = attr_value(value, value_len);
    }
}

size_t links_extract(const char *html, size_t len, const char *page_url, size_t max_links,
                     struct link_set *out)
{
    struct scanner s = {html, html + len};
    char *base = url_resolve(NULL, page_url);
    int base_seen = 0;
    size_t added = 0;
    while (s.p < s.end && (max_links == 0 || out->n < max_links)) {
        if (*s.p != '<') {
            s.p++;
            continue;
        }
        if (starts_with_ci(&s, "<!--")) {
            s.p += 4;
            skip_past(&s, "-->");
            continue;
        }
        if (s.p + 1 < s.end && (s.p[1] == '!' || s.p[1] == '?' || s.p[1] == '/')) {
            /* Doctype, processing instruction or end tag: nothing to see. */
            skip_past(&s, ">");
            continue;
        }
        if (s.p + 1 >= s.end || !isalpha((unsigned char)s.p[1])) {
            s.p++;   /* a lone '<' in text */
            continue;
        }
        s.p++;
        const char *name = s.p;
        while (s.p < s.end && isalnum((unsigned char)*s.p))
            s.p++;
        size_t name_len = (size_t)(s.p - name);
        char *href = NULL;
        read_attributes(&s, &href);

        int is_link = (name_len == 1 && strncasecmp(name, "a", 1) == 0) ||
                      (name_len == 4 && strncasecmp(name, "area", 4) == 0);
        int is_base = name_len == 4 && strncasecmp(name, "base", 4) == 0;
        if (href != NULL && is_base && !base_seen) {
            /* Only the first <base href> counts; it is resolved against the
             * page's own address. */
            base_seen = 1;
            char *b = url_resolve(page_url, href);
            if (b != NULL) {
                free(base);
                base = b;
            }
        } else if (href != NULL && is_link && base != NULL) {
            char *target = url_resolve(base, href);
            if (target != NULL)
                added += (size_t)link_set_add(out, target);
            free(target);
        }
        free(href);
        for (size_t k = 0; k < sizeof(raw_text) / sizeof(raw_text[0]); k++) {
            if (strlen(raw_text[k]) == name_len && strncasecmp(name, raw_text[k], name_len) == 0) {
                char close[32];
                snprintf(close, sizeof(close), "</%s", raw_text[k]);
                skip_past(&s, close);
                break;
            }
        }
    }
    free(base);
    return added;
}
