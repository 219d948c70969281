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
-- No sort when nothing is pending: a stored row is kept unless a pending one is newer, and a pending
-- one (the newest per series) is added only where nothing stored is as new.
CREATE VIEW latest_readings_now AS
WITH pending AS (
    SELECT u.device_id, u.metric, u.time, u.value
    FROM ingest_upkeep k
    CROSS JOIN LATERAL unnest(k.latest_devices, k.latest_metrics, k.latest_times, k.latest_values)
        AS u(device_id, metric, time, value)
)
SELECT l.device_id, l.metric, l.time, l.value
FROM latest_readings l
WHERE NOT EXISTS (SELECT 1 FROM pending p WHERE p.device_id = l.device_id AND p.metric = l.metric AND p.time > l.time)
UNION ALL
(SELECT DISTINCT ON (p.device_id, p.metric) p.device_id, p.metric, p.time, p.value
 FROM pending p
 WHERE NOT EXISTS (SELECT 1 FROM latest_readings l
                   WHERE l.device_id = p.device_id AND l.metric = p.metric AND l.time >= p.time)
 ORDER BY p.device_id, p.metric, p.time DESC);
