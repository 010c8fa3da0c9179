/* usage: usage ingestion and reports. See usage.h.
 *
 * COPY cannot be a prepared statement; its fixed text is the one SQL string
 * outside the statement table and carries no values (rows travel as COPY
 * data, escaped here). */
#include "usage.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "store_analytics.h"
#include "utf8.h"

#define USAGE_COPY                                                                                 \
    "COPY usage_events (ts, node_id, request_id, api_key, team, route, provider, model,"           \
    " prompt_tokens, completion_tokens, cost_usd, latency_ms, status, redacted_emails,"            \
    " redacted_phones, redacted_cards, redacted_ibans) FROM STDIN"
#define USAGE_DAY_MS 86400000LL
#define USAGE_MONTHS_CACHED 256

#define USAGE_REPORT_SQL(col)                                                                      \
    "SELECT " col " AS grp, count(*) AS requests, count(*) FILTER (WHERE status <> 0) AS errors,"  \
    " coalesce(sum(prompt_tokens), 0) AS prompt_tokens,"                                           \
    " coalesce(sum(completion_tokens), 0) AS completion_tokens,"                                   \
    " coalesce(sum(cost_usd), 0) AS cost_usd FROM usage_events"                                    \
    " WHERE ts >= to_timestamp($1::bigint / 1000.0) AND ts < to_timestamp($2::bigint / 1000.0)"    \
    " GROUP BY " col " ORDER BY cost_usd DESC, grp"
#define USAGE_SPEND_SQL(cond)                                                                      \
    "SELECT coalesce(sum(cost_usd), 0) AS spent FROM usage_events"                                 \
    " WHERE ts >= to_timestamp($1::bigint / 1000.0)" cond

const store_stmt_t usage_stmts[] = {
    {"usage_partition", "SELECT usage_ensure_partition(to_timestamp($1::bigint / 1000.0))", 1},
    {"usage_node_known", "SELECT 1 FROM dataplane_nodes WHERE node_id = $1", 1},
    {"usage_seq_init",
     "INSERT INTO node_usage_seq (node_id, epoch, last_seq) VALUES ($1, $2::bigint, 0)"
     " ON CONFLICT DO NOTHING",
     2},
    {"usage_seq_lock",
     "SELECT last_seq FROM node_usage_seq WHERE node_id = $1 AND epoch = $2::bigint FOR UPDATE", 2},
    {"usage_seq_advance",
     "UPDATE node_usage_seq SET last_seq = $3::bigint, events = events + $4::bigint,"
     " updated_at = now() WHERE node_id = $1 AND epoch = $2::bigint",
     4},
    {"usage_report_team", USAGE_REPORT_SQL("team"), 2},
    {"usage_report_key", USAGE_REPORT_SQL("api_key"), 2},
    {"usage_report_provider", USAGE_REPORT_SQL("provider"), 2},
    {"usage_report_model", USAGE_REPORT_SQL("model"), 2},
    {"usage_spend_org", USAGE_SPEND_SQL(""), 1},
    {"usage_spend_team", USAGE_SPEND_SQL(" AND team = $2"), 2},
    {"usage_spend_key", USAGE_SPEND_SQL(" AND api_key = $2"), 2},
    {"usage_spend_provider", USAGE_SPEND_SQL(" AND provider = $2"), 2},
    {NULL, NULL, 0},
};

/* --- checks ---------------------------------------------------------------- */

/* Printable text: well-formed UTF-8 without control characters. */
static int usage_check_text(const char *s, size_t min, size_t max, size_t i, const char *field,
                            char *err, size_t errlen)
{
    size_t n = s ? strlen(s) : 0;
    if (n < min || n > max) {
        snprintf(err, errlen, "records[%zu].%s: expected %zu to %zu bytes", i, field, min, max);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t k = utf8_seq_len(p, end);
        if (k == 0 || (k == 1 && (*p < 0x20 || *p == 0x7f))) {
            snprintf(err, errlen, "records[%zu].%s: expected printable UTF-8 text", i, field);
            return -1;
        }
        p += k;
    }
    return 0;
}

static int usage_check_count(int64_t v, size_t i, const char *field, char *err, size_t errlen)
{
    if (v < 0 || v > (int64_t)1 << 50) {
        snprintf(err, errlen, "records[%zu].%s: expected an integer >= 0", i, field);
        return -1;
    }
    return 0;
}

