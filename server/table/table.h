/* table: the routing table — providers, models, routes and API keys.
 *
 * A loaded table is an immutable, refcounted snapshot: readers take a
 * reference (table_slot_get), use it for a whole request and release it, so
 * a reload never changes a table under an in-flight call. Loading validates
 * everything up front; an error names the field ("providers[1].base_url:
 * expected an http:// or https:// URL") and nothing is half-loaded.
 *
 * JSON schema (docs/routing-table.md):
 *   {"version": 7,                                   optional, integer >= 0
 *    "providers": [{"name", "base_url", "api_key"?, "timeout_ms"?, "headers"?: {},
 *                   "preset"?, "auth_style"?, "wire_format"?, "api_version"?, "quirks"?: {
 *                   "stream_options"?, "tools"?, "json_mode"?, "vision"?,
 *                   "max_tokens_default"?, "chat_path"?, "drop_fields"?,
 *                   "max_tokens_field"?, "completions"?} (docs/providers.md),
 *                   "discover"?, "health"?: {"path"?, "interval_ms"?, "timeout_ms"?,
 *                   "failures_to_down"?}, "breaker"?: {"consecutive_failures"?,
 *                   "error_rate"?, "min_requests"?, "window_ms"?, "cooldown_ms"?,
 *                   "half_open_probes"?}, "retry_after_max_ms"?,
 *                   "models": [{"name", "input_cost_per_mtok"?, "output_cost_per_mtok"?,
 *                               "quality"?, "tools"?, "vision"?, "json_mode"?,
 *                               "context_window"?, "typical_completion_tokens"?}]}],
 *    "routes": [{"name", "strategy": "priority"|"weighted"|"cost"|"latency"|"quality"|
 *                "balanced"|"custom", "weights"?: {"cost"?, "latency"?, "quality"?,
 *                "success"?}, "tolerance"?, "max_attempts"?,
 *                "cache"?: {"ttl_ms", "max_temperature"?},
 *                "deployments": [{"provider", "model", "weight"?, "priority"?}]}],
 *    "keys": [{"name", "sha256": "<64 hex>", "team"?, "scopes"?, "rpm"?, "tpm"?,
 *              "expires_unix_ms"?, "previous_sha256"?, "previous_expires_unix_ms"?}],
 *    "teams": [{"name", "rpm"?, "tpm"?}],
 *    "policies": [{"name", "scope", "team"? | "key"?, "allowed_providers"?,
 *                  "denied_providers"?, "allowed_models"?, "denied_models"?, "regions"?,
 *                  "max_tokens"?, "max_prompt_bytes"?, "redact"?, "log_prompts"?,
 *                  "log_responses"?}],
 *    "budgets": [{"name", "scope", "team"? | "key"? | "provider"?, "period", "limit_usd",
 *                 "enforcement"?}]}
 * Providers may also state "region"; "auth_required"?: true refuses callers
 * without a key even when "keys" is empty.
 */
#ifndef LLMGW_TABLE_H
#define LLMGW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker_config.h"

#define TABLE_MAX_DEPLOYMENTS 128 /* per route */

typedef struct table table_t;

typedef struct {
    const char *name;
    double input_cost_per_mtok;
    double output_cost_per_mtok;
    double quality; /* 0..1, default 0.5 */
    /* Capabilities the routing constraints check (docs/routing-table.md). */
    bool tools;                        /* default true */
    bool vision;                       /* default false */
    bool json_mode;                    /* default true */
    int64_t context_window;            /* tokens; 0 unknown (no limit checked) */
    int64_t typical_completion_tokens; /* cost estimate without max_tokens; default 256 */
} table_model_t;

/* What a provider's API accepts (from its preset, overridable per entry). */
typedef struct {
    bool stream_options;            /* accepts stream_options (default true) */
    bool tools;                     /* accepts tools / tool_choice (default true) */
    bool json_mode;                 /* accepts response_format (default true) */
    bool vision;                    /* accepts image content parts (default true) */
    int max_tokens_default;         /* sent when a request has no max_tokens; 0 none */
    const char *chat_path;          /* overrides the wire format's; "{model}" is replaced */
    /* The model listing under base_url (default "/models"): discovery reads it
     * and it is the health probe's path unless health.path says otherwise.
     * Azure OpenAI lists at /openai/models, not /models (which is a 404). */
    const char *models_path;
    const char *const *drop_fields; /* top-level request fields it rejects */
    size_t n_drop_fields;
    /* The name it takes the completion limit under: "max_tokens" (default)
     * or "max_completion_tokens" (OpenAI's newer API, docs/compatibility.md). */
    const char *max_tokens_field;
    bool completions; /* has the legacy /completions endpoint (default true) */
} table_quirks_t;

