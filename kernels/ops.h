/* kernels/ops.h: every numerical op of birdie, declared once.
 *
 * The model (worker/model.c) is written once and calls these ops through a backend table: the CPU
 * twin (kernels/cpu/, plain loops + BLAS sgemm) or the CUDA backend (kernels/cuda/). All pointers
 * passed to an op live in that backend's memory (host memory for the CPU, device memory for CUDA).
 * This file holds no implementation and no allocation policy beyond the table's memory hooks.
 *
 * Shape conventions (llm.c style): B = rows, T = positions per row, BT = B*T, C = channels of the
 * residual stream (D in docs/algorithm.md), N = recurrent state width, OC = output channels,
 * V = vocabulary. All matrices are row-major; a weight of a linear layer is (OC, C), so
 * out = inp @ weight^T + bias.
 *
 * Gradient convention: gradients of parameters are accumulated (+=), so a step can run several
 * micro-batches; gradients of activations are written (=) unless the comment says +=.
 */
#ifndef BIRDIE_OPS_H
#define BIRDIE_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Per-position reset bits of the gated scan (docs/algorithm.md §1.4). */
enum { BIRDIE_RESET_FWD = 1, BIRDIE_RESET_REV = 2 };

/* Label that carries no loss (prefix, padding). */
#define BIRDIE_IGNORE_LABEL (-1)

typedef struct birdie_adamw_params {
    float lr;
    float beta1, beta2, eps;
    float weight_decay; /* decoupled: param -= lr * wd * param */
    float grad_scale; /* multiplies every gradient first (clipping and averaging) */
    int step; /* 1-based, for the bias corrections */
} birdie_adamw_params;

/* One stretch of a flat parameter buffer for adamw_update_segments: elements [offset, offset + count)
 * get the step, with the params' weight decay when decay is set and none otherwise. */
typedef struct birdie_adamw_segment {
    size_t offset, count;
    int decay;
} birdie_adamw_segment;

/* The largest shapes a model will pass to the ops, for reserve. */
enum { BIRDIE_MAX_RESERVED_MATMULS = 8 };
typedef struct birdie_op_shapes {
    int rows; /* the most rows (BT) of any op */
    int width; /* the widest row of any op but matmul (C of embedding and RMSNorm, OC of a bias) */
    int n_matmuls;
    int matmul[BIRDIE_MAX_RESERVED_MATMULS][2]; /* (C, OC) of each linear layer, with up to `rows` rows */
} birdie_op_shapes;

