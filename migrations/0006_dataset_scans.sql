-- Registration off the request path (issue 26): a dataset is recorded as 'scanning' at once and
-- a simmim-data child counts it; then 'ready' with its counts, or 'failed' with the reason
-- (error). scanned: images or samples the scan has found so far (its running count, then the
-- total). A daemon that starts with a dataset still 'scanning' scans it again.
-- Tar shards: format 'shards', with the globs of their training and test shards (test_glob
-- NULL: the training shards' held-out 2%), the number of shards each matched, and the samples
-- the scan found bad. bytes: the dataset's files on disk; skipped: files left out because
-- they resolve outside the data roots.
-- The format's CHECK gains 'shards', and SQLite cannot alter a CHECK: the table is rebuilt,
-- its rows kept ('ready', as they were registered whole).
CREATE TABLE datasets_new (
    name          TEXT PRIMARY KEY,
    format        TEXT NOT NULL CHECK (format IN ('idx', 'imagefolder', 'shards')),
    path          TEXT NOT NULL,
    train_count   INTEGER NOT NULL,
    test_count    INTEGER NOT NULL,
    num_classes   INTEGER NOT NULL,
    channels      INTEGER NOT NULL,
    image_size    INTEGER NOT NULL,
    sample_path   TEXT NOT NULL,
    created_at    REAL NOT NULL,
    min_width     INTEGER,
    min_height    INTEGER,
    max_width     INTEGER,
    max_height    INTEGER,
    common_width  INTEGER,
    common_height INTEGER,
    sample_labels TEXT,
    state         TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('scanning', 'ready', 'failed')),
    error         TEXT,
    scanned       INTEGER NOT NULL DEFAULT 0,
    train_glob    TEXT,
    test_glob     TEXT,
    train_shards  INTEGER,
    test_shards   INTEGER,
    bad_samples   INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER,
    skipped       INTEGER NOT NULL DEFAULT 0,
    scanned_at    REAL
);
INSERT INTO datasets_new (name, format, path, train_count, test_count, num_classes, channels,
                          image_size, sample_path, created_at, min_width, min_height, max_width,
                          max_height, common_width, common_height, sample_labels, scanned)
    SELECT name, format, path, train_count, test_count, num_classes, channels, image_size,
           sample_path, created_at, min_width, min_height, max_width, max_height, common_width,
           common_height, sample_labels, train_count + test_count
    FROM datasets;
DROP TABLE datasets;
ALTER TABLE datasets_new RENAME TO datasets;
-- The scheduler skips a queued job whose dataset is not ready yet.
CREATE INDEX datasets_state ON datasets (state);
