/* store_read: reads of the store: mixtures by request id or version, checkpoint requests by request
 * id, the newest checkpoint, and the history of a run as a GetHistoryResponse (so the server and
 * `birdiectl history --db` print the same thing). The history's model evaluations and fine-tuning
 * points are read by store_eval.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/store_internal.h"
#include "worker/error.h"

static double column_real(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static int load_weights(birdie_store *s, int64_t incarnation, int64_t version, double *weights, char *err,
                        size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(
        s, "SELECT arm_index, weight FROM mixture_weights WHERE run_id = ? AND incarnation = ? AND version = ?", &st,
        "reading mixture weights", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, incarnation);
    sqlite3_bind_int64(st, 3, version);
    for (int a = 0; a < s->n_arms; a++)
        weights[a] = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int a = sqlite3_column_int(st, 0);
        if (a >= 0 && a < s->n_arms)
            weights[a] = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return birdie_fail(err, errlen, -EIO, "reading mixture weights: %s", sqlite3_errmsg(s->db));
    return 0;
}

/* Runs a mixtures query whose single row is (incarnation, version, step, created, applied, source). */
static int load_mixture_row(birdie_store *s, sqlite3_stmt *st, store_mixture_row *row, double *weights, char *err,
                            size_t errlen)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "reading a mixture: %s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return -EIO;
    }
    row->incarnation = sqlite3_column_int64(st, 0);
    row->version = sqlite3_column_int64(st, 1);
    row->step = sqlite3_column_int64(st, 2);
    row->created_unix_ms = sqlite3_column_int64(st, 3);
    row->applied_step = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
    snprintf(row->source, sizeof(row->source), "%s", (const char *)sqlite3_column_text(st, 5));
    sqlite3_finalize(st);
    rc = load_weights(s, row->incarnation, row->version, weights, err, errlen);
    return rc ? rc : 1;
}

#define MIXTURE_COLUMNS "SELECT incarnation, version, step, created_unix_ms, applied_step, source FROM mixtures "

int store_find_request(birdie_store *s, const char *request_id, store_mixture_row *row, double *weights, char *err,
                       size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, MIXTURE_COLUMNS "WHERE run_id = ? AND request_id = ?", &st, "finding the request", err,
                           errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_text(st, 2, request_id, -1, SQLITE_TRANSIENT);
    return load_mixture_row(s, st, row, weights, err, errlen);
}

int store_load_mixture(birdie_store *s, int64_t incarnation, int64_t version, store_mixture_row *row, double *weights,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, MIXTURE_COLUMNS "WHERE run_id = ? AND incarnation = ? AND version = ?", &st,
                           "reading a mixture", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, incarnation);
    sqlite3_bind_int64(st, 3, version);
    return load_mixture_row(s, st, row, weights, err, errlen);
}

int store_mixture_origin(birdie_store *s, int64_t version, char *source, size_t cap, int64_t *incarnation, char *err,
                         size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "SELECT source, incarnation FROM mixtures WHERE run_id = ? AND version = ? "
                           "ORDER BY incarnation LIMIT 1",
                           &st, "finding where a mixture came from", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, version);
    rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found) {
        snprintf(source, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        *incarnation = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (!found && rc != SQLITE_DONE)
        return birdie_fail(err, errlen, -EIO, "finding where a mixture came from: %s", sqlite3_errmsg(s->db));
    return found;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

int store_find_checkpoint_request(birdie_store *s, const char *request_id, int64_t *seq, int64_t *incarnation,
                                  char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, "SELECT seq, incarnation FROM checkpoint_requests WHERE run_id = ? AND request_id = ?",
                           &st, "finding the checkpoint request", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_text(st, 2, request_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found) {
        *seq = sqlite3_column_int64(st, 0);
        *incarnation = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return birdie_fail(err, errlen, -EIO, "finding the checkpoint request: %s", sqlite3_errmsg(s->db));
    return found;
}

/* Columns (incarnation, step, path, reported_by_rank, bytes, checksum, unix_ms); a database still at
 * schema 1 (read-only handles do not migrate) has NULLs for the three columns 0002 added. */
static const char *checkpoint_columns(const birdie_store *s)
{
    return s->schema_version >= 2
               ? "SELECT incarnation, step, path, reported_by_rank, bytes, checksum, unix_ms FROM checkpoints "
               : "SELECT incarnation, step, path, NULL, NULL, NULL, unix_ms FROM checkpoints ";
}

static int64_t column_int_or(sqlite3_stmt *st, int col, int64_t missing)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? missing : sqlite3_column_int64(st, col);
}

static void read_checkpoint_row(sqlite3_stmt *st, store_checkpoint_row *row)
{
    const unsigned char *path = sqlite3_column_text(st, 2), *sum = sqlite3_column_text(st, 5);
    row->incarnation = sqlite3_column_int64(st, 0);
    row->step = sqlite3_column_int64(st, 1);
    snprintf(row->path, sizeof(row->path), "%s", path ? (const char *)path : "");
    row->rank = (int)column_int_or(st, 3, -1);
    row->bytes = column_int_or(st, 4, -1);
    snprintf(row->checksum, sizeof(row->checksum), "%s", sum ? (const char *)sum : "");
    row->unix_ms = sqlite3_column_int64(st, 6);
}

int store_last_checkpoint(birdie_store *s, store_checkpoint_row *row, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "%sWHERE run_id = ? ORDER BY incarnation DESC, step DESC LIMIT 1",
             checkpoint_columns(s));
    sqlite3_stmt *st;
    int rc = store_prepare(s, sql, &st, "reading the last checkpoint", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found)
        read_checkpoint_row(st, row);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return birdie_fail(err, errlen, -EIO, "reading the last checkpoint: %s", sqlite3_errmsg(s->db));
    return found;
}

/* ---- history: rows are built with malloc and freed by birdie_store_history_free ---------------------- */

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return strdup(t ? (const char *)t : "");
}

