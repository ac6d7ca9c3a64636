/* Links of a web page, for RENDLER: a small HTML scanner that finds the
 * targets of <a href> and <area href> (honouring <base href>), and URL
 * helpers on libcurl's URL API. It is no HTML parser; it knows just enough
 * (comments, raw-text elements such as <script>, quoting, character
 * references) not to take text for links. */
#ifndef RENDLER_LINKS_H
#define RENDLER_LINKS_H

#include <stddef.h>

struct link_entry;

/* Absolute http(s) URLs without fragments, each once, in the order first
 * seen. Zero-initialize before use. */
struct link_set {
    char **urls;
    size_t n;
    struct link_entry *index_;     /* private: for deduplication */
};

/* Adds url (copied) unless already there; returns 1 when added. */
int link_set_add(struct link_set *s, const char *url);
int link_set_has(const struct link_set *s, const char *url);
void link_set_free(struct link_set *s);

/* Resolves ref against base (RFC 3986; base NULL: ref must be absolute) and
 * normalizes the result: scheme and host in lowercase, default port and
 * user info dropped, dot segments removed, empty path as "/", fragment
 * dropped. Returns an owned string (free()), or NULL when the result is not
 * an http or https URL (mailto:, javascript:, ftp:, garbage). */
char *url_resolve(const char *base, const char *ref);

/* "host" or "host:port" (port only when not the scheme's default) of an
 * http(s) URL, in lowercase; owned, NULL when url is not one. */
char *url_authority(const char *url);

/* Scans html (len bytes, need not be NUL-terminated) of the page at
 * page_url and adds the http(s) targets of its hyperlinks to out, up to
 * max_links in all (0: no limit). Returns the number of links added. */
size_t links_extract(const char *html, size_t len, const char *page_url, size_t max_links,
                     struct link_set *out);

#endif
