/* tests/worker/test_train.c: the training loop (worker/train.c) end to end on the CPU: the XS model
 * learns the synthetic corpus, runs are bit-identical for the same seed and equal recorded golden
 * losses, a run resumed from a checkpoint (or stopped by [run] stop_after and resumed) repeats the
 * uninterrupted one bit for bit, gradient clipping scales the global gradient to exactly the clip (and
 * leaves a smaller one alone), and the LR schedule has its shape. The config parser, the curriculum
 * and the checkpoint file have their own tests (test_config.c, test_curriculum.c, test_checkpoint.c);
 * two-rank behaviour is in tests/worker/parallel/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stddef.h>
#include <stdlib.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/worker/clip_probe.h"
#include "tests/worker/fake_control.h"
#include "worker/checkpoint.h"
#include "worker/config.h"
#include "worker/error.h"
#include "daemon/local_scheduler.h"
#include "worker/train.h"

/* birdie_train in one process, with the scheduler in this process when the mixture is birdie (as
 * birdied gives it without a coordinator). */
static int train_local(const birdie_config *cfg, const birdie_checkpoint *resume, birdie_train_report *rep, char *err,
                       size_t errlen)
{
    birdie_mixture_source sched = {0};
    if (strcmp(cfg->mixture, "birdie") == 0) {
        int rc = birdie_local_scheduler_open(cfg, &sched, err, errlen);
        if (rc < 0)
            return rc;
    }
    int rc = birdie_train(cfg, &birdie_ops_cpu, NULL, NULL, sched.ctx ? &sched : NULL, resume, NULL, rep, err, errlen);
    birdie_local_scheduler_close(&sched);
    return rc;
}
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
    int rc = train_local(&cfg, NULL, &rep, err, sizeof err);
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
    if (train_local(&cfg, NULL, &rep, err, sizeof err) < 0)
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
    if (train_local(&cfg, NULL, &rep, err, sizeof err) < 0)
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
    if (train_local(&cfg, &ck, &rep2, err, sizeof err) < 0)
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
    int rc = train_local(&cfg, &ck, &rep2, err, sizeof err);
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
    if (train_local(&cfg, NULL, &rep, err, sizeof err) < 0)
        fail_msg("train: %s", err);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", dir);
    assert_int_equal(system(cmd), 0);
    cfg.stop_after = 5;
    birdie_train_report rep1 = {.train_losses = first};
    if (train_local(&cfg, NULL, &rep1, err, sizeof err) < 0)
        fail_msg("train to step 5: %s", err);
    assert_true(rep1.stopped);
    assert_int_equal(rep1.steps_done, 5);
    birdie_checkpoint latest;
    assert_int_equal(birdie_checkpoint_load_latest(dir, &latest, NULL, 0, err, sizeof err), 1);
    assert_int_equal(latest.step, 5);
    cfg.stop_after = 0;
    birdie_train_report rep2 = {.train_losses = second};
    if (train_local(&cfg, &latest, &rep2, err, sizeof err) < 0)
        fail_msg("resumed train: %s", err);
    assert_false(rep2.stopped);
    assert_memory_equal(straight, first, 5 * sizeof(double));
    assert_memory_equal(straight + 5, second + 5, 7 * sizeof(double));
    birdie_checkpoint_free(&latest);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The clip factor itself: the clipped gradient's norm is exactly the clip; at or below it, and with the
 * clip off (0), the gradient is untouched. */
static void test_grad_clip_scale(void **state)
{
    (void)state;
    assert_true(birdie_grad_clip_scale(4.0, 1.0) == 0.25);
    assert_true(birdie_grad_clip_scale(10.0, 2.5) == 0.25);
    const double norms[] = {1.0000001, 3.7, 123.456, 1e6};
    for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++)
        assert_true(fabs(norms[i] * birdie_grad_clip_scale(norms[i], 1.0) - 1.0) < 1e-15);
    assert_true(birdie_grad_clip_scale(0.5, 1.0) == 1.0);
    assert_true(birdie_grad_clip_scale(1.0, 1.0) == 1.0);
    assert_true(birdie_grad_clip_scale(0.0, 1.0) == 1.0);
    assert_true(birdie_grad_clip_scale(50.0, 0.0) == 1.0); /* 0 = off */
}

/* The collective deadline: the configured ceiling until a step is timed; then factor times the longest
 * step, never under the floor nor over the ceiling. */
