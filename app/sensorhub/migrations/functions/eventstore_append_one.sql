-- eventstore_append of exactly one event, passed as scalars (same results and errors): the
-- client then encodes, and the server parses, no one-element jsonb arrays.
CREATE OR REPLACE FUNCTION eventstore_append_one(
    p_stream_id text,
    p_stream_type text,
    p_expected text,
    p_event_id uuid,
    p_type text,
    p_schema_version integer,
    p_data jsonb,
    p_metadata jsonb
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
    v_actual bigint;  -- the stream version before this append, once the version is claimed
BEGIN
    v_actual := eventstore_claim_versions(p_stream_id, p_stream_type, p_expected, ARRAY[p_event_id]);
    IF v_actual IS NULL THEN
        RETURN QUERY SELECT * FROM eventstore_append_checked(
            p_stream_id, p_stream_type, p_expected, ARRAY[p_event_id], ARRAY[p_type], ARRAY[p_schema_version],
            ARRAY[p_data], ARRAY[p_metadata]);
        RETURN;
    END IF;

    INSERT INTO events AS e (event_id, stream_id, stream_version, type, schema_version, data, metadata)
    VALUES (p_event_id, p_stream_id, v_actual + 1, p_type, p_schema_version, p_data, p_metadata)
    RETURNING e.event_id, e.stream_version, e.position, e.transaction_id::text, e.recorded_at, false
    INTO event_id, stream_version, "position", transaction_id, recorded_at, replayed;
    RETURN NEXT;
END;
$$;
