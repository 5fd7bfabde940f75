/* Tests of the SQLite store: migrations (fresh, reopen, newer-than-binary and foreign files
 * refused, a schema-1 database read and migrated), runs and incarnations, one-transaction commits
 * (all rows or none), checkpoints and checkpoint requests, state changes with their reasons (and
 * those carried over from an older database's events), read-only history. */
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

static const char *const names[2] = {"ntp", "copy"};
static const char *const classes[2] = {"ntp", "copying"};

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static birdie_store *open_run(const char *path, int64_t *incarnation)
{
    birdie_store *s = NULL;
    char err[512];
    int64_t run_id;
    int rc = birdie_store_open(path, 0, &s, err, sizeof(err));
    if (rc)
        fail_msg("birdie_store_open: %s", err);
    rc = store_begin_run(s, "r1", 2, 2, names, classes, 1000, &run_id, incarnation, err, sizeof(err));
    if (rc)
        fail_msg("store_begin_run: %s", err);
    return s;
}

static void test_fresh_and_reopen(void **state)
{
    tmpdb *t = *state;
    int64_t inc = 0;
    birdie_store *s = open_run(t->path, &inc);
    assert_int_equal(inc, 1);
    int v = -1;
    char err[256];
    assert_int_equal(store_user_version(s, &v, err, sizeof(err)), 0);
    assert_int_equal(v, store_known_version());
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "PRAGMA user_version"), store_known_version());
    assert_int_equal(raw_int(t->path, "PRAGMA application_id"), STORE_APPLICATION_ID);
    sqlite3 *db;
    sqlite3_open(t->path, &db);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* Reopen: no migration re-run, a second incarnation of the same run. */
    s = open_run(t->path, &inc);
    assert_int_equal(inc, 2);
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM incarnations"), 2);
}

/* An incarnation that never recorded its end (kill -9) is marked lost, with the last step it recorded,
 * when the next one opens; one that ended keeps its state. Where a restored mixture came from is read
 * from the incarnation that first issued it. */
static void test_lost_incarnation_and_mixture_origin(void **state)
{
    tmpdb *t = *state;
    char err[256];
    int64_t inc = 0;
    birdie_store *s = open_run(t->path, &inc);
    double w[2] = {0.25, 0.75};
    store_mixture v0 = {.version = 0, .step = 0, .created_unix_ms = 1000, .source = "config", .weights = w};
    store_mixture v3 = {.version = 3, .step = 40, .created_unix_ms = 1100, .source = "scheduler", .weights = w};
    assert_int_equal(store_commit_mixture(s, &v0, NULL, err, sizeof(err)), 0);
    assert_int_equal(store_commit_mixture(s, &v3, NULL, err, sizeof(err)), 0);
    assert_int_equal(store_record_step(s, 41, 5000, 2.0, 1e-3, 1.0, 10.0, 3, err, sizeof(err)), 0);
    assert_int_equal(store_record_step(s, 42, 5100, 2.0, 1e-3, 1.0, 10.0, 3, err, sizeof(err)), 0);
    birdie_store_close(s); /* no end state: the process "died" */
    s = open_run(t->path, &inc);
    assert_int_equal(inc, 2);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM incarnations WHERE incarnation = 1 AND end_state = 'lost' "
                                      "AND end_reason LIKE '%last step seen 42' AND ended_unix_ms = 5100"),
                     1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM incarnations WHERE incarnation = 2 AND end_state IS NULL"),
                     1);
    /* the version recorded again in this incarnation does not change where it first came from */
    store_mixture again = {.version = 3, .step = 42, .created_unix_ms = 5200, .source = "operator", .weights = w};
    assert_int_equal(store_commit_mixture(s, &again, NULL, err, sizeof(err)), 0);
    char source[16] = "";
    int64_t first = 0;
    assert_int_equal(store_mixture_origin(s, 3, source, sizeof source, &first, err, sizeof(err)), 1);
    assert_string_equal(source, "scheduler");
    assert_int_equal(first, 1);
    assert_int_equal(store_mixture_origin(s, 9, source, sizeof source, &first, err, sizeof(err)), 0);
    assert_int_equal(store_set_state(s, "finished", NULL, 1, 5, 6000, err, sizeof(err)), 0);
    birdie_store_close(s);
    s = open_run(t->path, &inc); /* an incarnation that ended is not touched */
    birdie_store_close(s);
    assert_int_equal(
        raw_int(t->path, "SELECT count(*) FROM incarnations WHERE incarnation = 2 AND end_state = 'finished'"), 1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM incarnations WHERE end_state = 'lost'"), 1);
}

