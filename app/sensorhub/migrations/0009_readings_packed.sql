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
