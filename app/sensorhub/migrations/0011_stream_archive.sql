-- Stream archiving (docs/eventstore.md, "Archiving streams"): the events of a closed stream (a
-- resolved alert older than SENSORHUB_ALERT_ARCHIVE_AFTER_DAYS) move, as stored, from the hot
-- `events` table to the cold `events_archive` table; `archived_streams` is the tombstone.
--
-- Same columns and values as `events` (position and transaction id included, so the feed and a
-- rebuild read hot ∪ cold in the same order as before); fewer indexes: no event id index (an
-- archived event is never a replay candidate) and no identity (positions come from `events`).
CREATE TABLE events_archive (
    position        bigint PRIMARY KEY,
    transaction_id  xid8 NOT NULL,
    event_id        uuid NOT NULL,
    stream_id       text NOT NULL,
    stream_version  bigint NOT NULL,
    type            text NOT NULL,
    schema_version  integer NOT NULL,
    data            jsonb NOT NULL,
    metadata        jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX events_archive_stream_idx ON events_archive (stream_id, stream_version);
CREATE INDEX events_archive_feed_idx ON events_archive (transaction_id, position);

CREATE TABLE archived_streams (
    stream_id      text PRIMARY KEY,
    stream_type    text NOT NULL,
    last_version   bigint NOT NULL,
    last_position  bigint NOT NULL,
    event_count    bigint NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now()
);

-- The guard against appends to an archived stream, without touching the append functions: they
-- claim versions with `UPDATE streams SET version = version + n`, which this CHECK refuses while
-- `archived_version` is set (SQLSTATE 23514, constraint streams_archived_is_closed → StreamArchived).
-- A nullable column without default is a catalog-only change; the CHECK holds for every row (NULL).
ALTER TABLE streams ADD COLUMN archived_version bigint;
ALTER TABLE streams ADD CONSTRAINT streams_archived_is_closed
    CHECK (archived_version IS NULL OR version = archived_version);
