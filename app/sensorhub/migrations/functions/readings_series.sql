-- Every reading of one series in [p_from, p_to), raw or packed (in no particular order). Every query
-- of readings goes through here, so raw, packed and mixed days answer the same. The arrays are
-- expanded by `unnest` in the select list (lock-step, no materialisation): about ten times cheaper
-- per reading than `unnest(...) WITH ORDINALITY` in FROM.
CREATE OR REPLACE FUNCTION readings_series(p_device text, p_metric text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE ("time" timestamptz, value double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.time, r.value FROM readings r
    WHERE r.device_id = p_device AND r.metric = p_metric AND r.time >= p_from AND r.time < p_to
    UNION ALL
    SELECT u.time, u.value
    FROM (
        SELECT unnest(p.times) AS time, unnest(p.vals) AS value
        FROM readings_packed p
        WHERE p.device_id = p_device AND p.metric = p_metric
          AND p.day >= (p_from AT TIME ZONE 'UTC')::date AND p.day <= (p_to AT TIME ZONE 'UTC')::date
          AND p.first_time < p_to AND p.last_time >= p_from
    ) u
    WHERE u.time >= p_from AND u.time < p_to
$$;
