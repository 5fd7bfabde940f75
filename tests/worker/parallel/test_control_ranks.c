/* tests/worker/parallel/test_control_ranks.c: the per-step control all-reduce with ranks that disagree
 * (docs/design.md §4.5). Run under `mpirun -np 2`; prints TAP from rank 0.
 *
 * First the MPI collective itself: allreduce_minmax_i64 with different values on each rank gives the
 * exact minima and maxima (and the sum of doubles the exact sum). Then the training loop with a
 * scripted control plane per rank (fake_control.h): an operator stop, an operator checkpoint and the
 * signal-style requests (birdie_train_request_*) reach ONE rank only, and both ranks must act on them
 * at the same step; a newer mixture that one rank holds before the other is applied on both ranks at
 * the step the last one gets it, never earlier, with the same weights (the losses equal those of a
 * run where both ranks got it together). It does not test the coordinator (tests/e2e_daemon.py).
 *
 * A rank that acts alone leaves the other waiting in a collective: the MPI deadline (20 s) turns that
 * into an error instead of a hang, and the test then aborts the job after printing what it saw. */
#include <errno.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/worker/fake_control.h"
#include "worker/checkpoint.h"
#include "worker/error.h"
#include "worker/train.h"

enum { STEPS = 6 };

static MPI_Comm harness; /* the test's own exchanges, apart from the collective under test */
static int rank, n_tests, n_failed;
static char ckpt_dir[256];

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

/* Every rank gets the same verdict: ok only if it holds on every rank. */
static int all_ranks(int ok)
{
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, harness);
    return all;
}

static void config(birdie_config *cfg)
{
    birdie_config_defaults(cfg);
    cfg->steps = STEPS;
    cfg->batch = 4;
    cfg->seq_len = 64;
    cfg->eval_rows = 3;
    cfg->eval_every = 0;
    snprintf(cfg->arms, sizeof cfg->arms, "ntp len=16-64; copying len=8-24");
    snprintf(cfg->mixture, sizeof cfg->mixture, "uniform");
    cfg->val_rows_per_arm = 1;
    snprintf(cfg->ckpt_dir, sizeof cfg->ckpt_dir, "%s", ckpt_dir);
}

typedef struct outcome {
    int rc, stopped;
    long steps_done;
    uint64_t mixture_version;
    int64_t applied_version, applied_step, finish_step;
    long waits;
    double losses[STEPS];
} outcome;

static outcome run(birdie_collective *coll, const birdie_config *cfg, fake_control *f)
{
    birdie_control ctl = fake_control_table(f, 2);
    outcome o;
    memset(&o, 0, sizeof o);
    birdie_train_report rep = {.train_losses = o.losses};
    char err[512];
    o.rc = birdie_train(cfg, &birdie_ops_cpu, coll, &ctl, NULL, NULL, NULL, &rep, err, sizeof err);
    if (o.rc < 0)
        fprintf(stderr, "rank %d: train: %s\n", rank, err);
    o.stopped = rep.stopped;
    o.steps_done = rep.steps_done;
    o.mixture_version = rep.mixture_version;
    o.applied_version = f->last_heartbeat.applied_version;
    o.applied_step = f->last_heartbeat.applied_step;
    o.finish_step = f->finish_step;
    o.waits = f->waits;
    return o;
}

