-- simmimd's first schema: jobs (the queue and each job's latest progress), the metrics,
-- checkpoints and previews their trainers report, and the registered datasets.
-- Times are unix seconds (REAL). Paths of checkpoints and previews are relative to the
-- job's run dir; ids are never reused (AUTOINCREMENT), since URLs and run dirs name them.

CREATE TABLE datasets (
    name        TEXT PRIMARY KEY,
    format      TEXT NOT NULL CHECK (format IN ('idx', 'imagefolder')),
    path        TEXT NOT NULL,
    train_count INTEGER NOT NULL,
    test_count  INTEGER NOT NULL,
    num_classes INTEGER NOT NULL,
    channels    INTEGER NOT NULL,
    image_size  INTEGER NOT NULL,
    sample_path TEXT NOT NULL,
    created_at  REAL NOT NULL
);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL CHECK (kind IN ('pretrain', 'finetune')),
    state       TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
    priority    INTEGER NOT NULL DEFAULT 0,
    dataset     TEXT,                       -- a datasets.name (kept when the dataset goes)
    init_checkpoint_id INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL,
    api_spec    TEXT NOT NULL,              -- the spec as submitted (API form)
    child_spec  TEXT NOT NULL,              -- the spec handed to simmim-train (file form)
    run_dir     TEXT,
    resume      INTEGER NOT NULL DEFAULT 0, -- 1: start simmim-train with --resume
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    -- progress and the latest metrics, from the trainer's events
    step        INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER,
    epoch       REAL,
    eta_s       REAL,
    loss        REAL,
    lr          REAL,
    img_per_s   REAL,
    val_loss    REAL,
    top1        REAL,
    error       TEXT,
    exit_status INTEGER
);
-- The scheduler: the queued job of highest priority, then the oldest.
CREATE INDEX jobs_queue ON jobs (state, priority DESC, created_at, id);
-- Deleting a dataset: is a live job using it?
CREATE INDEX jobs_dataset ON jobs (dataset, state);
-- Deleting a checkpoint (with its job): the jobs that started from it.
CREATE INDEX jobs_init_checkpoint ON jobs (init_checkpoint_id);

-- One row per (job, kind, step): re-ingesting a run's events.jsonl adds nothing twice.
CREATE TABLE metrics (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('progress', 'eval')),
    step        INTEGER NOT NULL,
    epoch       REAL,
    loss        REAL,
    lr          REAL,
    grad_norm   REAL,
    img_per_s   REAL,
    val_loss    REAL,
    top1        REAL,
    t           REAL NOT NULL,
    UNIQUE (job_id, kind, step)
);
CREATE INDEX metrics_job_step ON metrics (job_id, step);

CREATE TABLE checkpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    path        TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0, -- the trainer removed it (keep_checkpoints)
    UNIQUE (job_id, step)
);

CREATE TABLE previews (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    path        TEXT NOT NULL,
    t           REAL NOT NULL,
    UNIQUE (job_id, step)
);
