-- Every reading of one UTC day, raw or packed (archive, tests).
CREATE OR REPLACE FUNCTION readings_of_day(p_day date)
RETURNS TABLE (device_id text, metric text, "time" timestamptz, value double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.device_id, r.metric, r.time, r.value FROM readings r
    WHERE r.time >= (p_day::timestamp AT TIME ZONE 'UTC') AND r.time < ((p_day + 1)::timestamp AT TIME ZONE 'UTC')
    UNION ALL
    SELECT p.device_id, p.metric, unnest(p.times), unnest(p.vals) FROM readings_packed p WHERE p.day = p_day
$$;
