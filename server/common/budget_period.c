/* budget_period: UTC period arithmetic. See budget_period.h.
 *
 * Civil dates come from days since the epoch (Howard Hinnant's algorithm),
 * not from gmtime/timegm, so the result never depends on TZ or locale. */
#include "budget_period.h"

#include <string.h>

#define BP_DAY_MS 86400000LL
#define BP_MAX_MS 253402300800000LL /* 10000-01-01T00:00:00Z */

bool budget_period_valid(const char *period)
{
    return period && (strcmp(period, "daily") == 0 || strcmp(period, "weekly") == 0 ||
                      strcmp(period, "monthly") == 0 || strcmp(period, "total") == 0);
}

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian). */
static int64_t bp_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void bp_civil_from_days(int64_t z, int64_t *y, int64_t *m)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

int budget_period_bounds(const char *period, int64_t now_unix_ms, int64_t *start_unix_ms,
                         int64_t *end_unix_ms)
{
    if (!budget_period_valid(period) || now_unix_ms < 0 || now_unix_ms >= BP_MAX_MS)
        return -1;
    int64_t day = now_unix_ms / BP_DAY_MS;
    if (strcmp(period, "total") == 0) {
        *start_unix_ms = 0;
        *end_unix_ms = 0;
    } else if (strcmp(period, "daily") == 0) {
        *start_unix_ms = day * BP_DAY_MS;
        *end_unix_ms = *start_unix_ms + BP_DAY_MS;
    } else if (strcmp(period, "weekly") == 0) {
        int64_t since_monday = (day + 3) % 7; /* 1970-01-01 was a Thursday */
        *start_unix_ms = (day - since_monday) * BP_DAY_MS;
        *end_unix_ms = *start_unix_ms + 7 * BP_DAY_MS;
    } else {
        int64_t y, m;
        bp_civil_from_days(day, &y, &m);
        *start_unix_ms = bp_days_from_civil(y, m, 1) * BP_DAY_MS;
        *end_unix_ms = bp_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * BP_DAY_MS;
    }
    return 0;
}
