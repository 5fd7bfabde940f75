/* daemon/eval_main.c: `birdied eval` (eval_main.h): flags, the checkpoint, the evaluation sets, each
 * task run on the model (worker/eval/model_eval.h), then the report (eval_report.h) on stdout and,
 * with --db, in the store.
 *
 * Fixed before any run: every set is a function of --seed (default BIRDIE_EVAL_DEFAULT_SEED) and the
 * flags, and infilling and bits/char read the held-out split of the run's own synthetic corpus (its
 * [run] seed), so every checkpoint of every run with that corpus sees the same items. Each set gets
 * its own model of --batch rows and as many positions as its longest prompt needs (bits/char: the
 * run's [train] seq_len), so a set's scores do not depend on which other tasks ran. Decoding is greedy
 * with batch_gemm set (one GEMM over the rows of a batch: faster, and deterministic for a fixed
 * --batch). The defaults that depend on the model:
 *   - infilling: context = min(128, seq_len - 3) bytes, span = min(8, context / 4) bytes. A sample of
 *     the infilling objective takes context + 3 positions (S0, the paradigm id, BEGIN and the answer's
 *     S0 beside the bytes), so it fits the rows the model trained on; 128 lies inside the default
 *     grid's chunk lengths (32..256) and 8 is its narrow span width. The paradigm id comes first
 *     when the run's [objectives] paradigm is on, as half of its training samples put it.
 *   - bits/char: each document cut to seq_len targets (rows of the training length).
 * Backend: the CPU twin only, as `birdied generate` (generate_main.c says why). Progress lines go to
 * stderr, the report to stdout. Not here: the tasks' sets and scorers (worker/eval/), printing
 * (eval_report.c), the store's schema (store_eval.c). */
#define _GNU_SOURCE /* realpath */
#include "daemon/eval_main.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/eval_report.h"
#include "daemon/store_eval.h"
#include "worker/cli_flags.h"
#include "worker/clock.h"
#include "worker/data/corpus.h"
#include "worker/error.h"
#include "worker/eval/eval_text.h"
#include "worker/eval/model_eval.h"
#include "worker/trained_model.h"
#include "worker/vocab.h"

#define BIRDIE_EVAL_DEFAULT_SEED 20240917u

enum {
    TASK_PHONEBOOK = 1,
    TASK_INFILL = 2,
    TASK_BPC = 4,
    TASK_ALL = 7,
    EVAL_MAX_ITEMS = 1 << 20,
    EVAL_MAX_ENTRIES = 128, /* the long probe's books are 4x that; prompts grow with them */
    EVAL_MAX_BATCH = 1024,
    INFILL_CONTEXT = 128,
    INFILL_SPAN = 8
};

static const int eval_ks[BIRDIE_EVAL_KS] = {1, 2, 4, 8};

typedef struct eval_options {
    birdie_trained_args model;
    int tasks, json, long_probe, items, entries, batch;
    const char *db, *run;
    uint64_t seed;
} eval_options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: birdied eval --checkpoint DIR|FILE [--config FILE] [--section.key=value ...]\n"
            "                    [--task phonebook|infill|bpc|all[,...]] [-o table|json] [--db FILE [--run NAME]]\n"
            "                    [--items N] [--entries N] [--seed S] [--batch B] [--long]\n"
            "  Measures a trained model on fixed evaluation sets; greedy decoding on the CPU.\n"
            "  --checkpoint, --config, --section.key=value   as birdied generate: the run's config.ini\n"
            "                    beside the checkpoints fixes the shape\n"
            "  --task T          phonebook: retrieval of K = 1, 2, 4, 8 numbers from a book (digit accuracy,\n"
            "                    exact rate); infill: a span cut from a held-out document (exact rate, token\n"
            "                    accuracy); bpc: bits per character of held-out documents; all (default)\n"
            "  --items N         items per phonebook K, infilling items, bpc documents (default 64)\n"
            "  --entries N       entries per book: max(N, K), 1..%d (default 4)\n"
            "  --long            also books %d times longer (length generalisation)\n"
            "  --seed S          fixes every evaluation set, 0..2^63-1 (default %u)\n"
            "  --batch B         rows per batch, 1..%d (default 16); scores are deterministic for a fixed B\n"
            "  -o table|json     a table with example generations (default), or one JSON object\n"
            "  --db FILE         also record the results in this SQLite store (created or migrated)\n"
            "  --run NAME        the run they belong to there (default: the configuration's [run] name)\n"
            "  Infilling: context min(128, seq_len - 3) bytes, span min(8, context / 4); bits/char: documents\n"
            "  cut to seq_len tokens. docs/evaluation.md describes the tasks.\n"
            "  exit codes: 0 done, 1 internal error, 2 usage, 3 data (checkpoint, configuration or database)\n",
            EVAL_MAX_ENTRIES, BIRDIE_PHONEBOOK_LONG_FACTOR, BIRDIE_EVAL_DEFAULT_SEED, EVAL_MAX_BATCH);
}

