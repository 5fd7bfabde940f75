/* worker/finetune_main.c: `birdied finetune` (finetune_main.h): flags, the source checkpoint and its
 * configuration (worker/trained_model.h), the loop (worker/finetune.h), the curve on stdout as a table
 * or one JSON object, and the fine-tuned checkpoint with its config.ini in --out.
 *
 * The CPU backend only, as `birdied generate`: the curve's generation runs through the generator,
 * whose CUDA path has not been verified on a GPU. Errors go to stderr with their exit class
 * (worker/error.h). Not here: the fine-tune's data and loop, SQLite (the hooks are the caller's). */
#include "worker/finetune_main.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/checkpoint.h"
#include "worker/cli_flags.h"
#include "worker/clock.h"
#include "worker/error.h"
#include "worker/run_checkpoint.h"
#include "worker/trained_model.h"

enum { FT_MAX_STEPS = 100000000, FT_MAX_ROWS = 1 << 20, FT_MAX_ITEMS = 1 << 20, FT_NAME_MAX = 63 };

/* birdied eval's default seed (daemon/eval_main.c): the curve's K=4 set is then the first
 * --curve-items items of eval's K=4 set when the books agree (eval --entries = max(entries_max, 4)). */
#define FT_DEFAULT_SEED UINT64_C(20240917)

typedef struct ft_options {
    birdie_trained_args model;
    birdie_finetune_options run;
    const char *task, *out, *db, *name, *format;
} ft_options;

static void usage(FILE *to)
{
    fprintf(to, "usage: birdied finetune --checkpoint DIR|FILE [--config FILE] [--section.key=value ...]\n"
                "                        --task phonebook --out DIR [--steps N] [--batch B] [--seq-len T] [--lr X]\n"
                "                        [--entries MIN-MAX] [--k MIN-MAX] [--curve-every N] [--curve-items N]\n"
                "                        [--seed S] [--name NAME] [--db FILE] [-o table|json]\n"
                "  Fine-tunes a pre-trained checkpoint on phonebook lookups with the same budget for every model\n"
                "  (steps x batch x seq-len positions, constant learning rate, fresh AdamW moments, the loss on\n"
                "  the answers only) and prints the learning-speed curve (docs/finetune.md).\n"
                "  --checkpoint      a [checkpoint] dir (its newest checkpoint that verifies) or one ckpt_*.bin;\n"
                "                    its run's config.ini (or --config and overrides) gives the shape, and\n"
                "                    [train] weight_decay and grad_clip\n"
                "  --task phonebook  the only task\n"
                "  --out DIR         where the fine-tuned checkpoint and its config.ini go (a new or empty dir)\n"
                "  --steps N         optimizer steps (default 300)\n"
                "  --batch B         rows per step (default 16)\n"
                "  --seq-len T       positions per row (default 320)\n"
                "  --lr X            constant learning rate (default 1e-3)\n"
                "  --entries MIN-MAX book sizes of the training items (default 2-4)\n"
                "  --k MIN-MAX       names asked per training item, 1..8, MAX <= the smallest book (default 1-2)\n"
                "  --curve-every N   a curve point every N steps, and at step 0 and the last step (default 50)\n"
                "  --curve-items N   items of the curve's K=4 phonebook set and of its held-out set (default 64)\n"
                "  --seed S          keys the training items, the held-out items and the K=4 set (default\n"
                "                    20240917, birdied eval's: the K=4 set is then eval's)\n"
                "  --name NAME       the fine-tune's [run] name (default: the source run's name + '-ft')\n"
                "  --db FILE         also record the curve in this SQLite store (when the build records one)\n"
                "  -o table|json     a table as the points come (default), or one JSON object at the end\n"
                "  A point: step, mean train loss since the last point, answer loss (per answer token, held-out\n"
                "  items), K, items, digit accuracy and exact rate (greedy), training seconds so far.\n"
                "  exit codes: 0 done, 1 internal error, 2 usage, 3 data (checkpoint, output), 4 non-finite loss\n");
}

/* "MIN-MAX" or "N" (= N-N), each in [lo, hi]. */
static int parse_range(const char *s, long lo, long hi, int *min, int *max)
{
    char buf[64];
    long a, b;
    if (strlen(s) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", s);
    char *dash = strchr(buf, '-');
    if (dash)
        *dash = '\0';
    if (birdie_parse_long(buf, lo, hi, &a) < 0 || birdie_parse_long(dash ? dash + 1 : buf, lo, hi, &b) < 0 || a > b)
        return -1;
    *min = (int)a, *max = (int)b;
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FT_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

/* One numeric flag: 1 when argv[*i] was `name`, 0 when not, or a usage error. */
static int take_long(int argc, char **argv, int *i, const char *name, long lo, long hi, long *out, char *err,
                     size_t errlen)
{
    const char *v = birdie_flag_value(argc, argv, i, name);
    if (!v)
        return 0;
    if (birdie_parse_long(v, lo, hi, out) < 0)
        return birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE),
                           "%s '%s': not an integer in %ld..%ld", name, v, lo, hi);
    return 1;
}

