/* usage_log: batching, sending and spilling usage records. See usage_log.h. */
#include "usage_log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "grpc_client.h"
#include "llmgw/v1/usage.pb-c.h"
#include "log.h"
#include "usage_metrics.h"
#include "usage_spill.h"
#include "utf8.h"

#define UL_METHOD "/llmgw.v1.UsageService/ReportUsage"
#define UL_SEND_TIMEOUT_MS 5000
#define UL_BACKOFF_MIN_MS 200
#define UL_BACKOFF_MAX_MS 10000
#define UL_RECORD_MAX 2048 /* one encoded record, with its tag and length */

typedef struct ul_batch {
    int64_t epoch, seq;
    uint8_t *data; /* NULL once spilled */
    size_t len;
    size_t n_records; /* 0 when unknown (spilled by an earlier run) */
    struct ul_batch *next;
} ul_batch_t;

struct usage_log {
    char *target, *node_id, *spill_dir, *token;
    const tls_files_t *tls; /* borrowed */
    int flush_ms, batch_max;
    int64_t epoch;
    int64_t next_seq; /* sender thread only */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    bool stop;
    int grace_ms;
    buf_t pending; /* encoded records: field 4 of ReportUsageRequest, back to back */
    size_t n_pending;
    uint64_t next_request;
    usage_log_stats_t stats;
    /* sender thread only */
    ul_batch_t *head, *tail;
    size_t n_mem;             /* batches whose bytes are in memory */
    size_t mem_bytes;         /* their size */
    usage_metrics_t *metrics; /* snapshots that ride with the next batch */
};

/* --- the request side ------------------------------------------------------ */

/* Printable UTF-8 of s, at most cap-1 bytes, cut at a character boundary;
 * anything else becomes '?' so the control plane's checks always pass. */
static const char *ul_clean(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    if (!s)
        s = "";
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (p < end) {
        size_t k = utf8_seq_len(p, end);
        bool ok = k > 1 || (k == 1 && *p >= 0x20 && *p != 0x7f);
        size_t take = ok ? k : 1;
        if (o + (ok ? k : 1) >= cap)
            break;
        if (ok)
            memcpy(out + o, p, k);
        else
            out[o] = '?';
        o += ok ? k : 1;
        p += take;
    }
    out[o] = '\0';
    return out;
}

static int64_t ul_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t ul_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

