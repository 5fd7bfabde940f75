/* Unit tests of ctl/ctl_plot_data.c (the series birdiectl plot draws, from a history) and
 * ctl/ctl_bars.c (the per-class bar table of birdiectl status), on a hand-built history whose every
 * expected value is worked out here from the definitions in ctl_plot_data.h: validation loss is
 * sum(loss_sum) / sum(tokens) (token-weighted, not a mean of means), a class's mixture share is the
 * sum of its arms' weights, a class's reward the mean of its arms' rewards (NaN left out), a step
 * repeated by a later incarnation keeps the later value, a mixture is drawn from the step it was
 * applied at. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/ctl_bars.h"
#include "ctl/ctl_plot_data.h"

/* A small history built on the stack: 3 arms (two ntp, one copying). */
typedef struct hist {
    Birdie__V1__GetHistoryResponse h;
    Birdie__V1__ArmInfo arm[3], *armp[3];
    Birdie__V1__EvalRecord ev[9], *evp[9];
    Birdie__V1__RewardRecord rw[3], *rwp[3];
    Birdie__V1__MixtureRecord mx[3], *mxp[3];
    Birdie__V1__Mixture m[3];
    Birdie__V1__ArmWeight w[3][3], *wp[3][3];
    Birdie__V1__DecisionRecord dc[4], *dcp[4];
    Birdie__V1__StepRecord st[4], *stp[4];
} hist;

static const char *const arm_names[3] = {"a0", "a1", "a2"};
static const char *const arm_classes[3] = {"ntp", "ntp", "copying"};

static void add_eval(hist *t, size_t i, int64_t inc, int64_t step, int arm, double loss_sum, double tokens)
{
    birdie__v1__eval_record__init(&t->ev[i]);
    t->ev[i] = (Birdie__V1__EvalRecord){t->ev[i].base, inc, step, (char *)arm_names[arm], loss_sum, tokens};
    t->evp[i] = &t->ev[i];
}

static void add_mixture(hist *t, size_t i, int64_t step, int64_t applied, double w0, double w1, double w2)
{
    birdie__v1__mixture_record__init(&t->mx[i]);
    birdie__v1__mixture__init(&t->m[i]);
    double w[3] = {w0, w1, w2};
    for (int a = 0; a < 3; a++) {
        birdie__v1__arm_weight__init(&t->w[i][a]);
        t->w[i][a].arm = (char *)arm_names[a];
        t->w[i][a].weight = w[a];
        t->wp[i][a] = &t->w[i][a];
    }
    t->m[i].version = (int64_t)i;
    t->m[i].step = step;
    t->m[i].source = "scheduler";
    t->m[i].n_weights = 3;
    t->m[i].weights = t->wp[i];
    t->mx[i].incarnation = 1;
    t->mx[i].mixture = &t->m[i];
    t->mx[i].applied_step = applied;
    t->mxp[i] = &t->mx[i];
}

static void add_decision(hist *t, size_t i, int64_t step, const char *source, int explore, const char *kind,
                         double observed)
{
    birdie__v1__decision_record__init(&t->dc[i]);
    t->dc[i].incarnation = 1;
    t->dc[i].step = step;
    t->dc[i].source = (char *)source;
    t->dc[i].explore = explore;
    t->dc[i].kind = (char *)kind;
    t->dc[i].observed_reward = observed;
    t->dc[i].predicted_reward = NAN;
    t->dc[i].fit_error = NAN;
    t->dcp[i] = &t->dc[i];
}

