/* table_access: who may call the gateway and under which rules — the
 * table's "keys", "teams", "policies" and "budgets" (docs/routing-table.md).
 *
 * Invariants, checked when the table loads (all or nothing, like the rest):
 * - Names are unique within each section; one secret hash maps to one key,
 *   counting rotated-out (previous) hashes too.
 * - At most one policy per target (the org, a team, a key); a policy never
 *   both allows and denies the same name; a key policy names a key of the
 *   table. Each key's effective policy is resolved here, most specific first
 *   (its own, its team's, the org's), so the request path reads one pointer.
 * - At most one budget per (scope, target, period).
 * Secrets never pass through here: keys carry SHA-256 hashes only, compared
 * in constant time by table_match_key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "hex.h"
#include "loader.h"

#define ACCESS_LIST_NAME_MAX 200            /* "provider/model" with a long model id */
#define ACCESS_LIMIT_MAX ((json_int_t)1e12) /* rpm / tpm */
#define ACCESS_MAX_TOKENS_MAX 10000000
#define ACCESS_PROMPT_BYTES_MAX ((json_int_t)1 << 30)
#define ACCESS_BUDGET_USD_MAX 1e12
#define ACCESS_UNIX_MS_MAX ((json_int_t)253402300799999) /* 9999-12-31 */

static const char *const key_fields[] = {"name",
                                         "sha256",
                                         "team",
                                         "scopes",
                                         "rpm",
                                         "tpm",
                                         "expires_unix_ms",
                                         "previous_sha256",
                                         "previous_expires_unix_ms",
                                         NULL};
static const char *const team_fields[] = {"name", "rpm", "tpm", NULL};
static const char *const policy_fields[] = {"name",
                                            "scope",
                                            "team",
                                            "key",
                                            "allowed_providers",
                                            "denied_providers",
                                            "allowed_models",
                                            "denied_models",
                                            "regions",
                                            "max_tokens",
                                            "max_prompt_bytes",
                                            "redact",
                                            "log_prompts",
                                            "log_responses",
                                            NULL};
static const char *const budget_fields[] = {"name",   "scope",     "team",        "key", "provider",
                                            "period", "limit_usd", "enforcement", NULL};

static const char *const scope_names[] = {"chat", "models", "ensembles", "routing", NULL};
static const char *const redact_names[] = {"email", "phone", "card", "iban", NULL};
static const char *const policy_scopes[] = {"org", "team", "key", NULL};
static const char *const budget_scopes[] = {"org", "team", "key", "provider", NULL};
static const char *const budget_periods[] = {"daily", "weekly", "monthly", "total", NULL};
static const char *const budget_enforcements[] = {"hard", "soft", NULL};

bool table_region_valid(const char *s)
{
    return strlen(s) <= TABLE_NAME_MAX && !loader_has_control(s);
}

/* A required member that must be one of `allowed` (static strings). */
static int read_enum(loader_t *ld, json_t *obj, const char *path, const char *fname,
                     const char *const *allowed, const char *expect, const char **out)
{
    if (loader_field(obj, fname) == NULL)
        return loader_fail(ld, "%s.%s: required", path, fname);
    return loader_read_opt_enum(ld, obj, path, fname, allowed, expect, out);
}

