/* Tests of birdiectl explain (ctl/ctl_explain.c, run as a subprocess, path in $BIRDIECTL) on a run
 * written through the store's write API by a real scheduler (ctl_run_db.c): the JSON explanation
 * holds exactly the values the scheduler decided (compared bit for bit: JSON reals are printed with
 * 17 significant digits), --decision N finds the same decision, --replay recomputes it from a
 * checkpoint's scheduler state through the evaluations in between (one of them after an operator's
 * mixture) and reports a match, a tampered stored record is reported as a difference with exit 8,
 * and bad input gets its documented exit code: 2 usage (bad STEP, missing --db, STEP and --decision
 * together), 5 nothing found (no decision at the step, no such decision, nothing to replay from). */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/ctl/ctl_run_db.h"
#include "tests/daemon/daemon_fixture.h"

typedef struct env {
    run_db r;
    char out[200];
    const char *ctl;
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    e->ctl = getenv("BIRDIECTL");
    if (!e->ctl || run_db_create(&e->r))
        return -1;
    snprintf(e->out, sizeof(e->out), "%s/ctl.out", e->r.dir);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    run_db_destroy(&e->r);
    free(e);
    return 0;
}

/* birdiectl --db DB args... ; returns the exit status, output in e->out. */
static int ctl(env *e, const char *const *args)
{
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)e->ctl;
    argv[n++] = "--db";
    argv[n++] = e->r.db;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return fix_run(argv, e->out, 60000);
}

static json_t *json_out(env *e)
{
    json_error_t jerr;
    json_t *root = json_loads(fix_slurp(e->out), 0, &jerr);
    if (!root)
        fail_msg("not JSON (%s):\n%s", jerr.text, fix_slurp(e->out));
    return root;
}

#define EXPECT_OUTPUT(e, needle)                            \
    do {                                                    \
        const char *o_ = fix_slurp((e)->out);               \
        if (!strstr(o_, needle))                            \
            fail_msg("output lacks '%s':\n%s", needle, o_); \
    } while (0)

/* A JSON real equal to v bit for bit (null for NaN). */
static void expect_real(json_t *j, double v, const char *what)
{
    if (isnan(v)) {
        if (!json_is_null(j))
            fail_msg("%s: expected null, got %g", what, json_number_value(j));
        return;
    }
    double got = json_number_value(j);
    if (!json_is_number(j) || memcmp(&got, &v, sizeof(double)) != 0)
        fail_msg("%s: expected %.17g, got %.17g", what, v, got);
}

static double class_sum(const double *w, const char *cls)
{
    double t = 0;
    for (int a = 0; a < RUN_ARMS; a++)
        if (!strcmp(run_arm_classes[a], cls))
            t += w[a];
    return t;
}

