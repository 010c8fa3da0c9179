/* suggest: the one-line optimization suggestions of the web console and of
 * `llmgw top`, computed from this month's usage, the registry's prices and
 * the budgets (the rule list is docs/analytics.md, "Suggestions"; the
 * console's suggestions() in server/controlplane/console/console.js follows
 * the same rules and wording, so both show the same lines).
 *
 * Pure computation over plain structs: no I/O, no protobuf, so the rules are
 * unit-tested with known inputs (tests/unit/test_suggest.c). Strings in the
 * input are borrowed for the call; the lines handed to emit are valid only
 * during the callback.
 */
#ifndef LLMGW_SUGGEST_H
#define LLMGW_SUGGEST_H

#include <stddef.h>
#include <stdint.h>

#define SUGGEST_LINE_MAX 512
/* What the console shows when no rule fires. */
#define SUGGEST_NONE "none: nothing in this month's usage points at a cheaper equal choice"

typedef struct {
    const char *provider;
    const char *model;
} suggest_deployment_t;

typedef struct {
    const char *name;
    const suggest_deployment_t *deployments; /* in the route's configured order */
    size_t n_deployments;
} suggest_route_t;

/* A registry model's prices (USD per million tokens). */
typedef struct {
    const char *provider;
    const char *name;
    double input_cost_per_mtok;
    double output_cost_per_mtok;
} suggest_price_t;

/* One group of this month's usage (by model name or by provider name). */
typedef struct {
    const char *group;
    int64_t requests;
    int64_t errors; /* requests whose status was not OK */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    double cost_usd;
} suggest_usage_t;

typedef struct {
    const char *name;
    double limit_usd;
    double spent_usd;             /* in the current period */
    int64_t period_start_unix_ms; /* 0 with end 0: period "total" */
    int64_t period_end_unix_ms;
} suggest_budget_t;

typedef struct {
    const suggest_route_t *routes;
    size_t n_routes;
    const suggest_price_t *prices;
    size_t n_prices;
    const suggest_usage_t *by_model; /* month to date, one row per model name */
    size_t n_by_model;
    const suggest_usage_t *by_provider; /* month to date, in the report's order */
    size_t n_by_provider;
    const suggest_budget_t *budgets;
    size_t n_budgets;
    int64_t now_unix_ms;
} suggest_input_t;

/* Called once per suggestion, in the rules' order (routes, then budgets, then
 * providers). */
typedef void (*suggest_emit_fn)(const char *line, void *ctx);

/* Runs every rule over in; returns how many lines were emitted. */
size_t suggest_compute(const suggest_input_t *in, suggest_emit_fn emit, void *ctx);

/* The console's money and percent formats (console.js usd() and pct()),
 * digit for digit, JavaScript's rounding included:
 *   usd: "$" + 2 significant digits below one cent ("$0.0012"), whole
 *        dollars from $100 ("$337"), else cents ("$28.05");
 *   pct: x × 100 with no decimal at 0 and from 99.5 %, else one ("2.8%").
 * out gets at most outlen - 1 characters. */
void suggest_usd(double x, char *out, size_t outlen);
void suggest_pct(double x, char *out, size_t outlen);
/* JavaScript's Number.prototype.toFixed(digits) for |x| < 1e21. */
void suggest_fixed(double x, int digits, char *out, size_t outlen);

#endif
