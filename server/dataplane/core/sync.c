/* sync: the control-plane subscription thread. See sync.h. */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "buf.h"
#include "grpc_client.h"
#include "llmgw/v1/control.pb-c.h"
#include "log.h"

#define SYNC_BACKOFF_MIN_MS 200
#define SYNC_BACKOFF_MAX_MS 10000
#define SYNC_ACK_TIMEOUT_MS 5000
#define SYNC_MAX_TABLE (32u << 20)
#define SYNC_STATE_FILE "table.json"
#define SYNC_WATCH "/llmgw.v1.DistributionService/WatchRoutingTable"
#define SYNC_ACK "/llmgw.v1.DistributionService/AckRoutingTable"

struct sync {
    char *target, *node_id, *group, *state_dir, *token;
    const tls_files_t *tls; /* borrowed */
    table_slot_t *slot; /* under mu; NULL until sync_attach */
    table_t *pending;   /* under mu: a good table received before sync_attach */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;
    gc_stream_t *stream; /* under mu: the open stream, for sync_stop to cancel */
    unsigned int seed;
};

table_t *sync_load_state(const char *state_dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", state_dir, SYNC_STATE_FILE);
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "%s: no saved table yet", path);
        return NULL;
    }
    return table_load_file(path, err, errlen);
}

static bool sync_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int sync_check_config(const sync_config_t *cfg)
{
    if (!cfg->target) {
        const char *stray = cfg->node_id     ? "--node-id"
                            : cfg->group     ? "--node-group"
                            : cfg->state_dir ? "--state-dir"
                                             : NULL;
        if (stray) {
            fprintf(stderr, "llmgw-dataplane: %s: only with --control-plane\n", stray);
            return -1;
        }
        return 0;
    }
    if (!cfg->target[0] || !strchr(cfg->target, ':')) {
        fprintf(stderr, "llmgw-dataplane: --control-plane: expected HOST:PORT\n");
        return -1;
    }
    if (!cfg->node_id || !sync_name_ok(cfg->node_id)) {
        fprintf(stderr, "llmgw-dataplane: --node-id: required with --control-plane, 1..64 "
                        "characters from A-Z a-z 0-9 . _ -\n");
        return -1;
    }
    if (cfg->group && cfg->group[0] && !sync_name_ok(cfg->group)) {
        fprintf(stderr, "llmgw-dataplane: --node-group: 1..64 characters from A-Z a-z 0-9 . _ -\n");
        return -1;
    }
    if (cfg->state_dir) {
        struct stat st;
        if (stat(cfg->state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "llmgw-dataplane: --state-dir: '%s' is not a directory\n",
                    cfg->state_dir);
            return -1;
        }
    }
    return 0;
}

table_t *sync_first_table(sync_t *s, const char *state_dir, const sigset_t *stop, char *err,
                          size_t errlen)
{
    if (state_dir) {
        table_t *t = sync_load_state(state_dir, err, errlen);
        if (t) {
            log_info("serving the saved routing table until the control plane answers",
                     "state_dir=%s version=%" PRId64, state_dir, table_version(t));
            return t;
        }
        log_warn("no usable saved routing table", "state_dir=%s reason=\"%s\"", state_dir, err);
    }
    log_info("waiting for the first routing table", "control_plane=%s", s->target);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        table_t *t = s->pending;
        s->pending = NULL;
        pthread_mutex_unlock(&s->mu);
        if (t)
            return t;
        struct timespec wait = {0, 200 * 1000000L};
        int sig = sigtimedwait(stop, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            snprintf(err, errlen, "stopped (signal %d) before the first routing table arrived",
                     sig);
            return NULL;
        }
    }
}

