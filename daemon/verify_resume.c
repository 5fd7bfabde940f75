/* daemon/verify_resume.c: `birdied verify-resume --config RUN.ini --at K [--np N] [--dir DIR]
 * [--key=value ...]` (verify_resume.h).
 *
 * Three runs of the same config, each through this birdied (under `mpirun -np N` when N > 1), with a
 * coordinator and a store of their own:
 *   A: the whole run, uninterrupted;
 *   B: the same, killed with SIGKILL at the start of step K on one rank (--kill-rank, default the last;
 *      fault kill@K, fault.h),
 *      as a node failure would; mpirun then takes the job down;
 *   B': `--checkpoint.resume=auto` on B's checkpoints and store, to the end.
 * Then it compares A with B+B': the final checkpoints (parameters, both AdamW moments, the mixture
 * and the scheduler's state, bit for bit), and the store's records: every evaluation, reward,
 * decision and mixture (the rows B redid after the resume must equal the rows it wrote before the
 * kill, and the union must equal A's), and the losses, learning rates and gradient norms of the steps
 * both stores hold (heartbeats sample steps by time, so which steps have rows differs). Checkpoints
 * are written every min(ckpt_every, K/2) steps (at least 1) so one lies before the kill.
 * Not here: the resume itself (worker/run_checkpoint.c), the kill (worker/fault.c). */
#include "daemon/verify_resume.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/checkpoint.h"
#include "worker/config.h"
#include "worker/error.h"

extern char **environ;

typedef struct verify_options {
    const char *config;
    long at;
    int np, kill_rank;
    char dir[1024];
    const char *overrides[64];
    int n_overrides;
} verify_options;

static void usage(FILE *f)
{
    fprintf(f, "usage: birdied verify-resume --config RUN.ini --at K [--np N] [--kill-rank R] [--dir DIR]\n"
               "                             [--section.key=value ...]\n"
               "  Runs the config three times: whole (A); killed at the start of step K (B); B resumed from\n"
               "  its newest checkpoint to the end. Prints whether the final parameters, optimizer moments,\n"
               "  mixture and scheduler state, and the store's evaluations, rewards, decisions, mixtures and\n"
               "  step losses of A and of B are identical.\n"
               "  --np N     ranks (mpirun -np N; default 1: no mpirun)\n"
               "  --kill-rank R  the rank killed (default: the last)\n"
               "  --dir DIR  where the runs' checkpoints, stores and logs go (default: a new /tmp/birdie-verify-*)\n"
               "exit codes: 0 identical, 1 a difference, 2 usage; a run that fails where it must not\n"
               "            exits with its own code (see birdied --help)\n");
}

