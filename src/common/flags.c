/* Flag parsing and the text formats of Mesos durations and byte sizes. */
#include "common/flags.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

int flags_parse_duration(const char *text, double *seconds)
{
    static const struct { const char *unit; double mult; } units[] = {
        {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"secs", 1}, {"mins", 60},
        {"hrs", 3600}, {"days", 86400}, {"weeks", 604800},
    };
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno != 0 || !isfinite(v) || v < 0)
        return -EINVAL;
    if (*end == '\0') {
        /* A bare number is seconds. */
        *seconds = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            *seconds = v * units[i].mult;
            return 0;
        }
    }
    return -EINVAL;
}

void flags_format_duration(double s, char *out, size_t n)
{
    if (s >= 604800 && fmod(s, 604800) == 0)
        snprintf(out, n, "%.0fweeks", s / 604800);
    else if (s >= 86400 && fmod(s, 86400) == 0)
        snprintf(out, n, "%.0fdays", s / 86400);
    else if (s >= 3600 && fmod(s, 3600) == 0)
        snprintf(out, n, "%.0fhrs", s / 3600);
    else if (s >= 60 && fmod(s, 60) == 0)
        snprintf(out, n, "%.0fmins", s / 60);
    else if (s >= 1 || s == 0)
        snprintf(out, n, "%gsecs", s);
    else if (s >= 1e-3)
        snprintf(out, n, "%gms", s * 1e3);
    else if (s >= 1e-6)
        snprintf(out, n, "%gus", s * 1e6);
    else
        snprintf(out, n, "%gns", s * 1e9);
}

int flags_parse_bytes(const char *text, long long *bytes)
{
    static const struct { const char *unit; long long mult; } units[] = {
        {"B", 1}, {"KB", 1LL << 10}, {"MB", 1LL << 20}, {"GB", 1LL << 30}, {"TB", 1LL << 40},
    };
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno != 0 || v < 0 || !isfinite(v))
        return -EINVAL;
    long long mult = 1;
    if (*end != '\0') {
        size_t i;
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcasecmp(end, units[i].unit) == 0)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            return -EINVAL;
        mult = units[i].mult;
    }
    if (v * (double)mult > 9.2e18)
        return -ERANGE;
    *bytes = (long long)(v * (double)mult);
    return 0;
}

static struct flag_def *find(struct flag_set *set, const char *name, size_t len)
{
    for (size_t i = 0; i < set->n; i++)
        if (strlen(set->defs[i].name) == len && strncmp(set->defs[i].name, name, len) == 0)
            return &set->defs[i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0) {
        *out = 0;
        return 0;
    }
    return -EINVAL;
}

static int assign(struct flag_set *set, struct flag_def *d, const char *value, const char *source,
                  struct error *err)
{
    char *end = NULL;
    switch (d->type) {
    case FLAG_STRING: {
        char *copy = xstrdup(value);
        set->strings = xrealloc(set->strings, (set->n_strings + 1) * sizeof(char *));
        set->strings[set->n_strings++] = copy;
        *(char **)d->ptr = copy;
        return 0;
    }
    case FLAG_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (end == value || *end != '\0' || errno != 0 || v < -2147483647L || v > 2147483647L)
            return error_set(err, -EINVAL, "%s '%s': expected an integer, got '%s'", source,
                             d->name, value);
        *(int *)d->ptr = (int)v;
        return 0;
    }
    case FLAG_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || errno != 0 || !isfinite(v))
            return error_set(err, -EINVAL, "%s '%s': expected a number, got '%s'", source,
                             d->name, value);
        *(double *)d->ptr = v;
        return 0;
    }
    case FLAG_BOOL:
        if (parse_bool(value, (int *)d->ptr) != 0)
            return error_set(err, -EINVAL, "%s '%s': expected true or false, got '%s'", source,
                             d->name, value);
        return 0;
    case FLAG_DURATION:
        if (flags_parse_duration(value, (double *)d->ptr) != 0)
            return error_set(err, -EINVAL,
                             "%s '%s': expected a duration such as 5secs or 100ms, got '%s'",
                             source, d->name, value);
        return 0;
    case FLAG_BYTES:
        if (flags_parse_bytes(value, (long long *)d->ptr) != 0)
            return error_set(err, -EINVAL, "%s '%s': expected a size such as 64MB, got '%s'",
                             source, d->name, value);
        return 0;
    }
    return -EINVAL;
}

