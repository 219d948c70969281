-- Point the projection's views at p_generation (atomic with the caller's transaction).
CREATE OR REPLACE FUNCTION rm_use_generation(p_projection text, p_generation integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY rm_tables(p_projection) LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %I AS SELECT * FROM %I', v_table, v_table || '_g' || p_generation);
    END LOOP;
    UPDATE projections SET live_generation = p_generation WHERE name = p_projection;
END
$$;
