/* log.h — line-oriented logging: timestamp, member name, level, message; one write() per line. */
#ifndef CONCUR_UTIL_LOG_H
#define CONCUR_UTIL_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

/* A logger is a plain value owned by whoever embeds it (no global logger exists). Writing is
 * thread-safe: each line is formatted into a stack buffer and emitted with one write(2), lines
 * longer than LOG_LINE_MAX are cut and end with "...". */
struct logger {
    char name[64]; /* member or tool name, shown on every line */
    int fd;        /* destination, usually 2 */
    enum log_level level;
};

#define LOG_LINE_MAX 4096

/* Initializes lg writing to fd at level; name is copied (cut to 63 bytes). */
void log_init(struct logger *lg, const char *name, int fd, enum log_level level);

/* Parses "debug|info|warn|error|off"; returns 0 and sets *out, or CC_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Writes one line: "2026-11-22T23:06:54.123Z name LEVEL message\n". lg may be NULL (no-op). */
void log_write(const struct logger *lg, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(const struct logger *lg, enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_debug(lg, ...) log_write((lg), LOG_DEBUG, __VA_ARGS__)
#define log_info(lg, ...)  log_write((lg), LOG_INFO, __VA_ARGS__)
#define log_warn(lg, ...)  log_write((lg), LOG_WARN, __VA_ARGS__)
#define log_error(lg, ...) log_write((lg), LOG_ERROR, __VA_ARGS__)

#endif
