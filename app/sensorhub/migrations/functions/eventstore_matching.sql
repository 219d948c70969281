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
