-- Sealed-day compression on every engine (docs/compression.md): one row per series and UTC day,
-- its readings as two arrays in time order (`times`, `vals`), compressed by TOAST (pglz).
CREATE TABLE readings_packed (
    device_id   text NOT NULL,
    metric      text NOT NULL,
    day         date NOT NULL,
    count       integer NOT NULL,
    first_time  timestamptz NOT NULL,
    last_time   timestamptz NOT NULL,
    times       timestamptz[] NOT NULL,
    vals        double precision[] NOT NULL,
    PRIMARY KEY (device_id, metric, day)
);
CREATE INDEX readings_packed_day_idx ON readings_packed (day);
-- pglz (also the server default): on these arrays it beat lz4 by 10-15 % (docs/compression.md).
ALTER TABLE readings_packed ALTER COLUMN times SET COMPRESSION pglz, ALTER COLUMN vals SET COMPRESSION pglz;

-- Which (day, device group) the compression job packed, how many readings, and when (for operators).
CREATE TABLE readings_compression (
    day            date NOT NULL,
    device_group   integer NOT NULL,
    readings       bigint NOT NULL,
    compressed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, device_group)
);

-- `readings` itself is created by the engine at start-up (0004), after migrations: the bodies
-- below are checked when first called.
SET LOCAL check_function_bodies = off;

-- Every reading of one series in [p_from, p_to), raw or packed (in no particular order). Every query
-- of readings goes through here, so raw, packed and mixed days answer the same. The arrays are
-- expanded by `unnest` in the select list (lock-step, no materialisation): about ten times cheaper
-- per reading than `unnest(...) WITH ORDINALITY` in FROM.
CREATE FUNCTION readings_series(p_device text, p_metric text, p_from timestamptz, p_to timestamptz)
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

-- Every reading of one UTC day, raw or packed (archive, tests).
CREATE FUNCTION readings_of_day(p_day date)
RETURNS TABLE (device_id text, metric text, "time" timestamptz, value double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.device_id, r.metric, r.time, r.value FROM readings r
    WHERE r.time >= (p_day::timestamp AT TIME ZONE 'UTC') AND r.time < ((p_day + 1)::timestamp AT TIME ZONE 'UTC')
    UNION ALL
    SELECT p.device_id, p.metric, unnest(p.times), unnest(p.vals) FROM readings_packed p WHERE p.day = p_day
$$;
