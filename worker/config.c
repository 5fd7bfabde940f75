/* worker/config.c: the key table of birdie_config and its INI/override parser (see config.h). */
#include "worker/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/scheduler_defaults.h"
#include "worker/error.h"

typedef enum { KEY_INT, KEY_LONG, KEY_U64, KEY_DOUBLE, KEY_BOOL, KEY_STRING, KEY_CHOICE } key_type;

typedef struct config_key {
    const char *section, *name;
    key_type type;
    size_t offset, size; /* field in birdie_config; size for strings */
    const char *fallback; /* default, as it would be written in the file */
    double min, max; /* numeric range (inclusive) */
    const char *choices; /* "a|b|c" for KEY_CHOICE */
    const char *help;
} config_key;

#define FIELD(f) offsetof(birdie_config, f), sizeof(((birdie_config *)0)->f)

static const config_key keys[] = {
    {"run", "name", KEY_STRING, FIELD(name), "birdie", 0, 0, NULL, "run name (logs, store)"},
    {"run", "seed", KEY_U64, FIELD(seed), "1337", 0, 0, NULL, "seed of every random draw (init, data, objectives)"},
    {"run", "steps", KEY_LONG, FIELD(steps), "300", 1, 1e12, NULL, "optimizer steps to train"},
    {"run", "stop_after", KEY_LONG, FIELD(stop_after), "0", 0, 1e12, NULL,
     "stop after this step as an operator's stop would (with a final checkpoint when the run writes "
     "them), e.g. to fit a time slot; --resume auto with a later stop_after (or 0) continues the same "
     "schedule; 0 = run all steps"},
    {"run", "collective_deadline_s", KEY_DOUBLE, FIELD(collective_deadline_s), "300", 1, 1e6, NULL,
     "how long a rank waits in a collective for the others before the job ends as a lost peer (exit 6); "
     "once steps are timed the wait is shortened to deadline_factor times the longest step seen, but not "
     "below collective_floor_s"},
    {"run", "collective_floor_s", KEY_DOUBLE, FIELD(collective_floor_s), "30", 1, 1e6, NULL,
     "the shortest collective deadline the step times may bring it down to (collective_deadline_s "
     "when that is shorter)"},
    {"run", "deadline_factor", KEY_DOUBLE, FIELD(deadline_factor), "10", 2, 1e6, NULL,
     "the collective deadline, once steps are timed: this many times the longest step (with its "
     "evaluation and checkpoint) seen so far"},
    {"run", "backend", KEY_CHOICE, FIELD(backend), "auto", 0, 0, "auto|cpu|cuda",
     "compute backend; auto picks cuda when a GPU is usable, else cpu (also --backend)"},
    {"model", "size", KEY_CHOICE, FIELD(size), "XS", 0, 0, "XS|S|125M|350M",
     "model size: XS (D=64 N=64 L=2), S (384/512/8), 125M (768/1536/20), 350M (1024/2048/32)"},
    {"model", "family", KEY_CHOICE, FIELD(family), "gated_ssm", 0, 0, "gated_ssm|hawk|transformer",
     "model family (docs/algorithm.md §1.2, §1.5, §1.6): gated_ssm (the fused Gated SSM block), hawk (RG-LRU block "
     "with a "
     "width-4 conv + gated MLP), transformer (RoPE attention + gated MLP; bidirectional = prefix-LM attention in "
     "every layer; d_state unused)"},
    {"model", "bidirectional", KEY_BOOL, FIELD(bidirectional), "true", 0, 0, NULL,
     "even layers scan half their channels right to left inside prefixes (Birdie); false = causal"},
    {"model", "d_model", KEY_INT, FIELD(d_model), "0", 0, 65536, NULL, "residual width D; 0 = from size"},
    {"model", "d_state", KEY_INT, FIELD(d_state), "0", 0, 65536, NULL, "recurrent state width N (even); 0 = from size"},
    {"model", "n_layers", KEY_INT, FIELD(n_layers), "0", 0, 1024, NULL, "number of blocks; 0 = from size"},
    {"train", "batch", KEY_INT, FIELD(batch), "16", 1, 1 << 20, NULL, "rows per step (global, all ranks)"},
    {"train", "seq_len", KEY_INT, FIELD(seq_len), "512", 8, 1 << 20, NULL,
     "positions per row (the default arms need about 400)"},
    {"train", "lr", KEY_DOUBLE, FIELD(lr), "1e-3", 0, 10, NULL, "peak learning rate of AdamW"},
    {"train", "warmup_frac", KEY_DOUBLE, FIELD(warmup_frac), "0.05", 0, 1, NULL, "share of steps of linear warm-up"},
    {"train", "min_lr_frac", KEY_DOUBLE, FIELD(min_lr_frac), "0.1", 0, 1, NULL,
     "cosine decay ends at this share of the peak rate"},
    {"train", "weight_decay", KEY_DOUBLE, FIELD(weight_decay), "0.1", 0, 10, NULL,
     "AdamW decoupled weight decay (not on W_f, biases, norms)"},
    {"train", "grad_clip", KEY_DOUBLE, FIELD(grad_clip), "1.0", 0, 1e9, NULL, "global gradient-norm clip; 0 = off"},
    {"train", "bucket_mb", KEY_DOUBLE, FIELD(bucket_mb), "25", 0, 65536, NULL,
     "gradient all-reduce bucket in MiB: each full bucket starts summing across ranks while the backward "
     "pass goes on; 0 = one all-reduce after the pass"},
    {"train", "precision", KEY_CHOICE, FIELD(precision), "auto", 0, 0, "auto|fp32|bf16",
     "GEMM inputs: bf16 (fp32 sums, master weights, optimizer, scans, loss and norms; a CPU needs oneDNN "
     "with bf16 support, else exit 5), fp32, or auto: bf16 on a GPU or a CPU with bf16 matrix "
     "instructions (AVX512-BF16, AMX), fp32 elsewhere (docs/design.md §7.3)"},
    {"train", "eval_every", KEY_LONG, FIELD(eval_every), "50", 0, 1e12, NULL,
     "steps between validation losses (and at the last step); 0 = only at the end"},
    {"train", "eval_rows", KEY_INT, FIELD(eval_rows), "32", 1, 1 << 20, NULL, "fixed validation rows"},
    {"train", "log_every", KEY_LONG, FIELD(log_every), "1", 1, 1e12, NULL, "steps between progress lines"},
    {"objectives", "arms", KEY_STRING, FIELD(arms), "default", 0, 0, NULL,
     "objective arms: 'default' (the 61-arm grid of docs/algorithm.md §2.10) and/or arm specs "
     "separated by ';', e.g. 'ntp len=16-64; infill len=32-64 rate=0.15 width=8'"},
    {"objectives", "mixture", KEY_STRING, FIELD(mixture), "birdie", 0, 0, NULL,
     "birdie (reward-driven scheduler), ntp, ul2, uniform (per class, then per arm), or name=w,..."},
    {"objectives", "paradigm", KEY_BOOL, FIELD(paradigm), "true", 0, 0, NULL,
     "put the class paradigm token at the start or end of each prefix (never for NTP)"},
    {"objectives", "val_rows_per_arm", KEY_INT, FIELD(val_rows_per_arm), "8", 1, 4096, NULL,
     "fixed validation rows per arm (the scheduler's input)"},
    {"scheduler", "warmup_steps", KEY_LONG, FIELD(warmup_steps), "0", 0, 1e12, NULL,
     "class-uniform mixture before this step; 0 = steps/30 (docs/algorithm.md §3.2)"},
    {"scheduler", "fit_iters", KEY_INT, FIELD(fit_iters), BIRDIE_SCHED_DEFAULT_TEXT(BIRDIE_SCHED_DEFAULT_FIT_ITERS), 1,
     100000, NULL, "reward-model AdamW steps per evaluation"},
    {"scheduler", "candidates", KEY_INT, FIELD(candidates), BIRDIE_SCHED_DEFAULT_TEXT(BIRDIE_SCHED_DEFAULT_CANDIDATES),
     8, 1 << 20, NULL, "candidate mixtures scored"},
    {"scheduler", "top_k", KEY_INT, FIELD(top_k), BIRDIE_SCHED_DEFAULT_TEXT(BIRDIE_SCHED_DEFAULT_TOP_K), 1, 1024, NULL,
     "the next mixture is the mean of the best top_k"},
    {"scheduler", "rm_hidden", KEY_INT, FIELD(rm_hidden), BIRDIE_SCHED_DEFAULT_TEXT(BIRDIE_SCHED_DEFAULT_HIDDEN), 2,
     4096, NULL,
     "reward-model width (even); docs/algorithm.md §3.5 allows 128 or 256, and 128 keeps a decision near 0.5 s on one "
     "core"},
    {"scheduler", "rm_layers", KEY_INT, FIELD(rm_layers), BIRDIE_SCHED_DEFAULT_TEXT(BIRDIE_SCHED_DEFAULT_LAYERS), 1, 64,
     NULL, "reward-model Gated SSM blocks"},
    {"scheduler", "apply_lag", KEY_LONG, FIELD(apply_lag), "0", 0, 1e9, NULL,
     "with a coordinator: steps trained with the old mixture while a decision is computed; it then applies "
     "from evaluation step + 1 + apply_lag (at the latest from the next evaluation step) on every rank; "
     "0 = ranks wait for the decision after each evaluation"},
    {"checkpoint", "every", KEY_LONG, FIELD(ckpt_every), "0", 0, 1e12, NULL,
     "steps between checkpoints (model, AdamW moments, mixture, scheduler state); 0 = none"},
    {"checkpoint", "dir", KEY_STRING, FIELD(ckpt_dir), "checkpoints", 0, 0, NULL,
     "directory of the checkpoint files and their manifest.json"},
    {"checkpoint", "keep", KEY_INT, FIELD(ckpt_keep), "3", 1, 1000000, NULL, "newest checkpoints kept"},
    {"checkpoint", "resume", KEY_CHOICE, FIELD(resume), "none", 0, 0, "none|auto",
     "auto: continue from the newest checkpoint in [checkpoint] dir that verifies (also --resume auto)"},
    {"daemon", "listen", KEY_STRING, FIELD(listen), "127.0.0.1:50051", 0, 0, NULL,
     "gRPC address of the coordinator (rank 0; port 0 picks a free one); empty = no coordinator, the "
     "scheduler then runs inside every rank"},
    {"daemon", "metrics", KEY_STRING, FIELD(metrics), "", 0, 0, NULL,
     "HOST:PORT where rank 0 serves Prometheus metrics (GET /metrics; port 0 picks a free one); empty = none; "
     "needs a coordinator ([daemon] listen)"},
    {"daemon", "db", KEY_STRING, FIELD(db), "birdie.db", 0, 0, NULL,
     "SQLite store of evals, rewards, decisions, mixtures"},
    {"daemon", "token_file", KEY_STRING, FIELD(token_file), "", 0, 0, NULL,
     "file holding the bearer token (also --token-file; else $BIRDIE_TOKEN)"},
    {"daemon", "auth_all", KEY_BOOL, FIELD(auth_all), "true", 0, 0, NULL,
     "every RPC needs the token (false: only mutations, which are then disabled without a token)"},
    {"daemon", "eval_deadline_s", KEY_DOUBLE, FIELD(eval_deadline_s), "600", 1, 1e6, NULL,
     "the coordinator fails the run if a rank's evaluation report is this late"},
    {"daemon", "stall_after_s", KEY_DOUBLE, FIELD(stall_after_s), "10", 0.1, 1e6, NULL,
     "the coordinator logs and flags (GetStatus) a rank whose heartbeat is this late, or 5 step times "
     "when that is longer: stopped or stuck, long before [run] collective_deadline_s ends the job"},
    {"daemon", "decision_timeout_s", KEY_DOUBLE, FIELD(decision_timeout_s), "600", 1, 1e6, NULL,
     "ranks wait this long for the scheduler's decision or a new mixture to reach every rank"},
    {"data", "source", KEY_CHOICE, FIELD(source), "synthetic", 0, 0, "synthetic|shards",
     "synthetic = the embedded generated corpus; shards = files made by `birdied prep`"},
    {"data", "train", KEY_STRING, FIELD(train_files), "", 0, 0, NULL,
     "training shards: comma-separated paths or glob patterns (source = shards)"},
    {"data", "val", KEY_STRING, FIELD(val_files), "", 0, 0, NULL,
     "validation shards: comma-separated paths or glob patterns (source = shards)"},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

static const config_key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int choice_ok(const char *choices, const char *value)
{
    size_t len = strlen(value);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, value, n) == 0)
            return 1;
        p += n + (bar ? 1 : 0);
    }
    return 0;
}