static int parse(int argc, char **argv, verify_options *o, birdie_config *cfg, int *help, char *err, size_t errlen)
{
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    *o = (verify_options){.np = 1, .kill_rank = -1};
    birdie_config_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return 0;
        } else if (strcmp(a, "--config") == 0 && v) {
            o->config = argv[++i];
        } else if (strcmp(a, "--at") == 0 && v) {
            o->at = strtol(argv[++i], &end, 10);
            if (*end || o->at < 2)
                return birdie_fail(err, errlen, usage_error, "--at %s: want a step >= 2", v);
        } else if (strcmp(a, "--np") == 0 && v) {
            o->np = (int)strtol(argv[++i], &end, 10);
            if (*end || o->np < 1 || o->np > 64)
                return birdie_fail(err, errlen, usage_error, "--np %s: want 1 to 64 ranks", v);
        } else if (strcmp(a, "--kill-rank") == 0 && v) {
            o->kill_rank = (int)strtol(argv[++i], &end, 10);
            if (*end || o->kill_rank < 0)
                return birdie_fail(err, errlen, usage_error, "--kill-rank %s: want a rank >= 0", v);
        } else if (strcmp(a, "--dir") == 0 && v) {
            snprintf(o->dir, sizeof o->dir, "%s", argv[++i]);
        } else if (strncmp(a, "--", 2) == 0 && strchr(a, '=') && o->n_overrides < 64) {
            o->overrides[o->n_overrides++] = a;
        } else {
            return birdie_fail(err, errlen, usage_error, "unknown or incomplete argument '%s' (see --help)", a);
        }
    }
    if (!o->config || !o->at)
        return birdie_fail(err, errlen, usage_error, "--config and --at are required (see --help)");
    if (birdie_config_load_file(cfg, o->config, err, errlen) < 0)
        return usage_error;
    for (int i = 0; i < o->n_overrides; i++)
        if (birdie_config_set(cfg, o->overrides[i] + 2, err, errlen) < 0)
            return usage_error;
    if (birdie_config_validate(cfg, err, errlen) < 0)
        return usage_error;
    if (o->kill_rank >= o->np)
        return birdie_fail(err, errlen, usage_error, "--kill-rank %d: the run has %d rank%s", o->kill_rank, o->np,
                           o->np > 1 ? "s" : "");
    if (o->kill_rank < 0)
        o->kill_rank = o->np - 1;
    if (o->at >= cfg->steps)
        return birdie_fail(err, errlen, usage_error, "--at %ld: the run has only %ld steps", o->at, cfg->steps);
    if (!o->dir[0]) {
        snprintf(o->dir, sizeof o->dir, "/tmp/birdie-verify-XXXXXX");
        if (!mkdtemp(o->dir))
            return birdie_fail(err, errlen, -errno, "cannot create a directory in /tmp: %s", strerror(errno));
    } else if (mkdir(o->dir, 0755) != 0 && errno != EEXIST) {
        return birdie_fail(err, errlen, usage_error, "--dir %s: %s", o->dir, strerror(errno));
    }
    return 0;
}

/* Runs one birdied (under mpirun for several ranks) with its output in dir/<name>.log; returns its
 * exit status, 128 + signal when killed, or -errno when it could not start. */
