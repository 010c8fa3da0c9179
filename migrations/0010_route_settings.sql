-- 0010_route_settings: a route managed by the control plane can say all that
-- a standalone routing table's route can (docs/routing-table.md, routes[]):
-- every strategy the data plane implements, the scoring weights of balanced
-- and custom, the tolerance of the scoring strategies, a retry budget and the
-- response cache. Columns left NULL mean "the data plane's default" and are
-- not written into the published table.
--
-- The weights are four columns set together or not at all (a custom route
-- needs them; docs/routing-table.md: given weights replace the defaults as a
-- whole).

ALTER TABLE routes DROP CONSTRAINT routes_strategy_check;
ALTER TABLE routes ADD CONSTRAINT routes_strategy_check
    CHECK (strategy IN ('priority', 'weighted', 'cost', 'latency', 'quality', 'balanced', 'custom'));

ALTER TABLE routes
    ADD COLUMN weight_cost    double precision CHECK (weight_cost BETWEEN 0 AND 1000000),
    ADD COLUMN weight_latency double precision CHECK (weight_latency BETWEEN 0 AND 1000000),
    ADD COLUMN weight_quality double precision CHECK (weight_quality BETWEEN 0 AND 1000000),
    ADD COLUMN weight_success double precision CHECK (weight_success BETWEEN 0 AND 1000000),
    ADD COLUMN tolerance      double precision CHECK (tolerance BETWEEN 0 AND 1),
    ADD COLUMN max_attempts   integer NOT NULL DEFAULT 0 CHECK (max_attempts BETWEEN 0 AND 128),
    ADD COLUMN cache_ttl_ms   bigint CHECK (cache_ttl_ms BETWEEN 1 AND 86400000),
    ADD COLUMN cache_max_temperature double precision NOT NULL DEFAULT 0
        CHECK (cache_max_temperature BETWEEN 0 AND 2);

ALTER TABLE routes ADD CONSTRAINT routes_weights_together CHECK (
    (weight_cost IS NULL) = (weight_latency IS NULL) AND
    (weight_cost IS NULL) = (weight_quality IS NULL) AND
    (weight_cost IS NULL) = (weight_success IS NULL));
ALTER TABLE routes ADD CONSTRAINT routes_weights_nonzero CHECK (
    weight_cost IS NULL OR weight_cost + weight_latency + weight_quality + weight_success > 0);
ALTER TABLE routes ADD CONSTRAINT routes_custom_has_weights CHECK (
    strategy <> 'custom' OR weight_cost IS NOT NULL);
