/* log: one line per event, `ts=… level=… msg="…" key=value…`, to stderr.
 *
 * Callers format the key=value tail themselves; never pass a secret, an API
 * key or a prompt. Thread-safe (one fprintf per line).
 */
#ifndef LLMGW_LOG_H
#define LLMGW_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_set_level(log_level_t level);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *s);
void log_msg(log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

#endif
