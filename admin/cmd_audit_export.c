/* cmd_audit_export: `llmgw audit export --format csv|jsonl` — audit rows in
 * chain order for spreadsheets, SIEMs and external chain checks.
 *
 * csv is RFC 4180 (a header line, CRLF-free fields quoted when they hold a
 * comma, quote or line break); jsonl is one JSON object per line with the
 * .proto field names plus "at" in RFC 3339. Nothing is masked here: secrets
 * never reach audit rows (the writers record hash prefixes and set / unset).
 * With --output the rows go to a temporary file next to FILE, renamed over
 * it only when the last page arrived, so a failed export leaves no half file.
 */
#include "cmd_audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pbjson.h"
#include "timefmt.h"

static void export_csv_field(FILE *f, const char *s, bool last)
{
    cmd_csv_field(f, s);
    fputs(last ? "\r\n" : ",", f);
}

static int export_row(FILE *f, bool csv, const Llmgw__V1__AuditRow *r)
{
    char at[32], id[24], ms[24];
    timefmt_rfc3339(r->at_unix_ms, at, sizeof(at));
    if (csv) {
        snprintf(id, sizeof(id), "%lld", (long long)r->id);
        snprintf(ms, sizeof(ms), "%lld", (long long)r->at_unix_ms);
        const char *cells[] = {id,         at,        ms,        r->actor,  r->actor_role,
                               r->peer,    r->action, r->object, r->detail, r->prev_hash,
                               r->row_hash};
        size_t n = sizeof(cells) / sizeof(cells[0]);
        for (size_t i = 0; i < n; i++)
            export_csv_field(f, cells[i], i + 1 == n);
        return 0;
    }
    json_t *j = pbjson_from_message(&r->base);
    int rc = -1;
    if (j && json_object_set_new(j, "at", json_string(at)) == 0 &&
        json_dumpf(j, f, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0) {
        fputc('\n', f);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/* Pages through ExportAudit into f. */
static int export_pages(const audit_opts_t *o, FILE *f)
{
    bool csv = strcmp(o->format, "csv") == 0;
    cmd_conn_t *c = cmd_conn_open(o->ctl.target, o->ctl.token, o->ctl.timeout_ms);
    long long got = 0;
    int64_t after = 0;
    int rc = CMD_EXIT_RPC;
    if (!c)
        return CMD_EXIT_RPC;
    if (csv)
        fputs("id,at,at_unix_ms,actor,actor_role,peer,action,object,detail,prev_hash,row_hash\r\n",
              f);
    do {
        Llmgw__V1__ExportAuditRequest req = LLMGW__V1__EXPORT_AUDIT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        req.filter = (Llmgw__V1__AuditFilter *)&o->filter;
        req.limit = 5000;
        if (o->limit && o->limit - got < req.limit)
            req.limit = (int32_t)(o->limit - got);
        req.after_id = after;
        if (cmd_conn_unary(c, "/llmgw.v1.AuditService/ExportAudit", &req.base,
                           &llmgw__v1__export_audit_response__descriptor, &resp) < 0) {
            rc = cmd_conn_report(c);
            goto out;
        }
        const Llmgw__V1__ExportAuditResponse *page = (const void *)resp;
        int bad = 0;
        for (size_t i = 0; i < page->n_rows && !bad; i++)
            bad = export_row(f, csv, page->rows[i]);
        got += (long long)page->n_rows;
        after = page->next_after_id;
        protobuf_c_message_free_unpacked(resp, NULL);
        if (bad || ferror(f)) {
            fprintf(stderr, "error: %s: write failed: %s\n", o->output ? o->output : "stdout",
                    bad ? "out of memory" : strerror(errno));
            goto out;
        }
    } while (after > 0 && (!o->limit || got < o->limit));
    rc = CMD_EXIT_OK;
    if (o->output)
        fprintf(stderr, "%lld audit rows written to %s\n", got, o->output);
out:
    cmd_conn_close(c);
    return rc;
}

int cmd_audit_export(const audit_opts_t *o)
{
    if (!o->output)
        return export_pages(o, stdout);
    size_t n = strlen(o->output) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        fprintf(stderr, "error: out of memory\n");
        return CMD_EXIT_RPC;
    }
    snprintf(tmp, n, "%s.tmp.%ld", o->output, (long)getpid());
    FILE *f = fopen(tmp, "wx");
    int rc = CMD_EXIT_RPC;
    if (!f) {
        fprintf(stderr, "error: --output: cannot create '%s': %s\n", tmp, strerror(errno));
        goto out;
    }
    rc = export_pages(o, f);
    if ((fflush(f) != 0 || fsync(fileno(f)) != 0) && rc == CMD_EXIT_OK) {
        fprintf(stderr, "error: %s: write failed: %s\n", o->output, strerror(errno));
        rc = CMD_EXIT_RPC;
    }
    if (fclose(f) != 0 && rc == CMD_EXIT_OK) {
        fprintf(stderr, "error: %s: write failed: %s\n", o->output, strerror(errno));
        rc = CMD_EXIT_RPC;
    }
    if (rc == CMD_EXIT_OK && rename(tmp, o->output) != 0) {
        fprintf(stderr, "error: --output: cannot replace '%s': %s\n", o->output, strerror(errno));
        rc = CMD_EXIT_RPC;
    }
    if (rc != CMD_EXIT_OK)
        unlink(tmp);
out:
    free(tmp);
    return rc;
}
