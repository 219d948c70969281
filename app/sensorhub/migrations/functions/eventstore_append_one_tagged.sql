-- The common case of eventstore_append_tagged, cheaper: one event as scalars (appended by
-- eventstore_append_one) and a condition of one item as arrays (p_cond_tags NULL: no condition),
-- checked by one statement on the primary key of event_tags (eventstore_condition_holds). Same
-- results and errors. The client's plain-SQL statement does the same for an exact expected
-- version; this function is where it hands over when that statement wrote nothing.
CREATE OR REPLACE FUNCTION eventstore_append_one_tagged(
    p_stream_id text,
    p_stream_type text,
    p_expected text,
    p_event_id uuid,
    p_type text,
    p_schema_version integer,
    p_data jsonb,
    p_metadata jsonb,
    p_tags text[],
    p_cond_types text[],
    p_cond_tags text[],
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
BEGIN
    IF p_cond_tags IS NOT NULL AND p_tags = ARRAY[p_cond_tags[1]] THEN  -- claims what it checks: one lock
        PERFORM pg_advisory_xact_lock(1583218693, hashtext(p_cond_tags[1]));
    ELSIF p_cond_tags IS NULL AND cardinality(p_tags) = 1 THEN
        PERFORM pg_advisory_xact_lock_shared(1583218693, hashtext(p_tags[1]));
    ELSE
        PERFORM eventstore_lock_tags(coalesce(p_cond_tags[1:1], '{}'), p_tags);
    END IF;
    IF p_cond_tags IS NOT NULL THEN
        PERFORM eventstore_condition_holds(p_cond_types, p_cond_tags, p_after, p_event_id);
    END IF;
    SELECT * INTO r FROM eventstore_append_one(
        p_stream_id, p_stream_type, p_expected, p_event_id, p_type, p_schema_version, p_data, p_metadata);
    IF r.replayed OR cardinality(p_tags) = 0 THEN
        NULL;
    ELSIF cardinality(p_tags) = 1 THEN
        INSERT INTO event_tags (tag, type, position) VALUES (p_tags[1], p_type, r.position);
    ELSE
        INSERT INTO event_tags (tag, type, position) SELECT DISTINCT u, p_type, r.position FROM unnest(p_tags) AS u;
    END IF;
    event_id := r.event_id; stream_version := r.stream_version; "position" := r.position;
    transaction_id := r.transaction_id; recorded_at := r.recorded_at; replayed := r.replayed;
    RETURN NEXT;
END;
$$;
