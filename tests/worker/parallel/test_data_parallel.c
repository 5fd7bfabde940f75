/* tests/worker/parallel/test_data_parallel.c: data parallelism is exact. Run under `mpirun -np 2`: every rank trains
 * K steps with the global batch split over the ranks (MPI all-reduce of gradients), once with the
 * whole gradient in one bucket and once with a bucket per layer (the sums overlap the backward pass);
 * rank 0 also trains alone with the whole batch. Losses, validation losses (evaluation on every 4
 * steps, 7 validation rows split 3 + 4 so the ranks hold different label counts) and final parameters
 * must agree within fp32 summation-order noise (relative 1e-4 on losses, 1e-4 absolute on
 * parameters). Prints TAP from rank 0. tests/worker/parallel/ checks the validation sums in more detail. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/model.h"
#include "worker/train.h"

enum { STEPS = 8 };

static int train(birdie_collective *coll, double bucket_mb, double *losses, double *val, float *params, size_t n_params)
{
    birdie_config cfg;
    birdie_config_defaults(&cfg);
    cfg.bucket_mb = bucket_mb;
    cfg.steps = STEPS;
    cfg.batch = 8;
    cfg.eval_rows = 7;
    cfg.eval_every = 4;
    cfg.seq_len = 64;
    /* several objectives so packing, per-arm losses and the mixture draw are part of what must match */
    snprintf(cfg.arms, sizeof cfg.arms, "ntp len=16-64; prefix_lm len=16-48; copying len=8-24; infill len=16-48");
    snprintf(cfg.mixture, sizeof cfg.mixture, "uniform");
    cfg.val_rows_per_arm = 2;
    birdie_train_report rep = {.train_losses = losses, .final_params = params, .n_params = n_params};
    char err[512];
    int rc = birdie_train(&cfg, &birdie_ops_cpu, coll, NULL, NULL, NULL, NULL, &rep, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "train: %s\n", err);
    val[0] = rep.first_val_loss;
    val[1] = rep.last_val_loss;
    return rc;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    birdie_model_config mc;
    birdie_model_config_by_name("XS", &mc);
    mc.bidirectional = 1;
    /* parameter count of the XS model, from a throwaway model */
    birdie_model probe;
    char err[256];
    if (birdie_model_init(&probe, &mc, &birdie_ops_cpu, 1, 1, 4, err, sizeof err) < 0)
        return 1;
    size_t n = probe.n_params;
    birdie_model_free(&probe);

    /* 25 MiB holds all of XS; 1e-4 MiB (26 floats) is below every layer, so each is its own bucket */
    const double bucket_mb[2] = {25, 1e-4};
    double lone[STEPS], split[2][STEPS], val_lone[2] = {0}, val_split[2][2] = {{0}};
    float *p_lone = calloc(n, sizeof *p_lone), *p_split[2] = {calloc(n, sizeof(float)), calloc(n, sizeof(float))};
    int failed = 0;
    if (rank == 0 && train(NULL, 25, lone, val_lone, p_lone, n) < 0)
        failed = 1;
    birdie_collective *coll = birdie_collective_mpi(60.0);
    for (int k = 0; k < 2; k++)
        if (!coll || train(coll, bucket_mb[k], split[k], val_split[k], p_split[k], n) < 0)
            failed = 1;
    if (rank == 0)
        printf("1..6\n");
    for (int k = 0; rank == 0 && k < 2; k++) {
        double worst_loss = 0, worst_param = 0;
        for (int s = 0; s < STEPS; s++)
            worst_loss = fmax(worst_loss, fabs(lone[s] - split[k][s]) / fabs(lone[s]));
        for (size_t i = 0; i < n; i++)
            worst_param = fmax(worst_param, fabs((double)p_lone[i] - p_split[k][i]));
        printf("%s %d - losses of 1 rank x batch 8 == %d ranks x batch %d, buckets of %g MiB (worst relative %.2e)\n",
               !failed && worst_loss < 1e-4 ? "ok" : "not ok", 2 * k + 1, world, 8 / world, bucket_mb[k], worst_loss);
        printf("%s %d - final parameters agree, buckets of %g MiB (worst absolute %.2e over %zu)\n",
               !failed && worst_param < 1e-4 ? "ok" : "not ok", 2 * k + 2, bucket_mb[k], worst_param, n);
        failed |= !(worst_loss < 1e-4 && worst_param < 1e-4);
    }
    for (int k = 0; rank == 0 && k < 2; k++) {
        double worst_val = fmax(fabs(val_lone[0] - val_split[k][0]) / fabs(val_lone[0]),
                                fabs(val_lone[1] - val_split[k][1]) / fabs(val_lone[1]));
        printf("%s %d - validation losses of 1 rank == %d ranks, buckets of %g MiB (%.6f -> %.6f vs %.6f -> %.6f)\n",
               !failed && worst_val < 1e-4 ? "ok" : "not ok", 5 + k, world, bucket_mb[k], val_lone[0], val_lone[1],
               val_split[k][0], val_split[k][1]);
        failed |= !(worst_val < 1e-4);
    }
    if (coll)
        coll->destroy(coll);
    free(p_lone);
    free(p_split[0]);
    free(p_split[1]);
    MPI_Finalize();
    return failed;
}