static int run_birdied(const verify_options *o, const char *name, long ckpt_every, int resume, const char *fault)
{
    char exe[4096], ckdir[1200], db[1200], logp[1200], every[64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -errno;
    exe[n] = '\0';
    snprintf(ckdir, sizeof ckdir, "--checkpoint.dir=%s/%s", o->dir, name);
    snprintf(db, sizeof db, "--daemon.db=%s/%s.db", o->dir, name);
    snprintf(logp, sizeof logp, "%s/%s%s.log", o->dir, name, resume ? "-resumed" : "");
    snprintf(every, sizeof every, "--checkpoint.every=%ld", ckpt_every);
    const char *args[100];
    int a = 0;
    char np[16];
    snprintf(np, sizeof np, "%d", o->np);
    if (o->np > 1) {
        args[a++] = "mpirun";
        args[a++] = "-np";
        args[a++] = np;
    }
    args[a++] = exe;
    args[a++] = "--config";
    args[a++] = o->config;
    for (int i = 0; i < o->n_overrides; i++)
        args[a++] = o->overrides[i];
    args[a++] = ckdir;
    args[a++] = db;
    args[a++] = every;
    args[a++] = resume ? "--checkpoint.resume=auto" : "--checkpoint.resume=none";
    args[a++] = "--daemon.listen=127.0.0.1:0";
    args[a] = NULL;
    if (fault)
        setenv("BIRDIE_FAULT", fault, 1);
    else
        unsetenv("BIRDIE_FAULT");
    if (!getenv("BIRDIE_TOKEN"))
        setenv("BIRDIE_TOKEN", "verify-resume", 1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawnp(&pid, args[0], &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    unsetenv("BIRDIE_FAULT");
    if (rc != 0)
        return -rc;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    printf("  run %s%s: %s %d (log %s)\n", name, resume ? " resumed" : "", WIFEXITED(status) ? "exit" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), logp);
    fflush(stdout);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- comparing the final checkpoints ------------------------------------------------------------ */

static int same_bytes(const void *a, const void *b, size_t n)
{
    return n == 0 || (a && b && memcmp(a, b, n) == 0);
}

static int compare_checkpoints(const verify_options *o, int *differ)
{
    char da[1200], db[1200], notes[2048], err[512];
    snprintf(da, sizeof da, "%s/a", o->dir);
    snprintf(db, sizeof db, "%s/b", o->dir);
    birdie_checkpoint a = {0}, b = {0};
    int ra = birdie_checkpoint_load_latest(da, &a, notes, sizeof notes, err, sizeof err);
    int rb = ra == 1 ? birdie_checkpoint_load_latest(db, &b, notes, sizeof notes, err, sizeof err) : ra;
    if (ra != 1 || rb != 1) {
        printf("final checkpoints: cannot compare: %s\n", ra < 0 || rb < 0 ? err : "a run left no checkpoint");
        birdie_checkpoint_free(&a);
        birdie_checkpoint_free(&b);
        *differ = 1;
        return 0;
    }
    size_t pbytes = a.n_params * sizeof(float);
    struct {
        const char *what;
        int same;
    } parts[] = {
        {"step", a.step == b.step},
        {"parameters", a.n_params == b.n_params && same_bytes(a.params, b.params, pbytes)},
        {"AdamW moments", a.n_params == b.n_params && same_bytes(a.m, b.m, pbytes) && same_bytes(a.v, b.v, pbytes)},
        {"mixture", a.mixture_version == b.mixture_version && a.n_arms == b.n_arms &&
                        same_bytes(a.weights, b.weights, (size_t)a.n_arms * sizeof(double))},
        {"scheduler state", a.sched_len == b.sched_len && same_bytes(a.sched_state, b.sched_state, a.sched_len)},
    };
    printf("final checkpoints (step %lld and %lld, %zu parameters):\n", (long long)a.step, (long long)b.step,
           a.n_params);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        printf("  %-16s %s\n", parts[i].what, parts[i].same ? "identical" : "DIFFER");
        *differ |= !parts[i].same;
    }
    birdie_checkpoint_free(&a);
    birdie_checkpoint_free(&b);
    return 0;
}

/* ---- comparing the stores ----------------------------------------------------------------------- */

/* One row as text: keys, then values (doubles in hexadecimal, exact). */
typedef struct row_text {
    char key[128], val[1024];
} row_text;

typedef struct rows {
    row_text *r;
    int n, cap;
} rows;

static void column_text(sqlite3_stmt *st, int c, char *out, size_t len)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: snprintf(out, len, "null"); break;
    case SQLITE_INTEGER: snprintf(out, len, "%lld", (long long)sqlite3_column_int64(st, c)); break;
    case SQLITE_FLOAT: snprintf(out, len, "%a", sqlite3_column_double(st, c)); break;
    default: snprintf(out, len, "'%s'", (const char *)sqlite3_column_text(st, c)); break;
    }
}

/* The rows of sql (its first n_keys columns are the key, ordered by key; the last column is the
 * incarnation), one per key: a key written by several incarnations (work redone after a resume) must
 * have the same values each time, else *redone_differ counts it. */
