/* tests/worker/test_precision.c: [train] precision (worker/precision.c) and training with bf16 GEMMs
 * (docs/design.md §7.3) end to end on the CPU.
 *
 *   test_precision            bf16 runs on the reference table (kernels/ops.h), which every CPU has
 *   test_precision onednn     bf16 runs on the oneDNN table; exits 77 (skip), saying why, where this
 *                             build or this CPU has none
 *
 * What is pinned: how each request resolves on each kind of backend (and the exit class of a refusal);
 * that XS trained with bf16 GEMMs ends within a stated margin of the same run in fp32 while not being
 * the same run; that a bf16 run repeats bit for bit; and that a bf16 run resumed from a checkpoint
 * repeats the uninterrupted one bit for bit (the bf16 weight copies come back from the fp32 masters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/checkpoint.h"
#include "worker/config.h"
#include "worker/error.h"
#include "worker/precision.h"
#include "worker/train.h"

static const birdie_ops *bf16_ops; /* the bf16 table under test */

static void xs_config(birdie_config *cfg, long steps)
{
    birdie_config_defaults(cfg);
    cfg->steps = steps;
    cfg->batch = 8;
    cfg->lr = 3e-3;
    cfg->eval_every = 0;
    cfg->eval_rows = 16;
    cfg->seq_len = 64;
    snprintf(cfg->arms, sizeof cfg->arms, "ntp len=16-64; copying len=8-24; prefix_lm len=16-48");
    snprintf(cfg->mixture, sizeof cfg->mixture, "uniform");
    cfg->val_rows_per_arm = 4;
}

static void train(const birdie_config *cfg, const birdie_ops *ops, const birdie_checkpoint *resume,
                  birdie_train_report *rep)
{
    char err[512];
    if (birdie_train(cfg, ops, NULL, NULL, NULL, resume, NULL, rep, err, sizeof err) < 0)
        fail_msg("train on %s: %s", ops->name, err);
}

static void test_choose(void **state)
{
    (void)state;
    const birdie_ops *chosen = NULL;
    char note[512], err[512];
    birdie_bf16_support info;
    const birdie_ops *cpu_bf16 = birdie_ops_cpu_bf16_table(&info);

    assert_int_equal(birdie_precision_choose("fp32", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err), 0);
    assert_ptr_equal(chosen, &birdie_ops_cpu);

    int rc = birdie_precision_choose("bf16", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err);
    if (cpu_bf16) {
        assert_int_equal(rc, 0);
        assert_ptr_equal(chosen, cpu_bf16);
        assert_non_null(strstr(note, info.isa));
    } else { /* a clear refusal that names the key and says why */
        assert_int_equal(birdie_error_exit_class(rc), BIRDIE_EXIT_BACKEND);
        assert_non_null(strstr(err, "precision = bf16"));
        assert_non_null(strstr(err, info.why));
    }

    chosen = NULL;
    assert_int_equal(birdie_precision_choose("auto", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err), 0);
    /* bf16 only with bf16 matrix instructions; where oneDNN would emulate them, fp32 */
    assert_ptr_equal(chosen, cpu_bf16 && info.native ? cpu_bf16 : &birdie_ops_cpu);
    assert_non_null(strstr(note, chosen == &birdie_ops_cpu ? "precision fp32 (auto" : "precision bf16 (auto"));
    print_message("# %s\n", note);

    rc = birdie_precision_choose("fp16", &birdie_ops_cpu, &chosen, note, sizeof note, err, sizeof err);
    assert_int_equal(birdie_error_exit_class(rc), BIRDIE_EXIT_USAGE);
    assert_non_null(strstr(err, "fp16"));

    /* a device backend (any table but the CPU twin) keeps its bf16 GEMMs; fp32 only the CUDA table has */
    birdie_ops device = birdie_ops_cpu;
    device.name = "cuda";
    assert_int_equal(birdie_precision_choose("auto", &device, &chosen, note, sizeof note, err, sizeof err), 0);
    assert_ptr_equal(chosen, &device);
    assert_int_equal(birdie_precision_choose("bf16", &device, &chosen, note, sizeof note, err, sizeof err), 0);
    assert_ptr_equal(chosen, &device);
    rc = birdie_precision_choose("fp32", &device, &chosen, note, sizeof note, err, sizeof err);
    assert_int_equal(birdie_error_exit_class(rc), BIRDIE_EXIT_BACKEND);
    assert_non_null(strstr(err, "cuda"));
    const birdie_ops *cuda = birdie_ops_cuda_table();
    if (cuda) { /* a build with CUDA: its fp32 table (the table itself touches no GPU) */
        assert_int_equal(birdie_precision_choose("fp32", cuda, &chosen, note, sizeof note, err, sizeof err), 0);
        assert_ptr_equal(chosen, birdie_ops_cuda_fp32_table());
        assert_int_equal(birdie_precision_choose("auto", cuda, &chosen, note, sizeof note, err, sizeof err), 0);
        assert_ptr_equal(chosen, cuda);
    }
}

