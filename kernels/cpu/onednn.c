/* kernels/cpu/onednn.c: the oneDNN side of the CPU twin's bf16 GEMMs (see onednn.h). One primitive per
 * (kind, shape), created on first use and kept for the process: creating one costs far more than
 * running it at the model's sizes, and a step reuses the same few shapes. Transposes are memory
 * descriptors with swapped strides, so no operand is ever copied into another layout. A failure after
 * the probe succeeded is a bug or an exhausted machine, and aborts with file:line like the rest of the
 * numerical core. */
#include "kernels/cpu/onednn.h"

#include <stdio.h>
#include <stdlib.h>

#include <oneapi/dnnl/dnnl.h>

#define DNNL_CHECK(call)                                                                                               \
    do {                                                                                                               \
        dnnl_status_t dnnl_s_ = (call);                                                                                \
        if (dnnl_s_ != dnnl_success) {                                                                                 \
            fprintf(stderr, "%s:%d: oneDNN call %s failed with status %d\n", __FILE__, __LINE__, #call, (int)dnnl_s_); \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

enum gemm_kind { FWD, FWD_BIAS, BWD_DATA, BWD_WEIGHT };

typedef struct gemm_prim {
    enum gemm_kind kind;
    int BT, C, OC;
    dnnl_data_type_t in; /* the operands' type: bf16, or f32 for the layout check (onednn.h) */
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, bias, c; /* descriptors bound once; data handles set per call */
} gemm_prim;

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static gemm_prim *prims;
static int n_prims, cap_prims;

static dnnl_status_t ensure_engine(void)
{
    dnnl_status_t s = dnnl_success;
    if (!engine && (s = dnnl_engine_create(&engine, dnnl_cpu, 0)) != dnnl_success)
        return s;
    if (!stream)
        s = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    return s;
}

static void md_plain(dnnl_memory_desc_t *md, int rows, int cols, dnnl_data_type_t type)
{
    dnnl_dims_t dims = {rows, cols};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(md, 2, dims, type, dnnl_ab));
}

/* A (rows, cols) view of a row-major (cols, rows) matrix: element (r, c) lies at c * rows + r. */
static void md_transposed(dnnl_memory_desc_t *md, int rows, int cols, dnnl_data_type_t type)
{
    dnnl_dims_t dims = {rows, cols}, strides = {1, rows};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(md, 2, dims, type, strides));
}

/* The primitive descriptor of one GEMM: src (M,K) @ weights (K,N) (+ bias) -> dst (M,N). */
static dnnl_status_t describe(enum gemm_kind kind, dnnl_data_type_t in, int BT, int C, int OC,
                              dnnl_primitive_desc_t *pd, gemm_prim *g)
{
    dnnl_memory_desc_t a, b, bias, c;
    switch (kind) {
    case FWD:
    case FWD_BIAS: /* out (BT,OC) = inp (BT,C) @ weight^T (C,OC) */
        md_plain(&a, BT, C, in);
        md_transposed(&b, C, OC, in);
        md_plain(&c, BT, OC, dnnl_f32);
        break;
    case BWD_DATA: /* dinp (BT,C) = dout (BT,OC) @ weight (OC,C) */
        md_plain(&a, BT, OC, in);
        md_plain(&b, OC, C, in);
        md_plain(&c, BT, C, dnnl_f32);
        break;
    case BWD_WEIGHT: /* dweight (OC,C) += dout^T (OC,BT) @ inp (BT,C) */
    default:
        md_transposed(&a, OC, BT, in);
        md_plain(&b, BT, C, in);
        md_plain(&c, OC, C, dnnl_f32);
        break;
    }
    md_plain(&bias, 1, OC, dnnl_f32);
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &a, &b, kind == FWD_BIAS ? &bias : NULL, &c));
    dnnl_primitive_attr_t attr = NULL;
    if (kind == BWD_WEIGHT) { /* accumulate: dst = 1 * dst + product, in fp32 */
        dnnl_post_ops_t po;
        DNNL_CHECK(dnnl_primitive_attr_create(&attr));
        DNNL_CHECK(dnnl_post_ops_create(&po));
        DNNL_CHECK(dnnl_post_ops_append_sum(po, 1.0f));
        DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
        DNNL_CHECK(dnnl_post_ops_destroy(po));
    }
    dnnl_status_t s = dnnl_primitive_desc_create(pd, &desc, attr, engine, NULL);
    if (attr)
        DNNL_CHECK(dnnl_primitive_attr_destroy(attr));
    if (s == dnnl_success && g) {
        DNNL_CHECK(dnnl_memory_create(&g->a, &a, engine, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&g->b, &b, engine, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&g->bias, &bias, engine, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&g->c, &c, engine, DNNL_MEMORY_NONE));
    }
    return s;
}

