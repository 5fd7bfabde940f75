/* daemon/scheduler/state_io.c: the scheduler's checkpoint format and the replay of a decision.
 *
 * Layout (all little-endian; f64/f32 as IEEE-754 bit patterns, so a round trip is bit-exact):
 *   "BIRDSCHD" | u32 format version (1) | u32 flags (0)
 *   config:   u32 n_arms, u32 n_classes, n_arms x (u32 class, u32 name length, name bytes), u64 seed,
 *             u32 hidden, layers, fit_iters, candidates, top_k, i64 warmup_step, f64 noise,
 *             explore (i64 horizon, 7 x f64), optim (f64 lr_base, lr_max, u32 up, down, 6 x f64)
 *   progress: u64 eval_count, i64 last_step, u64 mixture_version, u64 fit_iter_total, u64 adam_step,
 *             f64 loss[n_arms], f64 mixture[n_arms]
 *   history:  u32 rows, rows x (f64 loss[n_arms], f64 action[n_arms], f64 reward[n_arms])
 *   model:    u64 n_params, f32 params[n_params], f32 adam_m[n_params], f32 adam_v[n_params]
 *   u64 FNV-1a of every byte before it
 * The RNG needs no bytes of its own: every stream is keyed by (seed, eval_count or fit_iter_total).
 * The cached end-of-history state is recomputed on load (same weights, same history, same bits).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/bytes.h"
#include "daemon/scheduler/sched_internal.h"
#include "worker/error.h"
#include "worker/fnv.h"

#define STATE_MAGIC "BIRDSCHD"
#define STATE_MAGIC_LEN 8
#define STATE_VERSION 1u
#define STATE_MAX_HISTORY (1 << 20)

static void write_config(byte_writer *w, const birdie_sched_config *c)
{
    bw_u32(w, (uint32_t)c->n_arms);
    bw_u32(w, (uint32_t)c->n_classes);
    for (int i = 0; i < c->n_arms; i++) {
        bw_u32(w, (uint32_t)c->arm_class[i]);
        bw_str(w, c->arm_names[i]);
    }
    bw_u64(w, c->seed);
    const int ints[] = {c->hidden, c->layers, c->fit_iters, c->candidates, c->top_k};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        bw_u32(w, (uint32_t)ints[i]);
    bw_i64(w, c->warmup_step);
    bw_f64(w, c->noise);
    const birdie_explore_params *e = &c->explore;
    bw_i64(w, e->horizon);
    const double ex[] = {e->cook_frac, e->warmup_frac, e->decay_frac,  e->cook_prob,
                         e->rate_min,  e->rate_max,    e->decay_factor};
    bw_f64s(w, ex, sizeof(ex) / sizeof(ex[0]));
    const birdie_rm_optim *o = &c->optim;
    bw_f64(w, o->lr_base);
    bw_f64(w, o->lr_max);
    bw_u32(w, (uint32_t)o->cycle_up);
    bw_u32(w, (uint32_t)o->cycle_down);
    const double op[] = {o->beta1_at_base, o->beta1_at_max, o->beta2, o->eps, o->weight_decay, o->clip};
    bw_f64s(w, op, sizeof(op) / sizeof(op[0]));
}

int birdie_sched_save(const birdie_sched *s, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    int N = s->cfg.n_arms;
    byte_writer w = {0};
    bw_bytes(&w, STATE_MAGIC, STATE_MAGIC_LEN);
    bw_u32(&w, STATE_VERSION);
    bw_u32(&w, 0);
    write_config(&w, &s->cfg);
    bw_u64(&w, s->eval_count);
    bw_i64(&w, s->last_step);
    bw_u64(&w, s->mixture_version);
    bw_u64(&w, s->fit_iter_total);
    bw_u64(&w, s->rm.adam_step);
    bw_f64s(&w, s->loss, (size_t)N);
    bw_f64s(&w, s->mixture, (size_t)N);
    bw_u32(&w, (uint32_t)s->hist_len);
    for (int t = 0; t < s->hist_len; t++) {
        size_t row = (size_t)t * N;
        bw_f64s(&w, s->hist_loss + row, (size_t)N);
        bw_f64s(&w, s->hist_action + row, (size_t)N);
        bw_f64s(&w, s->hist_reward + row, (size_t)N);
    }
    bw_u64(&w, (uint64_t)s->rm.n_params);
    bw_f32s(&w, s->rm.params, s->rm.n_params);
    bw_f32s(&w, s->rm.adam_m, s->rm.n_params);
    bw_f32s(&w, s->rm.adam_v, s->rm.n_params);
    if (!w.failed)
        bw_u64(&w, birdie_fnv1a(BIRDIE_FNV_OFFSET, w.buf, w.len));
    if (w.failed) {
        free(w.buf);
        return birdie_fail(err, errlen, -ENOMEM, "scheduler state: out of memory while saving");
    }
    *buf = w.buf;
    *len = w.len;
    return 0;
}

/* The config part of a buffer; names are written into names_mem (n_arms x BIRDIE_SCHED_MAX_NAME). */
typedef struct loaded_config {
    birdie_sched_config cfg;
    char *names_mem;
    const char **names;
    int *classes;
} loaded_config;

