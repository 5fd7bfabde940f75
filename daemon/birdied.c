/* daemon/birdied.c: main of birdied, the composition root. Parses flags and the config, joins the
 * ranks, picks the backend, and hands the training loop (worker/train.h) its control plane and
 * scheduler: the coordinator's link (daemon/run_link.h) when [daemon] listen is set, else the
 * scheduler in this process (daemon/local_scheduler.h) for mixture = birdie. Also the `prep`,
 * `generate`, `eval` and `finetune` subcommands (eval, and finetune's --db, only with the daemon parts:
 * they write the SQLite store). The only place that exits;
 * everything below returns errors.
 *
 * Exit codes (worker/error.h): 0 done (or stopped by an operator); 1 internal error (out of memory);
 * 2 usage or configuration error; 3 data error (missing or corrupt shard or checkpoint, a checkpoint
 * that cannot be written); 4 training stopped on a non-finite loss or gradient; 5 no usable backend;
 * 6 a peer rank was lost; 7 the coordinator could not start, or was lost or failed during the run.
 * Each failure carries its class from where it was detected (birdie_error_tag). */
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
#include "worker/curriculum.h"
#include "worker/error.h"
#include "worker/fault.h"
#include "worker/flight.h"
#include "worker/finetune_main.h"
#ifdef BIRDIE_HAVE_EVAL
#include "daemon/finetune_record.h"
#endif
#include "worker/generate_main.h"
#include "worker/precision.h"
#ifdef BIRDIE_HAVE_EVAL
#include "daemon/eval_main.h"
#include "daemon/verify_resume.h"
#endif
#include "worker/train.h"
#ifdef BIRDIE_HAVE_DAEMON
#include "daemon/run_link.h"
#include "daemon/token.h"
#endif

/* Joins the MPI world when birdied was started by mpirun (or as a singleton): ranks on one machine
 * split its cores for the CPU GEMMs unless OPENBLAS_NUM_THREADS says otherwise. */
