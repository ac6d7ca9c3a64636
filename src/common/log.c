/* Logger implementation: one line per call, written with a single write(2)
 * so lines from several processes sharing a file do not interleave. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

int log_level_parse(const char *name)
{
    if (strcasecmp(name, "debug") == 0) return LOG_LEVEL_DEBUG;
    if (strcasecmp(name, "info") == 0) return LOG_LEVEL_INFO;
    if (strcasecmp(name, "warning") == 0 || strcasecmp(name, "warn") == 0) return LOG_LEVEL_WARN;
    if (strcasecmp(name, "error") == 0) return LOG_LEVEL_ERROR;
    return -1;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    static const char letters[] = "DIWE";
    if (level < current_level)
        return;
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%c%02d%02d %02d:%02d:%02d.%06ld %d %s] ",
                     letters[level], tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)tv.tv_usec, (int)getpid(), component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