static void loaded_config_free(loaded_config *lc)
{
    free(lc->names_mem);
    free(lc->names);
    free(lc->classes);
}

static int read_int(byte_reader *r, int *v, const char *field)
{
    uint32_t x;
    if (br_u32(r, &x, field) != 0)
        return -1;
    *v = x > 0x7fffffffu ? -1 : (int)x; /* out-of-range values fail the config check by name */
    return 0;
}

static int read_config(byte_reader *r, loaded_config *lc, char *err, size_t errlen)
{
    birdie_sched_config *c = &lc->cfg;
    memset(c, 0, sizeof(*c));
    read_int(r, &c->n_arms, "n_arms");
    read_int(r, &c->n_classes, "n_classes");
    if (r->failed_at)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: truncated in '%s'", r->failed_at);
    if (c->n_arms < 1 || c->n_arms > BIRDIE_SCHED_MAX_ARMS)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: n_arms %d is out of range [1, %d]", c->n_arms,
                           BIRDIE_SCHED_MAX_ARMS);
    size_t N = (size_t)c->n_arms;
    lc->names_mem = malloc(N * BIRDIE_SCHED_MAX_NAME);
    lc->names = malloc(N * sizeof(char *));
    lc->classes = malloc(N * sizeof(int));
    if (!lc->names_mem || !lc->names || !lc->classes)
        return birdie_fail(err, errlen, -ENOMEM, "scheduler state: out of memory for %d arms", c->n_arms);
    for (size_t i = 0; i < N; i++) {
        char *name = lc->names_mem + i * BIRDIE_SCHED_MAX_NAME;
        read_int(r, &lc->classes[i], "arm class");
        if (br_str(r, name, BIRDIE_SCHED_MAX_NAME - 1, "arm name") != 0)
            return birdie_fail(err, errlen, -EBADMSG, "scheduler state: arm %zu: bad or truncated '%s'", i,
                               r->failed_at);
        lc->names[i] = name;
    }
    c->arm_names = lc->names;
    c->arm_class = lc->classes;
    br_u64(r, &c->seed, "seed");
    read_int(r, &c->hidden, "hidden");
    read_int(r, &c->layers, "layers");
    read_int(r, &c->fit_iters, "fit_iters");
    read_int(r, &c->candidates, "candidates");
    read_int(r, &c->top_k, "top_k");
    br_i64(r, &c->warmup_step, "warmup_step");
    br_f64(r, &c->noise, "noise");
    birdie_explore_params *e = &c->explore;
    br_i64(r, &e->horizon, "explore.horizon");
    double ex[7] = {0};
    br_f64s(r, ex, 7, "explore");
    *e = (birdie_explore_params){e->horizon, ex[0], ex[1], ex[2], ex[3], ex[4], ex[5], ex[6]};
    birdie_rm_optim *o = &c->optim;
    br_f64(r, &o->lr_base, "optim.lr_base");
    br_f64(r, &o->lr_max, "optim.lr_max");
    read_int(r, &o->cycle_up, "optim.cycle_up");
    read_int(r, &o->cycle_down, "optim.cycle_down");
    double op[6] = {0};
    br_f64s(r, op, 6, "optim");
    o->beta1_at_base = op[0];
    o->beta1_at_max = op[1];
    o->beta2 = op[2];
    o->eps = op[3];
    o->weight_decay = op[4];
    o->clip = op[5];
    if (r->failed_at)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: truncated in '%s'", r->failed_at);
    return 0;
}

static int check_expected(const birdie_sched_config *saved, const birdie_sched_config *expect, char *err, size_t errlen)
{
    if (expect->n_arms != saved->n_arms || expect->n_classes != saved->n_classes)
        return birdie_fail(err, errlen, -EINVAL,
                           "scheduler state has %d arms in %d classes, the config has %d arms in %d classes",
                           saved->n_arms, saved->n_classes, expect->n_arms, expect->n_classes);
    for (int i = 0; i < saved->n_arms; i++) {
        if (strcmp(saved->arm_names[i], expect->arm_names[i]) != 0)
            return birdie_fail(err, errlen, -EINVAL, "scheduler state arm %d is '%s', the config has '%s'", i,
                               saved->arm_names[i], expect->arm_names[i]);
        if (saved->arm_class[i] != expect->arm_class[i])
            return birdie_fail(err, errlen, -EINVAL,
                               "scheduler state puts arm '%s' in class %d, the config in class %d", saved->arm_names[i],
                               saved->arm_class[i], expect->arm_class[i]);
    }
    return 0;
}