static int parse_number(const char *value, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(value, &end);
    if (end == value || *end != '\0' || errno == ERANGE || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* What libinih reads back of a printed "name = value" line (Debian's build: lines of at most
 * INI_MAX_LINE - 1 characters, longer ones are cut and their rest parsed as another line; whitespace
 * at either end dropped; ';' at the start or after whitespace starts a comment). A string value that
 * would not survive is refused wherever it comes from (from a file it cannot arise, so in practice
 * from an override), so that config.ini beside the checkpoints reads back as the run's configuration
 * (tests/fuzz/fuzz_config.c checks this). NULL when the value is safe, else why not. */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 1)

static const char *ini_unsafe(const char *name, const char *value)
{
    size_t len = strlen(value);
    if (strlen(name) + 3 + len > CONFIG_LINE_MAX)
        return "longer than one config line holds";
    if (len && (isspace((unsigned char)value[0]) || isspace((unsigned char)value[len - 1])))
        return "starts or ends with whitespace, which a config file drops";
    for (const char *c = value; *c; c++) {
        if (*c == '\n' || *c == '\r')
            return "holds a line break";
        if (*c == ';' && (c == value || isspace((unsigned char)c[-1])))
            return "holds a ';' at its start or after whitespace, where a config file's comment starts";
    }
    return NULL;
}

static int set_key(birdie_config *cfg, const config_key *k, const char *value, char *err, size_t errlen)
{
    char *field = (char *)cfg + k->offset;
    double d;
    switch (k->type) {
    case KEY_STRING:
    case KEY_CHOICE:
        if (k->type == KEY_CHOICE && !choice_ok(k->choices, value)) {
            return birdie_fail(err, errlen, -EINVAL, "[%s] %s = '%s': must be one of %s", k->section, k->name, value,
                               k->choices);
        }
        if (strlen(value) >= k->size) {
            return birdie_fail(err, errlen, -EINVAL, "[%s] %s: value longer than %zu characters", k->section, k->name,
                               k->size - 1);
        }
        const char *why = ini_unsafe(k->name, value);
        if (why) {
            return birdie_fail(err, errlen, -EINVAL, "[%s] %s = '%.80s%s': %s (at most %d characters with the key)",
                               k->section, k->name, value, strlen(value) > 80 ? "..." : "", why, CONFIG_LINE_MAX);
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case KEY_BOOL:
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
            *(int *)field = 1;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no"))
            *(int *)field = 0;
        else {
            return birdie_fail(err, errlen, -EINVAL, "[%s] %s = '%s': not a boolean (true/false)", k->section, k->name,
                               value);
        }
        return 0;
    case KEY_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(value, &end, 10);
        if (end == value || *end != '\0' || errno == ERANGE || value[0] == '-') {
            return birdie_fail(err, errlen, -EINVAL, "[%s] %s = '%s': not an unsigned integer", k->section, k->name,
                               value);
        }
        *(uint64_t *)field = u;
        return 0;
    }
    case KEY_INT:
    case KEY_LONG:
    case KEY_DOUBLE:
        if (parse_number(value, &d) < 0) {
            return birdie_fail(err, errlen, -EINVAL, "[%s] %s = '%s': not a number", k->section, k->name, value);
        }
        if (k->type != KEY_DOUBLE && d != floor(d)) {
            return birdie_fail(err, errlen, -EINVAL, "[%s] %s = '%s': not an integer", k->section, k->name, value);
        }
        if (d < k->min || d > k->max) {
            return birdie_fail(err, errlen, -ERANGE, "[%s] %s = %s: out of range [%g, %g]", k->section, k->name, value,
                               k->min, k->max);
        }
        if (k->type == KEY_INT)
            *(int *)field = (int)d;
        else if (k->type == KEY_LONG)
            *(long *)field = (long)d;
        else
            *(double *)field = d;
        return 0;
    }
    return -EINVAL;
}

void birdie_config_defaults(birdie_config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_KEYS; i++)
        if (set_key(cfg, &keys[i], keys[i].fallback, err, sizeof err) < 0)
            abort(); /* a bad default in the table is a programming error */
}