static void build(hist *t)
{
    memset(t, 0, sizeof(*t));
    birdie__v1__get_history_response__init(&t->h);
    for (int a = 0; a < 3; a++) {
        birdie__v1__arm_info__init(&t->arm[a]);
        t->arm[a].name = (char *)arm_names[a];
        t->arm[a].objective_class = (char *)arm_classes[a];
        t->armp[a] = &t->arm[a];
    }
    /* incarnation 1: steps 10 and 20; incarnation 2 replays step 20 with other values */
    add_eval(t, 0, 1, 10, 0, 20, 10);
    add_eval(t, 1, 1, 10, 1, 30, 10);
    add_eval(t, 2, 1, 10, 2, 8, 4);
    add_eval(t, 3, 1, 20, 0, 18, 10);
    add_eval(t, 4, 1, 20, 1, 27, 10);
    add_eval(t, 5, 1, 20, 2, 7, 4);
    add_eval(t, 6, 2, 20, 0, 15, 10);
    add_eval(t, 7, 2, 20, 1, 35, 30);
    add_eval(t, 8, 2, 20, 2, 6, 4);
    double rewards[3] = {0.1, NAN, 0.3};
    for (int a = 0; a < 3; a++) {
        birdie__v1__reward_record__init(&t->rw[a]);
        t->rw[a].incarnation = 1;
        t->rw[a].step = 20;
        t->rw[a].arm = (char *)arm_names[a];
        t->rw[a].reward = rewards[a];
        t->rwp[a] = &t->rw[a];
    }
    add_mixture(t, 0, 0, 0, 0.25, 0.25, 0.5);
    add_mixture(t, 1, 10, 12, 0.5, 0.3, 0.2);
    add_mixture(t, 2, 20, -1, 0.1, 0.1, 0.8); /* not applied yet: drawn from its step */
    add_decision(t, 0, 3, "scheduler", 0, "warmup", NAN);
    add_decision(t, 1, 5, "operator", 0, "", NAN);
    add_decision(t, 2, 10, "scheduler", 1, "explore", 0.25);
    add_decision(t, 3, 20, "scheduler", 0, "", 0.5); /* a fixed mixture's evaluation: no mark */
    double losses[4] = {4.0, NAN, 3.0, 2.0};
    int64_t steps[4] = {1, 2, 3, 30};
    for (int i = 0; i < 4; i++) {
        birdie__v1__step_record__init(&t->st[i]);
        t->st[i].incarnation = 1;
        t->st[i].step = steps[i];
        t->st[i].loss = losses[i];
        t->stp[i] = &t->st[i];
    }
    t->h.arms = t->armp;
    t->h.n_arms = 3;
    t->h.evals = t->evp;
    t->h.n_evals = 9;
    t->h.rewards = t->rwp;
    t->h.n_rewards = 3;
    t->h.mixtures = t->mxp;
    t->h.n_mixtures = 3;
    t->h.decisions = t->dcp;
    t->h.n_decisions = 4;
    t->h.steps = t->stp;
    t->h.n_steps = 4;
}

