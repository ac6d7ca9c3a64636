/* Pure helpers of the command executor (see command.h); the messages match
 * Mesos's src/launcher/executor.cpp and WSTRINGIFY so that frameworks and
 * operators see the same texts. */
#include "executor/command.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/buf.h"
#include "common/xalloc.h"

/* The executor's credential for its agent; the task has no business with it. */
#define AUTH_TOKEN_VAR "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"

void command_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

char **command_argv(const Tepui__CommandInfo *cmd, const char *task_id, struct error *err)
{
    int shell = !cmd->has_shell || cmd->shell;
    if (cmd->value == NULL || cmd->value[0] == '\0') {
        error_set(err, -EINVAL, shell ? "Shell command of task '%s' is not specified"
                                      : "Executable of task '%s' is not specified",
                  task_id);
        return NULL;
    }
    char **argv;
    if (shell) {
        argv = xcalloc(4, sizeof(*argv));
        argv[0] = xstrdup("/bin/sh");
        argv[1] = xstrdup("-c");
        argv[2] = xstrdup(cmd->value);
        return argv;
    }
    size_t n = cmd->n_arguments;
    argv = xcalloc(n + 2, sizeof(*argv));
    if (n == 0)
        argv[0] = xstrdup(cmd->value);
    for (size_t i = 0; i < n; i++)
        argv[i] = xstrdup(cmd->arguments[i] != NULL ? cmd->arguments[i] : "");
    return argv;
}

/* ---- environment ---- */

struct env {
    char **v;
    size_t n, cap;
};

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq != NULL ? (size_t)(eq - entry) : strlen(entry);
}

static ssize_t env_find(const struct env *env, const char *name, size_t len)
{
    for (size_t i = 0; i < env->n; i++)
        if (name_len(env->v[i]) == len && strncmp(env->v[i], name, len) == 0)
            return (ssize_t)i;
    return -1;
}

/* Sets name=value, replacing an earlier definition in place so the order
 * of the base environment is kept. */
static void env_set(struct env *env, const char *name, const char *value)
{
    char *entry = xasprintf("%s=%s", name, value != NULL ? value : "");
    ssize_t i = env_find(env, name, strlen(name));
    if (i >= 0) {
        free(env->v[i]);
        env->v[i] = entry;
        return;
    }
    if (env->n + 2 > env->cap) {
        env->cap = env->cap ? env->cap * 2 : 32;
        env->v = xrealloc(env->v, env->cap * sizeof(*env->v));
    }
    env->v[env->n++] = entry;
    env->v[env->n] = NULL;
}

char **command_env_set(char **env, const char *name, const char *value)
{
    struct env e = {env, 0, 0};
    while (env[e.n] != NULL)
        e.n++;
    e.cap = e.n + 1;
    env_set(&e, name, value);
    return e.v;
}

const char *command_env_get(char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (char *const *p = env; p != NULL && *p != NULL; p++)
        if (strncmp(*p, name, len) == 0 && (*p)[len] == '=')
            return *p + len + 1;
    return NULL;
}

static const char *allocation_role(const Tepui__TaskInfo *task)
{
    for (size_t i = 0; i < task->n_resources; i++) {
        const Tepui__Resource *r = task->resources[i];
        if (r->allocation_info != NULL && r->allocation_info->role != NULL)
            return r->allocation_info->role;
    }
    return NULL;
}