static int load_rows(sqlite3 *db, const char *sql, int n_keys, rows *out, int *redone_differ, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return birdie_fail(err, errlen, -EIO, "%s: %s", sql, sqlite3_errmsg(db));
    int cols = sqlite3_column_count(st) - 1, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        row_text t;
        memset(&t, 0, sizeof t);
        size_t kl = 0, vl = 0;
        for (int c = 0; c < cols; c++) {
            char cell[256];
            column_text(st, c, cell, sizeof cell);
            if (c < n_keys)
                kl += (size_t)snprintf(t.key + kl, sizeof t.key - (kl < sizeof t.key ? kl : sizeof t.key), "%s ", cell);
            else
                vl += (size_t)snprintf(t.val + vl, sizeof t.val - (vl < sizeof t.val ? vl : sizeof t.val), "%s ", cell);
            if (kl >= sizeof t.key || vl >= sizeof t.val)
                break;
        }
        if (out->n && strcmp(out->r[out->n - 1].key, t.key) == 0) {
            *redone_differ += strcmp(out->r[out->n - 1].val, t.val) != 0;
            continue;
        }
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 256;
            row_text *grown = realloc(out->r, (size_t)cap * sizeof *grown);
            if (!grown) {
                sqlite3_finalize(st);
                return birdie_fail(err, errlen, -ENOMEM, "out of memory");
            }
            out->r = grown;
            out->cap = cap;
        }
        out->r[out->n++] = t;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : birdie_fail(err, errlen, -EIO, "%s: %s", sql, sqlite3_errmsg(db));
}

typedef struct table_check {
    const char *what;
    const char *sql; /* keys..., values..., incarnation; ordered by the keys, then the incarnation */
    int n_keys;
    int common_only; /* compare only the keys both stores hold */
} table_check;

static const table_check table_checks[] = {
    {"evaluations", "SELECT step, arm_index, loss_sum, tokens, incarnation FROM evals ORDER BY 1, 2, 5", 2, 0},
    {"rewards", "SELECT step, arm_index, reward, incarnation FROM rewards ORDER BY 1, 2, 4", 2, 0},
    {"decisions",
     "SELECT step, mixture_version, source, explore, predicted_reward, observed_reward, fit_error, record, "
     "incarnation FROM decisions ORDER BY 1, 2, 9",
     2, 0},
    {"mixture weights", "SELECT version, arm_index, weight, incarnation FROM mixture_weights ORDER BY 1, 2, 4", 2, 0},
    /* heartbeats report where a version applied, so a version replaced before the next heartbeat has
     * no applied_step (nor has one decided before the kill and applied after it, in the first
     * incarnation): the steps both stores hold */
    {"mixtures applied",
     "SELECT version, applied_step, incarnation FROM mixtures WHERE applied_step IS NOT NULL ORDER BY 1, 3", 1, 1},
    {"step losses", "SELECT step, loss, lr, grad_norm, mixture_version, incarnation FROM steps ORDER BY 1, 6", 1, 1},
};

static int compare_table(sqlite3 *a, sqlite3 *b, const table_check *t, int *differ, char *err, size_t errlen)
{
    rows ra = {0}, rb = {0};
    int redone_a = 0, redone_b = 0, mismatched = 0, compared = 0, only_one = 0;
    int rc = load_rows(a, t->sql, t->n_keys, &ra, &redone_a, err, errlen);
    if (rc == 0)
        rc = load_rows(b, t->sql, t->n_keys, &rb, &redone_b, err, errlen);
    for (int i = 0, j = 0; rc == 0 && (i < ra.n || j < rb.n);) {
        int order = i == ra.n ? 1 : j == rb.n ? -1 : 0;
        if (!order) {
            /* keys are numbers: compare them as numbers, field by field */
            long long ka[2] = {0}, kb[2] = {0};
            sscanf(ra.r[i].key, "%lld %lld", &ka[0], &ka[1]);
            sscanf(rb.r[j].key, "%lld %lld", &kb[0], &kb[1]);
            order = ka[0] != kb[0] ? (ka[0] < kb[0] ? -1 : 1) : ka[1] != kb[1] ? (ka[1] < kb[1] ? -1 : 1) : 0;
        }
        if (order) {
            only_one += !t->common_only;
            if (!t->common_only && only_one <= 3)
                printf("    %s only in %s: %s\n", t->what, order < 0 ? "A" : "B",
                       order < 0 ? ra.r[i].key : rb.r[j].key);
            order < 0 ? i++ : j++;
            continue;
        }
        compared++;
        if (strcmp(ra.r[i].val, rb.r[j].val) != 0 && ++mismatched <= 3)
            printf("    %s at %s: A %s, B %s\n", t->what, ra.r[i].key, ra.r[i].val, rb.r[j].val);
        i++, j++;
    }
    if (rc == 0) {
        int same = !mismatched && !only_one && !redone_a && !redone_b && (compared > 0 || t->common_only);
        printf("  %-16s %s (%d rows compared%s", t->what, same ? "identical" : "DIFFER", compared,
               t->common_only ? ", those both stores hold" : "");
        if (redone_b)
            printf("; %d rows redone after the resume differ from the first time", redone_b);
        printf(")\n");
        *differ |= !same;
    }
    free(ra.r);
    free(rb.r);
    return rc;
}

