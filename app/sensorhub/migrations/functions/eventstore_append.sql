-- Append 1..n events to one stream in one round trip: same contract, results and errors as
-- eventstore_append_checked, which decides whenever the one-statement claim
-- (eventstore_claim_versions) does not go through. An error anywhere undoes the claim too.
CREATE OR REPLACE FUNCTION eventstore_append(
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
    v_actual bigint;  -- the stream version before this append, once the versions are claimed
    v_count integer := cardinality(p_event_ids);
BEGIN
    IF v_count IS NULL OR v_count = 0 THEN
        RAISE EXCEPTION 'append needs at least one event' USING ERRCODE = '22023';
    END IF;

    v_actual := eventstore_claim_versions(p_stream_id, p_stream_type, p_expected, p_event_ids);
    IF v_actual IS NULL THEN
        RETURN QUERY SELECT * FROM eventstore_append_checked(
            p_stream_id, p_stream_type, p_expected, p_event_ids, p_types, p_schema_versions, p_data, p_metadata);
        RETURN;
    END IF;

    RETURN QUERY SELECT * FROM eventstore_insert_events(
        p_stream_id, v_actual, p_event_ids, p_types, p_schema_versions, p_data, p_metadata);
END;
$$;
