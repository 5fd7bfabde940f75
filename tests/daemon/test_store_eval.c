/* Tests of daemon/store_eval.c: evaluations of checkpoints and fine-tuning curve points in the store
 * (migration 0003). Written, then read back through birdie_store_history on a read-only handle, field
 * by field (NaN as NULL and back, 0 for the fields a task does not have, a seed above INT64_MAX);
 * the run found by name or created without arms, and a training run that later takes the name
 * adopting it; a bad field refused with nothing written; a database written at schema 2 read as it
 * is (no rows of the new tables) and then migrated with its rows intact. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/migrations.h"
#include "daemon/store.h"
#include "tests/daemon/tmpdb.h"
#include "daemon/store_eval.h"

static birdie_store *open_rw(const char *path)
{
    birdie_store *s = NULL;
    char err[512];
    if (birdie_store_open(path, 0, &s, err, sizeof(err)))
        fail_msg("birdie_store_open: %s", err);
    return s;
}

/* The history of run `run` through a read-only handle (free with birdie_store_history_free). */
static Birdie__V1__GetHistoryResponse *history(const char *path, const char *run, int64_t since)
{
    birdie_store *ro = NULL;
    char err[512];
    int64_t run_id;
    Birdie__V1__GetHistoryResponse *h = NULL;
    if (birdie_store_open(path, 1, &ro, err, sizeof(err)) ||
        birdie_store_select_run(ro, run, &run_id, err, sizeof(err)) ||
        birdie_store_history(ro, since, 0, &h, err, sizeof(err)))
        fail_msg("history: %s", err);
    birdie_store_close(ro);
    return h;
}

static const birdie_store_eval_result results[] = {
    {.task = "phonebook", .k = 2, .entries = 4, .items = 16, .metric = "digit_accuracy", .value = 0.25},
    {.task = "phonebook", .k = 2, .entries = 4, .items = 16, .metric = "exact_rate", .value = 0.0},
    {.task = "infill", .context_len = 61, .span_len = 8, .items = 16, .metric = "exact_rate", .value = NAN},
    {.task = "bpc", .items = 5, .metric = "bits_per_char", .value = 3.125},
};
enum { N_RESULTS = sizeof results / sizeof results[0] };

static void test_eval_round_trip(void **state)
{
    tmpdb *t = *state;
    birdie_store *s = open_rw(t->path);
    char err[512];
    birdie_store_eval e = {.checkpoint = "/ck/ckpt_000000040.bin",
                           .step = 40,
                           .seed = UINT64_MAX - 4,
                           .n_results = N_RESULTS,
                           .results = results};
    assert_int_equal(birdie_store_record_eval(s, "e1", &e, err, sizeof(err)), 0);
    /* the run was created by name: no arms, no incarnation, state 'created' */
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs WHERE name = 'e1' AND state = 'created'"), 1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM arms"), 0);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM incarnations"), 0);
    e.step = 80;
    e.checkpoint = "/ck/ckpt_000000080.bin";
    e.n_results = 1;
    assert_int_equal(birdie_store_record_eval(s, "e1", &e, err, sizeof(err)), 0);
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs"), 1);

    Birdie__V1__GetHistoryResponse *h = history(t->path, "e1", 0);
    assert_int_equal(h->n_model_evals, N_RESULTS + 1);
    assert_int_equal(h->n_finetune_points, 0);
    for (int i = 0; i < N_RESULTS; i++) {
        const Birdie__V1__ModelEvalRecord *r = h->model_evals[i];
        assert_string_equal(r->checkpoint, "/ck/ckpt_000000040.bin");
        assert_int_equal(r->step, 40);
        assert_true(r->seed == UINT64_MAX - 4);
        assert_string_equal(r->task, results[i].task);
        assert_string_equal(r->metric, results[i].metric);
        assert_int_equal(r->k, results[i].k);
        assert_int_equal(r->entries, results[i].entries);
        assert_int_equal(r->context_len, results[i].context_len);
        assert_int_equal(r->span_len, results[i].span_len);
        assert_int_equal(r->items, results[i].items);
        if (isnan(results[i].value))
            assert_true(isnan(r->value));
        else
            assert_true(r->value == results[i].value);
        assert_true(r->unix_ms > 1600000000000LL); /* wall-clock milliseconds */
        assert_int_equal(r->evaluation_id, h->model_evals[0]->evaluation_id);
    }
    assert_true(h->model_evals[N_RESULTS]->evaluation_id > h->model_evals[0]->evaluation_id);
    assert_int_equal(h->model_evals[N_RESULTS]->step, 80);
    birdie_store_history_free(h);
    /* since_step is the checkpoint's step */
    h = history(t->path, "e1", 41);
    assert_int_equal(h->n_model_evals, 1);
    assert_int_equal(h->model_evals[0]->step, 80);
    birdie_store_history_free(h);
    /* NULL columns are NULL in the database, not 0 */
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM model_eval_results WHERE k IS NULL"), 2);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM model_eval_results WHERE value IS NULL"), 1);
}

