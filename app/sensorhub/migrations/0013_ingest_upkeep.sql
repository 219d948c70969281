-- Upkeep an ingest transaction leaves for after its commit (issue 18): one row per batch, written in
-- the ingest transaction with the readings, applied to `latest_readings` and `rollup_dirty` by a
-- drain (after the commit, by the ingest process, or by the maintenance job) that deletes the row in
-- the same transaction. A crash between the commit and the drain loses nothing (the row stays until
-- a drain commits) and a drain applied twice changes nothing (latest values only move forward in
-- time; marks are a set), so nothing is counted twice.
CREATE TABLE ingest_upkeep (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The newest reading this batch inserted, per series.
    latest_devices  text[] NOT NULL,
    latest_metrics  text[] NOT NULL,
    latest_times    timestamptz[] NOT NULL,
    latest_values   double precision[] NOT NULL,
    -- Every (series, hour) this batch inserted a reading in.
    hour_devices    text[] NOT NULL,
    hour_metrics    text[] NOT NULL,
    hours           timestamptz[] NOT NULL
);

-- The latest reading per series as every acknowledged batch left it: `latest_readings` merged with the
-- upkeep not yet drained (the same snapshot sees a batch either pending or drained, never neither).
CREATE VIEW latest_readings_now AS
SELECT DISTINCT ON (device_id, metric) device_id, metric, time, value
FROM (
    SELECT device_id, metric, time, value FROM latest_readings
    UNION ALL
    SELECT u.device_id, u.metric, u.time, u.value
    FROM ingest_upkeep k
    CROSS JOIN LATERAL unnest(k.latest_devices, k.latest_metrics, k.latest_times, k.latest_values)
        AS u(device_id, metric, time, value)
) every_latest
ORDER BY device_id, metric, time DESC;