static void test_arm_mismatch_refused(void **state)
{
    tmpdb *t = *state;
    int64_t inc;
    birdie_store_close(open_run(t->path, &inc));
    birdie_store *s = NULL;
    char err[512];
    int64_t run_id;
    const char *other[2] = {"ntp", "deshuffle"};
    assert_int_equal(birdie_store_open(t->path, 0, &s, err, sizeof(err)), 0);
    assert_int_equal(store_begin_run(s, "r1", 2, 2, other, classes, 2000, &run_id, &inc, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "deshuffle"));
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM incarnations"), 1);
}

static void test_newer_database_refused(void **state)
{
    tmpdb *t = *state;
    int64_t inc;
    birdie_store_close(open_run(t->path, &inc));
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", store_known_version() + 1);
    raw_exec(t->path, sql);
    birdie_store *s = NULL;
    char err[512] = "";
    assert_int_equal(birdie_store_open(t->path, 0, &s, err, sizeof(err)), -EPROTO);
    assert_null(s);
    assert_non_null(strstr(err, "newer than this binary"));
    assert_int_equal(birdie_store_open(t->path, 1, &s, err, sizeof(err)), -EPROTO);
    assert_int_equal(raw_int(t->path, "PRAGMA user_version"), store_known_version() + 1);
}

static void test_foreign_database_refused(void **state)
{
    tmpdb *t = *state;
    raw_exec(t->path, "CREATE TABLE something(x)");
    birdie_store *s = NULL;
    char err[512] = "";
    assert_int_equal(birdie_store_open(t->path, 0, &s, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no birdie schema version"));
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM sqlite_master"), 1);
}

static void test_eval_commit_is_atomic(void **state)
{
    tmpdb *t = *state;
    int64_t inc;
    birdie_store *s = open_run(t->path, &inc);
    char err[512];
    double w0[2] = {0.5, 0.5}, w1[2] = {0.25, 0.75}, loss[2] = {10, 20}, tok[2] = {100, 100}, rew[2] = {0.1, NAN};
    store_mixture m0 = {.version = 0, .step = 0, .created_unix_ms = 1, .source = "config", .weights = w0};
    assert_int_equal(store_commit_mixture(s, &m0, NULL, err, sizeof(err)), 0);
    store_mixture m1 = {.version = 1, .step = 50, .created_unix_ms = 2, .source = "scheduler", .weights = w1};
    store_decision d = {.step = 50,
                        .mixture_version = 1,
                        .source = "scheduler",
                        .explore = 1,
                        .predicted_reward = 0.5,
                        .observed_reward = NAN,
                        .fit_error = 0.01,
                        .record = "{}",
                        .unix_ms = 2};
    assert_int_equal(store_commit_eval(s, 50, loss, tok, rew, &m1, &d, NULL, NULL, 2, err, sizeof(err)), 0);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM evals"), 2);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM rewards WHERE reward IS NULL"), 1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM decisions WHERE explore = 1"), 1);
    /* Version 1 again violates the mixtures key: the whole round must roll back (no evals of 60). */
    store_decision d2 = d;
    d2.step = 60;
    assert_true(store_commit_eval(s, 60, loss, tok, rew, &m1, &d2, NULL, NULL, 3, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "mixture"));
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM evals WHERE step = 60"), 0);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM rewards WHERE step = 60"), 0);
    /* Operator request ids are found again. */
    store_mixture m2 = {
        .version = 2, .step = 70, .created_unix_ms = 4, .source = "operator", .request_id = "req-1", .weights = w0};
    assert_int_equal(store_commit_mixture(s, &m2, NULL, err, sizeof(err)), 0);
    store_mixture_row row;
    double got[2];
    assert_int_equal(store_find_request(s, "req-1", &row, got, err, sizeof(err)), 1);
    assert_int_equal(row.version, 2);
    assert_string_equal(row.source, "operator");
    assert_true(got[0] == 0.5 && got[1] == 0.5);
    assert_int_equal(store_find_request(s, "req-2", &row, got, err, sizeof(err)), 0);
    /* The same request id in a second mixture is refused by the schema. */
    m2.version = 3;
    assert_true(store_commit_mixture(s, &m2, NULL, err, sizeof(err)) < 0);
    assert_int_equal(store_mark_applied(s, 1, 55, err, sizeof(err)), 0);
    birdie_store_close(s);
}

