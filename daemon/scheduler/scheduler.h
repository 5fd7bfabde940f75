/* daemon/scheduler/scheduler.h: the Birdie reward-driven scheduler (docs/algorithm.md §3; every § below is
 * that file's).
 *
 * At every evaluation the coordinator hands in the per-arm validation loss (sum and token count),
 * the training step and the mixture that was in force since the previous evaluation. The scheduler
 * computes the reward of the elapsed interval (§3.3), appends (loss, action) -> reward to its
 * history, fits its reward model (a small Gated SSM, §3.5) for a fixed number of AdamW steps, and
 * picks the next mixture by random search over candidate actions with exploration (§3.6, §3.7).
 * Every decision comes with a record of its inputs and intermediate values; a decision can be
 * recomputed bit-exactly from that record and the state saved before it.
 *
 * This library does no I/O, no threading and no networking: the coordinator stores records
 * (SQLite), pushes mixtures (gRPC) and decides when to evaluate. All randomness comes from
 * worker/rng.h (purpose BIRDIE_RNG_SCHEDULER) keyed by the seed and the evaluation index.
 *
 * Errors: functions return 0 (or a count) on success and a negative errno on failure, with a
 * message in err (when err != NULL): -EINVAL bad input or config, -ENOENT unknown arm, -ENODATA
 * empty history where one is needed, -EBADMSG corrupt or foreign state buffer, -ENOMEM.
 */
#ifndef BIRDIE_SCHEDULER_H
#define BIRDIE_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#define BIRDIE_SCHED_MAX_ARMS 4096
#define BIRDIE_SCHED_MAX_NAME 128

/* Exploration schedule (§3.7, v2 formula) indexed by training step. Cook, warm-up and decay
 * lengths are floor(fraction * horizon) steps, as in the authors' code. */
typedef struct birdie_explore_params {
    int64_t horizon; /* steps the schedule spans: v2 default 16,384; §3.7: the run's total steps */
    double cook_frac; /* 0.05: E = cook_prob below floor(cook_frac * horizon) */
    double warmup_frac; /* 0.10 */
    double decay_frac; /* 0.50: E reaches rate_min at floor(decay_frac * horizon) - 1 */
    double cook_prob; /* 1.0 */
    double rate_min; /* 0.20 */
    double rate_max; /* 0.50 */
    double decay_factor; /* 1.0: the d of §3.7 (1 = plain half cosine) */
} birdie_explore_params;

/* The reward model's optimiser (§3.5): AdamW with PyTorch CyclicLR (triangle, continued across
 * evaluations). As PyTorch's cycle_momentum does, beta1 moves inversely to the LR: beta1_at_base
 * at lr_base, beta1_at_max at lr_max. Gradients are clipped to a global norm of clip. */
typedef struct birdie_rm_optim {
    double lr_base; /* 5e-7 */
    double lr_max; /* 5e-4 */
    int cycle_up; /* 100 iterations base -> max */
    int cycle_down; /* 100 iterations max -> base */
    double beta1_at_base; /* 0.9 */
    double beta1_at_max; /* 0.8 */
    double beta2; /* 0.999 */
    double eps; /* 1e-8 */
    double weight_decay; /* 0.1 */
    double clip; /* 1.0 */
} birdie_rm_optim;

typedef struct birdie_sched_config {
    int n_arms;
    const char *const *arm_names; /* (n_arms) unique, 1..BIRDIE_SCHED_MAX_NAME-1 printable chars */
    const int *arm_class; /* (n_arms) objective class of each arm, in [0, n_classes) */
    int n_classes; /* every class holds at least one arm */
    uint64_t seed;
    int hidden; /* D, width of the reward model (even): 128 */
    int layers; /* Gated SSM blocks: 4 */
    int fit_iters; /* AdamW steps per evaluation: 200 */
    int candidates; /* M candidate actions: 2,048 */
    int top_k; /* the new action is the mean of the top_k candidates: 8 */
    int64_t warmup_step; /* the class-uniform mixture is kept for evaluations at steps < this: 100 */
    double noise; /* multiplicative training noise U(1-noise, 1+noise) (v1): 0.02 */
    birdie_explore_params explore;
    birdie_rm_optim optim;
} birdie_sched_config;