/* A comma-separated list of task names into a mask; -1 on an unknown name. */
static int parse_tasks(const char *v)
{
    int mask = 0;
    char buf[128];
    if (strlen(v) >= sizeof buf || !*v)
        return -1;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        if (!strcmp(name, "phonebook"))
            mask |= TASK_PHONEBOOK;
        else if (!strcmp(name, "infill"))
            mask |= TASK_INFILL;
        else if (!strcmp(name, "bpc"))
            mask |= TASK_BPC;
        else if (!strcmp(name, "all"))
            mask |= TASK_ALL;
        else
            return -1;
    }
    return mask ? mask : -1;
}

static int parse_int_flag(const char *flag, const char *v, long lo, long hi, int *out, char *err, size_t errlen)
{
    long x;
    if (birdie_parse_long(v, lo, hi, &x) < 0)
        return birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE),
                           "%s '%s': not an integer in %ld..%ld", flag, v, lo, hi);
    *out = (int)x;
    return 0;
}

static int parse_options(int argc, char **argv, eval_options *o, int *help, char *err, size_t errlen)
{
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    memset(o, 0, sizeof *o);
    o->tasks = TASK_ALL;
    o->items = 64;
    o->entries = 4;
    o->batch = 16;
    o->seed = BIRDIE_EVAL_DEFAULT_SEED;
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int rc = birdie_trained_take_arg(&o->model, argc, argv, &i, err, errlen);
        if (rc < 0)
            return rc;
        if (rc)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return 0;
        } else if (!strcmp(a, "--long")) {
            o->long_probe = 1;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--task"))) {
            if ((o->tasks = parse_tasks(v)) < 0)
                return birdie_fail(err, errlen, usage_error,
                                   "--task '%s': not phonebook, infill, bpc or all (or a comma-separated list)", v);
        } else if ((v = birdie_flag_value(argc, argv, &i, "-o")) ||
                   (v = birdie_flag_value(argc, argv, &i, "--output"))) {
            if (strcmp(v, "table") != 0 && strcmp(v, "json") != 0)
                return birdie_fail(err, errlen, usage_error, "-o '%s': table or json", v);
            o->json = !strcmp(v, "json");
        } else if ((v = birdie_flag_value(argc, argv, &i, "--db"))) {
            if (!*v)
                return birdie_fail(err, errlen, usage_error, "--db needs a file name");
            o->db = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--run"))) {
            if (!*v)
                return birdie_fail(err, errlen, usage_error, "--run needs a name");
            o->run = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--items"))) {
            if ((rc = parse_int_flag("--items", v, 1, EVAL_MAX_ITEMS, &o->items, err, errlen)) < 0)
                return rc;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--entries"))) {
            if ((rc = parse_int_flag("--entries", v, 1, EVAL_MAX_ENTRIES, &o->entries, err, errlen)) < 0)
                return rc;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--batch"))) {
            if ((rc = parse_int_flag("--batch", v, 1, EVAL_MAX_BATCH, &o->batch, err, errlen)) < 0)
                return rc;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--seed"))) {
            /* at most INT64_MAX: JSON integers and SQLite's are signed 64-bit */
            if (birdie_parse_u64(v, &o->seed) < 0 || o->seed > (uint64_t)INT64_MAX)
                return birdie_fail(err, errlen, usage_error, "--seed '%s': not an integer in 0..2^63-1", v);
        } else {
            return birdie_fail(err, errlen, usage_error, "unknown argument '%s' (see birdied eval --help)", a);
        }
    }
    if (o->run && !o->db)
        return birdie_fail(err, errlen, usage_error, "--run names the run in the store: give --db too");
    if (!o->model.checkpoint)
        return birdie_fail(err, errlen, usage_error, "--checkpoint DIR|FILE is required (see birdied eval --help)");
    return 0;
}

