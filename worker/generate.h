/* worker/generate.h: text generation from a birdie_model, one recurrent step per new token.
 *
 * A prompt is read the way training reads a sample's prefix (docs/algorithm.md §1.3-§1.4): the row
 * [prompt, BEGIN] goes through the model's own forward pass (birdie_model_forward), with the forward
 * reset on the first position and the reverse reset on BEGIN, so a bidirectional layer reads the
 * prompt in both directions exactly as a packed row with prefix = prompt. BEGIN's logits give the
 * first token. Every later token costs one step per layer, O(1) in the context length (the prefix is
 * never read again), with the same parameters and the same op table:
 *   - forward-direction channels (all N of a causal layer, [0, N/2) of a bidirectional one) carry
 *     h = f * h_prev + x; their state after BEGIN is taken from the forward pass's scan output;
 *   - reverse-direction channels ([N/2, N) of a bidirectional layer) carry nothing: every target
 *     position has the reverse reset bit, so there h = x, the position's own input, as in training.
 *     The state kept per layer is therefore B x N floats of which only the forward channels matter.
 * A Hawk model (worker/model_hawk.h) carries the same forward-channel state through its RG-LRU scan plus each
 * layer's conv window, the last 4 conv inputs (worker/generate_hawk.c); also O(1) per token. A Transformer keeps
 * a key/value cache of every position (worker/generate_transformer.c), O(length) per token; birdie_generate
 * makes the caches hold the prompt and max_tokens.
 * Greedy by default; temperature, top-k, a counter-based draw keyed by (seed, token index, row,
 * BIRDIE_RNG_GENERATE), a stop string, a token limit, and EOS ends a row. Many prompts of different
 * lengths run as one batch; each row's result does not depend on the others (bit for bit unless
 * batch_gemm is set).
 *
 * Not here: reading checkpoints and configs (worker/generate_main.c), tokenisation beyond the byte
 * vocabulary (worker/vocab.h: ids < 256 are bytes, specials print nothing). The step is written
 * through the op table only, but `birdied generate` runs it on the CPU backend only: its CUDA path
 * has not been verified on a GPU (generate_main.c says so when asked for cuda). */
#ifndef BIRDIE_GENERATE_H
#define BIRDIE_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "worker/model.h"
#include "worker/rng.h" /* BIRDIE_RNG_GENERATE */

typedef struct birdie_gen_params {
    int max_tokens; /* tokens generated per prompt at most (> 0) */
    float temperature; /* 0: greedy (argmax, the lowest id on a tie) */
    int top_k; /* 0: the whole vocabulary; else sample among the k largest logits */
    uint64_t seed;
    uint64_t row0; /* prompt i draws with row row0 + i: one prompt alone with row0 = i draws as in a batch */
    const char *stop; /* generation of a row ends when its text ends with this (not kept); NULL or "": none */
} birdie_gen_params;

enum birdie_gen_finish { BIRDIE_GEN_LENGTH = 0, BIRDIE_GEN_STOP = 1, BIRDIE_GEN_EOS = 2 };

typedef struct birdie_gen_output {
    int32_t *tokens; /* every token generated, the stop string's and EOS included (malloc'ed) */
    int n_tokens;
    char *text; /* the bytes of the tokens, without the stop string or specials; NUL-terminated */
    size_t text_len;
    int finish; /* enum birdie_gen_finish */
} birdie_gen_output;

typedef struct birdie_generator {
    birdie_model *m; /* not owned: parameters, op table and the prefix pass's activations */
    int cap; /* rows at most: m->B */
    int n; /* rows of the current batch */
    /* 0 (default): every GEMM of a step and the prefix pass run one row at a time, so a prompt's
     * result is bit for bit the same alone or in any batch (BLAS kernels round differently with the
     * row count and a row's place). 1: one GEMM over the batch, faster, exact only to fp32 rounding. */
    int batch_gemm;
    long steps; /* steps since birdie_generator_start: the parity of the state buffers */
    /* backend memory, one step of cap rows */
    int32_t *d_tokens;
    float *x[2], *u, *rstd, *proj, *g, *y, *logits;
    float *f; /* (2, n*N) forget gates of the two-position scan */
    float **state_a, **state_b; /* per layer (2, n*N): the scan's inputs and outputs, in turns */
    uint8_t *d_resets; /* (2) zeros: the scan resets only at its two ends */
    float *logits_host; /* (cap, V) logits of the current position */
    float *host_state; /* (cap * N) staging of the states taken from the prefix pass */
    struct birdie_hawk_gen *hawk; /* a Hawk model's conv windows and step buffers (generate_hawk.h); else NULL */
    struct birdie_tf_gen *tf; /* a Transformer's key/value caches (generate_transformer.h); else NULL */
} birdie_generator;

/* Allocates step buffers for up to m->B rows. The generator uses m's parameters as they are at each
 * call. 0 or a negative errno with a message. */
int birdie_generator_init(birdie_generator *g, birdie_model *m, char *err, size_t errlen);
void birdie_generator_free(birdie_generator *g);

/* Reads n prompts (lens[i] >= 0 tokens each; n <= g->cap, lens[i] + 1 <= m->T) as prefixes, through
 * birdie_model_forward, and leaves the logits predicting each row's first token (after BEGIN). */
int birdie_generator_start(birdie_generator *g, const int32_t *const *prompts, const int *lens, int n, char *err,
                           size_t errlen);
/* Makes room for rows of `positions` positions (prompt, BEGIN and generated tokens) before steps past the
 * model's T: a Transformer's key/value caches grow; nothing for the SSMs, whose state does not. 0 or -ENOMEM. */
int birdie_generator_reserve(birdie_generator *g, int positions, char *err, size_t errlen);
/* Feeds one token per row (tokens[n]) as the next input: one recurrent step per layer; afterwards the
 * logits predict the token after it (a Transformer's row without room, see birdie_generator_reserve, takes
 * no new position). */
void birdie_generator_step(birdie_generator *g, const int32_t *tokens);
/* out (n,OC) = inp (n,C) @ w^T + b for the n rows of a step: one GEMM, or one per row (batch_gemm); what
 * every family's step uses. */
void birdie_generator_matmul(const birdie_generator *g, float *out, const float *inp, const float *w, const float *b,
                             int C, int OC);
/* Host logits (V) of row r's current position. */
const float *birdie_generator_logits(const birdie_generator *g, int r);

/* The token drawn from logits (V) under p for (row, index): argmax when p->temperature == 0. */
int32_t birdie_gen_sample(const float *logits, int V, const birdie_gen_params *p, uint64_t row, long index);

/* Generates for n prompts at once: out[n] receives each row's tokens and text (free with
 * birdie_gen_output_free). 0 or a negative errno with a message. */
int birdie_generate(birdie_generator *g, const int32_t *const *prompts, const int *lens, int n,
                    const birdie_gen_params *p, birdie_gen_output *out, char *err, size_t errlen);
void birdie_gen_output_free(birdie_gen_output *out);

#endif
