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

#include "worker/checkpoint.h"
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
    int rc = birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, NULL, &rep, err, sizeof err);
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
    if (birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, NULL, &rep, err, sizeof err) < 0)
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

/* A run interrupted at a checkpoint and resumed from it reproduces the uninterrupted run bit for
 * bit: parameters, AdamW moments, the mixture and the (local) scheduler's state all come back. */
static void resume_config(birdie_config *cfg, const char *dir)
{
    xs_config(cfg, 12);
    snprintf(cfg->arms, sizeof cfg->arms, "ntp len=16-64; copying len=8-24; prefix_lm len=16-48");
    snprintf(cfg->mixture, sizeof cfg->mixture, "birdie");
    cfg->rm_hidden = 16;
    cfg->rm_layers = 1;
    cfg->fit_iters = 10;
    cfg->candidates = 64;
    cfg->warmup_steps = 2;
    cfg->ckpt_every = 6;
    snprintf(cfg->ckpt_dir, sizeof cfg->ckpt_dir, "%s", dir);
}

static void test_resume_bit_identical(void **state)
{
    (void)state;
    char dir[] = "/tmp/birdie-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    birdie_config cfg;
    resume_config(&cfg, dir);
    double straight[12], resumed[12];
    char err[512], path[600];
    birdie_train_report rep = {.train_losses = straight};
    if (birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, NULL, &rep, err, sizeof err) < 0)
        fail_msg("train: %s", err);
    assert_true(rep.mixture_version > 1); /* the scheduler decided along the way */
    /* continue from the checkpoint of step 6, as a restarted job would */
    snprintf(path, sizeof path, "%s/ckpt_000000006.bin", dir);
    birdie_checkpoint ck;
    if (birdie_checkpoint_load_file(path, &ck, err, sizeof err) < 0)
        fail_msg("load: %s", err);
    assert_int_equal(ck.step, 6);
    assert_non_null(ck.sched_state);
    memset(resumed, 0, sizeof resumed);
    birdie_train_report rep2 = {.train_losses = resumed};
    if (birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, &ck, NULL, &rep2, err, sizeof err) < 0)
        fail_msg("resumed train: %s", err);
    assert_memory_equal(straight + 6, resumed + 6, 6 * sizeof(double));
    assert_int_equal(rep2.mixture_version, rep.mixture_version);
    /* the newest checkpoint is what auto-resume picks */
    birdie_checkpoint latest;
    assert_int_equal(birdie_checkpoint_load_latest(dir, &latest, NULL, 0, err, sizeof err), 1);
    assert_int_equal(latest.step, 12);
    birdie_checkpoint_free(&latest);
    /* a checkpoint of another configuration is refused by name */
    cfg.batch = 4;
    int rc = birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, &ck, NULL, &rep2, err, sizeof err);
    assert_true(rc < 0);
    assert_non_null(strstr(err, "different configuration"));
    birdie_checkpoint_free(&ck);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* [run] stop_after stops like an operator would, with a final checkpoint of that step (here 5, not a
 * multiple of checkpoint.every), and the run continued from it without stop_after repeats the
 * uninterrupted one. */
static void test_stop_after_and_resume(void **state)
{
    (void)state;
    char dir[] = "/tmp/birdie-stop-XXXXXX";
    assert_non_null(mkdtemp(dir));
    birdie_config cfg;
    resume_config(&cfg, dir);
    double straight[12], first[12] = {0}, second[12] = {0};
    char err[512];
    birdie_train_report rep = {.train_losses = straight};
    if (birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, NULL, &rep, err, sizeof err) < 0)
        fail_msg("train: %s", err);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", dir);
    assert_int_equal(system(cmd), 0);
    cfg.stop_after = 5;
    birdie_train_report rep1 = {.train_losses = first};
    if (birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, NULL, &rep1, err, sizeof err) < 0)
        fail_msg("train to step 5: %s", err);
    assert_true(rep1.stopped);
    assert_int_equal(rep1.steps_done, 5);
    birdie_checkpoint latest;
    assert_int_equal(birdie_checkpoint_load_latest(dir, &latest, NULL, 0, err, sizeof err), 1);
    assert_int_equal(latest.step, 5);
    cfg.stop_after = 0;
    birdie_train_report rep2 = {.train_losses = second};
    if (birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, &latest, NULL, &rep2, err, sizeof err) < 0)
        fail_msg("resumed train: %s", err);
    assert_false(rep2.stopped);
    assert_memory_equal(straight, first, 5 * sizeof(double));
    assert_memory_equal(straight + 5, second + 5, 7 * sizeof(double));
    birdie_checkpoint_free(&latest);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A corrupt newest checkpoint is skipped with a note and the one before it is used; a directory
 * whose every checkpoint is corrupt is an error that names the files, never a silent fresh start. */
static void test_checkpoint_corrupt(void **state)
{
    (void)state;
    char dir[] = "/tmp/birdie-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    float p[5] = {1, 2, 3, 4, 5}, m[5] = {0}, v[5] = {0};
    double w[2] = {0.25, 0.75};
    char err[4096], notes[4096], path[600];
    for (int64_t step = 10; step <= 30; step += 10) {
        birdie_checkpoint ck = {.step = step, .n_params = 5, .params = p, .m = m, .v = v, .n_arms = 2,
                                .mixture_version = (uint64_t)step, .weights = w, .config_hash = 42};
        birdie_checkpoint_info info;
        assert_int_equal(birdie_checkpoint_write(dir, &ck, 2, &info, err, sizeof err), 0);
        assert_non_null(strstr(info.path, "ckpt_0000000"));
        assert_int_equal(strlen(info.checksum), 16);
    }
    snprintf(path, sizeof path, "%s/ckpt_000000010.bin", dir);
    assert_int_not_equal(access(path, F_OK), 0); /* keep = 2 removed the oldest */
    snprintf(path, sizeof path, "%s/ckpt_000000030.bin", dir);
    FILE *f = fopen(path, "r+b");
    fseek(f, 200, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    birdie_checkpoint ck;
    assert_int_equal(birdie_checkpoint_load_latest(dir, &ck, notes, sizeof notes, err, sizeof err), 1);
    assert_int_equal(ck.step, 20);
    assert_non_null(strstr(notes, "ckpt_000000030.bin"));
    assert_true(ck.params[4] == 5.0f && ck.weights[1] == 0.75);
    birdie_checkpoint_free(&ck);
    snprintf(path, sizeof path, "%s/ckpt_000000020.bin", dir);
    assert_int_equal(truncate(path, 100), 0);
    assert_true(birdie_checkpoint_load_latest(dir, &ck, notes, sizeof notes, err, sizeof err) < 0);
    assert_non_null(strstr(err, "none of the 2 checkpoints"));
    assert_non_null(strstr(err, "truncated"));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    /* no manifest at all: a fresh run */
    assert_int_equal(birdie_checkpoint_load_latest("/nonexistent-birdie-dir", &ck, NULL, 0, err, sizeof err), 0);
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
        cmocka_unit_test(test_resume_bit_identical),
        cmocka_unit_test(test_stop_after_and_resume),
        cmocka_unit_test(test_checkpoint_corrupt),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