/* The margin: bf16 rounds each GEMM input to 8 significant bits, so the two runs part ways from the first
 * step and end in different places, but a 200-step XS run in bf16 reaches the same validation loss as
 * in fp32 within 0.05 nats (1% of the uniform guess ln 384 = 5.95; the runs fall about 2.5 nats). */
static void test_bf16_close_to_fp32(void **state)
{
    (void)state;
    enum { STEPS = 200 };
    birdie_config cfg;
    xs_config(&cfg, STEPS);
    double l32[STEPS], l16[STEPS];
    birdie_train_report r32 = {.train_losses = l32}, r16 = {.train_losses = l16};
    train(&cfg, &birdie_ops_cpu, NULL, &r32);
    train(&cfg, bf16_ops, NULL, &r16);
    print_message("# val loss %.6f -> fp32 %.6f, bf16 %.6f (%s); step 1 loss fp32 %.9f bf16 %.9f\n", r32.first_val_loss,
                  r32.last_val_loss, r16.last_val_loss, bf16_ops->name, l32[0], l16[0]);
    assert_true(r32.last_val_loss < r32.first_val_loss - 1.5); /* the comparison is between trained models */
    assert_true(fabs(r16.last_val_loss - r32.last_val_loss) < 0.05);
    /* and bf16 is not fp32 under another name: the first step's loss already differs */
    assert_true(l16[0] != l32[0]);
    /* the initial model is the same: its validation loss differs only by the GEMMs' rounding */
    assert_true(fabs(r16.first_val_loss - r32.first_val_loss) < 0.01);
}

static void test_bf16_deterministic(void **state)
{
    (void)state;
    enum { STEPS = 10 };
    birdie_config cfg;
    xs_config(&cfg, STEPS);
    double a[STEPS], b[STEPS];
    birdie_train_report ra = {.train_losses = a}, rb = {.train_losses = b};
    train(&cfg, bf16_ops, NULL, &ra);
    train(&cfg, bf16_ops, NULL, &rb);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(&ra.last_val_loss, &rb.last_val_loss, sizeof ra.last_val_loss);
}

/* Interrupted at the checkpoint of step 5 and resumed from it, a bf16 run repeats the uninterrupted
 * one: the last steps' losses and the final parameters, bit for bit. */
static void test_bf16_resume_bit_identical(void **state)
{
    (void)state;
    enum { STEPS = 10 };
    char dir[] = "/tmp/birdie-bf16-ckpt-XXXXXX", path[600], err[512];
    assert_non_null(mkdtemp(dir));
    birdie_config cfg;
    xs_config(&cfg, STEPS);
    cfg.ckpt_every = 5;
    snprintf(cfg.ckpt_dir, sizeof cfg.ckpt_dir, "%s", dir);
    double straight[STEPS], resumed[STEPS];
    float *p1 = calloc(200000, sizeof *p1), *p2 = calloc(200000, sizeof *p2);
    assert_non_null(p1);
    assert_non_null(p2);
    birdie_train_report r1 = {.train_losses = straight, .final_params = p1};
    train(&cfg, bf16_ops, NULL, &r1);
    assert_true(r1.n_params <= 200000);
    snprintf(path, sizeof path, "%s/ckpt_000000005.bin", dir);
    birdie_checkpoint ck;
    if (birdie_checkpoint_load_file(path, &ck, err, sizeof err) < 0)
        fail_msg("load: %s", err);
    memset(resumed, 0, sizeof resumed);
    birdie_train_report r2 = {.train_losses = resumed, .final_params = p2};
    train(&cfg, bf16_ops, &ck, &r2);
    assert_memory_equal(straight + 5, resumed + 5, 5 * sizeof(double));
    assert_memory_equal(p1, p2, r1.n_params * sizeof *p1);
    birdie_checkpoint_free(&ck);
    free(p1), free(p2);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "onednn") == 0) {
        birdie_bf16_support info;
        bf16_ops = birdie_ops_cpu_bf16_table(&info);
        if (!bf16_ops) {
            printf("1..0 # SKIP no oneDNN bf16 matmul here: %s\n", info.why);
            return 77;
        }
        printf("# %s\n", info.isa);
    } else {
        bf16_ops = birdie_ops_cpu_bf16_reference_table();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_bf16_close_to_fp32),
        cmocka_unit_test(test_bf16_deterministic),
        cmocka_unit_test(test_bf16_resume_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