char **command_environment(char *const *base, const Tepui__TaskInfo *task, const char *sandbox,
                           struct error *err)
{
    struct env env = {0};
    const char *task_id = task->task_id != NULL ? task->task_id->value : "";
    env.cap = 32;
    env.v = xcalloc(env.cap, sizeof(*env.v));
    for (char *const *p = base; p != NULL && *p != NULL; p++) {
        size_t len = name_len(*p);
        if ((*p)[len] != '=' || len == 0)
            continue;
        if (len == strlen(AUTH_TOKEN_VAR) && strncmp(*p, AUTH_TOKEN_VAR, len) == 0)
            continue;
        char *name = xstrndup(*p, len);
        env_set(&env, name, *p + len + 1);
        free(name);
    }
    const Tepui__Environment *vars = task->command != NULL ? task->command->environment : NULL;
    for (size_t i = 0; vars != NULL && i < vars->n_variables; i++) {
        const Tepui__Environment__Variable *v = vars->variables[i];
        if (v->name == NULL || v->name[0] == '\0' || strchr(v->name, '=') != NULL) {
            error_set(err, -EINVAL, "Environment variable name '%s' of task '%s' is invalid",
                      v->name ? v->name : "", task_id);
            goto fail;
        }
        if (v->has_type && v->type == TEPUI__ENVIRONMENT__VARIABLE__TYPE__SECRET) {
            error_set(err, -ENOTSUP,
                      "Environment variable '%s' of task '%s' is a secret; secrets are not supported",
                      v->name, task_id);
            goto fail;
        }
        env_set(&env, v->name, v->value);
    }
    if (sandbox != NULL && command_env_get(env.v, "MESOS_SANDBOX") == NULL)
        env_set(&env, "MESOS_SANDBOX", sandbox);
    const char *role = allocation_role(task);
    if (role != NULL)
        env_set(&env, "MESOS_ALLOCATION_ROLE", role);
    return env.v;
fail:
    command_strv_free(env.v);
    return NULL;
}

const char *command_user(const Tepui__CommandInfo *cmd, const Tepui__FrameworkInfo *framework)
{
    if (cmd != NULL && cmd->user != NULL && cmd->user[0] != '\0')
        return cmd->user;
    if (framework != NULL && framework->user != NULL && framework->user[0] != '\0')
        return framework->user;
    return NULL;
}

/* ---- how it ended ---- */

char *command_wait_message(int wait_status)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "Command ");
    if (WIFEXITED(wait_status)) {
        buf_printf(&b, "exited with status %d", WEXITSTATUS(wait_status));
    } else if (WIFSIGNALED(wait_status)) {
        buf_printf(&b, "terminated with signal %s", strsignal(WTERMSIG(wait_status)));
        if (WCOREDUMP(wait_status))
            buf_append_str(&b, " (core dumped)");
    } else if (WIFSTOPPED(wait_status)) {
        buf_printf(&b, "stopped on signal %s", strsignal(WSTOPSIG(wait_status)));
    } else {
        buf_printf(&b, "wait status %d", wait_status);
    }
    return buf_steal(&b);
}

Tepui__TaskState command_wait_state(int wait_status, int killed)
{
    if (killed)
        return TEPUI__TASK_STATE__TASK_KILLED;
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
        return TEPUI__TASK_STATE__TASK_FINISHED;
    return TEPUI__TASK_STATE__TASK_FAILED;
}

/* ---- killing ---- */

static int policy_grace(const Tepui__KillPolicy *p, double *secs)
{
    if (p == NULL || p->grace_period == NULL)
        return 0;
    int64_t ns = p->grace_period->nanoseconds;
    *secs = ns > 0 ? (double)ns / 1e9 : 0;
    return 1;
}

double command_kill_grace_period(const Tepui__KillPolicy *kill_event, const Tepui__KillPolicy *task)
{
    double secs = COMMAND_DEFAULT_KILL_GRACE_SECS;
    if (!policy_grace(kill_event, &secs))
        policy_grace(task, &secs);
    return secs;
}

double command_kill_deadline(double started, double deadline, double grace)
{
    double proposed = started + grace;
    return proposed < deadline ? proposed : deadline;
}

double command_shutdown_grace_period(double executor_shutdown_grace)
{
    double g = executor_shutdown_grace - 1.0;
    return g > 0 ? g : 0;
}

int command_framework_has_capability(const Tepui__FrameworkInfo *framework,
                                     Tepui__FrameworkInfo__Capability__Type type)
{
    for (size_t i = 0; framework != NULL && i < framework->n_capabilities; i++)
        if (framework->capabilities[i]->has_type && framework->capabilities[i]->type == type)
            return 1;
    return 0;
}

int command_is_check_update(Tepui__TaskState state, int has_reason,
                            Tepui__TaskStatus__Reason reason)
{
    return state == TEPUI__TASK_STATE__TASK_RUNNING && has_reason &&
           (reason == TEPUI__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED ||
            reason == TEPUI__TASK_STATUS__REASON__REASON_TASK_CHECK_STATUS_UPDATED);
}
