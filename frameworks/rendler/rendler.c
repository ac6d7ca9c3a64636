/* RENDLER's framework messages in JSON (jansson): encoding in the
 * executors, decoding, with the checks a message from the network needs,
 * in the scheduler. */
#include "rendler.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "tepui/executor.h"

#define LOG_COMPONENT "rendler"

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, key, json_string(v));
}

char *rendler_result_encode(const struct rendler_result *r, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(r->kind == RENDLER_RESULT_CRAWL ? "crawl" : "render"));
    set_str(o, "task_id", r->task_id);
    set_str(o, "url", r->url);
    if (r->kind == RENDLER_RESULT_CRAWL) {
        set_str(o, "final_url", r->final_url);
        json_object_set_new(o, "http_status", json_integer(r->http_status));
        set_str(o, "content_type", r->content_type);
        json_t *links = json_array();
        for (size_t i = 0; i < r->n_links; i++)
            json_array_append_new(links, json_string(r->links[i]));
        json_object_set_new(o, "links", links);
        json_object_set_new(o, "truncated", json_boolean(r->truncated));
    } else {
        set_str(o, "agent_id", r->agent_id);
        set_str(o, "agent_endpoint", r->agent_endpoint);
        set_str(o, "path", r->path);
        json_object_set_new(o, "size", json_integer(r->size));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *len = strlen(text);
    /* jansson's allocator is malloc; hand back memory free() releases. */
    return text;
}

static int get_str(json_t *o, const char *key, int required, char **out, struct error *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL && !required)
        return 0;
    if (!json_is_string(v))
        return error_set(err, -EINVAL, "'%s' is %s", key, v ? "not a string" : "missing");
    *out = xstrdup(json_string_value(v));
    return 0;
}

int rendler_result_decode(const void *data, size_t len, struct rendler_result *r,
                          struct error *err)
{
    int rc = 0;
    memset(r, 0, sizeof(*r));
    json_error_t je;
    json_t *o = json_loadb(data, len, 0, &je);
    if (!json_is_object(o)) {
        rc = error_set(err, -EINVAL, "not a JSON object: %s", o ? "" : je.text);
        goto out;
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (kind != NULL && strcmp(kind, "crawl") == 0) {
        r->kind = RENDLER_RESULT_CRAWL;
    } else if (kind != NULL && strcmp(kind, "render") == 0) {
        r->kind = RENDLER_RESULT_RENDER;
    } else {
        rc = error_set(err, -EINVAL, "'kind' must be \"crawl\" or \"render\"");
        goto out;
    }
    if ((rc = get_str(o, "task_id", 1, &r->task_id, err)) != 0 ||
        (rc = get_str(o, "url", 1, &r->url, err)) != 0)
        goto out;
    if (r->kind == RENDLER_RESULT_CRAWL) {
        if ((rc = get_str(o, "final_url", 0, &r->final_url, err)) != 0 ||
            (rc = get_str(o, "content_type", 0, &r->content_type, err)) != 0)
            goto out;
        r->http_status = (long)json_integer_value(json_object_get(o, "http_status"));
        r->truncated = json_is_true(json_object_get(o, "truncated"));
        json_t *links = json_object_get(o, "links");
        if (!json_is_array(links)) {
            rc = error_set(err, -EINVAL, "'links' is not an array");
            goto out;
        }
        size_t n = json_array_size(links);
        if (n > RENDLER_MAX_LINKS) {
            rc = error_set(err, -EINVAL, "%zu links, more than the %d allowed", n,
                           RENDLER_MAX_LINKS);
            goto out;
        }
        r->links = xcalloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            const char *l = json_string_value(json_array_get(links, i));
            if (l == NULL) {
                rc = error_set(err, -EINVAL, "links[%zu] is not a string", i);
                goto out;
            }
            r->links[r->n_links++] = xstrdup(l);
        }
    } else {
        if ((rc = get_str(o, "agent_id", 0, &r->agent_id, err)) != 0 ||
            (rc = get_str(o, "agent_endpoint", 1, &r->agent_endpoint, err)) != 0 ||
            (rc = get_str(o, "path", 1, &r->path, err)) != 0)
            goto out;
        r->size = (long long)json_integer_value(json_object_get(o, "size"));
    }
out:
    json_decref(o);
    if (rc != 0)
        rendler_result_clear(r);
    return rc;
}

void rendler_result_clear(struct rendler_result *r)
{
    free(r->task_id);
    free(r->url);
    free(r->final_url);
    free(r->content_type);
    for (size_t i = 0; i < r->n_links; i++)
        free(r->links[i]);
    free(r->links);
    free(r->agent_id);
    free(r->agent_endpoint);
    free(r->path);
    memset(r, 0, sizeof(*r));
}

void rendler_send_status(struct tepui_executor *e, const char *task_id, Tepui__TaskState state,
                         const char *message, int no_retry)
{
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    Tepui__Labels labels = TEPUI__LABELS__INIT;
    Tepui__Label label = TEPUI__LABEL__INIT;
    Tepui__Label *lp[1] = {&label};
    struct error err = {0};
    tid.value = (char *)task_id;
    st.task_id = &tid;
    st.state = state;
    st.message = (char *)message;
    if (no_retry) {
        label.key = RENDLER_LABEL_RETRY;
        label.value = "false";
        labels.labels = lp;
        labels.n_labels = 1;
        st.labels = &labels;
    }
    if (tepui_executor_update(e, &st, &err) != 0)
        log_warn("task %s: cannot send %s: %s", task_id, task_state_name(state), err.msg);
}

int rendler_status_no_retry(const Tepui__TaskStatus *st)
{
    if (st->labels == NULL)
        return 0;
    for (size_t i = 0; i < st->labels->n_labels; i++) {
        const Tepui__Label *l = st->labels->labels[i];
        if (l->key != NULL && strcmp(l->key, RENDLER_LABEL_RETRY) == 0 && l->value != NULL &&
            strcmp(l->value, "false") == 0)
            return 1;
    }
    return 0;
}
