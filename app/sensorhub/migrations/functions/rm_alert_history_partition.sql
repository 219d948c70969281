-- Plain PostgreSQL: the month partition holding p_time (a no-op on a hypertable).
CREATE OR REPLACE FUNCTION rm_alert_history_partition(p_generation integer, p_time timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_parent text := 'rm_alert_history_g' || p_generation;
    v_from timestamptz := date_trunc('month', p_time, 'UTC');
    v_name text := v_parent || '_p' || to_char(v_from AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = v_parent::regclass) <> 'p' THEN
        RETURN;
    END IF;
    IF to_regclass(v_name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       v_name, v_parent, v_from, v_from + interval '1 month');
    END IF;
END
$$;
