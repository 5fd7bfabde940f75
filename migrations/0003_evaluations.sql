-- 0003: results of trained models, written by `birdied eval` and `birdied finetune` (processes of
-- their own, beside or after the coordinator: SQLite's locks keep the writes apart). A run here is a
-- row of runs found by name, or created with no arms and no incarnation when the name is new; a
-- training run that later takes the name records its arms then (store_begin_run).
-- Both tables only grow: a repeated evaluation is a new measurement with its own time.

-- One `birdied eval` invocation: which checkpoint, and the seed that fixed its evaluation sets.
CREATE TABLE model_evaluations (
  evaluation_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id           INTEGER NOT NULL REFERENCES runs(run_id),
  checkpoint       TEXT NOT NULL,
  step             INTEGER NOT NULL CHECK (step >= 0),
  seed             INTEGER NOT NULL,
  created_unix_ms  INTEGER NOT NULL
);

-- One metric of one task of an evaluation. k and entries are the phonebook's (NULL for the other
-- tasks), context_len and span_len the infilling's; items counts what the metric is a mean over
-- (phonebook and infilling items, bits/char documents). value NULL: not a number (no items).
CREATE TABLE model_eval_results (
  evaluation_id  INTEGER NOT NULL REFERENCES model_evaluations(evaluation_id),
  task           TEXT NOT NULL CHECK (length(task) > 0),
  k              INTEGER CHECK (k >= 1),
  entries        INTEGER CHECK (entries >= 1),
  context_len    INTEGER CHECK (context_len >= 1),
  span_len       INTEGER CHECK (span_len >= 1),
  items          INTEGER NOT NULL CHECK (items >= 0),
  metric         TEXT NOT NULL CHECK (length(metric) > 0),
  value          REAL
);

-- One point of a fine-tuning curve: after `step` fine-tuning steps at learning rate lr from the
-- pre-trained checkpoint of source_step, the task measured on `items` items of K names. The reals
-- may be NULL (not measured at that point).
CREATE TABLE finetune_points (
  point_id         INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id           INTEGER NOT NULL REFERENCES runs(run_id),
  task             TEXT NOT NULL CHECK (length(task) > 0),
  source_step      INTEGER NOT NULL CHECK (source_step >= 0),
  lr               REAL NOT NULL CHECK (lr >= 0),
  step             INTEGER NOT NULL CHECK (step >= 0),
  k                INTEGER NOT NULL CHECK (k >= 1),
  items            INTEGER NOT NULL CHECK (items >= 0),
  digit_accuracy   REAL,
  exact_rate       REAL,
  answer_loss      REAL,
  train_loss       REAL,
  created_unix_ms  INTEGER NOT NULL
);

CREATE INDEX model_evaluations_by_step ON model_evaluations(run_id, step);
CREATE INDEX model_eval_results_by_evaluation ON model_eval_results(evaluation_id);
CREATE INDEX finetune_points_by_curve ON finetune_points(run_id, task, source_step, lr, k, step);