/* Grows a repeated field (pointer array) by one slot; 0 or -ENOMEM. */
static int grow(void ***items, size_t *n, size_t *cap)
{
    if (*n < *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 16;
    void **p = realloc(*items, ncap * sizeof(void *));
    if (!p)
        return -ENOMEM;
    *items = p;
    *cap = ncap;
    return 0;
}

static int read_eval(birdie_store *s, sqlite3_stmt *st, void **out)
{
    Birdie__V1__EvalRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__eval_record__init(r);
    r->incarnation = sqlite3_column_int64(st, 0);
    r->step = sqlite3_column_int64(st, 1);
    r->arm = strdup(store_arm_name(s, sqlite3_column_int(st, 2)));
    r->loss_sum = column_real(st, 3);
    r->tokens = column_real(st, 4);
    *out = r;
    return r->arm ? 0 : -ENOMEM;
}

static int read_reward(birdie_store *s, sqlite3_stmt *st, void **out)
{
    Birdie__V1__RewardRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__reward_record__init(r);
    r->incarnation = sqlite3_column_int64(st, 0);
    r->step = sqlite3_column_int64(st, 1);
    r->arm = strdup(store_arm_name(s, sqlite3_column_int(st, 2)));
    r->reward = column_real(st, 3);
    *out = r;
    return r->arm ? 0 : -ENOMEM;
}

static int read_decision(birdie_store *s, sqlite3_stmt *st, void **out)
{
    Birdie__V1__DecisionRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__decision_record__init(r);
    r->incarnation = sqlite3_column_int64(st, 0);
    r->step = sqlite3_column_int64(st, 1);
    r->source = dup_text(st, 2);
    r->mixture_version = sqlite3_column_int64(st, 3);
    r->explore = sqlite3_column_int(st, 4) != 0;
    r->predicted_reward = column_real(st, 5);
    r->observed_reward = column_real(st, 6);
    r->fit_error = column_real(st, 7);
    r->record = dup_text(st, 8);
    *out = r;
    return r->source && r->record ? 0 : -ENOMEM;
}

static int read_state_change(birdie_store *s, sqlite3_stmt *st, void **out)
{
    (void)s;
    Birdie__V1__StateChangeRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__state_change_record__init(r);
    r->incarnation = sqlite3_column_int64(st, 0);
    r->step = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
    r->state = dup_text(st, 2);
    r->reason = dup_text(st, 3);
    r->unix_ms = sqlite3_column_int64(st, 4);
    *out = r;
    return r->state && r->reason ? 0 : -ENOMEM;
}

int store_decision_counts(birdie_store *s, int64_t *explore, int64_t *exploit, int64_t *operator_, char *err,
                          size_t errlen)
{
    *explore = *exploit = *operator_ = 0;
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "SELECT source = 'operator', explore != 0, count(*) FROM decisions WHERE run_id = ? "
                           "GROUP BY 1, 2",
                           &st, "counting decisions", err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 2);
        if (sqlite3_column_int(st, 0))
            *operator_ += n;
        else if (sqlite3_column_int(st, 1))
            *explore += n;
        else
            *exploit += n;
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return birdie_fail(err, errlen, -EIO, "counting decisions: %s", sqlite3_errmsg(s->db));
    return 0;
}

