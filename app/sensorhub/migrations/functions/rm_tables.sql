-- The read-model tables (and views) a projection owns.
CREATE OR REPLACE FUNCTION rm_tables(p_projection text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE p_projection
    WHEN 'registry' THEN ARRAY['rm_devices', 'rm_alerts']
    WHEN 'alert_history' THEN ARRAY['rm_alert_history', 'rm_alert_subjects']
END
$$;