static int set_named(birdie_config *cfg, const char *section, const char *name, const char *value, char *err,
                     size_t errlen)
{
    const config_key *k = find_key(section, name);
    if (!k) {
        return birdie_fail(err, errlen, -ENOENT, "unknown key [%s] %s (see birdied --help)", section, name);
    }
    return set_key(cfg, k, value, err, errlen);
}

typedef struct ini_state {
    birdie_config *cfg;
    char *err;
    size_t errlen;
    int rc;
} ini_state;

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    ini_state *st = user;
    if (st->rc < 0)
        return 0;
    char msg[384];
    st->rc = set_named(st->cfg, section, name, value, msg, sizeof msg);
    if (st->rc < 0) {
        snprintf(st->err, st->errlen, "%s", msg);
        return 0;
    }
    return 1;
}

/* The first line longer than libinih reads whole (it would cut it and parse the rest as another
 * line, possibly a valid one), or 0; f is rewound. */
static int first_long_line(FILE *f)
{
    int line = 1, len = 0, c, found = 0;
    while (!found && (c = getc(f)) != EOF) {
        if (c == '\n') {
            line++;
            len = 0;
        } else if (++len > CONFIG_LINE_MAX) {
            found = line;
        }
    }
    rewind(f);
    return found;
}

int birdie_config_load_file(birdie_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        return -errno;
    }
    int long_line = first_long_line(f);
    if (long_line) {
        fclose(f);
        return birdie_fail(err, errlen, -EINVAL,
                           "config %s line %d: longer than %d characters, the most a line may hold", path, long_line,
                           CONFIG_LINE_MAX);
    }
    char msg[400] = "";
    ini_state st = {cfg, msg, sizeof msg, 0};
    int line = ini_parse_file(f, on_ini_entry, &st);
    fclose(f);
    if (line != 0) {
        if (st.rc < 0)
            snprintf(err, errlen, "config %s line %d: %s", path, line, msg);
        else
            snprintf(err, errlen, "config %s line %d: not a valid INI line", path, line);
        return st.rc < 0 ? st.rc : -EINVAL;
    }
    return 0;
}

