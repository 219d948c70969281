-- eventstore_append with tags (p_tags[k] belongs to event p_tag_events[k], 1-based) and an optional
-- condition (p_condition as in eventstore_matching, p_after its position). Same results and errors
-- as eventstore_append, plus SH412. A retry of a stored append replays (its own events do not count
-- against its condition) and writes no tags.
CREATE OR REPLACE FUNCTION eventstore_append_tagged(
    p_stream_id text,
    p_stream_type text,
    p_expected text,
    p_event_ids uuid[],
    p_types text[],
    p_schema_versions integer[],
    p_data jsonb[],
    p_metadata jsonb[],
    p_tag_events integer[],
    p_tags text[],
    p_condition jsonb,
    p_after bigint
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
    r record;
    v_positions bigint[] := '{}';
BEGIN
    PERFORM eventstore_prepare_append(p_tags, p_condition, p_after, p_event_ids);
    FOR r IN
        SELECT * FROM eventstore_append(
            p_stream_id, p_stream_type, p_expected, p_event_ids, p_types, p_schema_versions, p_data, p_metadata)
    LOOP
        event_id := r.event_id; stream_version := r.stream_version; "position" := r.position;
        transaction_id := r.transaction_id; recorded_at := r.recorded_at; replayed := r.replayed;
        RETURN NEXT;
        IF NOT r.replayed THEN
            v_positions := v_positions || r.position;
        END IF;
    END LOOP;
    IF cardinality(v_positions) > 0 THEN
        INSERT INTO event_tags (tag, type, position)
        SELECT DISTINCT t.tag, p_types[t.ev], v_positions[t.ev]
          FROM unnest(p_tag_events, p_tags) AS t(ev, tag);
    END IF;
END;
$$;
