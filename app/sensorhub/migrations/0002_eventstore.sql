-- Event store: streams, events (global feed) and snapshots. The append functions are in
-- functions/eventstore_append*.sql.
--
-- Gap safety: every event records the id of the transaction that wrote it
-- (pg_current_xact_id()). A feed reader only returns events whose transaction
-- id is below the xmin of its own snapshot: every such transaction has ended,
-- so no event can still appear below that horizon. The feed is ordered by
-- (transaction_id, position); see docs/eventstore.md.

CREATE TABLE streams (
    stream_id    text PRIMARY KEY,
    stream_type  text NOT NULL,
    version      bigint NOT NULL CHECK (version >= 0)
);

CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid NOT NULL,
    stream_id       text NOT NULL,
    stream_version  bigint NOT NULL CHECK (stream_version > 0),
    type            text NOT NULL,
    schema_version  integer NOT NULL CHECK (schema_version > 0),
    data            jsonb NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_feed_idx ON events (transaction_id, position);

CREATE TABLE snapshots (
    stream_id       text NOT NULL,
    schema_version  integer NOT NULL,
    stream_type     text NOT NULL,
    stream_version  bigint NOT NULL,
    position        bigint NOT NULL,
    state           jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, schema_version)
);
