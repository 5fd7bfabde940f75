/* tests/test_train.c: the training loop end to end on the CPU: the XS model learns the synthetic
 * corpus, runs are bit-identical for the same seed, the LR schedule has its shape, and the config
 * parser names what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/config.h"
#include "worker/train.h"

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

/* A few hundred steps take the validation loss far below the uniform guess (ln 384 = 5.95). */
static void test_learns(void **state)
{
    (void)state;
    birdie_config cfg;
    xs_config(&cfg, 300);
    birdie_train_report rep = {0};
    char err[512];
    int rc = birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, &rep, err, sizeof err);
    if (rc < 0)
        fail_msg("train: %s", err);
    print_message("# val loss %.4f -> %.4f over %ld steps\n", rep.first_val_loss, rep.last_val_loss, rep.steps_done);
    assert_int_equal(rep.steps_done, 300);
    assert_true(rep.first_val_loss > 5.0);
    assert_true(rep.last_val_loss < rep.first_val_loss - 2.5);
}

static void run_losses(int bidirectional, uint64_t seed, double *losses, long steps)
{
    birdie_config cfg;
    xs_config(&cfg, steps);
    cfg.bidirectional = bidirectional;
    cfg.seed = seed;
    birdie_train_report rep = {.train_losses = losses};
    char err[512];
    if (birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, &rep, err, sizeof err) < 0)
        fail_msg("train: %s", err);
}

static void test_deterministic(void **state)
{
    (void)state;
    enum { STEPS = 12 };
    double a[STEPS], b[STEPS], c[STEPS];
    run_losses(1, 42, a, STEPS);
    run_losses(1, 42, b, STEPS);
    run_losses(1, 43, c, STEPS);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

static void test_lr_schedule(void **state)
{
    (void)state;
    birdie_config cfg;
    birdie_config_defaults(&cfg);
    cfg.steps = 1000;
    cfg.lr = 1e-3;
    /* 5% linear warm-up, then cosine from the peak down to 10% of it */
    assert_true(fabs(birdie_lr_at(&cfg, 25) - 0.5e-3) < 1e-12);
    assert_true(fabs(birdie_lr_at(&cfg, 50) - 1e-3) < 1e-12);
    assert_true(fabs(birdie_lr_at(&cfg, 525) - 0.55e-3) < 1e-12);
    assert_true(fabs(birdie_lr_at(&cfg, 1000) - 1e-4) < 1e-12);
    for (long s = 51; s <= 1000; s++)
        assert_true(birdie_lr_at(&cfg, s) <= birdie_lr_at(&cfg, s - 1));
}

static void expect_error(int rc, const char *err, const char *needle)
{
    assert_true(rc < 0);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not name '%s'", err, needle);
}

static void test_config_errors(void **state)
{
    (void)state;
    birdie_config cfg;
    birdie_config_defaults(&cfg);
    char err[512];
    expect_error(birdie_config_set(&cfg, "train.lrr=1", err, sizeof err), err, "[train] lrr");
    expect_error(birdie_config_set(&cfg, "train.lr=abc", err, sizeof err), err, "[train] lr");
    expect_error(birdie_config_set(&cfg, "train.batch=0", err, sizeof err), err, "out of range");
    expect_error(birdie_config_set(&cfg, "train.batch=2.5", err, sizeof err), err, "not an integer");
    expect_error(birdie_config_set(&cfg, "model.size=XXL", err, sizeof err), err, "XS|S|125M|350M");
    expect_error(birdie_config_set(&cfg, "model.bidirectional=maybe", err, sizeof err), err, "boolean");
    expect_error(birdie_config_set(&cfg, "run.seed=-1", err, sizeof err), err, "[run] seed");
    expect_error(birdie_config_set(&cfg, "nodot", err, sizeof err), err, "section.key=value");
    assert_int_equal(birdie_config_set(&cfg, "train.lr=2e-3", err, sizeof err), 0);
    assert_true(cfg.lr == 2e-3);
    assert_int_equal(birdie_config_set(&cfg, "data.source=shards", err, sizeof err), 0);
    expect_error(birdie_config_validate(&cfg, err, sizeof err), err, "[data] train");
    /* a file: the line and the key are named */
    char path[] = "/tmp/birdie-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("[train]\nlr = 1e-3\nbatchsize = 4\n", f);
    fclose(f);
    birdie_config_defaults(&cfg);
    int rc = birdie_config_load_file(&cfg, path, err, sizeof err);
    expect_error(rc, err, "line 3");
    expect_error(rc, err, "[train] batchsize");
    unlink(path);
    expect_error(birdie_config_load_file(&cfg, "/nonexistent/run.ini", err, sizeof err), err, "/nonexistent/run.ini");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
