-- Linear probes in studies (issue 27): a study may probe each of its pretrainings with a
-- linear classifier (its linprobe spec as given, NULL: none), a run of role 'linprobe' whose
-- job starts from its pretraining's checkpoint (pretrain_run) once that succeeds.
-- The role's CHECK gains 'linprobe', edited in the schema's text as migration 0008 edits the
-- jobs' kind (a CHECK that admits one more value changes nothing stored); the ALTER after the
-- RESET changes the schema cookie, so that other connections read the edited schema too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (role IN (''pretrain'', ''finetune'', ''baseline''))',
                          'CHECK (role IN (''pretrain'', ''finetune'', ''baseline'', ''linprobe''))')
 WHERE type = 'table' AND name = 'study_runs';
PRAGMA writable_schema = RESET;
ALTER TABLE studies ADD COLUMN linprobe TEXT;
