-- 0004_provider_presets: a registry provider may name one of the data
-- plane's built-in presets (server/dataplane/providers.json) and state only
-- what differs. Empty base_url / auth_style / wire_format / api_version mean
-- "the preset's"; the control plane checks the preset name before writing
-- and the pushed table carries "preset" for the nodes to resolve, exactly
-- as a standalone table file does. 'custom' is "no preset": such a provider
-- states its base URL itself.
--
-- Before this migration the preset was only a label, never checked: a label
-- the data planes do not know would make them refuse every table, so
-- existing rows (which state all their settings) become 'custom'.

UPDATE providers SET preset = 'custom';

ALTER TABLE providers
    ADD COLUMN wire_format text NOT NULL DEFAULT ''
        CHECK (wire_format IN ('', 'openai', 'anthropic')),
    ADD COLUMN api_version text NOT NULL DEFAULT ''
        CHECK (api_version ~ '^[A-Za-z0-9._:-]{0,64}$'),
    ALTER COLUMN auth_style SET DEFAULT '',
    DROP CONSTRAINT providers_auth_style_check,
    ADD CONSTRAINT providers_auth_style_check
        CHECK (auth_style IN ('', 'bearer', 'x-api-key', 'api-key', 'none')),
    DROP CONSTRAINT providers_base_url_check,
    ADD CONSTRAINT providers_base_url_check
        CHECK (base_url = '' OR base_url ~* '^https?://[^[:space:]]+$'),
    ADD CONSTRAINT providers_preset_check
        CHECK (preset ~ '^[a-z0-9._-]{1,64}$'),
    ADD CONSTRAINT providers_custom_has_base_url
        CHECK (preset <> 'custom' OR base_url <> '');