/* Every value must be finite and within [lo, hi]. */
static int all_within(const double *v, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || v[i] < lo || v[i] > hi)
            return 0;
    return 1;
}

static int is_mixture(const double *v, int n)
{
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += v[i];
    return all_within(v, (size_t)n, 0.0, 1.0) && fabs(total - 1.0) <= 1e-6;
}

static int read_progress(byte_reader *r, birdie_sched *s, char *err, size_t errlen)
{
    int N = s->cfg.n_arms;
    br_u64(r, &s->eval_count, "eval_count");
    br_i64(r, &s->last_step, "last_step");
    br_u64(r, &s->mixture_version, "mixture_version");
    br_u64(r, &s->fit_iter_total, "fit_iter_total");
    br_u64(r, &s->rm.adam_step, "adam_step");
    br_f64s(r, s->loss, (size_t)N, "loss");
    br_f64s(r, s->mixture, (size_t)N, "mixture");
    uint32_t rows = 0;
    br_u32(r, &rows, "history length");
    if (r->failed_at)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: truncated in '%s'", r->failed_at);
    if (!all_within(s->loss, (size_t)N, 0.0, INFINITY))
        return birdie_fail(err, errlen, -EBADMSG,
                           "scheduler state: the last loss vector holds a negative or non-finite value");
    if (!is_mixture(s->mixture, N))
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: the current mixture is not a probability vector");
    uint64_t expected_rows = s->eval_count > 0 ? s->eval_count - 1 : 0;
    if (rows > STATE_MAX_HISTORY || rows != expected_rows)
        return birdie_fail(err, errlen, -EBADMSG,
                           "scheduler state: %u history rows after %llu evaluations (expected %llu)", rows,
                           (unsigned long long)s->eval_count, (unsigned long long)expected_rows);
    if (s->last_step < 0 || (s->eval_count > 0 && s->mixture_version < s->eval_count))
        return birdie_fail(
            err, errlen, -EBADMSG,
            "scheduler state: last step %lld or mixture version %llu is impossible after %llu evaluations",
            (long long)s->last_step, (unsigned long long)s->mixture_version, (unsigned long long)s->eval_count);
    if (sched_history_reserve(s, (int)rows) != 0)
        return birdie_fail(err, errlen, -ENOMEM, "scheduler state: out of memory for %u history rows", rows);
    for (uint32_t t = 0; t < rows; t++) {
        size_t row = (size_t)t * N;
        br_f64s(r, s->hist_loss + row, (size_t)N, "history loss");
        br_f64s(r, s->hist_action + row, (size_t)N, "history action");
        br_f64s(r, s->hist_reward + row, (size_t)N, "history reward");
        if (r->failed_at)
            return birdie_fail(err, errlen, -EBADMSG, "scheduler state: truncated in '%s' of row %u", r->failed_at, t);
        if (!all_within(s->hist_loss + row, (size_t)N, 0.0, INFINITY) || !is_mixture(s->hist_action + row, N) ||
            !all_within(s->hist_reward + row, (size_t)N, -1.0, 1.0))
            return birdie_fail(err, errlen, -EBADMSG,
                               "scheduler state: history row %u holds an invalid loss, action or reward", t);
    }
    s->hist_len = (int)rows;
    return 0;
}