static void test_read_only_history(void **state)
{
    tmpdb *t = *state;
    int64_t inc;
    birdie_store *s = open_run(t->path, &inc);
    char err[512];
    double w[2] = {0.5, 0.5}, loss[2] = {1, 2}, tok[2] = {4, 4};
    store_mixture m0 = {.version = 0, .step = 0, .created_unix_ms = 1, .source = "config", .weights = w};
    assert_int_equal(store_commit_mixture(s, &m0, NULL, err, sizeof(err)), 0);
    assert_int_equal(store_commit_eval(s, 10, loss, tok, NULL, NULL, NULL, "decide_failed", "x", 5, err, sizeof(err)),
                     0);
    assert_int_equal(store_commit_eval(s, 20, loss, tok, NULL, NULL, NULL, NULL, NULL, 6, err, sizeof(err)), 0);
    birdie_store_close(s);

    birdie_store *ro = NULL;
    int64_t run_id;
    assert_int_equal(birdie_store_open(t->path, 1, &ro, err, sizeof(err)), 0);
    assert_int_equal(birdie_store_select_run(ro, "nope", &run_id, err, sizeof(err)), -ENOENT);
    assert_int_equal(birdie_store_select_run(ro, NULL, &run_id, err, sizeof(err)), 0);
    Birdie__V1__GetHistoryResponse *h = NULL;
    assert_int_equal(birdie_store_history(ro, 15, 0, &h, err, sizeof(err)), 0);
    assert_int_equal(h->n_evals, 2);
    assert_int_equal(h->evals[0]->step, 20);
    assert_string_equal(h->evals[1]->arm, "copy");
    assert_int_equal(h->n_mixtures, 0); /* the config mixture is at step 0 */
    birdie_store_history_free(h);
    assert_int_equal(birdie_store_history(ro, 0, 1, &h, err, sizeof(err)), 0);
    assert_int_equal(h->n_evals, 1);
    assert_int_equal(h->n_mixtures, 1);
    assert_int_equal(h->mixtures[0]->mixture->n_weights, 2);
    assert_int_equal(h->mixtures[0]->applied_step, -1);
    birdie_store_history_free(h);
    /* A read-only handle cannot write. */
    assert_int_equal(store_record_event(ro, 1, 1, "x", "y", err, sizeof(err)), -EPERM);
    birdie_store_close(ro);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM events WHERE kind = 'decide_failed'"), 1);
}

static store_checkpoint ckpt(int64_t step, const char *path)
{
    return (store_checkpoint){.step = step,
                              .rank = 0,
                              .path = path,
                              .bytes = 1000 + step,
                              .checksum = "00000000deadbeef",
                              .unix_ms = 10 + step};
}

