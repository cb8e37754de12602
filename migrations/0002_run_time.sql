-- A job's duration is the time it has spent running: run_s sums the intervals that have
-- ended, running_since starts the current one (NULL unless running). Rows from before this
-- only know started_at; their past is taken as one interval from started_at to their end
-- (finished_at, or the last event heard from them), the most those rows can tell.
ALTER TABLE jobs ADD COLUMN run_s REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN running_since REAL;
UPDATE jobs SET running_since = started_at WHERE state = 'running';
UPDATE jobs SET run_s = MAX(0, COALESCE(finished_at,
                                        (SELECT MAX(t) FROM metrics WHERE metrics.job_id = jobs.id),
                                        started_at) - started_at)
 WHERE state <> 'running' AND started_at IS NOT NULL;
