/* tests/worker/parallel/test_eval_ranks.c: what two data-parallel ranks compute together equals what one
 * process computes alone, for the numbers that are sums over ranks (docs/design.md §4.4 and §4.6). Run
 * under `mpirun -np 2`; prints TAP from rank 0.
 *
 * Validation: the NTP validation loss is the mean per-token loss over ALL validation rows, i.e.
 * sum(loss over ranks) / sum(labels over ranks); it is checked directly against the rows evaluated in
 * one piece here, and a 2-rank run with evaluation on (eval_every > 0) must report the same validation
 * losses and the same per-arm loss sums and token counts (what the scheduler and the coordinator read)
 * as a 1-rank run. The validation rows are split unevenly (5 NTP rows: 2 + 3; 3 arm rows: 1 + 2), so
 * the ranks hold different label counts and dividing by one rank's count, or averaging per-rank
 * means, is far off.
 *
 * Clipping: the clipped norm is that of the GLOBAL (summed) gradient: a one-step run with a clip far
 * below the gradient's norm applies a gradient of norm exactly the clip (read back from the AdamW
 * step, see clip_probe.h) on 2 ranks as on 1, and the parameters agree.
 *
 * Tolerances: the 1- and 2-rank runs sum the same per-token losses in another order and run GEMMs of
 * other shapes, so they agree to fp32 noise: relative 1e-4 on losses (a wrong divisor is off by 40% or
 * more), token counts exactly. */
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/worker/clip_probe.h"
#include "tests/worker/fake_control.h"
#include "worker/batch.h"
#include "worker/model.h"
#include "worker/source.h"
#include "worker/train.h"

enum { STEPS = 4, EVAL_ROWS = 5, N_ARMS = 3 };

static MPI_Comm harness;
static int rank, n_tests, n_failed;

