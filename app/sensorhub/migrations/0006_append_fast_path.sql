-- eventstore_append, cheaper per call: same signature, errors and results as 0005.
--
-- Measured on a single-event append to an existing stream with an exact expected version (the
-- common command), 0005 ran four statements: SELECT ... FOR UPDATE on the stream row (a lock
-- record in the WAL), an idempotency probe joining unnest() of four arrays to events (~25 us of
-- executor set-up for one id), the UPDATE of the version, and a RETURN QUERY over an
-- INSERT ... SELECT FROM unnest() WITH ORDINALITY CTE. Now the common case is:
--
--   * one statement claims the versions: an UPDATE whose WHERE is the expectation (it locks the
--     row, and re-checks the expectation on the newest row version when it had to wait for another
--     append), or, for 'no_stream' / '0', an INSERT of the stream row at its final version;
--   * the idempotency probe is an EXISTS on the event_id index; only when an id is already stored
--     are the versions given back and the full path of 0005 (lock, compare contents, replay or
--     SH422, SH409 with the actual version) decides;
--   * a single event is inserted with VALUES ... RETURNING INTO, without unnest or a tuplestore.
--
-- Everything else (a missed expectation, a retried append, a new stream with 'any') takes the
-- path of 0005 unchanged. An error raised anywhere undoes the claim with the rest of the statement.

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
    v_actual bigint;
    v_count integer := cardinality(p_event_ids);
    v_claimed boolean := false;
    v_found integer;
    v_same integer;
    v_mismatch boolean;
BEGIN
    IF v_count IS NULL OR v_count = 0 THEN
        RAISE EXCEPTION 'append needs at least one event' USING ERRCODE = '22023';
    END IF;

    -- Claim the versions in one statement that locks the stream row and checks the expectation.
    IF p_expected IN ('no_stream', '0') THEN
        INSERT INTO streams AS s (stream_id, stream_type, version) VALUES (p_stream_id, p_stream_type, v_count)
        ON CONFLICT (stream_id) DO NOTHING;
        v_claimed := FOUND;
        v_actual := 0;
    ELSE
        UPDATE streams AS s SET version = s.version + v_count
         WHERE s.stream_id = p_stream_id
           AND CASE p_expected
                   WHEN 'any' THEN true
                   WHEN 'stream_exists' THEN s.version > 0
                   ELSE s.version = p_expected::bigint
               END
        RETURNING s.version - v_count INTO v_actual;
        v_claimed := FOUND;
    END IF;
    -- An event id already stored (a retried append, or a reused id): give the versions back and
    -- let the full path below decide between replaying and SH422.
    IF v_claimed AND EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_event_ids)) THEN
        UPDATE streams AS s SET version = v_actual WHERE s.stream_id = p_stream_id;
        v_claimed := false;
    END IF;

    IF NOT v_claimed THEN
        -- The full path of 0005: lock the stream row (creating it at version 0 when absent), then
        -- idempotency by event id, then the expectation.
        LOOP
            SELECT s.version INTO v_actual FROM streams s WHERE s.stream_id = p_stream_id FOR UPDATE;
            EXIT WHEN FOUND;
            INSERT INTO streams AS s (stream_id, stream_type, version) VALUES (p_stream_id, p_stream_type, 0)
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING s.version INTO v_actual;
            EXIT WHEN FOUND;
        END LOOP;

        SELECT count(*),
               count(*) FILTER (WHERE e.stream_id = p_stream_id AND e.type = t.type
                                  AND e.schema_version = t.schema_version AND e.data = t.data)
          INTO v_found, v_same
          FROM unnest(p_event_ids, p_types, p_schema_versions, p_data)
               AS t(event_id, type, schema_version, data)
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
    END IF;

    IF v_count = 1 THEN
        INSERT INTO events AS e (event_id, stream_id, stream_version, type, schema_version, data, metadata)
        VALUES (p_event_ids[1], p_stream_id, v_actual + 1, p_types[1], p_schema_versions[1], p_data[1], p_metadata[1])
        RETURNING e.event_id, e.stream_version, e.position, e.transaction_id::text, e.recorded_at, false
        INTO event_id, stream_version, "position", transaction_id, recorded_at, replayed;
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY
        WITH inserted AS (
            INSERT INTO events AS e (event_id, stream_id, stream_version, type, schema_version, data, metadata)
            SELECT t.event_id, p_stream_id, v_actual + t.ord, t.type, t.schema_version, t.data, t.metadata
              FROM unnest(p_event_ids, p_types, p_schema_versions, p_data, p_metadata)
                   WITH ORDINALITY AS t(event_id, type, schema_version, data, metadata, ord)
             ORDER BY t.ord
            RETURNING e.event_id, e.stream_version, e.position, e.transaction_id, e.recorded_at
        )
        SELECT i.event_id, i.stream_version, i.position, i.transaction_id::text, i.recorded_at, false
          FROM inserted i
         ORDER BY i.position;
END;
$$;
