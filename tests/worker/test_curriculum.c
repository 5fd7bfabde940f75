/* tests/worker/test_curriculum.c: the curriculum (worker/curriculum.c) as the training loop reads it:
 * the scheduler's evaluation schedule (the next evaluation after a step is the first one strictly
 * later) and the check that every arm fits a row (exactly as long as a row fits, one position more is
 * an error naming the arm). What the loop does with the mixture is in test_train.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/config.h"
#include "worker/curriculum.h"

/* The XS run of test_train.c, whose sequence length and step count set the rows and the schedule. */
static void xs_config(birdie_config *cfg, long steps)
{
    birdie_config_defaults(cfg);
    cfg->steps = steps;
    cfg->batch = 8;
    cfg->lr = 3e-3;
    cfg->eval_every = 0;
    cfg->eval_rows = 16;
    cfg->seq_len = 64;
    snprintf(cfg->arms, sizeof cfg->arms, "ntp len=16-64");
    snprintf(cfg->mixture, sizeof cfg->mixture, "ntp");
    cfg->val_rows_per_arm = 4;
}

/* The scheduler's evaluation schedule as the loop reads it: the next evaluation after a step is the
 * first one strictly later (an evaluation step's own next is the one after it), INT64_MAX after the
 * last. And an arm exactly as long as a row fits; one position more does not, and the error names it. */
static void test_curriculum_schedule_and_fit(void **state)
{
    (void)state;
    birdie_config cfg;
    xs_config(&cfg, 300);
    snprintf(cfg.arms, sizeof cfg.arms, "ntp len=16-64; copying len=8-24");
    snprintf(cfg.mixture, sizeof cfg.mixture, "birdie");
    cfg.rm_hidden = 16;
    cfg.rm_layers = 1;
    char err[512];
    birdie_curriculum cur;
    if (birdie_curriculum_init(&cur, &cfg, cfg.seq_len, err, sizeof err) < 0)
        fail_msg("curriculum: %s", err);
    assert_true(cur.n_eval_steps >= 3);
    for (int i = 0; i < cur.n_eval_steps; i++) {
        int64_t e = cur.eval_steps[i];
        assert_true(birdie_curriculum_scheduler_step(&cur, e));
        assert_int_equal(birdie_curriculum_next_scheduler_step(&cur, e - 1), e);
        int64_t after = i + 1 < cur.n_eval_steps ? cur.eval_steps[i + 1] : INT64_MAX;
        assert_true(birdie_curriculum_next_scheduler_step(&cur, e) == after);
        if (after != e + 1)
            assert_false(birdie_curriculum_scheduler_step(&cur, e + 1));
    }
    assert_false(birdie_curriculum_scheduler_step(&cur, 0));
    int need = birdie_arm_min_size(&cur.arms.arms[1]);
    birdie_curriculum_free(&cur);
    snprintf(cfg.arms, sizeof cfg.arms, "copying len=8-24");
    snprintf(cfg.mixture, sizeof cfg.mixture, "uniform");
    if (birdie_curriculum_init(&cur, &cfg, need, err, sizeof err) < 0)
        fail_msg("an arm needing %d positions must fit rows of %d: %s", need, need, err);
    birdie_curriculum_free(&cur);
    assert_true(birdie_curriculum_init(&cur, &cfg, need - 1, err, sizeof err) < 0);
    char want[64];
    snprintf(want, sizeof want, "needs rows of at least %d positions", need);
    if (!strstr(err, "copy.l8-24") || !strstr(err, want))
        fail_msg("error does not name the arm and its row size: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curriculum_schedule_and_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