static void test_checkpoints_and_requests(void **state)
{
    tmpdb *t = *state;
    int64_t inc;
    birdie_store *s = open_run(t->path, &inc);
    char err[512];
    store_checkpoint_row row;
    assert_int_equal(store_last_checkpoint(s, &row, err, sizeof(err)), 0);
    store_checkpoint c = ckpt(100, "/a/ckpt_100.bin");
    assert_int_equal(store_record_checkpoint(s, &c, "d100", err, sizeof(err)), 1);
    /* The same step again: nothing replaced, no second event. */
    store_checkpoint again = ckpt(100, "/b/ckpt_100.bin");
    assert_int_equal(store_record_checkpoint(s, &again, "again", err, sizeof(err)), 0);
    c = ckpt(50, "/a/ckpt_50.bin");
    assert_int_equal(store_record_checkpoint(s, &c, "d50", err, sizeof(err)), 1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM checkpoints"), 2);
    assert_int_equal(
        raw_int(t->path, "SELECT count(*) FROM checkpoints WHERE path = '/a/ckpt_100.bin' AND bytes = 1100"), 1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM events WHERE kind = 'checkpoint'"), 2);
    assert_int_equal(store_last_checkpoint(s, &row, err, sizeof(err)), 1);
    assert_int_equal(row.step, 100);
    assert_int_equal(row.bytes, 1100);
    assert_string_equal(row.path, "/a/ckpt_100.bin");
    assert_string_equal(row.checksum, "00000000deadbeef");
    /* Requests: found by id; a reused id or seq rolls back the whole request, event included. */
    int64_t seq = 0, req_inc = 0;
    assert_int_equal(store_record_checkpoint_request(s, 1, 7, "ck-a", "why", 5, err, sizeof(err)), 0);
    assert_int_equal(store_record_checkpoint_request(s, 2, 8, NULL, NULL, 6, err, sizeof(err)), 0);
    assert_int_equal(store_find_checkpoint_request(s, "ck-a", &seq, &req_inc, err, sizeof(err)), 1);
    assert_int_equal(seq, 1);
    assert_int_equal(req_inc, inc);
    assert_int_equal(store_find_checkpoint_request(s, "ck-b", &seq, &req_inc, err, sizeof(err)), 0);
    assert_true(store_record_checkpoint_request(s, 3, 9, "ck-a", "dup", 7, err, sizeof(err)) < 0);
    assert_true(store_record_checkpoint_request(s, 2, 9, "ck-c", "dup", 7, err, sizeof(err)) < 0);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM checkpoint_requests"), 2);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM events WHERE kind = 'checkpoint_requested'"), 2);
    assert_int_equal(
        raw_int(t->path, "SELECT count(*) FROM events WHERE kind = 'checkpoint_requested' AND detail = 'why'"), 1);
    birdie_store_close(s);
    /* A second incarnation: the same step is a new row, and it is the newest. */
    s = open_run(t->path, &inc);
    assert_int_equal(store_last_checkpoint(s, &row, err, sizeof(err)), 1);
    assert_int_equal(row.incarnation, 1);
    c = ckpt(10, "/c/ckpt_10.bin");
    assert_int_equal(store_record_checkpoint(s, &c, "", err, sizeof(err)), 1);
    assert_int_equal(store_last_checkpoint(s, &row, err, sizeof(err)), 1);
    assert_int_equal(row.incarnation, 2);
    assert_int_equal(row.step, 10);
    Birdie__V1__GetHistoryResponse *h = NULL;
    assert_int_equal(birdie_store_history(s, 20, 0, &h, err, sizeof(err)), 0);
    assert_int_equal(h->n_checkpoints, 2);
    assert_int_equal(h->checkpoints[0]->step, 50);
    assert_int_equal(h->checkpoints[1]->bytes, 1100);
    birdie_store_history_free(h);
    birdie_store_close(s);
}

/* A database written by a binary that knew only migration 0001, with a checkpoint row and the state
 * events such a binary wrote (the state's name only, no step, no reason). */
static void make_schema1_database(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, birdie_migrations[0], NULL, NULL, NULL), SQLITE_OK);
    char sql[1024];
    snprintf(
        sql, sizeof(sql),
        "PRAGMA user_version=1; PRAGMA application_id=%d;"
        "INSERT INTO runs(run_id, name, created_unix_ms, world_size) VALUES (1, 'r1', 1, 2);"
        "INSERT INTO arms VALUES (1, 0, 'ntp', 'ntp'), (1, 1, 'copy', 'copying');"
        "INSERT INTO incarnations(run_id, incarnation, started_unix_ms, world_size) VALUES (1, 1, 1, 2);"
        "INSERT INTO checkpoints(run_id, incarnation, step, path, unix_ms) VALUES (1, 1, 40, '/old/ckpt_40.bin', 2);"
        "INSERT INTO events(run_id, incarnation, step, unix_ms, kind, detail) VALUES (1, 1, NULL, 3, 'state', "
        "'running'), (1, 1, 41, 4, 'checkpoint', 'x'), (1, 1, NULL, 5, 'state', 'paused');",
        STORE_APPLICATION_ID);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_schema1_database(void **state)
{
    tmpdb *t = *state;
    make_schema1_database(t->path);
    char err[512];
    /* Read-only: not migrated, its checkpoints still listed (without the newer columns). */
    birdie_store *ro = NULL;
    int64_t run_id;
    assert_int_equal(birdie_store_open(t->path, 1, &ro, err, sizeof(err)), 0);
    assert_int_equal(birdie_store_select_run(ro, NULL, &run_id, err, sizeof(err)), 0);
    Birdie__V1__GetHistoryResponse *h = NULL;
    if (birdie_store_history(ro, 0, 0, &h, err, sizeof(err)))
        fail_msg("history of a schema-1 database: %s", err);
    assert_int_equal(h->n_checkpoints, 1);
    assert_string_equal(h->checkpoints[0]->path, "/old/ckpt_40.bin");
    assert_int_equal(h->checkpoints[0]->rank, -1);
    birdie_store_history_free(h);
    birdie_store_close(ro);
    assert_int_equal(raw_int(t->path, "PRAGMA user_version"), 1);
    /* Read-write: migrated; the old row reads back with its unknown columns marked. */
    int64_t inc;
    birdie_store *s = open_run(t->path, &inc);
    assert_int_equal(inc, 2);
    assert_int_equal(raw_int(t->path, "PRAGMA user_version"), store_known_version());
    store_checkpoint_row row;
    assert_int_equal(store_last_checkpoint(s, &row, err, sizeof(err)), 1);
    assert_int_equal(row.step, 40);
    assert_int_equal(row.bytes, -1);
    assert_int_equal(row.rank, -1);
    assert_string_equal(row.checksum, "");
    /* its state events became state changes without a step or a reason, in their order */
    Birdie__V1__GetHistoryResponse *h2 = NULL;
    assert_int_equal(birdie_store_history(s, 1000, 0, &h2, err, sizeof(err)), 0);
    assert_int_equal(h2->n_state_changes, 2);
    assert_string_equal(h2->state_changes[0]->state, "running");
    assert_string_equal(h2->state_changes[1]->state, "paused");
    assert_int_equal(h2->state_changes[1]->step, -1);
    assert_string_equal(h2->state_changes[1]->reason, "");
    assert_int_equal(h2->state_changes[1]->unix_ms, 5);
    birdie_store_history_free(h2);
    birdie_store_close(s);
}

