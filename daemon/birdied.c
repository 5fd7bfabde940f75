/* daemon/birdied.c: main of birdied, the composition root. Parses flags and the config, joins the
 * ranks, picks the backend, and hands the training loop (worker/train.h) its control plane and
 * scheduler: the coordinator's link (daemon/run_link.h) when [daemon] listen is set, else the
 * scheduler in this process (daemon/local_scheduler.h) for mixture = birdie. Also the `prep`
 * subcommand. The only place that exits; everything below returns errors.
 *
 * Exit codes: 0 done (or stopped by an operator); 2 usage or configuration error; 3 data error
 * (missing or corrupt shard, empty source); 4 training stopped on a non-finite loss or gradient;
 * 5 no usable backend; 6 a peer rank was lost; 7 the coordinator could not start or be reached. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BIRDIE_HAVE_MPI
#include <mpi.h>
#endif
#include <unistd.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_backend.h"
#include "worker/config.h"
#include "worker/data/prep.h"
#include "daemon/local_scheduler.h"
#include "worker/train.h"
#ifdef BIRDIE_HAVE_DAEMON
#include "daemon/run_link.h"
#include "daemon/token.h"
#endif

enum { EXIT_USAGE = 2, EXIT_DATA = 3, EXIT_DIVERGED = 4, EXIT_BACKEND = 5, EXIT_PEER = 6, EXIT_COORDINATOR = 7 };

/* Seconds a collective may wait for the other ranks before the job ends as a lost peer. */
#define COLLECTIVE_DEADLINE_S 300.0

/* Joins the MPI world when birdied was started by mpirun (or as a singleton): ranks on one machine
 * split its cores for the CPU GEMMs unless OPENBLAS_NUM_THREADS says otherwise. */
static birdie_collective *join_world(int *argc, char ***argv, int *local_rank)
{
    *local_rank = 0;
#ifdef BIRDIE_HAVE_MPI
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return NULL;
    birdie_collective *c = birdie_collective_mpi(COLLECTIVE_DEADLINE_S);
    MPI_Comm local;
    int local_size = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &local_size);
        MPI_Comm_rank(local, local_rank);
        MPI_Comm_free(&local);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (local_size > 1 && !getenv("OPENBLAS_NUM_THREADS"))
        birdie_cpu_set_threads((int)(cores / local_size > 0 ? cores / local_size : 1));
    return c;
#else
    (void)argc, (void)argv;
    return birdie_collective_single();
#endif
}

static void leave_world(birdie_collective *c)
{
    if (c)
        c->destroy(c);
#ifdef BIRDIE_HAVE_MPI
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (initialised && !finalised)
        MPI_Finalize();
#endif
}

/* A rank that fails while the others wait in a collective must take the job down with it. */
static int fail_job(birdie_collective *c, int code)
{
#ifdef BIRDIE_HAVE_MPI
    if (c && c->world > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
#endif
    leave_world(c);
    return code;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: birdied [--config FILE] [--section.key=value ...] [--backend auto|cpu|cuda] [--token-file F]\n"
                 "               [--resume auto|none]\n"
                 "       birdied prep [--out DIR] [--shard-tokens N] [--val-fraction F] FILE...\n"
                 "       birdied --print-config [...]   print the effective configuration and exit\n"
                 "\n"
                 "Trains a Gated SSM language model (the Birdie procedure). The configuration is an INI file;\n"
                 "every key can be overridden on the command line as --section.key=value (later wins).\n"
                 "Unknown keys and bad values are errors.\n"
                 "\n"
                 "Under mpirun every rank trains its slice of each global batch ([train] batch rows in all);\n"
                 "rank 0 prints the progress lines and hosts the coordinator ([daemon] listen): gRPC for\n"
                 "birdiectl, the scheduler's decisions, and the SQLite store ([daemon] db). The bearer token\n"
                 "comes from --token-file or $BIRDIE_TOKEN.\n"
                 "\n"
                 "signals: SIGTERM/SIGINT stop at the next step (with a checkpoint when [checkpoint] every > 0),\n"
                 "         SIGUSR1 writes a checkpoint to [checkpoint] dir.\n"
                 "\n"
                 "exit codes: 0 done, 2 usage/config error, 3 data error, 4 non-finite loss or gradient,\n"
                 "            5 no usable backend, 6 a peer rank was lost (collective deadline),\n"
                 "            7 the coordinator could not start or be reached (e.g. its port is in use)\n"
                 "\n"
                 "configuration keys:\n");
    birdie_config_print_help(out);
}