/* The JSON explanation of decision k against the scheduler's own record of it. */
static void check_explained(env *e, json_t *o, int k, int64_t previous_version)
{
    const birdie_decision *d = &e->r.d[k];
    assert_int_equal(json_integer_value(json_object_get(o, "step")), d->step);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "scheduler");
    assert_string_equal(json_string_value(json_object_get(o, "kind")), birdie_decision_kind_name(d->kind));
    assert_int_equal(json_is_true(json_object_get(o, "explore")), d->kind == BIRDIE_DECISION_EXPLORE);
    assert_int_equal(json_integer_value(json_object_get(o, "mixture_version")), e->r.store_version[k]);
    assert_int_equal(json_integer_value(json_object_get(o, "previous_mixture_version")), previous_version);
    expect_real(json_object_get(o, "fit_error"), d->fit_mse_clean, "fit_error");
    expect_real(json_object_get(o, "observed_reward"), d->observed_score, "observed_reward");
    expect_real(json_object_get(o, "predicted_reward"), d->has_prediction ? d->predicted_in_score : NAN,
                "predicted_reward");
    /* the chosen mixture: predicted when chosen, observed at the next evaluation */
    json_t *chosen = json_object_get(o, "chosen");
    expect_real(json_object_get(chosen, "predicted_reward"), d->predicted_out_score, "chosen.predicted_reward");
    if (k + 1 < RUN_EVALS) {
        expect_real(json_object_get(chosen, "observed_reward"), e->r.d[k + 1].observed_score, "chosen.observed");
        assert_int_equal(json_integer_value(json_object_get(chosen, "observed_at_step")), e->r.d[k + 1].step);
    } else {
        assert_true(json_is_null(json_object_get(chosen, "observed_reward")));
    }
    json_t *arms = json_object_get(o, "arms");
    assert_int_equal(json_array_size(arms), RUN_ARMS);
    for (int a = 0; a < RUN_ARMS; a++) {
        json_t *arm = json_array_get(arms, a);
        assert_string_equal(json_string_value(json_object_get(arm, "arm")), run_arm_names[a]);
        assert_string_equal(json_string_value(json_object_get(arm, "class")), run_arm_classes[a]);
        expect_real(json_object_get(arm, "val_loss"), d->loss_sum[a] / d->tokens[a], "val_loss");
        expect_real(json_object_get(arm, "tokens"), d->tokens[a], "tokens");
        expect_real(json_object_get(arm, "reward"), d->has_reward ? d->reward[a] : NAN, "reward");
        expect_real(json_object_get(arm, "weight_before"), d->mixture_in[a], "weight_before");
        expect_real(json_object_get(arm, "weight_after"), d->mixture_out[a], "weight_after");
        expect_real(json_object_get(arm, "predicted_reward"), d->predicted_out[a], "arm predicted_reward");
    }
    json_t *classes = json_object_get(o, "classes");
    assert_int_equal(json_array_size(classes), 3);
    for (size_t c = 0; c < 3; c++) {
        json_t *cl = json_array_get(classes, c);
        const char *name = json_string_value(json_object_get(cl, "class"));
        expect_real(json_object_get(cl, "weight_after"), class_sum(d->mixture_out, name), "class weight_after");
        expect_real(json_object_get(cl, "weight_before"), class_sum(d->mixture_in, name), "class weight_before");
    }
    json_t *s = json_object_get(o, "scheduler");
    assert_int_equal(json_integer_value(json_object_get(s, "eval_index")), k);
    expect_real(json_object_get(s, "explore_prob"), d->explore_prob, "explore_prob");
    expect_real(json_object_get(s, "explore_draw"), d->explore_draw, "explore_draw");
    expect_real(json_object_get(s, "fit_mse_first"), d->fit_mse_first, "fit_mse_first");
    assert_int_equal(json_integer_value(json_object_get(s, "history_len")), d->history_len);
    json_t *top = json_object_get(s, "top_candidates");
    assert_int_equal(json_array_size(top), d->n_candidates ? d->top_k : 0);
    for (int j = 0; d->n_candidates && j < d->top_k; j++) {
        json_t *t = json_array_get(top, j);
        assert_int_equal(json_integer_value(json_object_get(t, "candidate")), d->top_index[j]);
        expect_real(json_object_get(t, "score"), d->top_score[j], "top score");
        for (int a = 0; a < RUN_ARMS; a++)
            expect_real(json_array_get(json_object_get(t, "weights"), a), d->top_candidates[j * RUN_ARMS + a],
                        "top weights");
    }
}

