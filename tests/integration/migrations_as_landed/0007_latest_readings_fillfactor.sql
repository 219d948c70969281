-- latest_readings is rewritten by every ingest batch (one row per series it carries). Its only
-- index is the primary key, and `time`/`value` are not in it, so the update can be a HOT update
-- (no new index entry, less WAL, no index bloat) whenever the row's page has room for the new
-- version. At the default fillfactor (100) pages are full and most updates were not HOT (17 % in
-- the benchmark); leaving half of each page free lets page pruning keep room for them.
-- Applies to pages written from now on; no table rewrite, no strong lock.
ALTER TABLE latest_readings SET (fillfactor = 50);