int birdie_config_set(birdie_config *cfg, const char *assignment, char *err, size_t errlen)
{
    const char *dot = strchr(assignment, '.'), *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq || dot == assignment || eq == dot + 1) {
        return birdie_fail(err, errlen, -EINVAL, "override '--%s': expected --section.key=value", assignment);
    }
    char section[64], name[64];
    size_t ls = (size_t)(dot - assignment), ln = (size_t)(eq - dot - 1);
    if (ls >= sizeof section || ln >= sizeof name) {
        return birdie_fail(err, errlen, -EINVAL, "override '--%s': key too long", assignment);
    }
    memcpy(section, assignment, ls);
    section[ls] = '\0';
    memcpy(name, dot + 1, ln);
    name[ln] = '\0';
    char msg[384];
    int rc = set_named(cfg, section, name, eq + 1, msg, sizeof msg);
    if (rc < 0)
        snprintf(err, errlen, "override --%s: %s", assignment, msg);
    return rc;
}

/* HOST:PORT, HOST non-empty (an IPv6 host in brackets), PORT decimal in [0, 65535]: gRPC would
 * otherwise take a port it cannot honour modulo 65536, or a missing one as 443. */
static int listen_address_ok(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1] || strlen(colon + 1) > 5)
        return 0;
    if (listen[0] == '[' && colon[-1] != ']')
        return 0;
    long port = 0;
    for (const char *c = colon + 1; *c; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        port = port * 10 + (*c - '0');
    }
    return port <= 65535;
}

