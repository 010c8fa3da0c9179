/* cache: see cache.h.
 *
 * A chained hash map (the key is already a SHA-256: its first 8 bytes are
 * the hash) that doubles when it holds more entries than buckets, and one
 * doubly linked list in recency order (head: most recent). Both are
 * intrusive in the entry, which holds its value inline: one malloc per
 * stored answer.
 */
#include "cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "clock.h"

#define CACHE_MIN_BUCKETS 64u

typedef struct cache_entry cache_entry_t;
struct cache_entry {
    cache_entry_t *chain;       /* next in the bucket */
    cache_entry_t *prev, *next; /* LRU list */
    cache_key_t key;
    int64_t stored_ms, expires_ms;
    size_t len;
    unsigned char value[];
};

struct cache {
    pthread_mutex_t mu;
    cache_clock_fn clock;
    void *clock_ud;
    size_t max_bytes;
    cache_entry_t **buckets;
    size_t n_buckets; /* a power of two */
    cache_entry_t *head, *tail;
    cache_stats_t st;
};

static int64_t cache_default_clock(void *ud)
{
    (void)ud;
    return clock_now_ms();
}

cache_t *cache_new(size_t max_bytes, cache_clock_fn clock, void *clock_ud)
{
    if (max_bytes == 0)
        return NULL;
    cache_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->buckets = calloc(CACHE_MIN_BUCKETS, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->n_buckets = CACHE_MIN_BUCKETS;
    pthread_mutex_init(&c->mu, NULL);
    c->clock = clock ? clock : cache_default_clock;
    c->clock_ud = clock_ud;
    c->max_bytes = max_bytes;
    c->st.max_bytes = max_bytes;
    return c;
}

void cache_free(cache_t *c)
{
    if (!c)
        return;
    cache_entry_t *e = c->head;
    while (e) {
        cache_entry_t *next = e->next;
        free(e);
        e = next;
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

size_t cache_entry_cost(size_t len)
{
    return sizeof(cache_entry_t) + len;
}

static size_t cache_bucket(const cache_t *c, const cache_key_t *k)
{
    uint64_t h;
    memcpy(&h, k->b, sizeof(h));
    return (size_t)(h & (c->n_buckets - 1));
}

static cache_entry_t **cache_slot(cache_t *c, const cache_key_t *k)
{
    cache_entry_t **p = &c->buckets[cache_bucket(c, k)];
    while (*p && memcmp((*p)->key.b, k->b, CACHE_KEY_LEN) != 0)
        p = &(*p)->chain;
    return p;
}

static void cache_lru_unlink(cache_t *c, cache_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void cache_lru_push(cache_t *c, cache_entry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* Removes and frees e; *slot is where it is chained. */
static void cache_remove(cache_t *c, cache_entry_t **slot, cache_entry_t *e)
{
    *slot = e->chain;
    cache_lru_unlink(c, e);
    c->st.entries--;
    c->st.bytes -= cache_entry_cost(e->len);
    free(e);
}

/* Doubles the buckets when entries outnumber them; a failed allocation
 * keeps the old ones (longer chains, still correct). */
static void cache_grow(cache_t *c)
{
    if (c->st.entries <= c->n_buckets || c->n_buckets > (SIZE_MAX / sizeof(void *)) / 2)
        return;
    size_t n = c->n_buckets * 2;
    cache_entry_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < c->n_buckets; i++) {
        cache_entry_t *e = c->buckets[i];
        while (e) {
            cache_entry_t *next = e->chain;
            uint64_t h;
            memcpy(&h, e->key.b, sizeof(h));
            size_t j = (size_t)(h & (n - 1));
            e->chain = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
}

int cache_put(cache_t *c, const cache_key_t *k, const void *data, size_t len, int64_t ttl_ms)
{
    if (ttl_ms <= 0 || len > c->max_bytes || cache_entry_cost(len) > c->max_bytes)
        return -1;
    cache_entry_t *n = malloc(cache_entry_cost(len));
    if (!n)
        return -1;
    memset(n, 0, sizeof(*n));
    n->key = *k;
    n->len = len;
    if (len)
        memcpy(n->value, data, len);
    pthread_mutex_lock(&c->mu);
    n->stored_ms = c->clock(c->clock_ud);
    n->expires_ms = ttl_ms > INT64_MAX - n->stored_ms ? INT64_MAX : n->stored_ms + ttl_ms;
    cache_entry_t **slot = cache_slot(c, k);
    if (*slot)
        cache_remove(c, slot, *slot);
    while (c->tail && c->st.bytes + cache_entry_cost(len) > c->max_bytes) {
        cache_entry_t *victim = c->tail;
        cache_remove(c, cache_slot(c, &victim->key), victim);
        c->st.evictions++;
    }
    slot = cache_slot(c, k);
    *slot = n;
    cache_lru_push(c, n);
    c->st.entries++;
    c->st.bytes += cache_entry_cost(len);
    c->st.stores++;
    cache_grow(c);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int cache_get(cache_t *c, const cache_key_t *k, buf_t *out, int64_t *age_ms)
{
    int rc = 0;
    buf_reset(out);
    pthread_mutex_lock(&c->mu);
    int64_t now = c->clock(c->clock_ud);
    cache_entry_t **slot = cache_slot(c, k);
    cache_entry_t *e = *slot;
    if (!e) {
        c->st.misses++;
        goto out;
    }
    if (now >= e->expires_ms) {
        cache_remove(c, slot, e);
        c->st.expirations++;
        c->st.misses++;
        goto out;
    }
    if (buf_append(out, e->value, e->len) < 0) {
        c->st.misses++;
        rc = -1;
        goto out;
    }
    cache_lru_unlink(c, e);
    cache_lru_push(c, e);
    c->st.hits++;
    if (age_ms)
        *age_ms = now - e->stored_ms;
    rc = 1;
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void cache_stats(cache_t *c, cache_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}

/* --- the canonical key ---------------------------------------------------- */

/* JSON carried as text: parsed (written back sorted by dump_canonical), or
 * the text itself as a tagged string when it is not JSON. "" is null. */
static json_t *cache_json_text(const char *s)
{
    if (!s || !s[0])
        return json_null();
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    if (v)
        return v;
    return json_pack("{s:s}", "$text", s);
}

static json_t *cache_opt_real(bool set, double v)
{
    return set ? json_real(v) : json_null();
}

static json_t *cache_messages(const Llmgw__V1__ChatRequest *req)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < req->n_messages; i++) {
        const Llmgw__V1__Message *m = req->messages[i];
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:s, s:o, s:o}", "role", m->role ? m->role : "", "content",
            m->content ? m->content : "", "name", m->name ? m->name : "", "tool_call_id",
            m->tool_call_id ? m->tool_call_id : "", "tool_calls",
            cache_json_text(m->tool_calls_json), "parts", cache_json_text(m->content_parts_json));
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *cache_stop(const Llmgw__V1__ChatRequest *req)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < req->n_stop; i++)
        if (json_array_append_new(arr, json_string(req->stop[i] ? req->stop[i] : "")) < 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

int cache_key_chat(const Llmgw__V1__ChatRequest *req, const char *scope, const char *target,
                   bool stream, cache_key_t *out)
{
    int rc = -1;
    char *text = NULL;
    uint8_t *routing = NULL;
    size_t routing_len = 0;
    EVP_MD_CTX *md = NULL;
    json_t *root = json_pack(
        "{s:i, s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "v", 1,
        "scope", scope ? scope : "", "target", target ? target : "", "stream", (int)stream,
        "messages", cache_messages(req), "temperature",
        cache_opt_real(req->temperature_opt_case ==
                           LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE,
                       req->temperature),
        "top_p",
        cache_opt_real(req->top_p_opt_case == LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P, req->top_p),
        "presence_penalty",
        cache_opt_real(req->presence_penalty_opt_case ==
                           LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY,
                       req->presence_penalty),
        "frequency_penalty",
        cache_opt_real(req->frequency_penalty_opt_case ==
                           LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY,
                       req->frequency_penalty),
        "max_tokens",
        req->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS
            ? json_integer(req->max_tokens)
            : json_null(),
        "seed",
        req->seed_opt_case == LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED ? json_integer(req->seed)
                                                                     : json_null(),
        "stop", cache_stop(req), "tools", cache_json_text(req->tools_json), "tool_choice",
        cache_json_text(req->tool_choice_json), "response_format",
        cache_json_text(req->response_format_json), "extra", cache_json_text(req->extra_body_json));
    if (!root)
        goto fail;
    text =
        json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!text)
        goto fail;
    if (req->routing) {
        routing_len = protobuf_c_message_get_packed_size(&req->routing->base);
        routing = malloc(routing_len ? routing_len : 1);
        if (!routing)
            goto fail;
        protobuf_c_message_pack(&req->routing->base, routing);
    }
    unsigned int n = 0;
    /* The JSON text, a NUL (it holds none), then the routing options. */
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, text, strlen(text) + 1) != 1 ||
        (routing_len && EVP_DigestUpdate(md, routing, routing_len) != 1) ||
        EVP_DigestFinal_ex(md, out->b, &n) != 1 || n != CACHE_KEY_LEN)
        goto fail;
    rc = 0;
fail:
    EVP_MD_CTX_free(md);
    free(routing);
    free(text);
    json_decref(root);
    return rc;
}
