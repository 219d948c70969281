-- Read models (the CQRS read side): projection bookkeeping and the read-model tables.
--
-- Every projection owns a set of tables that exist in *generations*: the physical
-- tables are named <table>_g<N>, and a view named <table> points at the live
-- generation. Readers (the API, ingest) only ever use the views. A rebuild fills
-- generation N+1 from position zero while generation N keeps serving, then swaps
-- the views in one transaction (see docs/projections.md). Generations avoid the
-- index/partition name clashes that renaming tables back and forth would cause.

CREATE TABLE projections (
    name                  text PRIMARY KEY,
    live_generation       integer NOT NULL DEFAULT 1,
    shadow_generation     integer,                -- being rebuilt, when not null
    rebuild_requested_at  timestamptz,
    rebuild_started_at    timestamptz,
    rebuilt_at            timestamptz,
    leader                text,                   -- the process applying it (host:pid)
    heartbeat_at          timestamptz
);

-- One checkpoint per projection and generation; written in the same transaction
-- as the read-model rows it accounts for (exactly-once effect).
CREATE TABLE projection_checkpoints (
    name            text NOT NULL REFERENCES projections (name),
    generation      integer NOT NULL,
    transaction_id  xid8 NOT NULL DEFAULT '0',
    "position"      bigint NOT NULL DEFAULT 0,
    events_applied  bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);

