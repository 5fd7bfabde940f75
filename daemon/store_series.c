/* store_series: the part of a run's history that `birdiectl plot` draws beyond evals, rewards,
 * decisions and mixtures: the training steps (rank 0's heartbeats) and the arm list with each arm's
 * objective class, appended to a GetHistoryResponse (birdie_store_history). */
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
    return rc;
}

void store_history_series_free(Birdie__V1__GetHistoryResponse *h)
{
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