static birdie_collective *join_world(int *argc, char ***argv, double deadline_s, int *local_rank)
{
    *local_rank = 0;
#ifdef BIRDIE_HAVE_MPI
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return NULL;
    birdie_collective *c = birdie_collective_mpi(deadline_s);
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
    (void)argc, (void)argv, (void)deadline_s;
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
                 "       birdied generate [--checkpoint DIR|FILE] [--config FILE] [--section.key=value ...]\n"
                 "                        [--prompt TEXT | --prompt-file F] [--max-tokens N] [--temperature T]\n"
                 "                        [--top-k K] [--seed S] [--stop STR] [--backend cpu]\n"
                 "                                      continue a prompt from a checkpoint (generate --help)\n"
                 "       birdied eval --checkpoint DIR|FILE [--task phonebook|infill|bpc|all] [-o table|json]\n"
                 "                    [--db FILE [--run NAME]] [--items N] [--entries N] [--seed S] [--batch B]\n"
                 "                    [--long]\n"
                 "                                      measure a checkpoint on the evaluation tasks (eval --help)\n"
                 "       birdied finetune --checkpoint DIR|FILE --task phonebook --out DIR [--steps N] [--lr X] ...\n"
                 "                                      fine-tune a checkpoint, with a learning-speed curve\n"
                 "                                      (finetune --help)\n"
                 "       birdied verify-resume --config FILE --at K [--np N] [--dir DIR] [--section.key=value ...]\n"
                 "                                      check that a run killed at step K and resumed ends\n"
                 "                                      bit-identical to the run without the kill\n"
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
                 "A rank that fails writes a flight record (its step, last collectives and RPCs) to stderr and,\n"
                 "when the run checkpoints, to [checkpoint] dir/flight-rank<R>.txt.\n"
                 "BIRDIE_FAULT=point@step[=count][/rank],... injects faults for tests (docs/design.md, Faults):\n"
                 "kill, hang_collective, stop_heartbeat, corrupt_shard, fail_fsync, fail_store, store_busy,\n"
                 "drop_push, nan_loss, kill_before_rename.\n"
                 "\n"
                 "exit codes: 0 done, 1 internal error (out of memory), 2 usage/config error,\n"
                 "            3 data error (shard, checkpoint), 4 non-finite loss or gradient, 5 no usable backend,\n"
                 "            6 a peer rank was lost ([run] collective_deadline_s),\n"
                 "            7 the coordinator could not start (e.g. its port is in use), or was lost or failed\n"
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

/* What main holds between its steps. */
typedef struct birdied {
    birdie_config cfg;
    birdie_collective *coll;
    int local_rank;
    FILE *log; /* rank 0's progress lines; NULL on the other ranks */
    const birdie_ops *ops;
    birdie_checkpoint resume_ck;
    const birdie_checkpoint *resume; /* &resume_ck when a checkpoint was loaded */
    const birdie_control *ctl; /* the coordinator's link, or NULL */
    birdie_mixture_source local_sched; /* the scheduler in this process (mixture = birdie, no coordinator) */
#ifdef BIRDIE_HAVE_DAEMON
    birdie_control link_ctl;
    birdie_run_link *link;
#endif
    int quiet; /* a failure every rank sees alike: only rank 0 prints it */
    int training; /* the steps began: a failure from here on leaves a flight record */
} birdied;

enum { ACTION_TRAIN, ACTION_HELP, ACTION_PRINT_CONFIG };

/* The config file first, then the overrides in order, whatever their position on the line. */
static int read_command_line(int argc, char **argv, birdie_config *cfg, int *action, char *err, size_t errlen)
{
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    birdie_config_defaults(cfg);
    *action = ACTION_TRAIN;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 || strncmp(argv[i], "--config=", 9) == 0) {
            const char *path = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!path)
                return birdie_fail(err, errlen, usage_error, "--config needs a file");
            if (birdie_config_load_file(cfg, path, err, errlen) < 0)
                return usage_error;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
        } else if (strncmp(a, "--config=", 9) == 0) {
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *action = ACTION_HELP;
            return 0;
        } else if (strcmp(a, "--print-config") == 0) {
            *action = ACTION_PRINT_CONFIG;
        } else if (short_form(a)) {
            const char *eq = strchr(a, '=');
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : "");
            char assignment[1100];
            snprintf(assignment, sizeof assignment, "%s=%s", short_form(a), v);
            if (birdie_config_set(cfg, assignment, err, errlen) < 0)
                return usage_error;
        } else if (strncmp(a, "--", 2) == 0 && strchr(a, '=')) {
            if (birdie_config_set(cfg, a + 2, err, errlen) < 0)
                return usage_error;
        } else {
            return birdie_fail(err, errlen, usage_error, "unknown argument '%s' (see birdied --help)", a);
        }
    }
    return birdie_config_validate(cfg, err, errlen) < 0 ? usage_error : 0;
}

/* What only the parsed arms, mixture and scheduler settings can tell (an unknown arm, an arm too long
 * for the rows, a bad mixture or scheduler setting) is a configuration error too, found here before
 * any rank, backend or coordinator starts. */
static int check_run_config(const birdie_config *cfg, char *err, size_t errlen)
{
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    birdie_curriculum cur;
    if (birdie_curriculum_init(&cur, cfg, cfg->seq_len, err, errlen) < 0)
        return usage_error;
    int birdie = cur.birdie;
    birdie_curriculum_free(&cur);
    birdie_sched *sched = NULL;
    if (birdie && birdie_local_scheduler_create(cfg, &sched, err, errlen) < 0)
        return usage_error;
    if (sched)
        birdie_sched_free(sched);
    return 0;
}

static int join_ranks(birdied *b, int *argc, char ***argv, char *err, size_t errlen)
{
    b->coll = join_world(argc, argv, b->cfg.collective_deadline_s, &b->local_rank);
    if (!b->coll)
        return birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_PEER), "could not join the MPI world");
    b->log = b->coll->rank == 0 ? stdout : NULL;
    b->quiet = 1;
    if (birdie_fault_arm_from_env(b->coll->rank, err, errlen) < 0)
        return birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    if (b->log && getenv("BIRDIE_FAULT") && getenv("BIRDIE_FAULT")[0])
        fprintf(b->log, "birdied: faults armed: BIRDIE_FAULT=%s\n", getenv("BIRDIE_FAULT"));
    if (b->cfg.batch % b->coll->world)
        return birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE),
                           "[train] batch = %d is not divisible by the %d ranks", b->cfg.batch, b->coll->world);
    b->quiet = 0;
    return 0;
}

