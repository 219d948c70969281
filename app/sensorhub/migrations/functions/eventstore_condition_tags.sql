-- The tag each item of a condition is locked by (its first): p_items is [{"types": [...], "tags": [...]}, ...].
CREATE OR REPLACE FUNCTION eventstore_condition_tags(p_items jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(i.item -> 'tags' ->> 0), '{}') FROM jsonb_array_elements(p_items) AS i(item)
$$;
