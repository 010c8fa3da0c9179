-- 0007_audit_compliance: audit_log append-only in the database itself, an
-- application role that cannot rewrite it, and the views compliance teams
-- query (docs/compliance.md).
--
-- Two independent locks on the log:
--   * triggers: UPDATE and DELETE (0001, per row) and TRUNCATE (here, per
--     statement) raise 'audit_log is append-only' — for everyone, the table's
--     owner and superusers included, unless a superuser disables them (which
--     `llmgw audit verify` then catches through the hash chain);
--   * grants: nobody but the owner holds UPDATE, DELETE or TRUNCATE on
--     audit_log. The control plane is meant to connect as a login role that
--     is a member of llmgw_app, which may read and write every table but only
--     SELECT and INSERT on audit_log, so even a disabled trigger would not let
--     it rewrite history ("permission denied for table audit_log").
--
-- Roles are cluster-wide: llmgw_app is created once per cluster (several
-- databases share it) and only when the migrating role may create roles; a
-- migration run without CREATEROLE leaves the role to the DBA (see
-- docs/compliance.md) and still installs the triggers and views.

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- Changes to spending budgets and request policies: who changed which one,
-- how, when and from where. kind is 'policy' or 'budget', operation the verb
-- (create, update, delete, ...), name the policy's or budget's name.
CREATE VIEW audit_policy_budget_changes AS
SELECT id,
       at,
       split_part(action, '.', 1) AS kind,
       substr(action, length(split_part(action, '.', 1)) + 2) AS operation,
       CASE WHEN position('/' IN object) > 0 THEN substr(object, position('/' IN object) + 1)
            ELSE object END AS name,
       actor,
       actor_role,
       peer,
       detail
  FROM audit_log
 WHERE action LIKE 'policy.%' OR action LIKE 'budget.%';

-- Lifecycle of API keys and teams: created, updated, rotated, revoked,
-- deleted. kind is 'api_key' or 'team'.
CREATE VIEW audit_key_activity AS
SELECT id,
       at,
       split_part(action, '.', 1) AS kind,
       substr(action, length(split_part(action, '.', 1)) + 2) AS operation,
       CASE WHEN position('/' IN object) > 0 THEN substr(object, position('/' IN object) + 1)
            ELSE object END AS name,
       actor,
       actor_role,
       peer,
       detail
  FROM audit_log
 WHERE action LIKE 'api\_key.%' OR action LIKE 'team.%';

-- Control-plane calls refused by role (PERMISSION_DENIED): the admin token's
-- name and role, the client address, the RPC and the access class it needed.
CREATE VIEW audit_denied_calls AS
SELECT id,
       at,
       actor AS token,
       actor_role AS role,
       peer,
       ltrim(object, '/') AS method,
       coalesce(substring(detail FROM 'class=([^ ]+)'), '') AS access_class
  FROM audit_log
 WHERE action = 'access.denied';

-- The application role (see the header).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llmgw_app') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
                       AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'llmgw_app: not created (the migrating role lacks CREATEROLE)';
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE llmgw_app NOLOGIN;
        EXCEPTION WHEN duplicate_object THEN
            NULL; -- another database of this cluster migrated at the same moment
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO llmgw_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO llmgw_app',
                   current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO llmgw_app',
                   current_schema());
    -- Tables and sequences later migrations create (as this same owner).
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I'
                   ' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO llmgw_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I'
                   ' GRANT USAGE, SELECT ON SEQUENCES TO llmgw_app', current_schema());
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM llmgw_app;
    -- The views are read-only for it too (simple views are updatable).
    REVOKE INSERT, UPDATE, DELETE ON audit_policy_budget_changes, audit_key_activity,
        audit_denied_calls FROM llmgw_app;
    -- Migration history is the owner's to write (llmgw migrate).
    REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM llmgw_app;
END
$$;