/* The backend, and for device gradients over several ranks NCCL, bootstrapped over MPI. */
static int choose_backend(birdied *b, char *err, size_t errlen)
{
    const int backend_error = birdie_error_tag(-ENODEV, BIRDIE_EXIT_BACKEND);
    char note[256], msg[512];
    /* each rank of a node on its own GPU, before the probe creates a context; when this fails the
     * probe below says why (and "auto" falls back to the CPU) */
    if (strcmp(b->cfg.backend, "cpu") != 0)
        birdie_cuda_use_device(b->local_rank, note, sizeof note);
    if (birdie_backend_choose(b->cfg.backend, &birdie_ops_cpu, &b->ops, note, sizeof note, msg, sizeof msg) < 0)
        return birdie_fail(err, errlen, backend_error, "backend: %s", msg);
    if (b->log)
        fprintf(b->log, "birdied: %s\n", note);
    if (b->ops != &birdie_ops_cpu && b->coll->world > 1) {
        birdie_collective *nccl = birdie_collective_nccl(b->coll, b->local_rank, err, errlen);
        if (!nccl)
            return backend_error;
        b->coll = nccl;
    }
    /* after the NCCL choice, which asks whether the backend is the CPU's */
    int rc = birdie_precision_choose(b->cfg.precision, b->ops, &b->ops, msg, sizeof msg, err, errlen);
    if (rc < 0)
        return rc;
    if (b->log)
        fprintf(b->log, "birdied: %s\n", msg);
    return 0;
}

