-- Issue 17's changes to the event store's SQL functions, kept in one file so they can move as a
-- whole into the one-file-per-function layout (issue 14) when it lands.
--
-- eventstore_append_checked (0005's body, renamed by 0006): a retried append is identical only
-- when every event id is stored in this stream with the same type, schema version, data AND
-- metadata. Until now metadata was not compared, so a reused id with other metadata (another
-- actor, another correlation id: another request) was answered as a replay of the first append.

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


-- Conditions across streams (dynamic consistency boundaries) -------------------------------------
--
-- Why "no matching event after P" is safe under READ COMMITTED: every tag has an advisory lock
-- (class 0x5E5E0005, key hashtext(tag)). A writer of tagged events holds the SHARED lock of each
-- of its tags until it commits; a conditional append holds the EXCLUSIVE lock of one tag of each
-- condition item (an event matches an item only if it carries all of the item's tags, so its
-- writer holds that one too) from before its check until it commits. So two conditional appends
-- on the same tag run one after the other, and the second one's check (a new statement, hence a
-- new snapshot) sees the first one's events. The decision's read (eventstore_read_matching) takes
-- the exclusive locks too, for the duration of its snapshot: every writer of those tags has then
-- either committed (its events are read) or takes its lock later and so draws its positions
-- later, above every position read. That makes P (the largest position read) exact: nothing
-- matching can still appear at or below it. Locks are taken in key order (no deadlock between
-- two lockers); all tag locks come before the stream row lock.

-- Lock the tags' advisory locks, each once, in key order; a tag in both lists is locked exclusively.
-- One statement (the OFFSET 0 keeps the sort below the lock calls).
CREATE OR REPLACE FUNCTION eventstore_lock_tags(p_exclusive text[], p_shared text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM CASE WHEN k.exclusive THEN pg_advisory_xact_lock(1583218693, k.key)  -- 0x5E5E0005
                 ELSE pg_advisory_xact_lock_shared(1583218693, k.key) END
       FROM (SELECT hashtext(t.tag) AS key, bool_or(t.exclusive) AS exclusive
               FROM (SELECT u AS tag, true AS exclusive FROM unnest(p_exclusive) AS u
                     UNION ALL
                     SELECT u, false FROM unnest(p_shared) AS u) AS t
              GROUP BY 1
              ORDER BY 1
             OFFSET 0) AS k;
END;
$$;

-- The tag each item of a condition is locked by (its first): p_items is [{"types": [...], "tags": [...]}, ...].
CREATE OR REPLACE FUNCTION eventstore_condition_tags(p_items jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(i.item -> 'tags' ->> 0), '{}') FROM jsonb_array_elements(p_items) AS i(item)
$$;

-- Events matching any item after p_after (types empty = any type; every tag of the item required),
-- oldest first; events whose id is in p_except (the append being checked, when it is a retry) are not counted.
CREATE OR REPLACE FUNCTION eventstore_matching(p_items jsonb, p_after bigint, p_except uuid[])
RETURNS TABLE ("position" bigint, type text, tag text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (m.position) m.position, m.type, m.tag
      FROM jsonb_array_elements(p_items) AS i(item)
     CROSS JOIN LATERAL (
            SELECT et.position, et.type, et.tag
              FROM event_tags et
             WHERE et.tag = i.item -> 'tags' ->> 0
               AND (jsonb_array_length(i.item -> 'types') = 0
                    OR et.type IN (SELECT jsonb_array_elements_text(i.item -> 'types')))
               AND et.position > p_after
               AND NOT EXISTS (
                    SELECT 1 FROM jsonb_array_elements_text(i.item -> 'tags') AS g(tag)
                     WHERE NOT EXISTS (SELECT 1 FROM event_tags x
                                        WHERE x.tag = g.tag AND x.type = et.type AND x.position = et.position))
               AND (p_except IS NULL OR NOT EXISTS (
                    SELECT 1 FROM events e WHERE e.position = et.position AND e.event_id = ANY (p_except)))
           ) AS m
     ORDER BY m.position
$$;

-- Lock the tags an append writes (shared) and its condition's (exclusive), then check the
-- condition. Errors: SQLSTATE 'SH412', DETAIL '<position>|<type>|<after>|<tag>' of the first match.
CREATE OR REPLACE FUNCTION eventstore_prepare_append(
    p_tags text[], p_condition jsonb, p_after bigint, p_event_ids uuid[]
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    PERFORM eventstore_lock_tags(
        CASE WHEN p_condition IS NULL THEN '{}'::text[] ELSE eventstore_condition_tags(p_condition) END,
        coalesce(p_tags, '{}'));
    IF p_condition IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO m FROM eventstore_matching(p_condition, p_after, p_event_ids) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'append condition failed: % at position % (tag %) after position %',
            m.type, m.position, m.tag, p_after
            USING ERRCODE = 'SH412', DETAIL = m.position || '|' || m.type || '|' || p_after || '|' || m.tag;
    END IF;
END;
$$;

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

-- The common case of eventstore_append_tagged, cheaper: one event as scalars (appended by
-- eventstore_append_one) and a condition of one item as arrays (p_cond_tags NULL: no condition),
-- checked by one statement on the primary key of event_tags. Same results and errors.
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
    m record;
BEGIN
    IF p_cond_tags IS NOT NULL AND p_tags = ARRAY[p_cond_tags[1]] THEN  -- claims what it checks: one lock
        PERFORM pg_advisory_xact_lock(1583218693, hashtext(p_cond_tags[1]));
    ELSIF p_cond_tags IS NULL AND cardinality(p_tags) = 1 THEN
        PERFORM pg_advisory_xact_lock_shared(1583218693, hashtext(p_tags[1]));
    ELSE
        PERFORM eventstore_lock_tags(coalesce(p_cond_tags[1:1], '{}'), p_tags);
    END IF;
    IF p_cond_tags IS NOT NULL THEN
        SELECT et.position, et.type, et.tag INTO m
          FROM event_tags et
         WHERE et.tag = p_cond_tags[1]
           AND (cardinality(p_cond_types) = 0 OR et.type = ANY (p_cond_types))
           AND et.position > p_after
           AND (cardinality(p_cond_tags) = 1 OR NOT EXISTS (
                SELECT 1 FROM unnest(p_cond_tags[2:]) AS g(tag)
                 WHERE NOT EXISTS (SELECT 1 FROM event_tags x
                                    WHERE x.tag = g.tag AND x.type = et.type AND x.position = et.position)))
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.position = et.position AND e.event_id = p_event_id)
         ORDER BY et.position
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'append condition failed: % at position % (tag %) after position %',
                m.type, m.position, m.tag, p_after
                USING ERRCODE = 'SH412', DETAIL = m.position || '|' || m.type || '|' || p_after || '|' || m.tag;
        END IF;
    END IF;
    SELECT * INTO r FROM eventstore_append_one(
        p_stream_id, p_stream_type, p_expected, p_event_id, p_type, p_schema_version, p_data, p_metadata);
    IF NOT r.replayed AND cardinality(p_tags) > 0 THEN
        INSERT INTO event_tags (tag, type, position) SELECT DISTINCT u, p_type, r.position FROM unnest(p_tags) AS u;
    END IF;
    event_id := r.event_id; stream_version := r.stream_version; "position" := r.position;
    transaction_id := r.transaction_id; recorded_at := r.recorded_at; replayed := r.replayed;
    RETURN NEXT;
END;
$$;
