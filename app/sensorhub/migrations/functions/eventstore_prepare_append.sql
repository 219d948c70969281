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