/* Fills every field with the defaults above (§3.8), arms left empty. */
void birdie_sched_config_defaults(birdie_sched_config *cfg);

typedef enum birdie_decision_kind {
    BIRDIE_DECISION_INITIAL = 0, /* first evaluation: loss recorded, no reward yet */
    BIRDIE_DECISION_WARMUP = 1, /* step < warmup_step: class-uniform mixture kept, model still fitted */
    BIRDIE_DECISION_EXPLORE = 2, /* half the candidates were copies of an explore vector */
    BIRDIE_DECISION_EXPLOIT = 3 /* uniform candidates only */
} birdie_decision_kind;

/* One evaluation's input. mixture may be NULL: then the scheduler's last published mixture (and
 * its version) is taken as the one that was in force. */
typedef struct birdie_sched_input {
    int64_t step;
    int n_arms;
    const double *loss_sum; /* (n_arms) summed validation cross-entropy per arm, finite, >= 0;
                               * the mean loss_sum/tokens must be <= 1e6 */
    const double *tokens; /* (n_arms) target tokens behind each sum, finite, > 0 */
    const double *mixture; /* (n_arms) mixture in force during the interval that ends now */
    uint64_t mixture_version; /* its version (ignored when mixture is NULL) */
} birdie_sched_input;

/* The record of one decision: everything needed to explain it ("why did arm X get 30%?") and, with
 * the state saved before it, to recompute it. Arrays are owned by the record; a record must be
 * zero-initialised before its first use and released with birdie_decision_free. */
typedef struct birdie_decision {
    int n_arms, top_k;
    uint64_t eval_index; /* 0-based count of evaluations before this one */
    int64_t step;
    birdie_decision_kind kind;
    /* inputs as given */
    double *loss_sum, *tokens; /* (n_arms) */
    double *mixture_in; /* (n_arms) */
    uint64_t mixture_version_in;
    /* the interval's outcome */
    double *loss; /* (n_arms) loss_sum / tokens */
    int has_reward; /* 0 for INITIAL */
    double *reward; /* (n_arms) §3.3, zeros when !has_reward */
    double observed_score; /* sum_i reward_i / n_class(i) */
    int has_prediction; /* the reward model existed before this evaluation */
    double *predicted_in; /* (n_arms) what that model predicted for mixture_in */
    double predicted_in_score;
    /* the reward model fit */
    int history_len; /* intervals in the history after this evaluation */
    double fit_mse_first; /* MSE of the first fit iteration (noisy inputs), NaN when no fit */
    double fit_mse_last; /* MSE of the last fit iteration (noisy inputs) */
    double fit_mse_clean; /* MSE on the noise-free history after the fit */
    /* the choice */
    double explore_prob; /* E(step); NaN when no choice was made (INITIAL, WARMUP) */
    double explore_draw; /* u, exploring iff u < E */
    int n_candidates; /* candidates scored (0 when no choice was made) */
    int *top_index; /* (top_k) candidate indices, best first; explore copies >= M/2 */
    double *top_score; /* (top_k) their scores */
    double *top_candidates; /* (top_k, n_arms) their weights */
    double *mixture_out; /* (n_arms) the next mixture, sums to 1 */
    uint64_t mixture_version_out;
    double *predicted_out; /* (n_arms) predicted reward of mixture_out (0 when history empty) */
    double predicted_out_score;
} birdie_decision;

typedef struct birdie_sched birdie_sched;

int birdie_sched_create(const birdie_sched_config *cfg, birdie_sched **out, char *err, size_t errlen);
void birdie_sched_free(birdie_sched *s);

