/* Validating a task's health check and check (see health_validation.h).
 * The messages follow Mesos's validation, with the field named; Mesos does
 * not look at ports, but a port outside 1-65535 can never be connected to,
 * so it is refused here rather than killing the task later. */
#include "master/health_validation.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* A duration that is given must be a finite, non-negative number of
 * seconds (NaN and infinity cannot be timed). */
static int validate_seconds(int has, double value, const char *field, struct error *err)
{
    if (has && (!isfinite(value) || value < 0.0))
        return error_set(err, -EINVAL, "Expecting '%s' to be non-negative", field);
    return 0;
}

static int validate_port(uint32_t port, const char *field, struct error *err)
{
    if (port == 0 || port > 65535)
        return error_set(err, -EINVAL, "Expecting '%s' to be a port in [1, 65535], got %u", field,
                         (unsigned)port);
    return 0;
}

/* A check's command: something to run, as a shell command or a program. */
static int validate_command(const Tepui__CommandInfo *cmd, const char *kind, struct error *err)
{
    int shell = !cmd->has_shell || cmd->shell;
    if (cmd->value == NULL || cmd->value[0] == '\0')
        return error_set(err, -EINVAL, "Command %s must contain %s", kind,
                         shell ? "'shell command'" : "'executable path'");
    if (cmd->environment != NULL) {
        for (size_t i = 0; i < cmd->environment->n_variables; i++) {
            const Tepui__Environment__Variable *v = cmd->environment->variables[i];
            if (v->name == NULL || v->name[0] == '\0' || strchr(v->name, '=') != NULL)
                return error_set(err, -EINVAL, "%s's `CommandInfo` is invalid: environment "
                                 "variable %zu has an invalid name", kind, i);
            if (v->has_type && v->type == TEPUI__ENVIRONMENT__VARIABLE__TYPE__SECRET)
                return error_set(err, -EINVAL, "%s's `CommandInfo` is invalid: environment "
                                 "variable '%s' is a secret, which is not supported", kind,
                                 v->name);
        }
    }
    return 0;
}

static int validate_http_path(const char *path, const char *kind, struct error *err)
{
    if (path != NULL && path[0] != '/')
        return error_set(err, -EINVAL, "The path '%s' of HTTP %s must start with '/'", path, kind);
    /* The path goes into a request line as it is. */
    for (const char *s = path; s != NULL && *s != '\0'; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return error_set(err, -EINVAL, "The path of HTTP %s must not contain spaces or "
                             "control characters", kind);
    return 0;
}

int health_validate_health_check(const Tepui__HealthCheck *hc, struct error *err)
{
    if (!hc->has_type)
        return error_set(err, -EINVAL, "HealthCheck must specify 'type'");
    switch (hc->type) {
    case TEPUI__HEALTH_CHECK__TYPE__COMMAND:
        if (hc->command == NULL)
            return error_set(err, -EINVAL, "Expecting 'command' to be set for COMMAND health check");
        if (validate_command(hc->command, "health check", err) != 0)
            return -EINVAL;
        break;
    case TEPUI__HEALTH_CHECK__TYPE__HTTP:
        if (hc->http == NULL)
            return error_set(err, -EINVAL, "Expecting 'http' to be set for HTTP health check");
        if (hc->http->scheme != NULL && strcmp(hc->http->scheme, "http") != 0 &&
            strcmp(hc->http->scheme, "https") != 0)
            return error_set(err, -EINVAL, "Unsupported HTTP health check scheme: '%s'",
                             hc->http->scheme);
        if (validate_http_path(hc->http->path, "health check", err) != 0 ||
            validate_port(hc->http->port, "http.port", err) != 0)
            return -EINVAL;
        break;
    case TEPUI__HEALTH_CHECK__TYPE__TCP:
        if (hc->tcp == NULL)
            return error_set(err, -EINVAL, "Expecting 'tcp' to be set for TCP health check");
        if (validate_port(hc->tcp->port, "tcp.port", err) != 0)
            return -EINVAL;
        break;
    default:
        return error_set(err, -EINVAL, "'%s' is not a valid health check type",
                         hc->type == TEPUI__HEALTH_CHECK__TYPE__UNKNOWN ? "UNKNOWN" : "(unnamed)");
    }
    if (validate_seconds(hc->has_delay_seconds, hc->delay_seconds, "delay_seconds", err) != 0 ||
        validate_seconds(hc->has_grace_period_seconds, hc->grace_period_seconds,
                         "grace_period_seconds", err) != 0 ||
        validate_seconds(hc->has_interval_seconds, hc->interval_seconds, "interval_seconds",
                         err) != 0 ||
        validate_seconds(hc->has_timeout_seconds, hc->timeout_seconds, "timeout_seconds", err) != 0)
        return -EINVAL;
    return 0;
}

int health_validate_check(const Tepui__CheckInfo *check, struct error *err)
{
    if (!check->has_type)
        return error_set(err, -EINVAL, "CheckInfo must specify 'type'");
    switch (check->type) {
    case TEPUI__CHECK_INFO__TYPE__COMMAND:
        if (check->command == NULL || check->command->command == NULL)
            return error_set(err, -EINVAL, "Expecting 'command' to be set for COMMAND check");
        if (validate_command(check->command->command, "check", err) != 0)
            return -EINVAL;
        break;
    case TEPUI__CHECK_INFO__TYPE__HTTP:
        if (check->http == NULL)
            return error_set(err, -EINVAL, "Expecting 'http' to be set for HTTP check");
        if (validate_http_path(check->http->path, "check", err) != 0 ||
            validate_port(check->http->port, "http.port", err) != 0)
            return -EINVAL;
        break;
    case TEPUI__CHECK_INFO__TYPE__TCP:
        if (check->tcp == NULL)
            return error_set(err, -EINVAL, "Expecting 'tcp' to be set for TCP check");
        if (validate_port(check->tcp->port, "tcp.port", err) != 0)
            return -EINVAL;
        break;
    default:
        return error_set(err, -EINVAL, "'%s' is not a valid check type",
                         check->type == TEPUI__CHECK_INFO__TYPE__UNKNOWN ? "UNKNOWN" : "(unnamed)");
    }
    if (validate_seconds(check->has_delay_seconds, check->delay_seconds, "delay_seconds", err) != 0 ||
        validate_seconds(check->has_interval_seconds, check->interval_seconds, "interval_seconds",
                         err) != 0 ||
        validate_seconds(check->has_timeout_seconds, check->timeout_seconds, "timeout_seconds",
                         err) != 0)
        return -EINVAL;
    return 0;
}

int health_validate_task(const Tepui__TaskInfo *task, struct error *err)
{
    if (task->health_check != NULL && health_validate_health_check(task->health_check, err) != 0)
        return error_prefix(err, "Task uses invalid health check");
    if (task->check != NULL && health_validate_check(task->check, err) != 0)
        return error_prefix(err, "Task uses invalid check");
    return 0;
}
