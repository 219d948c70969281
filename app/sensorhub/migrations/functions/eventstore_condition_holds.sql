-- The condition check of a one-event append in PL/pgSQL (eventstore_append_one_tagged calls it
-- once it holds the tag locks, before it claims the stream row): "no event of p_cond_types (empty:
-- any) carrying every tag of p_cond_tags after position p_after", on the primary key of
-- event_tags; an event with id p_event_id (this append, when it is a retry) is not counted.
-- Returns true, or raises SQLSTATE 'SH412' with DETAIL '<position>|<type>|<after>|<tag>' of the
-- first match. The caller holds the exclusive lock of p_cond_tags[1] (eventstore_lock_tags.sql).
-- (The client's plain-SQL statements, sensorhub/eventstore/postgres.py _APPEND_ONE_TAG_CHECKED /
-- _APPEND_TAGS_CHECKED, check in SQL instead: they take the locks while their parameters are
-- bound, before their snapshot — migrations/0014_tag_lock_domains.sql — and hand every candidate
-- match to eventstore_append_one_tagged, hence to this function.)
--
-- VOLATILE and PL/pgSQL on purpose: the check is a statement of its own, so under READ COMMITTED
-- it reads a snapshot taken now, after the locks were granted. A calling statement's snapshot was
-- taken before it waited for them and misses the event of a writer that committed meanwhile
-- (a SQL function's body may be inlined into its caller, and read the caller's snapshot).
CREATE OR REPLACE FUNCTION eventstore_condition_holds(
    p_cond_types text[],
    p_cond_tags text[],
    p_after bigint,
    p_event_id uuid
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    m record;
BEGIN
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
