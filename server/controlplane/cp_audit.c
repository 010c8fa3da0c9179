/* cp_audit: AuditService handlers. See cp_audit.h. */
#include "cp_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_query.h"
#include "cp_rpc.h"
#include "store_tx.h"
#include "utf8.h"

/* A filter text: at most AUDIT_QUERY_MAX_VALUE bytes of UTF-8 without
 * control characters (they would only garble the table a person reads). */
static int cp_audit_check_text(const char *field, const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n > AUDIT_QUERY_MAX_VALUE) {
        snprintf(err, errlen, "%s: longer than %d bytes", field, AUDIT_QUERY_MAX_VALUE);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t len = utf8_seq_len(p, end);
        if (len == 0 || (len == 1 && (*p < 0x20 || *p == 0x7f))) {
            snprintf(err, errlen, "%s: %s at byte %zu", field,
                     len == 0 ? "not valid UTF-8" : "control character",
                     (size_t)(p - (const unsigned char *)s));
            return -1;
        }
        p += len;
    }
    return 0;
}

static int cp_audit_check_ms(const char *field, int64_t v, char *err, size_t errlen)
{
    if (v < 0 || v > CP_AUDIT_MAX_UNIX_MS) {
        snprintf(err, errlen, "%s: expected Unix milliseconds in 0..%lld, got %lld", field,
                 CP_AUDIT_MAX_UNIX_MS, (long long)v);
        return -1;
    }
    return 0;
}

int cp_audit_check_filter(const Llmgw__V1__AuditFilter *f, char *err, size_t errlen)
{
    if (!f)
        return 0;
    if (cp_audit_check_ms("filter.since_unix_ms", f->since_unix_ms, err, errlen) < 0 ||
        cp_audit_check_ms("filter.until_unix_ms", f->until_unix_ms, err, errlen) < 0)
        return -1;
    if (f->since_unix_ms > 0 && f->until_unix_ms > 0 && f->until_unix_ms <= f->since_unix_ms) {
        snprintf(err, errlen,
                 "filter.until_unix_ms: must be after filter.since_unix_ms (got until %lld, "
                 "since %lld)",
                 (long long)f->until_unix_ms, (long long)f->since_unix_ms);
        return -1;
    }
    if (cp_audit_check_text("filter.actor", f->actor, err, errlen) < 0 ||
        cp_audit_check_text("filter.action", f->action, err, errlen) < 0 ||
        cp_audit_check_text("filter.object", f->object, err, errlen) < 0)
        return -1;
    return 0;
}

/* limit 0 -> def; else 1..max. */
static int cp_audit_check_page(int32_t limit, int def, int max, int64_t id, const char *id_field,
                               int *out, char *err, size_t errlen)
{
    if (limit < 0 || limit > max) {
        snprintf(err, errlen, "limit: expected 1..%d (0 for %d), got %d", max, def, (int)limit);
        return -1;
    }
    if (id < 0) {
        snprintf(err, errlen, "%s: expected a row id >= 0, got %lld", id_field, (long long)id);
        return -1;
    }
    *out = limit ? (int)limit : def;
    return 0;
}

typedef struct {
    const ProtobufCMessage *req;
    int limit;
    ProtobufCMessage *out;
} cp_audit_tx_t;

/* A retried transaction starts over: drop what the last attempt built. */
static void cp_audit_reset(cp_audit_tx_t *t)
{
    if (t->out)
        protobuf_c_message_free_unpacked(t->out, NULL);
    t->out = NULL;
}

static grpc_status_code cp_audit_run(cp_t *cp, store_tx_fn fn, cp_audit_tx_t *t,
                                     ProtobufCMessage **resp, char *details, size_t dlen)
{
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, fn, t, &e) < 0) {
        cp_audit_reset(t);
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    *resp = t->out;
    return GRPC_STATUS_OK;
}