static void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(int ok, const char *fmt, ...)
{
    n_tests++;
    n_failed += !ok;
    if (rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("%s %d - ", ok ? "ok" : "not ok", n_tests);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static int close_rel(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fabs(b);
}

static void eval_config(birdie_config *cfg)
{
    birdie_config_defaults(cfg);
    cfg->steps = STEPS;
    cfg->batch = 4;
    cfg->seq_len = 64;
    cfg->eval_rows = EVAL_ROWS;
    cfg->eval_every = 2;
    snprintf(cfg->arms, sizeof cfg->arms, "ntp len=16-64; copying len=8-24; infill len=16-48");
    snprintf(cfg->mixture, sizeof cfg->mixture, "uniform");
    cfg->val_rows_per_arm = 1;
}

typedef struct eval_outcome {
    int rc, n_evals;
    double first_val, last_val;
    int64_t eval_step[FAKE_MAX_EVALS];
    double loss[FAKE_MAX_EVALS][N_ARMS], tokens[FAKE_MAX_EVALS][N_ARMS];
} eval_outcome;

static eval_outcome run_eval(birdie_collective *coll, const birdie_config *cfg)
{
    fake_control f = {0};
    birdie_control ctl = fake_control_table(&f, N_ARMS);
    eval_outcome o;
    memset(&o, 0, sizeof o);
    birdie_train_report rep = {0};
    char err[512];
    o.rc = birdie_train(cfg, &birdie_ops_cpu, coll, &ctl, NULL, NULL, NULL, &rep, err, sizeof err);
    if (o.rc < 0)
        fprintf(stderr, "rank %d: train: %s\n", rank, err);
    o.first_val = rep.first_val_loss;
    o.last_val = rep.last_val_loss;
    o.n_evals = f.n_evals;
    for (int e = 0; e < f.n_evals; e++) {
        o.eval_step[e] = f.eval_step[e];
        memcpy(o.loss[e], f.eval_loss[e], sizeof o.loss[e]);
        memcpy(o.tokens[e], f.eval_tokens[e], sizeof o.tokens[e]);
    }
    return o;
}

/* The NTP validation loss of the initial parameters from the definition: every validation row in one
 * forward, total loss / total labels. Also the label counts of the rows [0, 2) and [2, 5) the two
 * ranks hold (contiguous slices, train.h). */
static double direct_val_loss(const birdie_config *cfg, long labels_of_slice[2], double loss_of_slice[2])
{
    birdie_model_config mc;
    birdie_model m;
    birdie_source *src = NULL;
    birdie_rows rows = {0};
    char err[256];
    double mean = NAN;
    birdie_model_config_by_name(cfg->size, &mc);
    mc.bidirectional = cfg->bidirectional;
    if (birdie_model_init(&m, &mc, &birdie_ops_cpu, cfg->seed, EVAL_ROWS, cfg->seq_len, err, sizeof err) < 0)
        return NAN;
    if (birdie_source_open_synthetic(&src, cfg->seed, BIRDIE_SPLIT_VAL, err, sizeof err) == 0 &&
        birdie_rows_alloc(&rows, EVAL_ROWS, cfg->seq_len) == 0 &&
        birdie_batch_ntp(&rows, src, cfg->seed, 0, 0, BIRDIE_RNG_VALIDATION) == 0) {
        double loss = birdie_model_forward(&m, &rows, 0.0f);
        mean = loss / (double)birdie_rows_label_count(&rows);
        const int first[2] = {0, 2}, count[2] = {2, 3};
        for (int s = 0; s < 2; s++) {
            labels_of_slice[s] = 0;
            loss_of_slice[s] = 0;
            for (int b = first[s]; b < first[s] + count[s]; b++)
                for (int t = 0; t < cfg->seq_len; t++) {
                    size_t i = (size_t)b * cfg->seq_len + t;
                    labels_of_slice[s] += rows.labels[i] >= 0;
                    loss_of_slice[s] += m.losses_host[i];
                }
        }
    }
    birdie_rows_free(&rows);
    birdie_source_close(src);
    birdie_model_free(&m);
    return mean;
}

static void test_validation(birdie_collective *coll)
{
    birdie_config cfg;
    eval_config(&cfg);
    eval_outcome lone = {0}, two = run_eval(coll, &cfg), both[2];
    MPI_Allgather(&two, (int)sizeof two, MPI_BYTE, both, (int)sizeof two, MPI_BYTE, harness);
    if (rank == 0)
        lone = run_eval(NULL, &cfg);
    MPI_Bcast(&lone, (int)sizeof lone, MPI_BYTE, 0, harness);
    long slice_labels[2];
    double slice_loss[2];
    double direct = direct_val_loss(&cfg, slice_labels, slice_loss);
    int ran = lone.rc == 0 && both[0].rc == 0 && both[1].rc == 0;
    tap(ran, "1-rank and 2-rank runs with eval_every = %ld complete", cfg.eval_every);

    /* the setup is sensitive: the ranks' label counts differ, and one rank's count is far from all */
    double total = slice_loss[0] + slice_loss[1];
    long labels = slice_labels[0] + slice_labels[1];
    tap(slice_labels[0] != slice_labels[1] && !close_rel(total / slice_labels[1], direct, 0.2) &&
            !close_rel(0.5 * (slice_loss[0] / slice_labels[0] + slice_loss[1] / slice_labels[1]), direct, 1e-3) &&
            close_rel(total / labels, direct, 1e-9),
        "the ranks hold %ld and %ld validation labels: total/one rank's = %.4f, mean of means = %.6f, "
        "total/all = %.6f",
        slice_labels[0], slice_labels[1], total / slice_labels[1],
        0.5 * (slice_loss[0] / slice_labels[0] + slice_loss[1] / slice_labels[1]), direct);
    tap(ran && close_rel(both[0].first_val, direct, 1e-5) && close_rel(both[1].first_val, direct, 1e-5) &&
            close_rel(lone.first_val, direct, 1e-5),
        "validation loss before training = sum(loss over ranks) / sum(labels over ranks): 2 ranks %.6f, %.6f; "
        "1 rank %.6f; direct %.6f",
        both[0].first_val, both[1].first_val, lone.first_val, direct);
    tap(ran && close_rel(both[0].last_val, lone.last_val, 1e-4) && both[0].last_val == both[1].last_val,
        "validation loss after %d steps: 2 ranks %.6f (both ranks the same) == 1 rank %.6f", STEPS, both[0].last_val,
        lone.last_val);

    /* per-arm sums of every evaluation the loop reported (steps 2 and 4) */
    int same_steps = lone.n_evals == 2 && both[0].n_evals == 2 && both[1].n_evals == 2;
    for (int e = 0; same_steps && e < 2; e++)
        same_steps &= lone.eval_step[e] == 2 * (e + 1) && both[0].eval_step[e] == lone.eval_step[e] &&
                      both[1].eval_step[e] == lone.eval_step[e];
    tap(same_steps, "evaluations are reported at steps 2 and 4 on every rank (1 rank: %d, 2 ranks: %d and %d)",
        lone.n_evals, both[0].n_evals, both[1].n_evals);
    int tokens_ok = same_steps, loss_ok = same_steps, nonzero = 1;
    double worst = 0;
    for (int e = 0; same_steps && e < 2; e++)
        for (int a = 0; a < N_ARMS; a++) {
            for (int r = 0; r < 2; r++) {
                tokens_ok &= both[r].tokens[e][a] == lone.tokens[e][a];
                loss_ok &= close_rel(both[r].loss[e][a], lone.loss[e][a], 1e-4);
                worst = fmax(worst, fabs(both[r].loss[e][a] - lone.loss[e][a]) / fabs(lone.loss[e][a]));
            }
            nonzero &= lone.tokens[e][a] > 0;
        }
    tap(tokens_ok && nonzero,
        "per-arm validation token counts of 2 ranks equal 1 rank's exactly (step 2: %.0f %.0f "
        "%.0f vs %.0f %.0f %.0f)",
        both[0].tokens[0][0], both[0].tokens[0][1], both[0].tokens[0][2], lone.tokens[0][0], lone.tokens[0][1],
        lone.tokens[0][2]);
    tap(loss_ok, "per-arm validation loss sums of 2 ranks equal 1 rank's (worst relative %.2e)", worst);
}

/* One step with the clip far below the gradient's norm: the applied gradient's norm is the clip, on
 * 2 ranks (global norm) as on 1. */
static void test_clip_global(birdie_collective *coll)
{
    birdie_config cfg;
    eval_config(&cfg);
    size_t n = 0;
    float *p0 = clip_probe_initial_params(&cfg, &n);
    /* eps * sqrt(n): entries of the clipped gradient near eps, where AdamW's step shows their size */
    double clip = CLIP_PROBE_EPS * sqrt((double)n);
    clip_probe_config(&cfg, clip);
    float *p_two = calloc(n, sizeof *p_two), *p_lone = calloc(n, sizeof *p_lone);
    char err[512];
    birdie_train_report rep = {.final_params = p_two, .n_params = n};
    int rc = birdie_train(&cfg, &birdie_ops_cpu, coll, NULL, NULL, NULL, NULL, &rep, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "rank %d: train: %s\n", rank, err);
    int rc_lone = 0;
    if (rank == 0) {
        birdie_train_report rep1 = {.final_params = p_lone, .n_params = n};
        rc_lone = birdie_train(&cfg, &birdie_ops_cpu, NULL, NULL, NULL, NULL, NULL, &rep1, err, sizeof err);
    }
    MPI_Bcast(&rc_lone, 1, MPI_INT, 0, harness);
    MPI_Bcast(p_lone, (int)n, MPI_FLOAT, 0, harness);
    double u_two, u_lone, worst = 0;
    double norm_two = clip_probe_applied_norm(p0, p_two, n, cfg.lr, &u_two);
    double norm_lone = clip_probe_applied_norm(p0, p_lone, n, cfg.lr, &u_lone);
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)p_two[i] - p_lone[i]));
    int ok_two = rc == 0 && close_rel(norm_two, clip, 1e-2) && u_two < 0.99;
    int all_two = 0;
    MPI_Allreduce(&ok_two, &all_two, 1, MPI_INT, MPI_MIN, harness);
    tap(all_two, "2 ranks: the applied gradient's norm is the clip %.4g (read back %.4g, largest move/lr %.3f)", clip,
        norm_two, u_two);
    tap(rc_lone == 0 && close_rel(norm_lone, clip, 1e-2),
        "1 rank: the applied gradient's norm is the clip %.4g (read back %.4g)", clip, norm_lone);
    /* a rank clipping by the norm of its own half would apply a different gradient: moves differ ~10% */
    tap(worst < 1e-3, "the clipped step of 2 ranks equals 1 rank's (worst parameter difference %.2e, lr %g)", worst,
        cfg.lr);
    free(p0);
    free(p_two);
    free(p_lone);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &harness);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    birdie_collective *coll = birdie_collective_mpi(60.0);
    if (!coll || coll->world != 2) {
        fprintf(stderr, "needs mpirun -np 2\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    test_validation(coll);
    test_clip_global(coll);
    if (rank == 0)
        printf("1..%d\n", n_tests);
    coll->destroy(coll);
    MPI_Comm_free(&harness);
    MPI_Finalize();
    return n_failed > 0;
}
