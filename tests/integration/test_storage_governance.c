/* test_storage_governance: the governance aggregates (teams, api_keys,
 * budgets, policies) against a real, private PostgreSQL.
 *
 * The group setup starts a throwaway cluster with tests/support/pg_cluster.sh,
 * applies every migration with migrate_run and opens a pool; the teardown
 * stops the cluster and removes its directory. Every change runs through
 * store_run_transaction, as the control plane will run it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "api_keys.h"
#include "audit.h"
#include "budgets.h"
#include "migrate.h"
#include "pg_pool.h"
#include "policies.h"
#include "secret.h"
#include "store_tx.h"
#include "teams.h"

static const audit_actor_t actor_test = {"test", "admin", "ipv4:127.0.0.1:1"};
#define ACTOR (&actor_test)

static char g_dir[128];
static pg_pool_t *g_pool;

/* --- cluster ---------------------------------------------------------------- */

static int gov_setup(void **state)
{
    const char *src = getenv("LLMGW_SRC_DIR");
    char cmd[1024], url[512] = "", err[512];
    if (!src)
        src = ".";
    snprintf(g_dir, sizeof(g_dir), "/tmp/llmgw-gov.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    chmod(g_dir, 0755);
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"$0\"/tests/support/pg_cluster.sh && pg_cluster_start \"$1\"/pg"
             " >&2 && echo \"$PG_URL\"' '%s' '%s'",
             src, g_dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(url, sizeof(url), p))
        url[0] = '\0';
    if (pclose(p) != 0 || !url[0]) {
        fprintf(stderr, "cannot start PostgreSQL\n");
        return -1;
    }
    url[strcspn(url, "\n")] = '\0';
    char mig[600];
    snprintf(mig, sizeof(mig), "%s/migrations", src);
    int applied = 0;
    if (migrate_run(url, mig, &applied, err, sizeof(err)) < 0) {
        fprintf(stderr, "migrate: %s\n", err);
        return -1;
    }
    store_err_t e = {0};
    if (!(g_pool = pg_pool_new(url, 2, &e))) {
        fprintf(stderr, "pool: %s\n", e.msg);
        return -1;
    }
    (void)state;
    return 0;
}

