/* Command-line flags: --name=value (Mesos names where a Mesos flag exists),
 * each also settable through the environment variable TEPUI_<NAME>; the
 * command line wins over the environment, which wins over the default. */
#ifndef TEPUI_COMMON_FLAGS_H
#define TEPUI_COMMON_FLAGS_H

#include <jansson.h>
#include <stdio.h>

#include "common/error.h"

enum flag_type {
    FLAG_STRING,    /* char * (owned by the flag set; NULL when unset) */
    FLAG_INT,       /* int */
    FLAG_DOUBLE,    /* double */
    FLAG_BOOL,      /* int 0/1: --name, --no-name, --name=true|false */
    FLAG_DURATION,  /* double seconds: "5secs", "100ms", "2mins", "1hrs", "1days", "1weeks" */
    FLAG_BYTES,     /* long long bytes: "512B", "64KB", "10MB", "2GB", "1TB" */
};

struct flag_def {
    const char *name;
    enum flag_type type;
    void *ptr;
    const char *default_value;  /* text form; NULL for none */
    const char *help;
};

struct flag_set {
    const char *program;
    const char *summary;        /* one line on what the program is */
    struct flag_def *defs;
    size_t n;
    char **strings;             /* string values we allocated */
    size_t n_strings;
    int *set_on_command_line;   /* per flag: given explicitly */
};

/* Applies defaults, then TEPUI_<NAME> variables, then argv. Returns 0, 1 when
 * --help was asked for (usage printed), or a negative code with err naming the
 * bad flag. Positional arguments are an error unless positional is non-NULL,
 * in which case they are moved to its array (argv order), counted in *n_positional. */
int flags_parse(struct flag_set *set, int argc, char **argv, char ***positional,
                int *n_positional, struct error *err);
void flags_usage(const struct flag_set *set, FILE *out);
/* {"name": "value", ...} of every flag's current value, as /flags shows them. */
json_t *flags_to_json(const struct flag_set *set);
int flags_was_set(const struct flag_set *set, const char *name);
void flags_free(struct flag_set *set);

/* Parsers shared with other code that reads Mesos-style values. */
int flags_parse_duration(const char *text, double *seconds);
int flags_parse_bytes(const char *text, long long *bytes);
/* Formats a duration the way Mesos prints one ("5secs", "100ms"). */
void flags_format_duration(double seconds, char *out, size_t n);

#endif
