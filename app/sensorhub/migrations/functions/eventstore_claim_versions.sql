-- The fast path's claim, shared by eventstore_append and eventstore_append_one: one statement takes
-- the stream row's lock, checks the expectation and claims the versions (an UPDATE whose WHERE is
-- the expectation, or for 'no_stream' / '0' an INSERT of the row at its final version). Returns the
-- version before the claim, or NULL when eventstore_append_checked must decide: the expectation
-- missed, or an event id is already stored (then the versions are given back first).
CREATE OR REPLACE FUNCTION eventstore_claim_versions(
    p_stream_id text,
    p_stream_type text,
    p_expected text,
    p_event_ids uuid[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_event_ids);
    v_actual bigint;
BEGIN
    IF p_expected IN ('no_stream', '0') THEN
        INSERT INTO streams AS s (stream_id, stream_type, version) VALUES (p_stream_id, p_stream_type, v_count)
        ON CONFLICT (stream_id) DO NOTHING;
        v_actual := CASE WHEN FOUND THEN 0 END;
    ELSE
        UPDATE streams AS s SET version = s.version + v_count
         WHERE s.stream_id = p_stream_id
           AND CASE p_expected
                   WHEN 'any' THEN true
                   WHEN 'stream_exists' THEN s.version > 0
                   ELSE s.version = p_expected::bigint
               END
        RETURNING s.version - v_count INTO v_actual;
    END IF;
    -- Probed after the claim, so it sees an identical append that committed while we waited.
    IF v_actual IS NOT NULL AND EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_event_ids)) THEN
        UPDATE streams AS s SET version = v_actual WHERE s.stream_id = p_stream_id;
        RETURN NULL;
    END IF;
    RETURN v_actual;
END;
$$;
