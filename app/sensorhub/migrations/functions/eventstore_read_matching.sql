-- The events matching p_items (all of them, oldest first), read under the exclusive locks of the
-- condition's tags, so that their largest position is an exact "after" for an append condition.
CREATE OR REPLACE FUNCTION eventstore_read_matching(p_items jsonb)
RETURNS TABLE (
    event_id uuid, stream_id text, stream_version bigint, "position" bigint, transaction_id text,
    type text, schema_version integer, data jsonb, metadata jsonb, recorded_at timestamptz
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM eventstore_lock_tags(eventstore_condition_tags(p_items), '{}');
    -- a new statement: its snapshot is taken now, under the locks
    RETURN QUERY
        SELECT e.event_id, e.stream_id, e.stream_version, e.position, e.transaction_id::text,
               e.type, e.schema_version, e.data, e.metadata, e.recorded_at
          FROM eventstore_matching(p_items, 0, NULL) AS m
          JOIN events e ON e.position = m.position
         ORDER BY e.position;
END;
$$;
