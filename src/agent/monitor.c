/* GET /monitor/statistics: the resource usage of every running container,
 * in Mesos's shape (a list of {executor_id, executor_name, framework_id,
 * source, statistics: ResourceStatistics}). Usage itself comes from
 * isolators.c (cgroups, or /proc without them). */
#include <jansson.h>

#include "agent/agent.h"
#include "agent/isolators.h"
#include "http/server.h"
#include "wire/json.h"

void monitor_statistics_handler(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    if (!http_require_get(req))
        return;
    json_t *out = json_array();
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (e->pid <= 0 || e->state == EXECUTOR_TERMINATED)
                continue;
            Tepui__ResourceStatistics st = TEPUI__RESOURCE_STATISTICS__INIT;
            if (isolation_usage(a, e, &st) != 0)
                continue;
            json_t *o = json_object();
            json_object_set_new(o, "executor_id", json_string(e->id));
            json_object_set_new(o, "executor_name",
                                json_string(e->info->name ? e->info->name : ""));
            json_object_set_new(o, "framework_id", json_string(f->id));
            json_object_set_new(o, "source", json_string(e->info->source ? e->info->source : ""));
            json_object_set_new(o, "statistics", wire_json_from_message(&st.base));
            json_array_append_new(out, o);
        }
    }
    http_respond_json(req, 200, out);
}