static bool usage_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int usage_check_batch(const Llmgw__V1__ReportUsageRequest *r, int64_t now_unix_ms, char *err,
                      size_t errlen)
{
    if (!usage_name_ok(r->node_id)) {
        snprintf(err, errlen, "node_id: expected 1 to 64 characters from A-Z a-z 0-9 . _ -");
        return -1;
    }
    if (r->epoch <= 0) {
        snprintf(err, errlen, "epoch: expected an integer > 0");
        return -1;
    }
    if (r->seq <= 0) {
        snprintf(err, errlen, "seq: expected an integer > 0");
        return -1;
    }
    if (r->n_records == 0 || r->n_records > USAGE_BATCH_MAX) {
        snprintf(err, errlen, "records: expected 1 to %d records, got %zu", USAGE_BATCH_MAX,
                 r->n_records);
        return -1;
    }
    for (size_t i = 0; i < r->n_records; i++) {
        const Llmgw__V1__UsageRecord *u = r->records[i];
        if (usage_check_text(u->request_id, 1, 64, i, "request_id", err, errlen) < 0 ||
            usage_check_text(u->key, 0, 64, i, "key", err, errlen) < 0 ||
            usage_check_text(u->team, 0, 64, i, "team", err, errlen) < 0 ||
            usage_check_text(u->route, 0, 64, i, "route", err, errlen) < 0 ||
            usage_check_text(u->provider, 0, 64, i, "provider", err, errlen) < 0 ||
            usage_check_text(u->model, 0, 256, i, "model", err, errlen) < 0 ||
            usage_check_count(u->prompt_tokens, i, "prompt_tokens", err, errlen) < 0 ||
            usage_check_count(u->completion_tokens, i, "completion_tokens", err, errlen) < 0 ||
            usage_check_count(u->latency_ms, i, "latency_ms", err, errlen) < 0 ||
            usage_check_count(u->redacted_emails, i, "redacted_emails", err, errlen) < 0 ||
            usage_check_count(u->redacted_phones, i, "redacted_phones", err, errlen) < 0 ||
            usage_check_count(u->redacted_cards, i, "redacted_cards", err, errlen) < 0 ||
            usage_check_count(u->redacted_ibans, i, "redacted_ibans", err, errlen) < 0)
            return -1;
        if (!isfinite(u->cost_usd) || u->cost_usd < 0 || u->cost_usd > 1e9) {
            snprintf(err, errlen, "records[%zu].cost_usd: expected a finite number >= 0", i);
            return -1;
        }
        if (u->status < 0 || u->status > 16) {
            snprintf(err, errlen, "records[%zu].status: expected a gRPC status code 0..16", i);
            return -1;
        }
        if (u->unix_ms < USAGE_MIN_UNIX_MS || u->unix_ms > now_unix_ms + USAGE_DAY_MS) {
            snprintf(err, errlen,
                     "records[%zu].unix_ms: expected a time from 2020-01-01 to a day from now", i);
            return -1;
        }
    }
    return store_analytics_check(r, now_unix_ms, err, errlen);
}

/* --- partitions ------------------------------------------------------------- */

static pthread_mutex_t usage_months_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t usage_months[USAGE_MONTHS_CACHED];
static size_t usage_n_months;