static gemm_prim *get_prim(enum gemm_kind kind, dnnl_data_type_t in, int BT, int C, int OC)
{
    for (int i = 0; i < n_prims; i++)
        if (prims[i].kind == kind && prims[i].in == in && prims[i].BT == BT && prims[i].C == C && prims[i].OC == OC)
            return &prims[i];
    DNNL_CHECK(ensure_engine());
    if (n_prims == cap_prims) {
        int cap = cap_prims ? 2 * cap_prims : 16;
        gemm_prim *grown = realloc(prims, (size_t)cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "%s:%d: out of memory for oneDNN primitives\n", __FILE__, __LINE__);
            abort();
        }
        prims = grown;
        cap_prims = cap;
    }
    gemm_prim *g = &prims[n_prims];
    *g = (gemm_prim){.kind = kind, .in = in, .BT = BT, .C = C, .OC = OC};
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(describe(kind, in, BT, C, OC, &pd, g));
    DNNL_CHECK(dnnl_primitive_create(&g->prim, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    n_prims++;
    return g;
}

static void run(gemm_prim *g, const void *a, const void *b, const float *bias, float *c)
{
    DNNL_CHECK(dnnl_memory_set_data_handle(g->a, (void *)a));
    DNNL_CHECK(dnnl_memory_set_data_handle(g->b, (void *)b));
    DNNL_CHECK(dnnl_memory_set_data_handle(g->c, c));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, g->a}, {DNNL_ARG_WEIGHTS, g->b}, {DNNL_ARG_DST, g->c}};
    int n_args = 3;
    if (bias) {
        DNNL_CHECK(dnnl_memory_set_data_handle(g->bias, (void *)bias));
        args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, g->bias};
    }
    DNNL_CHECK(dnnl_primitive_execute(g->prim, stream, n_args, args));
    DNNL_CHECK(dnnl_stream_wait(stream));
}

static dnnl_data_type_t in_type(int f32)
{
    return f32 ? dnnl_f32 : dnnl_bf16;
}

void cpu_onednn_forward(float *out, const void *inp, const void *weight, const float *bias, int BT, int C, int OC,
                        int f32)
{
    run(get_prim(bias ? FWD_BIAS : FWD, in_type(f32), BT, C, OC), inp, weight, bias, out);
}

void cpu_onednn_backward_data(float *dinp, const void *dout, const void *weight, int BT, int C, int OC, int f32)
{
    run(get_prim(BWD_DATA, in_type(f32), BT, C, OC), dout, weight, NULL, dinp);
}

void cpu_onednn_backward_weight(float *dweight, const void *dout, const void *inp, int BT, int C, int OC, int f32)
{
    run(get_prim(BWD_WEIGHT, in_type(f32), BT, C, OC), dout, inp, NULL, dweight);
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

int cpu_onednn_bf16_probe(int *native, char *isa, size_t isalen, char *why, size_t whylen)
{
    const dnnl_version_t *v = dnnl_version();
    dnnl_cpu_isa_t cpu = dnnl_get_effective_cpu_isa();
    /* the ISA values are bit sets: every ISA with bf16 instructions contains avx512_core_bf16's bits */
    *native = ((unsigned)cpu & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    snprintf(isa, isalen, "oneDNN %d.%d.%d, ISA %s", v->major, v->minor, v->patch, isa_name(cpu));
    if (ensure_engine() != dnnl_success) {
        snprintf(why, whylen, "oneDNN %d.%d.%d could not create a CPU engine", v->major, v->minor, v->patch);
        return 0;
    }
    /* every kind the layer uses, at a small odd shape: a kind oneDNN lacks would otherwise abort the
     * first step that needs it */
    static const char *const kind_names[] = {"fwd", "fwd+bias", "bwd-data", "bwd-weights"};
    char impls[4][48];
    for (int k = FWD; k <= BWD_WEIGHT; k++) {
        dnnl_primitive_desc_t pd;
        dnnl_status_t s = describe((enum gemm_kind)k, dnnl_bf16, 17, 33, 49, &pd, NULL);
        if (s != dnnl_success) {
            snprintf(why, whylen,
                     "oneDNN %d.%d.%d has no bf16 matmul (%s) on this CPU (its ISA: %s; bf16 GEMMs need AVX-512, "
                     "and bf16 matrix instructions AVX512-BF16 or AMX to be fast)",
                     v->major, v->minor, v->patch, kind_names[k], isa_name(cpu));
            return 0;
        }
        const char *impl = "?";
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
            impl = "?";
        snprintf(impls[k], sizeof impls[k], "%s", impl);
        DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    }
    snprintf(isa, isalen, "oneDNN %d.%d.%d, ISA %s, matmul %s (bwd-data %s, bwd-weights %s)", v->major, v->minor,
             v->patch, isa_name(cpu), impls[FWD_BIAS], impls[BWD_DATA], impls[BWD_WEIGHT]);
    return 1;
}
