-- Conditions across streams (dynamic consistency boundaries): the tag locks.
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
-- two lockers); all tag locks come before the stream row lock. The one-event statements of the
-- client take them while their parameters are bound (migrations/0014_tag_lock_domains.sql, whose
-- eventstore_tag_locks calls this function), so that their own snapshot comes after the locks.
--
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
