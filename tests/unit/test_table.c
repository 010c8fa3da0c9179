/* Unit tests for table.c: loading, validation messages, references, the slot,
 * file errors, a large table, and allocation failure at every step of a load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "buf.h"
#include "table.h"

/* One provider "a" with model "m": the smallest valid providers array. */
#define PROV_A "{\"name\":\"a\",\"base_url\":\"http://x\",\"models\":[{\"name\":\"m\"}]}"
#define PROVIDERS_A "\"providers\":[" PROV_A "]"

static char errbuf[512];

static table_t *load(const char *json)
{
    return table_load_json(json, strlen(json), errbuf, sizeof(errbuf));
}

static table_t *load_ok(const char *json)
{
    table_t *t = load(json);
    if (t == NULL)
        fail_msg("unexpected load error: %s", errbuf);
    return t;
}

typedef struct {
    const char *json;
    const char *err; /* exact message */
} bad_case_t;

static void expect_errors(const bad_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        errbuf[0] = '\0';
        table_t *t = load(cases[i].json);
        if (t != NULL) {
            table_unref(t);
            fail_msg("case %zu loaded but should fail with '%s': %s", i, cases[i].err,
                     cases[i].json);
        }
        if (strcmp(errbuf, cases[i].err) != 0)
            fail_msg("case %zu: got '%s', want '%s' for %s", i, errbuf, cases[i].err,
                     cases[i].json);
    }
}

