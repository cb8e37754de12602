-- Representation probes (issue 27): a job may be a linear probe (kind 'linprobe'), and a
-- pretraining's evaluations carry the k-nearest-neighbour top-1 of its encoder (knn_top1), in
-- the metrics series and as the job's latest.
-- The kind's CHECK gains 'linprobe'. SQLite cannot alter a CHECK, and rebuilding jobs inside
-- this transaction would cascade its deletion into metrics, checkpoints and previews (the
-- foreign_keys pragma cannot be turned off in a transaction); a CHECK that admits one more
-- value changes nothing stored, which SQLite lets the schema's text be edited for
-- (sqlite.org/lang_altertable.html, "making other kinds of table schema changes"). The RESET
-- makes this connection read the edited schema; the ALTERs after it change the schema cookie,
-- so that other connections read it again too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (kind IN (''pretrain'', ''finetune''))',
                          'CHECK (kind IN (''pretrain'', ''finetune'', ''linprobe''))')
 WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = RESET;
ALTER TABLE metrics ADD COLUMN knn_top1 REAL;
ALTER TABLE jobs ADD COLUMN knn_top1 REAL;