static int parse_options(int argc, char **argv, ft_options *o, int *help, char *err, size_t errlen)
{
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    memset(o, 0, sizeof *o);
    birdie_finetune_options *r = &o->run;
    *r = (birdie_finetune_options){
        .data = {.seed = FT_DEFAULT_SEED, .entries_min = 2, .entries_max = 4, .k_min = 1, .k_max = 2},
        .steps = 300,
        .batch = 16,
        .seq_len = 320,
        .lr = 1e-3,
        .curve_every = 50,
        .curve_items = 64};
    o->format = "table";
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long x = 0;
        int taken = birdie_trained_take_arg(&o->model, argc, argv, &i, err, errlen);
        if (taken < 0)
            return taken;
        if (taken)
            continue;
        if ((taken = take_long(argc, argv, &i, "--steps", 1, FT_MAX_STEPS, &x, err, errlen)) != 0)
            r->steps = x;
        else if ((taken = take_long(argc, argv, &i, "--curve-every", 1, FT_MAX_STEPS, &x, err, errlen)) != 0)
            r->curve_every = x;
        else if ((taken = take_long(argc, argv, &i, "--batch", 1, FT_MAX_ROWS, &x, err, errlen)) != 0)
            r->batch = (int)x;
        else if ((taken = take_long(argc, argv, &i, "--seq-len", 8, FT_MAX_ROWS, &x, err, errlen)) != 0)
            r->seq_len = (int)x;
        else if ((taken = take_long(argc, argv, &i, "--curve-items", 1, FT_MAX_ITEMS, &x, err, errlen)) != 0)
            r->curve_items = (int)x;
        if (taken < 0)
            return taken;
        if (taken)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return 0;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--task"))) {
            o->task = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--out"))) {
            o->out = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--db"))) {
            o->db = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--name"))) {
            o->name = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "-o"))) {
            o->format = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--lr"))) {
            if (birdie_parse_double(v, 1e-12, 10, &r->lr) < 0)
                return birdie_fail(err, errlen, usage_error, "--lr '%s': not a number in [1e-12, 10]", v);
        } else if ((v = birdie_flag_value(argc, argv, &i, "--seed"))) {
            if (birdie_parse_u64(v, &r->data.seed) < 0)
                return birdie_fail(err, errlen, usage_error, "--seed '%s': not a non-negative integer", v);
        } else if ((v = birdie_flag_value(argc, argv, &i, "--entries"))) {
            if (parse_range(v, 1, BIRDIE_PHONEBOOK_MAX_ENTRIES, &r->data.entries_min, &r->data.entries_max) < 0)
                return birdie_fail(err, errlen, usage_error, "--entries '%s': not MIN-MAX with 1 <= MIN <= MAX <= %d",
                                   v, BIRDIE_PHONEBOOK_MAX_ENTRIES);
        } else if ((v = birdie_flag_value(argc, argv, &i, "--k"))) {
            if (parse_range(v, 1, BIRDIE_PHONEBOOK_K_MAX, &r->data.k_min, &r->data.k_max) < 0)
                return birdie_fail(err, errlen, usage_error, "--k '%s': not MIN-MAX with 1 <= MIN <= MAX <= %d", v,
                                   BIRDIE_PHONEBOOK_K_MAX);
        } else {
            return birdie_fail(err, errlen, usage_error, "unknown argument '%s' (see birdied finetune --help)", a);
        }
    }
    if (!o->model.checkpoint)
        return birdie_fail(err, errlen, usage_error, "--checkpoint DIR|FILE is required: the model to fine-tune");
    if (!o->task || strcmp(o->task, "phonebook") != 0)
        return birdie_fail(err, errlen, usage_error, "--task '%s': the one task is phonebook",
                           o->task ? o->task : "(missing)");
    if (!o->out || !*o->out)
        return birdie_fail(err, errlen, usage_error, "--out DIR is required: where the fine-tuned checkpoint goes");
    if (strcmp(o->format, "table") != 0 && strcmp(o->format, "json") != 0)
        return birdie_fail(err, errlen, usage_error, "-o '%s': table or json", o->format);
    if (o->name && !valid_name(o->name))
        return birdie_fail(err, errlen, usage_error, "--name '%s': 1..%d letters, digits, '-', '_' or '.'", o->name,
                           FT_NAME_MAX);
    /* the loop's own check, before any checkpoint is read: a bad flag is a usage error first */
    if (birdie_finetune_check(r, err, errlen) < 0)
        return usage_error;
    return 0;
}