-- The tables of one projection generation. ``{g}`` stands for the generation suffix.
CREATE FUNCTION rm_table_ddl(p_projection text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE p_projection
WHEN 'registry' THEN ARRAY[
    $ddl$CREATE TABLE rm_devices_{g} (
        device_id      text PRIMARY KEY,
        name           text NOT NULL,
        site           text NOT NULL,
        kind           text NOT NULL,
        status         text NOT NULL,             -- active | decommissioned
        metrics        jsonb NOT NULL,            -- [{"name", "unit"}]
        thresholds     jsonb NOT NULL,            -- {"<metric>": {"min", "max", "severity"}}
        open_alerts    integer NOT NULL,          -- alerts open or acknowledged
        version        bigint NOT NULL,           -- the device stream's version
        "position"     bigint NOT NULL,           -- global position of the last event applied to this row
        registered_at  timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL       -- recorded time of that event
    )$ddl$,
    $ddl$CREATE INDEX rm_devices_{g}_site ON rm_devices_{g} (site, device_id)$ddl$,
    $ddl$CREATE INDEX rm_devices_{g}_kind ON rm_devices_{g} (kind, device_id)$ddl$,
    $ddl$CREATE TABLE rm_alerts_{g} (
        alert_id         text PRIMARY KEY,
        device_id        text NOT NULL,
        metric           text NOT NULL,
        severity         text NOT NULL,
        status           text NOT NULL,           -- open | acknowledged | resolved
        raised_at        timestamptz NOT NULL,
        trigger_value    double precision NOT NULL,
        threshold        jsonb NOT NULL,          -- {"min", "max"}
        acknowledged_by  text,
        acknowledged_at  timestamptz,
        resolved_by      text,
        resolved_at      timestamptz,
        resolution       text,
        note             text,
        version          bigint NOT NULL,
        "position"       bigint NOT NULL,
        updated_at       timestamptz NOT NULL
    )$ddl$,
    $ddl$CREATE INDEX rm_alerts_{g}_order ON rm_alerts_{g} (raised_at DESC, alert_id DESC)$ddl$,
    $ddl$CREATE INDEX rm_alerts_{g}_device ON rm_alerts_{g} (device_id, raised_at DESC)$ddl$,
    $ddl$CREATE INDEX rm_alerts_{g}_unresolved ON rm_alerts_{g} (device_id) WHERE status <> 'resolved'$ddl$
]
WHEN 'alert_history' THEN ARRAY[
    -- one row per alert transition, at the domain time of the transition
    $ddl$CREATE TABLE rm_alert_history_{g} (
        "time"      timestamptz NOT NULL,
        device_id   text NOT NULL,
        alert_id    text NOT NULL,
        metric      text NOT NULL,
        severity    text NOT NULL,
        transition  text NOT NULL,                -- raised | acknowledged | resolved | auto_resolved
        value       double precision,             -- trigger value / value back in bounds
        actor       text,
        "position"  bigint NOT NULL,
        PRIMARY KEY (device_id, "time", "position")
    ) {partitioning}$ddl$,
    $ddl$CREATE TABLE rm_alert_subjects_{g} (
        alert_id   text PRIMARY KEY,
        device_id  text NOT NULL,
        metric     text NOT NULL,
        severity   text NOT NULL
    )$ddl$
]
END
$$;

CREATE FUNCTION rm_tables(p_projection text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE p_projection
    WHEN 'registry' THEN ARRAY['rm_devices', 'rm_alerts']
    WHEN 'alert_history' THEN ARRAY['rm_alert_history', 'rm_alert_subjects']
END
$$;

-- Create generation p_generation of a projection's tables (empty) and its checkpoint.
CREATE FUNCTION rm_create_generation(p_projection text, p_generation integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_stmt text;
    v_timescale boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
    v_suffix text := 'g' || p_generation;
BEGIN
    IF rm_tables(p_projection) IS NULL THEN
        RAISE EXCEPTION 'unknown projection %', p_projection USING ERRCODE = '22023';
    END IF;
    FOREACH v_stmt IN ARRAY rm_table_ddl(p_projection) LOOP
        v_stmt := replace(v_stmt, '{g}', v_suffix);
        v_stmt := replace(v_stmt, '{partitioning}', CASE WHEN v_timescale THEN '' ELSE 'PARTITION BY RANGE ("time")' END);
        EXECUTE v_stmt;
    END LOOP;
    IF p_projection = 'alert_history' AND v_timescale THEN
        PERFORM create_hypertable(format('rm_alert_history_%s', v_suffix)::regclass, 'time',
                                  chunk_time_interval => interval '30 days', create_default_indexes => false);
    END IF;
    INSERT INTO projection_checkpoints (name, generation) VALUES (p_projection, p_generation)
    ON CONFLICT (name, generation) DO UPDATE SET transaction_id = '0', "position" = 0, events_applied = 0,
        updated_at = now();
END
$$;

-- Point the projection's views at p_generation (atomic with the caller's transaction).
CREATE FUNCTION rm_use_generation(p_projection text, p_generation integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY rm_tables(p_projection) LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %I AS SELECT * FROM %I', v_table, v_table || '_g' || p_generation);
    END LOOP;
    UPDATE projections SET live_generation = p_generation WHERE name = p_projection;
END
$$;

CREATE FUNCTION rm_drop_generation(p_projection text, p_generation integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY rm_tables(p_projection) LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', v_table || '_g' || p_generation);
    END LOOP;
    DELETE FROM projection_checkpoints WHERE name = p_projection AND generation = p_generation;
END
$$;

-- Plain PostgreSQL: the month partition holding p_time (a no-op on a hypertable).
CREATE FUNCTION rm_alert_history_partition(p_generation integer, p_time timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_parent text := 'rm_alert_history_g' || p_generation;
    v_from timestamptz := date_trunc('month', p_time, 'UTC');
    v_name text := v_parent || '_p' || to_char(v_from AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = v_parent::regclass) <> 'p' THEN
        RETURN;
    END IF;
    IF to_regclass(v_name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       v_name, v_parent, v_from, v_from + interval '1 month');
    END IF;
END
$$;

INSERT INTO projections (name) VALUES ('registry'), ('alert_history');
SELECT rm_create_generation('registry', 1), rm_use_generation('registry', 1);
SELECT rm_create_generation('alert_history', 1), rm_use_generation('alert_history', 1);