static int tx_list(PGconn *c, void *ctx, store_err_t *e)
{
    cp_audit_tx_t *t = ctx;
    const Llmgw__V1__ListAuditRequest *r = (const void *)t->req;
    cp_audit_reset(t);
    Llmgw__V1__ListAuditResponse *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "audit log: out of memory");
    llmgw__v1__list_audit_response__init(out);
    t->out = &out->base;
    return audit_query_list(c, r->filter, r->before_id, t->limit, out, e);
}

static grpc_status_code rpc_list(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                 ProtobufCMessage **resp, char *details, size_t dlen)
{
    const Llmgw__V1__ListAuditRequest *r = (const void *)req;
    cp_audit_tx_t t = {.req = req};
    if (cp_audit_check_filter(r->filter, details, dlen) < 0 ||
        cp_audit_check_page(r->limit, CP_AUDIT_LIST_DEFAULT, CP_AUDIT_LIST_MAX, r->before_id,
                            "before_id", &t.limit, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    return cp_audit_run(cp, tx_list, &t, resp, details, dlen);
}

static int tx_export(PGconn *c, void *ctx, store_err_t *e)
{
    cp_audit_tx_t *t = ctx;
    const Llmgw__V1__ExportAuditRequest *r = (const void *)t->req;
    cp_audit_reset(t);
    Llmgw__V1__ExportAuditResponse *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "audit log: out of memory");
    llmgw__v1__export_audit_response__init(out);
    t->out = &out->base;
    return audit_query_export(c, r->filter, r->after_id, t->limit, out, e);
}

static grpc_status_code rpc_export(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                   ProtobufCMessage **resp, char *details, size_t dlen)
{
    const Llmgw__V1__ExportAuditRequest *r = (const void *)req;
    cp_audit_tx_t t = {.req = req};
    if (cp_audit_check_filter(r->filter, details, dlen) < 0 ||
        cp_audit_check_page(r->limit, CP_AUDIT_EXPORT_DEFAULT, CP_AUDIT_EXPORT_MAX, r->after_id,
                            "after_id", &t.limit, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    return cp_audit_run(cp, tx_export, &t, resp, details, dlen);
}

static int tx_verify(PGconn *c, void *ctx, store_err_t *e)
{
    cp_audit_tx_t *t = ctx;
    audit_verify_t v;
    cp_audit_reset(t);
    if (audit_verify_report(c, &v, e) < 0)
        return -1;
    Llmgw__V1__VerifyAuditResponse *out = malloc(sizeof(*out));
    char msg[96];
    if (!out)
        return store_fail(e, STORE_HARD, "audit log: out of memory");
    llmgw__v1__verify_audit_response__init(out);
    t->out = &out->base;
    out->ok = v.first_bad_id == 0;
    out->rows_checked = v.rows_checked;
    out->first_bad_id = v.first_bad_id;
    if (out->ok)
        snprintf(msg, sizeof(msg), "audit log intact");
    else
        snprintf(msg, sizeof(msg), "audit_log: chain broken at id %lld", v.first_bad_id);
    if (!(out->message = strdup(msg)))
        return store_fail(e, STORE_HARD, "audit log: out of memory");
    return 0;
}

static grpc_status_code rpc_verify(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                   ProtobufCMessage **resp, char *details, size_t dlen)
{
    /* REPEATABLE READ is not needed: rows are only appended, in id order. */
    cp_audit_tx_t t = {.req = req};
    return cp_audit_run(cp, tx_verify, &t, resp, details, dlen);
}

#define AUD(name, req, fn)                                                                         \
    {                                                                                              \
        "/llmgw.v1.AuditService/" name, &llmgw__v1__##req##__descriptor, fn, CP_ACCESS_AUDIT, NULL \
    }

static cp_rpc_method_t cp_audit_methods[] = {
    AUD("ListAudit", list_audit_request, rpc_list),
    AUD("VerifyAudit", verify_audit_request, rpc_verify),
    AUD("ExportAudit", export_audit_request, rpc_export),
};

int cp_audit_register(cp_t *cp)
{
    return cp_rpc_register(cp, cp_audit_methods,
                           sizeof(cp_audit_methods) / sizeof(cp_audit_methods[0]));
}
