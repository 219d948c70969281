-- Append 1..n events to one stream, checking everything under the stream row's lock: the path
-- eventstore_append and eventstore_append_one hand over to when their one-statement claim fails.
--
-- p_expected: 'any' | 'no_stream' | 'stream_exists' | '<n>' (exact version; '0' = no stream).
-- Errors: SQLSTATE 'SH409' (concurrency: DETAIL is the actual version),
--         'SH422' (an event id already used for different content).
-- Appending events whose ids are all already stored with the same stream, type, schema version,
-- data and metadata returns the original rows with replayed = true (metadata carries the actor and
-- the correlation: the same id from another request is a conflict, not a retry).
CREATE OR REPLACE FUNCTION eventstore_append_checked(
    p_stream_id text,
    p_stream_type text,
    p_expected text,
    p_event_ids uuid[],
    p_types text[],
    p_schema_versions integer[],
    p_data jsonb[],
    p_metadata jsonb[]
) RETURNS TABLE (
    event_id uuid,
    stream_version bigint,
    "position" bigint,
    transaction_id text,
    recorded_at timestamptz,
    replayed boolean
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_actual bigint;
    v_count integer := cardinality(p_event_ids);
    v_found integer;
    v_same integer;
    v_mismatch boolean;
BEGIN
    IF v_count IS NULL OR v_count = 0 THEN
        RAISE EXCEPTION 'append needs at least one event' USING ERRCODE = '22023';
    END IF;

    -- Lock the stream row (creating it at version 0 when absent): appends to one
    -- stream serialise here, so the checks below see every committed append.
    LOOP
        SELECT s.version INTO v_actual FROM streams s WHERE s.stream_id = p_stream_id FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO streams AS s (stream_id, stream_type, version) VALUES (p_stream_id, p_stream_type, 0)
        ON CONFLICT (stream_id) DO NOTHING
        RETURNING s.version INTO v_actual;
        EXIT WHEN FOUND;
    END LOOP;

    -- Idempotency by event id: a repeat of a stored append returns its original result.
    SELECT count(*),
           count(*) FILTER (WHERE e.stream_id = p_stream_id AND e.type = t.type
                              AND e.schema_version = t.schema_version AND e.data = t.data
                              AND e.metadata = t.metadata)
      INTO v_found, v_same
      FROM unnest(p_event_ids, p_types, p_schema_versions, p_data, p_metadata)
           AS t(event_id, type, schema_version, data, metadata)
      JOIN events e ON e.event_id = t.event_id;
    IF v_found > 0 THEN
        IF v_found = v_count AND v_same = v_count THEN
            RETURN QUERY
                SELECT e.event_id, e.stream_version, e.position, e.transaction_id::text, e.recorded_at, true
                  FROM events e WHERE e.event_id = ANY (p_event_ids) ORDER BY e.position;
            RETURN;
        END IF;
        RAISE EXCEPTION 'event id(s) already stored with different content'
            USING ERRCODE = 'SH422', DETAIL = v_found::text;
    END IF;

    v_mismatch := CASE p_expected
        WHEN 'any' THEN false
        WHEN 'no_stream' THEN v_actual <> 0
        WHEN 'stream_exists' THEN v_actual = 0
        ELSE v_actual <> p_expected::bigint
    END;
    IF v_mismatch THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', p_stream_id, v_actual, p_expected
            USING ERRCODE = 'SH409', DETAIL = v_actual::text;
    END IF;

    UPDATE streams SET version = v_actual + v_count WHERE streams.stream_id = p_stream_id;

    RETURN QUERY SELECT * FROM eventstore_insert_events(
        p_stream_id, v_actual, p_event_ids, p_types, p_schema_versions, p_data, p_metadata);
END;
$$;
