-- 0001_registry: the provider registry, routing-table versions, data-plane
-- nodes and the audit log. Applied by migrate.c in one transaction, which also
-- records this file in schema_migrations.

CREATE TABLE providers (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    preset        text NOT NULL DEFAULT 'custom',
    base_url      text NOT NULL CHECK (base_url ~* '^https?://[^[:space:]]+$'),
    auth_style    text NOT NULL CHECK (auth_style IN ('bearer', 'x-api-key', 'api-key', 'none')),
    -- "v1:" || base64(nonce || AES-256-GCM ciphertext || tag); NULL when none.
    api_key_sealed text,
    headers       jsonb NOT NULL DEFAULT '[]',
    timeout_ms    integer NOT NULL CHECK (timeout_ms BETWEEN 1 AND 600000),
    region        text NOT NULL DEFAULT '',
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
    provider              text NOT NULL REFERENCES providers (name) ON DELETE CASCADE,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    input_cost_per_mtok   double precision NOT NULL CHECK (input_cost_per_mtok >= 0),
    output_cost_per_mtok  double precision NOT NULL CHECK (output_cost_per_mtok >= 0),
    context_window        integer NOT NULL DEFAULT 0 CHECK (context_window >= 0),
    capabilities          text[] NOT NULL DEFAULT '{}',
    quality               double precision NOT NULL DEFAULT 0.5 CHECK (quality BETWEEN 0 AND 1),
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, name)
);

CREATE TABLE routes (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    strategy    text NOT NULL CHECK (strategy IN ('priority', 'weighted')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A model named by a route cannot be deleted (RESTRICT) until the route is.
CREATE TABLE route_deployments (
    route     text NOT NULL REFERENCES routes (name) ON DELETE CASCADE,
    position  integer NOT NULL,
    provider  text NOT NULL,
    model     text NOT NULL,
    weight    double precision NOT NULL CHECK (weight > 0 AND weight <= 1000000),
    priority  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (route, position),
    FOREIGN KEY (provider, model) REFERENCES models (provider, name) ON DELETE RESTRICT
);

-- Every published table. `document` holds API keys sealed, never plaintext;
-- `checksum` is the hex SHA-256 of `document`.
CREATE TABLE routing_table_versions (
    version     bigint PRIMARY KEY CHECK (version > 0),
    checksum    text NOT NULL,
    document    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dataplane_nodes (
    node_id          text PRIMARY KEY,
    node_group       text NOT NULL DEFAULT '',
    last_seen        timestamptz NOT NULL DEFAULT now(),
    acked_version    bigint NOT NULL DEFAULT 0,
    nacked_version   bigint NOT NULL DEFAULT 0,
    last_nack_error  text NOT NULL DEFAULT ''
);

-- Append-only: row_hash = sha256(prev_hash | actor | action | object | detail),
-- hex; the first row's prev_hash is 64 zeros. Rewriting any row breaks the chain.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    object     text NOT NULL,
    detail     text NOT NULL,
    prev_hash  text NOT NULL,
    row_hash   text NOT NULL UNIQUE
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