/* Everything one command holds. */
typedef struct ft_cmd {
    const ft_options *o;
    const birdie_finetune_hooks *hooks;
    int hooks_open;
    birdie_trained src;
    birdie_config out_cfg; /* the fine-tuned model's configuration */
    birdie_finetune_point *points;
    int n_points, cap_points;
    int json;
} ft_cmd;

static void print_nan_dash(double v, int width, int prec)
{
    if (isfinite(v))
        printf(" %*.*f", width, prec, v);
    else
        printf(" %*s", width, "-");
}

static int on_point(void *ctx, const birdie_finetune_point *p, char *err, size_t errlen)
{
    ft_cmd *c = ctx;
    if (c->n_points == c->cap_points)
        return birdie_fail(err, errlen, -EOVERFLOW, "fine-tune: more curve points than the %d expected", c->cap_points);
    c->points[c->n_points++] = *p;
    if (!c->json) {
        printf("%6ld", p->step);
        print_nan_dash(p->train_loss, 10, 4);
        print_nan_dash(p->answer_loss, 11, 4);
        printf(" %2d %6d %9.4f %6.4f %9.2f\n", p->k, p->items, p->digit_accuracy, p->exact_rate, p->seconds);
        fflush(stdout);
    }
    if (c->hooks_open && c->hooks->point)
        return c->hooks->point(c->hooks->ctx, c->out_cfg.name, (int64_t)c->src.ck.step, c->o->run.lr, p, err, errlen);
    return 0;
}

/* The fine-tuned model's configuration: the source run's, with the fine-tune's rows and rate. */
static void make_out_config(ft_cmd *c)
{
    const ft_options *o = c->o;
    c->out_cfg = c->src.cfg;
    birdie_config *k = &c->out_cfg;
    k->batch = o->run.batch;
    k->seq_len = o->run.seq_len;
    k->lr = o->run.lr;
    k->steps = o->run.steps;
    snprintf(k->ckpt_dir, sizeof k->ckpt_dir, "%s", o->out);
    if (o->name)
        snprintf(k->name, sizeof k->name, "%s", o->name);
    else
        snprintf(k->name, sizeof k->name, "%.*s-ft", FT_NAME_MAX - 3, c->src.cfg.name);
}

/* --out must not hold checkpoints already: keeping one would delete the others (even a source's). */
static int check_out_dir(const char *out, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", out);
    if (access(path, F_OK) == 0)
        return birdie_fail(err, errlen, birdie_error_tag(-EEXIST, BIRDIE_EXIT_USAGE),
                           "--out %s already holds checkpoints (manifest.json): give a new or empty directory", out);
    return 0;
}

static int write_output(ft_cmd *c, const birdie_model *m, birdie_checkpoint_info *info, char *err, size_t errlen)
{
    const birdie_checkpoint *src = &c->src.ck;
    size_t bytes = m->n_params * sizeof(float);
    birdie_checkpoint ck = {.step = c->o->run.steps,
                            .n_params = m->n_params,
                            .n_arms = src->n_arms,
                            .mixture_version = src->mixture_version,
                            .weights = src->weights,
                            .config_hash = birdie_train_config_hash(&c->out_cfg),
                            .family = m->cfg.family};
    ck.params = malloc(bytes);
    ck.m = malloc(bytes);
    ck.v = malloc(bytes);
    int rc;
    if (!ck.params || !ck.m || !ck.v) {
        rc = birdie_fail(err, errlen, -ENOMEM, "out of host memory for the fine-tuned checkpoint");
    } else {
        m->ops->download(ck.params, m->params, bytes);
        m->ops->download(ck.m, m->m, bytes);
        m->ops->download(ck.v, m->v, bytes);
        rc = birdie_checkpoint_write(c->o->out, &ck, 1, info, err, errlen);
        if (rc == 0)
            rc = birdie_run_config_write(c->o->out, &c->out_cfg, err, errlen);
        rc = birdie_error_tag(rc, BIRDIE_EXIT_DATA);
    }
    free(ck.params);
    free(ck.m);
    free(ck.v);
    return rc;
}