typedef struct eval_run {
    const eval_options *o;
    birdie_trained t;
    birdie_corpus *corpus;
    birdie_eval_report rep;
    birdie_model m;
    birdie_generator g;
} eval_run;

/* A model of --batch rows of T positions with the checkpoint's parameters, and its generator. */
static int open_model(eval_run *e, int T, char *err, size_t errlen)
{
    memset(&e->m, 0, sizeof e->m);
    memset(&e->g, 0, sizeof e->g);
    int rc = birdie_trained_model(&e->t, &e->m, e->o->batch, T, err, errlen);
    if (rc == 0 && (rc = birdie_generator_init(&e->g, &e->m, err, errlen)) < 0)
        birdie_model_free(&e->m);
    if (rc == 0)
        e->g.batch_gemm = 1;
    return rc;
}

static void close_model(eval_run *e)
{
    birdie_generator_free(&e->g);
    birdie_model_free(&e->m);
}

static void keep_phonebook_sample(void *ctx, const birdie_phonebook_item *item, const char *text, size_t len,
                                  const birdie_phonebook_score *score)
{
    (void)score;
    birdie_eval_phonebook_row *row = ctx;
    if (row->n_samples == BIRDIE_EVAL_SAMPLES)
        return;
    birdie_eval_sample *s = &row->samples[row->n_samples++];
    size_t o = 0;
    s->asked[0] = '\0';
    for (int i = 0; i < item->k && o < sizeof s->asked; i++)
        o +=
            (size_t)snprintf(s->asked + o, sizeof s->asked - o, "%s%s", i ? ", " : "", item->book[item->asked[i]].name);
    birdie_eval_escape(s->want, sizeof s->want, item->answer, item->answer_len);
    birdie_eval_escape(s->got, sizeof s->got, text, len);
}

static int run_phonebook(eval_run *e, int k, int entries, birdie_eval_phonebook_row *row, char *err, size_t errlen)
{
    birdie_phonebook_set set;
    double t0 = birdie_monotonic_seconds();
    int rc = birdie_phonebook_set_make(&set, e->o->seed, k, e->o->items, entries, err, errlen);
    if (rc < 0)
        return rc;
    memset(row, 0, sizeof *row);
    row->k = k;
    row->entries = entries;
    birdie_phonebook_tally tally = {0};
    if ((rc = open_model(e, birdie_phonebook_set_longest_prompt(&set) + 1, err, errlen)) == 0) {
        rc = birdie_eval_phonebook(&e->g, &set, &tally, keep_phonebook_sample, row, err, errlen);
        close_model(e);
    }
    birdie_phonebook_set_free(&set);
    row->items = (int)tally.items;
    row->digit_accuracy = birdie_phonebook_tally_digit_accuracy(&tally);
    row->exact_rate = birdie_phonebook_tally_exact_rate(&tally);
    if (rc == 0)
        fprintf(stderr, "eval: phonebook K=%d, %d entries: %d items in %.2f s\n", k, entries, row->items,
                birdie_monotonic_seconds() - t0);
    return rc;
}