/* Every state change is stored with its step and reason (migration 0004), an operator's pause and
 * resume included, and read back in order; since_step selects by step. */
static void test_state_changes(void **state)
{
    tmpdb *t = *state;
    int64_t inc;
    birdie_store *s = open_run(t->path, &inc);
    char err[512];
    static const struct {
        const char *state, *reason;
        int ended;
        int64_t step, ms;
    } changes[] = {
        {"running", "every rank registered", 0, 0, 100}, {"paused", "operator pause: disk full", 0, 12, 200},
        {"running", "operator resume", 0, 12, 300},      {"stopping", "operator stop: done", 0, 20, 400},
        {"stopped", "operator stop: done", 1, 21, 500},
    };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(store_set_state(s, changes[i].state, changes[i].reason, changes[i].ended, changes[i].step,
                                         changes[i].ms, err, sizeof(err)),
                         0);
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM state_changes WHERE state = 'paused' AND step = 12 AND "
                                      "reason = 'operator pause: disk full' AND unix_ms = 200 AND incarnation = 1"),
                     1);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs WHERE state = 'stopped'"), 1);
    birdie_store *ro = NULL;
    int64_t run_id;
    assert_int_equal(birdie_store_open(t->path, 1, &ro, err, sizeof(err)), 0);
    assert_int_equal(birdie_store_select_run(ro, "r1", &run_id, err, sizeof(err)), 0);
    Birdie__V1__GetHistoryResponse *h = NULL;
    assert_int_equal(birdie_store_history(ro, 0, 0, &h, err, sizeof(err)), 0);
    assert_int_equal(h->n_state_changes, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(h->state_changes[i]->state, changes[i].state);
        assert_string_equal(h->state_changes[i]->reason, changes[i].reason);
        assert_int_equal(h->state_changes[i]->step, changes[i].step);
        assert_int_equal(h->state_changes[i]->unix_ms, changes[i].ms);
        assert_int_equal(h->state_changes[i]->incarnation, 1);
    }
    birdie_store_history_free(h);
    assert_int_equal(birdie_store_history(ro, 20, 0, &h, err, sizeof(err)), 0);
    assert_int_equal(h->n_state_changes, 2);
    assert_string_equal(h->state_changes[0]->state, "stopping");
    birdie_store_history_free(h);
    birdie_store_close(ro);
    /* a state this schema does not know is refused, and nothing of that change is kept */
    s = open_run(t->path, &inc);
    assert_true(store_set_state(s, "sleeping", NULL, 0, 30, 600, err, sizeof(err)) < 0);
    birdie_store_close(s);
    assert_int_equal(raw_int(t->path, "SELECT count(*) FROM runs WHERE state = 'sleeping'"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_and_reopen, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_lost_incarnation_and_mixture_origin, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_arm_mismatch_refused, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_newer_database_refused, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database_refused, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_eval_commit_is_atomic, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_history, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_and_requests, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_schema1_database, tmpdb_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_state_changes, tmpdb_setup, tmpdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