static void test_explain_matches_the_stored_decision(void **state)
{
    env *e = *state;
    /* a choice of the scheduler */
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", "400", NULL}), 0);
    json_t *o = json_out(e);
    check_explained(e, o, 3, e->r.store_version[2]);
    assert_true(json_object_get(o, "replay") == NULL);
    json_decref(o);
    /* the decision after the operator's mixture: what was in force before it is the operator's */
    int k = RUN_OPERATOR_AFTER + 1;
    char step[24];
    snprintf(step, sizeof(step), "%lld", (long long)e->r.d[k].step);
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", step, NULL}), 0);
    o = json_out(e);
    check_explained(e, o, k, e->r.store_version[k - 1] + 1);
    for (int a = 0; a < RUN_ARMS; a++)
        assert_true(e->r.d[k].mixture_in[a] == e->r.operator_weights[a]);
    json_decref(o);
    /* the last one: nothing observed after it yet */
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", "1000", NULL}), 0);
    o = json_out(e);
    check_explained(e, o, RUN_EVALS - 1, e->r.store_version[RUN_EVALS - 2]);
    json_decref(o);
    /* the text form says the same in words */
    assert_int_equal(ctl(e, (const char *[]){"explain", "400", NULL}), 0);
    char line[160];
    snprintf(line, sizeof(line), "decision at step 400 (incarnation 1, scheduler, evaluation 3): %s",
             birdie_decision_kind_name(e->r.d[3].kind));
    EXPECT_OUTPUT(e, line);
    snprintf(line, sizeof(line), "version %lld -> %lld", (long long)e->r.store_version[2],
             (long long)e->r.store_version[3]);
    EXPECT_OUTPUT(e, line);
    EXPECT_OUTPUT(e, "top candidates (of 64;");
    snprintf(line, sizeof(line), "draw u = %.4f", e->r.d[3].explore_draw);
    EXPECT_OUTPUT(e, line);
}

static void test_decision_option_and_operator(void **state)
{
    env *e = *state;
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", "--decision", "4", NULL}), 0);
    json_t *o = json_out(e);
    check_explained(e, o, 4, e->r.store_version[3]);
    json_decref(o);
    /* the decision before the operator's mixture: its chosen mixture was observed at the next
     * scheduler decision, not at the operator's (which observes nothing) */
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", "--decision", "6", NULL}), 0);
    o = json_out(e);
    check_explained(e, o, RUN_OPERATOR_AFTER, e->r.store_version[RUN_OPERATOR_AFTER - 1]);
    json_decref(o);
    /* an operator's decision: no scheduler record, the mixture it set */
    char step[24];
    snprintf(step, sizeof(step), "%lld", (long long)e->r.d[RUN_OPERATOR_AFTER].step + 50);
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", step, NULL}), 0);
    o = json_out(e);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "operator");
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "operator");
    assert_true(json_is_null(json_object_get(o, "scheduler")));
    json_t *arms = json_object_get(o, "arms");
    for (int a = 0; a < RUN_ARMS; a++) {
        expect_real(json_object_get(json_array_get(arms, a), "weight_after"), e->r.operator_weights[a], "operator");
        expect_real(json_object_get(json_array_get(arms, a), "weight_before"),
                    e->r.d[RUN_OPERATOR_AFTER].mixture_out[a], "before the operator");
    }
    json_decref(o);
}

static void test_replay_matches(void **state)
{
    env *e = *state;
    /* from the second checkpoint (after 6 evaluations) through evaluation 7 (the operator's mixture
     * handed in) to 9 */
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", "1000", "--replay", NULL}), 0);
    json_t *o = json_out(e);
    json_t *r = json_object_get(o, "replay");
    assert_true(json_is_true(json_object_get(r, "matches")));
    assert_int_equal(json_integer_value(json_object_get(r, "from_eval")), (json_int_t)e->r.ckpt_evals[1]);
    assert_int_equal(json_integer_value(json_object_get(r, "from_eval")), 6);
    assert_int_equal(json_integer_value(json_object_get(r, "to_eval")), 9);
    assert_string_equal(json_string_value(json_object_get(r, "checkpoint")), e->r.ckpt_path[1]);
    json_decref(o);
    /* an earlier decision needs the earlier checkpoint; the text form; a folder given explicitly */
    assert_int_equal(ctl(e, (const char *[]){"explain", "500", "--replay", "--checkpoint", e->r.ck_dir, NULL}), 0);
    char line[4200];
    snprintf(line, sizeof(line), "replay     matches bit for bit: evaluations 3..4 recomputed from %s",
             e->r.ckpt_path[0]);
    EXPECT_OUTPUT(e, line);
}