static int all_finite_floats(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static int read_model(byte_reader *r, birdie_sched *s, char *err, size_t errlen)
{
    uint64_t n = 0;
    if (br_u64(r, &n, "n_params") != 0)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: truncated in 'n_params'");
    if (n != s->rm.n_params)
        return birdie_fail(err, errlen, -EBADMSG,
                           "scheduler state: %llu reward-model parameters, the saved shape needs %zu",
                           (unsigned long long)n, s->rm.n_params);
    br_f32s(r, s->rm.params, n, "reward-model parameters");
    br_f32s(r, s->rm.adam_m, n, "AdamW first moment");
    br_f32s(r, s->rm.adam_v, n, "AdamW second moment");
    if (r->failed_at)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: truncated in '%s'", r->failed_at);
    if (!all_finite_floats(s->rm.params, n) || !all_finite_floats(s->rm.adam_m, n) ||
        !all_finite_floats(s->rm.adam_v, n))
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: reward-model parameters or moments are not finite");
    return 0;
}

static int load_body(byte_reader *r, const birdie_sched_config *expect, birdie_sched **out, char *err, size_t errlen)
{
    loaded_config lc = {0};
    int rc = read_config(r, &lc, err, errlen);
    if (rc == 0 && expect)
        rc = check_expected(&lc.cfg, expect, err, errlen);
    birdie_sched *s = NULL;
    if (rc == 0) {
        char why[256];
        rc = sched_config_check(&lc.cfg, why, sizeof(why));
        /* The reward model of the saved shape is allocated and initialised before its saved weights are
         * read over it: a buffer too short to hold them is refused first, or a few corrupt bytes of
         * shape ask for gigabytes and minutes of initialisation (found by tests/fuzz/fuzz_sched_state.c). */
        size_t n = rc == 0 ? rm_param_count(lc.cfg.n_arms, lc.cfg.hidden, lc.cfg.layers) : 0;
        if (rc == 0 && n > (r->len - r->pos) / (3 * sizeof(float))) {
            snprintf(why, sizeof(why),
                     "the saved shape (%d arms, hidden %d, %d layers) needs %zu reward-model "
                     "parameters, more than the %zu bytes left hold",
                     lc.cfg.n_arms, lc.cfg.hidden, lc.cfg.layers, n, r->len - r->pos);
            rc = -EBADMSG;
        }
        if (rc == 0)
            rc = sched_alloc(&lc.cfg, &s, why, sizeof(why));
        if (rc == -EINVAL)
            rc = -EBADMSG;
        if (rc != 0 && err)
            snprintf(err, errlen, "scheduler state: %s", why);
    }
    loaded_config_free(&lc);
    if (rc == 0)
        rc = read_progress(r, s, err, errlen);
    if (rc == 0)
        rc = read_model(r, s, err, errlen);
    if (rc == 0 && r->pos != r->len) {
        rc = -EBADMSG;
        if (err)
            snprintf(err, errlen, "scheduler state: %zu unexpected bytes after the model", r->len - r->pos);
    }
    if (rc == 0 && sched_refresh_cache(s, NULL) != 0) {
        rc = -ENOMEM;
        if (err)
            snprintf(err, errlen, "scheduler state: out of memory for the reward model");
    }
    if (rc != 0) {
        birdie_sched_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int birdie_sched_load(const uint8_t *buf, size_t len, const birdie_sched_config *expect, birdie_sched **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (!buf || len < STATE_MAGIC_LEN + 8 + 8 || memcmp(buf, STATE_MAGIC, STATE_MAGIC_LEN) != 0)
        return birdie_fail(err, errlen, -EBADMSG,
                           "scheduler state: not a birdie scheduler state (bad magic or too short: %zu bytes)", len);
    size_t body = len - 8;
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++)
        stored |= (uint64_t)buf[body + i] << (8 * i);
    if (stored != birdie_fnv1a(BIRDIE_FNV_OFFSET, buf, body))
        return birdie_fail(err, errlen, -EBADMSG,
                           "scheduler state: checksum mismatch (corrupt or truncated buffer of %zu bytes)", len);
    byte_reader r = {buf, body, STATE_MAGIC_LEN, NULL};
    uint32_t version = 0, flags = 0;
    br_u32(&r, &version, "format version");
    br_u32(&r, &flags, "flags");
    if (version != STATE_VERSION)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: format version %u, this build reads version %u",
                           version, STATE_VERSION);
    if (flags != 0)
        return birdie_fail(err, errlen, -EBADMSG, "scheduler state: unknown flags 0x%x", flags);
    return load_body(&r, expect, out, err, errlen);
}

int birdie_sched_replay(const uint8_t *state, size_t len, const birdie_decision *record, birdie_decision *out,
                        char *err, size_t errlen)
{
    birdie_sched *s = NULL;
    int rc = birdie_sched_load(state, len, NULL, &s, err, errlen);
    if (rc != 0)
        return rc;
    if (record->n_arms != s->cfg.n_arms || record->eval_index != s->eval_count) {
        if (err)
            snprintf(err, errlen,
                     "replay: the record is evaluation %llu with %d arms, the state is before "
                     "evaluation %llu with %d arms",
                     (unsigned long long)record->eval_index, record->n_arms, (unsigned long long)s->eval_count,
                     s->cfg.n_arms);
        birdie_sched_free(s);
        return -EINVAL;
    }
    birdie_sched_input in = {
        .step = record->step,
        .n_arms = record->n_arms,
        .loss_sum = record->loss_sum,
        .tokens = record->tokens,
        .mixture = record->mixture_in,
        .mixture_version = record->mixture_version_in,
    };
    rc = birdie_sched_observe(s, &in, out, err, errlen);
    birdie_sched_free(s);
    return rc;
}
