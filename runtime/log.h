/* log.h - the daemon's log: one line per event on stderr (or --log FILE),
 * with a timestamp; errors also name their source location. Thread-safe
 * (one write(2) per line). */
#ifndef PP_LOG_H
#define PP_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level lv);
enum log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns 0 or -1. */
int log_parse_level(const char *s, enum log_level *out);
/* Sends the log to fd (default 2). The fd is borrowed. */
void log_set_fd(int fd);

void log_write(enum log_level lv, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...)                                                    \
    do {                                                                  \
        if (log_get_level() >= LOG_LEVEL_DEBUG)                           \
            log_write(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#endif
