-- Core: API keys and idempotent command responses.
-- TimescaleDB is used where the server offers it (preloaded); elsewhere the
-- time-series store falls back to native partitions.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries', true) LIKE '%timescaledb%' THEN
        SET LOCAL client_min_messages = warning;
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END
$$;

CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    name        text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,
    scopes      text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'ingest', 'admin']::text[]),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE idempotency_keys (
    key          text NOT NULL,
    key_id       text NOT NULL,
    request_hash bytea NOT NULL,
    status_code  integer NOT NULL,
    headers      jsonb NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, key)
);