/* One evaluation: validates the input, updates the history, fits the reward model, chooses the
 * next mixture and fills out. On error nothing in s changes. */
int birdie_sched_observe(birdie_sched *s, const birdie_sched_input *in, birdie_decision *out, char *err, size_t errlen);

/* Predicted per-arm reward (n_arms) and class-weighted score of running mixture next, from the
 * current loss and the fitted model. -ENODATA while the history is empty. */
int birdie_sched_predict(birdie_sched *s, const double *mixture, int n_arms, double *pred, double *score, char *err,
                         size_t errlen);

/* State (config, reward-model weights and AdamW moments, history, RNG position, current mixture
 * and version) as a versioned little-endian buffer with a checksum; *buf is malloc'ed. */
int birdie_sched_save(const birdie_sched *s, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* Rebuilds a scheduler from a saved buffer. When expect is non-NULL its arms and classes must match
 * the saved ones (the resumed run's config); the other fields come from the buffer. */
int birdie_sched_load(const uint8_t *buf, size_t len, const birdie_sched_config *expect, birdie_sched **out, char *err,
                      size_t errlen);
/* Recomputes a decision from the state saved just before it and the record's inputs. */
int birdie_sched_replay(const uint8_t *state, size_t len, const birdie_decision *record, birdie_decision *out,
                        char *err, size_t errlen);

int birdie_sched_n_arms(const birdie_sched *s);
const char *birdie_sched_arm_name(const birdie_sched *s, int arm);
int birdie_sched_arm_class(const birdie_sched *s, int arm);
/* Index of the arm called name, or -ENOENT with "unknown arm". */
int birdie_sched_arm_index(const birdie_sched *s, const char *name, char *err, size_t errlen);
const double *birdie_sched_mixture(const birdie_sched *s); /* (n_arms) last published mixture */
uint64_t birdie_sched_mixture_version(const birdie_sched *s);
uint64_t birdie_sched_eval_count(const birdie_sched *s);
int birdie_sched_history_len(const birdie_sched *s);
/* The class-uniform mixture a0 of §3.1 step 1 (each class 1/n_classes, split equally). */
void birdie_sched_uniform_mixture(const birdie_sched *s, double *out);

void birdie_decision_free(birdie_decision *d);
/* 1 when both records hold bit-identical values, else 0. */
int birdie_decision_equal(const birdie_decision *a, const birdie_decision *b);
/* Plain-text dump for logs (one header line, then one line per arm, then the top candidates).
 * Returns the length it needs, like snprintf; s supplies arm names (may be NULL: arms numbered). */
int birdie_decision_format(const birdie_decision *d, const birdie_sched *s, char *buf, size_t len);
const char *birdie_decision_kind_name(birdie_decision_kind kind);

/* A record as a versioned little-endian byte buffer with a checksum (record_io.c; what the store
 * keeps for `birdiectl explain`); *buf is malloc'ed. Decoding gives a record bit-identical to the
 * encoded one (birdie_decision_equal); d must be zero-initialised or hold a record (it is replaced).
 * -EBADMSG for a buffer that is not a record, is corrupt or cut short; -ENOMEM. */
int birdie_decision_encode(const birdie_decision *d, uint8_t **buf, size_t *len, char *err, size_t errlen);
int birdie_decision_decode(const uint8_t *buf, size_t len, birdie_decision *d, char *err, size_t errlen);

/* Exploration probability E(step) of §3.7 (v2 formula). */
double birdie_explore_prob(const birdie_explore_params *p, int64_t step);

/* Seconds of one decision (reward-model fit on history_len intervals + candidate scoring) with the
 * default config and n_arms arms in 7 classes, on synthetic data; negative errno on failure. */
double birdie_sched_bench_decision_seconds(int n_arms, int history_len, int hidden, char *err, size_t errlen);

#endif
