-- A trainer killed by a signal nobody asked for (kill -9, the OOM killer) is restarted from
-- its last checkpoint: restarts counts the restarts since the job last checkpointed past the
-- step it was killed at (killed_at_step), and restart_after (unix seconds) holds the queued
-- job back for its backoff.
ALTER TABLE jobs ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN killed_at_step INTEGER;
ALTER TABLE jobs ADD COLUMN restart_after REAL;
