-- Personal data (crypto-shredding, docs/personal-data.md): each data subject's key, wrapped by a
-- key-encryption key (a key file, or KMS). Forgetting a subject deletes its row: what was sealed
-- with the key can no longer be read anywhere, and reads show it as erased.
CREATE TABLE subject_keys (
    subject_id   text PRIMARY KEY,
    key_id       uuid NOT NULL,             -- names the key inside each envelope it sealed
    wrapped_key  bytea NOT NULL,            -- the data key, encrypted by the key-encryption key
    wrapped_by   text NOT NULL,             -- file | kms:<key id>
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The registry read model shows a device's owner and address (functions/rm_table_ddl.sql makes
-- new generations with them); the generations that exist get the columns here, and the view is
-- re-pointed so it has them too.
DO $$
DECLARE
    v_table text;
BEGIN
    FOR v_table IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename ~ '^rm_devices_g[0-9]+$' LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS owner jsonb, ADD COLUMN IF NOT EXISTS address text', v_table);
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I ((owner->>''subject_id'')) WHERE owner IS NOT NULL',
                       v_table || '_subject', v_table);
    END LOOP;
END
$$;
SELECT rm_use_generation(name, live_generation) FROM projections WHERE name = 'registry';
