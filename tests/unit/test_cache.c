/* Unit tests for cache (the response cache's store and key) and
 * cache_replay (what is stored, who may use it): LRU eviction, the byte cap,
 * TTL with an injected clock, replacement, thread safety, the canonical key
 * (object member order and whitespace do not matter; every field that
 * changes an answer does), the temperature rule, Cache-Control parsing and
 * the stored values' round trip. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "cache_replay.h"

static int64_t fake_now_ms;

static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now_ms;
}

static cache_key_t key_of(int i)
{
    cache_key_t k;
    memset(&k, 0, sizeof(k));
    snprintf((char *)k.b, sizeof(k.b), "key-%d", i);
    return k;
}

static void put(cache_t *c, int i, const char *v, int64_t ttl)
{
    cache_key_t k = key_of(i);
    assert_int_equal(cache_put(c, &k, v, strlen(v), ttl), 0);
}

/* 1 and the value in out, or 0. */
static int get(cache_t *c, int i, buf_t *out)
{
    cache_key_t k = key_of(i);
    return cache_get(c, &k, out, NULL);
}

static void test_cache_get_returns_a_copy_and_misses_unknown(void **state)
{
    (void)state;
    fake_now_ms = 1000;
    cache_t *c = cache_new(1 << 20, fake_clock, NULL);
    assert_non_null(c);
    buf_t out = BUF_INIT(1024);
    assert_int_equal(get(c, 1, &out), 0);
    put(c, 1, "one", 5000);
    fake_now_ms += 40;
    cache_key_t k = key_of(1);
    int64_t age = -1;
    assert_int_equal(cache_get(c, &k, &out, &age), 1);
    assert_string_equal(buf_cstr(&out), "one");
    assert_int_equal(age, 40);
    /* Replacing keeps one entry with the new value. */
    put(c, 1, "uno", 5000);
    assert_int_equal(get(c, 1, &out), 1);
    assert_string_equal(buf_cstr(&out), "uno");
    cache_stats_t st;
    cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, cache_entry_cost(3));
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    /* An output buffer too small for the value: -1, counted as a miss. */
    buf_t tiny = BUF_INIT(2);
    assert_int_equal(get(c, 1, &tiny), -1);
    buf_free(&tiny);
    buf_free(&out);
    cache_free(c);
}

static void test_cache_ttl_expires_with_the_injected_clock(void **state)
{
    (void)state;
    fake_now_ms = 0;
    cache_t *c = cache_new(1 << 20, fake_clock, NULL);
    buf_t out = BUF_INIT(1024);
    put(c, 1, "short", 100);
    put(c, 2, "long", 10000);
    fake_now_ms = 99;
    assert_int_equal(get(c, 1, &out), 1);
    fake_now_ms = 100; /* at the expiry: gone */
    assert_int_equal(get(c, 1, &out), 0);
    assert_int_equal(get(c, 2, &out), 1);
    cache_stats_t st;
    cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.expirations, 1);
    assert_int_equal(st.bytes, cache_entry_cost(4));
    /* A TTL that would overflow the clock is kept, not wrapped. */
    put(c, 3, "forever", INT64_MAX);
    fake_now_ms = INT64_MAX / 2;
    assert_int_equal(get(c, 3, &out), 1);
    cache_key_t k = key_of(4);
    assert_int_equal(cache_put(c, &k, "x", 1, 0), -1);
    buf_free(&out);
    cache_free(c);
}

static void test_cache_lru_evicts_least_recently_used_within_the_byte_cap(void **state)
{
    (void)state;
    fake_now_ms = 0;
    /* Room for exactly three 10-byte values. */
    size_t cap = 3 * cache_entry_cost(10);
    cache_t *c = cache_new(cap, fake_clock, NULL);
    buf_t out = BUF_INIT(1024);
    put(c, 1, "aaaaaaaaaa", 1000);
    put(c, 2, "bbbbbbbbbb", 1000);
    put(c, 3, "cccccccccc", 1000);
    assert_int_equal(get(c, 1, &out), 1); /* 1 is now the most recent; 2 the least */
    put(c, 4, "dddddddddd", 1000);
    assert_int_equal(get(c, 2, &out), 0);
    assert_int_equal(get(c, 1, &out), 1);
    assert_int_equal(get(c, 3, &out), 1);
    assert_int_equal(get(c, 4, &out), 1);
    cache_stats_t st;
    cache_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    assert_true(st.bytes <= cap);
    /* A bigger value evicts as many as it needs (1 is least recent now). */
    char big[2 * 10 + sizeof(cache_key_t) + 8];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put(c, 5, big, 1000);
    cache_stats(c, &st);
    assert_true(st.bytes <= cap);
    assert_int_equal(get(c, 1, &out), 0);
    assert_int_equal(get(c, 5, &out), 1);
    /* A value that cannot fit even alone is refused and changes nothing. */
    size_t before = st.entries;
    static char huge[4096];
    memset(huge, 'h', sizeof(huge));
    cache_key_t k = key_of(6);
    assert_int_equal(cache_put(c, &k, huge, sizeof(huge), 1000), -1);
    cache_stats(c, &st);
    assert_int_equal(st.entries, before);
    buf_free(&out);
    cache_free(c);
}