/* A 64-hex SHA-256 member. `required`: absent is an error; else *present. */
static int read_sha256(loader_t *ld, json_t *obj, const char *path, const char *fname,
                       bool required, unsigned char out[32], bool *present)
{
    json_t *v = loader_field(obj, fname);
    if (present)
        *present = v != NULL;
    if (v == NULL && !required)
        return 0;
    const char *hex = json_is_string(v) ? json_string_value(v) : "";
    if (strlen(hex) != 64)
        return loader_fail(ld, "%s.%s: expected 64 hex characters", path, fname);
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_digit_value((unsigned char)hex[2 * i]),
            lo = hex_digit_value((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return loader_fail(ld, "%s.%s: expected 64 hex characters", path, fname);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* An optional array of names from `allowed` as a bit set; absent: dflt.
 * Present but empty is refused (a key that may call nothing is a mistake). */
static int read_bits(loader_t *ld, json_t *obj, const char *path, const char *fname,
                     const char *const *allowed, const char *expect, unsigned dflt, unsigned *out)
{
    json_t *arr;
    char p[160];
    loader_join_path(p, sizeof(p), path, fname);
    *out = dflt;
    if (loader_read_array(ld, obj, path, fname, false, &arr) != 0)
        return -1;
    if (arr == NULL)
        return 0;
    if (json_array_size(arr) == 0)
        return loader_fail(ld, "%s: expected at least one of %s", p, expect);
    unsigned bits = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        size_t k = 0;
        if (json_is_string(v))
            while (allowed[k] != NULL && strcmp(allowed[k], json_string_value(v)) != 0)
                k++;
        if (!json_is_string(v) || allowed[k] == NULL) {
            char s[TABLE_SHOW_MAX + 4];
            return loader_fail(ld, "%s[%zu]: '%s' is not one of %s", p, i,
                               loader_show(s, json_is_string(v) ? json_string_value(v) : "?"),
                               expect);
        }
        bits |= 1u << k;
    }
    *out = bits;
    return 0;
}

/* An optional list of names (providers, models, regions) into the pool. */
static int read_names(loader_t *ld, json_t *obj, const char *path, const char *fname,
                      table_names_t *out)
{
    json_t *arr;
    char p[160];
    loader_join_path(p, sizeof(p), path, fname);
    *out = (table_names_t){NULL, 0};
    if (loader_read_array(ld, obj, path, fname, false, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    const char **v = loader_array(ld->t, n, sizeof(*v));
    if (v == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        const char *s = json_is_string(e) ? json_string_value(e) : NULL;
        if (s == NULL || s[0] == '\0' || strlen(s) > ACCESS_LIST_NAME_MAX || loader_has_control(s))
            return loader_fail(ld, "%s[%zu]: expected a non-empty name of at most %d characters", p,
                               i, ACCESS_LIST_NAME_MAX);
        if ((v[i] = loader_strdup(ld->t, s)) == NULL)
            return loader_fail(ld, "table: out of memory");
    }
    out->v = v;
    out->n = n;
    return 0;
}

/* An optional target name member (a team, key or provider). */
static int read_target(loader_t *ld, json_t *obj, const char *path, const char *fname, bool wanted,
                       const char *scope, const char **out)
{
    json_t *v = loader_field(obj, fname);
    if (!wanted) {
        if (v != NULL)
            return loader_fail(ld, "%s.%s: not allowed with scope '%s'", path, fname, scope);
        return 0;
    }
    if (v == NULL)
        return loader_fail(ld, "%s.%s: required with scope '%s'", path, fname, scope);
    return (*out = loader_read_name(ld, obj, path, fname, TABLE_NAME_MAX, "")) ? 0 : -1;
}

/* ---- keys ------------------------------------------------------------------- */

static int load_key(loader_t *ld, json_t *jk, const char *path, table_key_t *k)
{
    if (!json_is_object(jk))
        return loader_fail(ld, "%s: expected an object", path);
    if (loader_check_fields(ld, jk, path, key_fields) != 0)
        return -1;
    if ((k->name = loader_read_name(ld, jk, path, "name", TABLE_NAME_MAX, "")) == NULL)
        return -1;
    if (read_sha256(ld, jk, path, "sha256", true, k->sha256, NULL) != 0)
        return -1;

    const char *team;
    if (loader_read_opt_string(ld, jk, path, "team", &team) != 0)
        return -1;
    if (team != NULL && loader_has_control(team))
        return loader_fail(ld, "%s.team: must not contain control characters", path);
    if ((k->team = loader_strdup(ld->t, team != NULL ? team : "")) == NULL)
        return loader_fail(ld, "table: out of memory");

    json_int_t rpm, tpm, expires, prev_expires;
    if (read_bits(ld, jk, path, "scopes", scope_names, "chat, models, ensembles, routing",
                  TABLE_SCOPE_ALL, &k->scopes) != 0 ||
        loader_read_opt_int(ld, jk, path, "rpm", 0, ACCESS_LIMIT_MAX, 0, "an integer >= 0", &rpm) !=
            0 ||
        loader_read_opt_int(ld, jk, path, "tpm", 0, ACCESS_LIMIT_MAX, 0, "an integer >= 0", &tpm) !=
            0 ||
        loader_read_opt_int(ld, jk, path, "expires_unix_ms", 1, ACCESS_UNIX_MS_MAX, 0,
                            "a time in unix milliseconds", &expires) != 0 ||
        read_sha256(ld, jk, path, "previous_sha256", false, k->previous_sha256, &k->has_previous) !=
            0 ||
        loader_read_opt_int(ld, jk, path, "previous_expires_unix_ms", 1, ACCESS_UNIX_MS_MAX, 0,
                            "a time in unix milliseconds", &prev_expires) != 0)
        return -1;
    if (k->has_previous != (prev_expires != 0))
        return loader_fail(ld, "%s.%s: required with %s", path,
                           k->has_previous ? "previous_expires_unix_ms" : "previous_sha256",
                           k->has_previous ? "previous_sha256" : "previous_expires_unix_ms");
    if (k->has_previous && memcmp(k->previous_sha256, k->sha256, 32) == 0)
        return loader_fail(ld, "%s.previous_sha256: same hash as sha256", path);
    k->rpm = (int64_t)rpm;
    k->tpm = (int64_t)tpm;
    k->expires_unix_ms = (int64_t)expires;
    k->previous_expires_unix_ms = (int64_t)prev_expires;
    return 0;
}

typedef struct {
    const unsigned char *sha256;
    size_t key;
} access_hash_t;

static int access_hash_cmp(const void *a, const void *b)
{
    const access_hash_t *x = a, *y = b;
    int c = memcmp(x->sha256, y->sha256, 32);
    if (c != 0)
        return c;
    return x->key < y->key ? -1 : (x->key > y->key);
}

/* One secret must map to one key (one team), rotated-out hashes included. */
static int check_hashes(loader_t *ld)
{
    table_t *t = ld->t;
    size_t n = 0;
    access_hash_t *h = loader_array(t, 2 * t->n_keys, sizeof(*h));
    if (h == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < t->n_keys; i++) {
        h[n++] = (access_hash_t){t->keys[i].sha256, i};
        if (t->keys[i].has_previous)
            h[n++] = (access_hash_t){t->keys[i].previous_sha256, i};
    }
    qsort(h, n, sizeof(*h), access_hash_cmp);
    size_t first = SIZE_MAX, other = 0;
    for (size_t i = 1; i < n; i++) {
        if (memcmp(h[i - 1].sha256, h[i].sha256, 32) != 0)
            continue;
        if (h[i].key < first) {
            first = h[i].key;
            other = h[i - 1].key;
        }
    }
    if (first != SIZE_MAX)
        return loader_fail(ld, "keys[%zu].sha256: same hash as keys[%zu]", first, other);
    return 0;
}

static int load_keys(loader_t *ld, json_t *root)
{
    table_t *t = ld->t;
    json_t *arr;
    if (loader_read_array(ld, root, "", "keys", false, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    t->keys = loader_array(t, n, sizeof(*t->keys));
    loader_ref_t *refs = loader_array(t, n, sizeof(*refs));
    if (t->keys == NULL || refs == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "keys[%zu]", i);
        if (load_key(ld, json_array_get(arr, i), path, &t->keys[i]) != 0)
            return -1;
        refs[i] = (loader_ref_t){t->keys[i].name, 0, i};
    }
    t->n_keys = n;
    const loader_ref_t *dup = loader_sort_find_duplicate(refs, n);
    if (dup != NULL) {
        char s[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "keys[%zu].name: duplicate name '%s'", dup->index,
                           loader_show(s, dup->name));
    }
    return check_hashes(ld);
}

/* ---- teams ------------------------------------------------------------------ */

static int team_cmp(const void *a, const void *b)
{
    return strcmp(((const table_team_t *)a)->name, ((const table_team_t *)b)->name);
}

static int load_teams(loader_t *ld, json_t *root)
{
    table_t *t = ld->t;
    json_t *arr;
    if (loader_read_array(ld, root, "", "teams", false, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    t->teams = loader_array(t, n, sizeof(*t->teams));
    loader_ref_t *refs = loader_array(t, n, sizeof(*refs));
    if (t->teams == NULL || refs == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        char path[64];
        json_t *jt = json_array_get(arr, i);
        table_team_t *tm = &t->teams[i];
        json_int_t rpm, tpm;
        snprintf(path, sizeof(path), "teams[%zu]", i);
        if (!json_is_object(jt))
            return loader_fail(ld, "%s: expected an object", path);
        if (loader_check_fields(ld, jt, path, team_fields) != 0 ||
            !(tm->name = loader_read_name(ld, jt, path, "name", TABLE_NAME_MAX, "")) ||
            loader_read_opt_int(ld, jt, path, "rpm", 0, ACCESS_LIMIT_MAX, 0, "an integer >= 0",
                                &rpm) != 0 ||
            loader_read_opt_int(ld, jt, path, "tpm", 0, ACCESS_LIMIT_MAX, 0, "an integer >= 0",
                                &tpm) != 0)
            return -1;
        tm->rpm = (int64_t)rpm;
        tm->tpm = (int64_t)tpm;
        refs[i] = (loader_ref_t){tm->name, 0, i};
    }
    const loader_ref_t *dup = loader_sort_find_duplicate(refs, n);
    if (dup != NULL) {
        char s[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "teams[%zu].name: duplicate name '%s'", dup->index,
                           loader_show(s, dup->name));
    }
    qsort(t->teams, n, sizeof(*t->teams), team_cmp);
    t->n_teams = n;
    return 0;
}

/* ---- policies ---------------------------------------------------------------- */

/* -1 naming the first entry of `denied` that `allowed` also lists. */
static int check_overlap(loader_t *ld, const char *path, const char *dname,
                         const table_names_t *allowed, const table_names_t *denied)
{
    for (size_t i = 0; i < denied->n; i++)
        if (table_names_has(allowed, denied->v[i])) {
            char s[TABLE_SHOW_MAX + 4];
            return loader_fail(ld, "%s.%s[%zu]: '%s' is both allowed and denied", path, dname, i,
                               loader_show(s, denied->v[i]));
        }
    return 0;
}

static int load_policy(loader_t *ld, json_t *jp, const char *path, table_policy_t *p)
{
    if (!json_is_object(jp))
        return loader_fail(ld, "%s: expected an object", path);
    if (loader_check_fields(ld, jp, path, policy_fields) != 0 ||
        !(p->name = loader_read_name(ld, jp, path, "name", TABLE_NAME_MAX, "")) ||
        read_enum(ld, jp, path, "scope", policy_scopes, "org, team, key", &p->scope) != 0)
        return -1;
    p->target = "";
    if (read_target(ld, jp, path, "team", strcmp(p->scope, "team") == 0, p->scope, &p->target) !=
            0 ||
        read_target(ld, jp, path, "key", strcmp(p->scope, "key") == 0, p->scope, &p->target) != 0)
        return -1;
    json_int_t max_tokens, max_prompt;
    if (read_names(ld, jp, path, "allowed_providers", &p->allowed_providers) != 0 ||
        read_names(ld, jp, path, "denied_providers", &p->denied_providers) != 0 ||
        read_names(ld, jp, path, "allowed_models", &p->allowed_models) != 0 ||
        read_names(ld, jp, path, "denied_models", &p->denied_models) != 0 ||
        read_names(ld, jp, path, "regions", &p->regions) != 0 ||
        loader_read_opt_int(ld, jp, path, "max_tokens", 1, ACCESS_MAX_TOKENS_MAX, 0,
                            "an integer 1..10000000", &max_tokens) != 0 ||
        loader_read_opt_int(ld, jp, path, "max_prompt_bytes", 1, ACCESS_PROMPT_BYTES_MAX, 0,
                            "an integer 1..1073741824", &max_prompt) != 0 ||
        read_bits(ld, jp, path, "redact", redact_names, "email, phone, card, iban", 0,
                  &p->redact) != 0 ||
        loader_read_opt_bool(ld, jp, path, "log_prompts", false, &p->log_prompts) != 0 ||
        loader_read_opt_bool(ld, jp, path, "log_responses", false, &p->log_responses) != 0)
        return -1;
    if (check_overlap(ld, path, "denied_providers", &p->allowed_providers, &p->denied_providers) !=
            0 ||
        check_overlap(ld, path, "denied_models", &p->allowed_models, &p->denied_models) != 0)
        return -1;
    for (size_t i = 0; i < p->regions.n; i++)
        if (!table_region_valid(p->regions.v[i]))
            return loader_fail(ld, "%s.regions[%zu]: longer than %d characters", path, i,
                               TABLE_NAME_MAX);
    p->max_tokens = (int64_t)max_tokens;
    p->max_prompt_bytes = (int64_t)max_prompt;
    return 0;
}

static const table_key_t *access_key_named(const table_t *t, const char *name)
{
    for (size_t i = 0; i < t->n_keys; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return &t->keys[i];
    return NULL;
}

static int load_policies(loader_t *ld, json_t *root)
{
    table_t *t = ld->t;
    json_t *arr;
    if (loader_read_array(ld, root, "", "policies", false, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    t->policies = loader_array(t, n, sizeof(*t->policies));
    loader_ref_t *names = loader_array(t, n, sizeof(*names));
    loader_ref_t *targets = loader_array(t, n, sizeof(*targets));
    if (t->policies == NULL || names == NULL || targets == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        char path[64];
        table_policy_t *p = &t->policies[i];
        snprintf(path, sizeof(path), "policies[%zu]", i);
        if (load_policy(ld, json_array_get(arr, i), path, p) != 0)
            return -1;
        if (strcmp(p->scope, "key") == 0 && access_key_named(t, p->target) == NULL) {
            char s[TABLE_SHOW_MAX + 4];
            return loader_fail(ld, "%s.key: no key '%s' in keys", path, loader_show(s, p->target));
        }
        names[i] = (loader_ref_t){p->name, 0, i};
        /* group 0 org, 1 team, 2 key: one policy per (scope, target). */
        size_t g = p->scope[0] == 'o' ? 0 : p->scope[0] == 't' ? 1 : 2;
        targets[i] = (loader_ref_t){p->target, g, i};
        if (g == 0)
            t->org_policy = p;
    }
    t->n_policies = n;
    const loader_ref_t *dup = loader_sort_find_duplicate(names, n);
    if (dup != NULL) {
        char s[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "policies[%zu].name: duplicate name '%s'", dup->index,
                           loader_show(s, dup->name));
    }
    if ((dup = loader_sort_find_duplicate(targets, n)) != NULL) {
        /* The earlier policy for the same target, to name both. */
        size_t earlier = 0;
        for (size_t i = 0; i < n; i++)
            if (targets[i].group == dup->group && strcmp(targets[i].name, dup->name) == 0 &&
                targets[i].index < dup->index) {
                earlier = targets[i].index;
                break;
            }
        return loader_fail(ld, "policies[%zu]: same target as policies[%zu] ('%s')", dup->index,
                           earlier, t->policies[earlier].name);
    }
    return 0;
}

/* Each key's policy: its own, else its team's, else the org's. */
static void resolve_key_policies(table_t *t)
{
    for (size_t i = 0; i < t->n_keys; i++) {
        table_key_t *k = &t->keys[i];
        const table_policy_t *team = NULL, *own = NULL;
        for (size_t j = 0; j < t->n_policies; j++) {
            const table_policy_t *p = &t->policies[j];
            if (p->scope[0] == 'k' && strcmp(p->target, k->name) == 0)
                own = p;
            else if (p->scope[0] == 't' && k->team[0] && strcmp(p->target, k->team) == 0)
                team = p;
        }
        k->policy = own ? own : team ? team : t->org_policy;
        k->team_limits = k->team[0] ? table_find_team(t, k->team) : NULL;
    }
}

/* ---- budgets ----------------------------------------------------------------- */

static int load_budget(loader_t *ld, json_t *jb, const char *path, table_budget_t *b)
{
    if (!json_is_object(jb))
        return loader_fail(ld, "%s: expected an object", path);
    const char *enforcement;
    if (loader_check_fields(ld, jb, path, budget_fields) != 0 ||
        !(b->name = loader_read_name(ld, jb, path, "name", TABLE_NAME_MAX, "")) ||
        read_enum(ld, jb, path, "scope", budget_scopes, "org, team, key, provider", &b->scope) !=
            0 ||
        read_enum(ld, jb, path, "period", budget_periods, "daily, weekly, monthly, total",
                  &b->period) != 0)
        return -1;
    b->target = "";
    if (read_target(ld, jb, path, "team", strcmp(b->scope, "team") == 0, b->scope, &b->target) !=
            0 ||
        read_target(ld, jb, path, "key", strcmp(b->scope, "key") == 0, b->scope, &b->target) != 0 ||
        read_target(ld, jb, path, "provider", strcmp(b->scope, "provider") == 0, b->scope,
                    &b->target) != 0)
        return -1;
    if (loader_field(jb, "limit_usd") == NULL)
        return loader_fail(ld, "%s.limit_usd: required", path);
    if (loader_read_opt_number(ld, jb, path, "limit_usd", 0, ACCESS_BUDGET_USD_MAX, 0,
                               "a number > 0 and at most 1e12", &b->limit_usd) != 0)
        return -1;
    if (!(b->limit_usd > 0))
        return loader_fail(ld, "%s.limit_usd: expected a number > 0 and at most 1e12", path);
    if (loader_read_opt_enum(ld, jb, path, "enforcement", budget_enforcements, "hard, soft",
                             &enforcement) != 0)
        return -1;
    b->hard = strcmp(enforcement, "hard") == 0;
    return 0;
}

static int load_budgets(loader_t *ld, json_t *root)
{
    table_t *t = ld->t;
    json_t *arr;
    if (loader_read_array(ld, root, "", "budgets", false, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    t->budgets = loader_array(t, n, sizeof(*t->budgets));
    loader_ref_t *refs = loader_array(t, n, sizeof(*refs));
    if (t->budgets == NULL || refs == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "budgets[%zu]", i);
        if (load_budget(ld, json_array_get(arr, i), path, &t->budgets[i]) != 0)
            return -1;
        refs[i] = (loader_ref_t){t->budgets[i].name, 0, i};
    }
    t->n_budgets = n;
    const loader_ref_t *dup = loader_sort_find_duplicate(refs, n);
    if (dup != NULL) {
        char s[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "budgets[%zu].name: duplicate name '%s'", dup->index,
                           loader_show(s, dup->name));
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            const table_budget_t *a = &t->budgets[j], *b = &t->budgets[i];
            if (a->scope == b->scope && a->period == b->period && strcmp(a->target, b->target) == 0)
                return loader_fail(
                    ld, "budgets[%zu]: same scope, target and period as budgets[%zu]", i, j);
        }
    return 0;
}

int table_access_load(loader_t *ld, json_t *root)
{
    json_t *ar = loader_field(root, "auth_required");
    if (ar != NULL && !json_is_boolean(ar))
        return loader_fail(ld, "auth_required: expected true or false");
    ld->t->auth_required = json_is_true(ar);
    if (load_keys(ld, root) != 0 || load_teams(ld, root) != 0 || load_policies(ld, root) != 0 ||
        load_budgets(ld, root) != 0)
        return -1;
    resolve_key_policies(ld->t);
    return 0;
}

/* ---- lookups ------------------------------------------------------------------ */

bool table_auth_enabled(const table_t *t)
{
    return t->n_keys > 0 || t->auth_required;
}

const table_key_t *table_match_key(const table_t *t, const char *secret, int64_t now_unix_ms,
                                   bool *expired)
{
    if (expired)
        *expired = false;
    if (secret == NULL || t->n_keys == 0)
        return NULL;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (SHA256((const unsigned char *)secret, strlen(secret), digest) == NULL)
        return NULL;
    /* Every key and every previous hash is compared, in constant time, so
     * timing says nothing about which key (or how much of one) matched. */
    const table_key_t *found = NULL;
    bool late = false;
    for (size_t i = 0; i < t->n_keys; i++) {
        const table_key_t *k = &t->keys[i];
        bool cur = CRYPTO_memcmp(k->sha256, digest, sizeof(digest)) == 0;
        bool prev = k->has_previous && CRYPTO_memcmp(k->previous_sha256, digest, 32) == 0;
        if ((!cur && !prev) || found != NULL)
            continue;
        bool key_over = k->expires_unix_ms != 0 && now_unix_ms >= k->expires_unix_ms;
        bool grace_over = prev && now_unix_ms >= k->previous_expires_unix_ms;
        if (key_over || grace_over)
            late = true;
        else
            found = k;
    }
    OPENSSL_cleanse(digest, sizeof(digest));
    if (expired)
        *expired = found == NULL && late;
    return found;
}

const table_key_t *table_find_key(const table_t *t, const char *secret)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return table_match_key(t, secret, now, NULL);
}

const table_policy_t *table_org_policy(const table_t *t)
{
    return t->org_policy;
}

size_t table_n_policies(const table_t *t)
{
    return t->n_policies;
}

const table_policy_t *table_policy_at(const table_t *t, size_t i)
{
    return i < t->n_policies ? &t->policies[i] : NULL;
}

size_t table_n_teams(const table_t *t)
{
    return t->n_teams;
}

const table_team_t *table_team_at(const table_t *t, size_t i)
{
    return i < t->n_teams ? &t->teams[i] : NULL;
}

const table_team_t *table_find_team(const table_t *t, const char *name)
{
    if (name == NULL || t->n_teams == 0)
        return NULL;
    table_team_t key = {.name = name};
    return bsearch(&key, t->teams, t->n_teams, sizeof(*t->teams), team_cmp);
}

size_t table_n_budgets(const table_t *t)
{
    return t->n_budgets;
}

const table_budget_t *table_budget_at(const table_t *t, size_t i)
{
    return i < t->n_budgets ? &t->budgets[i] : NULL;
}

bool table_names_has(const table_names_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return true;
    return false;
}
