-- Tag locks taken while a statement's parameters are bound (issue 17, the conditional append's cost).
--
-- A conditional append must check its condition in a snapshot taken after it holds the tag locks
-- (functions/eventstore_lock_tags.sql says why). A statement's snapshot is taken when it starts to
-- execute, so a lock taken inside the statement comes too late for a check in the same statement;
-- until now the check ran in a VOLATILE PL/pgSQL function (a new snapshot), ~100 µs of server CPU.
--
-- A parameter of one of these types is converted by the type's input function when the client
-- binds the statement (the extended protocol's Bind), and a domain's input checks its CHECK
-- constraint: the constraint below takes the advisory lock of the tag (class 0x5E5E0005, key
-- hashtext(tag), as eventstore_lock_tags). Bind comes before Execute, which takes the statement's
-- snapshot (READ COMMITTED: a new one per statement), in the same transaction. So the statement
-- that carries the tag as `$n::eventstore_tag_exclusive` holds the lock before its snapshot
-- exists, and may check its condition in plain SQL (sensorhub/eventstore/postgres.py,
-- _APPEND_ONE_TAG*). Rules for using them:
--
-- * Only as the type of a parameter (`$n::eventstore_tag_shared`, every use of $n cast the same
--   way). Never cast a value to them inside a statement (`$n::text::eventstore_tag_shared`, a
--   literal): that conversion runs when the expression is evaluated or planned — after the
--   snapshot, or once for a cached plan — not at every Bind.
-- * Never as a column's type: the lock would be taken whenever a value is checked.
-- * NULL takes no lock.
CREATE DOMAIN eventstore_tag_shared AS text
    CHECK (VALUE IS NULL OR pg_advisory_xact_lock_shared(1583218693, hashtext(VALUE)) IS NOT NULL);

CREATE DOMAIN eventstore_tag_exclusive AS text
    CHECK (VALUE IS NULL OR pg_advisory_xact_lock(1583218693, hashtext(VALUE)) IS NOT NULL);

-- Several tags at once, each locked once, in key order (eventstore_lock_tags): element 1 is the
-- tag to lock exclusively (NULL: none), the others are locked shared (element 1 exclusively if it
-- is among them too).
CREATE DOMAIN eventstore_tag_locks AS text[]
    CHECK (VALUE IS NULL OR eventstore_lock_tags(array_remove(VALUE[1:1], NULL), VALUE[2:]) IS NOT NULL);

-- The shape of a rename (the event carries the old and the new name's tag, the condition is on
-- the new one) without a PL/pgSQL call: element 1 locked exclusively, element 2 shared (two
-- different tags, neither NULL), in key order (CASE fixes the order of evaluation).
CREATE DOMAIN eventstore_tag_pair AS text[]
    CHECK (VALUE IS NULL OR CASE
        WHEN hashtext(VALUE[1]) <= hashtext(VALUE[2]) THEN
            CASE WHEN pg_advisory_xact_lock(1583218693, hashtext(VALUE[1])) IS NULL THEN false
                 ELSE pg_advisory_xact_lock_shared(1583218693, hashtext(VALUE[2])) IS NOT NULL END
        ELSE
            CASE WHEN pg_advisory_xact_lock_shared(1583218693, hashtext(VALUE[2])) IS NULL THEN false
                 ELSE pg_advisory_xact_lock(1583218693, hashtext(VALUE[1])) IS NOT NULL END
        END);