typedef struct birdie_ops {
    const char *name;

    /* Memory in the backend's space. alloc returns zeroed memory or NULL. */
    void *(*alloc)(size_t bytes);
    void (*free)(void *ptr);
    void (*zero)(void *ptr, size_t bytes);
    void (*upload)(void *dst, const void *host_src, size_t bytes);
    void (*download)(void *host_dst, const void *src, size_t bytes);
    void (*synchronize)(void);
    /* Host memory that upload_async can copy from without staging (pinned on CUDA); zeroed or NULL. */
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *ptr);
    /* Queues a copy of bytes from host_src (memory from host_alloc) to dst and returns without waiting:
     * the ops queued after it see the data. host_src must stay unchanged until upload_wait returns. */
    void (*upload_async)(void *dst, const void *host_src, size_t bytes);
    /* Returns once every upload_async queued so far has read its host memory. */
    void (*upload_wait)(void);
    /* Sizes the backend's working memory once for the largest shapes to come, so that no op
     * allocates (and so waits for the whole device) in the middle of a step; ops given larger shapes
     * later still work. Never shrinks. 0, or -ENOMEM when the memory is not there. */
    int (*reserve)(const birdie_op_shapes *shapes);

    /* out (BT,C) = wte[tokens[bt]] ; wte (V,C). */
    void (*embedding_forward)(float *out, const int32_t *tokens, const float *wte, int BT, int C);
    /* dwte[tokens[bt]] += dout[bt]. */
    void (*embedding_backward)(float *dwte, const float *dout, const int32_t *tokens, int BT, int C);

    /* out (BT,C) = inp / rms(inp) * weight ; rstd (BT) saved for the backward. eps = 1e-5. */
    void (*rmsnorm_forward)(float *out, float *rstd, const float *inp, const float *weight, int BT, int C);
    /* dinp (BT,C) += ..., dweight (C) += ... */
    void (*rmsnorm_backward)(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                             const float *rstd, int BT, int C);

    /* out (BT,OC) = inp (BT,C) @ weight (OC,C)^T + bias (OC, may be NULL). */
    void (*matmul_forward)(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC);
    /* dinp (BT,C) = dout @ weight (skipped when NULL); dweight (OC,C) += dout^T @ inp;
     * dbias (OC) += column sums of dout (skipped when NULL). */
    void (*matmul_backward)(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, int BT, int C, int OC);

    /* out (n) = a + b (the residual add). */
    void (*residual_forward)(float *out, const float *a, const float *b, size_t n);

    /* Gated SSM gates. proj (BT,4N) holds the four pre-activations [a_i | a_z | a_o | a_f] of a
     * position side by side. Forward: x (BT,N) = sigmoid(a_i) * a_z ; f (BT,N) = sigmoid(a_f). x may be
     * NULL: only f (the backward recomputes the forget gate, not the input). */
    void (*ssm_gates_forward)(float *x, float *f, const float *proj, int BT, int N);
    /* Writes the a_i, a_z, a_f slots of dproj (BT,4N) from dx and df (BT,N); leaves a_o alone. */
    void (*ssm_gates_backward)(float *dproj, const float *dx, const float *df, const float *proj, int BT, int N);
    /* g (BT,N) = gelu(a_o) * h ; gelu is the tanh approximation. */
    void (*ssm_output_forward)(float *g, const float *proj, const float *h, int BT, int N);
    /* Writes the a_o slot of dproj and dh (BT,N) from dg (BT,N). */
    void (*ssm_output_backward)(float *dproj, float *dh, const float *dg, const float *proj, const float *h, int BT,
                                int N);

    /* Gated linear scan over (B,T,N), fp32 state:
     *   channels [0, n_fwd):  h_t = f_t * h_{t-1} + x_t, left to right, f_t := 0 where resets has
     *                         BIRDIE_RESET_FWD (and at t = 0);
     *   channels [n_fwd, N): h_t = f_t * h_{t+1} + x_t, right to left, f_t := 0 where resets has
     *                         BIRDIE_RESET_REV (and at t = T-1).
     * resets is (B,T). A causal layer passes n_fwd = N. */
    void (*scan_forward)(float *h, const float *x, const float *f, const uint8_t *resets, int B, int T, int N,
                         int n_fwd);
    /* From dh (B,T,N) and the forward's h and f: dx = dL/dx, df = dL/df (both written). */
    void (*scan_backward)(float *dx, float *df, const float *dh, const float *h, const float *f, const uint8_t *resets,
                          int B, int T, int N, int n_fwd);

    /* Fused softmax cross-entropy. losses (BT) = -log softmax(logits)[target], 0 where
     * target == BIRDIE_IGNORE_LABEL; dlogits (BT,V) = dloss * (softmax - onehot), 0 rows where
     * ignored. dlogits may alias logits. */
    void (*crossentropy_forward_backward)(float *losses, float *dlogits, const float *logits, const int32_t *targets,
                                          int BT, int V, float dloss);

    /* Sum of squares of x (n), accumulated in double and returned to the host. */
    double (*sum_squares)(const float *x, size_t n);

    /* One AdamW step on one tensor (n elements). */
    void (*adamw_update)(float *param, const float *grad, float *m, float *v, size_t n, const birdie_adamw_params *p);
    /* One AdamW step on every segment of flat buffers (param, grad, m, v share the offsets), in one
     * pass instead of one launch per tensor: per element the result of adamw_update with
     * p->weight_decay where the segment has decay set and 0 elsewhere. segs (host memory) are sorted
     * by offset and do not overlap; elements outside every segment are left alone. */
    void (*adamw_update_segments)(float *param, const float *grad, float *m, float *v, const birdie_adamw_segment *segs,
                                  int n_segs, const birdie_adamw_params *p);
} birdie_ops;

/* The CPU twin: always available. */
extern const birdie_ops birdie_ops_cpu;

/* Whether this build and this CPU run bf16 GEMMs through oneDNN (kernels/cpu/onednn.c). */
typedef struct birdie_bf16_support {
    int available; /* a bf16 matmul primitive can be created here */
    int native; /* the CPU has bf16 matrix instructions (AVX512-BF16 or AMX), not an emulation of them */
    char isa[160]; /* oneDNN's version, the ISA it dispatches to and, when available, its matmul implementation */
    char why[256]; /* when not available: why not */
} birdie_bf16_support;

/* The CPU twin with mixed-precision GEMMs (bf16 inputs, fp32 accumulation; kernels/cpu/matmul_bf16.c)
 * through oneDNN, or NULL when info->available is 0. info (may be NULL) is filled either way. */
const birdie_ops *birdie_ops_cpu_bf16_table(birdie_bf16_support *info);
/* The same numerics with the bf16 GEMM computed by the fp32 sgemm on bf16-rounded inputs: slower, but on
 * every CPU; the reference of the oneDNN table in tests. */
const birdie_ops *birdie_ops_cpu_bf16_reference_table(void);

/* The CUDA backend: NULL when built without CUDA. Does not touch the GPU. */
const birdie_ops *birdie_ops_cuda_table(void);
/* The same with fp32 GEMMs (cuBLAS, fp32 inputs and compute, no TF32): [train] precision = fp32 on a GPU. */
const birdie_ops *birdie_ops_cuda_fp32_table(void);

#endif