static int gov_teardown(void **state)
{
    (void)state;
    if (g_pool)
        pg_pool_free(g_pool);
    const char *src = getenv("LLMGW_SRC_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"$0\"/tests/support/pg_cluster.sh && PG_DIR=\"$1\"/pg"
             " pg_cluster_stop; rm -rf \"$1\"' '%s' '%s'",
             src ? src : ".", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* --- running one storage call in a transaction -------------------------------- */

typedef struct {
    int (*fn)(PGconn *c, void *arg, store_err_t *e);
    void *arg;
} gov_call_t;

static int gov_tx(PGconn *c, void *ctx, store_err_t *e)
{
    gov_call_t *call = ctx;
    return call->fn(c, call->arg, e);
}

/* Runs fn(arg) in a transaction; returns the store code (STORE_OK on commit). */
static store_code_t gov_run(int (*fn)(PGconn *, void *, store_err_t *), void *arg, store_err_t *e)
{
    gov_call_t call = {fn, arg};
    memset(e, 0, sizeof(*e));
    if (store_run_transaction(g_pool, false, gov_tx, &call, e) == 0)
        return STORE_OK;
    return e->code;
}

/* One-value SQL query (test only: fixed text, one $1 parameter). */
static char *gov_query(const char *sql, const char *param)
{
    store_err_t e;
    PGconn *c = pg_pool_acquire(g_pool, 5000, &e);
    assert_non_null(c);
    const char *params[] = {param};
    PGresult *r = PQexecParams(c, sql, param ? 1 : 0, NULL, param ? params : NULL, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    pg_pool_release(g_pool, c);
    assert_non_null(v);
    return v;
}

static void gov_expect_query(const char *sql, const char *param, const char *want)
{
    char *v = gov_query(sql, param);
    assert_string_equal(v, want);
    free(v);
}

/* --- teams ------------------------------------------------------------------- */

static int team_insert(PGconn *c, void *a, store_err_t *e)
{
    return teams_insert(c, ACTOR, a, e);
}
static int team_update(PGconn *c, void *a, store_err_t *e)
{
    return teams_update(c, ACTOR, a, e);
}
static int team_delete(PGconn *c, void *a, store_err_t *e)
{
    return teams_delete(c, ACTOR, a, e);
}
static int team_get(PGconn *c, void *a, store_err_t *e)
{
    teams_team_t *t = a;
    char name[72];
    snprintf(name, sizeof(name), "%s", t->name);
    return teams_get(c, name, t, e);
}

typedef struct {
    teams_team_t *rows;
    size_t n;
} team_rows_t;

static int team_list(PGconn *c, void *a, store_err_t *e)
{
    team_rows_t *l = a;
    return teams_list(c, &l->rows, &l->n, e);
}

static void add_team(const char *name)
{
    teams_team_t t = {0};
    store_err_t e;
    snprintf(t.name, sizeof(t.name), "%s", name);
    assert_int_equal(gov_run(team_insert, &t, &e), STORE_OK);
}

static void test_teams_create_get_list_update_delete(void **state)
{
    (void)state;
    store_err_t e;
    teams_team_t t = {.name = "search", .description = "the search team"};
    assert_int_equal(gov_run(team_insert, &t, &e), STORE_OK);
    teams_team_t got = {.name = "search"};
    assert_int_equal(gov_run(team_get, &got, &e), STORE_OK);
    assert_string_equal(got.description, "the search team");
    assert_true(got.created_unix_ms > 0);

    snprintf(t.description, sizeof(t.description), "search and ranking");
    assert_int_equal(gov_run(team_update, &t, &e), STORE_OK);
    assert_int_equal(gov_run(team_get, &got, &e), STORE_OK);
    assert_string_equal(got.description, "search and ranking");

    add_team("ads");
    team_rows_t l = {0};
    assert_int_equal(gov_run(team_list, &l, &e), STORE_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.rows[0].name, "ads");
    assert_string_equal(l.rows[1].name, "search");
    free(l.rows);

    assert_int_equal(gov_run(team_delete, "ads", &e), STORE_OK);
    teams_team_t gone = {.name = "ads"};
    assert_int_equal(gov_run(team_get, &gone, &e), STORE_NOT_FOUND);
    assert_string_equal(e.msg, "team 'ads': not found");
    assert_int_equal(gov_run(team_delete, "ads", &e), STORE_NOT_FOUND);
    teams_team_t ghost = {.name = "ghost"};
    assert_int_equal(gov_run(team_update, &ghost, &e), STORE_NOT_FOUND);
    gov_expect_query("SELECT count(*) FROM audit_log WHERE object = 'team/ads'", NULL, "2");
}

static void test_teams_duplicate_and_bad_names_name_the_field(void **state)
{
    (void)state;
    store_err_t e;
    add_team("dup");
    teams_team_t t = {.name = "dup"};
    assert_int_equal(gov_run(team_insert, &t, &e), STORE_CONFLICT);
    assert_string_equal(e.msg, "team.name: 'dup' already exists");
    teams_team_t bad = {.name = "has space"};
    assert_int_equal(gov_run(team_insert, &bad, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "team.name: expected"));
    /* The refused insert wrote no audit row: it rolled back with the change. */
    gov_expect_query("SELECT count(*) FROM audit_log WHERE object = 'team/dup'", NULL, "1");
}

/* --- api keys ------------------------------------------------------------------ */

typedef struct {
    api_keys_key_t k;
    const char *secret;
} key_arg_t;

static int key_insert(PGconn *c, void *a, store_err_t *e)
{
    key_arg_t *ka = a;
    return api_keys_insert(c, ACTOR, &ka->k, ka->secret, e);
}
static int key_update(PGconn *c, void *a, store_err_t *e)
{
    return api_keys_update(c, ACTOR, &((key_arg_t *)a)->k, e);
}
static int key_revoke(PGconn *c, void *a, store_err_t *e)
{
    return api_keys_revoke(c, ACTOR, a, e);
}
static int key_delete(PGconn *c, void *a, store_err_t *e)
{
    return api_keys_delete(c, ACTOR, a, e);
}
static int key_get(PGconn *c, void *a, store_err_t *e)
{
    key_arg_t *ka = a;
    char name[72];
    snprintf(name, sizeof(name), "%s", ka->k.name);
    return api_keys_get(c, name, &ka->k, e);
}
static int key_lookup(PGconn *c, void *a, store_err_t *e)
{
    key_arg_t *ka = a;
    return api_keys_lookup(c, ka->secret, &ka->k, e);
}

typedef struct {
    const char *team;
    api_keys_key_t *rows;
    size_t n;
} key_rows_t;

static int key_list(PGconn *c, void *a, store_err_t *e)
{
    key_rows_t *l = a;
    return api_keys_list(c, l->team, &l->rows, &l->n, e);
}

static void add_key(const char *name, const char *team)
{
    store_err_t e;
    char secret[API_KEYS_MINT_LEN];
    assert_int_equal(api_keys_mint(secret, &e), 0);
    key_arg_t ka = {.k = {.scopes = API_KEYS_SCOPE_CHAT}, .secret = secret};
    snprintf(ka.k.name, sizeof(ka.k.name), "%s", name);
    snprintf(ka.k.team, sizeof(ka.k.team), "%s", team);
    assert_int_equal(gov_run(key_insert, &ka, &e), STORE_OK);
}

static void test_api_keys_plaintext_never_stored(void **state)
{
    (void)state;
    store_err_t e;
    char secret[API_KEYS_MINT_LEN], hex[65];
    assert_int_equal(api_keys_mint(secret, &e), 0);
    assert_int_equal(strlen(secret), API_KEYS_MINT_LEN - 1);
    assert_int_equal(strncmp(secret, "llmgw-", 6), 0);
    add_team("platform");
    key_arg_t ka = {.k = {.name = "ci",
                          .team = "platform",
                          .scopes = API_KEYS_SCOPE_CHAT | API_KEYS_SCOPE_MODELS,
                          .requests_per_min = 600,
                          .tokens_per_min = 100000},
                    .secret = secret};
    assert_int_equal(gov_run(key_insert, &ka, &e), STORE_OK);

    /* Neither the key row nor the audit log holds the plaintext. */
    gov_expect_query(
        "SELECT count(*) FROM api_keys WHERE strpos(row_to_json(api_keys)::text, $1) > 0", secret,
        "0");
    gov_expect_query(
        "SELECT count(*) FROM audit_log WHERE strpos(row_to_json(audit_log)::text, $1) > 0", secret,
        "0");
    secret_sha256_hex(secret, strlen(secret), hex);
    gov_expect_query("SELECT encode(sha256, 'hex') FROM api_keys WHERE name = 'ci'", NULL, hex);

    key_arg_t got = {.k = {.name = "ci"}};
    assert_int_equal(gov_run(key_get, &got, &e), STORE_OK);
    assert_string_equal(got.k.team, "platform");
    assert_int_equal(got.k.scopes, API_KEYS_SCOPE_CHAT | API_KEYS_SCOPE_MODELS);
    assert_int_equal(got.k.requests_per_min, 600);
    assert_int_equal(got.k.tokens_per_min, 100000);
    assert_int_equal(strncmp(got.k.sha256_prefix, hex, 8), 0);
    assert_int_equal(got.k.revoked_unix_ms, 0);

    key_arg_t found = {.secret = secret};
    assert_int_equal(gov_run(key_lookup, &found, &e), STORE_OK);
    assert_string_equal(found.k.name, "ci");
    key_arg_t wrong = {.secret = "llmgw-not-a-registered-secret"};
    assert_int_equal(gov_run(key_lookup, &wrong, &e), STORE_NOT_FOUND);

    /* Revoked: kept, listed, never matched again. */
    assert_int_equal(gov_run(key_revoke, "ci", &e), STORE_OK);
    assert_int_equal(gov_run(key_lookup, &found, &e), STORE_NOT_FOUND);
    assert_int_equal(gov_run(key_revoke, "ci", &e), STORE_IN_USE);
    assert_string_equal(e.msg, "api key 'ci': already revoked");
    assert_int_equal(gov_run(key_get, &got, &e), STORE_OK);
    assert_true(got.k.revoked_unix_ms > 0);
}

typedef struct {
    const char *name, *secret;
    int64_t grace_ms;
} rotate_arg_t;

static int key_rotate(PGconn *c, void *a, store_err_t *e)
{
    rotate_arg_t *ra = a;
    return api_keys_rotate(c, ACTOR, ra->name, ra->secret, ra->grace_ms, e);
}

static void test_api_keys_rotation_grace_and_expiry(void **state)
{
    (void)state;
    store_err_t e;
    char old[API_KEYS_MINT_LEN], fresh[API_KEYS_MINT_LEN], third[API_KEYS_MINT_LEN], hex[65];
    assert_int_equal(api_keys_mint(old, &e), 0);
    assert_int_equal(api_keys_mint(fresh, &e), 0);
    assert_int_equal(api_keys_mint(third, &e), 0);
    key_arg_t ka = {.k = {.name = "rot", .scopes = API_KEYS_SCOPE_CHAT}, .secret = old};
    assert_int_equal(gov_run(key_insert, &ka, &e), STORE_OK);

    /* Within the grace both secrets match; the row keeps the old hash. */
    rotate_arg_t ra = {"rot", fresh, 3600000};
    assert_int_equal(gov_run(key_rotate, &ra, &e), STORE_OK);
    secret_sha256_hex(old, strlen(old), hex);
    gov_expect_query("SELECT encode(previous_sha256, 'hex') FROM api_keys WHERE name = 'rot'", NULL,
                     hex);
    gov_expect_query("SELECT previous_expires_at > now() + interval '59 minutes' FROM api_keys"
                     " WHERE name = 'rot'",
                     NULL, "t");
    key_arg_t by_old = {.secret = old}, by_new = {.secret = fresh};
    assert_int_equal(gov_run(key_lookup, &by_old, &e), STORE_OK);
    assert_int_equal(gov_run(key_lookup, &by_new, &e), STORE_OK);
    assert_int_equal(strncmp(by_new.k.previous_sha256_prefix, hex, 8), 0);
    assert_true(by_new.k.previous_expires_unix_ms > 0);

    /* Grace 0: the old secret stops at once. */
    rotate_arg_t now = {"rot", third, 0};
    assert_int_equal(gov_run(key_rotate, &now, &e), STORE_OK);
    key_arg_t by_fresh = {.secret = fresh}, by_third = {.secret = third};
    assert_int_equal(gov_run(key_lookup, &by_fresh, &e), STORE_NOT_FOUND);
    assert_int_equal(gov_run(key_lookup, &by_third, &e), STORE_OK);
    assert_string_equal(by_third.k.previous_sha256_prefix, "");
    gov_expect_query("SELECT count(*) FROM audit_log WHERE action = 'api_key.rotate'"
                     " AND object = 'api_key/rot' AND strpos(detail, $1) = 0",
                     fresh, "2");

    rotate_arg_t bad = {"rot", old, -1};
    assert_int_equal(gov_run(key_rotate, &bad, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "grace_ms:"));
    rotate_arg_t ghost = {"ghost", old, 0};
    assert_int_equal(gov_run(key_rotate, &ghost, &e), STORE_NOT_FOUND);

    /* An expired key matches nothing; a revoked one cannot be rotated. */
    free(gov_query("UPDATE api_keys SET expires_at = now() - interval '1 second'"
                   " WHERE name = 'rot' RETURNING 1",
                   NULL));
    assert_int_equal(gov_run(key_lookup, &by_third, &e), STORE_NOT_FOUND);
    assert_int_equal(gov_run(key_revoke, "rot", &e), STORE_OK);
    assert_int_equal(gov_run(key_rotate, &ra, &e), STORE_IN_USE);
    assert_string_equal(e.msg, "api key 'rot': revoked");
}

static void test_api_keys_update_list_delete_and_bad_input(void **state)
{
    (void)state;
    store_err_t e;
    add_team("infra");
    add_key("deploy-bot", "infra");
    add_key("loose", "");

    key_arg_t ka = {.k = {.name = "deploy-bot",
                          .team = "infra",
                          .scopes = API_KEYS_SCOPE_ROUTING,
                          .requests_per_min = 5}};
    assert_int_equal(gov_run(key_update, &ka, &e), STORE_OK);
    key_arg_t got = {.k = {.name = "deploy-bot"}};
    assert_int_equal(gov_run(key_get, &got, &e), STORE_OK);
    assert_int_equal(got.k.scopes, API_KEYS_SCOPE_ROUTING);
    assert_int_equal(got.k.requests_per_min, 5);

    key_rows_t l = {.team = "infra"};
    assert_int_equal(gov_run(key_list, &l, &e), STORE_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.rows[0].name, "deploy-bot");
    free(l.rows);

    /* A team that owns keys is not deleted. */
    assert_int_equal(gov_run(team_delete, "infra", &e), STORE_IN_USE);
    assert_string_equal(e.msg, "team 'infra': still owns 1 API key (delete them or move them to "
                               "another team first)");

    char secret[API_KEYS_MINT_LEN];
    assert_int_equal(api_keys_mint(secret, &e), 0);
    key_arg_t dup = {.k = {.name = "loose", .scopes = API_KEYS_SCOPE_CHAT}, .secret = secret};
    assert_int_equal(gov_run(key_insert, &dup, &e), STORE_CONFLICT);
    assert_string_equal(e.msg, "key.name: 'loose' already exists");
    key_arg_t ghost = {.k = {.name = "g1", .team = "ghost", .scopes = API_KEYS_SCOPE_CHAT},
                       .secret = secret};
    assert_int_equal(gov_run(key_insert, &ghost, &e), STORE_INVALID);
    assert_string_equal(e.msg, "key.team: team 'ghost' does not exist");
    key_arg_t neg = {.k = {.name = "g2", .scopes = API_KEYS_SCOPE_CHAT, .requests_per_min = -1},
                     .secret = secret};
    assert_int_equal(gov_run(key_insert, &neg, &e), STORE_INVALID);
    assert_string_equal(e.msg, "key.requests_per_min: expected an integer >= 0");
    key_arg_t none = {.k = {.name = "g3"}, .secret = secret};
    assert_int_equal(gov_run(key_insert, &none, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "key.scopes:"));
    key_arg_t shortk = {.k = {.name = "g4", .scopes = API_KEYS_SCOPE_CHAT}, .secret = "short"};
    assert_int_equal(gov_run(key_insert, &shortk, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "key.secret:"));
    gov_expect_query("SELECT count(*) FROM api_keys WHERE name LIKE 'g_'", NULL, "0");

    assert_int_equal(gov_run(key_delete, "deploy-bot", &e), STORE_OK);
    assert_int_equal(gov_run(key_delete, "deploy-bot", &e), STORE_NOT_FOUND);
    assert_int_equal(gov_run(team_delete, "infra", &e), STORE_OK);
}

/* --- budgets ---------------------------------------------------------------------- */

static int budget_insert(PGconn *c, void *a, store_err_t *e)
{
    return budgets_insert(c, ACTOR, a, e);
}
static int budget_update(PGconn *c, void *a, store_err_t *e)
{
    return budgets_update(c, ACTOR, a, e);
}
static int budget_delete(PGconn *c, void *a, store_err_t *e)
{
    return budgets_delete(c, ACTOR, a, e);
}
static int budget_get(PGconn *c, void *a, store_err_t *e)
{
    budgets_budget_t *b = a;
    char name[72];
    snprintf(name, sizeof(name), "%s", b->name);
    return budgets_get(c, name, b, e);
}

typedef struct {
    budgets_budget_t *rows;
    size_t n;
} budget_rows_t;

static int budget_list(PGconn *c, void *a, store_err_t *e)
{
    budget_rows_t *l = a;
    return budgets_list(c, &l->rows, &l->n, e);
}

static void test_budgets_every_scope_and_bad_input(void **state)
{
    (void)state;
    store_err_t e;
    add_team("research");
    add_key("notebook", "research");
    char *ok = gov_query("INSERT INTO providers (name, base_url, auth_style, timeout_ms)"
                         " VALUES ('openai', 'https://api.openai.com/v1', 'bearer', 1000)"
                         " RETURNING name",
                         NULL);
    free(ok);

    budgets_budget_t bs[] = {
        {.name = "org-monthly",
         .scope = "org",
         .period = "monthly",
         .limit_usd = 5000,
         .hard = true},
        {.name = "research-daily",
         .scope = "team",
         .target = "research",
         .period = "daily",
         .limit_usd = 25.5},
        {.name = "notebook-total",
         .scope = "key",
         .target = "notebook",
         .period = "total",
         .limit_usd = 10,
         .hard = true},
        {.name = "openai-weekly",
         .scope = "provider",
         .target = "openai",
         .period = "weekly",
         .limit_usd = 700.1234},
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(gov_run(budget_insert, &bs[i], &e), STORE_OK);
    budgets_budget_t got = {.name = "openai-weekly"};
    assert_int_equal(gov_run(budget_get, &got, &e), STORE_OK);
    assert_string_equal(got.scope, "provider");
    assert_string_equal(got.target, "openai");
    assert_string_equal(got.period, "weekly");
    assert_true(got.limit_usd > 700.1233 && got.limit_usd < 700.1235);
    assert_false(got.hard);

    budget_rows_t l = {0};
    assert_int_equal(gov_run(budget_list, &l, &e), STORE_OK);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.rows[0].name, "notebook-total");
    free(l.rows);

    bs[1].limit_usd = 30;
    bs[1].hard = true;
    assert_int_equal(gov_run(budget_update, &bs[1], &e), STORE_OK);
    got = (budgets_budget_t){.name = "research-daily"};
    assert_int_equal(gov_run(budget_get, &got, &e), STORE_OK);
    assert_true(got.hard);
    assert_true(got.limit_usd == 30);

    budgets_budget_t neg = {.name = "neg", .scope = "org", .period = "daily", .limit_usd = -1};
    assert_int_equal(gov_run(budget_insert, &neg, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "budget.limit_usd: expected a number > 0"));
    budgets_budget_t ghost = {
        .name = "ghost", .scope = "team", .target = "ghost", .period = "daily", .limit_usd = 1};
    assert_int_equal(gov_run(budget_insert, &ghost, &e), STORE_INVALID);
    assert_string_equal(e.msg, "budget.target: team 'ghost' does not exist");
    budgets_budget_t noprov = {
        .name = "np", .scope = "provider", .target = "nope", .period = "daily", .limit_usd = 1};
    assert_int_equal(gov_run(budget_insert, &noprov, &e), STORE_INVALID);
    assert_string_equal(e.msg, "budget.target: provider 'nope' does not exist");
    budgets_budget_t twice = {
        .name = "again", .scope = "team", .target = "research", .period = "daily", .limit_usd = 1};
    assert_int_equal(gov_run(budget_insert, &twice, &e), STORE_CONFLICT);
    assert_string_equal(e.msg, "budget.target: 'research' already has a budget for this period");
    assert_int_equal(gov_run(budget_insert, &bs[0], &e), STORE_CONFLICT);
    assert_string_equal(e.msg, "budget.name: 'org-monthly' already exists");
    budgets_budget_t badp = {.name = "bp", .scope = "org", .period = "hourly", .limit_usd = 1};
    assert_int_equal(gov_run(budget_insert, &badp, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "budget.period:"));
    budgets_budget_t orgt = {
        .name = "ot", .scope = "org", .target = "research", .period = "daily", .limit_usd = 1};
    assert_int_equal(gov_run(budget_insert, &orgt, &e), STORE_INVALID);
    assert_string_equal(e.msg, "budget.target: must be empty for scope org");

    /* A budget goes with its target. */
    assert_int_equal(gov_run(key_delete, "notebook", &e), STORE_OK);
    got = (budgets_budget_t){.name = "notebook-total"};
    assert_int_equal(gov_run(budget_get, &got, &e), STORE_NOT_FOUND);
    assert_int_equal(gov_run(budget_delete, "org-monthly", &e), STORE_OK);
    assert_int_equal(gov_run(budget_delete, "org-monthly", &e), STORE_NOT_FOUND);
    assert_string_equal(e.msg, "budget 'org-monthly': not found");
    gov_expect_query("SELECT count(*) FROM audit_log WHERE object = 'budget/org-monthly'", NULL,
                     "2");
}

/* --- policies ---------------------------------------------------------------------- */

static int policy_insert(PGconn *c, void *a, store_err_t *e)
{
    return policies_insert(c, ACTOR, a, e);
}
static int policy_update(PGconn *c, void *a, store_err_t *e)
{
    return policies_update(c, ACTOR, a, e);
}
static int policy_delete(PGconn *c, void *a, store_err_t *e)
{
    return policies_delete(c, ACTOR, a, e);
}
static int policy_get(PGconn *c, void *a, store_err_t *e)
{
    policies_policy_t *p = a;
    char name[72];
    snprintf(name, sizeof(name), "%s", p->name);
    return policies_get(c, name, p, e);
}

typedef struct {
    policies_policy_t *rows;
    size_t n;
} policy_rows_t;

static int policy_list(PGconn *c, void *a, store_err_t *e)
{
    policy_rows_t *l = a;
    return policies_list(c, &l->rows, &l->n, e);
}

static void test_policies_create_get_list_update_delete(void **state)
{
    (void)state;
    store_err_t e;
    add_team("legal");
    free(gov_query("INSERT INTO providers (name, base_url, auth_style, timeout_ms, region) VALUES"
                   " ('openai', 'https://api.openai.com/v1', 'bearer', 1000, 'eu-west-1'),"
                   " ('oc', 'https://oc.example/v1', 'bearer', 1000, 'eu-central-1')"
                   " ON CONFLICT (name) DO UPDATE SET region = EXCLUDED.region RETURNING 1",
                   NULL));
    char *models[] = {"openai/gpt-4o-mini", "chat"};
    char *providers[] = {"openai"};
    char *regions[] = {"eu-west-1", "eu-central-1"};
    policies_policy_t p = {.name = "legal-eu",
                           .scope = "team",
                           .target = "legal",
                           .allowed_models = {models, 2},
                           .allowed_providers = {providers, 1},
                           .regions = {regions, 2},
                           .max_tokens = 4096,
                           .redact = POLICIES_REDACT_ALL};
    assert_int_equal(gov_run(policy_insert, &p, &e), STORE_OK);
    policies_policy_t got = {.name = "legal-eu"};
    assert_int_equal(gov_run(policy_get, &got, &e), STORE_OK);
    assert_string_equal(got.target, "legal");
    assert_int_equal(got.allowed_models.n, 2);
    assert_string_equal(got.allowed_models.items[0], "openai/gpt-4o-mini");
    assert_string_equal(got.allowed_models.items[1], "chat");
    assert_int_equal(got.regions.n, 2);
    assert_string_equal(got.regions.items[1], "eu-central-1");
    assert_int_equal(got.max_tokens, 4096);
    assert_int_equal(got.redact, POLICIES_REDACT_ALL);
    assert_false(got.log_prompts);
    policies_free(&got);

    policies_policy_t org = {.name = "org-default", .scope = "org", .log_prompts = true};
    assert_int_equal(gov_run(policy_insert, &org, &e), STORE_OK);
    policy_rows_t l = {0};
    assert_int_equal(gov_run(policy_list, &l, &e), STORE_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.rows[1].name, "org-default");
    assert_true(l.rows[1].log_prompts);
    assert_int_equal(l.rows[1].allowed_models.n, 0);
    policies_list_free(l.rows, l.n);

    p.regions.n = 0;
    p.log_responses = true;
    assert_int_equal(gov_run(policy_update, &p, &e), STORE_OK);
    got = (policies_policy_t){.name = "legal-eu"};
    assert_int_equal(gov_run(policy_get, &got, &e), STORE_OK);
    assert_int_equal(got.regions.n, 0);
    assert_true(got.log_responses);
    policies_free(&got);

    policies_policy_t second = {.name = "legal-2", .scope = "team", .target = "legal"};
    assert_int_equal(gov_run(policy_insert, &second, &e), STORE_CONFLICT);
    assert_string_equal(e.msg, "policy.target: 'legal' already has a policy");
    policies_policy_t ghost = {.name = "gk", .scope = "key", .target = "ghost-key"};
    assert_int_equal(gov_run(policy_insert, &ghost, &e), STORE_INVALID);
    assert_string_equal(e.msg, "policy.target: api key 'ghost-key' does not exist");
    policies_policy_t neg = {.name = "neg", .scope = "org", .max_tokens = -5};
    assert_int_equal(gov_run(policy_insert, &neg, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "policy.max_tokens:"));
    char *bad[] = {"ok", "no spaces"};
    policies_policy_t badl = {.name = "bl", .scope = "org", .regions = {bad, 2}};
    assert_int_equal(gov_run(policy_insert, &badl, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "policy.regions[1]:"));
    assert_int_equal(gov_run(policy_insert, &org, &e), STORE_CONFLICT);
    assert_string_equal(e.msg, "policy.name: 'org-default' already exists");

    /* Contradictions and references the registry does not have. */
    char *both[] = {"oc", "openai"};
    policies_policy_t contra = {.name = "c1",
                                .scope = "org",
                                .allowed_providers = {providers, 1},
                                .denied_providers = {both, 2}};
    assert_int_equal(gov_run(policy_insert, &contra, &e), STORE_INVALID);
    assert_string_equal(e.msg, "policy.denied_providers[1]: 'openai' is also in allowed_providers");
    char *mars[] = {"eu-west-1", "mars-1"};
    policies_policy_t far = {.name = "c2", .scope = "org", .regions = {mars, 2}};
    assert_int_equal(gov_run(policy_insert, &far, &e), STORE_INVALID);
    assert_string_equal(e.msg, "policy.regions[1]: no provider is in region 'mars-1'");
    char *ghostp[] = {"nope"};
    policies_policy_t unk = {.name = "c3", .scope = "org", .denied_providers = {ghostp, 1}};
    assert_int_equal(gov_run(policy_insert, &unk, &e), STORE_INVALID);
    assert_string_equal(e.msg, "policy.denied_providers[0]: provider 'nope' is not registered");
    policies_policy_t huge = {.name = "c4", .scope = "org", .max_prompt_bytes = 1LL << 40};
    assert_int_equal(gov_run(policy_insert, &huge, &e), STORE_INVALID);
    assert_non_null(strstr(e.msg, "policy.max_prompt_bytes:"));
    gov_expect_query("SELECT count(*) FROM policies WHERE name LIKE 'c_'", NULL, "0");

    /* A policy goes with its team. */
    assert_int_equal(gov_run(team_delete, "legal", &e), STORE_OK);
    got = (policies_policy_t){.name = "legal-eu"};
    assert_int_equal(gov_run(policy_get, &got, &e), STORE_NOT_FOUND);
    assert_int_equal(gov_run(policy_delete, "org-default", &e), STORE_OK);
    assert_int_equal(gov_run(policy_delete, "org-default", &e), STORE_NOT_FOUND);
}

static int verify_audit(PGconn *c, void *a, store_err_t *e)
{
    (void)a;
    return audit_verify(c, e);
}

static void test_governance_changes_keep_the_audit_chain_intact(void **state)
{
    (void)state;
    store_err_t e;
    assert_int_equal(gov_run(verify_audit, NULL, &e), STORE_OK);
    char *n = gov_query("SELECT count(*) FROM audit_log WHERE actor = 'test'", NULL);
    assert_true(atoi(n) > 10);
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teams_create_get_list_update_delete),
        cmocka_unit_test(test_teams_duplicate_and_bad_names_name_the_field),
        cmocka_unit_test(test_api_keys_plaintext_never_stored),
        cmocka_unit_test(test_api_keys_rotation_grace_and_expiry),
        cmocka_unit_test(test_api_keys_update_list_delete_and_bad_input),
        cmocka_unit_test(test_budgets_every_scope_and_bad_input),
        cmocka_unit_test(test_policies_create_get_list_update_delete),
        cmocka_unit_test(test_governance_changes_keep_the_audit_chain_intact),
    };
    return cmocka_run_group_tests(tests, gov_setup, gov_teardown);
}
