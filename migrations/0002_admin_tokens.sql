-- 0002_admin_tokens: the bearer tokens that authorize control-plane RPCs,
-- stored only as their SHA-256 (the plaintext is shown once, when minted).
-- A revoked token keeps its row (and its name) so the audit trail and
-- `llmgw token list` still show it. `role` is the seam for finer roles: only
-- 'admin' exists so far, and a later migration widens the check.

CREATE TABLE admin_tokens (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    sha256        bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    role          text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
