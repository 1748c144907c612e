/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level level = LOG_LEVEL_INFO;
static int log_fd = 2;

void log_set_level(enum log_level lv) { level = lv; }
enum log_level log_get_level(void) { return level; }
void log_set_fd(int fd) { log_fd = fd; }

int log_parse_level(const char *s, enum log_level *out)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_write(enum log_level lv, const char *file, int line, const char *fmt, ...)
{
    static const char *tags[] = { "error", "warn", "info", "debug" };
    if (lv > level)
        return;
    char msg[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(msg, sizeof msg, "%Y-%m-%d %H:%M:%S", &tm);
    n += snprintf(msg + n, sizeof msg - (size_t)n, ".%03ld polypoold[%d] %s: ",
                  (long)(tv.tv_usec / 1000), (int)getpid(), tags[lv]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    n = (m < 0 || (size_t)(n + m) >= sizeof msg) ? (int)sizeof msg - 1 : n + m;
    /* Unexpected errors say where they came from. */
    if (lv == LOG_LEVEL_ERROR && (size_t)n < sizeof msg - 1) {
        const char *base = strrchr(file, '/');
        m = snprintf(msg + n, sizeof msg - (size_t)n, " (%s:%d)", base ? base + 1 : file, line);
        n = (m < 0 || (size_t)(n + m) >= sizeof msg) ? (int)sizeof msg - 1 : n + m;
    }
    if ((size_t)n >= sizeof msg - 1)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    ssize_t w = write(log_fd, msg, (size_t)n);
    (void)w;
}
