-- 0002: checkpoints as ranks report them (Coordinator.ReportCheckpoint) and operator checkpoint
-- requests (Control.Checkpoint). 0001's checkpoints table keeps its key (run_id, incarnation, step);
-- the columns added here are NULL on rows written before this migration.

ALTER TABLE checkpoints ADD COLUMN reported_by_rank INTEGER;
ALTER TABLE checkpoints ADD COLUMN bytes INTEGER CHECK (bytes >= 0);
-- FNV-1a-64 of every byte of the file before its 8-byte trailer (the trailer holds this sum;
-- worker/checkpoint.h), 16 lowercase hex digits.
ALTER TABLE checkpoints ADD COLUMN checksum TEXT CHECK (length(checksum) = 16);

-- seq counts the requests of one incarnation from 1 (what WorkerDirective.checkpoint_seq carries).
-- request_id makes an operator's retry return the first answer, as for mixtures.
CREATE TABLE checkpoint_requests (
  run_id       INTEGER NOT NULL,
  incarnation  INTEGER NOT NULL,
  seq          INTEGER NOT NULL CHECK (seq >= 1),
  step         INTEGER NOT NULL,
  request_id   TEXT,
  reason       TEXT,
  unix_ms      INTEGER NOT NULL,
  PRIMARY KEY (run_id, incarnation, seq),
  UNIQUE (run_id, request_id),
  FOREIGN KEY (run_id, incarnation) REFERENCES incarnations(run_id, incarnation)
);

CREATE INDEX checkpoints_by_step ON checkpoints(run_id, step);