static void test_cache_many_entries_grow_the_map(void **state)
{
    (void)state;
    fake_now_ms = 0;
    cache_t *c = cache_new(64u << 20, fake_clock, NULL);
    buf_t out = BUF_INIT(1024);
    char v[32];
    for (int i = 0; i < 5000; i++) {
        cache_key_t k;
        memset(&k, 0, sizeof(k));
        /* Keys differing only past the first 8 bytes share a bucket. */
        memcpy(k.b + 8, &i, sizeof(i));
        k.b[0] = (unsigned char)(i & 0xff);
        snprintf(v, sizeof(v), "v%d", i);
        assert_int_equal(cache_put(c, &k, v, strlen(v), 1000), 0);
    }
    for (int i = 0; i < 5000; i += 7) {
        cache_key_t k;
        memset(&k, 0, sizeof(k));
        memcpy(k.b + 8, &i, sizeof(i));
        k.b[0] = (unsigned char)(i & 0xff);
        snprintf(v, sizeof(v), "v%d", i);
        assert_int_equal(cache_get(c, &k, &out, NULL), 1);
        assert_string_equal(buf_cstr(&out), v);
    }
    buf_free(&out);
    cache_free(c);
}

typedef struct {
    cache_t *c;
    int base;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    buf_t out = BUF_INIT(1024);
    for (int i = 0; i < 20000; i++) {
        cache_key_t k = key_of(w->base + i % 50);
        if (i % 3)
            (void)cache_put(w->c, &k, "value-of-some-length", 20, 1000);
        else
            (void)cache_get(w->c, &k, &out, NULL);
    }
    buf_free(&out);
    return NULL;
}

static void test_cache_is_thread_safe_under_a_small_cap(void **state)
{
    (void)state;
    cache_t *c = cache_new(20 * cache_entry_cost(20), NULL, NULL);
    pthread_t th[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.c = c, .base = i * 25};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cache_stats_t st;
    cache_stats(c, &st);
    assert_true(st.entries <= 20);
    assert_int_equal(st.bytes, st.entries * cache_entry_cost(20));
    cache_free(c);
}

/* --- the key ----------------------------------------------------------- */

typedef struct {
    Llmgw__V1__ChatRequest req;
    Llmgw__V1__Message m[2];
    Llmgw__V1__Message *mp[2];
} chat_t;

static void chat_init(chat_t *c)
{
    llmgw__v1__chat_request__init(&c->req);
    for (int i = 0; i < 2; i++) {
        llmgw__v1__message__init(&c->m[i]);
        c->mp[i] = &c->m[i];
    }
    c->m[0].role = "system";
    c->m[0].content = "be brief";
    c->m[1].role = "user";
    c->m[1].content = "what is 2 + 2?";
    c->req.model = "route";
    c->req.messages = c->mp;
    c->req.n_messages = 2;
    c->req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    c->req.temperature = 0;
    c->req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                        "{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}}}}}]";
    c->req.response_format_json = "{\"type\":\"json_object\"}";
}

static cache_key_t key_chat(const chat_t *c, const char *scope, const char *target, bool stream)
{
    cache_key_t k;
    assert_int_equal(cache_key_chat(&c->req, scope, target, stream, &k), 0);
    return k;
}

static bool same(cache_key_t a, cache_key_t b)
{
    return memcmp(a.b, b.b, CACHE_KEY_LEN) == 0;
}