int birdie_config_validate(const birdie_config *cfg, char *err, size_t errlen)
{
    if (strcmp(cfg->source, "shards") == 0 && (!cfg->train_files[0] || !cfg->val_files[0])) {
        return birdie_fail(err, errlen, -EINVAL, "[data] source = shards needs [data] train and [data] val");
    }
    if (strcmp(cfg->source, "synthetic") == 0 && (cfg->train_files[0] || cfg->val_files[0])) {
        return birdie_fail(err, errlen, -EINVAL,
                           "[data] train/val are set but [data] source = synthetic; set source = shards");
    }
    if (cfg->listen[0] && !listen_address_ok(cfg->listen)) {
        return birdie_fail(err, errlen, -EINVAL,
                           "[daemon] listen = '%s': want HOST:PORT with a port from 0 to 65535 (0 picks a free one)",
                           cfg->listen);
    }
    if (cfg->metrics[0] && !listen_address_ok(cfg->metrics)) {
        return birdie_fail(err, errlen, -EINVAL,
                           "[daemon] metrics = '%s': want HOST:PORT with a port from 0 to 65535 (0 picks a free one)",
                           cfg->metrics);
    }
    if (cfg->metrics[0] && !cfg->listen[0]) {
        return birdie_fail(err, errlen, -EINVAL,
                           "[daemon] metrics = '%s' needs a coordinator to serve them, but [daemon] listen is empty",
                           cfg->metrics);
    }
    if (cfg->top_k > cfg->candidates) {
        return birdie_fail(err, errlen, -EINVAL, "[scheduler] top_k = %d exceeds [scheduler] candidates = %d",
                           cfg->top_k, cfg->candidates);
    }
    if (cfg->d_state % 2) {
        return birdie_fail(err, errlen, -EINVAL,
                           "[model] d_state = %d: must be even (the bidirectional split halves it)", cfg->d_state);
    }
    return 0;
}