static void keep_infill_sample(void *ctx, const birdie_infill_item *item, const int32_t *gen, int n,
                               const birdie_infill_score *score)
{
    (void)score;
    eval_run *e = ctx;
    if (e->rep.infill.n_samples == BIRDIE_EVAL_SAMPLES)
        return;
    birdie_eval_sample *s = &e->rep.infill.samples[e->rep.infill.n_samples++];
    /* up to 40 bytes each side of the span, the span shown as [___] */
    enum { SIDE = 40 };
    char shown[2 * SIDE + 64], got[256];
    int a = item->span_start, b = item->span_start + item->span_len;
    int from = a > SIDE ? a - SIDE : 0, to = item->context_len - b > SIDE ? b + SIDE : item->context_len;
    snprintf(shown, sizeof shown, "%.*s[%d bytes]%.*s", a - from, item->window + from, item->span_len, to - b,
             item->window + b);
    birdie_eval_escape(s->asked, sizeof s->asked, shown, strlen(shown));
    birdie_eval_escape(s->want, sizeof s->want, item->span, (size_t)item->span_len);
    size_t len = birdie_eval_decode(gen, n, got, sizeof got, NULL);
    birdie_eval_escape(s->got, sizeof s->got, got, len);
}

static int run_infill(eval_run *e, char *err, size_t errlen)
{
    int seq_len = e->t.cfg.seq_len;
    int context = seq_len - 3 < INFILL_CONTEXT ? seq_len - 3 : INFILL_CONTEXT;
    int span = context / 4 < INFILL_SPAN ? context / 4 : INFILL_SPAN;
    if (span < 1)
        return birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE),
                           "infill: rows of %d positions hold no infilling sample", seq_len);
    birdie_infill_paradigm paradigm = e->t.cfg.paradigm ? BIRDIE_INFILL_PARADIGM_FIRST : BIRDIE_INFILL_PARADIGM_NONE;
    birdie_infill_set set;
    double t0 = birdie_monotonic_seconds();
    int rc = birdie_infill_set_make(&set, e->corpus, e->o->seed, e->o->items, context, span, paradigm, err, errlen);
    if (rc < 0)
        return rc;
    birdie_infill_tally tally = {0};
    if ((rc = open_model(e, birdie_infill_set_longest_prompt(&set) + 1, err, errlen)) == 0) {
        rc = birdie_eval_infill(&e->g, &set, &tally, keep_infill_sample, e, err, errlen);
        close_model(e);
    }
    birdie_infill_set_free(&set);
    e->rep.infill.items = (int)tally.items;
    e->rep.infill.context_len = context;
    e->rep.infill.span_len = span;
    e->rep.infill.paradigm = paradigm == BIRDIE_INFILL_PARADIGM_FIRST ? "first" : "none";
    e->rep.infill.exact_rate = birdie_infill_tally_exact_rate(&tally);
    e->rep.infill.token_accuracy = birdie_infill_tally_token_accuracy(&tally);
    if (rc == 0)
        fprintf(stderr, "eval: infill, context %d, span %d: %ld items in %.2f s\n", context, span, tally.items,
                birdie_monotonic_seconds() - t0);
    return rc;
}

static int run_bpc(eval_run *e, char *err, size_t errlen)
{
    double t0 = birdie_monotonic_seconds();
    birdie_bpc acc = {0};
    int rc = open_model(e, e->t.cfg.seq_len, err, errlen);
    if (rc == 0) {
        rc = birdie_eval_bpc(&e->m, e->corpus, e->o->seed, e->o->items, &acc, err, errlen);
        close_model(e);
    }
    e->rep.bpc.documents = e->o->items;
    e->rep.bpc.chars = acc.chars;
    e->rep.bpc.tokens = acc.tokens;
    e->rep.bpc.bits_per_char = birdie_bpc_value(&acc);
    if (rc == 0)
        fprintf(stderr, "eval: bpc: %d documents in %.2f s\n", e->o->items, birdie_monotonic_seconds() - t0);
    return rc;
}