static void test_collective_deadline(void **state)
{
    (void)state;
    assert_true(birdie_collective_deadline(0.0, 10, 30, 300) == 300); /* nothing timed yet */
    assert_true(birdie_collective_deadline(0.5, 10, 1, 300) == 5.0);
    assert_true(birdie_collective_deadline(2.0, 10, 30, 300) == 30); /* the floor */
    assert_true(birdie_collective_deadline(2.0, 10, 1, 300) == 20);
    assert_true(birdie_collective_deadline(100.0, 10, 30, 300) == 300); /* the ceiling */
    assert_true(birdie_collective_deadline(4.0, 3, 1, 300) == 12); /* the factor, not a constant */
    assert_true(birdie_collective_deadline(0.01, 10, 30, 2) == 2); /* a deadline set below the floor wins */
}

/* One step of a run with the control double attached: its final parameters and the gradient norm the
 * loop reported (before clipping). */
static void one_step(const birdie_config *cfg, float *params, size_t n, double *norm)
{
    fake_control f = {0};
    birdie_control ctl = fake_control_table(&f, 1);
    birdie_train_report rep = {.final_params = params, .n_params = n};
    char err[512];
    if (birdie_train(cfg, &birdie_ops_cpu, NULL, &ctl, NULL, NULL, NULL, &rep, err, sizeof err) < 0)
        fail_msg("train: %s", err);
    *norm = f.last_heartbeat.grad_norm;
}

/* Clipping end to end, through AdamW (clip_probe.h): with the clip far below the gradient's norm the
 * step applies a gradient of norm exactly the clip; with the clip just above the norm the step is
 * bit-identical to one without clipping, and just below it, it is not. */
static void test_grad_clip_end_to_end(void **state)
{
    (void)state;
    birdie_config cfg;
    xs_config(&cfg, 1);
    size_t n = 0;
    float *p0 = clip_probe_initial_params(&cfg, &n);
    assert_non_null(p0);
    float *off = malloc(n * sizeof *off), *p = malloc(n * sizeof *p);
    assert_non_null(off);
    assert_non_null(p);
    double raw, norm, max_u;
    clip_probe_config(&cfg, 0.0);
    one_step(&cfg, off, n, &raw);
    assert_true(raw > 1e-3);
    /* eps * sqrt(n): the clipped entries are near eps, where AdamW's step still shows their size */
    double clip = CLIP_PROBE_EPS * sqrt((double)n);
    clip_probe_config(&cfg, clip);
    one_step(&cfg, p, n, &norm);
    assert_true(norm == raw); /* the reported norm is the gradient's, before clipping */
    double applied = clip_probe_applied_norm(p0, p, n, cfg.lr, &max_u);
    print_message("# raw gradient norm %.4g, clip %.4g, applied %.4g (largest move/lr %.3f)\n", raw, clip, applied,
                  max_u);
    assert_true(max_u < 0.99);
    assert_true(fabs(applied - clip) < 1e-2 * clip);
    clip_probe_config(&cfg, raw * 1.001);
    one_step(&cfg, p, n, &norm);
    assert_memory_equal(p, off, n * sizeof *p);
    clip_probe_config(&cfg, raw * 0.999);
    one_step(&cfg, p, n, &norm);
    assert_memory_not_equal(p, off, n * sizeof *p);
    free(p0);
    free(off);
    free(p);
}

/* Golden values: the losses of a tiny fixed run, recorded once (AMD EPYC, OpenBLAS 0.3.21, GCC 12.2
 * at -O2, no sanitizers) and compared bit for bit, so any change to what training computes on the CPU
 * shows, however small. Our own code's bits depend on the compiler and its flags too (contraction into
 * FMA, vectorisation; the ASan build already differs in the 10th digit), so the exact comparison also
 * needs the recorded compiler version and optimisation level (BIRDIE_TEST_OPTIMIZATION, from
 * tests/worker/meson.build) and no AddressSanitizer.
 * Float results depend on the GEMM kernel, which OpenBLAS picks per CPU model (Zen, Haswell, SkylakeX
 * with AVX-512, Sapphire Rapids ...), and on the thread count (2 threads already change the last bits
 * here). So main() pins both before OpenBLAS loads: on a CPU with AVX2+FMA (every x86-64 CI machine,
 * AMD or Intel) it re-executes the test with OPENBLAS_CORETYPE=Haswell and one thread, unless the
 * caller set OPENBLAS_CORETYPE itself. The comparison is exact only when that kernel is the one in
 * use with one thread, the OpenBLAS version is the recorded one, and the CPU takes the AVX2+FMA
 * clones of our own hot loops (parallel.h). Elsewhere (another BLAS or version, no AVX2) it falls back
 * to a relative 1e-5: other kernels and thread counts move these values by ~1e-8 relative, while a
 * real change of the computation moves them by far more. */