static const char *type_name(const config_key *k)
{
    static const char *names[] = {"int", "int", "uint64", "float", "bool", "string", "choice"};
    return names[k->type];
}

void birdie_config_print_help(FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const config_key *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            fprintf(out, "\n  [%s]\n", k->section);
            section = k->section;
        }
        fprintf(out, "    %-14s %-7s default %-10s %s", k->name, k->type == KEY_CHOICE ? k->choices : type_name(k),
                k->fallback[0] ? k->fallback : "\"\"", k->help);
        if (k->type == KEY_INT || k->type == KEY_LONG || k->type == KEY_DOUBLE)
            fprintf(out, " [%g..%g]", k->min, k->max);
        fputc('\n', out);
    }
}

void birdie_config_print(const birdie_config *cfg, FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const config_key *k = &keys[i];
        const char *field = (const char *)cfg + k->offset;
        if (strcmp(section, k->section) != 0) {
            fprintf(out, "[%s]\n", k->section);
            section = k->section;
        }
        fprintf(out, "%s = ", k->name);
        switch (k->type) {
        case KEY_INT: fprintf(out, "%d\n", *(const int *)field); break;
        case KEY_LONG: fprintf(out, "%ld\n", *(const long *)field); break;
        case KEY_U64: fprintf(out, "%llu\n", (unsigned long long)*(const uint64_t *)field); break;
        case KEY_DOUBLE: fprintf(out, "%.9g\n", *(const double *)field); break;
        case KEY_BOOL: fprintf(out, "%s\n", *(const int *)field ? "true" : "false"); break;
        default: fprintf(out, "%s\n", field); break;
        }
    }
}