static int run_tasks(eval_run *e, char *err, size_t errlen)
{
    const eval_options *o = e->o;
    int rc = 0;
    if (o->tasks & (TASK_INFILL | TASK_BPC))
        rc = birdie_corpus_open(&e->corpus, e->t.cfg.seed, err, errlen);
    e->rep.has_phonebook = !!(o->tasks & TASK_PHONEBOOK);
    e->rep.has_long = e->rep.has_phonebook && o->long_probe;
    for (int i = 0; rc == 0 && e->rep.has_phonebook && i < BIRDIE_EVAL_KS; i++) {
        int k = eval_ks[i], entries = o->entries > k ? o->entries : k;
        rc = run_phonebook(e, k, entries, &e->rep.phonebook[i], err, errlen);
        if (rc == 0 && e->rep.has_long)
            rc = run_phonebook(e, k, entries * BIRDIE_PHONEBOOK_LONG_FACTOR, &e->rep.phonebook_long[i], err, errlen);
    }
    if (rc == 0 && (o->tasks & TASK_INFILL)) {
        e->rep.has_infill = 1;
        rc = run_infill(e, err, errlen);
    }
    if (rc == 0 && (o->tasks & TASK_BPC)) {
        e->rep.has_bpc = 1;
        rc = run_bpc(e, err, errlen);
    }
    if (e->corpus)
        birdie_corpus_close(e->corpus);
    e->corpus = NULL;
    /* what is left unclassified here is ours (out of memory, a set that cannot be built) */
    return birdie_error_tag(rc, BIRDIE_EXIT_INTERNAL);
}

static int record(eval_run *e, birdie_store *store, char *err, size_t errlen)
{
    birdie_store_eval_result rows[BIRDIE_EVAL_MAX_RESULTS];
    birdie_store_eval ev = {.checkpoint = e->rep.checkpoint,
                            .step = e->rep.step,
                            .seed = e->rep.seed,
                            .n_results = birdie_eval_store_rows(&e->rep, rows),
                            .results = rows};
    int rc = birdie_store_record_eval(store, e->rep.run, &ev, err, errlen);
    if (rc == 0)
        fprintf(stderr, "eval: %d results recorded in %s (run %s)\n", ev.n_results, e->o->db, e->rep.run);
    return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
}

static int evaluate(const eval_options *o, char *err, size_t errlen)
{
    static eval_run e; /* holds the report's samples: large for the stack */
    memset(&e, 0, sizeof e);
    e.o = o;
    double t0 = birdie_monotonic_seconds();
    birdie_store *store = NULL;
    int rc = birdie_trained_load(&e.t, &o->model, err, errlen);
    if (rc < 0)
        return rc;
    /* the store first: a database that cannot be written should not cost an evaluation */
    if (o->db && (rc = birdie_store_open(o->db, 0, &store, err, errlen)) < 0) {
        char why[4096];
        snprintf(why, sizeof why, "%s", err);
        rc = birdie_fail(err, errlen, birdie_error_tag(rc, BIRDIE_EXIT_DATA), "--db %s: %s", o->db, why);
    }
    birdie_eval_report *r = &e.rep;
    /* absolute, so that store rows written from different directories name the same file alike */
    static char abs_path[PATH_MAX];
    r->checkpoint = realpath(e.t.checkpoint, abs_path) ? abs_path : e.t.checkpoint;
    r->step = e.t.ck.step;
    r->run = o->run ? o->run : e.t.cfg.name;
    r->size = e.t.cfg.size;
    r->d_model = e.t.mc.d_model;
    r->d_state = e.t.mc.d_state;
    r->n_layers = e.t.mc.n_layers;
    r->bidirectional = e.t.mc.bidirectional;
    r->vocab = e.t.mc.vocab;
    r->params = e.t.ck.n_params;
    r->seq_len = e.t.cfg.seq_len;
    r->seed = o->seed;
    r->batch = o->batch;
    if (rc == 0)
        rc = run_tasks(&e, err, errlen);
    r->seconds = birdie_monotonic_seconds() - t0;
    if (rc == 0 && o->json)
        rc = birdie_eval_print_json(stdout, r, err, errlen);
    else if (rc == 0)
        birdie_eval_print_table(stdout, r);
    fflush(stdout);
    if (rc == 0 && store)
        rc = record(&e, store, err, errlen);
    birdie_store_close(store);
    birdie_trained_free(&e.t);
    return rc;
}

int birdie_eval_main(int argc, char **argv)
{
    eval_options o;
    char err[4096];
    int help = 0, rc = parse_options(argc, argv, &o, &help, err, sizeof err);
    if (rc == 0 && help) {
        usage(stdout);
        return 0;
    }
    if (rc == 0)
        rc = evaluate(&o, err, sizeof err);
    return birdie_subcommand_exit("eval", rc, err);
}
