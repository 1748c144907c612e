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
    /* Unexpected errors say where they came from: the location is made
     * first and its room reserved, so a long message cannot push it out. */
    char loc[128] = "";
    if (lv == LOG_LEVEL_ERROR) {
        const char *base = strrchr(file, '/');
        snprintf(loc, sizeof loc, " (%s:%d)", base ? base + 1 : file, line);
    }
    size_t loc_len = strlen(loc);
    size_t room = sizeof msg - loc_len - 1;   /* text + NUL; then loc and '\n' */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(msg, room, "%Y-%m-%d %H:%M:%S", &tm);
    int m = snprintf(msg + n, room - n, ".%03ld polypoold[%d] %s: ",
                     (long)(tv.tv_usec / 1000), (int)getpid(), tags[lv]);
    if (m > 0)
        n = n + (size_t)m >= room ? room - 1 : n + (size_t)m;
    va_list ap;
    va_start(ap, fmt);
    m = vsnprintf(msg + n, room - n, fmt, ap);
    va_end(ap);
    if (m > 0)
        n = n + (size_t)m >= room ? room - 1 : n + (size_t)m;
    memcpy(msg + n, loc, loc_len);
    n += loc_len;
    msg[n++] = '\n';
    ssize_t w = write(log_fd, msg, n);
    (void)w;
}
