/* tepui task|agent|framework list: tables read from the master's /state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/flags.h"
#include "ha/detector.h"

static double res(json_t *o, const char *name)
{
    return json_number_value(json_object_get(o, name));
}

int cli_list(int argc, char **argv, const char *what)
{
    char *master = NULL;
    int all = 0;
    struct flag_def defs[] = {
        {"master", FLAG_STRING, &master, "127.0.0.1:5050",
         "The master: HOST:PORT, or zk://host:port[,host:port...]/path for the leading one"},
        {"all", FLAG_BOOL, &all, "false", "Include completed tasks and frameworks"},
    };
    struct flag_set fs = {.program = "tepui list", .defs = defs, .n = 2};
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tepui %s list: %s\n", what, err.msg);
        flags_free(&fs);
        return rc < 0 ? 2 : 0;
    }
    char host[256];
    int port;
    if (zk_url_is(master)) {
        if (detector_resolve(master, CLI_DETECT_TIMEOUT_SECS, host, sizeof(host), &port, &err) != 0) {
            fprintf(stderr, "tepui %s list: %s\n", what, err.msg);
            flags_free(&fs);
            return 1;
        }
    } else if (cli_split_hostport(master, 5050, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "tepui %s list: bad --master '%s'\n", what, master);
        flags_free(&fs);
        return 2;
    }
    json_t *st = cli_get_json(host, port, "/state");
    flags_free(&fs);
    if (st == NULL)
        return 1;
    size_t i;
    json_t *o;
    if (strcmp(what, "agent") == 0) {
        printf("%-44s %-20s %8s %10s %8s\n", "ID", "HOSTNAME", "CPUS", "MEM", "ACTIVE");
        json_array_foreach(json_object_get(st, "slaves"), i, o) {
            json_t *r = json_object_get(o, "resources");
            printf("%-44s %-20s %8.2f %10.0f %8s\n", json_string_value(json_object_get(o, "id")),
                   json_string_value(json_object_get(o, "hostname")), res(r, "cpus"),
                   res(r, "mem"), json_is_true(json_object_get(o, "active")) ? "yes" : "no");
        }
    } else if (strcmp(what, "framework") == 0) {
        printf("%-44s %-30s %6s %6s %9s\n", "ID", "NAME", "TASKS", "DONE", "ACTIVE");
        const char *lists[] = {"frameworks", "completed_frameworks"};
        for (int l = 0; l < (all ? 2 : 1); l++)
            json_array_foreach(json_object_get(st, lists[l]), i, o) {
                printf("%-44s %-30s %6zu %6zu %9s\n", json_string_value(json_object_get(o, "id")),
                       json_string_value(json_object_get(o, "name")),
                       json_array_size(json_object_get(o, "tasks")),
                       json_array_size(json_object_get(o, "completed_tasks")),
                       json_is_true(json_object_get(o, "active")) ? "yes" : "no");
            }
    } else {
        printf("%-30s %-18s %-44s %-44s\n", "ID", "STATE", "FRAMEWORK", "AGENT");
        json_t *fws = json_copy(json_object_get(st, "frameworks"));
        if (all)
            json_array_extend(fws, json_object_get(st, "completed_frameworks"));
        json_array_foreach(fws, i, o) {
            const char *lists[] = {"tasks", "completed_tasks"};
            for (int l = 0; l < (all ? 2 : 1); l++) {
                size_t k;
                json_t *t;
                json_array_foreach(json_object_get(o, lists[l]), k, t) {
                    printf("%-30s %-18s %-44s %-44s\n", json_string_value(json_object_get(t, "id")),
                           json_string_value(json_object_get(t, "state")),
                           json_string_value(json_object_get(t, "framework_id")),
                           json_string_value(json_object_get(t, "slave_id")));
                }
            }
        }
        json_decref(fws);
    }
    json_decref(st);
    return 0;
}
