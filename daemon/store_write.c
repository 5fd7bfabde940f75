/* store_write: every write of the coordinator (the single writer). Each public function is one
 * transaction, so a crash leaves either all rows of a decision or none. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/store_internal.h"
#include "worker/error.h"
#include "worker/fault.h"

static int need_run(birdie_store *s, char *err, size_t errlen)
{
    if (s->read_only || s->run_id == 0 || s->incarnation == 0)
        return birdie_fail(err, errlen, -EPERM, "the store has no run open for writing");
    return 0;
}

static void release_fault_locker(birdie_store *s)
{
    if (!s->fault_locker)
        return;
    sqlite3_exec(s->fault_locker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(s->fault_locker);
    s->fault_locker = NULL;
}

int store_busy_retry(void *store, int tries)
{
    birdie_store *s = store;
    if (s->fault_locker && tries + 1 >= s->fault_busy_tries)
        release_fault_locker(s);
    if (tries >= STORE_BUSY_TRIES)
        return 0;
    long ms = tries < 6 ? 1L << tries : 50;
    struct timespec nap = {0, ms * 1000000L};
    nanosleep(&nap, NULL);
    return 1;
}

/* Fault store_busy: another connection takes the write lock, as a backup tool or a second writer would. */
static void take_fault_locker(birdie_store *s)
{
    sqlite3 *other = NULL;
    if (sqlite3_open_v2(sqlite3_db_filename(s->db, "main"), &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        s->fault_locker = other;
        s->fault_busy_tries = birdie_fault_count(BIRDIE_FAULT_STORE_BUSY);
        return;
    }
    sqlite3_close(other);
}

static int begin(birdie_store *s, const char *what, char *err, size_t errlen)
{
    int rc = need_run(s, err, errlen);
    if (rc == 0 && birdie_fault_fire(BIRDIE_FAULT_FAIL_STORE, -1))
        return birdie_fail(err, errlen, -EIO, "%s: injected write failure (BIRDIE_FAULT fail_store)", what);
    if (rc == 0 && birdie_fault_fire(BIRDIE_FAULT_STORE_BUSY, -1))
        take_fault_locker(s);
    if (rc == 0)
        rc = store_exec(s, "BEGIN IMMEDIATE", what, err, errlen);
    release_fault_locker(s);
    return rc;
}

static int end(birdie_store *s, int rc, const char *what, char *err, size_t errlen)
{
    if (rc == 0)
        rc = store_exec(s, "COMMIT", what, err, errlen);
    if (rc)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Prepares sql and binds ?1 = run_id, ?2 = incarnation. */
static int prepare_keyed(birdie_store *s, const char *sql, sqlite3_stmt **st, const char *what, char *err,
                         size_t errlen)
{
    int rc = store_prepare(s, sql, st, what, err, errlen);
    if (rc == 0) {
        sqlite3_bind_int64(*st, 1, s->run_id);
        sqlite3_bind_int64(*st, 2, s->incarnation);
    }
    return rc;
}

static int insert_event(birdie_store *s, int64_t step, int64_t now_ms, const char *kind, const char *detail, char *err,
                        size_t errlen)
{
    sqlite3_stmt *st;
    int rc = prepare_keyed(
        s, "INSERT INTO events(run_id, incarnation, step, unix_ms, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st,
        "recording an event", err, errlen);
    if (rc)
        return rc;
    if (step >= 0)
        sqlite3_bind_int64(st, 3, step);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, now_ms);
    sqlite3_bind_text(st, 5, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, detail ? detail : "", -1, SQLITE_TRANSIENT);
    return store_step_done(s, st, "recording an event", err, errlen);
}

static int insert_mixture(birdie_store *s, const store_mixture *m, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = prepare_keyed(
        s,
        "INSERT INTO mixtures(run_id, incarnation, version, step, source, request_id, reason, created_unix_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &st, "recording the mixture", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, m->version);
    sqlite3_bind_int64(st, 4, m->step);
    sqlite3_bind_text(st, 5, m->source, -1, SQLITE_TRANSIENT);
    store_bind_text_or_null(st, 6, m->request_id);
    store_bind_text_or_null(st, 7, m->reason);
    sqlite3_bind_int64(st, 8, m->created_unix_ms);
    rc = store_step_done(s, st, "recording the mixture", err, errlen);
    for (int a = 0; rc == 0 && a < s->n_arms; a++) {
        rc = prepare_keyed(
            s,
            "INSERT INTO mixture_weights(run_id, incarnation, version, arm_index, weight) VALUES (?1, ?2, ?3, ?4, ?5)",
            &st, "recording the mixture weights", err, errlen);
        if (rc)
            break;
        sqlite3_bind_int64(st, 3, m->version);
        sqlite3_bind_int(st, 4, a);
        sqlite3_bind_double(st, 5, m->weights[a]);
        rc = store_step_done(s, st, "recording the mixture weights", err, errlen);
    }
    return rc;
}

/* Migration 0005's row beside the decision (same key): the scheduler's record and what explains it. */
static int insert_decision_detail(birdie_store *s, const store_decision *d, char *err, size_t errlen)
{
    const birdie_decision_detail *x = d->detail;
    sqlite3_stmt *st;
    int rc = prepare_keyed(s,
                           "INSERT INTO decision_details(run_id, incarnation, step, mixture_version, eval_index, kind, "
                           "explore_prob, explore_draw, fit_mse_first, fit_mse_last, fit_mse_clean, "
                           "predicted_out_score, history_len, n_candidates, record) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                           &st, "recording the decision details", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, d->step);
    sqlite3_bind_int64(st, 4, d->mixture_version);
    sqlite3_bind_int64(st, 5, x->eval_index);
    sqlite3_bind_text(st, 6, x->kind, -1, SQLITE_TRANSIENT);
    const double reals[] = {x->explore_prob, x->explore_draw,  x->fit_mse_first,
                            x->fit_mse_last, x->fit_mse_clean, x->predicted_out_score};
    for (int i = 0; i < 6; i++)
        store_bind_real(st, 7 + i, reals[i]);
    sqlite3_bind_int(st, 13, x->history_len);
    sqlite3_bind_int(st, 14, x->n_candidates);
    sqlite3_bind_blob(st, 15, x->record, (int)x->record_len, SQLITE_TRANSIENT);
    return store_step_done(s, st, "recording the decision details", err, errlen);
}

static int insert_decision(birdie_store *s, const store_decision *d, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = prepare_keyed(s,
                           "INSERT INTO decisions(run_id, incarnation, step, mixture_version, source, explore, "
                           "predicted_reward, observed_reward, fit_error, record, unix_ms) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           &st, "recording the decision", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, d->step);
    sqlite3_bind_int64(st, 4, d->mixture_version);
    sqlite3_bind_text(st, 5, d->source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, d->explore != 0);
    store_bind_real(st, 7, d->predicted_reward);
    store_bind_real(st, 8, d->observed_reward);
    store_bind_real(st, 9, d->fit_error);
    store_bind_text_or_null(st, 10, d->record);
    sqlite3_bind_int64(st, 11, d->unix_ms);
    rc = store_step_done(s, st, "recording the decision", err, errlen);
    if (rc == 0 && d->detail && d->detail->record)
        rc = insert_decision_detail(s, d, err, errlen);
    return rc;
}

/* evals (or rewards when rewards != NULL) rows of one step. */
static int insert_per_arm(birdie_store *s, int64_t step, const double *a_vals, const double *b_vals,
                          const double *rewards, char *err, size_t errlen)
{
    const char *sql =
        rewards ? "INSERT INTO rewards(run_id, incarnation, step, arm_index, reward) VALUES (?1, ?2, ?3, ?4, ?5)"
                : "INSERT INTO evals(run_id, incarnation, step, arm_index, loss_sum, tokens) VALUES (?1, ?2, ?3, ?4, "
                  "?5, ?6)";
    const char *what = rewards ? "recording rewards" : "recording evals";
    int rc = 0;
    for (int a = 0; rc == 0 && a < s->n_arms; a++) {
        sqlite3_stmt *st;
        rc = prepare_keyed(s, sql, &st, what, err, errlen);
        if (rc)
            break;
        sqlite3_bind_int64(st, 3, step);
        sqlite3_bind_int(st, 4, a);
        if (rewards) {
            store_bind_real(st, 5, rewards[a]);
        } else {
            sqlite3_bind_double(st, 5, a_vals[a]);
            sqlite3_bind_double(st, 6, b_vals[a]);
        }
        rc = store_step_done(s, st, what, err, errlen);
    }
    return rc;
}

int store_set_state(birdie_store *s, const char *state, const char *reason, int ended, int64_t step, int64_t now_ms,
                    char *err, size_t errlen)
{
    int rc = begin(s, "recording the run state", err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = prepare_keyed(s, "UPDATE runs SET state = ?3 WHERE run_id = ?1", &st, "recording the run state", err, errlen);
    if (rc == 0) {
        sqlite3_bind_text(st, 3, state, -1, SQLITE_TRANSIENT);
        rc = store_step_done(s, st, "recording the run state", err, errlen);
    }
    if (rc == 0 && ended) {
        rc = prepare_keyed(s,
                           "UPDATE incarnations SET ended_unix_ms = ?3, end_state = ?4, end_reason = ?5 "
                           "WHERE run_id = ?1 AND incarnation = ?2",
                           &st, "closing the incarnation", err, errlen);
        if (rc == 0) {
            sqlite3_bind_int64(st, 3, now_ms);
            sqlite3_bind_text(st, 4, state, -1, SQLITE_TRANSIENT);
            store_bind_text_or_null(st, 5, reason);
            rc = store_step_done(s, st, "closing the incarnation", err, errlen);
        }
    }
    if (rc == 0)
        rc = prepare_keyed(s,
                           "INSERT INTO state_changes(run_id, incarnation, step, unix_ms, state, reason) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           &st, "recording the state change", err, errlen);
    if (rc == 0) {
        sqlite3_bind_int64(st, 3, step);
        sqlite3_bind_int64(st, 4, now_ms);
        sqlite3_bind_text(st, 5, state, -1, SQLITE_TRANSIENT);
        store_bind_text_or_null(st, 6, reason);
        rc = store_step_done(s, st, "recording the state change", err, errlen);
    }
    if (rc == 0)
        rc = insert_event(s, -1, now_ms, "state", state, err, errlen);
    return end(s, rc, "recording the run state", err, errlen);
}

int store_commit_mixture(birdie_store *s, const store_mixture *m, const store_decision *d, char *err, size_t errlen)
{
    int rc = begin(s, "committing the mixture", err, errlen);
    if (rc)
        return rc;
    rc = insert_mixture(s, m, err, errlen);
    if (rc == 0 && d)
        rc = insert_decision(s, d, err, errlen);
    return end(s, rc, "committing the mixture", err, errlen);
}

int store_commit_eval(birdie_store *s, int64_t step, const double *loss_sum, const double *tokens,
                      const double *rewards, const store_mixture *m, const store_decision *d, const char *event_kind,
                      const char *event_detail, int64_t now_ms, char *err, size_t errlen)
{
    int rc = begin(s, "committing the evaluation", err, errlen);
    if (rc)
        return rc;
    rc = insert_per_arm(s, step, loss_sum, tokens, NULL, err, errlen);
    if (rc == 0 && rewards)
        rc = insert_per_arm(s, step, NULL, NULL, rewards, err, errlen);
    if (rc == 0 && m)
        rc = insert_mixture(s, m, err, errlen);
    if (rc == 0 && d)
        rc = insert_decision(s, d, err, errlen);
    if (rc == 0 && event_kind)
        rc = insert_event(s, step, now_ms, event_kind, event_detail, err, errlen);
    return end(s, rc, "committing the evaluation", err, errlen);
}

int store_record_step(birdie_store *s, int64_t step, int64_t now_ms, double loss, double lr, double grad_norm,
                      double tokens_per_s, int64_t mixture_version, char *err, size_t errlen)
{
    int rc = need_run(s, err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = prepare_keyed(s,
                       "INSERT OR IGNORE INTO steps(run_id, incarnation, step, unix_ms, loss, lr, grad_norm, "
                       "tokens_per_s, mixture_version) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                       &st, "recording a step", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, step);
    sqlite3_bind_int64(st, 4, now_ms);
    store_bind_real(st, 5, loss);
    store_bind_real(st, 6, lr);
    store_bind_real(st, 7, grad_norm);
    store_bind_real(st, 8, tokens_per_s);
    sqlite3_bind_int64(st, 9, mixture_version);
    return store_step_done(s, st, "recording a step", err, errlen);
}

int store_mark_applied(birdie_store *s, int64_t version, int64_t applied_step, char *err, size_t errlen)
{
    int rc = need_run(s, err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    /* A version restored by a resume was applied in an earlier incarnation, at the step recorded there
     * (the resumed ranks report it as in force from their first step): keep that step. */
    rc = prepare_keyed(s,
                       "UPDATE mixtures SET applied_step = COALESCE((SELECT e.applied_step FROM mixtures e WHERE "
                       "e.run_id = ?1 AND e.incarnation < ?2 AND e.version = ?3 AND e.applied_step IS NOT NULL "
                       "ORDER BY e.incarnation LIMIT 1), ?4) WHERE run_id = ?1 AND incarnation = ?2 AND version = ?3 "
                       "AND applied_step IS NULL",
                       &st, "marking the mixture applied", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 3, version);
    sqlite3_bind_int64(st, 4, applied_step);
    return store_step_done(s, st, "marking the mixture applied", err, errlen);
}

int store_record_event(birdie_store *s, int64_t step, int64_t now_ms, const char *kind, const char *detail, char *err,
                       size_t errlen)
{
    int rc = need_run(s, err, errlen);
    if (rc == 0)
        rc = insert_event(s, step, now_ms, kind, detail, err, errlen);
    return rc;
}

int store_record_checkpoint(birdie_store *s, const store_checkpoint *c, const char *event_detail, char *err,
                            size_t errlen)
{
    int rc = begin(s, "recording the checkpoint", err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = prepare_keyed(
        s,
        "INSERT OR IGNORE INTO checkpoints(run_id, incarnation, step, path, unix_ms, reported_by_rank, bytes, "
        "checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &st, "recording the checkpoint", err, errlen);
    if (rc == 0) {
        sqlite3_bind_int64(st, 3, c->step);
        sqlite3_bind_text(st, 4, c->path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, c->unix_ms);
        sqlite3_bind_int(st, 6, c->rank);
        sqlite3_bind_int64(st, 7, c->bytes);
        sqlite3_bind_text(st, 8, c->checksum, -1, SQLITE_TRANSIENT);
        rc = store_step_done(s, st, "recording the checkpoint", err, errlen);
    }
    /* A repeated report of a recorded step inserts nothing: the first report stands, no event. */
    int recorded = rc == 0 && sqlite3_changes(s->db) == 1;
    if (recorded)
        rc = insert_event(s, c->step, c->unix_ms, "checkpoint", event_detail, err, errlen);
    rc = end(s, rc, "recording the checkpoint", err, errlen);
    return rc ? rc : recorded;
}

int store_record_checkpoint_request(birdie_store *s, int64_t seq, int64_t step, const char *request_id,
                                    const char *reason, int64_t now_ms, char *err, size_t errlen)
{
    int rc = begin(s, "recording the checkpoint request", err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    rc = prepare_keyed(s,
                       "INSERT INTO checkpoint_requests(run_id, incarnation, seq, step, request_id, reason, unix_ms) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                       &st, "recording the checkpoint request", err, errlen);
    if (rc == 0) {
        sqlite3_bind_int64(st, 3, seq);
        sqlite3_bind_int64(st, 4, step);
        store_bind_text_or_null(st, 5, request_id);
        store_bind_text_or_null(st, 6, reason);
        sqlite3_bind_int64(st, 7, now_ms);
        rc = store_step_done(s, st, "recording the checkpoint request", err, errlen);
    }
    if (rc == 0)
        rc = insert_event(s, step, now_ms, "checkpoint_requested", reason, err, errlen);
    return end(s, rc, "recording the checkpoint request", err, errlen);
}