/* Loads the newest checkpoint that verifies when [checkpoint] resume = auto. */
static int load_resume(birdied *b, char *err, size_t errlen)
{
    if (strcmp(b->cfg.resume, "auto") != 0)
        return 0;
    char notes[2048];
    int rc = birdie_checkpoint_load_latest(b->cfg.ckpt_dir, &b->resume_ck, notes, sizeof notes, err, errlen);
    if (rc < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
    if (b->log && rc == 0)
        fprintf(b->log, "birdied: no checkpoint in %s; starting a new run\n", b->cfg.ckpt_dir);
    if (b->log && notes[0])
        fprintf(b->log, "birdied: %s\n", notes);
    b->resume = rc == 1 ? &b->resume_ck : NULL;
    return 0;
}

/* With [daemon] listen set: rank 0 hosts the coordinator and every rank links to it. */
static int open_control_plane(birdied *b, char *err, size_t errlen)
{
    if (!b->cfg.listen[0])
        return 0;
#ifdef BIRDIE_HAVE_DAEMON
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    char token[BIRDIE_TOKEN_MAX], msg[512];
    if (birdie_token_load(b->cfg.token_file[0] ? b->cfg.token_file : NULL, token, sizeof token, msg, sizeof msg) < 0)
        return birdie_fail(err, errlen, usage_error, "token: %s", msg);
    if (!token[0] && b->cfg.auth_all) {
        b->quiet = 1;
        return birdie_fail(err, errlen, usage_error,
                           "the coordinator needs a bearer token: --token-file FILE or BIRDIE_TOKEN (or [daemon] "
                           "listen = \"\" to train without one)");
    }
    int rc = birdie_run_link_open(&b->cfg, b->coll, token, b->resume, b->log, &b->link_ctl, &b->link, err, errlen);
    if (rc < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_COORDINATOR);
    b->ctl = &b->link_ctl;
    return 0;
#else
    return birdie_fail(err, errlen, birdie_error_tag(-ENOTSUP, BIRDIE_EXIT_USAGE),
                       "[daemon] listen is set but this birdied was built without the coordinator");
#endif
}

/* Without a coordinator, a Birdie run keeps its scheduler in this process (on every rank). */
static int open_local_scheduler(birdied *b, char *err, size_t errlen)
{
    if (b->ctl || strcmp(b->cfg.mixture, "birdie") != 0)
        return 0;
    char msg[512];
    int rc = birdie_local_scheduler_open(&b->cfg, &b->local_sched, msg, sizeof msg);
    return rc < 0 ? birdie_fail(err, errlen, birdie_error_tag(rc, BIRDIE_EXIT_USAGE), "scheduler: %s", msg) : 0;
}

static int train(birdied *b, char *err, size_t errlen)
{
    birdie_train_report rep = {0};
    b->training = 1;
    int rc = birdie_train(&b->cfg, b->ops, b->coll, b->ctl, b->local_sched.ctx ? &b->local_sched : NULL, b->resume,
                          b->log, &rep, err, errlen);
    if (rc < 0)
        return rc;
    if (b->log)
        fprintf(b->log, "%s: %ld steps | val loss %.4f -> %.4f | %.0f tok/s\n", rep.stopped ? "stopped" : "done",
                rep.steps_done, rep.first_val_loss, rep.last_val_loss, rep.tokens_per_s);
    return 0;
}

/* Releases what the steps opened and returns the exit code. A failed rank takes the job down: the
 * others may be waiting for it in a collective. */
static int finish(birdied *b, int rc, const char *err)
{
    birdie_local_scheduler_close(&b->local_sched);
    birdie_checkpoint_free(&b->resume_ck);
#ifdef BIRDIE_HAVE_DAEMON
    if (rc == 0)
        birdie_run_link_close(b->link, b->coll);
#endif
    if (rc == 0) {
        leave_world(b->coll);
        return 0;
    }
    if (!b->coll)
        fprintf(stderr, "birdied: %s\n", err);
    else if (!b->quiet || b->coll->rank == 0)
        fprintf(stderr, "birdied: rank %d: %s\n", b->coll->rank, err);
    if (b->coll && b->training)
        birdie_flight_dump(b->coll->rank, b->cfg.ckpt_every > 0 ? b->cfg.ckpt_dir : NULL, err);
    int exit_class = birdie_error_exit_class(rc);
    return fail_job(b->coll, exit_class ? exit_class : BIRDIE_EXIT_INTERNAL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "prep") == 0)
        return birdie_prep_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "generate") == 0)
        return birdie_generate_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "finetune") == 0) {
#ifdef BIRDIE_HAVE_EVAL
        birdie_finetune_recorder recorder;
        birdie_finetune_hooks hooks = birdie_finetune_recorder_hooks(&recorder);
        return birdie_finetune_main(argc - 1, argv + 1, &hooks);
#else
        return birdie_finetune_main(argc - 1, argv + 1, NULL);
#endif
    }
    if (argc > 1 && strcmp(argv[1], "verify-resume") == 0) {
#ifdef BIRDIE_HAVE_EVAL
        return birdie_verify_resume_main(argc - 1, argv + 1);
#else
        fprintf(stderr,
                "birdied verify-resume: this build has no daemon parts (SQLite): configure with -Ddaemon=enabled\n");
        return BIRDIE_EXIT_USAGE;
#endif
    }
    if (argc > 1 && strcmp(argv[1], "eval") == 0) {
#ifdef BIRDIE_HAVE_EVAL
        return birdie_eval_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "birdied eval: this build has no daemon parts (SQLite): configure with -Ddaemon=enabled\n");
        return BIRDIE_EXIT_USAGE;
#endif
    }
    static birdied b; /* zeroed */
    char err[512];
    int action, rc = read_command_line(argc, argv, &b.cfg, &action, err, sizeof err);
    if (rc == 0 && action == ACTION_TRAIN)
        rc = check_run_config(&b.cfg, err, sizeof err);
    if (rc < 0 || action == ACTION_HELP || action == ACTION_PRINT_CONFIG) {
        if (rc < 0)
            return finish(&b, rc, err);
        if (action == ACTION_HELP)
            usage(stdout);
        else
            birdie_config_print(&b.cfg, stdout);
        return 0;
    }
    if ((rc = join_ranks(&b, &argc, &argv, err, sizeof err)) == 0 && (rc = choose_backend(&b, err, sizeof err)) == 0) {
        install_signal_handlers();
        if ((rc = load_resume(&b, err, sizeof err)) == 0 && (rc = open_control_plane(&b, err, sizeof err)) == 0 &&
            (rc = open_local_scheduler(&b, err, sizeof err)) == 0)
            rc = train(&b, err, sizeof err);
    }
    return finish(&b, rc, err);
}
