-- The INSERT every array append ends in (eventstore_append's fast path, eventstore_append_checked):
-- events k = 1..n of one stream at versions p_before + k, whose versions the caller has claimed
-- under the stream row's lock; the results as the append functions return them, oldest first.
-- (One event at an exact expected version is the client's plain-SQL statement instead:
-- sensorhub/eventstore/postgres.py, _APPEND_AT / _APPEND_NEW.)
CREATE OR REPLACE FUNCTION eventstore_insert_events(
    p_stream_id text,
    p_before bigint,
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
LANGUAGE sql AS $$
    WITH inserted AS (
        INSERT INTO events AS e (event_id, stream_id, stream_version, type, schema_version, data, metadata)
        SELECT t.event_id, p_stream_id, p_before + t.ord, t.type, t.schema_version, t.data, t.metadata
          FROM unnest(p_event_ids, p_types, p_schema_versions, p_data, p_metadata)
               WITH ORDINALITY AS t(event_id, type, schema_version, data, metadata, ord)
         ORDER BY t.ord
        RETURNING e.event_id, e.stream_version, e.position, e.transaction_id, e.recorded_at
    )
    SELECT i.event_id, i.stream_version, i.position, i.transaction_id::text, i.recorded_at, false
      FROM inserted i
     ORDER BY i.position;
$$;