void usage_log_record(usage_log_t *l, const usage_record_t *r)
{
    if (!l)
        return;
    char id[65], key[65], team[65], route[65], provider[65], model[257], made[48];
    Llmgw__V1__UsageRecord u = LLMGW__V1__USAGE_RECORD__INIT;
    u.key = (char *)ul_clean(r->key, key, sizeof(key));
    u.team = (char *)ul_clean(r->team, team, sizeof(team));
    u.route = (char *)ul_clean(r->route, route, sizeof(route));
    u.provider = (char *)ul_clean(r->provider, provider, sizeof(provider));
    u.model = (char *)ul_clean(r->model, model, sizeof(model));
    u.prompt_tokens = r->prompt_tokens > 0 ? r->prompt_tokens : 0;
    u.completion_tokens = r->completion_tokens > 0 ? r->completion_tokens : 0;
    u.cost_usd = r->cost_usd > 0 && r->cost_usd < 1e9 ? r->cost_usd : 0;
    u.latency_ms = r->latency_ms > 0 ? r->latency_ms : 0;
    u.status = r->status >= 0 && r->status <= 16 ? r->status : 2 /* UNKNOWN */;
    u.redacted_emails = (int32_t)(r->redacted.emails & 0x7fffffff);
    u.redacted_phones = (int32_t)(r->redacted.phones & 0x7fffffff);
    u.redacted_cards = (int32_t)(r->redacted.cards & 0x7fffffff);
    u.redacted_ibans = (int32_t)(r->redacted.ibans & 0x7fffffff);
    u.unix_ms = r->unix_ms > 0 ? r->unix_ms : ul_wall_ms();
    uint8_t enc[UL_RECORD_MAX];
    pthread_mutex_lock(&l->mu);
    uint64_t n = ++l->next_request;
    l->stats.recorded++;
    if (r->request_id && r->request_id[0]) {
        u.request_id = (char *)ul_clean(r->request_id, id, sizeof(id));
    } else {
        snprintf(made, sizeof(made), "%" PRIx64 "-%" PRIu64, l->epoch, n);
        u.request_id = made;
    }
    size_t len = llmgw__v1__usage_record__get_packed_size(&u);
    size_t h = 0;
    enc[h++] = (4 << 3) | 2; /* ReportUsageRequest.records, length-delimited */
    h += ul_varint(enc + h, len);
    bool fits = h + len <= sizeof(enc);
    if (fits)
        llmgw__v1__usage_record__pack(&u, enc + h);
    if (!fits || buf_append(&l->pending, enc, h + len) < 0) {
        if (l->stats.dropped++ % 1000 == 0)
            log_error("usage record dropped: pending buffer full (control plane away too long?)",
                      "dropped=%" PRIu64, l->stats.dropped);
    } else if (++l->n_pending >= (size_t)l->batch_max) {
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

usage_metrics_t *usage_log_metrics(usage_log_t *l)
{
    return l ? l->metrics : NULL;
}

void usage_log_stats(usage_log_t *l, usage_log_stats_t *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->stats;
    pthread_mutex_unlock(&l->mu);
}

/* --- the sender thread --------------------------------------------------------- */

static void ul_stat_add(usage_log_t *l, uint64_t *field, int64_t delta)
{
    pthread_mutex_lock(&l->mu);
    *field = (uint64_t)((int64_t)*field + delta);
    pthread_mutex_unlock(&l->mu);
}

static void ul_push(usage_log_t *l, ul_batch_t *b)
{
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
    if (b->data) {
        l->n_mem++;
        l->mem_bytes += b->len;
    }
    ul_stat_add(l, &l->stats.queued, 1);
    if (!b->data)
        ul_stat_add(l, &l->stats.spilled, 1);
}

static void ul_pop(usage_log_t *l)
{
    ul_batch_t *b = l->head;
    l->head = b->next;
    if (!l->head)
        l->tail = NULL;
    if (b->data) {
        l->n_mem--;
        l->mem_bytes -= b->len;
    } else {
        ul_stat_add(l, &l->stats.spilled, -1);
    }
    ul_stat_add(l, &l->stats.queued, -1);
    free(b->data);
    free(b);
}

/* Moves a batch's bytes to disk; 0, or -1 (it stays in memory). */
static int ul_spill(usage_log_t *l, ul_batch_t *b)
{
    char err[PATH_MAX + 128];
    if (!b->data || !l->spill_dir)
        return b->data ? -1 : 0;
    if (l->stats.spilled >= USAGE_LOG_SPILL_MAX) {
        log_error("usage spill directory full; batch kept in memory", "dir=%s spilled=%" PRIu64,
                  l->spill_dir, l->stats.spilled);
        return -1;
    }
    if (usage_spill_write(l->spill_dir, b->epoch, b->seq, b->data, b->len, err, sizeof(err)) < 0) {
        log_error("cannot spill a usage batch; kept in memory", "error=\"%s\"", err);
        return -1;
    }
    free(b->data);
    b->data = NULL;
    l->n_mem--;
    l->mem_bytes -= b->len;
    ul_stat_add(l, &l->stats.spilled, 1);
    return 0;
}

static void ul_spill_all(usage_log_t *l)
{
    for (ul_batch_t *b = l->head; b; b = b->next)
        if (b->data && ul_spill(l, b) < 0)
            break;
}

/* The byte length of the first `want` encoded records of p (each: tag,
 * varint length, bytes — as usage_log_record wrote them). */
static size_t ul_prefix(const uint8_t *p, size_t len, size_t want)
{
    size_t off = 0;
    for (size_t i = 0; i < want && off < len; i++) {
        uint64_t n = 0;
        int shift = 0;
        off++; /* the tag */
        while (off < len && shift < 64) {
            uint8_t b = p[off++];
            n |= (uint64_t)(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80))
                break;
        }
        off += (size_t)n;
    }
    return off < len ? off : len;
}

/* Takes up to batch_max pending records as the next batch (NULL when none);
 * the rest stay pending. */
static ul_batch_t *ul_take_batch(usage_log_t *l)
{
    buf_t recs = BUF_INIT(USAGE_LOG_PENDING_MAX_BYTES);
    pthread_mutex_lock(&l->mu);
    size_t n = l->n_pending;
    if (n > (size_t)l->batch_max) {
        size_t cut =
            ul_prefix((const uint8_t *)l->pending.data, l->pending.len, (size_t)l->batch_max);
        if (buf_append(&recs, l->pending.data, cut) == 0) {
            memmove(l->pending.data, l->pending.data + cut, l->pending.len - cut);
            l->pending.len -= cut;
            l->pending.data[l->pending.len] = '\0';
            l->n_pending -= (size_t)l->batch_max;
            n = (size_t)l->batch_max;
        } else {
            n = 0; /* out of memory: try again next round */
        }
    } else {
        recs = l->pending;
        buf_init(&l->pending, USAGE_LOG_PENDING_MAX_BYTES);
        l->n_pending = 0;
    }
    pthread_mutex_unlock(&l->mu);
    if (n == 0) {
        buf_free(&recs);
        return NULL;
    }
    /* The metric snapshots since the last batch ride with this one, so they
     * are stored exactly once with it (a failure keeps them for the next). */
    (void)usage_metrics_take(l->metrics, &recs);
    Llmgw__V1__ReportUsageRequest h = LLMGW__V1__REPORT_USAGE_REQUEST__INIT;
    h.node_id = l->node_id;
    h.epoch = l->epoch;
    h.seq = l->next_seq;
    size_t hl = llmgw__v1__report_usage_request__get_packed_size(&h);
    ul_batch_t *b = calloc(1, sizeof(*b));
    uint8_t *data = b ? malloc(hl + recs.len) : NULL;
    if (!data) {
        free(b);
        log_error("usage batch lost: out of memory", "records=%zu", n);
        ul_stat_add(l, &l->stats.dropped, (int64_t)n);
        buf_free(&recs);
        return NULL;
    }
    llmgw__v1__report_usage_request__pack(&h, data);
    memcpy(data + hl, recs.data, recs.len);
    b->epoch = l->epoch;
    b->seq = l->next_seq++;
    b->data = data;
    b->len = hl + recs.len;
    b->n_records = n;
    buf_free(&recs);
    return b;
}

typedef enum { UL_SENT, UL_REJECTED, UL_RETRY } ul_send_t;

static ul_send_t ul_send(usage_log_t *l, gc_channel_t *ch, ul_batch_t *b, int timeout_ms)
{
    buf_t file = BUF_INIT(USAGE_SPILL_MAX_PAYLOAD);
    buf_t details = BUF_INIT(1024);
    char err[PATH_MAX + 128];
    const void *req = b->data;
    size_t len = b->len;
    ul_send_t out = UL_RETRY;
    if (!req) {
        if (usage_spill_read(l->spill_dir, b->epoch, b->seq, &file, err, sizeof(err)) < 0) {
            log_error("spilled usage batch unreadable; set aside", "error=\"%s\"", err);
            usage_spill_reject(l->spill_dir, b->epoch, b->seq);
            out = UL_REJECTED;
            goto out;
        }
        req = file.data;
        len = file.len;
    }
    grpc_status_code st = gc_unary(ch, UL_METHOD, l->token, timeout_ms, req, len, NULL, &details);
    const char *why = buf_cstr(&details);
    if (st == GRPC_STATUS_OK) {
        out = UL_SENT;
    } else if (st == GRPC_STATUS_INVALID_ARGUMENT ||
               (st == GRPC_STATUS_FAILED_PRECONDITION && strncmp(why, "seq:", 4) == 0)) {
        /* It will never be taken: keep it aside so the batches after it go on. */
        log_error("usage batch refused by the control plane; kept aside",
                  "epoch=%" PRId64 " seq=%" PRId64 " status=%s details=\"%s\"", b->epoch, b->seq,
                  gc_status_name(st), why);
        if (l->spill_dir && (b->data ? ul_spill(l, b) == 0 : true))
            usage_spill_reject(l->spill_dir, b->epoch, b->seq);
        out = UL_REJECTED;
    } else {
        log_warn("usage batch not delivered; will retry",
                 "epoch=%" PRId64 " seq=%" PRId64 " status=%s details=\"%s\"", b->epoch, b->seq,
                 gc_status_name(st), why);
    }
out:
    buf_free(&file);
    buf_free(&details);
    return out;
}

/* Sends from the head until the queue is empty or a send fails. */
static bool ul_drain(usage_log_t *l, gc_channel_t *ch, int timeout_ms)
{
    while (l->head) {
        ul_batch_t *b = l->head;
        ul_send_t r = ul_send(l, ch, b, timeout_ms);
        if (r == UL_RETRY)
            return false;
        if (r == UL_SENT) {
            if (!b->data && l->spill_dir)
                usage_spill_remove(l->spill_dir, b->epoch, b->seq);
            ul_stat_add(l, &l->stats.acked, (int64_t)b->n_records);
        } else {
            ul_stat_add(l, &l->stats.rejected, 1);
        }
        ul_pop(l);
    }
    return true;
}

static void ul_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Queues the pending records as a batch; spilled at once when the control
 * plane is away (older batches wait) or memory holds too many. */
static void ul_enqueue(usage_log_t *l, bool away)
{
    ul_batch_t *b;
    while ((b = ul_take_batch(l)) != NULL) {
        ul_push(l, b);
        if (away && l->spill_dir)
            (void)ul_spill(l, b);
    }
    /* Memory is bounded whatever happens to the disk: past the bound the
     * oldest batch held in memory goes, counted. */
    while (l->mem_bytes > USAGE_LOG_MEM_BYTES_MAX) {
        ul_batch_t **pp = &l->head, *prev = NULL;
        while (*pp && !(*pp)->data) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        ul_batch_t *old = *pp;
        if (!old)
            break;
        log_error("usage batch dropped: control plane away and nowhere to spill it",
                  "records=%zu spill_dir=%s", old->n_records, l->spill_dir ? l->spill_dir : "-");
        ul_stat_add(l, &l->stats.dropped, (int64_t)old->n_records);
        *pp = old->next;
        if (l->tail == old)
            l->tail = prev;
        l->n_mem--;
        l->mem_bytes -= old->len;
        ul_stat_add(l, &l->stats.queued, -1);
        free(old->data);
        free(old);
    }
}

static void *ul_main(void *arg)
{
    usage_log_t *l = arg;
    int backoff_ms = UL_BACKOFF_MIN_MS;
    int64_t retry_at = 0, flush_at = clock_now_ms() + l->flush_ms;
    bool away = false;
    gc_channel_t *ch = gc_channel_open(l->target, l->tls);
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && l->n_pending < (size_t)l->batch_max) {
            int64_t now = clock_now_ms();
            int64_t wake = flush_at;
            if (l->head && retry_at < wake)
                wake = retry_at;
            if (now >= wake)
                break;
            struct timespec ts;
            ul_deadline(&ts, (int)(wake - now));
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
        bool stop = l->stop, full = l->n_pending >= (size_t)l->batch_max;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        int64_t now = clock_now_ms();
        if (now >= flush_at || full) {
            ul_enqueue(l, away);
            flush_at = now + l->flush_ms;
        }
        if (!l->head || now < retry_at)
            continue;
        if (!ch)
            ch = gc_channel_open(l->target, l->tls);
        if (ch && ul_drain(l, ch, UL_SEND_TIMEOUT_MS)) {
            if (away)
                log_info("usage delivery resumed", "%s", "");
            away = false;
            backoff_ms = UL_BACKOFF_MIN_MS;
            continue;
        }
        /* Away: everything waiting goes to disk; a fresh channel next time
         * (the core's own reconnect backoff can outlast the outage). */
        away = true;
        ul_spill_all(l);
        gc_channel_free(ch);
        ch = NULL;
        retry_at = clock_now_ms() + backoff_ms;
        backoff_ms = backoff_ms * 2 > UL_BACKOFF_MAX_MS ? UL_BACKOFF_MAX_MS : backoff_ms * 2;
    }
    /* Stop: one last try within the grace period, then disk. */
    ul_enqueue(l, false);
    if (l->head && l->grace_ms > 0) {
        if (!ch)
            ch = gc_channel_open(l->target, l->tls);
        if (ch)
            (void)ul_drain(l, ch, l->grace_ms);
    }
    ul_spill_all(l);
    size_t lost = 0;
    while (l->head) {
        if (l->head->data)
            lost += l->head->n_records;
        ul_pop(l);
    }
    if (lost)
        log_error("usage records lost at stop: not delivered and no --state-dir to spill to",
                  "records=%zu", lost);
    gc_channel_free(ch);
    return NULL;
}

