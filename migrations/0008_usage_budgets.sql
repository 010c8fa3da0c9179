-- 0008_usage_budgets: usage accounting that loses nothing and budgets with
-- leases (docs/usage.md).
--
-- usage_events: one row per finished data-plane request, partitioned by the
-- month of the request (ts). Partitions are made by usage_ensure_partition,
-- which the control plane calls before it ingests a batch touching a month it
-- has not seen (and this migration calls for the months around now). There is
-- no default partition, so a new month's partition can always be attached.
--
-- node_usage_seq: exactly-once ingestion. A node numbers its batches
-- 1, 2, 3, ... within a stream (epoch: a number it picks at each start); the
-- row holds the last stored seq, updated in the transaction that inserts the
-- batch, so a re-sent batch (seq <= last_seq) is acknowledged and not stored
-- again, and a gap (seq > last_seq + 1) is refused.
--
-- budget_leases: the slices of a budget granted to nodes. A lease is open
-- until returned (spent_usd reported) or expired (then counted as fully
-- spent). Grants never exceed what is left of the limit, so the spend of N
-- nodes stays within limit + N x (what one request may overshoot a lease).
--
-- budget_alerts: one row per soft budget and period once its spend crossed
-- the limit, so the crossing is logged and audited once.

CREATE TABLE usage_events (
    ts                 timestamptz NOT NULL,
    node_id            text NOT NULL,
    request_id         text NOT NULL,
    api_key            text NOT NULL DEFAULT '',
    team               text NOT NULL DEFAULT '',
    route              text NOT NULL DEFAULT '',
    provider           text NOT NULL DEFAULT '',
    model              text NOT NULL DEFAULT '',
    prompt_tokens      bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    cost_usd           double precision NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    latency_ms         bigint NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    status             integer NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 16),
    redacted_emails    integer NOT NULL DEFAULT 0 CHECK (redacted_emails >= 0),
    redacted_phones    integer NOT NULL DEFAULT 0 CHECK (redacted_phones >= 0),
    redacted_cards     integer NOT NULL DEFAULT 0 CHECK (redacted_cards >= 0),
    redacted_ibans     integer NOT NULL DEFAULT 0 CHECK (redacted_ibans >= 0)
) PARTITION BY RANGE (ts);
CREATE INDEX usage_events_team_ts ON usage_events (team, ts);
CREATE INDEX usage_events_key_ts ON usage_events (api_key, ts);
CREATE INDEX usage_events_provider_ts ON usage_events (provider, ts);

-- The partition for the month holding `month` (any instant in it), created
-- when missing. Serialized by an advisory lock so two replicas racing on a
-- new month do not collide on the catalog.
CREATE FUNCTION usage_ensure_partition(month timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi timestamptz := lo + interval '1 month';
    part text := 'usage_events_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(1970300416);
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
    END IF;
    RETURN part;
END $$;

SELECT usage_ensure_partition(now() + make_interval(months => i)) FROM generate_series(-1, 2) AS i;

CREATE TABLE node_usage_seq (
    node_id     text NOT NULL,
    epoch       bigint NOT NULL CHECK (epoch > 0),
    last_seq    bigint NOT NULL CHECK (last_seq >= 0),
    events      bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, epoch)
);

CREATE TABLE budget_leases (
    id            bigserial PRIMARY KEY,
    budget        text NOT NULL REFERENCES budgets (name) ON DELETE CASCADE,
    node_id       text NOT NULL,
    period_start  timestamptz NOT NULL,
    granted_usd   numeric(18, 8) NOT NULL CHECK (granted_usd > 0),
    spent_usd     numeric(18, 8) CHECK (spent_usd >= 0),
    granted_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    closed_at     timestamptz
);
CREATE INDEX budget_leases_open ON budget_leases (budget, period_start) WHERE closed_at IS NULL;
CREATE INDEX budget_leases_budget_period ON budget_leases (budget, period_start);

CREATE TABLE budget_alerts (
    budget        text NOT NULL REFERENCES budgets (name) ON DELETE CASCADE,
    period_start  timestamptz NOT NULL,
    spent_usd     double precision NOT NULL,
    crossed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (budget, period_start)
);

-- For compliance and finance: spend per team and calendar month (UTC).
-- Requests without a team are listed under team ''.
CREATE VIEW spend_by_team_month AS
SELECT team,
       date_trunc('month', ts AT TIME ZONE 'UTC')::date AS month,
       count(*) AS requests,
       sum(prompt_tokens) AS prompt_tokens,
       sum(completion_tokens) AS completion_tokens,
       round(sum(cost_usd)::numeric, 6) AS cost_usd
FROM usage_events
GROUP BY team, date_trunc('month', ts AT TIME ZONE 'UTC');
