-- The tag locks and the condition check of a one-event tagged append (eventstore_append_one_tagged,
-- and the client's plain-SQL statement _APPEND_TAGGED_AT / _APPEND_TAGGED_NEW in
-- sensorhub/eventstore/postgres.py, which calls it before it claims the stream row): the event's
-- tags locked shared and the condition's (one item; p_cond_tags NULL: no condition) first tag
-- exclusive (eventstore_lock_tags.sql says why that is safe), then "no event of p_cond_types with
-- every tag of p_cond_tags after p_after" checked on the primary key of event_tags; an event with
-- id p_event_id (this append, when it is a retry) is not counted. Returns true, or raises SQLSTATE
-- 'SH412' with DETAIL '<position>|<type>|<after>|<tag>' of the first match.
--
-- VOLATILE and PL/pgSQL on purpose: the check is a statement of its own, so under READ COMMITTED
-- it reads a snapshot taken after the locks were granted — the snapshot of a calling statement
-- was taken before, and misses an event whose writer committed while this one waited for its
-- lock. (SQL functions may be inlined into the caller, and with them their snapshot.)
CREATE OR REPLACE FUNCTION eventstore_lock_and_check(
    p_tags text[],
    p_cond_types text[],
    p_cond_tags text[],
    p_after bigint,
    p_event_id uuid
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    m record;
BEGIN
    IF p_cond_tags IS NOT NULL AND p_tags = ARRAY[p_cond_tags[1]] THEN  -- claims what it checks: one lock
        PERFORM pg_advisory_xact_lock(1583218693, hashtext(p_cond_tags[1]));
    ELSIF p_cond_tags IS NULL AND cardinality(p_tags) = 1 THEN
        PERFORM pg_advisory_xact_lock_shared(1583218693, hashtext(p_tags[1]));
    ELSE
        PERFORM eventstore_lock_tags(coalesce(p_cond_tags[1:1], '{}'), p_tags);
    END IF;
    IF p_cond_tags IS NULL THEN
        RETURN true;
    END IF;
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
    RETURN true;
END;
$$;
