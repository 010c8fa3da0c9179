/* timefmt: RFC 3339 and Unix milliseconds. See timefmt.h.
 *
 * Calendar arithmetic is done by hand (days from a civil date, H. Hinnant's
 * algorithm) instead of timegm/gmtime: no locale, no TZ, no time_t width. */
#include "timefmt.h"

#include <stdbool.h>
#include <stdio.h>

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t timefmt_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int timefmt_month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* n digits at *p into *out; advances *p. */
static bool timefmt_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int timefmt_bad(const char *text, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen,
             "expected Unix milliseconds, YYYY-MM-DD or an RFC 3339 time "
             "(2026-01-31T12:00:00Z), got '%.64s'%s%s",
             text, why[0] ? ": " : "", why);
    return -1;
}

static int timefmt_millis(const char *text, int64_t *unix_ms, char *err, size_t errlen)
{
    int64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return timefmt_bad(text, err, errlen, "");
        v = v * 10 + (*p - '0');
        if (v > TIMEFMT_MAX_UNIX_MS)
            return timefmt_bad(text, err, errlen, "after year 9999");
    }
    *unix_ms = v;
    return 0;
}

int timefmt_parse(const char *text, int64_t *unix_ms, char *err, size_t errlen)
{
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, ms = 0, oh = 0, om = 0, sign = 0;
    bool all_digits = *p != '\0';
    for (const char *q = p; *q; q++)
        all_digits = all_digits && *q >= '0' && *q <= '9';
    if (all_digits)
        return timefmt_millis(text, unix_ms, err, errlen);
    if (!timefmt_digits(&p, 4, &y) || *p++ != '-' || !timefmt_digits(&p, 2, &mo) || *p++ != '-' ||
        !timefmt_digits(&p, 2, &d))
        return timefmt_bad(text, err, errlen, "");
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > timefmt_month_days(y, mo))
        return timefmt_bad(text, err, errlen, "no such date");
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return timefmt_bad(text, err, errlen, "");
        p++;
        if (!timefmt_digits(&p, 2, &h) || *p++ != ':' || !timefmt_digits(&p, 2, &mi))
            return timefmt_bad(text, err, errlen, "");
        if (*p == ':') {
            p++;
            if (!timefmt_digits(&p, 2, &s))
                return timefmt_bad(text, err, errlen, "");
            if (*p == '.') {
                int scale = 100, n = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, n++) {
                    ms += (*p - '0') * scale; /* past milliseconds scale is 0 */
                    scale /= 10;
                }
                if (n == 0)
                    return timefmt_bad(text, err, errlen, "");
            }
        }
        if (h > 23 || mi > 59 || s > 59)
            return timefmt_bad(text, err, errlen, "no such time of day");
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '+' ? 1 : -1;
            if (!timefmt_digits(&p, 2, &oh) || *p++ != ':' || !timefmt_digits(&p, 2, &om) ||
                oh > 23 || om > 59)
                return timefmt_bad(text, err, errlen, "bad UTC offset");
        } else {
            return timefmt_bad(text, err, errlen, "missing the UTC offset (Z or +HH:MM)");
        }
        if (*p != '\0')
            return timefmt_bad(text, err, errlen, "");
    }
    int64_t secs = timefmt_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
                   (int64_t)sign * (oh * 3600 + om * 60);
    int64_t v = secs * 1000 + ms;
    if (v < 0)
        return timefmt_bad(text, err, errlen, "before 1970");
    if (v > TIMEFMT_MAX_UNIX_MS)
        return timefmt_bad(text, err, errlen, "after year 9999");
    *unix_ms = v;
    return 0;
}

void timefmt_rfc3339(int64_t unix_ms, char *out, size_t outlen)
{
    if (unix_ms < 0 || unix_ms > TIMEFMT_MAX_UNIX_MS) {
        snprintf(out, outlen, "%lld", (long long)unix_ms);
        return;
    }
    int64_t days = unix_ms / 86400000, rem = unix_ms % 86400000;
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
             (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
             (int)(rem % 1000));
}