void sync_attach(sync_t *s, table_slot_t *slot)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->slot = slot;
    if (s->pending) {
        table_slot_swap(slot, s->pending);
        s->pending = NULL;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Writes the table atomically; 0 or -1 (logged). */
static int sync_persist(const sync_t *s, const char *json, size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", s->state_dir, SYNC_STATE_FILE);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", s->state_dir, SYNC_STATE_FILE);
    /* 0600: the table holds provider API keys. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, json + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            goto fail;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
        goto fail;
    return 0;
fail:
    log_error("cannot persist the routing table", "path=%s error=\"%s\"", path, strerror(errno));
    unlink(tmp);
    return -1;
}

static void sync_ack(sync_t *s, gc_channel_t *ch, int64_t version, bool ok, const char *error)
{
    Llmgw__V1__TableAck a = LLMGW__V1__TABLE_ACK__INIT;
    a.node_id = s->node_id;
    a.version = version;
    a.status = ok ? LLMGW__V1__ACK_STATUS__ACK_STATUS_ACK : LLMGW__V1__ACK_STATUS__ACK_STATUS_NACK;
    a.error = (char *)(error ? error : "");
    size_t len = llmgw__v1__table_ack__get_packed_size(&a);
    uint8_t *req = malloc(len ? len : 1);
    if (!req)
        return;
    llmgw__v1__table_ack__pack(&a, req);
    buf_t details = BUF_INIT(4096);
    grpc_status_code st =
        gc_unary(ch, SYNC_ACK, s->token, SYNC_ACK_TIMEOUT_MS, req, len, NULL, &details);
    if (st != GRPC_STATUS_OK)
        log_warn("ack not delivered", "version=%" PRId64 " status=%s details=\"%s\"", version,
                 gc_status_name(st), buf_cstr(&details));
    buf_free(&details);
    free(req);
}

/* One snapshot: verify, load, swap, persist, answer. */
static void sync_apply(sync_t *s, gc_channel_t *ch, const buf_t *msg)
{
    char err[512] = "";
    Llmgw__V1__RoutingTable *rt =
        llmgw__v1__routing_table__unpack(NULL, msg->len, (const uint8_t *)msg->data);
    if (!rt) {
        log_error("routing table message undecodable", "%s", "");
        return;
    }
    size_t len = strlen(rt->table_json);
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[65];
    SHA256((const unsigned char *)rt->table_json, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    table_t *t = NULL;
    if (strcmp(hex, rt->checksum_sha256) != 0) {
        snprintf(err, sizeof(err), "checksum_sha256: does not match table_json");
    } else if (!(t = table_load_json(rt->table_json, len, err, sizeof(err)))) {
        /* err names the field */
    } else if (table_version(t) != rt->version) {
        snprintf(err, sizeof(err), "version: table_json says %" PRId64 ", the message %" PRId64,
                 table_version(t), rt->version);
        table_unref(t);
        t = NULL;
    }
    if (!t) {
        log_error("routing table rejected; keeping the current table",
                  "version=%" PRId64 " error=\"%s\"", rt->version, err);
        sync_ack(s, ch, rt->version, false, err);
        llmgw__v1__routing_table__free_unpacked(rt, NULL);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->slot) {
        table_slot_swap(s->slot, t);
    } else {
        if (s->pending)
            table_unref(s->pending);
        s->pending = t;
    }
    pthread_mutex_unlock(&s->mu);
    if (s->state_dir)
        (void)sync_persist(s, rt->table_json, len);
    log_info("routing table installed", "version=%" PRId64, rt->version);
    sync_ack(s, ch, rt->version, true, NULL);
    llmgw__v1__routing_table__free_unpacked(rt, NULL);
}

/* Sleeps up to ms unless stopped. */
static void sync_sleep(sync_t *s, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->mu);
}

static void *sync_main(void *arg)
{
    sync_t *s = arg;
    int backoff_ms = SYNC_BACKOFF_MIN_MS;
    buf_t msg = BUF_INIT(SYNC_MAX_TABLE);
    buf_t details = BUF_INIT(4096);
    while (!atomic_load(&s->stop)) {
        /* A fresh channel per attempt: the core's own reconnect backoff (up
         * to minutes) must not outlast a control plane that came back. */
        gc_channel_t *ch = gc_channel_open(s->target, s->tls);
        if (!ch) {
            sync_sleep(s, backoff_ms);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        table_t *cur = s->slot ? table_slot_get(s->slot) : NULL;
        pthread_mutex_unlock(&s->mu);
        Llmgw__V1__NodeHello h = LLMGW__V1__NODE_HELLO__INIT;
        h.node_id = s->node_id;
        h.group = s->group;
        h.last_version = cur ? table_version(cur) : 0;
        if (cur)
            table_unref(cur);
        uint8_t req[512];
        size_t len = llmgw__v1__node_hello__get_packed_size(&h);
        llmgw__v1__node_hello__pack(&h, req);
        gc_stream_t *st = gc_stream_start(ch, SYNC_WATCH, s->token, 0, req, len);
        bool got = false;
        if (st) {
            pthread_mutex_lock(&s->mu);
            s->stream = st;
            if (atomic_load(&s->stop))
                gc_stream_cancel(st);
            pthread_mutex_unlock(&s->mu);
            while (gc_stream_next(st, &msg) == 1) {
                got = true;
                backoff_ms = SYNC_BACKOFF_MIN_MS;
                sync_apply(s, ch, &msg);
            }
            pthread_mutex_lock(&s->mu);
            s->stream = NULL;
            pthread_mutex_unlock(&s->mu);
            buf_reset(&details);
            grpc_status_code code = gc_stream_finish(st, &details);
            if (!atomic_load(&s->stop))
                log_warn("control plane stream ended", "target=%s status=%s details=\"%s\"",
                         s->target, gc_status_name(code), buf_cstr(&details));
        }
        gc_channel_free(ch);
        if (atomic_load(&s->stop))
            break;
        if (!got && backoff_ms < SYNC_BACKOFF_MAX_MS)
            backoff_ms =
                backoff_ms * 2 > SYNC_BACKOFF_MAX_MS ? SYNC_BACKOFF_MAX_MS : backoff_ms * 2;
        /* Full jitter over the upper half: nodes restarted together do not
         * reconnect in lockstep. */
        int wait_ms = backoff_ms / 2 + (int)(rand_r(&s->seed) % (unsigned)(backoff_ms / 2 + 1));
        sync_sleep(s, wait_ms);
    }
    buf_free(&msg);
    buf_free(&details);
    return NULL;
}

static void sync_free(sync_t *s)
{
    if (s->pending)
        table_unref(s->pending);
    free(s->target);
    free(s->node_id);
    free(s->group);
    free(s->state_dir);
    free(s->token);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

sync_t *sync_start(const sync_config_t *cfg)
{
    sync_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->stop, false);
    s->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    s->target = strdup(cfg->target);
    s->tls = cfg->tls;
    s->node_id = strdup(cfg->node_id);
    s->group = strdup(cfg->group ? cfg->group : "");
    s->state_dir = cfg->state_dir ? strdup(cfg->state_dir) : NULL;
    const char *token = cfg->token ? cfg->token : getenv("LLMGW_CONTROL_PLANE_TOKEN");
    if (token && !*token)
        token = NULL;
    s->token = token ? strdup(token) : NULL;
    if (!s->target || !s->node_id || !s->group || (cfg->state_dir && !s->state_dir) ||
        (token && !s->token) || pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        sync_free(s);
        return NULL;
    }
    return s;
}

void sync_stop(sync_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, true);
    if (s->stream)
        gc_stream_cancel(s->stream);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    sync_free(s);
}