typedef struct {
    const char *name;
    const char *base_url;       /* without trailing '/' */
    const char *api_key;        /* NULL when none */
    int timeout_ms;             /* default 60000 */
    const char *const *headers; /* extra "Name: value" lines */
    size_t n_headers;
    const table_model_t *models;
    size_t n_models;
    bool discover;               /* route provider/model to models its /models lists */
    const char *health_path;     /* active probe: GET base_url + this; default "/models" */
    int health_interval_ms;      /* default 15000; 0 turns active probes off */
    int health_timeout_ms;       /* default 2000 */
    int health_failures_to_down; /* consecutive failed probes before "down"; default 2 */
    breaker_config_t breaker;    /* of each deployment on this provider */
    int retry_after_max_ms;      /* longest Retry-After honoured; 0 ignores it; default 60000 */
    /* Provider presets (docs/providers.md): "preset" fills what the entry
     * leaves out. Strings below are static or table-owned. */
    const char *preset;      /* NULL when none */
    const char *auth_style;  /* "bearer" (default), "x-api-key", "api-key", "none" */
    const char *wire_format; /* "openai" (default) or "anthropic" */
    const char *api_version; /* Azure's api-version query, Anthropic's anthropic-version */
    table_quirks_t quirks;
    const char *region; /* "eu-west-1"; "" when unknown (policies with regions exclude it) */
} table_provider_t;

typedef struct {
    const table_provider_t *provider;
    const table_model_t *model;
    double weight; /* > 0, default 1 */
    int priority;  /* lower is tried first, default 0 */
} table_deployment_t;

/* Weights of the balanced and custom strategies (>= 0, not all zero). */
typedef struct {
    double cost, latency, quality, success;
} table_weights_t;

typedef struct {
    const char *name;
    const char *strategy; /* "priority", "weighted", "cost", "latency", "quality", "balanced",
                             "custom" (static strings) */
    const table_deployment_t *deployments;
    size_t n_deployments;
    table_weights_t weights; /* default 0.3 cost, 0.3 latency, 0.2 quality, 0.2 success */
    double tolerance;        /* scores within this of the best are load-balanced; default 0.05 */
    int max_attempts;        /* retry budget per request; 0: every candidate */
    /* Response cache (opt-in, "cache": {"ttl_ms", "max_temperature"?}):
     * answers are kept for cache_ttl_ms (0: the route does not cache);
     * requests whose temperature (1 when unset) is above
     * cache_max_temperature (default 0) bypass it. */
    int64_t cache_ttl_ms;
    double cache_max_temperature;
} table_route_t;

/* ---- who may call, and under which rules (table_access.c) ---------------- */

/* What a key may call (a bit set). */
enum {
    TABLE_SCOPE_CHAT = 1u << 0,      /* Complete, Stream, /v1/chat/completions, /v1/completions */
    TABLE_SCOPE_MODELS = 1u << 1,    /* ListModels, /v1/models */
    TABLE_SCOPE_ENSEMBLES = 1u << 2, /* Ensemble */
    TABLE_SCOPE_ROUTING = 1u << 3,   /* RoutingService */
};
#define TABLE_SCOPE_ALL 0xfu

/* PII kinds a policy redacts before a prompt leaves (a bit set). */
enum {
    TABLE_REDACT_EMAIL = 1u << 0,
    TABLE_REDACT_PHONE = 1u << 1,
    TABLE_REDACT_CARD = 1u << 2, /* 13-19 digits passing the Luhn check */
    TABLE_REDACT_IBAN = 1u << 3, /* passing the mod-97 check */
};

typedef struct {
    const char *const *v;
    size_t n;
} table_names_t;

