-- 0005_audit_actor: who made each change — the admin token's name (actor),
-- its role and the client's address — and the roles an admin token may have.
--
-- Rows written before this migration keep actor_role = '' and peer = '' and
-- their five-field hash; a row with either set chains over all seven fields
-- (storage/audit.c), so the whole log still verifies.

ALTER TABLE audit_log
    ADD COLUMN actor_role text NOT NULL DEFAULT '',
    ADD COLUMN peer text NOT NULL DEFAULT '';

ALTER TABLE admin_tokens DROP CONSTRAINT admin_tokens_role_check;
ALTER TABLE admin_tokens ADD CONSTRAINT admin_tokens_role_check
    CHECK (role IN ('admin', 'operator', 'auditor'));
