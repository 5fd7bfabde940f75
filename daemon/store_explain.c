/* store_explain: see store_explain.h. */
#include "daemon/store_explain.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/store_internal.h"
#include "worker/error.h"

static double col_real(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static int failed(birdie_store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = birdie_fail(err, errlen, -EIO, "%s: %s", what, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

int store_n_arms(const birdie_store *s)
{
    return s->n_arms;
}

void store_explained_free(store_explained *e)
{
    if (!e)
        return;
    free(e->record_text);
    free(e->loss_sum);
    free(e->detail.record);
    memset(e, 0, sizeof(*e));
}

/* Per-arm values of one step: column 1 of `sql` (?1 run, ?2 incarnation, ?3 step; rows arm_index, v[, v2]). */
static int per_arm(birdie_store *s, const char *sql, int64_t inc, int64_t step, double *v, double *v2, const char *what,
                   char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, sql, &st, what, err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, inc);
    sqlite3_bind_int64(st, 3, step);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int a = sqlite3_column_int(st, 0);
        if (a < 0 || a >= s->n_arms)
            continue;
        v[a] = col_real(st, 1);
        if (v2)
            v2[a] = col_real(st, 2);
    }
    if (rc != SQLITE_DONE)
        return failed(s, st, what, err, errlen);
    sqlite3_finalize(st);
    return 0;
}

static int mixture_weights(birdie_store *s, int64_t inc, int64_t version, double *w, char *err, size_t errlen)
{
    return per_arm(s,
                   "SELECT arm_index, weight FROM mixture_weights WHERE run_id = ?1 AND incarnation = ?2 AND "
                   "version = ?3",
                   inc, version, w, NULL, "reading mixture weights", err, errlen);
}

/* The mixture in force before the decision: when the decision published mixture_version (a row of
 * that version made at its step by its source), the newest mixture recorded before it; else the
 * decision kept the mixture and before == after. */
static int mixture_before(birdie_store *s, store_explained *e, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "SELECT 1 FROM mixtures WHERE run_id = ?1 AND incarnation = ?2 AND version = ?3 AND "
                           "step = ?4 AND source = ?5",
                           &st, "reading the decision's mixture", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, e->incarnation);
    sqlite3_bind_int64(st, 3, e->mixture_version);
    sqlite3_bind_int64(st, 4, e->step);
    sqlite3_bind_text(st, 5, e->source, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failed(s, st, "reading the decision's mixture", err, errlen);
    int published = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!published) {
        e->version_before = e->mixture_version;
        memcpy(e->weights_before, e->weights_after, (size_t)s->n_arms * sizeof(double));
        return 0;
    }
    rc = store_prepare(s,
                       "SELECT incarnation, version FROM mixtures WHERE run_id = ?1 AND (incarnation < ?2 OR "
                       "(incarnation = ?2 AND version < ?3)) ORDER BY incarnation DESC, version DESC LIMIT 1",
                       &st, "reading the previous mixture", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, e->incarnation);
    sqlite3_bind_int64(st, 3, e->mixture_version);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        e->version_before = -1;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return failed(s, st, "reading the previous mixture", err, errlen);
    int64_t inc = sqlite3_column_int64(st, 0);
    e->version_before = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return mixture_weights(s, inc, e->version_before, e->weights_before, err, errlen);
}

static int next_decision(birdie_store *s, store_explained *e, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "SELECT step, observed_reward, predicted_reward FROM decisions WHERE run_id = ?1 AND "
                           "incarnation = ?2 AND step > ?3 AND source = 'scheduler' ORDER BY step LIMIT 1",
                           &st, "reading the next decision", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, e->incarnation);
    sqlite3_bind_int64(st, 3, e->step);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failed(s, st, "reading the next decision", err, errlen);
    e->has_next = rc == SQLITE_ROW;
    if (e->has_next) {
        e->next_step = sqlite3_column_int64(st, 0);
        e->next_observed = col_real(st, 1);
        e->next_predicted = col_real(st, 2);
    }
    sqlite3_finalize(st);
    return 0;
}