static void test_finetune_points(void **state)
{
    tmpdb *t = *state;
    birdie_store *s = open_rw(t->path);
    char err[512];
    for (int step = 0; step <= 20; step += 10) {
        birdie_store_finetune_point p = {.task = "phonebook",
                                         .source_step = 600,
                                         .lr = 3e-4,
                                         .step = step,
                                         .k = 4,
                                         .items = 32,
                                         .digit_accuracy = 0.1 * step,
                                         .exact_rate = step ? 0.5 : NAN,
                                         .answer_loss = 2.0 - 0.01 * step,
                                         .train_loss = step ? 1.5 : NAN};
        assert_int_equal(birdie_store_record_finetune_point(s, "ft", &p, err, sizeof(err)), 0);
    }
    /* another curve from an earlier checkpoint */
    birdie_store_finetune_point early = {.task = "phonebook",
                                         .source_step = 100,
                                         .lr = 1e-3,
                                         .step = 5,
                                         .k = 1,
                                         .items = 8,
                                         .digit_accuracy = 0.2,
                                         .exact_rate = 0.0,
                                         .answer_loss = 3.0,
                                         .train_loss = 2.5};
    assert_int_equal(birdie_store_record_finetune_point(s, "ft", &early, err, sizeof(err)), 0);
    birdie_store_close(s);
    Birdie__V1__GetHistoryResponse *h = history(t->path, "ft", 0);
    assert_int_equal(h->n_finetune_points, 4);
    assert_int_equal(h->n_model_evals, 0);
    for (int i = 0; i < 3; i++) {
        const Birdie__V1__FinetunePointRecord *r = h->finetune_points[i];
        int step = 10 * i;
        assert_string_equal(r->task, "phonebook");
        assert_int_equal(r->source_step, 600);
        assert_true(r->lr == 3e-4);
        assert_int_equal(r->step, step);
        assert_int_equal(r->k, 4);
        assert_int_equal(r->items, 32);
        assert_true(r->digit_accuracy == 0.1 * step);
        assert_true(step ? r->exact_rate == 0.5 : isnan(r->exact_rate));
        assert_true(r->answer_loss == 2.0 - 0.01 * step);
        assert_true(step ? r->train_loss == 1.5 : isnan(r->train_loss));
    }
    assert_int_equal(h->finetune_points[3]->source_step, 100);
    birdie_store_history_free(h);
    /* since_step is the pre-trained checkpoint's step */
    h = history(t->path, "ft", 101);
    assert_int_equal(h->n_finetune_points, 3);
    birdie_store_history_free(h);
}

static void test_bad_fields_write_nothing(void **state)
{
    tmpdb *t = *state;
    birdie_store *s = open_rw(t->path);
    char err[512] = "";
    birdie_store_eval_result bad[2] = {results[0], results[1]};
    bad[1].items = -1;
    birdie_store_eval e = {.checkpoint = "/ck/x.bin", .step = 3, .n_results = 2, .results = bad};
    assert_int_equal(birdie_store_record_eval(s, "b", &e, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "evaluation result 1"));
    bad[1] = results[1];
    bad[1].metric = "";
    assert_int_equal(birdie_store_record_eval(s, "b", &e, err, sizeof(err)), -EINVAL);
    e.results = results;
    e.step = -1;
    assert_int_equal(birdie_store_record_eval(s, "b", &e, err, sizeof(err)), -EINVAL);
    e.step = 3;
    assert_int_equal(birdie_store_record_eval(s, "", &e, err, sizeof(err)), -EINVAL);
    birdie_store_finetune_point p = {.task = "phonebook", .source_step = 1, .lr = 1e-3, .step = 1, .k = 1};
    birdie_store_finetune_point q = p;
    q.k = 0;
    assert_int_equal(birdie_store_record_finetune_point(s, "b", &q, err, sizeof(err)), -EINVAL);
    q = p;
    q.lr = NAN;
    assert_int_equal(birdie_store_record_finetune_point(s, "b", &q, err, sizeof(err)), -EINVAL);
    q = p;
    q.step = -2;
    assert_int_equal(birdie_store_record_finetune_point(s, "b", &q, err, sizeof(err)), -EINVAL);
    q = p;
    q.task = NULL;
    assert_int_equal(birdie_store_record_finetune_point(s, "b", &q, err, sizeof(err)), -EINVAL);
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs"), 0);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM model_evaluations"), 0);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM model_eval_results"), 0);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM finetune_points"), 0);
    /* a read-only handle cannot write */
    birdie_store *ro = NULL;
    assert_int_equal(birdie_store_open(t->path, 1, &ro, err, sizeof(err)), 0);
    assert_int_equal(birdie_store_record_finetune_point(ro, "b", &p, err, sizeof(err)), -EPERM);
    e.results = results;
    assert_int_equal(birdie_store_record_eval(ro, "b", &e, err, sizeof(err)), -EPERM);
    birdie_store_close(ro);
}

