/* kernels/cpu/matmul_bf16.c: the CPU twin's linear layer in mixed precision, and the two op tables
 * that use it (kernels/ops.h: birdie_ops_cpu_bf16_table, birdie_ops_cpu_bf16_reference_table).
 *
 * Numerics (docs/design.md §7.3): the GEMM inputs (activations, output gradients, weights) are rounded
 * to bf16 (bf16.c); products and sums are fp32; outputs, the bias and its gradient, and everything
 * outside the GEMMs stay fp32, including the master weights and AdamW. That is the CUDA backend's
 * contract (kernels/cuda/matmul.cu), so each backend can check the other's bf16 numerics.
 *
 * Weights are rounded once per parameter update, not per call: a cache maps an fp32 weight to its bf16
 * copy and the epoch it was made in. The tables bump the epoch whenever parameters can change through
 * them (upload, AdamW), so the first GEMM after an optimizer step or a checkpoint load makes a fresh
 * copy and the rest of the step reuses it. Parameters written past the table (straight into host
 * memory) are not seen: callers change them through upload, as the model does. Freeing a buffer drops
 * the copies of weights inside it, so a later allocation at the same address cannot find them.
 *
 * Two GEMM engines share all of this: oneDNN (onednn.c; the training path where the CPU supports it)
 * and a reference that holds bf16 values in fp32 and multiplies them with the fp32 sgemm (matmul.c):
 * a product of two bf16 numbers is exact in fp32, so it computes the same quantity as oneDNN, in
 * another order of the fp32 sums. The reference runs on every CPU, so the caching and the model's
 * use of bf16 GEMMs are tested everywhere; the tests compare oneDNN with it where oneDNN runs.
 * Not thread-safe, like every op: one caller at a time. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#ifdef BIRDIE_HAVE_DNNL
#include "kernels/cpu/onednn.h"
#endif

typedef struct gemm_engine {
    size_t esz; /* bytes of one rounded element as this engine stores it */
    void (*round)(void *dst, const float *src, size_t n);
    void (*forward)(float *out, const void *inp, const void *weight, const float *bias, int BT, int C, int OC);
    /* dinp = dout @ weight when dinp is set; dweight += dout^T @ inp */
    void (*backward)(float *dinp, float *dweight, const void *dout, const void *inp, const void *weight, int BT, int C,
                     int OC);
} gemm_engine;

/* Changes whenever parameters may have changed through a bf16 table; copies of another epoch are stale. */
static unsigned long params_epoch = 1;

typedef struct weight_copy {
    const float *src;
    size_t n;
    unsigned long epoch;
    void *data;
} weight_copy;

typedef struct bf16_state {
    const gemm_engine *eng;
    weight_copy *w;
    int n_w, cap_w;
    void *act[2]; /* rounded activations or output gradients of the current call */
    size_t act_bytes[2];
} bf16_state;

static void *grow(void *buf, size_t *have, size_t need)
{
    if (need <= *have)
        return buf;
    cpu_free(buf);
    buf = cpu_alloc(need);
    if (!buf) {
        fprintf(stderr, "%s:%d: out of memory for %zu bytes of bf16 operands\n", __FILE__, __LINE__, need);
        abort();
    }
    *have = need;
    return buf;
}

static void *scratch(bf16_state *s, int i, size_t n)
{
    s->act[i] = grow(s->act[i], &s->act_bytes[i], n * s->eng->esz);
    return s->act[i];
}

/* The bf16 copy of weight (n elements) for the current parameter epoch, made when missing or stale. */
static const void *weight_bf16(bf16_state *s, const float *weight, size_t n)
{
    weight_copy *e = NULL;
    for (int i = 0; i < s->n_w && !e; i++)
        if (s->w[i].src == weight)
            e = &s->w[i];
    if (!e) {
        if (s->n_w == s->cap_w) {
            int cap = s->cap_w ? 2 * s->cap_w : 16;
            weight_copy *grown = realloc(s->w, (size_t)cap * sizeof *grown);
            if (!grown) {
                fprintf(stderr, "%s:%d: out of memory for the bf16 weight cache\n", __FILE__, __LINE__);
                abort();
            }
            s->w = grown;
            s->cap_w = cap;
        }
        e = &s->w[s->n_w++];
        *e = (weight_copy){.src = weight};
    }
    if (e->data && e->n == n && e->epoch == params_epoch)
        return e->data;
    size_t have = e->data ? e->n * s->eng->esz : 0;
    e->data = grow(e->data, &have, n * s->eng->esz);
    s->eng->round(e->data, weight, n);
    e->n = n;
    e->epoch = params_epoch;
    return e->data;
}

