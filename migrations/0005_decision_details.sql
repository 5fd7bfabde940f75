-- 0005: what explains a scheduler decision (`birdiectl explain`, docs/plot-and-explain.md), beside its row
-- in decisions (same key). Written in the decision's transaction when the reward-driven scheduler
-- made it; operator decisions and decisions of a fixed mixture have none.
-- record is the whole decision as bytes (daemon/scheduler/record_io.c: the inputs, per-arm losses,
-- rewards and predictions, the fit errors, the exploration draw, the top candidates and the chosen
-- mixture, all doubles bit-exact), so `explain --replay` can recompute the decision from a
-- checkpoint's scheduler state and compare bit for bit. The columns repeat its scalars for SQL.
CREATE TABLE decision_details (
  run_id               INTEGER NOT NULL,
  incarnation          INTEGER NOT NULL,
  step                 INTEGER NOT NULL,
  mixture_version      INTEGER NOT NULL,
  eval_index           INTEGER NOT NULL CHECK (eval_index >= 0),  -- the scheduler's count of evaluations before it
  kind                 TEXT NOT NULL CHECK (kind IN ('initial', 'warmup', 'explore', 'exploit')),
  explore_prob         REAL,     -- E(step); NULL when no choice was made (initial, warmup)
  explore_draw         REAL,     -- u; exploring iff u < E
  fit_mse_first        REAL,     -- reward model fit: MSE of the first and last iteration (noisy inputs)
  fit_mse_last         REAL,
  fit_mse_clean        REAL,     -- MSE on the noise-free history after the fit (decisions.fit_error)
  predicted_out_score  REAL,     -- the model's class-weighted reward of the chosen mixture
  history_len          INTEGER NOT NULL CHECK (history_len >= 0),
  n_candidates         INTEGER NOT NULL CHECK (n_candidates >= 0),
  record               BLOB NOT NULL,
  PRIMARY KEY (run_id, incarnation, step, mixture_version),
  FOREIGN KEY (run_id, incarnation, step, mixture_version)
    REFERENCES decisions(run_id, incarnation, step, mixture_version)
);

CREATE INDEX decision_details_by_eval ON decision_details(run_id, eval_index);