static void test_series(void **state)
{
    (void)state;
    hist *t = malloc(sizeof(*t));
    build(t);
    ctl_plot_data d;
    char err[256];
    assert_int_equal(ctl_plot_data_build(&t->h, &d, err, sizeof(err)), 0);
    assert_int_equal(d.n_classes, 2);
    assert_string_equal(d.classes[0], "ntp");
    assert_string_equal(d.classes[1], "copying");

    /* training loss: the NaN step is left out */
    assert_int_equal(d.train.n, 3);
    assert_true(d.train.x[0] == 1 && d.train.y[0] == 4.0);
    assert_true(d.train.x[1] == 3 && d.train.y[1] == 3.0);
    assert_true(d.train.x[2] == 30 && d.train.y[2] == 2.0);

    /* validation: step 10 from incarnation 1, step 20 from incarnation 2 (the replay wins) */
    assert_int_equal(d.val.n, 2);
    assert_true(d.val.x[0] == 10 && d.val.y[0] == (20.0 + 30 + 8) / (10.0 + 10 + 4));
    assert_true(d.val.x[1] == 20 && d.val.y[1] == (15.0 + 35 + 6) / (10.0 + 30 + 4));
    assert_int_equal(d.class_loss.n, 2);
    assert_int_equal(d.class_loss.width, 2);
    assert_true(d.class_loss.y[0] == 50.0 / 20 && d.class_loss.y[1] == 8.0 / 4);
    /* token-weighted: (15 + 35) / (10 + 30), not the mean of 1.5 and 1.1667 */
    assert_true(d.class_loss.y[2] == 50.0 / 40 && d.class_loss.y[3] == 6.0 / 4);

    /* rewards: the ntp class's NaN arm is left out of its mean */
    assert_int_equal(d.reward.n, 1);
    assert_true(d.reward.x[0] == 20 && d.reward.y[0] == 0.1 && d.reward.y[1] == 0.3);

    /* mixture per class, from the applied step; the last repeated at the last known step (30) */
    assert_int_equal(d.mixture.n, 4);
    double xs[4] = {0, 12, 20, 30}, ntp[4] = {0.5, 0.8, 0.2, 0.2}, copy[4] = {0.5, 0.2, 0.8, 0.8};
    for (int i = 0; i < 4; i++) {
        assert_true(d.mixture.x[i] == xs[i]);
        assert_true(fabs(d.mixture.y[2 * i] - ntp[i]) < 1e-15);
        assert_true(d.mixture.y[2 * i + 1] == copy[i]);
    }

    /* decisions by kind; the fixed mixture's evaluation has no mark but its observed reward counts */
    assert_int_equal(d.marks[CTL_MARK_WARMUP].n, 1);
    assert_true(d.marks[CTL_MARK_WARMUP].x[0] == 3);
    assert_int_equal(d.marks[CTL_MARK_OPERATOR].n, 1);
    assert_true(d.marks[CTL_MARK_OPERATOR].x[0] == 5);
    assert_int_equal(d.marks[CTL_MARK_EXPLORE].n, 1);
    assert_true(d.marks[CTL_MARK_EXPLORE].x[0] == 10);
    assert_int_equal(d.marks[CTL_MARK_EXPLOIT].n, 0);
    assert_int_equal(d.observed.n, 2);
    assert_true(d.observed.x[0] == 10 && d.observed.y[0] == 0.25);
    assert_true(d.observed.x[1] == 20 && d.observed.y[1] == 0.5);
    ctl_plot_data_free(&d);
    free(t);
}

static void test_bad_history(void **state)
{
    (void)state;
    hist *t = malloc(sizeof(*t));
    build(t);
    ctl_plot_data d;
    char err[256] = "";
    t->ev[4].arm = "nobody";
    assert_int_equal(ctl_plot_data_build(&t->h, &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'nobody'"));
    build(t);
    t->h.n_arms = 0;
    assert_int_equal(ctl_plot_data_build(&t->h, &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no arm list"));
    free(t);
}

static void test_bars(void **state)
{
    (void)state;
    assert_int_equal(ctl_bar_length(0.5, 40), 20);
    assert_int_equal(ctl_bar_length(1.0, 40), 40);
    assert_int_equal(ctl_bar_length(0.0, 40), 0);
    assert_int_equal(ctl_bar_length(NAN, 40), 0);
    assert_int_equal(ctl_bar_length(0.01, 40), 1); /* 0.4 would round to nothing: a class in use stays visible */
    assert_int_equal(ctl_bar_length(0.0625, 40), 3); /* 2.5 rounds away from zero */
    hist *t = malloc(sizeof(*t));
    build(t);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctl_print_class_bars(f, &t->m[1], t->armp, 3); /* ntp 0.8, copying 0.2 */
    fclose(f);
    char ntp_line[128], copy_line[128];
    snprintf(ntp_line, sizeof(ntp_line), "ntp                    0.8000  |%.32s%8s|",
             "################################", "");
    snprintf(copy_line, sizeof(copy_line), "copying                0.2000  |%.8s%32s|", "########", "");
    assert_non_null(strstr(buf, ntp_line));
    assert_non_null(strstr(buf, copy_line));
    free(buf);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series),
        cmocka_unit_test(test_bad_history),
        cmocka_unit_test(test_bars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
