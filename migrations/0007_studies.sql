-- Study jobs (issue 27): one request runs a grid of pretraining → fine-tuning experiments.
-- A study keeps its request as read (axes after its preset, seeds, cells: one {field: value}
-- object per cell, the study's own pretraining and fine-tuning specs as given) and what it
-- lets its children do (control: active, paused, cancelled). Its runs are the jobs it submits:
-- a pretraining per distinct effective spec and seed, a fine-tuning per cell and seed (with
-- pretrain_run, the run whose job it starts from), a baseline per seed. spec is the API-form
-- spec a run is submitted with (a fine-tuning's without init_from). job_id is set in the same
-- transaction as its job is stored, and kept when that job is deleted (no foreign key: a run
-- is never submitted twice); error says why a run could not be submitted.
-- A job names its study (study_id), and keeps the parameter count of its start event (params).
CREATE TABLE studies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    preset      TEXT,
    axes        TEXT NOT NULL,
    seeds       TEXT NOT NULL,
    baseline    INTEGER NOT NULL,
    cells       TEXT NOT NULL,
    pretrain    TEXT NOT NULL,
    finetune    TEXT NOT NULL,
    control     TEXT NOT NULL DEFAULT 'active' CHECK (control IN ('active', 'paused', 'cancelled')),
    created_at  REAL NOT NULL
);

CREATE TABLE study_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id     INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('pretrain', 'finetune', 'baseline')),
    cell         INTEGER NOT NULL,   -- -1 for a baseline
    seed         INTEGER NOT NULL,   -- index into the study's seeds
    pretrain_run INTEGER REFERENCES study_runs(id) ON DELETE CASCADE,
    spec         TEXT NOT NULL,
    job_id       INTEGER,
    error        TEXT
);
CREATE INDEX study_runs_study ON study_runs (study_id, id);
CREATE INDEX study_runs_job ON study_runs (job_id);

ALTER TABLE jobs ADD COLUMN study_id INTEGER REFERENCES studies(id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN params INTEGER;