static int read_mixture(birdie_store *s, sqlite3_stmt *st, void **out)
{
    Birdie__V1__MixtureRecord *r = malloc(sizeof(*r));
    Birdie__V1__Mixture *m = malloc(sizeof(*m));
    if (!r || !m) {
        free(r);
        free(m);
        return -ENOMEM;
    }
    birdie__v1__mixture_record__init(r);
    birdie__v1__mixture__init(m);
    r->mixture = m;
    *out = r;
    r->incarnation = sqlite3_column_int64(st, 0);
    m->version = sqlite3_column_int64(st, 1);
    m->step = sqlite3_column_int64(st, 2);
    m->created_unix_ms = sqlite3_column_int64(st, 3);
    r->applied_step = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
    m->source = dup_text(st, 5);
    r->request_id = dup_text(st, 6);
    if (!m->source || !r->request_id)
        return -ENOMEM;
    double *w = malloc((size_t)(s->n_arms ? s->n_arms : 1) * sizeof(double));
    m->weights = calloc((size_t)(s->n_arms ? s->n_arms : 1), sizeof(*m->weights));
    if (!w || !m->weights) {
        free(w);
        return -ENOMEM;
    }
    char err[256];
    int rc = load_weights(s, r->incarnation, m->version, w, err, sizeof(err));
    for (int a = 0; rc == 0 && a < s->n_arms; a++) {
        Birdie__V1__ArmWeight *aw = malloc(sizeof(*aw));
        if (!aw) {
            rc = -ENOMEM;
            break;
        }
        birdie__v1__arm_weight__init(aw);
        m->weights[a] = aw;
        m->n_weights = (size_t)a + 1;
        aw->arm = strdup(store_arm_name(s, a));
        aw->weight = w[a];
        if (!aw->arm)
            rc = -ENOMEM;
    }
    free(w);
    return rc;
}

static int read_checkpoint(birdie_store *s, sqlite3_stmt *st, void **out)
{
    store_checkpoint_row row;
    read_checkpoint_row(st, &row);
    Birdie__V1__CheckpointRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__checkpoint_record__init(r);
    r->incarnation = row.incarnation;
    r->step = row.step;
    r->path = strdup(row.path);
    r->checksum = strdup(row.checksum);
    r->bytes = row.bytes < 0 ? 0 : (uint64_t)row.bytes;
    r->rank = row.rank;
    r->unix_ms = row.unix_ms;
    *out = r;
    return r->path && r->checksum ? 0 : -ENOMEM;
}

int store_read_table(birdie_store *s, const char *sql, int64_t since_step, int limit, store_row_reader reader,
                     void ***items, size_t *n, const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = store_prepare(s, sql, &st, what, err, errlen);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, s->run_id);
    sqlite3_bind_int64(st, 2, since_step);
    sqlite3_bind_int(st, 3, limit);
    size_t cap = 0;
    int step_rc;
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow(items, n, &cap)) {
            rc = -ENOMEM;
            break;
        }
        (*items)[*n] = NULL;
        rc = reader(s, st, &(*items)[*n]);
        if ((*items)[*n])
            (*n)++;
        if (rc)
            break;
    }
    if (rc == 0 && step_rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
        rc = -EIO;
    } else if (rc == -ENOMEM) {
        snprintf(err, errlen, "%s: out of memory", what);
    }
    sqlite3_finalize(st);
    return rc;
}