static int compare_stores(const verify_options *o, int *differ, char *err, size_t errlen)
{
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/a.db", o->dir);
    snprintf(pb, sizeof pb, "%s/b.db", o->dir);
    sqlite3 *a = NULL, *b = NULL;
    int rc = 0;
    if (sqlite3_open_v2(pa, &a, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_open_v2(pb, &b, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        rc = birdie_fail(err, errlen, -EIO, "cannot open the stores %s and %s", pa, pb);
    if (rc == 0)
        printf("stores (A %s, B %s):\n", pa, pb);
    for (size_t i = 0; rc == 0 && i < sizeof table_checks / sizeof table_checks[0]; i++)
        rc = compare_table(a, b, &table_checks[i], differ, err, errlen);
    sqlite3_close(a);
    sqlite3_close(b);
    return rc;
}

int birdie_verify_resume_main(int argc, char **argv)
{
    verify_options o;
    static birdie_config cfg;
    char err[512];
    int help = 0, rc = parse(argc, argv, &o, &cfg, &help, err, sizeof err);
    if (help || rc < 0) {
        usage(help ? stdout : stderr);
        if (rc < 0)
            fprintf(stderr, "birdied verify-resume: %s\n", err);
        return help ? 0 : BIRDIE_EXIT_USAGE;
    }
    long every = cfg.ckpt_every > 0 && cfg.ckpt_every < o.at ? cfg.ckpt_every : (o.at / 2 > 0 ? o.at / 2 : 1);
    char fault[64];
    snprintf(fault, sizeof fault, "kill@%ld/%d", o.at, o.kill_rank);
    printf("verify-resume: %ld steps on %d rank%s, killed at step %ld (%s), checkpoints every %ld steps, in %s\n",
           cfg.steps, o.np, o.np > 1 ? "s" : "", o.at, fault, every, o.dir);
    int ra = run_birdied(&o, "a", every, 0, NULL);
    if (ra != 0) {
        fprintf(stderr, "birdied verify-resume: the uninterrupted run failed (%d): see %s/a.log\n", ra, o.dir);
        return ra > 0 && ra < 128 ? ra : BIRDIE_EXIT_INTERNAL;
    }
    int rb = run_birdied(&o, "b", every, 0, fault);
    if (rb == 0) {
        printf("the run to be killed finished instead (no step %ld?): not a resume test\n", o.at);
        return 1;
    }
    int rr = run_birdied(&o, "b", every, 1, NULL);
    if (rr != 0) {
        fprintf(stderr, "birdied verify-resume: the resumed run failed (%d): see %s/b-resumed.log\n", rr, o.dir);
        return rr > 0 && rr < 128 ? rr : BIRDIE_EXIT_INTERNAL;
    }
    int differ = 0;
    compare_checkpoints(&o, &differ);
    if (compare_stores(&o, &differ, err, sizeof err) < 0) {
        fprintf(stderr, "birdied verify-resume: %s\n", err);
        return BIRDIE_EXIT_INTERNAL;
    }
    printf("verify-resume: %s\n", differ ? "the resumed run DIFFERS from the uninterrupted one"
                                         : "the resumed run is identical to the uninterrupted one");
    return differ ? 1 : 0;
}
