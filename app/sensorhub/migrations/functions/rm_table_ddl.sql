-- The DDL of one projection generation's tables and indexes; `{g}` stands for the generation suffix
-- and `{partitioning}` for the plain-PostgreSQL partitioning clause (see rm_create_generation).
CREATE OR REPLACE FUNCTION rm_table_ddl(p_projection text) RETURNS text[]
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
        updated_at     timestamptz NOT NULL,      -- recorded time of that event
        owner          jsonb,                     -- {"subject_id", "name", "email", "erased"} (personal data)
        address        text                       -- the owner's (personal data)
    )$ddl$,
    $ddl$CREATE INDEX rm_devices_{g}_subject ON rm_devices_{g} ((owner->>'subject_id')) WHERE owner IS NOT NULL$ddl$,
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