static int64_t usage_month_of(int64_t unix_ms)
{
    time_t s = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    return (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static bool usage_month_known(int64_t month)
{
    bool known = false;
    pthread_mutex_lock(&usage_months_mu);
    for (size_t i = 0; i < usage_n_months && !known; i++)
        known = usage_months[i] == month;
    pthread_mutex_unlock(&usage_months_mu);
    return known;
}

static void usage_month_add(int64_t month)
{
    pthread_mutex_lock(&usage_months_mu);
    if (usage_n_months < USAGE_MONTHS_CACHED)
        usage_months[usage_n_months++] = month;
    pthread_mutex_unlock(&usage_months_mu);
}

bool usage_partitions_cached(const Llmgw__V1__ReportUsageRequest *r)
{
    int64_t last = -1;
    for (size_t i = 0; i < r->n_records; i++) {
        int64_t month = usage_month_of(r->records[i]->unix_ms);
        if (month != last && !usage_month_known(month))
            return false;
        last = month;
    }
    return true;
}

int usage_ensure_partitions(PGconn *c, const Llmgw__V1__ReportUsageRequest *r, store_err_t *e)
{
    int64_t done[8];
    size_t n_done = 0;
    for (size_t i = 0; i < r->n_records; i++) {
        int64_t month = usage_month_of(r->records[i]->unix_ms);
        bool seen = false;
        for (size_t k = 0; k < n_done && !seen; k++)
            seen = done[k] == month;
        if (seen || usage_month_known(month))
            continue;
        char ms[24];
        snprintf(ms, sizeof(ms), "%" PRId64, r->records[i]->unix_ms);
        const char *params[] = {ms};
        PGresult *res = store_exec(c, "usage_partition", 1, params, e);
        if (!res)
            return -1;
        PQclear(res);
        usage_month_add(month);
        if (n_done < sizeof(done) / sizeof(done[0]))
            done[n_done++] = month;
    }
    return 0;
}

/* --- ingest ------------------------------------------------------------------- */

/* COPY text format: backslash, tab, newline and carriage return escaped.
 * The checks admitted no other control character. */
static int usage_copy_text(buf_t *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        const char *esc = *p == '\\'   ? "\\\\"
                          : *p == '\t' ? "\\t"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                                       : NULL;
        if (esc ? buf_append_str(b, esc) < 0 : buf_append(b, p, 1) < 0)
            return -1;
    }
    return 0;
}

static int usage_copy_row(buf_t *b, const char *node_id, const Llmgw__V1__UsageRecord *u)
{
    time_t s = (time_t)(u->unix_ms / 1000);
    struct tm tm;
    char ts[48];
    gmtime_r(&s, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03d+00", (int)(u->unix_ms % 1000));
    const char *texts[] = {node_id,  u->request_id, u->key,  u->team,
                           u->route, u->provider,   u->model};
    if (buf_append_str(b, ts) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (buf_append(b, "\t", 1) < 0 || usage_copy_text(b, texts[i] ? texts[i] : "") < 0)
            return -1;
    return buf_printf(b, "\t%" PRId64 "\t%" PRId64 "\t%.17g\t%" PRId64 "\t%d\t%d\t%d\t%d\t%d\n",
                      u->prompt_tokens, u->completion_tokens, u->cost_usd, u->latency_ms, u->status,
                      u->redacted_emails, u->redacted_phones, u->redacted_cards, u->redacted_ibans);
}

static int usage_copy(PGconn *c, const Llmgw__V1__ReportUsageRequest *r, store_err_t *e)
{
    int rc = -1;
    buf_t b = BUF_INIT(64u << 20);
    PGresult *res = PQexec(c, USAGE_COPY);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        store_fail(e, store_classify(res, c), "usage_events: %s", PQresultErrorMessage(res));
        PQclear(res);
        goto out;
    }
    PQclear(res);
    for (size_t i = 0; i < r->n_records; i++) {
        if (usage_copy_row(&b, r->node_id, r->records[i]) < 0) {
            PQputCopyEnd(c, "out of memory");
            store_fail(e, STORE_HARD, "usage_events: out of memory");
            goto drain;
        }
    }
    if (PQputCopyData(c, b.data, (int)b.len) != 1 || PQputCopyEnd(c, NULL) != 1) {
        store_fail(e, STORE_UNAVAILABLE, "usage_events: %s", PQerrorMessage(c));
        goto drain;
    }
    rc = 0;
drain:
    /* The COPY's own result, then the end of the command. */
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            store_fail(e, store_classify(res, c), "usage_events: %s", PQresultErrorMessage(res));
            rc = -1;
        }
        PQclear(res);
    }
    e->msg[strcspn(e->msg, "\n")] = '\0';
out:
    buf_free(&b);
    return rc;
}