/* Both ranks' outcomes, on every rank. A failed run leaves a collective pending: abort the job. */
static void gather(const outcome *mine, outcome both[2])
{
    MPI_Allgather(mine, (int)sizeof *mine, MPI_BYTE, both, (int)sizeof *mine, MPI_BYTE, harness);
    if (both[0].rc < 0 || both[1].rc < 0) {
        tap(0, "training failed (rank 0 rc %d, rank 1 rc %d): a rank acted alone and the other timed out", both[0].rc,
            both[1].rc);
        if (rank == 0)
            printf("1..%d\n", n_tests);
        fflush(stdout);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

static void remove_checkpoints(void)
{
    if (rank == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -f %s/ckpt_*.bin %s/manifest.json", ckpt_dir, ckpt_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not clean %s\n", ckpt_dir);
    }
    MPI_Barrier(harness);
}

static int checkpoint_exists(long step)
{
    char path[400];
    snprintf(path, sizeof path, "%s/ckpt_%09ld.bin", ckpt_dir, step);
    int here = rank == 0 ? access(path, F_OK) == 0 : 0;
    MPI_Bcast(&here, 1, MPI_INT, 0, harness);
    return here;
}

/* The MPI collective with different values on each rank: exact minima, maxima and sums. */
static void test_minmax_direct(birdie_collective *coll)
{
    int r = coll->rank;
    int64_t mins[4] = {10 - 7 * r, -3 + 5 * r, ((int64_t)1 << 40) + r, INT64_MIN + 1 - r},
            maxs[5] = {r, 4 - 9 * r, -((int64_t)1 << 50) + r, INT64_MAX - 1 + r, 0};
    int64_t in_min[2][4], in_max[2][5];
    MPI_Allgather(mins, 4, MPI_INT64_T, in_min, 4, MPI_INT64_T, harness);
    MPI_Allgather(maxs, 5, MPI_INT64_T, in_max, 5, MPI_INT64_T, harness);
    char err[256];
    int rc = coll->allreduce_minmax_i64(coll, mins, 4, maxs, 5, err, sizeof err);
    int ok = rc == 0;
    for (int i = 0; i < 4; i++)
        ok &= mins[i] == (in_min[0][i] < in_min[1][i] ? in_min[0][i] : in_min[1][i]);
    for (int i = 0; i < 5; i++)
        ok &= maxs[i] == (in_max[0][i] > in_max[1][i] ? in_max[0][i] : in_max[1][i]);
    tap(all_ranks(ok),
        "allreduce_minmax_i64 with values that differ per rank: exact min and max (rank %d: "
        "mins %lld %lld, maxs %lld %lld)",
        r, (long long)mins[0], (long long)mins[1], (long long)maxs[0], (long long)maxs[1]);
    /* only maxima, as the loop's flags: one rank raising a flag raises it everywhere */
    int64_t flag[1] = {r == 1};
    rc = coll->allreduce_minmax_i64(coll, NULL, 0, flag, 1, err, sizeof err);
    tap(all_ranks(rc == 0 && flag[0] == 1), "a flag raised on rank 1 only is raised on every rank");
    double sums[3] = {1.5 + r, -2.0 * r, r ? 1e-3 : 7.0};
    rc = coll->allreduce_sum_f64(coll, sums, 3, err, sizeof err);
    tap(all_ranks(rc == 0 && sums[0] == 4.0 && sums[1] == -2.0 && sums[2] == 7.001),
        "allreduce_sum_f64 sums values that differ per rank");
    /* a world of one: the control values are its own */
    birdie_collective *single = birdie_collective_single();
    int64_t one_min[2] = {5, -1}, one_max[2] = {-4, 9};
    rc = single->allreduce_minmax_i64(single, one_min, 2, one_max, 2, err, sizeof err);
    tap(all_ranks(rc == 0 && one_min[0] == 5 && one_min[1] == -1 && one_max[0] == -4 && one_max[1] == 9 &&
                  single->world == 1 && single->rank == 0),
        "the single-process collective leaves the control values as they are");
    single->destroy(single);
}

/* An operator's stop reaches rank 1 only, before step 4: both ranks stop after step 3 and the final
 * checkpoint is of step 3. */
static void test_stop_one_rank(birdie_collective *coll)
{
    remove_checkpoints();
    birdie_config cfg;
    config(&cfg);
    cfg.ckpt_every = 1000; /* a run that checkpoints leaves one where it stopped */
    fake_control f = {0};
    if (rank == 1)
        f.stop_from = 4;
    outcome o = run(coll, &cfg, &f), both[2];
    gather(&o, both);
    tap(both[0].stopped && both[1].stopped && both[0].steps_done == 3 && both[1].steps_done == 3,
        "an operator stop on rank 1 only stops both ranks after step 3 (rank 0: %ld steps, stopped %d; "
        "rank 1: %ld steps, stopped %d)",
        both[0].steps_done, both[0].stopped, both[1].steps_done, both[1].stopped);
    tap(checkpoint_exists(3) && !checkpoint_exists(STEPS), "the stop leaves the checkpoint of step 3 (rank 0 writes)");
}

/* Checkpoint requests on rank 1 only (rank 0 is the one that writes): an operator's before step 3
 * and a signal's (SIGUSR1 path) before step 5 give the checkpoints of steps 2 and 4, and nothing else. */
static void test_checkpoint_one_rank(birdie_collective *coll)
{
    remove_checkpoints();
    birdie_config cfg;
    config(&cfg);
    fake_control f = {0};
    if (rank == 1) {
        f.checkpoint_from = 3;
        f.signal_checkpoint_at = 5;
    }
    outcome o = run(coll, &cfg, &f), both[2];
    gather(&o, both);
    int files[STEPS + 1];
    for (int s = 1; s <= STEPS; s++)
        files[s] = checkpoint_exists(s);
    tap(!both[0].stopped && !both[1].stopped && both[0].steps_done == STEPS && both[1].steps_done == STEPS,
        "checkpoint requests do not stop the run");
    tap(files[2] && files[4] && !files[1] && !files[3] && !files[5] && !files[6],
        "checkpoint requests on rank 1 only are written by rank 0 at the same step: steps 2 and 4 (files: "
        "%d%d%d%d%d%d)",
        files[1], files[2], files[3], files[4], files[5], files[6]);
}

/* Rank 1 holds mixture v1 from its poll 2 and v2 from poll 3; rank 0 holds v1 from poll 3 and v2 from
 * poll 6. Step 1 polls once; from step 2 the ranks disagree and poll again (after a wait) until they
 * agree, which is at the 6th poll: v2 applies at step 2 on both ranks and v1 never does. The run
 * must equal one where both ranks got v2 at step 2 together, loss for loss. */
static void test_mixture_one_rank_first(birdie_collective *coll)
{
    birdie_config cfg;
    config(&cfg);
    const double w1[2] = {1.0, 0.0}, w2[2] = {0.25, 0.75};
    fake_control f = {0}, g = {0};
    memcpy(f.weights[1], w1, sizeof w1);
    memcpy(f.weights[2], w2, sizeof w2);
    memcpy(g.weights[2], w2, sizeof w2);
    f.version_from[1] = rank == 1 ? 2 : 3;
    f.version_from[2] = rank == 1 ? 3 : 6;
    g.version_from[2] = 2;
    outcome staggered = run(coll, &cfg, &f), together = run(coll, &cfg, &g), s2[2], t2[2];
    gather(&staggered, s2);
    gather(&together, t2);
    tap(t2[0].applied_version == 2 && t2[0].applied_step == 2 && t2[1].applied_step == 2,
        "reference: v2 held by both ranks from step 2 applies at step 2 (applied v%lld at step %lld)",
        (long long)t2[0].applied_version, (long long)t2[0].applied_step);
    tap(s2[0].applied_version == 2 && s2[1].applied_version == 2 && s2[0].applied_step == 2 &&
            s2[1].applied_step == 2 && s2[0].mixture_version == 2 && s2[1].mixture_version == 2,
        "a mixture one rank gets first applies on both ranks at the step the last rank holds it (rank 0: v%lld "
        "at step %lld, rank 1: v%lld at step %lld)",
        (long long)s2[0].applied_version, (long long)s2[0].applied_step, (long long)s2[1].applied_version,
        (long long)s2[1].applied_step);
    tap(s2[0].waits > 0 && s2[1].waits > 0, "while the ranks disagree both wait for the version (waits %ld, %ld)",
        s2[0].waits, s2[1].waits);
    tap(memcmp(s2[0].losses, t2[0].losses, sizeof t2[0].losses) == 0 &&
            memcmp(s2[1].losses, t2[1].losses, sizeof t2[1].losses) == 0,
        "losses equal the run where both ranks got v2 together, bit for bit (step 2: %.6f vs %.6f)", s2[0].losses[1],
        t2[0].losses[1]);
}

/* SIGTERM's path (birdie_train_request_stop) on rank 1 only, before step 4. Last: the request stays
 * set for the life of the process, as it does in birdied. */
static void test_signal_stop_one_rank(birdie_collective *coll)
{
    remove_checkpoints();
    birdie_config cfg;
    config(&cfg);
    cfg.ckpt_every = 1000;
    fake_control f = {0};
    if (rank == 1)
        f.signal_stop_at = 4;
    outcome o = run(coll, &cfg, &f), both[2];
    gather(&o, both);
    tap(both[0].stopped && both[1].stopped && both[0].steps_done == 3 && both[1].steps_done == 3 &&
            both[0].finish_step == 3 && both[1].finish_step == 3,
        "a stop signal on rank 1 only stops both ranks after step 3 (steps %ld and %ld)", both[0].steps_done,
        both[1].steps_done);
    tap(checkpoint_exists(3), "the signal stop leaves the checkpoint of step 3");
}

/* The coordinator fails the run (a store write failed) and rank 1 hears it first, before step 4: both
 * ranks stop after step 3 with the final checkpoint written (nothing trained is lost), and both end
 * with the coordinator's exit class (7) and its reason, reported to it as a failed finish. */
static void test_coordinator_failure_one_rank(birdie_collective *coll)
{
    remove_checkpoints();
    birdie_config cfg;
    config(&cfg);
    cfg.ckpt_every = 1000;
    fake_control f = {0};
    if (rank == 1)
        f.fail_from = 4;
    birdie_control ctl = fake_control_table(&f, 2);
    birdie_train_report rep = {0};
    char err[512] = "";
    int rc = birdie_train(&cfg, &birdie_ops_cpu, coll, &ctl, NULL, NULL, NULL, &rep, err, sizeof err);
    int mine[4] = {birdie_error_exit_class(rc), (int)rep.steps_done, f.finish_failed,
                   strstr(err, "the coordinator failed the run at step 3: ") != NULL &&
                       strstr(err, rank == 1 ? "store_write_failed: recording a step" : "another rank") != NULL},
        both[2][4];
    MPI_Allgather(mine, 4, MPI_INT, both, 4, MPI_INT, harness);
    tap(both[0][0] == BIRDIE_EXIT_COORDINATOR && both[1][0] == BIRDIE_EXIT_COORDINATOR && both[0][1] == 3 &&
            both[1][1] == 3 && both[0][3] && both[1][3],
        "a coordinator failure seen by rank 1 only ends both ranks after step 3 with exit class 7 and a reason "
        "(exit classes %d %d, steps %d %d)",
        both[0][0], both[1][0], both[0][1], both[1][1]);
    tap(both[0][2] && both[1][2], "both ranks report a failed finish to the coordinator");
    tap(checkpoint_exists(3), "the failed run still leaves the checkpoint of step 3");
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &harness);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        snprintf(ckpt_dir, sizeof ckpt_dir, "/tmp/birdie-control-XXXXXX");
        if (!mkdtemp(ckpt_dir))
            MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Bcast(ckpt_dir, sizeof ckpt_dir, MPI_CHAR, 0, harness);
    birdie_collective *coll = birdie_collective_mpi(20.0);
    if (!coll || coll->world != 2) {
        fprintf(stderr, "needs mpirun -np 2\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    test_minmax_direct(coll);
    test_stop_one_rank(coll);
    test_checkpoint_one_rank(coll);
    test_mixture_one_rank_first(coll);
    test_coordinator_failure_one_rank(coll);
    test_signal_stop_one_rank(coll); /* last: a signal's stop request stays raised in this process */
    if (rank == 0) {
        printf("1..%d\n", n_tests);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", ckpt_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", ckpt_dir);
    }
    coll->destroy(coll);
    MPI_Comm_free(&harness);
    MPI_Finalize();
    return n_failed > 0;
}