int birdie_store_history(birdie_store *s, int64_t since_step, int limit, Birdie__V1__GetHistoryResponse **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    if (s->run_id == 0)
        return birdie_fail(err, errlen, -EINVAL, "no run selected");
    if (limit <= 0)
        limit = 1000;
    Birdie__V1__GetHistoryResponse *h = malloc(sizeof(*h));
    if (!h)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    birdie__v1__get_history_response__init(h);
    /* The row limit counts arm rows for evals and rewards: a partial step at the end is possible and
   * is better than an unbounded reply (the 4 MiB default message limit). */
    int rc = store_read_table(
        s,
        "SELECT incarnation, step, arm_index, loss_sum, tokens FROM evals WHERE run_id = ?1 AND step >= ?2 "
        "ORDER BY incarnation, step, arm_index LIMIT ?3",
        since_step, limit, read_eval, (void ***)&h->evals, &h->n_evals, "reading evals", err, errlen);
    if (rc == 0)
        rc = store_read_table(
            s,
            "SELECT incarnation, step, arm_index, reward FROM rewards WHERE run_id = ?1 AND step >= ?2 "
            "ORDER BY incarnation, step, arm_index LIMIT ?3",
            since_step, limit, read_reward, (void ***)&h->rewards, &h->n_rewards, "reading rewards", err, errlen);
    if (rc == 0)
        rc = store_read_table(
            s,
            "SELECT incarnation, step, source, mixture_version, explore, predicted_reward, observed_reward, "
            "fit_error, record FROM decisions WHERE run_id = ?1 AND step >= ?2 "
            "ORDER BY incarnation, step, mixture_version LIMIT ?3",
            since_step, limit, read_decision, (void ***)&h->decisions, &h->n_decisions, "reading decisions", err,
            errlen);
    if (rc == 0)
        rc = store_read_table(
            s,
            "SELECT incarnation, version, step, created_unix_ms, applied_step, source, request_id FROM mixtures "
            "WHERE run_id = ?1 AND step >= ?2 ORDER BY incarnation, version LIMIT ?3",
            since_step, limit, read_mixture, (void ***)&h->mixtures, &h->n_mixtures, "reading mixtures", err, errlen);
    if (rc == 0) {
        char sql[320];
        snprintf(sql, sizeof(sql), "%sWHERE run_id = ?1 AND step >= ?2 ORDER BY incarnation, step LIMIT ?3",
                 checkpoint_columns(s));
        rc = store_read_table(s, sql, since_step, limit, read_checkpoint, (void ***)&h->checkpoints, &h->n_checkpoints,
                              "reading checkpoints", err, errlen);
    }
    if (rc == 0)
        rc = store_history_series(s, since_step, limit, h, err, errlen);
    if (rc == 0)
        rc = store_history_results(s, since_step, limit, h, err, errlen);
    if (rc == 0 && s->schema_version >= 4) /* a read-only handle on an older database has no such table */
        rc = store_read_table(s,
                              "SELECT incarnation, step, state, reason, unix_ms FROM state_changes WHERE run_id = ?1 "
                              "AND (step IS NULL OR step >= ?2) ORDER BY change_id LIMIT ?3",
                              since_step, limit, read_state_change, (void ***)&h->state_changes, &h->n_state_changes,
                              "reading state changes", err, errlen);
    if (rc) {
        birdie_store_history_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void birdie_store_history_free(Birdie__V1__GetHistoryResponse *h)
{
    if (!h)
        return;
    store_history_series_free(h); /* first: it clears what it added to the decisions */
    for (size_t i = 0; i < h->n_evals; i++) {
        free(h->evals[i]->arm);
        free(h->evals[i]);
    }
    for (size_t i = 0; i < h->n_rewards; i++) {
        free(h->rewards[i]->arm);
        free(h->rewards[i]);
    }
    for (size_t i = 0; i < h->n_decisions; i++) {
        free(h->decisions[i]->source);
        free(h->decisions[i]->record);
        free(h->decisions[i]);
    }
    for (size_t i = 0; i < h->n_mixtures; i++) {
        Birdie__V1__MixtureRecord *r = h->mixtures[i];
        Birdie__V1__Mixture *m = r->mixture;
        for (size_t a = 0; m && m->weights && a < m->n_weights; a++) {
            free(m->weights[a]->arm);
            free(m->weights[a]);
        }
        if (m) {
            free(m->weights);
            free(m->source);
            free(m);
        }
        free(r->request_id);
        free(r);
    }
    for (size_t i = 0; i < h->n_checkpoints; i++) {
        free(h->checkpoints[i]->path);
        free(h->checkpoints[i]->checksum);
        free(h->checkpoints[i]);
    }
    for (size_t i = 0; i < h->n_state_changes; i++) {
        free(h->state_changes[i]->state);
        free(h->state_changes[i]->reason);
        free(h->state_changes[i]);
    }
    free(h->state_changes);
    store_history_results_free(h);
    free(h->checkpoints);
    free(h->evals);
    free(h->rewards);
    free(h->decisions);
    free(h->mixtures);
    free(h);
}