/* --backend, --token-file and --resume are short for run.backend, daemon.token_file and
 * checkpoint.resume; returns the key a flag stands for, or NULL. */
static const char *short_form(const char *arg)
{
    static const char *const forms[][2] = {
        {"--backend", "run.backend"}, {"--token-file", "daemon.token_file"}, {"--resume", "checkpoint.resume"}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        size_t n = strlen(forms[i][0]);
        if (!strncmp(arg, forms[i][0], n) && (arg[n] == '\0' || arg[n] == '='))
            return forms[i][1];
    }
    return NULL;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    birdie_train_request_stop();
}
static void on_checkpoint_signal(int sig)
{
    (void)sig;
    birdie_train_request_checkpoint();
}

/* SIGTERM/SIGINT stop at the next step boundary (checkpointing first when the run checkpoints);
 * SIGUSR1 writes a checkpoint. Every rank acts at the same step (the control all-reduce). */
static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_checkpoint_signal;
    sigaction(SIGUSR1, &sa, NULL);
}

/* Loads the newest checkpoint that verifies when [checkpoint] resume = auto; 1 loaded, 0 none. */
static int load_resume(const birdie_config *cfg, birdie_checkpoint *ck, FILE *log, char *err, size_t errlen)
{
    if (strcmp(cfg->resume, "auto") != 0)
        return 0;
    char notes[2048];
    int rc = birdie_checkpoint_load_latest(cfg->ckpt_dir, ck, notes, sizeof notes, err, errlen);
    if (log && rc == 0)
        fprintf(log, "birdied: no checkpoint in %s; starting a new run\n", cfg->ckpt_dir);
    if (log && rc >= 0 && notes[0])
        fprintf(log, "birdied: %s\n", notes);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "prep") == 0)
        return birdie_prep_main(argc - 1, argv + 1);

    birdie_config cfg;
    birdie_config_defaults(&cfg);
    char err[512];
    int print_config = 0;
    /* The file first, then overrides in order, whatever their position on the line. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 || strncmp(argv[i], "--config=", 9) == 0) {
            const char *path = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!path) {
                fprintf(stderr, "birdied: --config needs a file\n");
                return EXIT_USAGE;
            }
            if (birdie_config_load_file(&cfg, path, err, sizeof err) < 0) {
                fprintf(stderr, "birdied: %s\n", err);
                return EXIT_USAGE;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
        } else if (strncmp(a, "--config=", 9) == 0) {
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--print-config") == 0) {
            print_config = 1;
        } else if (short_form(a)) {
            const char *eq = strchr(a, '=');
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : "");
            char assignment[1100];
            snprintf(assignment, sizeof assignment, "%s=%s", short_form(a), v);
            if (birdie_config_set(&cfg, assignment, err, sizeof err) < 0) {
                fprintf(stderr, "birdied: %s\n", err);
                return EXIT_USAGE;
            }
        } else if (strncmp(a, "--", 2) == 0 && strchr(a, '=')) {
            if (birdie_config_set(&cfg, a + 2, err, sizeof err) < 0) {
                fprintf(stderr, "birdied: %s\n", err);
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "birdied: unknown argument '%s' (see birdied --help)\n", a);
            return EXIT_USAGE;
        }
    }
    if (birdie_config_validate(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "birdied: %s\n", err);
        return EXIT_USAGE;
    }
    if (print_config) {
        birdie_config_print(&cfg, stdout);
        return 0;
    }

    int local_rank;
    birdie_collective *coll = join_world(&argc, &argv, &local_rank);
    if (!coll) {
        fprintf(stderr, "birdied: could not join the MPI world\n");
        return EXIT_PEER;
    }
    if (cfg.batch % coll->world) {
        if (coll->rank == 0)
            fprintf(stderr, "birdied: [train] batch = %d is not divisible by the %d ranks\n", cfg.batch, coll->world);
        return fail_job(coll, EXIT_USAGE);
    }
    FILE *log = coll->rank == 0 ? stdout : NULL;
    const birdie_ops *ops;
    char note[256];
    /* each rank of a node on its own GPU, before the probe creates a context; when this fails the
     * probe below says why (and "auto" falls back to the CPU) */
    if (strcmp(cfg.backend, "cpu") != 0)
        birdie_cuda_use_device(local_rank, note, sizeof note);
    if (birdie_backend_choose(cfg.backend, &birdie_ops_cpu, &ops, note, sizeof note, err, sizeof err) < 0) {
        fprintf(stderr, "birdied: rank %d: backend: %s\n", coll->rank, err);
        return fail_job(coll, EXIT_BACKEND);
    }
    if (log)
        fprintf(log, "birdied: %s\n", note);
    if (ops != &birdie_ops_cpu && coll->world > 1) { /* device gradients: NCCL, bootstrapped over MPI */
        birdie_collective *nccl = birdie_collective_nccl(coll, local_rank, err, sizeof err);
        if (!nccl) {
            fprintf(stderr, "birdied: rank %d: %s\n", coll->rank, err);
            return fail_job(coll, EXIT_BACKEND);
        }
        coll = nccl;
    }

    install_signal_handlers();
    birdie_checkpoint resume_ck = {0};
    int resumed = load_resume(&cfg, &resume_ck, log, err, sizeof err);
    if (resumed < 0) {
        fprintf(stderr, "birdied: rank %d: %s\n", coll->rank, err);
        return fail_job(coll, EXIT_DATA);
    }
    const birdie_checkpoint *resume = resumed ? &resume_ck : NULL;
    const birdie_control *ctl = NULL;