int usage_ingest(PGconn *c, const Llmgw__V1__ReportUsageRequest *r, usage_ingest_result_t *res,
                 store_err_t *e)
{
    char epoch[24], seq[24], n[24];
    memset(res, 0, sizeof(*res));
    snprintf(epoch, sizeof(epoch), "%" PRId64, r->epoch);
    snprintf(seq, sizeof(seq), "%" PRId64, r->seq);
    snprintf(n, sizeof(n), "%zu", r->n_records);
    const char *p_node[] = {r->node_id};
    PGresult *q = store_exec(c, "usage_node_known", 1, p_node, e);
    if (!q)
        return -1;
    bool known = PQntuples(q) == 1;
    PQclear(q);
    if (!known) {
        res->outcome = USAGE_UNKNOWN_NODE;
        snprintf(res->msg, sizeof(res->msg),
                 "node_id: '%s' is not a known node (it never subscribed to WatchRoutingTable)",
                 r->node_id);
        return 0;
    }
    const char *p_seq[] = {r->node_id, epoch, seq, n};
    if (!(q = store_exec(c, "usage_seq_init", 2, p_seq, e)))
        return -1;
    PQclear(q);
    if (!(q = store_exec_one(c, "usage_seq_lock", 2, p_seq, "node_usage_seq", e)))
        return -1;
    int64_t last = strtoll(store_get(q, 0, "last_seq"), NULL, 10);
    PQclear(q);
    res->acked_seq = last;
    if (r->seq <= last) {
        res->outcome = USAGE_DUPLICATE;
        return 0;
    }
    if (r->seq != last + 1) {
        res->outcome = USAGE_GAP;
        snprintf(res->msg, sizeof(res->msg),
                 "seq: expected %" PRId64 " (the last stored batch of epoch %" PRId64 " is %" PRId64
                 "), got %" PRId64,
                 last + 1, r->epoch, last, r->seq);
        return 0;
    }
    if (usage_copy(c, r, e) < 0 || store_analytics_merge(c, r, e) < 0)
        return -1;
    if (!(q = store_exec(c, "usage_seq_advance", 4, p_seq, e)))
        return -1;
    PQclear(q);
    res->outcome = USAGE_STORED;
    res->acked_seq = r->seq;
    return 0;
}

/* --- reads -------------------------------------------------------------------- */

int usage_report(PGconn *c, const char *by, int64_t since_unix_ms, int64_t until_unix_ms,
                 Llmgw__V1__UsageReportResponse *out, store_err_t *e)
{
    const char *stmt = strcmp(by, "team") == 0       ? "usage_report_team"
                       : strcmp(by, "key") == 0      ? "usage_report_key"
                       : strcmp(by, "provider") == 0 ? "usage_report_provider"
                       : strcmp(by, "model") == 0    ? "usage_report_model"
                                                     : NULL;
    if (!stmt)
        return store_fail(e, STORE_INVALID, "by: expected one of team, key, provider, model");
    char since[24], until[24];
    snprintf(since, sizeof(since), "%" PRId64, since_unix_ms);
    snprintf(until, sizeof(until), "%" PRId64, until_unix_ms);
    const char *params[] = {since, until};
    PGresult *r = store_exec(c, stmt, 2, params, e);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    out->rows = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->rows));
    if (!out->rows)
        goto oom;
    for (int i = 0; i < rows; i++) {
        Llmgw__V1__UsageReportRow *row = malloc(sizeof(*row));
        if (!row)
            goto oom;
        llmgw__v1__usage_report_row__init(row);
        out->rows[out->n_rows++] = row;
        if (!(row->group = strdup(store_get(r, i, "grp"))))
            goto oom;
        row->requests = strtoll(store_get(r, i, "requests"), NULL, 10);
        row->errors = strtoll(store_get(r, i, "errors"), NULL, 10);
        row->prompt_tokens = strtoll(store_get(r, i, "prompt_tokens"), NULL, 10);
        row->completion_tokens = strtoll(store_get(r, i, "completion_tokens"), NULL, 10);
        row->cost_usd = strtod(store_get(r, i, "cost_usd"), NULL);
    }
    PQclear(r);
    return 0;
oom:
    PQclear(r);
    return store_fail(e, STORE_HARD, "usage report: out of memory");
}

int usage_spend(PGconn *c, const char *scope, const char *target, int64_t since_unix_ms,
                double *spent_usd, store_err_t *e)
{
    const char *stmt = strcmp(scope, "org") == 0        ? "usage_spend_org"
                       : strcmp(scope, "team") == 0     ? "usage_spend_team"
                       : strcmp(scope, "key") == 0      ? "usage_spend_key"
                       : strcmp(scope, "provider") == 0 ? "usage_spend_provider"
                                                        : NULL;
    if (!stmt)
        return store_fail(e, STORE_INVALID,
                          "budget.scope: expected one of org, team, key, provider");
    char since[24];
    snprintf(since, sizeof(since), "%" PRId64, since_unix_ms);
    const char *params[] = {since, target};
    PGresult *r = store_exec(c, stmt, strcmp(scope, "org") == 0 ? 1 : 2, params, e);
    if (!r)
        return -1;
    *spent_usd = strtod(store_get(r, 0, "spent"), NULL);
    PQclear(r);
    return 0;
}