/* Drops the copies of weights that lie in [lo, hi). */
static void forget_weights(bf16_state *s, const char *lo, const char *hi)
{
    int kept = 0;
    for (int i = 0; i < s->n_w; i++) {
        const char *p = (const char *)s->w[i].src;
        if (p >= lo && p < hi)
            cpu_free(s->w[i].data);
        else
            s->w[kept++] = s->w[i];
    }
    s->n_w = kept;
}

static void bf16_forward(bf16_state *s, float *out, const float *inp, const float *weight, const float *bias, int BT,
                         int C, int OC)
{
    if (BT <= 0 || OC <= 0)
        return;
    if (C <= 0) { /* an empty sum: out is the bias, or zero */
        cpu_matmul_forward(out, inp, weight, bias, BT, C, OC);
        return;
    }
    const void *w = weight_bf16(s, weight, (size_t)OC * C);
    void *a = scratch(s, 0, (size_t)BT * C);
    s->eng->round(a, inp, (size_t)BT * C);
    s->eng->forward(out, a, w, bias, BT, C, OC);
}

static void bf16_backward(bf16_state *s, float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int BT, int C, int OC)
{
    if (BT <= 0 || OC <= 0)
        return;
    if (dbias) /* from the fp32 output gradient, as on the GPU */
        cpu_bias_backward(dbias, dout, BT, OC);
    if (C <= 0)
        return;
    void *d16 = scratch(s, 0, (size_t)BT * OC);
    void *i16 = scratch(s, 1, (size_t)BT * C);
    s->eng->round(d16, dout, (size_t)BT * OC);
    s->eng->round(i16, inp, (size_t)BT * C);
    const void *w = dinp ? weight_bf16(s, weight, (size_t)OC * C) : NULL;
    s->eng->backward(dinp, dweight, d16, i16, w, BT, C, OC);
}

/* Sizes the operand scratch for the largest GEMMs to come, so a step does not allocate. */
static int bf16_reserve(bf16_state *s, const birdie_op_shapes *shapes)
{
    size_t most = 0;
    for (int i = 0; i < shapes->n_matmuls && i < BIRDIE_MAX_RESERVED_MATMULS; i++) {
        size_t c = (size_t)shapes->matmul[i][0], oc = (size_t)shapes->matmul[i][1];
        size_t n = (size_t)(shapes->rows > 0 ? shapes->rows : 0) * (c > oc ? c : oc);
        most = n > most ? n : most;
    }
    scratch(s, 0, most);
    scratch(s, 1, most);
    return cpu_reserve(shapes);
}

/* ------------------------------------------------------------------------------------------------
 * The engines */

static void ref_round(void *dst, const float *src, size_t n)
{
    cpu_bf16_round_f32(dst, src, n);
}

static void ref_forward(float *out, const void *inp, const void *weight, const float *bias, int BT, int C, int OC)
{
    cpu_matmul_forward(out, inp, weight, bias, BT, C, OC);
}

static void ref_backward(float *dinp, float *dweight, const void *dout, const void *inp, const void *weight, int BT,
                         int C, int OC)
{
    cpu_matmul_backward(dinp, dweight, NULL, dout, inp, weight, BT, C, OC);
}

static const gemm_engine ref_engine = {sizeof(float), ref_round, ref_forward, ref_backward};
static bf16_state ref_state = {.eng = &ref_engine};

#ifdef BIRDIE_HAVE_DNNL
static void dnnl_round(void *dst, const float *src, size_t n)
{
    cpu_bf16_round(dst, src, n);
}

static void dnnl_forward(float *out, const void *inp, const void *weight, const float *bias, int BT, int C, int OC)
{
    cpu_onednn_forward(out, inp, weight, bias, BT, C, OC, 0);
}