typedef struct {
    const char *name;
    const char *scope;  /* "org", "team", "key" (static) */
    const char *target; /* team or key name; "" for org */
    /* Empty lists restrict nothing. Models are "provider/model" or a bare
     * model name (any provider). */
    table_names_t allowed_providers, denied_providers, allowed_models, denied_models, regions;
    int64_t max_tokens;       /* 0: no cap */
    int64_t max_prompt_bytes; /* 0: no cap */
    unsigned redact;          /* TABLE_REDACT_* */
    bool log_prompts, log_responses;
} table_policy_t;

typedef struct {
    const char *name;
    int64_t rpm, tpm; /* per node; 0 unlimited */
} table_team_t;

typedef struct {
    const char *name;
    const char *team; /* "" when none */
    unsigned char sha256[32];
    unsigned scopes;         /* TABLE_SCOPE_*; all when the entry states none */
    int64_t rpm, tpm;        /* per node; 0 unlimited */
    int64_t expires_unix_ms; /* 0 never */
    /* Rotation: the previous secret still works until its grace ends. */
    bool has_previous;
    unsigned char previous_sha256[32];
    int64_t previous_expires_unix_ms;
    const table_team_t *team_limits; /* NULL when the team is not in "teams" */
    const table_policy_t *policy;    /* the most specific: key's, team's, org's; NULL none */
} table_key_t;

typedef struct {
    const char *name;
    const char *scope;  /* "org", "team", "key", "provider" (static) */
    const char *target; /* team, key or provider name; "" for org */
    const char *period; /* "daily", "weekly", "monthly", "total" (static) */
    double limit_usd;
    bool hard; /* refuse when spent; soft budgets only alert */
} table_budget_t;

/* NULL with err filled ("path: cannot open: No such file…" or a field error). */
table_t *table_load_file(const char *path, char *err, size_t errlen);
table_t *table_load_json(const char *text, size_t len, char *err, size_t errlen);
table_t *table_ref(table_t *t);
void table_unref(table_t *t);

int64_t table_version(const table_t *t);
size_t table_n_providers(const table_t *t);
const table_provider_t *table_provider_at(const table_t *t, size_t i);
const table_provider_t *table_find_provider(const table_t *t, const char *name);
const table_model_t *table_provider_find_model(const table_provider_t *p, const char *model);
size_t table_n_routes(const table_t *t);
const table_route_t *table_route_at(const table_t *t, size_t i);
const table_route_t *table_find_route(const table_t *t, const char *name);
/* True when callers need a key: the table has keys, or says "auth_required"
 * (a managed table once any API key exists, so revoking the last key closes
 * the gateway instead of opening it). */
bool table_auth_enabled(const table_t *t);
/* The key whose current secret (not expired at now_unix_ms) or previous
 * secret (within its grace) is `secret`; NULL when none, with *expired
 * (may be NULL) true when the secret matched a key or grace that has ended.
 * Constant time in which key matched. */
const table_key_t *table_match_key(const table_t *t, const char *secret, int64_t now_unix_ms,
                                   bool *expired);
/* table_match_key at the current wall-clock time, NULL when expired. */
const table_key_t *table_find_key(const table_t *t, const char *secret);
/* The org-wide policy (scope "org"), the one callers without a key get; NULL none. */
const table_policy_t *table_org_policy(const table_t *t);
size_t table_n_policies(const table_t *t);
const table_policy_t *table_policy_at(const table_t *t, size_t i);
size_t table_n_teams(const table_t *t);
const table_team_t *table_team_at(const table_t *t, size_t i);
const table_team_t *table_find_team(const table_t *t, const char *name);
size_t table_n_budgets(const table_t *t);
const table_budget_t *table_budget_at(const table_t *t, size_t i);
/* True when `name` is in the list (exact match). */
bool table_names_has(const table_names_t *l, const char *name);

/* A slot holding the current table; readers and the reloader share it. */
typedef struct table_slot table_slot_t;
table_slot_t *table_slot_new(table_t *initial); /* takes the reference */
void table_slot_free(table_slot_t *s);
/* A new reference to the current table (release with table_unref). */
table_t *table_slot_get(table_slot_t *s);
/* Installs t (takes the reference); the old table lives on while referenced. */
void table_slot_swap(table_slot_t *s, table_t *t);

#endif