static int load_detail(birdie_store *s, store_explained *e, char *err, size_t errlen)
{
    if (s->schema_version < 5) /* a read-only handle on a database older than migration 0005 */
        return 0;
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "SELECT eval_index, kind, explore_prob, explore_draw, fit_mse_first, fit_mse_last, "
                           "fit_mse_clean, predicted_out_score, history_len, n_candidates, record FROM "
                           "decision_details WHERE run_id = ?1 AND incarnation = ?2 AND step = ?3 AND "
                           "mixture_version = ?4",
                           &st, "reading the decision details", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, e->incarnation);
    sqlite3_bind_int64(st, 3, e->step);
    sqlite3_bind_int64(st, 4, e->mixture_version);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failed(s, st, "reading the decision details", err, errlen);
    if (rc == SQLITE_ROW) {
        birdie_decision_detail *x = &e->detail;
        x->eval_index = sqlite3_column_int64(st, 0);
        snprintf(x->kind, sizeof(x->kind), "%s", (const char *)sqlite3_column_text(st, 1));
        x->explore_prob = col_real(st, 2);
        x->explore_draw = col_real(st, 3);
        x->fit_mse_first = col_real(st, 4);
        x->fit_mse_last = col_real(st, 5);
        x->fit_mse_clean = col_real(st, 6);
        x->predicted_out_score = col_real(st, 7);
        x->history_len = sqlite3_column_int(st, 8);
        x->n_candidates = sqlite3_column_int(st, 9);
        int n = sqlite3_column_bytes(st, 10);
        const void *blob = sqlite3_column_blob(st, 10);
        x->record = malloc(n > 0 ? (size_t)n : 1);
        if (!x->record) {
            sqlite3_finalize(st);
            return birdie_fail(err, errlen, -ENOMEM, "out of memory");
        }
        if (n > 0)
            memcpy(x->record, blob, (size_t)n);
        x->record_len = (size_t)n;
        e->has_detail = 1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* Fills e for the decision keyed (incarnation, step, mixture_version) already in e. */
static int fill(birdie_store *s, store_explained *e, char *err, size_t errlen)
{
    size_t N = (size_t)s->n_arms;
    e->n_arms = s->n_arms;
    e->loss_sum = malloc(5 * N * sizeof(double) + 1);
    if (!e->loss_sum)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    e->tokens = e->loss_sum + N;
    e->rewards = e->tokens + N;
    e->weights_after = e->rewards + N;
    e->weights_before = e->weights_after + N;
    for (size_t i = 0; i < 5 * N; i++)
        e->loss_sum[i] = NAN;
    int rc = per_arm(s,
                     "SELECT arm_index, loss_sum, tokens FROM evals WHERE run_id = ?1 AND incarnation = ?2 AND "
                     "step = ?3",
                     e->incarnation, e->step, e->loss_sum, e->tokens, "reading evals", err, errlen);
    if (rc == 0)
        rc = per_arm(s, "SELECT arm_index, reward FROM rewards WHERE run_id = ?1 AND incarnation = ?2 AND step = ?3",
                     e->incarnation, e->step, e->rewards, NULL, "reading rewards", err, errlen);
    if (rc == 0)
        rc = mixture_weights(s, e->incarnation, e->mixture_version, e->weights_after, err, errlen);
    if (rc == 0)
        rc = mixture_before(s, e, err, errlen);
    if (rc == 0)
        rc = next_decision(s, e, err, errlen);
    if (rc == 0)
        rc = load_detail(s, e, err, errlen);
    return rc;
}

/* Runs a query whose one row is (incarnation, step, mixture_version), binding ?1 run, ?2 key. */
static int find(birdie_store *s, const char *sql, int64_t key, store_explained *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (s->run_id == 0)
        return birdie_fail(err, errlen, -EINVAL, "no run selected");
    sqlite3_stmt *st;
    int rc = store_prepare(s, sql, &st, "finding the decision", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return 0;
    }
    if (rc != SQLITE_ROW)
        return failed(s, st, "finding the decision", err, errlen);
    out->incarnation = sqlite3_column_int64(st, 0);
    out->step = sqlite3_column_int64(st, 1);
    out->mixture_version = sqlite3_column_int64(st, 2);
    snprintf(out->source, sizeof(out->source), "%s", (const char *)sqlite3_column_text(st, 3));
    out->explore = sqlite3_column_int(st, 4);
    out->predicted_reward = col_real(st, 5);
    out->observed_reward = col_real(st, 6);
    out->fit_error = col_real(st, 7);
    if (sqlite3_column_type(st, 8) != SQLITE_NULL)
        out->record_text = strdup((const char *)sqlite3_column_text(st, 8));
    sqlite3_finalize(st);
    rc = fill(s, out, err, errlen);
    if (rc) {
        store_explained_free(out);
        return rc;
    }
    return 1;
}

#define DECISION_COLUMNS                                                                                            \
    "SELECT d.incarnation, d.step, d.mixture_version, d.source, d.explore, d.predicted_reward, d.observed_reward, " \
    "d.fit_error, d.record FROM decisions d "

int store_explain_step(birdie_store *s, int64_t step, store_explained *out, char *err, size_t errlen)
{
    return find(s,
                DECISION_COLUMNS "WHERE d.run_id = ?1 AND d.step = ?2 "
                                 "ORDER BY (d.source = 'scheduler') DESC, d.incarnation DESC, d.mixture_version DESC "
                                 "LIMIT 1",
                step, out, err, errlen);
}

int store_explain_eval(birdie_store *s, int64_t eval_index, store_explained *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (s->schema_version < 5)
        return 0;
    return find(s,
                DECISION_COLUMNS "JOIN decision_details x ON x.run_id = d.run_id AND x.incarnation = d.incarnation "
                                 "AND x.step = d.step AND x.mixture_version = d.mixture_version "
                                 "WHERE d.run_id = ?1 AND x.eval_index = ?2 ORDER BY d.incarnation DESC LIMIT 1",
                eval_index, out, err, errlen);
}

void store_records_free(uint8_t **records, size_t *lens, int64_t n)
{
    for (int64_t i = 0; records && i < n; i++)
        free(records[i]);
    free(records);
    free(lens);
}

int store_decision_records(birdie_store *s, int64_t incarnation, int64_t from, int64_t to, uint8_t ***records,
                           size_t **lens, int64_t *missing, char *err, size_t errlen)
{
    *records = NULL;
    *lens = NULL;
    int64_t n = to - from + 1;
    if (n <= 0 || s->schema_version < 5) {
        *missing = from;
        return 0;
    }
    uint8_t **r = calloc((size_t)n, sizeof(*r));
    size_t *l = calloc((size_t)n, sizeof(*l));
    sqlite3_stmt *st = NULL;
    int rc = (!r || !l) ? birdie_fail(err, errlen, -ENOMEM, "out of memory")
                        : store_prepare(s,
                                        "SELECT eval_index, record FROM decision_details WHERE run_id = ?1 AND "
                                        "incarnation <= ?2 AND eval_index BETWEEN ?3 AND ?4 "
                                        "ORDER BY eval_index, incarnation DESC",
                                        &st, "reading decision records", err, errlen);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, s->run_id);
        sqlite3_bind_int64(st, 2, incarnation);
        sqlite3_bind_int64(st, 3, from);
        sqlite3_bind_int64(st, 4, to);
        int step_rc;
        while (rc == 0 && (step_rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t i = sqlite3_column_int64(st, 0) - from;
            if (r[i]) /* an older incarnation's record of the same evaluation */
                continue;
            int bytes = sqlite3_column_bytes(st, 1);
            r[i] = malloc(bytes > 0 ? (size_t)bytes : 1);
            if (!r[i])
                rc = birdie_fail(err, errlen, -ENOMEM, "out of memory");
            else if (bytes > 0)
                memcpy(r[i], sqlite3_column_blob(st, 1), (size_t)bytes);
            l[i] = (size_t)bytes;
        }
        if (rc == 0 && step_rc != SQLITE_DONE)
            rc = birdie_fail(err, errlen, -EIO, "reading decision records: %s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
    }
    if (rc) {
        store_records_free(r, l, n);
        return rc;
    }
    for (int64_t i = 0; i < n; i++)
        if (!r[i]) {
            *missing = from + i;
            store_records_free(r, l, n);
            return 0;
        }
    *records = r;
    *lens = l;
    return 1;
}

void store_paths_free(char **paths, int n)
{
    for (int i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

/* Collects column 0 (text) of every row of a prepared statement. */
static int collect_text(birdie_store *s, sqlite3_stmt *st, char ***out, int *n, const char *what, char *err,
                        size_t errlen)
{
    char **v = NULL;
    int count = 0, cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            char **grown = realloc(v, (size_t)cap * sizeof(*v));
            if (!grown) {
                store_paths_free(v, count);
                sqlite3_finalize(st);
                return birdie_fail(err, errlen, -ENOMEM, "out of memory");
            }
            v = grown;
        }
        const unsigned char *t = sqlite3_column_text(st, 0);
        v[count] = strdup(t ? (const char *)t : "");
        if (!v[count]) {
            store_paths_free(v, count);
            sqlite3_finalize(st);
            return birdie_fail(err, errlen, -ENOMEM, "out of memory");
        }
        count++;
    }
    if (rc != SQLITE_DONE) {
        store_paths_free(v, count);
        return failed(s, st, what, err, errlen);
    }
    sqlite3_finalize(st);
    *out = v;
    *n = count;
    return 0;
}

int store_checkpoint_paths(birdie_store *s, int64_t incarnation, char ***paths, int *n, char *err, size_t errlen)
{
    *paths = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "SELECT path FROM checkpoints WHERE run_id = ?1 AND incarnation <= ?2 "
                           "ORDER BY incarnation DESC, step DESC",
                           &st, "reading checkpoints", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, incarnation);
    return collect_text(s, st, paths, n, "reading checkpoints", err, errlen);
}

int store_arm_classes(birdie_store *s, char ***classes, char *err, size_t errlen)
{
    *classes = NULL;
    sqlite3_stmt *st;
    int rc = store_prepare(s, "SELECT class FROM arms WHERE run_id = ?1 ORDER BY arm_index", &st, "reading arms", err,
                           errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    int n = 0;
    rc = collect_text(s, st, classes, &n, "reading arms", err, errlen);
    if (rc == 0 && n != s->n_arms) {
        store_paths_free(*classes, n);
        *classes = NULL;
        return birdie_fail(err, errlen, -EIO, "reading arms: %d classes for %d arms", n, s->n_arms);
    }
    return rc;
}
