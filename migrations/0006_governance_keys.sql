-- 0006_governance_keys: what GovernanceService manages beyond 0003 — key
-- expiry and rotation, team-wide rate limits, and the full policy settings
-- (denied lists, a prompt-size cap, PII redaction by kind).
--
-- Rotation keeps the previous secret's hash with the instant its grace ends:
-- both columns are set or neither. pii_redaction (one switch) becomes
-- `redact`, the kinds to redact; a policy that redacted keeps redacting all
-- of them.

ALTER TABLE teams
    ADD COLUMN requests_per_min integer NOT NULL DEFAULT 0
        CHECK (requests_per_min BETWEEN 0 AND 10000000),
    ADD COLUMN tokens_per_min bigint NOT NULL DEFAULT 0
        CHECK (tokens_per_min BETWEEN 0 AND 10000000000);

ALTER TABLE api_keys
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN previous_sha256 bytea CHECK (length(previous_sha256) = 32),
    ADD COLUMN previous_expires_at timestamptz,
    ADD CONSTRAINT api_keys_previous_pair
        CHECK ((previous_sha256 IS NULL) = (previous_expires_at IS NULL)),
    ADD CONSTRAINT api_keys_limits_range
        CHECK (requests_per_min <= 10000000 AND tokens_per_min <= 10000000000);

ALTER TABLE policies
    ADD COLUMN denied_models text[] NOT NULL DEFAULT '{}',
    ADD COLUMN denied_providers text[] NOT NULL DEFAULT '{}',
    ADD COLUMN max_prompt_bytes bigint NOT NULL DEFAULT 0
        CHECK (max_prompt_bytes BETWEEN 0 AND 67108864),
    ADD COLUMN redact text[] NOT NULL DEFAULT '{}'
        CHECK (redact <@ ARRAY['email', 'phone', 'card', 'iban']::text[]);

UPDATE policies SET redact = ARRAY['email', 'phone', 'card', 'iban'] WHERE pii_redaction;
ALTER TABLE policies DROP COLUMN pii_redaction;