int flags_parse(struct flag_set *set, int argc, char **argv, char ***positional,
                int *n_positional, struct error *err)
{
    int rc;
    set->set_on_command_line = xcalloc(set->n, sizeof(int));
    for (size_t i = 0; i < set->n; i++) {
        struct flag_def *d = &set->defs[i];
        if (d->type == FLAG_STRING)
            *(char **)d->ptr = NULL;
        if (d->default_value != NULL &&
            (rc = assign(set, d, d->default_value, "default of flag", err)) != 0)
            return rc;
        char env[160] = "TEPUI_";
        size_t k = strlen(env);
        for (const char *c = d->name; *c && k + 1 < sizeof(env); c++)
            env[k++] = (char)toupper((unsigned char)*c);
        env[k] = '\0';
        const char *v = getenv(env);
        if (v != NULL && (rc = assign(set, d, v, "environment variable for flag", err)) != 0)
            return rc;
    }
    if (n_positional)
        *n_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            flags_usage(set, stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (positional == NULL)
                return error_set(err, -EINVAL, "unexpected argument '%s' (see --help)", a);
            *positional = xrealloc(*positional, (size_t)(*n_positional + 1) * sizeof(char *));
            (*positional)[(*n_positional)++] = argv[i];
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        struct flag_def *d = find(set, name, len);
        const char *value = eq ? eq + 1 : NULL;
        if (d == NULL && value == NULL && strncmp(name, "no-", 3) == 0) {
            d = find(set, name + 3, len - 3);
            if (d != NULL && d->type == FLAG_BOOL) {
                *(int *)d->ptr = 0;
                set->set_on_command_line[d - set->defs] = 1;
                continue;
            }
            d = NULL;
        }
        if (d == NULL)
            return error_set(err, -EINVAL, "unknown flag '--%.*s' (see --help)", (int)len, name);
        if (value == NULL) {
            if (d->type == FLAG_BOOL) {
                value = "true";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                return error_set(err, -EINVAL, "flag '--%s' needs a value", d->name);
            }
        }
        if ((rc = assign(set, d, value, "flag", err)) != 0)
            return rc;
        set->set_on_command_line[d - set->defs] = 1;
    }
    return 0;
}

int flags_was_set(const struct flag_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->defs[i].name, name) == 0)
            return set->set_on_command_line ? set->set_on_command_line[i] : 0;
    return 0;
}

static void value_text(const struct flag_def *d, char *out, size_t n)
{
    switch (d->type) {
    case FLAG_STRING: {
        const char *s = *(char **)d->ptr;
        snprintf(out, n, "%s", s ? s : "");
        return;
    }
    case FLAG_INT: snprintf(out, n, "%d", *(int *)d->ptr); return;
    case FLAG_DOUBLE: snprintf(out, n, "%g", *(double *)d->ptr); return;
    case FLAG_BOOL: snprintf(out, n, "%s", *(int *)d->ptr ? "true" : "false"); return;
    case FLAG_DURATION: flags_format_duration(*(double *)d->ptr, out, n); return;
    case FLAG_BYTES: snprintf(out, n, "%lldB", *(long long *)d->ptr); return;
    }
}

void flags_usage(const struct flag_set *set, FILE *out)
{
    fprintf(out, "Usage: %s [options]\n", set->program);
    if (set->summary)
        fprintf(out, "%s\n", set->summary);
    fprintf(out, "\nEach flag can also be given as the environment variable TEPUI_<NAME>.\n\n");
    for (size_t i = 0; i < set->n; i++) {
        const struct flag_def *d = &set->defs[i];
        char left[96];
        if (d->type == FLAG_BOOL)
            snprintf(left, sizeof(left), "--[no-]%s", d->name);
        else
            snprintf(left, sizeof(left), "--%s=VALUE", d->name);
        fprintf(out, "  %-34s %s", left, d->help);
        if (d->default_value != NULL)
            fprintf(out, " (default: %s)", d->default_value);
        fputc('\n', out);
    }
}

json_t *flags_to_json(const struct flag_set *set)
{
    json_t *o = json_object();
    for (size_t i = 0; i < set->n; i++) {
        const struct flag_def *d = &set->defs[i];
        if (d->type == FLAG_STRING && *(char **)d->ptr == NULL)
            continue;
        char text[512];
        value_text(d, text, sizeof(text));
        json_object_set_new(o, d->name, json_string(text));
    }
    return o;
}

void flags_free(struct flag_set *set)
{
    for (size_t i = 0; i < set->n_strings; i++)
        free(set->strings[i]);
    free(set->strings);
    free(set->set_on_command_line);
    set->strings = NULL;
    set->n_strings = 0;
    set->set_on_command_line = NULL;
}
