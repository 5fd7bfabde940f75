/* store_eval: evaluations of checkpoints and fine-tuning curve points (store_eval.h): their writes,
 * the run they belong to found or created by name, and their rows of the history. Not here: the
 * coordinator's writes (store_write.c) or the rest of the history (store_read.c). */
#include "daemon/store_eval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/store_internal.h"
#include "worker/error.h"

/* Wall-clock time, what created_unix_ms means everywhere in the store. */
static int64_t now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The run named `run`, created when missing: world_size 1 and state 'created' say that no training
 * process started it (a training run that takes the name later sets both). Inside the caller's
 * transaction. */
static int run_by_name(birdie_store *s, const char *run, int64_t now_ms, int64_t *run_id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, "SELECT run_id FROM runs WHERE name = ?", &st, "finding the run", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *run_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (step == SQLITE_ROW)
        return 0;
    if (step != SQLITE_DONE)
        return birdie_fail(err, errlen, -EIO, "finding the run: %s", sqlite3_errmsg(s->db));
    rc = store_prepare(s, "INSERT INTO runs(name, created_unix_ms, world_size, state) VALUES (?, ?, 1, 'created')", &st,
                       "creating the run", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = store_step_done(s, st, "creating the run", err, errlen);
    if (rc == 0)
        *run_id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static int need_writer(birdie_store *s, const char *run, char *err, size_t errlen)
{
    if (s->read_only)
        return birdie_fail(err, errlen, -EPERM, "the database is open read-only");
    if (!run || !*run)
        return birdie_fail(err, errlen, -EINVAL, "no run name");
    return 0;
}

/* Binds v, or NULL when it is 0 (a field that does not apply to the task). */
static void bind_int_or_null(sqlite3_stmt *st, int idx, int v)
{
    if (v)
        sqlite3_bind_int(st, idx, v);
    else
        sqlite3_bind_null(st, idx);
}

static int check_result(const birdie_store_eval_result *r, int i, char *err, size_t errlen)
{
    if (!r->task || !*r->task || !r->metric || !*r->metric)
        return birdie_fail(err, errlen, -EINVAL, "evaluation result %d: no task or metric name", i);
    if (r->k < 0 || r->entries < 0 || r->context_len < 0 || r->span_len < 0 || r->items < 0)
        return birdie_fail(err, errlen, -EINVAL,
                           "evaluation result %d (%s %s): k %d, entries %d, context %d, span %d and items %d must not "
                           "be negative",
                           i, r->task, r->metric, r->k, r->entries, r->context_len, r->span_len, r->items);
    return 0;
}

static int insert_results(birdie_store *s, int64_t evaluation_id, const birdie_store_eval *e, char *err, size_t errlen)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < e->n_results; i++) {
        const birdie_store_eval_result *r = &e->results[i];
        sqlite3_stmt *st;
        rc = store_prepare(s,
                           "INSERT INTO model_eval_results(evaluation_id, task, k, entries, context_len, span_len, "
                           "items, metric, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           &st, "recording an evaluation result", err, errlen);
        if (rc)
            break;
        sqlite3_bind_int64(st, 1, evaluation_id);
        sqlite3_bind_text(st, 2, r->task, -1, SQLITE_TRANSIENT);
        bind_int_or_null(st, 3, r->k);
        bind_int_or_null(st, 4, r->entries);
        bind_int_or_null(st, 5, r->context_len);
        bind_int_or_null(st, 6, r->span_len);
        sqlite3_bind_int(st, 7, r->items);
        sqlite3_bind_text(st, 8, r->metric, -1, SQLITE_TRANSIENT);
        store_bind_real(st, 9, r->value);
        rc = store_step_done(s, st, "recording an evaluation result", err, errlen);
    }
    return rc;
}

int birdie_store_record_eval(birdie_store *s, const char *run, const birdie_store_eval *e, char *err, size_t errlen)
{
    int rc = need_writer(s, run, err, errlen);
    if (rc)
        return rc;
    if (!e->checkpoint || !*e->checkpoint || e->step < 0 || e->n_results < 0 || (e->n_results > 0 && !e->results))
        return birdie_fail(err, errlen, -EINVAL, "an evaluation needs a checkpoint path, a step >= 0 and its results");
    for (int i = 0; i < e->n_results; i++)
        if ((rc = check_result(&e->results[i], i, err, errlen)) < 0)
            return rc;
    int64_t now_ms = now_unix_ms(), run_id = 0;
    if ((rc = store_exec(s, "BEGIN IMMEDIATE", "recording an evaluation", err, errlen)) < 0)
        return rc;
    rc = run_by_name(s, run, now_ms, &run_id, err, errlen);
    sqlite3_stmt *st;
    if (rc == 0)
        rc = store_prepare(s,
                           "INSERT INTO model_evaluations(run_id, checkpoint, step, seed, created_unix_ms) "
                           "VALUES (?, ?, ?, ?, ?)",
                           &st, "recording an evaluation", err, errlen);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, e->checkpoint, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, e->step);
        sqlite3_bind_int64(st, 4, (int64_t)e->seed);
        sqlite3_bind_int64(st, 5, now_ms);
        rc = store_step_done(s, st, "recording an evaluation", err, errlen);
    }
    if (rc == 0)
        rc = insert_results(s, sqlite3_last_insert_rowid(s->db), e, err, errlen);
    if (rc == 0)
        rc = store_exec(s, "COMMIT", "recording an evaluation", err, errlen);
    if (rc)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int birdie_store_record_finetune_point(birdie_store *s, const char *run, const birdie_store_finetune_point *p,
                                       char *err, size_t errlen)
{
    int rc = need_writer(s, run, err, errlen);
    if (rc)
        return rc;
    if (!p->task || !*p->task)
        return birdie_fail(err, errlen, -EINVAL, "a fine-tuning point needs a task name");
    if (p->source_step < 0 || p->step < 0 || p->k < 1 || p->items < 0 || !isfinite(p->lr) || p->lr < 0)
        return birdie_fail(err, errlen, -EINVAL,
                           "fine-tuning point (%s): source step %lld and step %lld must be >= 0, k %d >= 1, items %d "
                           ">= 0, lr %g finite and >= 0",
                           p->task, (long long)p->source_step, (long long)p->step, p->k, p->items, p->lr);
    int64_t now_ms = now_unix_ms(), run_id = 0;
    if ((rc = store_exec(s, "BEGIN IMMEDIATE", "recording a fine-tuning point", err, errlen)) < 0)
        return rc;
    rc = run_by_name(s, run, now_ms, &run_id, err, errlen);
    sqlite3_stmt *st;
    if (rc == 0)
        rc = store_prepare(s,
                           "INSERT INTO finetune_points(run_id, task, source_step, lr, step, k, items, digit_accuracy, "
                           "exact_rate, answer_loss, train_loss, created_unix_ms) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           &st, "recording a fine-tuning point", err, errlen);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, p->task, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, p->source_step);
        sqlite3_bind_double(st, 4, p->lr);
        sqlite3_bind_int64(st, 5, p->step);
        sqlite3_bind_int(st, 6, p->k);
        sqlite3_bind_int(st, 7, p->items);
        store_bind_real(st, 8, p->digit_accuracy);
        store_bind_real(st, 9, p->exact_rate);
        store_bind_real(st, 10, p->answer_loss);
        store_bind_real(st, 11, p->train_loss);
        sqlite3_bind_int64(st, 12, now_ms);
        rc = store_step_done(s, st, "recording a fine-tuning point", err, errlen);
    }
    if (rc == 0)
        rc = store_exec(s, "COMMIT", "recording a fine-tuning point", err, errlen);
    if (rc)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- history ------------------------------------------------------------------------------------- */

static double column_real(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return strdup(t ? (const char *)t : "");
}

static int read_model_eval(birdie_store *s, sqlite3_stmt *st, void **out)
{
    (void)s;
    Birdie__V1__ModelEvalRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__model_eval_record__init(r);
    *out = r;
    r->evaluation_id = sqlite3_column_int64(st, 0);
    r->checkpoint = dup_text(st, 1);
    r->step = sqlite3_column_int64(st, 2);
    r->seed = (uint64_t)sqlite3_column_int64(st, 3);
    r->unix_ms = sqlite3_column_int64(st, 4);
    r->task = dup_text(st, 5);
    r->k = sqlite3_column_int(st, 6); /* NULL reads as 0: does not apply */
    r->entries = sqlite3_column_int(st, 7);
    r->context_len = sqlite3_column_int(st, 8);
    r->span_len = sqlite3_column_int(st, 9);
    r->items = sqlite3_column_int(st, 10);
    r->metric = dup_text(st, 11);
    r->value = column_real(st, 12);
    return r->checkpoint && r->task && r->metric ? 0 : -ENOMEM;
}

static int read_finetune_point(birdie_store *s, sqlite3_stmt *st, void **out)
{
    (void)s;
    Birdie__V1__FinetunePointRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__finetune_point_record__init(r);
    *out = r;
    r->task = dup_text(st, 0);
    r->source_step = sqlite3_column_int64(st, 1);
    r->lr = column_real(st, 2);
    r->step = sqlite3_column_int64(st, 3);
    r->k = sqlite3_column_int(st, 4);
    r->items = sqlite3_column_int(st, 5);
    r->digit_accuracy = column_real(st, 6);
    r->exact_rate = column_real(st, 7);
    r->answer_loss = column_real(st, 8);
    r->train_loss = column_real(st, 9);
    r->unix_ms = sqlite3_column_int64(st, 10);
    return r->task ? 0 : -ENOMEM;
}

int store_history_results(birdie_store *s, int64_t since_step, int limit, Birdie__V1__GetHistoryResponse *h, char *err,
                          size_t errlen)
{
    if (s->schema_version < 3)
        return 0;
    int rc = store_read_table(
        s,
        "SELECT e.evaluation_id, e.checkpoint, e.step, e.seed, e.created_unix_ms, r.task, r.k, r.entries, "
        "r.context_len, r.span_len, r.items, r.metric, r.value FROM model_eval_results r "
        "JOIN model_evaluations e ON e.evaluation_id = r.evaluation_id WHERE e.run_id = ?1 AND e.step >= ?2 "
        "ORDER BY e.evaluation_id, r.rowid LIMIT ?3",
        since_step, limit, read_model_eval, (void ***)&h->model_evals, &h->n_model_evals, "reading model evaluations",
        err, errlen);
    if (rc == 0)
        rc =
            store_read_table(s,
                             "SELECT task, source_step, lr, step, k, items, digit_accuracy, exact_rate, answer_loss, "
                             "train_loss, created_unix_ms FROM finetune_points WHERE run_id = ?1 AND source_step >= ?2 "
                             "ORDER BY point_id LIMIT ?3",
                             since_step, limit, read_finetune_point, (void ***)&h->finetune_points,
                             &h->n_finetune_points, "reading fine-tuning points", err, errlen);
    return rc;
}

void store_history_results_free(Birdie__V1__GetHistoryResponse *h)
{
    for (size_t i = 0; i < h->n_model_evals; i++) {
        free(h->model_evals[i]->checkpoint);
        free(h->model_evals[i]->task);
        free(h->model_evals[i]->metric);
        free(h->model_evals[i]);
    }
    for (size_t i = 0; i < h->n_finetune_points; i++) {
        free(h->finetune_points[i]->task);
        free(h->finetune_points[i]);
    }
    free(h->model_evals);
    free(h->finetune_points);
    h->model_evals = NULL;
    h->finetune_points = NULL;
    h->n_model_evals = h->n_finetune_points = 0;
}