/* Replaces the stored record of evaluation k by one whose chosen mixture differs in its last bit. */
static void tamper(env *e, int k)
{
    birdie_decision d = {0};
    uint8_t *blob = NULL;
    size_t len = 0;
    char err[256];
    /* a copy of the decision through its own bytes, then one bit of mixture_out flipped */
    assert_int_equal(birdie_decision_encode(&e->r.d[k], &blob, &len, err, sizeof(err)), 0);
    assert_int_equal(birdie_decision_decode(blob, len, &d, err, sizeof(err)), 0);
    free(blob);
    uint64_t bits;
    memcpy(&bits, &d.mixture_out[0], sizeof(bits));
    bits ^= 1;
    memcpy(&d.mixture_out[0], &bits, sizeof(bits));
    assert_int_equal(birdie_decision_encode(&d, &blob, &len, err, sizeof(err)), 0);
    birdie_decision_free(&d);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(e->r.db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "UPDATE decision_details SET record = ?1 WHERE eval_index = ?2", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, k);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
    free(blob);
}

static void test_replay_differs(void **state)
{
    env *e = *state;
    tamper(e, 8);
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", "1000", "--replay", NULL}), 8);
    json_t *o = json_out(e);
    json_t *r = json_object_get(o, "replay");
    assert_true(json_is_false(json_object_get(r, "matches")));
    assert_int_equal(json_integer_value(json_object_get(r, "differs_at")), 8);
    assert_string_equal(json_string_value(json_object_get(r, "differs_in")), "chosen mixture");
    json_decref(o);
    assert_int_equal(ctl(e, (const char *[]){"explain", "900", "--replay", NULL}), 8);
    EXPECT_OUTPUT(e, "replay     DIFFERS at evaluation 8 (chosen mixture)");
    /* a decision before the tampered one still replays */
    assert_int_equal(ctl(e, (const char *[]){"explain", "800", "--replay", NULL}), 0);
}

static void test_bad_input(void **state)
{
    env *e = *state;
    assert_int_equal(ctl(e, (const char *[]){"explain", "abc", NULL}), 2);
    EXPECT_OUTPUT(e, "STEP 'abc' is not a non-negative integer");
    assert_int_equal(ctl(e, (const char *[]){"explain", "-5", NULL}), 2);
    assert_int_equal(ctl(e, (const char *[]){"explain", NULL}), 2);
    EXPECT_OUTPUT(e, "one STEP or --decision N");
    assert_int_equal(ctl(e, (const char *[]){"explain", "400", "--decision", "3", NULL}), 2);
    assert_int_equal(ctl(e, (const char *[]){"explain", "400", "--checkpoint", "x", NULL}), 2);
    assert_int_equal(ctl(e, (const char *[]){"explain", "450", NULL}), 5);
    EXPECT_OUTPUT(e, "no decision at step 450");
    assert_int_equal(ctl(e, (const char *[]){"-o", "json", "explain", "--decision", "99", NULL}), 5);
    json_t *o = json_out(e);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "code")), "NOT_FOUND");
    json_decref(o);
    /* evaluation 1 is older than every checkpoint's scheduler state */
    assert_int_equal(ctl(e, (const char *[]){"explain", "200", "--replay", NULL}), 5);
    EXPECT_OUTPUT(e, "every checkpoint is later than evaluation 1");
    /* an operator's decision has no scheduler record to replay */
    assert_int_equal(ctl(e, (const char *[]){"explain", "750", "--replay", NULL}), 5);
    EXPECT_OUTPUT(e, "no scheduler record");
    assert_int_equal(ctl(e, (const char *[]){"explain", "400", "--replay", "--checkpoint", "/nonexistent", NULL}), 5);
    /* explain's options elsewhere, plot's options here */
    assert_int_equal(ctl(e, (const char *[]){"history", "--replay", NULL}), 2);
    EXPECT_OUTPUT(e, "work with explain only");
    assert_int_equal(ctl(e, (const char *[]){"explain", "400", "--out", "x", NULL}), 2);
    EXPECT_OUTPUT(e, "work with plot only");
    /* without --db: a usage error, not a server call */
    char *argv[] = {(char *)e->ctl, "explain", "400", NULL};
    assert_int_equal(fix_run(argv, e->out, 60000), 2);
    EXPECT_OUTPUT(e, "--db FILE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_explain_matches_the_stored_decision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decision_option_and_operator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_differs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
