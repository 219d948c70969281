-- Create generation p_generation of a projection's tables (empty) and its checkpoint; the alert
-- history is a hypertable on TimescaleDB and range-partitioned by month elsewhere.
CREATE OR REPLACE FUNCTION rm_create_generation(p_projection text, p_generation integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_stmt text;
    v_timescale boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
    v_suffix text := 'g' || p_generation;
BEGIN
    IF rm_tables(p_projection) IS NULL THEN
        RAISE EXCEPTION 'unknown projection %', p_projection USING ERRCODE = '22023';
    END IF;
    FOREACH v_stmt IN ARRAY rm_table_ddl(p_projection) LOOP
        v_stmt := replace(v_stmt, '{g}', v_suffix);
        v_stmt := replace(v_stmt, '{partitioning}', CASE WHEN v_timescale THEN '' ELSE 'PARTITION BY RANGE ("time")' END);
        EXECUTE v_stmt;
    END LOOP;
    IF p_projection = 'alert_history' AND v_timescale THEN
        PERFORM create_hypertable(format('rm_alert_history_%s', v_suffix)::regclass, 'time',
                                  chunk_time_interval => interval '30 days', create_default_indexes => false);
    END IF;
    INSERT INTO projection_checkpoints (name, generation) VALUES (p_projection, p_generation)
    ON CONFLICT (name, generation) DO UPDATE SET transaction_id = '0', "position" = 0, events_applied = 0,
        updated_at = now();
END
$$;
