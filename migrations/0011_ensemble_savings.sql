-- 0011_ensemble_savings: ensemble calls, their cost and their estimated
-- savings in the fleet's metrics (docs/analytics.md, docs/ensembles.md).
--
-- A data plane records each finished ensemble call under the deployment that
-- served its chosen answer (route ''): ensemble_calls, ensemble_cost_usd
-- (what the call paid: its members' and its judge's costs) and
-- ensemble_savings_usd — the estimated cost of the members it did not run to
-- completion (cascade stages never reached, members a decided vote stopped),
-- each priced at its per-token prices for the chosen answer's prompt and
-- completion tokens. It is an estimate: an uncalled member's own token
-- counts are unknown.
--
-- Both grains get the columns (metrics_hour was created LIKE metrics_minute;
-- the rollup sums them like every counter). metrics_all was created with
-- SELECT *, which PostgreSQL expands when the view is made: it is replaced
-- so the new columns appear at its end.

ALTER TABLE metrics_minute
    ADD COLUMN ensemble_calls       bigint NOT NULL DEFAULT 0 CHECK (ensemble_calls >= 0),
    ADD COLUMN ensemble_cost_usd    double precision NOT NULL DEFAULT 0
        CHECK (ensemble_cost_usd >= 0),
    ADD COLUMN ensemble_savings_usd double precision NOT NULL DEFAULT 0
        CHECK (ensemble_savings_usd >= 0);

ALTER TABLE metrics_hour
    ADD COLUMN ensemble_calls       bigint NOT NULL DEFAULT 0 CHECK (ensemble_calls >= 0),
    ADD COLUMN ensemble_cost_usd    double precision NOT NULL DEFAULT 0
        CHECK (ensemble_cost_usd >= 0),
    ADD COLUMN ensemble_savings_usd double precision NOT NULL DEFAULT 0
        CHECK (ensemble_savings_usd >= 0);

CREATE OR REPLACE VIEW metrics_all AS
    SELECT 'minute'::text AS grain, * FROM metrics_minute
    UNION ALL
    SELECT 'hour'::text, * FROM metrics_hour;