char *openblas_get_corename(void) __attribute__((weak));
char *openblas_get_config(void) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));

static int cpu_has_avx2_fma(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int golden_exact(char *why, size_t len)
{
    const char *core = openblas_get_corename ? openblas_get_corename() : "none";
    const char *conf = openblas_get_config ? openblas_get_config() : "none";
    int threads = openblas_get_num_threads ? openblas_get_num_threads() : 0;
    int avx2 = cpu_has_avx2_fma();
#ifndef BIRDIE_TEST_OPTIMIZATION
#define BIRDIE_TEST_OPTIMIZATION "?"
#endif
#if defined(__SANITIZE_ADDRESS__)
    const int sanitized = 1;
#else
    const int sanitized = 0;
#endif
    const char *compiler = __VERSION__;
    snprintf(why, len, "OpenBLAS kernel %s, %d thread(s), config '%.40s', AVX2+FMA %d, compiler %s -O%s%s", core,
             threads, conf, avx2, compiler, BIRDIE_TEST_OPTIMIZATION, sanitized ? " ASan" : "");
    return strcasecmp(core, "Haswell") == 0 && threads == 1 && strncmp(conf, "OpenBLAS 0.3.21 ", 16) == 0 && avx2 &&
           strcmp(compiler, "12.2.0") == 0 && strcmp(BIRDIE_TEST_OPTIMIZATION, "2") == 0 && !sanitized;
}

static void test_golden_losses(void **state)
{
    (void)state;
    enum { STEPS = 4 };
    /* train losses of steps 1..4, then the validation loss before and after */
    static const double golden[STEPS + 2] = {0x1.8ce494537a6f5p+2, 0x1.8036f6febd29ap+2, 0x1.7ef346fecf2e7p+2,
                                             0x1.7724a0bebebecp+2, 0x1.8ae99894p+2,      0x1.71fcc18fp+2};
    birdie_config cfg;
    xs_config(&cfg, STEPS);
    cfg.batch = 4;
    cfg.eval_rows = 4;
    cfg.eval_every = 2;
    snprintf(cfg.arms, sizeof cfg.arms, "ntp len=16-64; copying len=8-24; infill len=16-48");
    snprintf(cfg.mixture, sizeof cfg.mixture, "uniform");
    cfg.val_rows_per_arm = 1;
    double got[STEPS + 2];
    birdie_train_report rep = {.train_losses = got};
    char err[512], why[300];
    if (train_local(&cfg, NULL, &rep, err, sizeof err) < 0)
        fail_msg("train: %s", err);
    got[STEPS] = rep.first_val_loss;
    got[STEPS + 1] = rep.last_val_loss;
    int exact = golden_exact(why, sizeof why);
    print_message("# golden comparison %s (%s); got:", exact ? "bit for bit" : "within relative 1e-5", why);
    for (int i = 0; i < STEPS + 2; i++)
        print_message(" %a", got[i]);
    print_message("\n");
    for (int i = 0; i < STEPS + 2; i++) {
        if (exact && got[i] != golden[i])
            fail_msg("value %d: %.17g (%a), recorded %.17g (%a)", i, got[i], got[i], golden[i], golden[i]);
        if (!exact && !(fabs(got[i] - golden[i]) <= 1e-5 * fabs(golden[i])))
            fail_msg("value %d: %.17g, recorded %.17g (relative 1e-5)", i, got[i], golden[i]);
    }
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
    /* a warm-up share that is not a whole number of steps is rounded up (5% of 30 = 1.5 -> 2 steps):
     * the first step takes half the peak, the peak comes at step 2 and the cosine starts after it */
    cfg.steps = 30;
    assert_true(fabs(birdie_lr_at(&cfg, 1) - 0.5e-3) < 1e-15);
    assert_true(birdie_lr_at(&cfg, 2) == 1e-3);
    assert_true(birdie_lr_at(&cfg, 3) < 1e-3 && birdie_lr_at(&cfg, 3) > 0.99e-3);
    assert_true(fabs(birdie_lr_at(&cfg, 16) - 0.55e-3) < 1e-15); /* halfway through the 28 cosine steps */
    assert_true(fabs(birdie_lr_at(&cfg, 30) - 1e-4) < 1e-15);
    /* no warm-up: the first step already decays from the peak */
    cfg.warmup_frac = 0;
    cfg.steps = 10;
    assert_true(fabs(birdie_lr_at(&cfg, 10) - 1e-4) < 1e-15);
    assert_true(fabs(birdie_lr_at(&cfg, 5) - 0.55e-3) < 1e-15);
}

/* Every failure of a run carries its exit class from where it is detected (worker/error.h), so
 * birdied's exit code says what happened: a control plane that fails mid-run or a decision that never
 * comes is the coordinator (7), a diverging run 4, missing shards 3, an arm that does not fit the
 * rows a configuration error (2). */
static void expect_class(int rc, const char *err, int exit_class, const char *needle)
{
    if (rc >= 0 || birdie_error_exit_class(rc) != exit_class || !strstr(err, needle))
        fail_msg("rc %d (class %d), want class %d and '%s': %s", rc, birdie_error_exit_class(rc), exit_class, needle,
                 err);
}

static int train_with(const birdie_config *cfg, fake_control *f, int scheduler_remote, char *err, size_t errlen)
{
    birdie_control ctl = fake_control_table(f, 1);
    ctl.scheduler_remote = scheduler_remote;
    ctl.decision_timeout_ms = 200;
    birdie_train_report rep = {0};
    return birdie_train(cfg, &birdie_ops_cpu, NULL, &ctl, NULL, NULL, NULL, &rep, err, errlen);
}

static void test_failures_carry_exit_class(void **state)
{
    (void)state;
    birdie_config cfg;
    char err[512];
    xs_config(&cfg, 4);
    cfg.eval_every = 2;
    fake_control full = {.n_evals = FAKE_MAX_EVALS}; /* its next report fails, as a lost coordinator's would */
    expect_class(train_with(&cfg, &full, 0, err, sizeof err), err, BIRDIE_EXIT_COORDINATOR, "too many evaluations");
    xs_config(&cfg, 12);
    snprintf(cfg.arms, sizeof cfg.arms, "ntp len=16-64");
    snprintf(cfg.mixture, sizeof cfg.mixture, "birdie");
    fake_control silent = {0}; /* the coordinator schedules but never publishes a decision */
    expect_class(train_with(&cfg, &silent, 1, err, sizeof err), err, BIRDIE_EXIT_COORDINATOR,
                 "did not reach every rank");
    xs_config(&cfg, 40);
    cfg.lr = 10;
    cfg.warmup_frac = 0;
    cfg.weight_decay = 1;
    birdie_train_report rep = {0};
    expect_class(train_local(&cfg, NULL, &rep, err, sizeof err), err, BIRDIE_EXIT_DIVERGED, "non-finite");
    xs_config(&cfg, 4);
    snprintf(cfg.source, sizeof cfg.source, "shards");
    snprintf(cfg.train_files, sizeof cfg.train_files, "/nonexistent/birdie/train_*.bin");
    snprintf(cfg.val_files, sizeof cfg.val_files, "/nonexistent/birdie/val_*.bin");
    expect_class(train_local(&cfg, NULL, &rep, err, sizeof err), err, BIRDIE_EXIT_DATA, "/nonexistent/birdie");
    xs_config(&cfg, 4);
    snprintf(cfg.arms, sizeof cfg.arms, "ntp len=16-64; copying len=60-64");
    snprintf(cfg.mixture, sizeof cfg.mixture, "uniform");
    expect_class(train_local(&cfg, NULL, &rep, err, sizeof err), err, BIRDIE_EXIT_USAGE, "needs rows of at least");
}

int main(int argc, char **argv)
{
    (void)argc;
    /* see test_golden_losses: pin OpenBLAS's kernel and threads, which it reads when it loads */
    if (!getenv("OPENBLAS_CORETYPE") && cpu_has_avx2_fma()) {
        setenv("OPENBLAS_CORETYPE", "Haswell", 1);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
        perror("re-executing with OPENBLAS_CORETYPE=Haswell"); /* then run as we are: golden falls back */
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_resume_bit_identical),
        cmocka_unit_test(test_stop_after_and_resume),
        cmocka_unit_test(test_grad_clip_scale),
        cmocka_unit_test(test_collective_deadline),
        cmocka_unit_test(test_grad_clip_end_to_end),
        cmocka_unit_test(test_failures_carry_exit_class),
        cmocka_unit_test(test_golden_losses),
        cmocka_unit_test(test_lr_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
