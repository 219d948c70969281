-- Drop generation p_generation of a projection's tables and its checkpoint.
CREATE OR REPLACE FUNCTION rm_drop_generation(p_projection text, p_generation integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY rm_tables(p_projection) LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', v_table || '_g' || p_generation);
    END LOOP;
    DELETE FROM projection_checkpoints WHERE name = p_projection AND generation = p_generation;
END
$$;
