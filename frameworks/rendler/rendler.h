/* What RENDLER's scheduler and executors agree on: the framework messages
 * an executor sends back for a finished task (JSON; see README.md), the
 * label that marks a failure not worth retrying, and the names of the
 * executor binaries and of the archive that carries them. */
#ifndef RENDLER_RENDLER_H
#define RENDLER_RENDLER_H

#include <stddef.h>

#include "common/error.h"
#include "mesos.pb-c.h"

struct tepui_executor;

#define RENDLER_CRAWL_EXECUTOR "rendler-crawl-executor"
#define RENDLER_RENDER_EXECUTOR "rendler-render-executor"
#define RENDLER_ARCHIVE "rendler-executors.tar.gz"

/* A TASK_FAILED whose TaskStatus.labels hold this key with the value
 * "false" failed for a reason another attempt cannot change (a 404, a URL
 * that is no http URL): the scheduler does not retry it. */
#define RENDLER_LABEL_RETRY "rendler.retry"

/* An executor sends at most this many links for one page, which keeps a
 * message far below any HTTP body limit on its way (agent, master). */
#define RENDLER_MAX_LINKS 2000

enum rendler_result_kind { RENDLER_RESULT_CRAWL, RENDLER_RESULT_RENDER };

/* One task's result: {"kind": "crawl"|"render", "task_id": ..., "url": ...}
 * and, for a crawl, "final_url", "http_status", "content_type", "links": [...],
 * "truncated"; for a render, "agent_id", "agent_endpoint" (host:port of the
 * agent, whose /files/download serves the file), "path" (absolute, in the
 * executor's sandbox) and "size". */
struct rendler_result {
    enum rendler_result_kind kind;
    char *task_id;
    char *url;
    /* crawl */
    char *final_url;
    long http_status;
    char *content_type;
    char **links;
    size_t n_links;
    int truncated;        /* the page was longer than the executor reads */
    /* render */
    char *agent_id;
    char *agent_endpoint;
    char *path;
    long long size;
};

/* The JSON text of r (owned, NUL-terminated; *len its length). */
char *rendler_result_encode(const struct rendler_result *r, size_t *len);
/* Parses a message; 0, or -EINVAL with err saying what is wrong (r is then
 * cleared). */
int rendler_result_decode(const void *data, size_t len, struct rendler_result *r,
                          struct error *err);
/* Frees what r holds and zeroes it. */
void rendler_result_clear(struct rendler_result *r);

/* For the executors: sends a status update of a task, logging a failure to
 * send it. no_retry adds the RENDLER_LABEL_RETRY label ("false"). */
void rendler_send_status(struct tepui_executor *e, const char *task_id, Tepui__TaskState state,
                         const char *message, int no_retry);
/* Whether a status carries RENDLER_LABEL_RETRY with the value "false". */
int rendler_status_no_retry(const Tepui__TaskStatus *st);

#endif
