-- Half-empty pages let the per-batch update of latest_readings be HOT (its only index, the primary
-- key, holds neither time nor value). Applies to pages written from now on; no rewrite, no strong lock.
ALTER TABLE latest_readings SET (fillfactor = 50);
