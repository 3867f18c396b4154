/* log.c — formatting and emitting log lines. */
#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void log_init(struct logger *lg, const char *name, int fd, enum log_level level)
{
    snprintf(lg->name, sizeof(lg->name), "%s", name ? name : "");
    lg->fd = fd;
    lg->level = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return CC_EINVAL;
}

void log_vwrite(const struct logger *lg, enum log_level level, const char *fmt, va_list ap)
{
    if (!lg || level < lg->level || level >= LOG_OFF) return;
    char line[LOG_LINE_MAX];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), lg->name, level_names[level]);
    if (n < 0) return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0) return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
        memcpy(line + len - 3, "...", 3);
    }
    line[len++] = '\n';
    ssize_t w = write(lg->fd, line, len);
    (void)w;
}

void log_write(const struct logger *lg, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(lg, level, fmt, ap);
    va_end(ap);
}
