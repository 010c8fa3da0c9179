-- 0009_analytics: the fleet's metrics, merged per minute (docs/analytics.md).
--
-- Data planes send metric snapshots with their usage batches (per UTC
-- minute and deployment: attempts by result class, latency and
-- time-to-first-token histograms, tokens, cost, breaker openings, ensemble
-- consistency, routing decisions). The control plane merges a batch's
-- snapshots in the transaction that stores its usage records, so a batch is
-- merged exactly once (node_usage_seq).
--
-- metrics_minute: one row per (minute, provider, model, route), every
-- counter the sum over nodes and batches. latency / ttft are histograms as
-- jsonb objects {"bucket index": count} (server/common/lathist.h: 0..63 µs
-- exact, then 32 buckets per doubling; a percentile read from a merged
-- histogram is within 1/64 of the true value). They merge by adding counts
-- (lathist_merge, the aggregate lathist_sum), never by averaging percentiles.
--
-- metrics_hour: the same columns; the control plane moves minutes older than
-- --metrics-rollup-hours here (one row per hour) and deletes both tables'
-- rows older than --metrics-retention-days.
--
-- routing_decisions_minute / _hour: how often a strategy ended on a
-- deployment, by reason ("first_choice", "fallback", "excluded", "failed").
--
-- ts is the row's minute (or hour) start, UTC.

CREATE FUNCTION lathist_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
    FROM (SELECT k, sum(v)::bigint AS n
          FROM (SELECT key AS k, value::bigint AS v FROM jsonb_each_text(coalesce(a, '{}'::jsonb))
                UNION ALL
                SELECT key, value::bigint FROM jsonb_each_text(coalesce(b, '{}'::jsonb))) u
          GROUP BY k) t
$$;

CREATE AGGREGATE lathist_sum(jsonb) (
    SFUNC = lathist_merge,
    STYPE = jsonb,
    INITCOND = '{}'
);

CREATE TABLE metrics_minute (
    ts                   timestamptz NOT NULL,
    provider             text NOT NULL,
    model                text NOT NULL,
    route                text NOT NULL,
    attempts             bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    successes            bigint NOT NULL DEFAULT 0 CHECK (successes >= 0),
    errors_connect       bigint NOT NULL DEFAULT 0 CHECK (errors_connect >= 0),
    errors_timeout       bigint NOT NULL DEFAULT 0 CHECK (errors_timeout >= 0),
    errors_rate_limit    bigint NOT NULL DEFAULT 0 CHECK (errors_rate_limit >= 0),
    errors_server        bigint NOT NULL DEFAULT 0 CHECK (errors_server >= 0),
    errors_bad_response  bigint NOT NULL DEFAULT 0 CHECK (errors_bad_response >= 0),
    errors_other         bigint NOT NULL DEFAULT 0 CHECK (errors_other >= 0),
    latency              jsonb NOT NULL DEFAULT '{}',
    ttft                 jsonb NOT NULL DEFAULT '{}',
    output_tokens        bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    generation_us        bigint NOT NULL DEFAULT 0 CHECK (generation_us >= 0),
    requests             bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
    requests_ok          bigint NOT NULL DEFAULT 0 CHECK (requests_ok >= 0),
    fallbacks            bigint NOT NULL DEFAULT 0 CHECK (fallbacks >= 0),
    prompt_tokens        bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens    bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    cost_usd             double precision NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    breaker_opened       bigint NOT NULL DEFAULT 0 CHECK (breaker_opened >= 0),
    consistency_samples  bigint NOT NULL DEFAULT 0 CHECK (consistency_samples >= 0),
    consistency_agreed   bigint NOT NULL DEFAULT 0 CHECK (consistency_agreed >= 0),
    PRIMARY KEY (ts, provider, model, route)
);

CREATE TABLE metrics_hour (LIKE metrics_minute INCLUDING ALL);

CREATE TABLE routing_decisions_minute (
    ts        timestamptz NOT NULL,
    route     text NOT NULL,
    strategy  text NOT NULL,
    provider  text NOT NULL,
    model     text NOT NULL,
    reason    text NOT NULL,
    count     bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (ts, route, strategy, provider, model, reason)
);

CREATE TABLE routing_decisions_hour (LIKE routing_decisions_minute INCLUDING ALL);

-- Both grains, for windows reaching past the rollup: an hour row counts in a
-- window when its hour starts inside it.
CREATE VIEW metrics_all AS
    SELECT 'minute'::text AS grain, * FROM metrics_minute
    UNION ALL
    SELECT 'hour'::text, * FROM metrics_hour;

CREATE VIEW routing_decisions_all AS
    SELECT * FROM routing_decisions_minute
    UNION ALL
    SELECT * FROM routing_decisions_hour;