static void test_training_run_adopts_the_name(void **state)
{
    tmpdb *t = *state;
    birdie_store *s = open_rw(t->path);
    char err[512];
    birdie_store_eval e = {.checkpoint = "/ck/a.bin", .step = 7, .n_results = 1, .results = results};
    assert_int_equal(birdie_store_record_eval(s, "r1", &e, err, sizeof(err)), 0);
    static const char *const names[2] = {"ntp", "copy"}, *const classes[2] = {"ntp", "copying"};
    int64_t run_id, inc;
    if (store_begin_run(s, "r1", 2, 2, names, classes, 1000, &run_id, &inc, err, sizeof(err)))
        fail_msg("store_begin_run on a run created by eval: %s", err);
    assert_int_equal(inc, 1);
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(raw_int(t->path, "SELECT world_size FROM runs"), 2);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM arms"), 2);
    /* a second training start with other arms is still refused: the arms are the run's now */
    s = open_rw(t->path);
    static const char *const other[2] = {"ntp", "deshuffle"};
    assert_int_equal(store_begin_run(s, "r1", 2, 2, other, classes, 2000, &run_id, &inc, err, sizeof(err)), -EINVAL);
    birdie_store_close(s);
    Birdie__V1__GetHistoryResponse *h = history(t->path, "r1", 0);
    assert_int_equal(h->n_model_evals, 1);
    assert_int_equal(h->model_evals[0]->step, 7);
    birdie_store_history_free(h);
}

/* A database written by a binary that knew migrations 0001 and 0002, with a run and a checkpoint. */
static void make_schema2_database(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, birdie_migrations[0], NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, birdie_migrations[1], NULL, NULL, NULL), SQLITE_OK);
    char sql[768];
    snprintf(sql, sizeof(sql),
             "PRAGMA user_version=2; PRAGMA application_id=%d;"
             "INSERT INTO runs(run_id, name, created_unix_ms, world_size) VALUES (1, 'r1', 1, 2);"
             "INSERT INTO arms VALUES (1, 0, 'ntp', 'ntp'), (1, 1, 'copy', 'copying');"
             "INSERT INTO incarnations(run_id, incarnation, started_unix_ms, world_size) VALUES (1, 1, 1, 2);"
             "INSERT INTO checkpoints(run_id, incarnation, step, path, unix_ms, reported_by_rank, bytes, checksum) "
             "VALUES (1, 1, 40, '/old/ckpt_40.bin', 2, 0, 123, '00000000deadbeef');",
             STORE_APPLICATION_ID);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_schema2_database_upgrades(void **state)
{
    tmpdb *t = *state;
    make_schema2_database(t->path);
    /* read-only: not migrated; the history has no rows of the tables it lacks */
    Birdie__V1__GetHistoryResponse *h = history(t->path, "r1", 0);
    assert_int_equal(h->n_checkpoints, 1);
    assert_int_equal(h->n_model_evals, 0);
    assert_int_equal(h->n_finetune_points, 0);
    birdie_store_history_free(h);
    assert_int_equal(raw_int(t->path, "PRAGMA user_version"), 2);
    /* read-write: migrated to this binary's version, the old rows kept, the old run found by name */
    birdie_store *s = open_rw(t->path);
    assert_int_equal(raw_int(t->path, "PRAGMA user_version"), store_known_version());
    assert_int_equal(store_known_version(), 5);
    char err[512];
    birdie_store_eval e = {.checkpoint = "/old/ckpt_40.bin", .step = 40, .seed = 9, .n_results = 2, .results = results};
    assert_int_equal(birdie_store_record_eval(s, "r1", &e, err, sizeof(err)), 0);
    birdie_store_finetune_point p = {.task = "phonebook",
                                     .source_step = 40,
                                     .lr = 1e-4,
                                     .step = 0,
                                     .k = 1,
                                     .items = 4,
                                     .digit_accuracy = 0.5,
                                     .exact_rate = NAN,
                                     .answer_loss = 1.0,
                                     .train_loss = NAN};
    assert_int_equal(birdie_store_record_finetune_point(s, "r1", &p, err, sizeof(err)), 0);
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs"), 1);
    h = history(t->path, "r1", 0);
    assert_int_equal(h->n_checkpoints, 1);
    assert_int_equal(h->checkpoints[0]->bytes, 123);
    assert_int_equal(h->n_model_evals, 2);
    assert_int_equal(h->model_evals[0]->seed, 9);
    assert_int_equal(h->n_finetune_points, 1);
    assert_true(isnan(h->finetune_points[0]->exact_rate) && isnan(h->finetune_points[0]->train_loss));
    birdie_store_history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eval_round_trip, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_finetune_points, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields_write_nothing, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_training_run_adopts_the_name, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_schema2_database_upgrades, tmpdb_setup, tmpdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