#ifdef BIRDIE_HAVE_DAEMON
    birdie_control link_ctl;
    birdie_run_link *link = NULL;
    if (cfg.listen[0]) {
        char token[BIRDIE_TOKEN_MAX];
        if (birdie_token_load(cfg.token_file[0] ? cfg.token_file : NULL, token, sizeof token, err, sizeof err) < 0) {
            fprintf(stderr, "birdied: token: %s\n", err);
            return fail_job(coll, EXIT_USAGE);
        }
        if (!token[0] && cfg.auth_all) {
            if (coll->rank == 0)
                fprintf(stderr, "birdied: the coordinator needs a bearer token: --token-file FILE or BIRDIE_TOKEN "
                                "(or [daemon] listen = \"\" to train without one)\n");
            return fail_job(coll, EXIT_USAGE);
        }
        if (birdie_run_link_open(&cfg, coll, token, resume, log, &link_ctl, &link, err, sizeof err) < 0) {
            fprintf(stderr, "birdied: rank %d: %s\n", coll->rank, err);
            return fail_job(coll, EXIT_COORDINATOR);
        }
        ctl = &link_ctl;
    }
#endif
    birdie_mixture_source local_sched = {0};
    if (!ctl && strcmp(cfg.mixture, "birdie") == 0 &&
        birdie_local_scheduler_open(&cfg, &local_sched, err, sizeof err) < 0) {
        fprintf(stderr, "birdied: rank %d: scheduler: %s\n", coll->rank, err);
        return fail_job(coll, EXIT_USAGE);
    }
    birdie_train_report rep = {0};
    int rc =
        birdie_train(&cfg, ops, coll, ctl, local_sched.ctx ? &local_sched : NULL, resume, log, &rep, err, sizeof err);
    birdie_local_scheduler_close(&local_sched);
    birdie_checkpoint_free(&resume_ck);
#ifdef BIRDIE_HAVE_DAEMON
    if (rc == 0)
        birdie_run_link_close(link, coll);
#endif
    if (rc < 0) {
        fprintf(stderr, "birdied: rank %d: %s\n", coll->rank, err);
        return fail_job(coll, rc == -ERANGE      ? EXIT_DIVERGED
                              : rc == -ETIMEDOUT ? EXIT_PEER
                              : rc == -ENOMEM    ? 1
                                                 : EXIT_DATA);
    }
    if (log)
        fprintf(log, "%s: %ld steps | val loss %.4f -> %.4f | %.0f tok/s\n", rep.stopped ? "stopped" : "done",
                rep.steps_done, rep.first_val_loss, rep.last_val_loss, rep.tokens_per_s);
    leave_world(coll);
    return 0;
}