static void test_cache_key_ignores_json_member_order_and_spacing(void **state)
{
    (void)state;
    chat_t a, b;
    chat_init(&a);
    chat_init(&b);
    assert_true(same(key_chat(&a, "k", "route", false), key_chat(&b, "k", "route", false)));
    b.req.tools_json = " [ {\"function\": {\"parameters\": {\"properties\": {\"b\": {}, \"a\": {}},"
                       " \"type\": \"object\"}, \"name\": \"f\"}, \"type\": \"function\"} ]";
    b.req.response_format_json = "{ \"type\" : \"json_object\" }";
    assert_true(same(key_chat(&a, "k", "route", false), key_chat(&b, "k", "route", false)));
    a.req.extra_body_json = "{\"logit_bias\":{\"1\":2,\"3\":4},\"n\":1}";
    b.req.extra_body_json = "{\"n\":1,\"logit_bias\":{\"3\":4,\"1\":2}}";
    assert_true(same(key_chat(&a, "k", "route", false), key_chat(&b, "k", "route", false)));
    /* Text that is not JSON still keys (as itself). */
    a.req.tool_choice_json = "not json";
    b.req.tool_choice_json = "not json";
    assert_true(same(key_chat(&a, "k", "route", false), key_chat(&b, "k", "route", false)));
    b.req.tool_choice_json = "\"not json\"";
    assert_false(same(key_chat(&a, "k", "route", false), key_chat(&b, "k", "route", false)));
}

static void test_cache_key_changes_with_everything_that_changes_the_answer(void **state)
{
    (void)state;
    chat_t a, b;
    chat_init(&a);
    cache_key_t base = key_chat(&a, "k", "route", false);
    assert_false(same(base, key_chat(&a, "other-key", "route", false)));
    assert_false(same(base, key_chat(&a, "k", "other-route", false)));
    assert_false(same(base, key_chat(&a, "k", "route", true)));
#define CHANGED(mutation)                                                                          \
    do {                                                                                           \
        chat_init(&b);                                                                             \
        mutation;                                                                                  \
        assert_false(same(base, key_chat(&b, "k", "route", false)));                               \
    } while (0)
    CHANGED(b.m[1].content = "what is 2 + 3?");
    CHANGED(b.m[1].role = "assistant");
    CHANGED(b.m[1].name = "bob");
    CHANGED(b.m[1].content_parts_json = "[{\"type\":\"text\",\"text\":\"x\"}]");
    CHANGED(b.req.n_messages = 1);
    CHANGED((b.mp[0] = &b.m[1], b.mp[1] = &b.m[0])); /* message order */
    CHANGED(b.req.temperature = 0.5);
    CHANGED(b.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT__NOT_SET);
    CHANGED((b.req.top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P, b.req.top_p = 1));
    CHANGED((b.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS,
             b.req.max_tokens = 5));
    CHANGED((b.req.seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED, b.req.seed = 7));
    CHANGED((b.req.presence_penalty_opt_case =
                 LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY,
             b.req.presence_penalty = 0.1));
    CHANGED((b.req.frequency_penalty_opt_case =
                 LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY,
             b.req.frequency_penalty = 0.1));
    char *stop[] = {"x"};
    CHANGED((b.req.stop = stop, b.req.n_stop = 1));
    CHANGED(b.req.tools_json = "");
    CHANGED(b.req.tool_choice_json = "\"auto\"");
    CHANGED(b.req.response_format_json = "{\"type\":\"text\"}");
    CHANGED(b.req.extra_body_json = "{\"n\":2}");
    Llmgw__V1__RoutingOptions ro = LLMGW__V1__ROUTING_OPTIONS__INIT;
    char *allow[] = {"p"};
    ro.allow_providers = allow;
    ro.n_allow_providers = 1;
    CHANGED(b.req.routing = &ro);
#undef CHANGED
    /* The end user's id and the model field (the target is keyed) do not. */
    chat_init(&b);
    b.req.user = "u1";
    b.req.model = "anything";
    assert_true(same(base, key_chat(&b, "k", "route", false)));
}

/* --- cache_replay ------------------------------------------------------- */

static void test_cache_replay_ttl_follows_route_and_temperature(void **state)
{
    (void)state;
    table_route_t route = {.name = "r", .cache_ttl_ms = 5000, .cache_max_temperature = 0};
    chat_t c;
    chat_init(&c);
    assert_int_equal(cache_replay_ttl_ms(&route, &c.req, false), 5000);
    assert_int_equal(cache_replay_ttl_ms(&route, &c.req, true), 0);
    assert_int_equal(cache_replay_ttl_ms(NULL, &c.req, false), 0);
    c.req.temperature = 0.2;
    assert_int_equal(cache_replay_ttl_ms(&route, &c.req, false), 0);
    route.cache_max_temperature = 0.2;
    assert_int_equal(cache_replay_ttl_ms(&route, &c.req, false), 5000);
    /* Unset: the provider's default, taken as 1. */
    c.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT__NOT_SET;
    assert_int_equal(cache_replay_ttl_ms(&route, &c.req, false), 0);
    route.cache_max_temperature = 1;
    assert_int_equal(cache_replay_ttl_ms(&route, &c.req, false), 5000);
    route.cache_ttl_ms = 0;
    assert_int_equal(cache_replay_ttl_ms(&route, &c.req, false), 0);
}

