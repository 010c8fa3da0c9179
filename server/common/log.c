/* log: key=value lines on stderr. See log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static log_level_t log_level = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level_t level)
{
    log_level = level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

void log_msg(log_level_t level, const char *msg, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char tail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof(tail), fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"%s%s\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, log_names[level], msg, tail[0] ? " " : "", tail);
}
