-- 0004: every change of a run's state with its reason: the run starting and running, an operator's
-- pause, resume and stop (with the reason the operator gave), the run finishing, being stopped or
-- failing (with why). runs.state holds only the newest state and events only its name, so a pause
-- and why it happened were lost once the run resumed.
-- step: the newest step any rank had reported when the state changed; NULL on rows carried over
-- from the events of a database older than this migration, whose reasons were not recorded.
CREATE TABLE state_changes (
  change_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id       INTEGER NOT NULL,
  incarnation  INTEGER NOT NULL,
  step         INTEGER CHECK (step >= 0),
  unix_ms      INTEGER NOT NULL,
  state        TEXT NOT NULL
               CHECK (state IN ('starting', 'running', 'paused', 'stopping', 'finished', 'failed', 'stopped')),
  reason       TEXT,
  FOREIGN KEY (run_id, incarnation) REFERENCES incarnations(run_id, incarnation)
);

INSERT INTO state_changes(run_id, incarnation, step, unix_ms, state, reason)
  SELECT run_id, incarnation, NULL, unix_ms, detail, NULL FROM events
  WHERE kind = 'state'
    AND detail IN ('starting', 'running', 'paused', 'stopping', 'finished', 'failed', 'stopped')
  ORDER BY event_id;

CREATE INDEX state_changes_by_run ON state_changes(run_id, incarnation, step);