static json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void print_json(const ft_cmd *c, const birdie_checkpoint_info *info, double seconds)
{
    const birdie_finetune_options *r = &c->o->run;
    json_t *curve = json_array();
    for (int i = 0; i < c->n_points; i++) {
        const birdie_finetune_point *p = &c->points[i];
        json_array_append_new(curve,
                              json_pack("{s:I, s:o, s:o, s:i, s:i, s:o, s:o, s:o}", "step", (json_int_t)p->step,
                                        "train_loss", json_num(p->train_loss), "answer_loss", json_num(p->answer_loss),
                                        "k", p->k, "items", p->items, "digit_accuracy", json_num(p->digit_accuracy),
                                        "exact_rate", json_num(p->exact_rate), "seconds", json_num(p->seconds)));
    }
    json_t *root =
        json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:I, s:i, s:i, s:[ii], s:[ii], s:I, s:I, s:o, s:o}", "checkpoint",
                  c->src.checkpoint, "source_step", (json_int_t)c->src.ck.step, "out", info->path, "run",
                  c->out_cfg.name, "task", "phonebook", "lr", json_real(r->lr), "steps", (json_int_t)r->steps, "batch",
                  r->batch, "seq_len", r->seq_len, "entries", r->data.entries_min, r->data.entries_max, "k",
                  r->data.k_min, r->data.k_max, "seed", (json_int_t)r->data.seed, "positions",
                  (json_int_t)(r->steps * r->batch * (long)r->seq_len), "curve", curve, "seconds", json_real(seconds));
    if (root) {
        json_dumpf(root, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(root);
    }
    fflush(stdout);
}

static int finetune(ft_cmd *c, char *err, size_t errlen)
{
    const ft_options *o = c->o;
    const birdie_finetune_options *r = &o->run;
    double t0 = birdie_monotonic_seconds();
    int rc = check_out_dir(o->out, err, errlen);
    if (rc == 0)
        rc = birdie_trained_load(&c->src, &o->model, err, errlen);
    if (rc < 0)
        return rc;
    make_out_config(c);
    birdie_finetune_options run = *r;
    run.weight_decay = c->src.cfg.weight_decay;
    run.grad_clip = c->src.cfg.grad_clip;
    c->cap_points = (int)(r->steps / r->curve_every) + 2;
    if (!(c->points = calloc((size_t)c->cap_points, sizeof *c->points)))
        return birdie_fail(err, errlen, -ENOMEM, "out of host memory for %d curve points", c->cap_points);
    if (o->db) {
        if ((rc = c->hooks->open(c->hooks->ctx, o->db, err, errlen)) < 0)
            return rc;
        c->hooks_open = 1;
    }
    const birdie_model_config *mc = &c->src.mc;
    FILE *info_to = c->json ? stderr : stdout;
    fprintf(info_to,
            "finetune: %s (step %lld) | %s%s D=%d N=%d L=%d | phonebook entries %d-%d K %d-%d | %ld steps x %d rows "
            "x %d positions | lr %.3g constant | weight decay %g | clip %g | seed %llu\n",
            c->src.checkpoint, (long long)c->src.ck.step, c->src.cfg.size, mc->bidirectional ? " bidirectional" : "",
            mc->d_model, mc->d_state, mc->n_layers, r->data.entries_min, r->data.entries_max, r->data.k_min,
            r->data.k_max, r->steps, r->batch, r->seq_len, r->lr, run.weight_decay, run.grad_clip,
            (unsigned long long)r->data.seed);
    if (!c->json)
        printf("%6s %10s %11s %2s %6s %9s %6s %9s\n", "step", "train_loss", "answer_loss", "K", "items", "digit_acc",
               "exact", "seconds");
    fflush(info_to);
    birdie_model m;
    memset(&m, 0, sizeof m);
    birdie_checkpoint_info info;
    if ((rc = birdie_trained_model(&c->src, &m, r->batch, r->seq_len, err, errlen)) == 0 &&
        (rc = birdie_finetune_run(&m, &run, on_point, c, err, errlen)) == 0 &&
        (rc = write_output(c, &m, &info, err, errlen)) == 0) {
        double seconds = birdie_monotonic_seconds() - t0;
        if (c->json)
            print_json(c, &info, seconds);
        fprintf(info_to, "finetune: wrote %s (checksum %s) and %s/config.ini | %.1f s\n", info.path, info.checksum,
                o->out, seconds);
    }
    if (m.ops)
        birdie_model_free(&m);
    return rc;
}

int birdie_finetune_main(int argc, char **argv, const birdie_finetune_hooks *hooks)
{
    ft_options o;
    char err[4096];
    int help = 0, rc = parse_options(argc, argv, &o, &help, err, sizeof err);
    if (rc == 0 && help) {
        usage(stdout);
        return 0;
    }
    if (rc == 0 && o.db && (!hooks || !hooks->open))
        rc = birdie_fail(err, sizeof err, birdie_error_tag(-ENOTSUP, BIRDIE_EXIT_USAGE),
                         "--db %s: this build records no SQLite", o.db);
    ft_cmd c;
    memset(&c, 0, sizeof c);
    c.o = &o;
    c.hooks = hooks;
    c.json = !strcmp(o.format, "json");
    if (rc == 0)
        rc = finetune(&c, err, sizeof err);
    if (c.hooks_open && hooks->close)
        hooks->close(hooks->ctx);
    if (c.src.ck.params)
        birdie_trained_free(&c.src);
    free(c.points);
    return birdie_subcommand_exit("finetune", rc, err);
}
