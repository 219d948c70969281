-- Time-series store: everything that is the same on every engine.
--
-- The `readings` table itself is engine-specific (a TimescaleDB hypertable, or a
-- natively range-partitioned table on plain PostgreSQL) and is created by
-- sensorhub.timeseries.engines when the service or `sensorhub migrate` starts,
-- because the engine can be forced by a setting (SENSORHUB_TIMESERIES_ENGINE).

-- Which engine created `readings` in this database (one row).
CREATE TABLE timeseries_engine (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    engine      text NOT NULL CHECK (engine IN ('timescaledb', 'postgres')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Last value and time per series, upserted by ingest in the same statement as the readings.
CREATE TABLE latest_readings (
    device_id  text NOT NULL,
    metric     text NOT NULL,
    time       timestamptz NOT NULL,
    value      double precision NOT NULL,
    PRIMARY KEY (device_id, metric)
);

-- Hourly rollups, maintained incrementally by the maintenance job. `sum` is numeric so that
-- averages are exact and independent of the order rows are scanned in (same result on every
-- engine and from rollups or raw rows).
CREATE TABLE readings_hourly (
    device_id    text NOT NULL,
    metric       text NOT NULL,
    bucket       timestamptz NOT NULL,
    count        bigint NOT NULL,
    sum          numeric NOT NULL,
    min          double precision NOT NULL,
    max          double precision NOT NULL,
    first_time   timestamptz NOT NULL,
    first_value  double precision NOT NULL,
    last_time    timestamptz NOT NULL,
    last_value   double precision NOT NULL,
    PRIMARY KEY (device_id, metric, bucket)
);
CREATE INDEX readings_hourly_bucket_idx ON readings_hourly (bucket);

-- Hours whose rollup is missing or stale: marked by ingest for every hour it wrote a new row in,
-- cleared by the maintenance job once it has recomputed that hour. `generation` is bumped on every
-- mark so a clear never loses a mark made while the hour was being recomputed.
CREATE TABLE rollup_dirty (
    device_id   text NOT NULL,
    metric      text NOT NULL,
    bucket      timestamptz NOT NULL,
    generation  bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (device_id, metric, bucket)
);

-- Alert evaluation state per series that has (had) a threshold: its row is locked by ingest while
-- it evaluates that series, so concurrent requests evaluate a series one after the other.
CREATE TABLE series_alert_state (
    device_id      text NOT NULL,
    metric         text NOT NULL,
    open_alert_id  text,
    PRIMARY KEY (device_id, metric)
);

-- Raw days already archived (per device group), so a re-run never uploads twice.
CREATE TABLE readings_archive (
    day          date NOT NULL,
    device_group integer NOT NULL,
    location     text NOT NULL,
    rows         bigint NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, device_group)
);

-- What the maintenance job did last, per task (for operators and tests).
CREATE TABLE timeseries_maintenance (
    task     text PRIMARY KEY,
    ran_at   timestamptz NOT NULL,
    detail   jsonb NOT NULL
);
