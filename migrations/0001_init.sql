-- 0001: the coordinator store (docs/design.md §5). Only the coordinator thread writes.
-- Keys include (run_id, incarnation, step) so steps replayed after a resume are kept and labelled.
-- Arms are referred to by their index in the run's arm list (table arms).

CREATE TABLE runs (
  run_id           INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  created_unix_ms  INTEGER NOT NULL,
  world_size       INTEGER NOT NULL CHECK (world_size > 0),
  state            TEXT NOT NULL DEFAULT 'starting'
);

CREATE TABLE arms (
  run_id     INTEGER NOT NULL REFERENCES runs(run_id),
  arm_index  INTEGER NOT NULL CHECK (arm_index >= 0),
  name       TEXT NOT NULL,
  class      TEXT NOT NULL,
  PRIMARY KEY (run_id, arm_index),
  UNIQUE (run_id, name)
);

CREATE TABLE incarnations (
  run_id           INTEGER NOT NULL REFERENCES runs(run_id),
  incarnation      INTEGER NOT NULL CHECK (incarnation >= 1),
  started_unix_ms  INTEGER NOT NULL,
  ended_unix_ms    INTEGER,
  end_state        TEXT,
  end_reason       TEXT,
  world_size       INTEGER NOT NULL,
  PRIMARY KEY (run_id, incarnation)
);

CREATE TABLE steps (
  run_id           INTEGER NOT NULL,
  incarnation      INTEGER NOT NULL,
  step             INTEGER NOT NULL,
  unix_ms          INTEGER NOT NULL,
  loss             REAL,
  lr               REAL,
  grad_norm        REAL,
  tokens_per_s     REAL,
  mixture_version  INTEGER NOT NULL,
  PRIMARY KEY (run_id, incarnation, step),
  FOREIGN KEY (run_id, incarnation) REFERENCES incarnations(run_id, incarnation)
);

CREATE TABLE evals (
  run_id       INTEGER NOT NULL,
  incarnation  INTEGER NOT NULL,
  step         INTEGER NOT NULL,
  arm_index    INTEGER NOT NULL,
  loss_sum     REAL NOT NULL,
  tokens       REAL NOT NULL,
  PRIMARY KEY (run_id, incarnation, step, arm_index),
  FOREIGN KEY (run_id, incarnation) REFERENCES incarnations(run_id, incarnation),
  FOREIGN KEY (run_id, arm_index) REFERENCES arms(run_id, arm_index)
);

CREATE TABLE rewards (
  run_id       INTEGER NOT NULL,
  incarnation  INTEGER NOT NULL,
  step         INTEGER NOT NULL,
  arm_index    INTEGER NOT NULL,
  reward       REAL,
  PRIMARY KEY (run_id, incarnation, step, arm_index),
  FOREIGN KEY (run_id, incarnation) REFERENCES incarnations(run_id, incarnation),
  FOREIGN KEY (run_id, arm_index) REFERENCES arms(run_id, arm_index)
);

CREATE TABLE mixtures (
  run_id           INTEGER NOT NULL,
  incarnation      INTEGER NOT NULL,
  version          INTEGER NOT NULL CHECK (version >= 0),
  step             INTEGER NOT NULL,
  source           TEXT NOT NULL CHECK (source IN ('config', 'scheduler', 'operator')),
  request_id       TEXT,
  reason           TEXT,
  created_unix_ms  INTEGER NOT NULL,
  applied_step     INTEGER,
  PRIMARY KEY (run_id, incarnation, version),
  UNIQUE (run_id, request_id),
  FOREIGN KEY (run_id, incarnation) REFERENCES incarnations(run_id, incarnation)
);

CREATE TABLE mixture_weights (
  run_id       INTEGER NOT NULL,
  incarnation  INTEGER NOT NULL,
  version      INTEGER NOT NULL,
  arm_index    INTEGER NOT NULL,
  weight       REAL NOT NULL CHECK (weight >= 0),
  PRIMARY KEY (run_id, incarnation, version, arm_index),
  FOREIGN KEY (run_id, incarnation, version) REFERENCES mixtures(run_id, incarnation, version),
  FOREIGN KEY (run_id, arm_index) REFERENCES arms(run_id, arm_index)
);

-- A scheduler decision that keeps the mixture refers to the version in force, so the key has the step.
CREATE TABLE decisions (
  run_id            INTEGER NOT NULL,
  incarnation       INTEGER NOT NULL,
  step              INTEGER NOT NULL,
  mixture_version   INTEGER NOT NULL,
  source            TEXT NOT NULL,
  explore           INTEGER NOT NULL DEFAULT 0,
  predicted_reward  REAL,
  observed_reward   REAL,
  fit_error         REAL,
  record            TEXT,
  unix_ms           INTEGER NOT NULL,
  PRIMARY KEY (run_id, incarnation, step, mixture_version),
  FOREIGN KEY (run_id, incarnation, mixture_version) REFERENCES mixtures(run_id, incarnation, version)
);

CREATE TABLE checkpoints (
  run_id           INTEGER NOT NULL,
  incarnation      INTEGER NOT NULL,
  step             INTEGER NOT NULL,
  path             TEXT NOT NULL,
  manifest_sha256  TEXT,
  unix_ms          INTEGER NOT NULL,
  PRIMARY KEY (run_id, incarnation, step),
  FOREIGN KEY (run_id, incarnation) REFERENCES incarnations(run_id, incarnation)
);

CREATE TABLE events (
  event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id       INTEGER NOT NULL REFERENCES runs(run_id),
  incarnation  INTEGER NOT NULL,
  step         INTEGER,
  unix_ms      INTEGER NOT NULL,
  kind         TEXT NOT NULL,
  detail       TEXT NOT NULL DEFAULT ''
);

CREATE INDEX evals_by_step ON evals(run_id, step);
CREATE INDEX mixtures_by_step ON mixtures(run_id, step);
CREATE INDEX events_by_run ON events(run_id, incarnation, step);
