/* daemon/scheduler/reward_model.h: the reward model R̂(history, loss, action) -> per-arm reward, the
 * v1 Gated SSM of docs/algorithm.md §3.5: RMSsplit(2N) -> Linear(2N -> D); L x GatedSSMBlock(D, state S = 2D);
 * RMSsplit(D) -> Linear(D -> N). All linears are bias-free.
 *
 * GatedSSMBlock (residual): u = RMSsplit(x); K = sigmoid(W_K u) (S); [p | g_in | g_out] = W_ugg u (3S);
 * h_t = K_{t-1} * h_{t-1} + p_t * sigmoid(g_in_t) * (1 - K_t), h_0 = its input term;
 * out = x + W_out (h * sigmoid(g_out)).
 *
 * The GEMMs, the scan, the gradient norm and AdamW are kernels/ops.h ops (birdie_ops_cpu); the
 * split norm and the gates are rm_layers.h. This file holds the parameters, one forward/backward
 * over a history sequence, the cached end-of-history state and the one-step candidate scoring.
 * The fit loop (optimizer, schedule, noise) is rm_fit.h.
 */
#ifndef BIRDIE_SCHED_REWARD_MODEL_H
#define BIRDIE_SCHED_REWARD_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct rm_seq_ws rm_seq_ws; /* activations of one sequence (reward_model.c) */
typedef struct rm_step_ws rm_step_ws; /* activations of a chunk of candidate rows */

typedef struct reward_model {
    int N, D, S, L; /* arms, width, state (2D), blocks */
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v; /* (n_params) each, one contiguous buffer each */
    uint64_t adam_step; /* AdamW updates applied so far (bias correction) */
    float *cache; /* (L,S) K_{T-1} * h_{T-1} of each block after the history */
    int cache_T; /* history length the cache was built from; 0 = none */
    rm_seq_ws *seq;
    rm_step_ws *step;
} reward_model;

/* Parameter count of a model with N arms, width D (even) and L blocks. */
size_t rm_param_count(int N, int D, int L);

/* Allocates the model and initialises it from (seed, BIRDIE_RNG_SCHEDULER): linears U(+-1/sqrt(fan_in))
 * as PyTorch's default, norm gains 1, RMSsplit scales 0.1. AdamW moments zero. */
int rm_init(reward_model *rm, int N, int D, int L, uint64_t seed);
void rm_free(reward_model *rm);

/* Runs X (T,2N) = rows [loss, action] through the model. pred (T,N) receives the predictions when
 * non-NULL. When Y (T,N) is non-NULL returns the MSE over all T*N entries and, if want_grad,
 * accumulates its gradient into rm->grads (+=); otherwise returns 0. Returns -1 on allocation failure. */
double rm_sequence(reward_model *rm, const float *X, const float *Y, int T, float *pred, int want_grad);

/* Forward over the noise-free history X (T,2N), T >= 1, and keeps each block's carried state for
 * rm_score_step. When Y (T,N) is non-NULL, *mse receives the MSE on it. Returns 0 or -ENOMEM. */
int rm_build_cache(reward_model *rm, const float *X, const float *Y, int T, double *mse);

/* Predictions pred (M,N) at the position after the cached history for M rows [loss, action[m]]:
 * one recurrent step per row, batched as GEMMs. loss (N), actions (M,N) in double. Needs a cache.
 * Returns 0 or -ENOMEM. */
int rm_score_step(reward_model *rm, const float *loss, const double *actions, int M, float *pred);

#endif
