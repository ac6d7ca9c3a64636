/* tepui-executor: the built-in executors. The agent starts it in an
 * executor's sandbox with the MESOS_* environment; it subscribes, runs the
 * one command task it is given (the command executor) or, with
 * --task_group, the task groups it is given (the default executor), and
 * exits once their ends are acknowledged. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "common/log.h"
#include "executor/command_executor.h"
#include "executor/default_executor.h"
#include "tepui/executor.h"

#define LOG_COMPONENT "command-executor"

int main(int argc, char **argv)
{
    char *logging_level = NULL;
    char *content_type = NULL;
    int switch_user = 1;
    int task_group = 0;
    struct flag_def defs[] = {
        /* Its log shares the sandbox's stderr with the task's own output,
         * so by default only problems are written there. */
        {"logging_level", FLAG_STRING, &logging_level, "WARNING",
         "Least severe level logged: DEBUG, INFO, WARNING or ERROR"},
        {"content_type", FLAG_STRING, &content_type, "protobuf",
         "Encoding of the executor API calls and events: protobuf or json"},
        {"switch_user", FLAG_BOOL, &switch_user, "true",
         "When started as root, run the task as its user (CommandInfo.user, else "
         "FrameworkInfo.user); the agent passes --no-switch_user when it runs tasks as itself"},
        {"task_group", FLAG_BOOL, &task_group, "false",
         "Be the default executor: run the task groups of LAUNCH_GROUP events, each task in "
         "its own sandbox below the executor's (tasks/<task id>)"},
    };
    struct flag_set fs = {
        .program = "tepui-executor",
        .summary = "The tepui command executor: runs one command task for the agent that "
                   "started it (MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, "
                   "... in the environment); with --task_group, the default executor, which "
                   "runs task groups. It is not meant to be run by hand.",
        .defs = defs,
        .n = sizeof(defs) / sizeof(defs[0]),
    };
    struct tepui_executor_options opts = {0};
    struct event_base *base = NULL;
    struct command_executor *ce = NULL;
    struct default_executor *de = NULL;
    struct error err = {0};
    int code = 2;

    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tepui-executor: %s\n", err.msg);
        code = rc < 0 ? 2 : 0;
        goto out;
    }
    int level = log_level_parse(logging_level);
    if (level < 0) {
        fprintf(stderr, "tepui-executor: unknown --logging_level '%s'\n", logging_level);
        goto out;
    }
    log_set_level((enum log_level)level);
    if (tepui_executor_options_from_env(&opts, &err) != 0) {
        fprintf(stderr, "tepui-executor: %s\n", err.msg);
        goto out;
    }
    if (strcmp(content_type, "json") == 0) {
        opts.format = TEPUI_EXECUTOR_JSON;
    } else if (strcmp(content_type, "protobuf") != 0) {
        fprintf(stderr, "tepui-executor: unknown --content_type '%s'\n", content_type);
        goto out;
    }
    /* Calls go over sockets the agent may close at any time. */
    signal(SIGPIPE, SIG_IGN);

    base = event_base_new();
    if (task_group)
        de = default_executor_new(base, &opts, switch_user, &err);
    else
        ce = command_executor_new(base, &opts, switch_user, &err);
    if (ce == NULL && de == NULL) {
        fprintf(stderr, "tepui-executor: %s\n", err.msg);
        code = 1;
        goto out;
    }
    log_info("framework %s executor %s: starting in %s%s", opts.framework_id, opts.executor_id,
             opts.sandbox ? opts.sandbox : opts.directory ? opts.directory : ".",
             task_group ? " (default executor)" : "");
    event_base_dispatch(base);
    code = de != NULL ? default_executor_exit_code(de) : command_executor_exit_code(ce);
out:
    command_executor_free(ce);
    default_executor_free(de);
    if (base != NULL) {
        /* Lets the HTTP client release its connections. */
        event_base_loop(base, EVLOOP_NONBLOCK);
        event_base_free(base);
    }
    tepui_executor_options_clear(&opts);
    flags_free(&fs);
    libevent_global_shutdown();
    return code;
}