/* --- start / stop ------------------------------------------------------------------- */

static void ul_free(usage_log_t *l)
{
    while (l->head)
        ul_pop(l);
    buf_free(&l->pending);
    usage_metrics_free(l->metrics);
    free(l->target);
    free(l->node_id);
    free(l->spill_dir);
    free(l->token);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Queues the batches an earlier run spilled, oldest first. */
static int ul_load_spilled(usage_log_t *l)
{
    int64_t *epochs = NULL, *seqs = NULL;
    size_t n = 0;
    if (usage_spill_list(l->spill_dir, &epochs, &seqs, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        ul_batch_t *b = calloc(1, sizeof(*b));
        if (!b) {
            free(epochs);
            free(seqs);
            return -1;
        }
        b->epoch = epochs[i];
        b->seq = seqs[i];
        ul_push(l, b);
    }
    if (n)
        log_info("usage batches from an earlier run queued", "dir=%s batches=%zu", l->spill_dir, n);
    free(epochs);
    free(seqs);
    return 0;
}

usage_log_t *usage_log_start(const usage_log_config_t *cfg)
{
    usage_log_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    buf_init(&l->pending, USAGE_LOG_PENDING_MAX_BYTES);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    l->epoch = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    l->next_seq = 1;
    l->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : USAGE_LOG_FLUSH_MS;
    l->batch_max =
        cfg->batch_max > 0 && cfg->batch_max <= 10000 ? cfg->batch_max : USAGE_LOG_BATCH_MAX;
    const char *token = cfg->token ? cfg->token : getenv("LLMGW_CONTROL_PLANE_TOKEN");
    if (token && !*token)
        token = NULL;
    l->target = strdup(cfg->target);
    l->tls = cfg->tls;
    l->node_id = strdup(cfg->node_id);
    l->token = token ? strdup(token) : NULL;
    if (!l->target || !l->node_id || (token && !l->token) || !(l->metrics = usage_metrics_new()))
        goto fail;
    if (cfg->state_dir) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/usage", cfg->state_dir);
        if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || !(l->spill_dir = strdup(dir))) {
            log_error("cannot make the usage spill directory", "dir=%s error=\"%s\"", dir,
                      strerror(errno));
            goto fail;
        }
        if (ul_load_spilled(l) < 0) {
            log_error("cannot read the usage spill directory", "dir=%s", dir);
            goto fail;
        }
    }
    if (pthread_create(&l->thread, NULL, ul_main, l) != 0)
        goto fail;
    return l;
fail:
    ul_free(l);
    return NULL;
}

void usage_log_stop(usage_log_t *l, int grace_ms)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    l->grace_ms = grace_ms;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    ul_free(l);
}