static void test_cache_replay_no_cache_directives(void **state)
{
    (void)state;
    assert_false(cache_replay_no_cache(NULL));
    assert_false(cache_replay_no_cache(""));
    assert_true(cache_replay_no_cache("no-cache"));
    assert_true(cache_replay_no_cache("No-Cache"));
    assert_true(cache_replay_no_cache("max-age=0, no-store"));
    assert_true(cache_replay_no_cache("no-cache=\"set-cookie, x\""));
    assert_false(cache_replay_no_cache("max-age=60"));
    assert_false(cache_replay_no_cache("no-cachex"));
    assert_false(cache_replay_no_cache("private=\"no-cache\""));
    assert_false(cache_replay_no_cache(",,, ,"));
}

static void test_cache_replay_values_round_trip(void **state)
{
    (void)state;
    arena_t *a = arena_new(0);
    buf_t v = BUF_INIT(1 << 20);
    Llmgw__V1__ChatResponse resp = LLMGW__V1__CHAT_RESPONSE__INIT;
    resp.id = "chatcmpl-1";
    resp.provider = "p";
    resp.model = "m";
    assert_int_equal(cache_replay_pack_response(&resp, &v), 0);
    Llmgw__V1__ChatResponse *back = cache_replay_response(v.data, v.len, a);
    assert_non_null(back);
    assert_string_equal(back->id, "chatcmpl-1");
    assert_string_equal(back->provider, "p");

    buf_reset(&v);
    Llmgw__V1__ChatChunk ch = LLMGW__V1__CHAT_CHUNK__INIT;
    ch.id = "c1";
    assert_int_equal(cache_replay_add_chunk(&v, &ch), 0);
    ch.id = "c2";
    assert_int_equal(cache_replay_add_chunk(&v, &ch), 0);
    size_t off = 0;
    Llmgw__V1__ChatChunk *out = NULL;
    assert_int_equal(cache_replay_next_chunk(v.data, v.len, &off, a, &out), 1);
    assert_string_equal(out->id, "c1");
    assert_int_equal(cache_replay_next_chunk(v.data, v.len, &off, a, &out), 1);
    assert_string_equal(out->id, "c2");
    assert_int_equal(cache_replay_next_chunk(v.data, v.len, &off, a, &out), 0);
    /* Truncated or with a length past the end: corrupt, not a crash. */
    off = 0;
    assert_int_equal(cache_replay_next_chunk(v.data, v.len - 1, &off, a, &out), 1);
    assert_int_equal(cache_replay_next_chunk(v.data, v.len - 1, &off, a, &out), -1);
    off = 0;
    assert_int_equal(cache_replay_next_chunk("\xff\xff\xff\x7f", 4, &off, a, &out), -1);
    off = 0;
    assert_int_equal(cache_replay_next_chunk("\x01", 1, &off, a, &out), -1);

    Llmgw__V1__RouteDecision *d = cache_replay_decision(a, "r", "p", "m", 42);
    assert_non_null(d);
    assert_true(d->cache_hit);
    assert_string_equal(d->strategy, "cache");
    assert_string_equal(d->route, "r");
    assert_int_equal(d->n_attempts, 0);
    assert_string_equal(d->reason, "cache hit: answer stored 42 ms ago by p/m");
    buf_free(&v);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_get_returns_a_copy_and_misses_unknown),
        cmocka_unit_test(test_cache_ttl_expires_with_the_injected_clock),
        cmocka_unit_test(test_cache_lru_evicts_least_recently_used_within_the_byte_cap),
        cmocka_unit_test(test_cache_many_entries_grow_the_map),
        cmocka_unit_test(test_cache_is_thread_safe_under_a_small_cap),
        cmocka_unit_test(test_cache_key_ignores_json_member_order_and_spacing),
        cmocka_unit_test(test_cache_key_changes_with_everything_that_changes_the_answer),
        cmocka_unit_test(test_cache_replay_ttl_follows_route_and_temperature),
        cmocka_unit_test(test_cache_replay_no_cache_directives),
        cmocka_unit_test(test_cache_replay_values_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
