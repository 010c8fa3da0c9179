-- 0003_governance: teams, the API keys clients present to data planes,
-- spending budgets and request policies. Storage only (storage/teams.c,
-- api_keys.c, budgets.c, policies.c); the GovernanceService RPCs come later.
--
-- Conventions: names follow the registry's [A-Za-z0-9._-]{1,64}; a team that
-- still owns keys cannot be deleted (RESTRICT), while a budget or policy
-- whose target goes away goes with it (CASCADE) — it governs nothing any more.

CREATE TABLE teams (
    name         text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 256),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A key is stored only as the SHA-256 of its secret: the plaintext is shown
-- once, when minted, and a lost key is replaced, never recovered. A revoked
-- key keeps its row so the audit trail still resolves its name.
-- Rate limits of 0 mean unlimited.
CREATE TABLE api_keys (
    name              text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    team              text REFERENCES teams (name) ON DELETE RESTRICT,
    sha256            bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    scopes            text[] NOT NULL DEFAULT '{chat}'
                      CHECK (scopes <@ ARRAY['chat', 'models', 'ensembles', 'routing']::text[]),
    requests_per_min  integer NOT NULL DEFAULT 0 CHECK (requests_per_min >= 0),
    tokens_per_min    bigint NOT NULL DEFAULT 0 CHECK (tokens_per_min >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    revoked_at        timestamptz
);
CREATE INDEX api_keys_team ON api_keys (team) WHERE team IS NOT NULL;

-- Exactly the target column of the scope is set: none for 'org'.
CREATE TABLE budgets (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    scope       text NOT NULL CHECK (scope IN ('org', 'team', 'key', 'provider')),
    team        text REFERENCES teams (name) ON DELETE CASCADE,
    api_key     text REFERENCES api_keys (name) ON DELETE CASCADE,
    provider    text REFERENCES providers (name) ON DELETE CASCADE,
    period      text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly', 'total')),
    limit_usd   numeric(14, 4) NOT NULL CHECK (limit_usd > 0),
    enforcement text NOT NULL DEFAULT 'hard' CHECK (enforcement IN ('hard', 'soft')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budgets_target CHECK (
        (team IS NOT NULL)::int + (api_key IS NOT NULL)::int + (provider IS NOT NULL)::int =
            CASE WHEN scope = 'org' THEN 0 ELSE 1 END
        AND (scope <> 'team' OR team IS NOT NULL)
        AND (scope <> 'key' OR api_key IS NOT NULL)
        AND (scope <> 'provider' OR provider IS NOT NULL))
);
-- One budget per target and period.
CREATE UNIQUE INDEX budgets_target_period ON budgets
    (scope, coalesce(team, ''), coalesce(api_key, ''), coalesce(provider, ''), period);
CREATE INDEX budgets_team ON budgets (team) WHERE team IS NOT NULL;
CREATE INDEX budgets_api_key ON budgets (api_key) WHERE api_key IS NOT NULL;
CREATE INDEX budgets_provider ON budgets (provider) WHERE provider IS NOT NULL;

-- Empty lists mean "no restriction"; max_tokens 0 means no cap. Prompts and
-- responses are logged only where a policy says so.
CREATE TABLE policies (
    name               text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    scope              text NOT NULL CHECK (scope IN ('org', 'team', 'key')),
    team               text REFERENCES teams (name) ON DELETE CASCADE,
    api_key            text REFERENCES api_keys (name) ON DELETE CASCADE,
    allowed_models     text[] NOT NULL DEFAULT '{}',
    allowed_providers  text[] NOT NULL DEFAULT '{}',
    regions            text[] NOT NULL DEFAULT '{}',
    max_tokens         integer NOT NULL DEFAULT 0 CHECK (max_tokens BETWEEN 0 AND 10000000),
    pii_redaction      boolean NOT NULL DEFAULT false,
    log_prompts        boolean NOT NULL DEFAULT false,
    log_responses      boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policies_target CHECK (
        (scope = 'org' AND team IS NULL AND api_key IS NULL)
        OR (scope = 'team' AND team IS NOT NULL AND api_key IS NULL)
        OR (scope = 'key' AND api_key IS NOT NULL AND team IS NULL))
);
-- One policy per target.
CREATE UNIQUE INDEX policies_one_per_target ON policies (scope, coalesce(team, ''), coalesce(api_key, ''));
CREATE INDEX policies_team ON policies (team) WHERE team IS NOT NULL;
CREATE INDEX policies_api_key ON policies (api_key) WHERE api_key IS NOT NULL;
