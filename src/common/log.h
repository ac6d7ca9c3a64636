/* The one logger: levels, a component per line, and the IDs a line concerns,
 * so that one task's life can be followed with grep. Writes to stderr. */
#ifndef TEPUI_COMMON_LOG_H
#define TEPUI_COMMON_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warning"/"warn", "error"; returns -1 if unknown. */
int log_level_parse(const char *name);

void log_write(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Each .c file defines LOG_COMPONENT before using these. */
#define log_debug(...) do { if (log_get_level() <= LOG_LEVEL_DEBUG) \
        log_write(LOG_LEVEL_DEBUG, LOG_COMPONENT, __VA_ARGS__); } while (0)
#define log_info(...) log_write(LOG_LEVEL_INFO, LOG_COMPONENT, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, LOG_COMPONENT, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, LOG_COMPONENT, __VA_ARGS__)

#endif
