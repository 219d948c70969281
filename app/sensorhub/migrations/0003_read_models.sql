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

-- Generation 1 of each projection (the rm_* functions are in functions/rm_*.sql).
INSERT INTO projections (name) VALUES ('registry'), ('alert_history');
SELECT rm_create_generation('registry', 1), rm_use_generation('registry', 1);
SELECT rm_create_generation('alert_history', 1), rm_use_generation('alert_history', 1);
