-- Checkpoint files checked against the sha256 their trainer recorded (docs/checkpoints.md):
-- the outcome of the last check and the file as it was then (size, mtime in nanoseconds,
-- inode), so that a file unchanged since is not hashed again before every download.
-- corrupt = 1: the file, as it was then, did not hash to sha256; verified_sha256 is what it
-- hashed to. Rows from before this have never been checked (NULLs, corrupt 0).
ALTER TABLE checkpoints ADD COLUMN corrupt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN verified_sha256 TEXT;
ALTER TABLE checkpoints ADD COLUMN verified_bytes INTEGER;
ALTER TABLE checkpoints ADD COLUMN verified_mtime_ns INTEGER;
ALTER TABLE checkpoints ADD COLUMN verified_inode INTEGER;