static void dnnl_backward(float *dinp, float *dweight, const void *dout, const void *inp, const void *weight, int BT,
                          int C, int OC)
{
    if (dinp)
        cpu_onednn_backward_data(dinp, dout, weight, BT, C, OC, 0);
    cpu_onednn_backward_weight(dweight, dout, inp, BT, C, OC, 0);
}

static const gemm_engine dnnl_engine = {sizeof(uint16_t), dnnl_round, dnnl_forward, dnnl_backward};
static bf16_state dnnl_state = {.eng = &dnnl_engine};
#endif

/* ------------------------------------------------------------------------------------------------
 * The tables: the CPU twin with these GEMMs, and hooks that keep the weight copies current */

static void upload_params(void *dst, const void *src, size_t bytes)
{
    cpu_copy(dst, src, bytes);
    params_epoch++;
}

static void free_buffer(void *ptr)
{
    if (ptr) {
        const char *lo = ptr, *hi = lo + malloc_usable_size(ptr);
        forget_weights(&ref_state, lo, hi);
#ifdef BIRDIE_HAVE_DNNL
        forget_weights(&dnnl_state, lo, hi);
#endif
    }
    cpu_free(ptr);
}

static void adamw_update(float *param, const float *grad, float *m, float *v, size_t n, const birdie_adamw_params *p)
{
    cpu_adamw_update(param, grad, m, v, n, p);
    params_epoch++;
}

static void adamw_update_segments(float *param, const float *grad, float *m, float *v, const birdie_adamw_segment *segs,
                                  int n_segs, const birdie_adamw_params *p)
{
    cpu_adamw_update_segments(param, grad, m, v, segs, n_segs, p);
    params_epoch++;
}

#define BF16_TABLE_OPS(state)                                                                                        \
    static void state##_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, \
                                       int C, int OC)                                                                \
    {                                                                                                                \
        bf16_forward(&state, out, inp, weight, bias, BT, C, OC);                                                     \
    }                                                                                                                \
    static void state##_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,                \
                                        const float *inp, const float *weight, int BT, int C, int OC)                \
    {                                                                                                                \
        bf16_backward(&state, dinp, dweight, dbias, dout, inp, weight, BT, C, OC);                                   \
    }                                                                                                                \
    static int state##_reserve(const birdie_op_shapes *shapes)                                                       \
    {                                                                                                                \
        return bf16_reserve(&state, shapes);                                                                         \
    }

BF16_TABLE_OPS(ref_state)
#ifdef BIRDIE_HAVE_DNNL
BF16_TABLE_OPS(dnnl_state)
#endif

static void fill_table(birdie_ops *t, const char *name)
{
    *t = birdie_ops_cpu;
    t->name = name;
    t->upload = upload_params;
    t->free = free_buffer;
    t->adamw_update = adamw_update;
    t->adamw_update_segments = adamw_update_segments;
}

const birdie_ops *birdie_ops_cpu_bf16_reference_table(void)
{
    static birdie_ops table;
    if (!table.name) {
        fill_table(&table, "cpu-bf16-reference");
        table.matmul_forward = ref_state_matmul_forward;
        table.matmul_backward = ref_state_matmul_backward;
        table.reserve = ref_state_reserve;
    }
    return &table;
}

const birdie_ops *birdie_ops_cpu_bf16_table(birdie_bf16_support *info)
{
    birdie_bf16_support local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
#ifdef BIRDIE_HAVE_DNNL
    static birdie_ops table;
    info->available = cpu_onednn_bf16_probe(&info->native, info->isa, sizeof info->isa, info->why, sizeof info->why);
    if (!info->available)
        return NULL;
    if (!table.name) {
        fill_table(&table, "cpu-bf16");
        table.matmul_forward = dnnl_state_matmul_forward;
        table.matmul_backward = dnnl_state_matmul_backward;
        table.reserve = dnnl_state_reserve;
    }
    return &table;
#else
    snprintf(info->why, sizeof info->why, "this build has no oneDNN (meson option -Donednn)");
    return NULL;
#endif
}
