/* store_series: the part of a run's history that `birdiectl plot` draws beyond evals, rewards,
 * decisions and mixtures: the training steps (rank 0's heartbeats), the arm list with each arm's
 * objective class, and the scheduler's kind of each decision (migration 0005), added to a
 * GetHistoryResponse (birdie_store_history). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/store_internal.h"
#include "worker/error.h"

static double col_real(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static int read_step(birdie_store *s, sqlite3_stmt *st, void **out)
{
    (void)s;
    Birdie__V1__StepRecord *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__step_record__init(r);
    r->incarnation = sqlite3_column_int64(st, 0);
    r->step = sqlite3_column_int64(st, 1);
    r->loss = col_real(st, 2);
    r->lr = col_real(st, 3);
    r->grad_norm = col_real(st, 4);
    r->tokens_per_s = col_real(st, 5);
    r->mixture_version = sqlite3_column_int64(st, 6);
    r->unix_ms = sqlite3_column_int64(st, 7);
    *out = r;
    return 0;
}

static int read_arm(birdie_store *s, sqlite3_stmt *st, void **out)
{
    (void)s;
    Birdie__V1__ArmInfo *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    birdie__v1__arm_info__init(r);
    const unsigned char *name = sqlite3_column_text(st, 0), *cls = sqlite3_column_text(st, 1);
    r->name = strdup(name ? (const char *)name : "");
    r->objective_class = strdup(cls ? (const char *)cls : "");
    *out = r;
    return r->name && r->objective_class ? 0 : -ENOMEM;
}

/* The scheduler's kind of each decision of the history, from migration 0005's decision_details. */
static int decision_kinds(birdie_store *s, Birdie__V1__GetHistoryResponse *h, char *err, size_t errlen)
{
    if (s->schema_version < 5 || h->n_decisions == 0)
        return 0;
    sqlite3_stmt *st;
    int rc = store_prepare(s,
                           "SELECT kind FROM decision_details WHERE run_id = ?1 AND incarnation = ?2 AND step = ?3 "
                           "AND mixture_version = ?4",
                           &st, "reading decision kinds", err, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && i < h->n_decisions; i++) {
        Birdie__V1__DecisionRecord *d = h->decisions[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, s->run_id);
        sqlite3_bind_int64(st, 2, d->incarnation);
        sqlite3_bind_int64(st, 3, d->step);
        sqlite3_bind_int64(st, 4, d->mixture_version);
        int step_rc = sqlite3_step(st);
        if (step_rc == SQLITE_ROW) {
            const unsigned char *k = sqlite3_column_text(st, 0);
            d->kind = strdup(k ? (const char *)k : "");
            if (!d->kind)
                rc = birdie_fail(err, errlen, -ENOMEM, "reading decision kinds: out of memory");
        } else if (step_rc != SQLITE_DONE) {
            rc = birdie_fail(err, errlen, -EIO, "reading decision kinds: %s", sqlite3_errmsg(s->db));
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int store_history_series(birdie_store *s, int64_t since_step, int limit, Birdie__V1__GetHistoryResponse *h, char *err,
                         size_t errlen)
{
    int rc =
        store_read_table(s,
                         "SELECT incarnation, step, loss, lr, grad_norm, tokens_per_s, mixture_version, unix_ms "
                         "FROM steps WHERE run_id = ?1 AND step >= ?2 ORDER BY incarnation, step LIMIT ?3",
                         since_step, limit, read_step, (void ***)&h->steps, &h->n_steps, "reading steps", err, errlen);
    /* every arm whatever the limit: ?2 and ?3 are bound but the arm list is never cut */
    if (rc == 0)
        rc = store_read_table(s,
                              "SELECT name, class FROM arms WHERE run_id = ?1 AND ?2 = ?2 AND ?3 = ?3 "
                              "ORDER BY arm_index",
                              since_step, limit, read_arm, (void ***)&h->arms, &h->n_arms, "reading arms", err, errlen);
    if (rc == 0)
        rc = decision_kinds(s, h, err, errlen);
    return rc;
}

void store_history_series_free(Birdie__V1__GetHistoryResponse *h)
{
    /* the kinds were strdup'ed here; a decision without one points at protobuf-c's shared "" */
    for (size_t i = 0; i < h->n_decisions; i++)
        if (h->decisions[i]->kind != protobuf_c_empty_string) {
            free(h->decisions[i]->kind);
            h->decisions[i]->kind = (char *)protobuf_c_empty_string;
        }
    for (size_t i = 0; i < h->n_steps; i++)
        free(h->steps[i]);
    for (size_t i = 0; i < h->n_arms; i++) {
        free(h->arms[i]->name);
        free(h->arms[i]->objective_class);
        free(h->arms[i]);
    }
    free(h->steps);
    free(h->arms);
    h->steps = NULL;
    h->arms = NULL;
    h->n_steps = h->n_arms = 0;
}