static void sha256_hex(const char *secret, char out[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- a valid table --------------------------------------------------------- */

static void test_table_full_table_loads_every_field(void **state)
{
    char hex[65], json[4096];
    sha256_hex("sk-secret-1", hex);
    for (char *c = hex; *c; c++) /* stored hashes are case-insensitive */
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    snprintf(json, sizeof(json),
             "{\"version\": 7,"
             " \"providers\": ["
             "  {\"name\": \"sim-a\", \"base_url\": \"https://api.example.com/v1//\","
             "   \"api_key\": \"k-1\", \"timeout_ms\": 1500,"
             "   \"headers\": {\"X-Org\": \"acme\", \"OpenAI-Beta\": \"v2\"},"
             "   \"models\": [{\"name\": \"gpt-4o-mini\", \"input_cost_per_mtok\": 0.15,"
             "                 \"output_cost_per_mtok\": 1, \"quality\": 0.8},"
             "                {\"name\": \"meta-llama/Llama-3.1-8B:free\"}]},"
             "  {\"name\": \"sim-b\", \"base_url\": \"http://127.0.0.1:9000\", \"api_key\": \"\","
             "   \"models\": [{\"name\": \"m\"}]}],"
             " \"routes\": ["
             "  {\"name\": \"chat\", \"strategy\": \"weighted\", \"deployments\": ["
             "    {\"provider\": \"sim-a\", \"model\": \"gpt-4o-mini\", \"weight\": 2.5,"
             "     \"priority\": -3},"
             "    {\"provider\": \"sim-b\", \"model\": \"m\"}]}],"
             " \"keys\": [{\"name\": \"svc\", \"sha256\": \"%s\", \"team\": \"search\"},"
             "          {\"name\": \"anon\", \"sha256\": \"%064d\"}]}",
             hex, 0);
    table_t *t = load_ok(json);

    assert_int_equal(table_version(t), 7);
    assert_int_equal(table_n_providers(t), 2);
    const table_provider_t *a = table_provider_at(t, 0);
    assert_string_equal(a->name, "sim-a");
    assert_string_equal(a->base_url, "https://api.example.com/v1");
    assert_string_equal(a->api_key, "k-1");
    assert_int_equal(a->timeout_ms, 1500);
    assert_int_equal(a->n_headers, 2);
    assert_string_equal(a->headers[0], "X-Org: acme");
    assert_string_equal(a->headers[1], "OpenAI-Beta: v2");
    assert_int_equal(a->n_models, 2);
    assert_string_equal(a->models[0].name, "gpt-4o-mini");
    assert_true(a->models[0].input_cost_per_mtok == 0.15);
    assert_true(a->models[0].output_cost_per_mtok == 1.0);
    assert_true(a->models[0].quality == 0.8);
    assert_string_equal(a->models[1].name, "meta-llama/Llama-3.1-8B:free");
    assert_true(a->models[1].input_cost_per_mtok == 0.0);
    assert_true(a->models[1].quality == 0.5);

    const table_provider_t *b = table_find_provider(t, "sim-b");
    assert_ptr_equal(b, table_provider_at(t, 1));
    assert_null(b->api_key);
    assert_int_equal(b->timeout_ms, 60000);
    assert_int_equal(b->n_headers, 0);
    assert_null(table_provider_at(t, 2));
    assert_null(table_find_provider(t, "sim-c"));
    assert_ptr_equal(table_provider_find_model(a, "meta-llama/Llama-3.1-8B:free"), &a->models[1]);
    assert_null(table_provider_find_model(a, "m"));

    assert_int_equal(table_n_routes(t), 1);
    const table_route_t *r = table_find_route(t, "chat");
    assert_ptr_equal(r, table_route_at(t, 0));
    assert_null(table_route_at(t, 1));
    assert_null(table_find_route(t, "sim-a"));
    assert_string_equal(r->strategy, "weighted");
    assert_int_equal(r->n_deployments, 2);
    assert_ptr_equal(r->deployments[0].provider, a);
    assert_ptr_equal(r->deployments[0].model, &a->models[0]);
    assert_true(r->deployments[0].weight == 2.5);
    assert_int_equal(r->deployments[0].priority, -3);
    assert_ptr_equal(r->deployments[1].provider, b);
    assert_true(r->deployments[1].weight == 1.0);
    assert_int_equal(r->deployments[1].priority, 0);

    assert_true(table_auth_enabled(t));
    const table_key_t *k = table_find_key(t, "sk-secret-1");
    assert_non_null(k);
    assert_string_equal(k->name, "svc");
    assert_string_equal(k->team, "search");
    unsigned char want[32];
    SHA256((const unsigned char *)"sk-secret-1", 11, want);
    assert_memory_equal(k->sha256, want, 32);
    assert_null(table_find_key(t, "sk-secret-2"));
    assert_null(table_find_key(t, ""));
    assert_null(table_find_key(t, NULL));
    const table_key_t *anon = &k[1];
    assert_string_equal(anon->team, "");
    table_unref(t);
}

static void test_table_minimal_table_has_defaults(void **state)
{
    table_t *t = load_ok("{" PROVIDERS_A ", \"routes\": null}");
    assert_int_equal(table_version(t), 0);
    assert_int_equal(table_n_routes(t), 0);
    assert_null(table_find_route(t, "x"));
    assert_false(table_auth_enabled(t));
    assert_null(table_find_key(t, "anything"));
    table_unref(t);

    t = load_ok("{" PROVIDERS_A ", \"routes\": [], \"keys\": []}");
    assert_false(table_auth_enabled(t));
    table_unref(t);
}

/* ---- bad input, each message naming the field ----------------------------- */

static void test_table_rejects_bad_documents(void **state)
{
    static const bad_case_t cases[] = {
        {"[]", "table: expected a JSON object"},
        {"{\"bogus\": 1, " PROVIDERS_A "}", "bogus: unknown field"},
        {"{}", "providers: expected a non-empty array"},
        {"{\"providers\": []}", "providers: expected a non-empty array"},
        {"{\"providers\": {}}", "providers: expected a non-empty array"},
        {"{\"version\": -1, " PROVIDERS_A "}", "version: expected an integer >= 0"},
        {"{\"version\": \"7\", " PROVIDERS_A "}", "version: expected an integer >= 0"},
        {"{\"version\": 1.5, " PROVIDERS_A "}", "version: expected an integer >= 0"},
        {"{" PROVIDERS_A ", \"routes\": {}}", "routes: expected an array"},
        {"{" PROVIDERS_A ", \"keys\": 3}", "keys: expected an array"},
    };
    expect_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_table_rejects_malformed_json_with_position(void **state)
{
    table_t *t = load("{\n  \"providers\": [,]\n}");
    assert_null(t);
    assert_true(strncmp(errbuf, "json: line 2 column", 19) == 0);

    t = load("{\"version\": 1, \"version\": 2, " PROVIDERS_A "}");
    assert_null(t);
    assert_true(strncmp(errbuf, "json: ", 6) == 0);
    assert_non_null(strstr(errbuf, "duplicate"));
}

static void test_table_rejects_bad_provider_fields(void **state)
{
#define P(fields) "{\"providers\": [" PROV_A ", {" fields "}]}"
#define MODELS "\"models\": [{\"name\": \"m\"}]"
#define OKP(extra) P("\"name\": \"b\", \"base_url\": \"http://y\", " MODELS extra)
    static const bad_case_t cases[] = {
        {"{\"providers\": [" PROV_A ", 3]}", "providers[1]: expected an object"},
        {P("\"name\": \"b\", \"base_ulr\": \"http://y\", " MODELS),
         "providers[1].base_ulr: unknown field"},
        {P("\"base_url\": \"http://y\", " MODELS), "providers[1].name: required"},
        {P("\"name\": 5, \"base_url\": \"http://y\", " MODELS),
         "providers[1].name: expected a string"},
        {P("\"name\": \"\", \"base_url\": \"http://y\", " MODELS),
         "providers[1].name: must not be empty"},
        {P("\"name\": \"a$b\", \"base_url\": \"http://y\", " MODELS),
         "providers[1].name: invalid character '$' (allowed: A-Z a-z 0-9 . _ -)"},
        {P("\"name\": \"a b\", \"base_url\": \"http://y\", " MODELS),
         "providers[1].name: invalid character 0x20 (allowed: A-Z a-z 0-9 . _ -)"},
        {P("\"name\": \"a/b\", \"base_url\": \"http://y\", " MODELS),
         "providers[1].name: invalid character '/' (allowed: A-Z a-z 0-9 . _ -)"},
        {P("\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
           "\"base_url\": \"http://y\", " MODELS),
         "providers[1].name: longer than 64 characters"},
        {P("\"name\": \"a\", \"base_url\": \"http://y\", " MODELS),
         "providers[1].name: duplicate name 'a'"},
        {P("\"name\": \"b\", " MODELS), "providers[1].base_url: required"},
        {P("\"name\": \"b\", \"base_url\": \"ftp://y\", " MODELS),
         "providers[1].base_url: expected an http:// or https:// URL"},
        {P("\"name\": \"b\", \"base_url\": \"http://\", " MODELS),
         "providers[1].base_url: expected an http:// or https:// URL"},
        {P("\"name\": \"b\", \"base_url\": \"https:///x\", " MODELS),
         "providers[1].base_url: expected an http:// or https:// URL"},
        {P("\"name\": \"b\", \"base_url\": \"http://a b\", " MODELS),
         "providers[1].base_url: expected an http:// or https:// URL"},
        {P("\"name\": \"b\", \"base_url\": \"localhost:8080\", " MODELS),
         "providers[1].base_url: expected an http:// or https:// URL"},
        {P("\"name\": \"b\", \"base_url\": 80, " MODELS),
         "providers[1].base_url: expected an http:// or https:// URL"},
        {OKP(", \"timeout_ms\": 0"), "providers[1].timeout_ms: expected an integer 1..600000"},
        {OKP(", \"timeout_ms\": 600001"), "providers[1].timeout_ms: expected an integer 1..600000"},
        {OKP(", \"timeout_ms\": 1.5"), "providers[1].timeout_ms: expected an integer 1..600000"},
        {OKP(", \"timeout_ms\": \"5\""), "providers[1].timeout_ms: expected an integer 1..600000"},
        {OKP(", \"api_key\": 5"), "providers[1].api_key: expected a string"},
        {OKP(", \"api_key\": \"k\\r\\nX-Evil: 1\""),
         "providers[1].api_key: must not contain CR or LF"},
        {OKP(", \"headers\": []"), "providers[1].headers: expected an object"},
        {OKP(", \"headers\": {\"a b\": \"x\"}"), "providers[1].headers: invalid header name 'a b'"},
        {OKP(", \"headers\": {\"\": \"x\"}"), "providers[1].headers: invalid header name ''"},
        {OKP(", \"headers\": {\"X-A:\": \"x\"}"),
         "providers[1].headers: invalid header name 'X-A:'"},
        {OKP(", \"headers\": {\"X-A\": 1}"), "providers[1].headers.X-A: expected a string"},
        {OKP(", \"headers\": {\"X-A\": \"a\\nb\"}"),
         "providers[1].headers.X-A: must not contain CR or LF"},
        {P("\"name\": \"b\", \"base_url\": \"http://y\""),
         "providers[1].models: expected a non-empty array"},
        {P("\"name\": \"b\", \"base_url\": \"http://y\", \"models\": []"),
         "providers[1].models: expected a non-empty array"},
    };
#undef P
#undef MODELS
#undef OKP
    expect_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_table_rejects_bad_model_fields(void **state)
{
#define M(models)                                                                                  \
    "{\"providers\": [{\"name\": \"a\", \"base_url\": \"http://x\", \"models\": " models "}]}"
    static const bad_case_t cases[] = {
        {M("[\"m\"]"), "providers[0].models[0]: expected an object"},
        {M("[{\"name\": \"m\", \"qualty\": 1}]"), "providers[0].models[0].qualty: unknown field"},
        {M("[{}]"), "providers[0].models[0].name: required"},
        {M("[{\"name\": \"m x\"}]"),
         "providers[0].models[0].name: invalid character 0x20 (allowed: A-Z a-z 0-9 . _ - :/@+)"},
        {M("[{\"name\": \"m\"}, {\"name\": \"n\"}, {\"name\": \"m\"}]"),
         "providers[0].models[2].name: duplicate name 'm'"},
        {M("[{\"name\": \"m\", \"input_cost_per_mtok\": -0.5}]"),
         "providers[0].models[0].input_cost_per_mtok: expected a number >= 0"},
        {M("[{\"name\": \"m\", \"output_cost_per_mtok\": \"1\"}]"),
         "providers[0].models[0].output_cost_per_mtok: expected a number >= 0"},
        {M("[{\"name\": \"m\", \"quality\": 1.5}]"),
         "providers[0].models[0].quality: expected a number 0..1"},
        {M("[{\"name\": \"m\", \"quality\": -1}]"),
         "providers[0].models[0].quality: expected a number 0..1"},
    };
#undef M
    expect_errors(cases, sizeof(cases) / sizeof(cases[0]));

    /* The same model name under two providers is fine. */
    table_t *t = load_ok("{\"providers\": [" PROV_A ", {\"name\": \"b\", \"base_url\": "
                         "\"http://y\", \"models\": [{\"name\": \"m\", \"quality\": 1, "
                         "\"input_cost_per_mtok\": 0}]}]}");
    table_unref(t);
}

static void test_table_rejects_bad_route_fields(void **state)
{
#define R(route)                                                                                   \
    "{\"providers\": [{\"name\": \"a\", \"base_url\": \"http://x\", \"models\": [{\"name\": "      \
    "\"m\"}, {\"name\": \"n\"}]}], \"routes\": [" route "]}"
#define DEP "{\"provider\": \"a\", \"model\": \"m\"}"
#define OKR(name) "{\"name\": \"" name "\", \"strategy\": \"priority\", \"deployments\": [" DEP "]}"
#define D(dep) R("{\"name\": \"r\", \"strategy\": \"priority\", \"deployments\": [" dep "]}")
    static const bad_case_t cases[] = {
        {R("\"r\""), "routes[0]: expected an object"},
        {R("{\"name\": \"r\", \"stratgy\": \"priority\"}"), "routes[0].stratgy: unknown field"},
        {R("{\"strategy\": \"priority\", \"deployments\": [" DEP "]}"), "routes[0].name: required"},
        {R(OKR("x/y")), "routes[0].name: must not contain '/' (reserved for provider/model)"},
        {R(OKR("a")), "routes[0].name: 'a' is already a provider name"},
        {R(OKR("r") ", " OKR("s") ", " OKR("r")), "routes[2].name: duplicate name 'r'"},
        {R("{\"name\": \"r\", \"deployments\": [" DEP "]}"),
         "routes[0].strategy: expected one of priority, weighted, cost, latency, quality, "
         "balanced, custom"},
        {R("{\"name\": \"r\", \"strategy\": \"fastest\", \"deployments\": [" DEP "]}"),
         "routes[0].strategy: expected one of priority, weighted, cost, latency, quality, "
         "balanced, custom"},
        {R("{\"name\": \"r\", \"strategy\": \"priority\"}"),
         "routes[0].deployments: expected a non-empty array"},
        {R("{\"name\": \"r\", \"strategy\": \"priority\", \"deployments\": []}"),
         "routes[0].deployments: expected a non-empty array"},
        {D("3"), "routes[0].deployments[0]: expected an object"},
        {D(DEP ", {\"provider\": \"a\", \"model\": \"m\", \"wieght\": 1}"),
         "routes[0].deployments[1].wieght: unknown field"},
        {D(DEP
           ", {\"provider\": \"a\", \"model\": \"n\"}, {\"provider\": \"x\", \"model\": \"m\"}"),
         "routes[0].deployments[2].provider: unknown provider 'x'"},
        {D("{\"model\": \"m\"}"), "routes[0].deployments[0].provider: required"},
        {D("{\"provider\": \"a\"}"), "routes[0].deployments[0].model: required"},
        {D("{\"provider\": \"a\", \"model\": \"zz\"}"),
         "routes[0].deployments[0].model: provider 'a' has no model 'zz'"},
        {D("{\"provider\": \"a\", \"model\": \"m\", \"weight\": 0}"),
         "routes[0].deployments[0].weight: expected a number > 0 and <= 1000000"},
        {D("{\"provider\": \"a\", \"model\": \"m\", \"weight\": -2}"),
         "routes[0].deployments[0].weight: expected a number > 0 and <= 1000000"},
        {D("{\"provider\": \"a\", \"model\": \"m\", \"weight\": 1e300}"),
         "routes[0].deployments[0].weight: expected a number > 0 and <= 1000000"},
        {D("{\"provider\": \"a\", \"model\": \"m\", \"weight\": \"1\"}"),
         "routes[0].deployments[0].weight: expected a number > 0 and <= 1000000"},
        {D("{\"provider\": \"a\", \"model\": \"m\", \"priority\": 1.5}"),
         "routes[0].deployments[0].priority: expected a 32-bit integer"},
        {D("{\"provider\": \"a\", \"model\": \"m\", \"priority\": 2147483648}"),
         "routes[0].deployments[0].priority: expected a 32-bit integer"},
        {D(DEP ", " DEP), "routes[0].deployments[1]: duplicate of deployments[0]"},
    };
#undef R
#undef DEP
#undef OKR
#undef D
    expect_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A route's response cache: opt-in, ttl_ms required, max_temperature 0..2. */
static void test_table_route_cache_is_opt_in_and_validated(void **state)
{
#define C(cache)                                                                                   \
    "{" PROVIDERS_A ", \"routes\": [{\"name\": \"r\", \"strategy\": \"priority\", "                \
    "\"deployments\": [{\"provider\": \"a\", \"model\": \"m\"}]" cache "}]}"
    table_t *t = load_ok(C(""));
    assert_int_equal(table_find_route(t, "r")->cache_ttl_ms, 0);
    table_unref(t);
    t = load_ok(C(", \"cache\": {\"ttl_ms\": 60000}"));
    assert_int_equal(table_find_route(t, "r")->cache_ttl_ms, 60000);
    assert_true(table_find_route(t, "r")->cache_max_temperature == 0);
    table_unref(t);
    t = load_ok(C(", \"cache\": {\"ttl_ms\": 1, \"max_temperature\": 0.7}"));
    assert_int_equal(table_find_route(t, "r")->cache_ttl_ms, 1);
    assert_true(table_find_route(t, "r")->cache_max_temperature == 0.7);
    table_unref(t);
    static const bad_case_t cases[] = {
        {C(", \"cache\": 5"), "routes[0].cache: expected an object"},
        {C(", \"cache\": {}"), "routes[0].cache.ttl_ms: required"},
        {C(", \"cache\": {\"ttl_ms\": 0}"),
         "routes[0].cache.ttl_ms: expected an integer 1..86400000"},
        {C(", \"cache\": {\"ttl_ms\": 86400001}"),
         "routes[0].cache.ttl_ms: expected an integer 1..86400000"},
        {C(", \"cache\": {\"ttl_ms\": 1.5}"),
         "routes[0].cache.ttl_ms: expected an integer 1..86400000"},
        {C(", \"cache\": {\"ttl_ms\": 10, \"max_temperature\": -1}"),
         "routes[0].cache.max_temperature: expected a number 0..2"},
        {C(", \"cache\": {\"ttl_ms\": 10, \"max_temperature\": \"0\"}"),
         "routes[0].cache.max_temperature: expected a number 0..2"},
        {C(", \"cache\": {\"ttl_ms\": 10, \"ttl\": 5}"), "routes[0].cache.ttl: unknown field"},
    };
#undef C
    expect_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_table_rejects_more_deployments_than_the_limit(void **state)
{
    buf_t b = BUF_INIT(1 << 20);
    assert_int_equal(buf_append_str(&b, "{\"providers\": [{\"name\": \"a\", \"base_url\": "
                                        "\"http://x\", \"models\": ["),
                     0);
    for (int i = 0; i <= TABLE_MAX_DEPLOYMENTS; i++)
        assert_int_equal(buf_printf(&b, "%s{\"name\": \"m%d\"}", i ? "," : "", i), 0);
    assert_int_equal(buf_append_str(&b, "]}], \"routes\": [{\"name\": \"r\", \"strategy\": "
                                        "\"priority\", \"deployments\": ["),
                     0);
    for (int i = 0; i <= TABLE_MAX_DEPLOYMENTS; i++)
        assert_int_equal(
            buf_printf(&b, "%s{\"provider\": \"a\", \"model\": \"m%d\"}", i ? "," : "", i), 0);
    assert_int_equal(buf_append_str(&b, "]}]}"), 0);
    table_t *t = table_load_json(b.data, b.len, errbuf, sizeof(errbuf));
    assert_null(t);
    assert_string_equal(errbuf, "routes[0].deployments: more than 128 deployments");
    buf_free(&b);
}

static void test_table_rejects_bad_key_fields(void **state)
{
#define K(keys) "{" PROVIDERS_A ", \"keys\": [" keys "]}"
#define H0 "0000000000000000000000000000000000000000000000000000000000000000"
#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
    static const bad_case_t cases[] = {
        {K("\"k\""), "keys[0]: expected an object"},
        {K("{\"name\": \"k\", \"sha\": \"" H0 "\"}"), "keys[0].sha: unknown field"},
        {K("{\"sha256\": \"" H0 "\"}"), "keys[0].name: required"},
        {K("{\"name\": \"k\"}"), "keys[0].sha256: expected 64 hex characters"},
        {K("{\"name\": \"k\", \"sha256\": \"abc\"}"), "keys[0].sha256: expected 64 hex characters"},
        {K("{\"name\": \"k\", \"sha256\": \"" H0 "0\"}"),
         "keys[0].sha256: expected 64 hex characters"},
        {K("{\"name\": \"k\", \"sha256\": "
           "\"g000000000000000000000000000000000000000000000000000000000000000\"}"),
         "keys[0].sha256: expected 64 hex characters"},
        {K("{\"name\": \"k\", \"sha256\": \"" H0 "\"}, {\"name\": \"k\", \"sha256\": \"" H1 "\"}"),
         "keys[1].name: duplicate name 'k'"},
        {K("{\"name\": \"k\", \"sha256\": \"" H0 "\"}, {\"name\": \"j\", \"sha256\": \"" H1
           "\"}, {\"name\": \"i\", \"sha256\": \"" H0 "\"}"),
         "keys[2].sha256: same hash as keys[0]"},
        {K("{\"name\": \"k\", \"sha256\": \"" H0 "\", \"team\": 3}"),
         "keys[0].team: expected a string"},
        {K("{\"name\": \"k\", \"sha256\": \"" H0 "\", \"team\": \"a\\nb\"}"),
         "keys[0].team: must not contain control characters"},
    };
#undef K
#undef H0
#undef H1
    expect_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_table_error_quotes_user_text_bounded_and_printable(void **state)
{
    table_t *t = load("{" PROVIDERS_A ", \"routes\": [{\"name\": \"r\", \"strategy\": "
                      "\"priority\", \"deployments\": [{\"provider\": \"x\\ny"
                      "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                      "\", \"model\": \"m\"}]}]}");
    assert_null(t);
    assert_string_equal(errbuf,
                        "routes[0].deployments[0].provider: unknown provider "
                        "'x?yzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...'");
}

static void test_table_error_is_truncated_to_errlen(void **state)
{
    char small[12];
    memset(small, 'x', sizeof(small));
    table_t *t = table_load_json("[]", 2, small, sizeof(small));
    assert_null(t);
    assert_string_equal(small, "table: expe");
    assert_null(table_load_json(NULL, 0, small, sizeof(small)));
}

/* ---- references and the slot ------------------------------------------------ */

static table_t *load_version(int v)
{
    char json[256];
    snprintf(json, sizeof(json), "{\"version\": %d, " PROVIDERS_A "}", v);
    return load_ok(json);
}

static void test_table_slot_swap_keeps_old_table_alive_for_holders(void **state)
{
    table_slot_t *s = table_slot_new(load_version(1));
    assert_non_null(s);
    table_t *held = table_slot_get(s);
    assert_int_equal(table_version(held), 1);

    table_slot_swap(s, load_version(2));
    /* The slot dropped its reference; ours keeps the old snapshot readable
     * (ASan would flag a use after free here). */
    assert_int_equal(table_version(held), 1);
    assert_string_equal(table_provider_at(held, 0)->base_url, "http://x");

    table_t *now = table_slot_get(s);
    assert_int_equal(table_version(now), 2);
    assert_ptr_not_equal(now, held);
    table_unref(held);
    table_unref(now);
    table_slot_free(s);
}

static void test_table_ref_counts_each_holder(void **state)
{
    table_t *t = load_version(3);
    assert_ptr_equal(table_ref(t), t);
    table_unref(t);
    assert_int_equal(table_version(t), 3); /* one reference left */
    table_unref(t);
    assert_null(table_ref(NULL));
    table_unref(NULL);
}

static void test_table_slot_may_start_empty(void **state)
{
    table_slot_t *s = table_slot_new(NULL);
    assert_non_null(s);
    assert_null(table_slot_get(s));
    table_slot_swap(s, load_version(4));
    table_t *t = table_slot_get(s);
    assert_int_equal(table_version(t), 4);
    table_unref(t);
    table_slot_free(s);
}

typedef struct {
    table_slot_t *slot;
    int iterations;
    int bad;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    for (int i = 0; i < r->iterations; i++) {
        table_t *t = table_slot_get(r->slot);
        int64_t v = table_version(t);
        if (v < 1 || strcmp(table_provider_at(t, 0)->name, "a") != 0)
            r->bad++;
        table_unref(t);
    }
    return NULL;
}

static void test_table_slot_concurrent_get_and_swap_are_safe(void **state)
{
    table_slot_t *s = table_slot_new(load_version(1));
    assert_non_null(s);
    reader_t r[2] = {{s, 3000, 0}, {s, 3000, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    for (int v = 2; v < 100; v++)
        table_slot_swap(s, load_version(v));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].bad, 0);
    }
    table_t *t = table_slot_get(s);
    assert_int_equal(table_version(t), 99);
    table_unref(t);
    table_slot_free(s);
}

/* ---- files -------------------------------------------------------------------- */

static void write_temp(char *path, const char *text)
{
    strcpy(path, "/tmp/llmgw-test-table-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

static void test_table_load_file_reads_a_valid_file(void **state)
{
    char path[64];
    write_temp(path, "{\"version\": 9, " PROVIDERS_A "}");
    table_t *t = table_load_file(path, errbuf, sizeof(errbuf));
    unlink(path);
    if (t == NULL)
        fail_msg("load error: %s", errbuf);
    assert_int_equal(table_version(t), 9);
    table_unref(t);
}

static void test_table_load_file_reports_field_error(void **state)
{
    char path[64];
    write_temp(path, "{\"providers\": [{\"name\": \"a\", \"base_url\": \"x\", \"models\": []}]}");
    table_t *t = table_load_file(path, errbuf, sizeof(errbuf));
    unlink(path);
    assert_null(t);
    assert_string_equal(errbuf, "providers[0].base_url: expected an http:// or https:// URL");
}

static void test_table_load_file_missing_file_names_path_and_errno(void **state)
{
    table_t *t = table_load_file("/nonexistent/llmgw/table.json", errbuf, sizeof(errbuf));
    assert_null(t);
    assert_string_equal(errbuf,
                        "/nonexistent/llmgw/table.json: cannot open: No such file or directory");
}

static void test_table_load_file_rejects_a_directory(void **state)
{
    table_t *t = table_load_file("/tmp", errbuf, sizeof(errbuf));
    assert_null(t);
    assert_string_equal(errbuf, "/tmp: not a regular file");
}

static void test_table_load_file_rejects_oversized_file(void **state)
{
    char path[64];
    write_temp(path, "");
    /* Sparse: no disk is used for the 16 MiB + 1 bytes. */
    assert_int_equal(truncate(path, 16 * 1024 * 1024 + 1), 0);
    table_t *t = table_load_file(path, errbuf, sizeof(errbuf));
    char want[128];
    snprintf(want, sizeof(want), "%s: larger than 16 MiB", path);
    unlink(path);
    assert_null(t);
    assert_string_equal(errbuf, want);
}

static void test_table_load_file_reads_an_empty_file_as_a_json_error(void **state)
{
    char path[64];
    write_temp(path, "");
    table_t *t = table_load_file(path, errbuf, sizeof(errbuf));
    unlink(path);
    assert_null(t);
    assert_true(strncmp(errbuf, "json: ", 6) == 0);
}

/* ---- scale ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1000 providers x 3 models, 1000 routes x 3 deployments, 1000 keys.
 * `dup_last`: the last provider repeats the first one's name. */
static void build_large(buf_t *b, bool dup_last)
{
    assert_int_equal(buf_append_str(b, "{\"providers\": ["), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(b,
                                    "%s{\"name\": \"p%d\", \"base_url\": \"http://h%d:1/v1\", "
                                    "\"models\": [{\"name\": \"m0\"}, {\"name\": \"m1\"}, "
                                    "{\"name\": \"m2\"}]}",
                                    i ? "," : "", dup_last && i == 999 ? 0 : i, i),
                         0);
    assert_int_equal(buf_append_str(b, "], \"routes\": ["), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(b,
                                    "%s{\"name\": \"r%d\", \"strategy\": \"priority\", "
                                    "\"deployments\": [{\"provider\": \"p%d\", \"model\": \"m0\"},"
                                    "{\"provider\": \"p%d\", \"model\": \"m1\"},"
                                    "{\"provider\": \"p%d\", \"model\": \"m2\"}]}",
                                    i ? "," : "", i, i, (i * 7) % 999, (i * 13) % 999),
                         0);
    assert_int_equal(buf_append_str(b, "], \"keys\": ["), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(
            buf_printf(b, "%s{\"name\": \"k%d\", \"sha256\": \"%064x\"}", i ? "," : "", i, i), 0);
    assert_int_equal(buf_append_str(b, "]}"), 0);
}

static void test_table_large_table_loads_quickly(void **state)
{
    buf_t b = BUF_INIT(8 << 20);
    build_large(&b, false);
    double t0 = now_s();
    table_t *t = table_load_json(b.data, b.len, errbuf, sizeof(errbuf));
    double took = now_s() - t0;
    if (t == NULL)
        fail_msg("load error: %s", errbuf);
    /* Generous for a sanitizer build on a shared machine; a quadratic
     * duplicate check or lookup would take far longer. */
    if (took > 2.0)
        fail_msg("loading 1000 providers took %.3f s", took);
    assert_int_equal(table_n_providers(t), 1000);
    assert_int_equal(table_n_routes(t), 1000);
    char name[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        const table_provider_t *p = table_find_provider(t, name);
        assert_ptr_equal(p, table_provider_at(t, (size_t)i));
        snprintf(name, sizeof(name), "r%d", i);
        const table_route_t *r = table_find_route(t, name);
        assert_ptr_equal(r, table_route_at(t, (size_t)i));
        assert_ptr_equal(r->deployments[1].provider, table_provider_at(t, (size_t)(i * 7 % 999)));
        assert_string_equal(r->deployments[2].model->name, "m2");
    }
    table_unref(t);
    buf_free(&b);

    buf_init(&b, 8 << 20);
    build_large(&b, true);
    assert_null(table_load_json(b.data, b.len, errbuf, sizeof(errbuf)));
    assert_string_equal(errbuf, "providers[999].name: duplicate name 'p0'");
    buf_free(&b);
}

/* ---- allocation failure ------------------------------------------------------------ */

static long alloc_countdown; /* fail when it reaches 0; < 0: never */

static void *failing_malloc(size_t n)
{
    if (alloc_countdown >= 0 && alloc_countdown-- == 0)
        return NULL;
    return malloc(n);
}

static void test_table_load_survives_allocation_failure_at_every_step(void **state)
{
    char hex[65], json[2048];
    sha256_hex("sk-1", hex);
    snprintf(json, sizeof(json),
             "{\"version\": 1, \"providers\": [{\"name\": \"a\", \"base_url\": \"http://x/\","
             " \"api_key\": \"k\", \"headers\": {\"X-A\": \"1\"}, \"models\": [{\"name\": \"m\"},"
             " {\"name\": \"n\"}]}, {\"name\": \"b\", \"base_url\": \"http://y\", \"models\": "
             "[{\"name\": \"m\"}]}], \"routes\": [{\"name\": \"r\", \"strategy\": \"weighted\","
             " \"deployments\": [{\"provider\": \"a\", \"model\": \"n\"}, {\"provider\": \"b\","
             " \"model\": \"m\"}]}], \"keys\": [{\"name\": \"k\", \"sha256\": \"%s\"}]}",
             hex);
    char path[64];
    write_temp(path, json);

    json_set_alloc_funcs(failing_malloc, free);
    int loaded = 0;
    long n;
    for (n = 0; n < 100000 && loaded < 2; n++) {
        loaded = 0;
        for (int from_file = 0; from_file < 2; from_file++) {
            errbuf[0] = '\0';
            alloc_countdown = n;
            table_t *t = from_file ? table_load_file(path, errbuf, sizeof(errbuf))
                                   : table_load_json(json, strlen(json), errbuf, sizeof(errbuf));
            alloc_countdown = -1;
            if (t == NULL) {
                /* Every failure is reported, never a silent NULL. */
                if (errbuf[0] == '\0')
                    fail_msg("allocation %ld failed without a message", n);
                continue;
            }
            assert_non_null(table_find_key(t, "sk-1"));
            assert_string_equal(table_find_route(t, "r")->deployments[0].model->name, "n");
            table_unref(t);
            loaded++;
        }
    }
    json_set_alloc_funcs(malloc, free);
    unlink(path);
    assert_int_equal(loaded, 2);
    assert_true(n > 10); /* the loop really did walk through failures */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_full_table_loads_every_field),
        cmocka_unit_test(test_table_minimal_table_has_defaults),
        cmocka_unit_test(test_table_rejects_bad_documents),
        cmocka_unit_test(test_table_rejects_malformed_json_with_position),
        cmocka_unit_test(test_table_rejects_bad_provider_fields),
        cmocka_unit_test(test_table_rejects_bad_model_fields),
        cmocka_unit_test(test_table_rejects_bad_route_fields),
        cmocka_unit_test(test_table_route_cache_is_opt_in_and_validated),
        cmocka_unit_test(test_table_rejects_more_deployments_than_the_limit),
        cmocka_unit_test(test_table_rejects_bad_key_fields),
        cmocka_unit_test(test_table_error_quotes_user_text_bounded_and_printable),
        cmocka_unit_test(test_table_error_is_truncated_to_errlen),
        cmocka_unit_test(test_table_slot_swap_keeps_old_table_alive_for_holders),
        cmocka_unit_test(test_table_ref_counts_each_holder),
        cmocka_unit_test(test_table_slot_may_start_empty),
        cmocka_unit_test(test_table_slot_concurrent_get_and_swap_are_safe),
        cmocka_unit_test(test_table_load_file_reads_a_valid_file),
        cmocka_unit_test(test_table_load_file_reports_field_error),
        cmocka_unit_test(test_table_load_file_missing_file_names_path_and_errno),
        cmocka_unit_test(test_table_load_file_rejects_a_directory),
        cmocka_unit_test(test_table_load_file_rejects_oversized_file),
        cmocka_unit_test(test_table_load_file_reads_an_empty_file_as_a_json_error),
        cmocka_unit_test(test_table_large_table_loads_quickly),
        cmocka_unit_test(test_table_load_survives_allocation_failure_at_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
