/* tests/kernels/cuda/test_ops.c: every op of the CUDA table against its CPU twin (birdie_ops_cpu), on random
 * inputs and shapes that include odd sizes (not multiples of a warp, a block or the scan's prefetch
 * depth), with per-op tolerances (bf16 GEMM inputs accounted for).
 *
 * Plain C with TAP output ("ok N - name", plan at the end): the GPU machine has no cmocka. With no
 * usable GPU it prints "1..0 # SKIP no GPU: <reason>" and exits 77, which meson counts as a skip.
 * `test_ops --perf` also times the scan and the matmul against the measured ceilings.
 *
 * What each check guards against:
 * - every device output buffer is followed by a guard zone that must come back unchanged (writes
 *   past the end at odd sizes);
 * - "=" outputs start as NaN on the device (an element the kernel forgets fails the comparison);
 * - "+=" outputs start from the same random values on both sides (= written where += was due);
 * - dproj slots an op must leave alone start from the same random values (writes to the wrong slot);
 * - ops that promise determinism run twice and must agree bit for bit. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/ops.h"
#include "worker/rng.h"

static const birdie_ops *gpu;
static const birdie_ops *cpu = &birdie_ops_cpu;
static birdie_rng rng;
static int tests_run, tests_failed;

/* ---- TAP --------------------------------------------------------------------------------------- */

static void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void tap_result(int ok, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    tests_run++;
    tests_failed += !ok;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tests_run, name);
    fflush(stdout);
}

static void bail_out(const char *what)
{
    printf("Bail out! %s\n", what);
    exit(1);
}

/* ---- host data --------------------------------------------------------------------------------- */

static void *host_alloc(size_t bytes)
{
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p)
        bail_out("out of host memory");
    return p;
}

static float uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)birdie_rng_uniform(&rng);
}

static float *random_floats(size_t n, float lo, float hi)
{
    float *x = host_alloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = uniform(lo, hi);
    return x;
}

/* Random values that bf16 holds exactly (8 significant bits), so a bf16 GEMM sees the CPU's inputs. */
static float *random_bf16_exact(size_t n, float lo, float hi)
{
    float *x = random_floats(n, lo, hi);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        bits &= 0xFFFF0000u;
        memcpy(&x[i], &bits, sizeof bits);
    }
    return x;
}

static float *copy_floats(const float *x, size_t n)
{
    float *y = host_alloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static float *abs_floats(const float *x, size_t n)
{
    float *y = copy_floats(x, n);
    for (size_t i = 0; i < n; i++)
        y[i] = fabsf(y[i]);
    return y;
}

static int32_t *random_tokens(int n, int V)
{
    int32_t *t = host_alloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) /* a third of the rows share token 1: long segments in the backward */
        t[i] = V > 1 && birdie_rng_below(&rng, 3) == 0 ? 1 : (int32_t)birdie_rng_below(&rng, (uint64_t)V);
    return t;
}

/* ---- device buffers with a guard zone ---------------------------------------------------------- */

enum { GUARD_BYTES = 256, GUARD_BYTE = 0xA5 };

/* Device copy of `bytes` of host data (or of `fill` bytes when host is NULL), then the guard zone. */
static void *dev_put(const void *host, size_t bytes, unsigned char fill)
{
    unsigned char *d = gpu->alloc(bytes + GUARD_BYTES);
    if (!d)
        bail_out("cuda alloc failed");
    unsigned char *staging = host_alloc(bytes + GUARD_BYTES);
    if (host)
        memcpy(staging, host, bytes);
    else
        memset(staging, fill, bytes);
    memset(staging + bytes, GUARD_BYTE, GUARD_BYTES);
    gpu->upload(d, staging, bytes + GUARD_BYTES);
    free(staging);
    return d;
}

static void *dev_copy(const void *host, size_t bytes)
{
    return dev_put(host, bytes, 0);
}

/* An "=" output: NaN everywhere (0xFF bytes) until the kernel writes it. */
static void *dev_nan(size_t bytes)
{
    return dev_put(NULL, bytes, 0xFF);
}

/* Downloads `bytes` into host and checks the guard zone; frees the device buffer. */
static int dev_take(void *host, void *dev, size_t bytes, const char *what)
{
    unsigned char *staging = host_alloc(bytes + GUARD_BYTES);
    gpu->download(staging, dev, bytes + GUARD_BYTES);
    memcpy(host, staging, bytes);
    int ok = 1;
    for (size_t i = 0; i < GUARD_BYTES; i++)
        if (staging[bytes + i] != GUARD_BYTE) {
            diag("%s: write past the end at byte %zu of the guard zone", what, i);
            ok = 0;
            break;
        }
    free(staging);
    gpu->free(dev);
    return ok;
}

/* ---- comparisons ------------------------------------------------------------------------------- */

/* |got - want| <= atol + rtol * |want| (+ bound[i] when given), element by element; NaN fails. */
static int compare(const char *what, const float *got, const float *want, size_t n, double atol, double rtol,
                   const float *bound)
{
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double tol = atol + rtol * fabs((double)want[i]) + (bound ? bound[i] : 0.0);
        if (!(d <= tol)) {
            if (bad == 0)
                diag("%s: element %zu is %.9g, CPU twin has %.9g (tolerance %.3g)", what, i, got[i], want[i], tol);
            bad++;
        }
        if (d > worst)
            worst = d;
    }
    if (bad)
        diag("%s: %zu of %zu elements beyond tolerance, max |diff| %.3g", what, bad, n, worst);
    return bad == 0;
}

static int same_bits(const char *what, const void *a, const void *b, size_t bytes)
{
    if (memcmp(a, b, bytes) == 0)
        return 1;
    diag("%s: two runs on the same input differ (not deterministic)", what);
    return 0;
}

/* Pulls an "=" or "+=" float output off the device and compares it with the CPU's. */
static int check_output(const char *what, void *dev, const float *want, size_t n, double atol, double rtol,
                        const float *bound)
{
    float *got = host_alloc(n * sizeof *got);
    int ok = dev_take(got, dev, n * sizeof *got, what);
    ok &= compare(what, got, want, n, atol, rtol, bound);
    free(got);
    return ok;
}

/* ---- memory hooks ------------------------------------------------------------------------------ */

static void test_memory(void)
{
    const size_t n = 1237;
    int ok = 1;
    float *d = gpu->alloc(n * sizeof(float));
    float *back = host_alloc(n * sizeof(float));
    if (!d)
        bail_out("cuda alloc failed");
    gpu->download(back, d, n * sizeof(float));
    for (size_t i = 0; i < n && ok; i++)
        if (back[i] != 0.0f) {
            diag("alloc: element %zu is %g, not zero", i, back[i]);
            ok = 0;
        }
    float *x = random_floats(n, -1, 1);
    gpu->upload(d, x, n * sizeof(float));
    gpu->zero(d + 100, 37 * sizeof(float));
    gpu->download(back, d, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (back[i] != (i >= 100 && i < 137 ? 0.0f : x[i])) {
            diag("upload/zero/download: element %zu is %g", i, back[i]);
            ok = 0;
            break;
        }
    gpu->synchronize();
    gpu->free(d);
    free(x);
    free(back);
    tap_result(ok, "memory: alloc is zeroed, upload/zero/download round trip");
}

/* The model's batch path: pinned host memory, one asynchronous copy, then an op on the same stream
 * that reads it (no synchronize in between), and a second upload from the same buffer after
 * upload_wait. */
static void test_upload_async(void)
{
    const int BT = 3001, C = 5;
    int ok = 1;
    int32_t *pinned = gpu->host_alloc((size_t)BT * sizeof(int32_t));
    if (!pinned)
        bail_out("host_alloc failed");
    for (int i = 0; i < BT && ok; i++)
        if (pinned[i] != 0) {
            diag("host_alloc: element %d is %d, not zero", i, pinned[i]);
            ok = 0;
        }
    float *wte = random_floats((size_t)3 * C, -1, 1), *want = host_alloc((size_t)BT * C * sizeof(float));
    void *d_wte = dev_copy(wte, (size_t)3 * C * sizeof(float));
    void *d_tokens = gpu->alloc((size_t)BT * sizeof(int32_t));
    for (int round = 0; round < 2; round++) {
        gpu->upload_wait();
        for (int i = 0; i < BT; i++)
            pinned[i] = (i + round) % 3;
        gpu->upload_async(d_tokens, pinned, (size_t)BT * sizeof(int32_t));
        void *d_out = dev_nan((size_t)BT * C * sizeof(float));
        gpu->embedding_forward(d_out, d_tokens, d_wte, BT, C);
        cpu->embedding_forward(want, pinned, wte, BT, C);
        ok &= check_output("upload_async then embedding_forward", d_out, want, (size_t)BT * C, 0, 0, NULL);
    }
    gpu->upload_wait();
    gpu->host_free(pinned);
    gpu->free(d_wte), gpu->free(d_tokens);
    free(wte), free(want);
    tap_result(ok, "memory: host_alloc is zeroed, upload_async is seen by the next op, twice");
}

/* ---- embedding --------------------------------------------------------------------------------- */

static void test_embedding(int BT, int C, int V)
{
    size_t n_out = (size_t)BT * C, n_wte = (size_t)V * C;
    int32_t *tokens = random_tokens(BT, V);
    float *wte = random_floats(n_wte, -1, 1);
    float *want = host_alloc(n_out * sizeof(float));
    cpu->embedding_forward(want, tokens, wte, BT, C);
    void *d_tokens = dev_copy(tokens, (size_t)BT * sizeof(int32_t));
    void *d_wte = dev_copy(wte, n_wte * sizeof(float)), *d_out = dev_nan(n_out * sizeof(float));
    gpu->embedding_forward(d_out, d_tokens, d_wte, BT, C);
    tap_result(check_output("embedding_forward", d_out, want, n_out, 0, 0, NULL), "embedding_forward BT=%d C=%d V=%d",
               BT, C, V);

    /* backward: dwte += scatter of dout; run twice from the same start to check determinism */
    float *dout = random_floats(n_out, -1, 1);
    float *dwte = random_floats(n_wte, -1, 1);
    float *dwte_first = host_alloc(n_wte * sizeof(float));
    void *d_dout = dev_copy(dout, n_out * sizeof(float));
    void *d_dwte = dev_copy(dwte, n_wte * sizeof(float));
    gpu->embedding_backward(d_dwte, d_dout, d_tokens, BT, C);
    gpu->download(dwte_first, d_dwte, n_wte * sizeof(float));
    gpu->upload(d_dwte, dwte, n_wte * sizeof(float));
    gpu->embedding_backward(d_dwte, d_dout, d_tokens, BT, C);
    cpu->embedding_backward(dwte, dout, tokens, BT, C);
    float *got = host_alloc(n_wte * sizeof(float));
    int ok = dev_take(got, d_dwte, n_wte * sizeof(float), "embedding_backward");
    ok &= compare("embedding_backward", got, dwte, n_wte, 1e-4, 1e-5, NULL);
    ok &= same_bits("embedding_backward", got, dwte_first, n_wte * sizeof(float));
    tap_result(ok, "embedding_backward BT=%d C=%d V=%d (+=, deterministic)", BT, C, V);
    gpu->free(d_tokens);
    gpu->free(d_wte);
    gpu->free(d_dout);
    free(tokens), free(wte), free(want), free(dout), free(dwte), free(dwte_first), free(got);
}

/* Many rows of one token (the space byte of real text): every chunk of the backward holds that token,
 * so the chunk partials and their join carry the sum. Every `other`-th row has another token, so runs
 * start and end inside chunks too. The GPU adds in another order than the CPU twin: per element the
 * tolerance is both sums' fp32 bound, 2 (count + 1) 2^-24 (|dwte| + sum over the token's rows |dout|). */
static void test_embedding_repeated(int BT, int C, int V, int other)
{
    size_t n_out = (size_t)BT * C, n_wte = (size_t)V * C;
    int32_t *tokens = host_alloc((size_t)BT * sizeof(int32_t));
    for (int i = 0; i < BT; i++)
        tokens[i] = other > 0 && i % other == other - 1 ? (int32_t)birdie_rng_below(&rng, (uint64_t)V) : 32 % V;
    float *dout = random_floats(n_out, -1, 1), *dwte = random_floats(n_wte, -1, 1);
    float *bound = host_alloc(n_wte * sizeof(float)), *dwte_first = host_alloc(n_wte * sizeof(float));
    int *count = host_alloc((size_t)V * sizeof(int));
    for (int i = 0; i < BT; i++)
        count[tokens[i]]++;
    double *abs_sum = host_alloc(n_wte * sizeof(double));
    for (size_t i = 0; i < n_wte; i++)
        abs_sum[i] = fabs((double)dwte[i]);
    for (int i = 0; i < BT; i++)
        for (int c = 0; c < C; c++)
            abs_sum[(size_t)tokens[i] * C + c] += fabs((double)dout[(size_t)i * C + c]);
    for (size_t i = 0; i < n_wte; i++)
        bound[i] = (float)(2.0 * (count[i / (size_t)C] + 1) * 0x1.0p-24 * abs_sum[i]);
    void *d_tokens = dev_copy(tokens, (size_t)BT * sizeof(int32_t)), *d_dout = dev_copy(dout, n_out * sizeof(float));
    void *d_dwte = dev_copy(dwte, n_wte * sizeof(float));
    gpu->embedding_backward(d_dwte, d_dout, d_tokens, BT, C);
    gpu->download(dwte_first, d_dwte, n_wte * sizeof(float));
    gpu->upload(d_dwte, dwte, n_wte * sizeof(float));
    gpu->embedding_backward(d_dwte, d_dout, d_tokens, BT, C);
    cpu->embedding_backward(dwte, dout, tokens, BT, C);
    float *got = host_alloc(n_wte * sizeof(float));
    int ok = dev_take(got, d_dwte, n_wte * sizeof(float), "embedding_backward repeated");
    ok &= compare("embedding_backward repeated", got, dwte, n_wte, 0, 0, bound);
    ok &= same_bits("embedding_backward repeated", got, dwte_first, n_wte * sizeof(float));
    tap_result(ok, "embedding_backward BT=%d C=%d V=%d, %d rows of token %d (+=, deterministic)", BT, C, V,
               count[32 % V], 32 % V);
    gpu->free(d_tokens), gpu->free(d_dout);
    free(tokens), free(dout), free(dwte), free(bound), free(dwte_first), free(count), free(abs_sum), free(got);
}

/* ---- rmsnorm ----------------------------------------------------------------------------------- */

static void test_rmsnorm(int BT, int C)
{
    size_t n = (size_t)BT * C;
    float *inp = random_floats(n, -2, 2), *weight = random_floats((size_t)C, 0.5f, 1.5f);
    float *out = host_alloc(n * sizeof(float)), *rstd = host_alloc((size_t)BT * sizeof(float));
    cpu->rmsnorm_forward(out, rstd, inp, weight, BT, C);
    void *d_inp = dev_copy(inp, n * sizeof(float)), *d_weight = dev_copy(weight, (size_t)C * sizeof(float));
    void *d_out = dev_nan(n * sizeof(float)), *d_rstd = dev_nan((size_t)BT * sizeof(float));
    gpu->rmsnorm_forward(d_out, d_rstd, d_inp, d_weight, BT, C);
    int ok = check_output("rmsnorm_forward out", d_out, out, n, 1e-6, 1e-5, NULL);
    ok &= check_output("rmsnorm_forward rstd", d_rstd, rstd, (size_t)BT, 0, 1e-5, NULL);
    tap_result(ok, "rmsnorm_forward BT=%d C=%d", BT, C);

    float *dout = random_floats(n, -1, 1);
    float *dinp = random_floats(n, -1, 1), *dweight = random_floats((size_t)C, -1, 1);
    void *d_dout = dev_copy(dout, n * sizeof(float)), *d_rstd2 = dev_copy(rstd, (size_t)BT * sizeof(float));
    void *d_dinp = dev_copy(dinp, n * sizeof(float)), *d_dweight = dev_copy(dweight, (size_t)C * sizeof(float));
    gpu->rmsnorm_backward(d_dinp, d_dweight, d_dout, d_inp, d_weight, d_rstd2, BT, C);
    cpu->rmsnorm_backward(dinp, dweight, dout, inp, weight, rstd, BT, C);
    ok = check_output("rmsnorm_backward dinp", d_dinp, dinp, n, 1e-5, 1e-4, NULL);
    /* dweight sums BT rows in a different order on each side: the rounding grows with BT */
    ok &= check_output("rmsnorm_backward dweight", d_dweight, dweight, (size_t)C, 1e-4 + 1e-7 * BT, 1e-4, NULL);
    tap_result(ok, "rmsnorm_backward BT=%d C=%d (+= both)", BT, C);
    gpu->free(d_inp), gpu->free(d_weight), gpu->free(d_dout), gpu->free(d_rstd2);
    free(inp), free(weight), free(out), free(rstd), free(dout), free(dinp), free(dweight);
}

/* ---- matmul ------------------------------------------------------------------------------------ */

/* exact: inputs bf16 holds exactly, so only fp32 summation order differs (tolerance grows with K).
 * Otherwise the tolerance adds the bf16 rounding bound 2^-8 * sum_k |a_k||b_k| per element, which the
 * CPU twin computes from the absolute values. */
static void test_matmul(int BT, int C, int OC, int with_bias, int exact)
{
    float *(*make)(size_t, float, float) = exact ? random_bf16_exact : random_floats;
    size_t n_inp = (size_t)BT * C, n_w = (size_t)OC * C, n_out = (size_t)BT * OC;
    float *inp = make(n_inp, -1, 1), *weight = make(n_w, -1, 1),
          *bias = with_bias ? random_floats((size_t)OC, -1, 1) : NULL;
    float *out = host_alloc(n_out * sizeof(float));
    cpu->matmul_forward(out, inp, weight, bias, BT, C, OC);
    const double bf16_rel = exact ? 0.0 : 1.0 / 256.0 * 1.01;
    float *bound = NULL;
    if (!exact) {
        float *ai = abs_floats(inp, n_inp), *aw = abs_floats(weight, n_w);
        bound = host_alloc(n_out * sizeof(float));
        cpu->matmul_forward(bound, ai, aw, NULL, BT, C, OC);
        for (size_t i = 0; i < n_out; i++)
            bound[i] *= (float)bf16_rel;
        free(ai), free(aw);
    }
    void *d_inp = dev_copy(inp, n_inp * sizeof(float)), *d_w = dev_copy(weight, n_w * sizeof(float));
    void *d_bias = bias ? dev_copy(bias, (size_t)OC * sizeof(float)) : NULL;
    void *d_out = dev_nan(n_out * sizeof(float));
    gpu->matmul_forward(d_out, d_inp, d_w, d_bias, BT, C, OC);
    double atol = 2e-6 * C + 1e-6;
    tap_result(check_output("matmul_forward", d_out, out, n_out, atol, 1e-5, bound),
               "matmul_forward BT=%d C=%d OC=%d bias=%d %s", BT, C, OC, with_bias,
               exact ? "bf16-exact" : "fp32 inputs");
    free(bound);

    /* backward: dinp (=), dweight (+=), dbias (+=) */
    float *dout = make(n_out, -1, 1);
    float *dinp = host_alloc(n_inp * sizeof(float)), *dweight = random_floats(n_w, -1, 1);
    float *dbias = with_bias ? random_floats((size_t)OC, -1, 1) : NULL;
    float *bound_dinp = NULL, *bound_dw = NULL;
    if (!exact) {
        float *ad = abs_floats(dout, n_out), *ai = abs_floats(inp, n_inp), *aw = abs_floats(weight, n_w);
        bound_dinp = host_alloc(n_inp * sizeof(float));
        bound_dw = host_alloc(n_w * sizeof(float)); /* zero: the backward adds sum |dout||inp| into it */
        cpu->matmul_backward(bound_dinp, bound_dw, NULL, ad, ai, aw, BT, C, OC);
        for (size_t i = 0; i < n_inp; i++)
            bound_dinp[i] *= (float)bf16_rel;
        for (size_t i = 0; i < n_w; i++)
            bound_dw[i] *= (float)bf16_rel;
        free(ad), free(ai), free(aw);
    }
    void *d_dout = dev_copy(dout, n_out * sizeof(float)), *d_dinp = dev_nan(n_inp * sizeof(float));
    void *d_dw = dev_copy(dweight, n_w * sizeof(float));
    void *d_db = dbias ? dev_copy(dbias, (size_t)OC * sizeof(float)) : NULL;
    gpu->matmul_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, BT, C, OC);
    cpu->matmul_backward(dinp, dweight, dbias, dout, inp, weight, BT, C, OC);
    int ok = check_output("matmul_backward dinp", d_dinp, dinp, n_inp, 2e-6 * OC + 1e-6, 1e-5, bound_dinp);
    ok &= check_output("matmul_backward dweight", d_dw, dweight, n_w, 2e-6 * BT + 1e-6, 1e-5, bound_dw);
    if (dbias)
        ok &= check_output("matmul_backward dbias", d_db, dbias, (size_t)OC, 1e-5 * BT, 1e-5, NULL);
    tap_result(ok, "matmul_backward BT=%d C=%d OC=%d bias=%d %s", BT, C, OC, with_bias,
               exact ? "bf16-exact" : "fp32 inputs");

    /* dinp and dbias may be NULL: only dweight moves */
    float *dweight2 = random_floats(n_w, -1, 1);
    void *d_dw2 = dev_copy(dweight2, n_w * sizeof(float));
    gpu->matmul_backward(NULL, d_dw2, NULL, d_dout, d_inp, d_w, BT, C, OC);
    cpu->matmul_backward(NULL, dweight2, NULL, dout, inp, weight, BT, C, OC);
    tap_result(check_output("matmul_backward dweight only", d_dw2, dweight2, n_w, 2e-6 * BT + 1e-6, 1e-5, bound_dw),
               "matmul_backward BT=%d C=%d OC=%d with dinp = dbias = NULL", BT, C, OC);

    gpu->free(d_inp), gpu->free(d_w), gpu->free(d_dout);
    if (d_bias)
        gpu->free(d_bias);
    free(inp), free(weight), free(bias), free(out), free(dout), free(dinp), free(dweight), free(dbias);
    free(bound_dinp), free(bound_dw), free(dweight2);
}

/* ---- residual and the SSM gates ---------------------------------------------------------------- */

/* The GPU's bf16 GEMMs against the CPU's bf16 reference table (docs/design.md §7.3) on fp32 inputs: the
 * same rounding of the same inputs (to nearest, ties to even), exact products, fp32 sums; only the order
 * of the sums may differ. Bound: 4 (K+2) 2^-24 sum |a b| (the 4 allows tensor cores' own rounding of
 * partial sums), several times tighter than what inputs rounded another way (truncated) would give. */
static void test_matmul_vs_cpu_bf16(int BT, int C, int OC)
{
    const birdie_ops *ref = birdie_ops_cpu_bf16_reference_table();
    size_t n_inp = (size_t)BT * C, n_w = (size_t)OC * C, n_out = (size_t)BT * OC;
    float *inp = random_floats(n_inp, -1, 1), *weight = random_floats(n_w, -1, 1);
    float *bias = random_floats((size_t)OC, -1, 1), *dout = random_floats(n_out, -1, 1);
    float *dweight = random_floats(n_w, -1, 1), *out = host_alloc(n_out * sizeof(float));
    float *dinp = host_alloc(n_inp * sizeof(float));
    /* the weight through the table's own upload, so its bf16 copy is made from these values */
    float *w_ref = ref->alloc(n_w * sizeof(float));
    ref->upload(w_ref, weight, n_w * sizeof(float));
    float *ai = abs_floats(inp, n_inp), *aw = abs_floats(weight, n_w), *ad = abs_floats(dout, n_out);
    float *b_out = host_alloc(n_out * sizeof(float)), *b_inp = host_alloc(n_inp * sizeof(float));
    float *b_w = host_alloc(n_w * sizeof(float)), *ab = abs_floats(bias, (size_t)OC);
    cpu->matmul_forward(b_out, ai, aw, ab, BT, C, OC);
    cpu->matmul_backward(b_inp, b_w, NULL, ad, ai, aw, BT, C, OC);
    for (size_t i = 0; i < n_out; i++)
        b_out[i] *= (float)(4.0 * (C + 2) * 0x1.0p-24 * 1.01);
    for (size_t i = 0; i < n_inp; i++)
        b_inp[i] *= (float)(4.0 * (OC + 2) * 0x1.0p-24 * 1.01);
    for (size_t i = 0; i < n_w; i++) /* plus the accumulated fp32 term */
        b_w[i] = (float)((b_w[i] + fabs(dweight[i])) * 4.0 * (BT + 2) * 0x1.0p-24 * 1.01);

    void *d_inp = dev_copy(inp, n_inp * sizeof(float)), *d_w = dev_copy(weight, n_w * sizeof(float));
    void *d_bias = dev_copy(bias, (size_t)OC * sizeof(float)), *d_out = dev_nan(n_out * sizeof(float));
    void *d_dout = dev_copy(dout, n_out * sizeof(float)), *d_dinp = dev_nan(n_inp * sizeof(float));
    void *d_dw = dev_copy(dweight, n_w * sizeof(float));
    ref->matmul_forward(out, inp, w_ref, bias, BT, C, OC);
    gpu->matmul_forward(d_out, d_inp, d_w, d_bias, BT, C, OC);
    int ok = check_output("matmul_forward vs cpu bf16", d_out, out, n_out, 0.0, 0.0, b_out);
    ref->matmul_backward(dinp, dweight, NULL, dout, inp, w_ref, BT, C, OC);
    gpu->matmul_backward(d_dinp, d_dw, NULL, d_dout, d_inp, d_w, BT, C, OC);
    ok &= check_output("matmul_backward dinp vs cpu bf16", d_dinp, dinp, n_inp, 0.0, 0.0, b_inp);
    ok &= check_output("matmul_backward dweight vs cpu bf16", d_dw, dweight, n_w, 0.0, 0.0, b_w);
    tap_result(ok, "matmul BT=%d C=%d OC=%d against the CPU's bf16 reference (same rounding, fp32 sums)", BT, C, OC);

    gpu->free(d_inp), gpu->free(d_w), gpu->free(d_bias), gpu->free(d_dout), gpu->free(d_dw), gpu->free(d_out);
    gpu->free(d_dinp);
    ref->free(w_ref);
    free(inp), free(weight), free(bias), free(dout), free(dweight), free(out), free(dinp);
    free(ai), free(aw), free(ad), free(ab), free(b_out), free(b_inp), free(b_w);
}

/* The fp32 table's GEMMs ([train] precision = fp32) against the CPU twin: both fp32 throughout, so
 * within 4 (K+2) 2^-24 sum |a b| of each other, far below what bf16 (or TF32) inputs would give. */
static void test_matmul_fp32(int BT, int C, int OC)
{
    const birdie_ops *g32 = birdie_ops_cuda_fp32_table();
    size_t n_inp = (size_t)BT * C, n_w = (size_t)OC * C, n_out = (size_t)BT * OC;
    float *inp = random_floats(n_inp, -1, 1), *weight = random_floats(n_w, -1, 1);
    float *bias = random_floats((size_t)OC, -1, 1), *dout = random_floats(n_out, -1, 1);
    float *dweight = random_floats(n_w, -1, 1), *out = host_alloc(n_out * sizeof(float));
    float *dinp = host_alloc(n_inp * sizeof(float)), *dbias = random_floats((size_t)OC, -1, 1);
    float *ai = abs_floats(inp, n_inp), *aw = abs_floats(weight, n_w), *ad = abs_floats(dout, n_out);
    float *b_out = host_alloc(n_out * sizeof(float)), *b_inp = host_alloc(n_inp * sizeof(float));
    float *b_w = host_alloc(n_w * sizeof(float)), *ab = abs_floats(bias, (size_t)OC);
    cpu->matmul_forward(b_out, ai, aw, ab, BT, C, OC);
    cpu->matmul_backward(b_inp, b_w, NULL, ad, ai, aw, BT, C, OC);
    for (size_t i = 0; i < n_out; i++)
        b_out[i] *= (float)(4.0 * (C + 2) * 0x1.0p-24 * 1.01);
    for (size_t i = 0; i < n_inp; i++)
        b_inp[i] *= (float)(4.0 * (OC + 2) * 0x1.0p-24 * 1.01);
    for (size_t i = 0; i < n_w; i++)
        b_w[i] = (float)((b_w[i] + fabs(dweight[i])) * 4.0 * (BT + 2) * 0x1.0p-24 * 1.01);

    void *d_inp = dev_copy(inp, n_inp * sizeof(float)), *d_w = dev_copy(weight, n_w * sizeof(float));
    void *d_bias = dev_copy(bias, (size_t)OC * sizeof(float)), *d_out = dev_nan(n_out * sizeof(float));
    void *d_dout = dev_copy(dout, n_out * sizeof(float)), *d_dinp = dev_nan(n_inp * sizeof(float));
    void *d_dw = dev_copy(dweight, n_w * sizeof(float)), *d_db = dev_copy(dbias, (size_t)OC * sizeof(float));
    cpu->matmul_forward(out, inp, weight, bias, BT, C, OC);
    g32->matmul_forward(d_out, d_inp, d_w, d_bias, BT, C, OC);
    int ok = check_output("fp32 matmul_forward", d_out, out, n_out, 0.0, 0.0, b_out);
    cpu->matmul_backward(dinp, dweight, dbias, dout, inp, weight, BT, C, OC);
    g32->matmul_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, BT, C, OC);
    ok &= check_output("fp32 matmul_backward dinp", d_dinp, dinp, n_inp, 0.0, 0.0, b_inp);
    ok &= check_output("fp32 matmul_backward dweight", d_dw, dweight, n_w, 0.0, 0.0, b_w);
    ok &= check_output("fp32 matmul_backward dbias", d_db, dbias, (size_t)OC, 1e-5 * BT, 1e-5, NULL);
    tap_result(ok, "matmul BT=%d C=%d OC=%d on the fp32 table (precision = fp32) against the CPU twin", BT, C, OC);

    gpu->free(d_inp), gpu->free(d_w), gpu->free(d_bias), gpu->free(d_out), gpu->free(d_dout), gpu->free(d_dinp);
    gpu->free(d_dw), gpu->free(d_db);
    free(inp), free(weight), free(bias), free(dout), free(dweight), free(out), free(dinp), free(dbias);
    free(ai), free(aw), free(ad), free(ab), free(b_out), free(b_inp), free(b_w);
}

static void test_residual(size_t n)
{
    float *a = random_floats(n, -1, 1), *b = random_floats(n, -1, 1), *out = host_alloc(n * sizeof(float));
    cpu->residual_forward(out, a, b, n);
    void *d_a = dev_copy(a, n * sizeof(float)), *d_b = dev_copy(b, n * sizeof(float)),
         *d_out = dev_nan(n * sizeof(float));
    gpu->residual_forward(d_out, d_a, d_b, n);
    tap_result(check_output("residual_forward", d_out, out, n, 0, 0, NULL), "residual_forward n=%zu", n);
    gpu->free(d_a), gpu->free(d_b);
    free(a), free(b), free(out);
}

/* The CPU twin's GeLU uses fast_tanhf (kernels/cpu/fastmath.h): its gelu is within 3.2e-7 and its
 * gelu' within 1.3e-6 (near x = -3.5) of the exact values over [-4, 4], while the GPU's tanhf is
 * within 2 ulp. Outputs that carry gelu or gelu' times |h| or |dg * h| (up to 2 here) differ by that
 * much on a correct kernel, so they get this absolute tolerance (a wrong index or slot is off by ~0.1). */
#define GELU_ATOL 4e-6

static void test_ssm_gates(int BT, int N)
{
    size_t n = (size_t)BT * N, n_proj = 4 * n;
    float *proj = random_floats(n_proj, -4, 4), *h = random_floats(n, -2, 2);
    void *d_proj = dev_copy(proj, n_proj * sizeof(float)), *d_h = dev_copy(h, n * sizeof(float));

    float *x = host_alloc(n * sizeof(float)), *f = host_alloc(n * sizeof(float));
    cpu->ssm_gates_forward(x, f, proj, BT, N);
    void *d_x = dev_nan(n * sizeof(float)), *d_f = dev_nan(n * sizeof(float));
    gpu->ssm_gates_forward(d_x, d_f, d_proj, BT, N);
    int ok = check_output("ssm_gates_forward x", d_x, x, n, 1e-6, 1e-5, NULL);
    ok &= check_output("ssm_gates_forward f", d_f, f, n, 1e-6, 1e-5, NULL);
    tap_result(ok, "ssm_gates_forward BT=%d N=%d", BT, N);
    void *d_f_alone = dev_nan(n * sizeof(float)); /* x NULL: the forget gate alone */
    gpu->ssm_gates_forward(NULL, d_f_alone, d_proj, BT, N);
    tap_result(check_output("ssm_gates_forward f alone", d_f_alone, f, n, 1e-6, 1e-5, NULL),
               "ssm_gates_forward (x NULL) BT=%d N=%d", BT, N);

    /* backward writes the a_i, a_z, a_f slots; the a_o slot keeps its (random) contents */
    float *dx = random_floats(n, -1, 1), *df = random_floats(n, -1, 1), *dproj = random_floats(n_proj, -1, 1);
    void *d_dx = dev_copy(dx, n * sizeof(float)), *d_df = dev_copy(df, n * sizeof(float));
    void *d_dproj = dev_copy(dproj, n_proj * sizeof(float));
    gpu->ssm_gates_backward(d_dproj, d_dx, d_df, d_proj, BT, N);
    cpu->ssm_gates_backward(dproj, dx, df, proj, BT, N);
    tap_result(check_output("ssm_gates_backward dproj", d_dproj, dproj, n_proj, 1e-6, 1e-5, NULL),
               "ssm_gates_backward BT=%d N=%d (a_o slot untouched)", BT, N);

    float *g = host_alloc(n * sizeof(float));
    cpu->ssm_output_forward(g, proj, h, BT, N);
    void *d_g = dev_nan(n * sizeof(float));
    gpu->ssm_output_forward(d_g, d_proj, d_h, BT, N);
    tap_result(check_output("ssm_output_forward", d_g, g, n, GELU_ATOL, 1e-5, NULL), "ssm_output_forward BT=%d N=%d",
               BT, N);

    /* output backward writes only the a_o slot of dproj, and dh */
    float *dg = random_floats(n, -1, 1), *dh = host_alloc(n * sizeof(float)), *dproj2 = random_floats(n_proj, -1, 1);
    void *d_dg = dev_copy(dg, n * sizeof(float)), *d_dh = dev_nan(n * sizeof(float));
    void *d_dproj2 = dev_copy(dproj2, n_proj * sizeof(float));
    gpu->ssm_output_backward(d_dproj2, d_dh, d_dg, d_proj, d_h, BT, N);
    cpu->ssm_output_backward(dproj2, dh, dg, proj, h, BT, N);
    ok = check_output("ssm_output_backward dproj", d_dproj2, dproj2, n_proj, GELU_ATOL, 1e-5, NULL);
    ok &= check_output("ssm_output_backward dh", d_dh, dh, n, GELU_ATOL, 1e-5, NULL);
    tap_result(ok, "ssm_output_backward BT=%d N=%d (other slots untouched)", BT, N);

    gpu->free(d_proj), gpu->free(d_h), gpu->free(d_dx), gpu->free(d_df), gpu->free(d_dg), gpu->free(d_f_alone);
    free(proj), free(h), free(x), free(f), free(dx), free(df), free(dproj), free(g), free(dg), free(dh), free(dproj2);
}

/* ---- scan -------------------------------------------------------------------------------------- */

static uint8_t *random_resets(int B, int T, double p_reset)
{
    uint8_t *r = host_alloc((size_t)B * T);
    for (size_t i = 0; i < (size_t)B * T; i++) {
        uint8_t bits = 0;
        if (birdie_rng_uniform(&rng) < p_reset)
            bits |= BIRDIE_RESET_FWD;
        if (birdie_rng_uniform(&rng) < p_reset)
            bits |= BIRDIE_RESET_REV;
        r[i] = bits;
    }
    return r;
}

static void test_scan(int B, int T, int N, int n_fwd, double p_reset)
{
    size_t n = (size_t)B * T * N;
    /* gates up to 0.97: an fp32 rounding difference lives ~30 steps, so the tolerance below holds */
    float *x = random_floats(n, -1, 1), *f = random_floats(n, 0.3f, 0.97f);
    uint8_t *resets = random_resets(B, T, p_reset);
    float *h = host_alloc(n * sizeof(float));
    cpu->scan_forward(h, x, f, resets, B, T, N, n_fwd);
    void *d_x = dev_copy(x, n * sizeof(float)), *d_f = dev_copy(f, n * sizeof(float));
    void *d_resets = dev_copy(resets, (size_t)B * T), *d_h = dev_nan(n * sizeof(float));
    gpu->scan_forward(d_h, d_x, d_f, d_resets, B, T, N, n_fwd);
    /* the GPU fuses f*h + x into one multiply-add: an ulp per step apart from the CPU */
    tap_result(check_output("scan_forward h", d_h, h, n, 2e-5, 2e-5, NULL),
               "scan_forward B=%d T=%d N=%d n_fwd=%d resets=%.2f", B, T, N, n_fwd, p_reset);

    float *dh = random_floats(n, -1, 1), *dx = host_alloc(n * sizeof(float)), *df = host_alloc(n * sizeof(float));
    cpu->scan_backward(dx, df, dh, h, f, resets, B, T, N, n_fwd);
    void *d_dh = dev_copy(dh, n * sizeof(float)), *d_hc = dev_copy(h, n * sizeof(float));
    void *d_dx = dev_nan(n * sizeof(float)), *d_df = dev_nan(n * sizeof(float));
    gpu->scan_backward(d_dx, d_df, d_dh, d_hc, d_f, d_resets, B, T, N, n_fwd);
    int ok = check_output("scan_backward dx", d_dx, dx, n, 2e-5, 2e-5, NULL);
    ok &= check_output("scan_backward df", d_df, df, n, 2e-5, 2e-5, NULL);
    tap_result(ok, "scan_backward B=%d T=%d N=%d n_fwd=%d resets=%.2f", B, T, N, n_fwd, p_reset);
    gpu->free(d_x), gpu->free(d_f), gpu->free(d_resets), gpu->free(d_dh), gpu->free(d_hc);
    free(x), free(f), free(resets), free(h), free(dh), free(dx), free(df);
}

/* ---- cross-entropy ----------------------------------------------------------------------------- */

static void test_crossentropy(int BT, int V, int in_place)
{
    size_t n = (size_t)BT * V;
    float *logits = random_floats(n, -8, 8);
    int32_t *targets = host_alloc((size_t)BT * sizeof(int32_t));
    for (int i = 0; i < BT; i++)
        targets[i] =
            birdie_rng_below(&rng, 4) == 0 ? BIRDIE_IGNORE_LABEL : (int32_t)birdie_rng_below(&rng, (uint64_t)V);
    targets[0] = V - 1; /* the last column, where an off-by-one would show */
    const float dloss = 1.0f / 37.0f;
    float *losses = host_alloc((size_t)BT * sizeof(float)), *dlogits = host_alloc(n * sizeof(float));
    cpu->crossentropy_forward_backward(losses, dlogits, logits, targets, BT, V, dloss);
    void *d_logits = dev_copy(logits, n * sizeof(float)), *d_targets = dev_copy(targets, (size_t)BT * sizeof(int32_t));
    void *d_losses = dev_nan((size_t)BT * sizeof(float));
    void *d_dlogits = in_place ? d_logits : dev_nan(n * sizeof(float));
    gpu->crossentropy_forward_backward(d_losses, d_dlogits, d_logits, d_targets, BT, V, dloss);
    int ok = check_output("crossentropy losses", d_losses, losses, (size_t)BT, 1e-5, 1e-5, NULL);
    ok &= check_output("crossentropy dlogits", d_dlogits, dlogits, n, 1e-7, 1e-4, NULL);
    if (!in_place)
        gpu->free(d_logits);
    gpu->free(d_targets);
    tap_result(ok, "crossentropy_forward_backward BT=%d V=%d %s", BT, V,
               in_place ? "dlogits aliases logits" : "separate");
    free(logits), free(targets), free(losses), free(dlogits);
}

/* ---- optimizer --------------------------------------------------------------------------------- */

static void test_sum_squares(size_t n)
{
    float *x = random_floats(n, -3, 3);
    void *d_x = dev_copy(x, n * sizeof(float));
    double want = cpu->sum_squares(x, n), got = gpu->sum_squares(d_x, n), again = gpu->sum_squares(d_x, n);
    int ok = fabs(got - want) <= 1e-9 * fabs(want) + 1e-12;
    if (!ok)
        diag("sum_squares: %.17g, CPU twin %.17g", got, want);
    ok &= same_bits("sum_squares", &got, &again, sizeof got);
    tap_result(ok, "sum_squares n=%zu (deterministic)", n);
    gpu->free(d_x);
    free(x);
}

static void test_adamw(size_t n)
{
    float *param = random_floats(n, -1, 1), *m = random_floats(n, -0.01f, 0.01f), *v = random_floats(n, 0, 1e-4f);
    void *d_param = dev_copy(param, n * sizeof(float)), *d_m = dev_copy(m, n * sizeof(float));
    void *d_v = dev_copy(v, n * sizeof(float));
    int ok = 1;
    for (int step = 1; step <= 3; step++) {
        float *grad = random_floats(n, -2, 2);
        void *d_grad = dev_copy(grad, n * sizeof(float));
        birdie_adamw_params p = {.lr = 1e-3f,
                                 .beta1 = 0.9f,
                                 .beta2 = 0.95f,
                                 .eps = 1e-8f,
                                 .weight_decay = step == 2 ? 0.0f : 0.1f,
                                 .grad_scale = 0.5f,
                                 .step = step};
        cpu->adamw_update(param, grad, m, v, n, &p);
        gpu->adamw_update(d_param, d_grad, d_m, d_v, n, &p);
        gpu->free(d_grad);
        free(grad);
    }
    ok &= check_output("adamw param", d_param, param, n, 1e-6, 1e-5, NULL);
    ok &= check_output("adamw m", d_m, m, n, 1e-8, 1e-5, NULL);
    ok &= check_output("adamw v", d_v, v, n, 1e-10, 1e-5, NULL);
    tap_result(ok, "adamw_update n=%zu, 3 steps", n);
    free(param), free(m), free(v);
}

/* The one-launch AdamW against the CPU twin (same tolerances as adamw_update), and against the
 * GPU's own per-tensor adamw_update bit for bit (the model switched from one to the other and must
 * train the same). Segments have both decay flags, an empty one and a gap, which stays untouched. */
static void test_adamw_segments(size_t scale)
{
    const birdie_adamw_segment segs[] = {{0, 13 * scale, 1},          {13 * scale, 20 * scale, 0},
                                         {33 * scale, 0, 1},          {33 * scale, 7 * scale, 0},
                                         {45 * scale, 30 * scale, 1}, {75 * scale, 20 * scale + 1, 1}};
    const int n_segs = (int)(sizeof segs / sizeof segs[0]);
    const size_t n = 101 * scale;
    float *param = random_floats(n, -1, 1), *m = random_floats(n, -0.01f, 0.01f), *v = random_floats(n, 0, 1e-4f);
    float *param0 = copy_floats(param, n);
    void *d_param = dev_copy(param, n * sizeof(float)), *d_m = dev_copy(m, n * sizeof(float));
    void *d_v = dev_copy(v, n * sizeof(float));
    void *r_param = dev_copy(param, n * sizeof(float)), *r_m = dev_copy(m, n * sizeof(float));
    void *r_v = dev_copy(v, n * sizeof(float));
    for (int step = 1; step <= 3; step++) {
        float *grad = random_floats(n, -2, 2);
        void *d_grad = dev_copy(grad, n * sizeof(float));
        birdie_adamw_params p = {.lr = 1e-3f,
                                 .beta1 = 0.9f,
                                 .beta2 = 0.95f,
                                 .eps = 1e-8f,
                                 .weight_decay = 0.1f,
                                 .grad_scale = 0.5f,
                                 .step = step};
        cpu->adamw_update_segments(param, grad, m, v, segs, n_segs, &p);
        gpu->adamw_update_segments(d_param, d_grad, d_m, d_v, segs, n_segs, &p);
        for (int k = 0; k < n_segs; k++) {
            birdie_adamw_params one = p;
            one.weight_decay = segs[k].decay ? p.weight_decay : 0.0f;
            size_t o = segs[k].offset * sizeof(float);
            gpu->adamw_update((float *)((char *)r_param + o), (const float *)((char *)d_grad + o),
                              (float *)((char *)r_m + o), (float *)((char *)r_v + o), segs[k].count, &one);
        }
        gpu->free(d_grad);
        free(grad);
    }
    float *got = host_alloc(n * sizeof(float)), *per_tensor = host_alloc(n * sizeof(float));
    gpu->download(got, d_param, n * sizeof(float));
    int ok = 1;
    for (size_t i = 40 * scale; i < 45 * scale && ok; i++)
        if (memcmp(&got[i], &param0[i], sizeof(float)) != 0) {
            diag("adamw_update_segments: element %zu of the gap changed", i);
            ok = 0;
        }
    float *bufs[3] = {d_param, d_m, d_v}, *refs[3] = {r_param, r_m, r_v};
    for (int b = 0; b < 3; b++) {
        gpu->download(got, bufs[b], n * sizeof(float));
        gpu->download(per_tensor, refs[b], n * sizeof(float));
        if (memcmp(got, per_tensor, n * sizeof(float)) != 0) {
            diag("adamw_update_segments: buffer %d differs from adamw_update tensor by tensor", b);
            ok = 0;
        }
        gpu->free(refs[b]);
    }
    ok &= check_output("adamw_update_segments param", d_param, param, n, 1e-6, 1e-5, NULL);
    ok &= check_output("adamw_update_segments m", d_m, m, n, 1e-8, 1e-5, NULL);
    ok &= check_output("adamw_update_segments v", d_v, v, n, 1e-10, 1e-5, NULL);
    tap_result(ok, "adamw_update_segments n=%zu, 6 segments with a gap, 3 steps (= adamw_update per tensor)", n);
    free(param), free(m), free(v), free(param0), free(got), free(per_tensor);
}

/* After reserve for a step's shapes, the ops of such a step allocate nothing: a growth of scratch
 * frees and re-allocates, which waits for the whole device in the middle of the step. */
static void test_reserve(void)
{
    const int BT = 2048, C = 96, N = 160, V = 384;
    birdie_op_shapes shapes = {.rows = BT, .width = C, .n_matmuls = 3, .matmul = {{C, 4 * N}, {N, C}, {C, V}}};
    if (gpu->reserve(&shapes) < 0)
        bail_out("reserve failed");
    long before = birdie_cuda_scratch_growths();
    const int mm[3][2] = {{C, 4 * N}, {N, C}, {C, V}};
    for (int k = 0; k < 3; k++) {
        int K = mm[k][0], OC = mm[k][1];
        float *inp = gpu->alloc((size_t)BT * K * 4), *w = gpu->alloc((size_t)OC * K * 4);
        float *bias = gpu->alloc((size_t)OC * 4), *out = gpu->alloc((size_t)BT * OC * 4);
        float *dinp = gpu->alloc((size_t)BT * K * 4), *dw = gpu->alloc((size_t)OC * K * 4);
        float *dbias = gpu->alloc((size_t)OC * 4);
        if (!inp || !w || !bias || !out || !dinp || !dw || !dbias)
            bail_out("cuda alloc failed");
        gpu->matmul_forward(out, inp, w, bias, BT, K, OC);
        gpu->matmul_backward(dinp, dw, dbias, out, inp, w, BT, K, OC);
        gpu->free(inp), gpu->free(w), gpu->free(bias), gpu->free(out), gpu->free(dinp), gpu->free(dw), gpu->free(dbias);
    }
    float *x = gpu->alloc((size_t)BT * C * 4), *dx = gpu->alloc((size_t)BT * C * 4), *wt = gpu->alloc((size_t)C * 4);
    float *rstd = gpu->alloc((size_t)BT * 4), *dwt = gpu->alloc((size_t)C * 4), *dwte = gpu->alloc((size_t)V * C * 4);
    int32_t *tokens = gpu->alloc((size_t)BT * 4);
    if (!x || !dx || !wt || !rstd || !dwt || !dwte || !tokens)
        bail_out("cuda alloc failed");
    gpu->rmsnorm_backward(dx, dwt, x, x, wt, rstd, BT, C);
    gpu->embedding_backward(dwte, x, tokens, BT, C);
    (void)gpu->sum_squares(x, (size_t)BT * C);
    gpu->synchronize();
    long after = birdie_cuda_scratch_growths();
    if (after != before)
        diag("scratch grew %ld times after reserve", after - before);
    tap_result(after == before, "reserve: a step's matmuls, column sums, embedding backward and sum of squares "
                                "allocate no scratch");
    gpu->free(x), gpu->free(dx), gpu->free(wt), gpu->free(rstd), gpu->free(dwt), gpu->free(dwte), gpu->free(tokens);
}

/* ---- --perf: speed against the measured ceilings ----------------------------------------------- */

static void perf(void)
{
    char err[256];
    double copy = 0, gemm = 0;
    if (birdie_cuda_measure_copy_bandwidth(&copy, 0, 0, err, sizeof err) < 0)
        diag("copy bandwidth: %s", err);
    if (birdie_cuda_measure_gemm_rate(&gemm, 0, 0, err, sizeof err) < 0)
        diag("gemm rate: %s", err);
    diag("ceilings: D2D copy %.0f GB/s, bf16 GEMM %.1f TFLOP/s", copy / 1e9, gemm / 1e12);
    birdie_cuda_timer *timer = birdie_cuda_timer_create(err, sizeof err);
    if (!timer) {
        diag("timer: %s", err);
        return;
    }
    /* Hawk-like shape: B=8 rows of T=2048, N=2560 channels, half of them reverse */
    const int B = 8, T = 2048, N = 2560, reps = 10;
    size_t n = (size_t)B * T * N, bytes = n * sizeof(float);
    float *x = gpu->alloc(bytes), *f = gpu->alloc(bytes), *h = gpu->alloc(bytes), *dx = gpu->alloc(bytes),
          *df = gpu->alloc(bytes);
    uint8_t *resets = gpu->alloc((size_t)B * T);
    if (!x || !f || !h || !dx || !df || !resets)
        bail_out("perf: cuda alloc failed");
    gpu->scan_forward(h, x, f, resets, B, T, N, N / 2);
    birdie_cuda_timer_start(timer);
    for (int i = 0; i < reps; i++)
        gpu->scan_forward(h, x, f, resets, B, T, N, N / 2);
    double fwd_ms = birdie_cuda_timer_stop_ms(timer) / reps;
    birdie_cuda_timer_start(timer);
    for (int i = 0; i < reps; i++)
        gpu->scan_backward(dx, df, x, h, f, resets, B, T, N, N / 2);
    double bwd_ms = birdie_cuda_timer_stop_ms(timer) / reps;
    diag("scan_forward  B=%d T=%d N=%d: %.3f ms, %.0f GB/s (%.0f%% of copy)", B, T, N, fwd_ms,
         12.0 * n / (fwd_ms * 1e-3) / 1e9, 100.0 * 12.0 * n / (fwd_ms * 1e-3) / copy);
    diag("scan_backward B=%d T=%d N=%d: %.3f ms, %.0f GB/s (%.0f%% of copy)", B, T, N, bwd_ms,
         20.0 * n / (bwd_ms * 1e-3) / 1e9, 100.0 * 20.0 * n / (bwd_ms * 1e-3) / copy);
    gpu->free(x), gpu->free(f), gpu->free(h), gpu->free(dx), gpu->free(df), gpu->free(resets);

    /* the model's projection GEMM: (B*T, D) @ (4N, D)^T, on random inputs (zeros run about 10% fast) */
    const int BT = 16384, C = 2048, OC = 4 * 2048;
    float *h_inp = random_floats((size_t)BT * C, -1, 1), *h_w = random_floats((size_t)OC * C, -1, 1);
    float *inp = gpu->alloc((size_t)BT * C * 4), *w = gpu->alloc((size_t)OC * C * 4),
          *out = gpu->alloc((size_t)BT * OC * 4);
    if (!inp || !w || !out)
        bail_out("perf: cuda alloc failed");
    gpu->upload(inp, h_inp, (size_t)BT * C * 4);
    gpu->upload(w, h_w, (size_t)OC * C * 4);
    free(h_inp), free(h_w);
    gpu->matmul_forward(out, inp, w, NULL, BT, C, OC);
    birdie_cuda_timer_start(timer);
    for (int i = 0; i < reps; i++)
        gpu->matmul_forward(out, inp, w, NULL, BT, C, OC);
    double mm_ms = birdie_cuda_timer_stop_ms(timer) / reps;
    double flops = 2.0 * BT * C * OC / (mm_ms * 1e-3);
    diag("matmul_forward BT=%d C=%d OC=%d: %.3f ms, %.1f TFLOP/s (%.0f%% of measured bf16 GEMM)", BT, C, OC, mm_ms,
         flops / 1e12, 100.0 * flops / gemm);
    gpu->free(inp), gpu->free(w), gpu->free(out);
    birdie_cuda_timer_destroy(timer);
}

/* ---- main -------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    char err[512] = "", device[256];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (birdie_cuda_describe(device, sizeof device, err, sizeof err) < 0 || !(gpu = birdie_ops_cuda_table())) {
        printf("1..0 # SKIP no GPU: %s\n", gpu || err[0] ? err : "this build has no CUDA op table");
        return 77;
    }
    diag("device: %s", device);
    rng = birdie_rng_stream(20240607, 0, 0, BIRDIE_RNG_TEST);

    test_memory();
    test_upload_async();
    test_reserve(); /* first, before other tests grow the scratch past what it reserves */
    test_embedding(1, 1, 1);
    test_embedding(37, 67, 384);
    test_embedding(1031, 129, 5); /* few tokens: long segments */
    test_embedding_repeated(4096, 768, 384, 0); /* one token: every chunk of the backward is one run */
    test_embedding_repeated(16411, 65, 384, 7); /* the space byte of real text, runs cut by other tokens */
    test_embedding_repeated(129, 33, 3, 2); /* chunks of many short runs; BT not a multiple of a chunk */
    test_rmsnorm(1, 1);
    test_rmsnorm(37, 67);
    test_rmsnorm(517, 768);
    test_rmsnorm(20011, 3); /* more rows than 256 chunks of 64: the column sum's capped chunk count */
    test_matmul(1, 1, 1, 1, 1);
    test_matmul(67, 129, 93, 1, 1);
    test_matmul(67, 129, 93, 0, 0);
    test_matmul(257, 384, 1031, 1, 0);
    test_matmul(512, 768, 384, 0, 1);
    test_matmul(20011, 5, 7, 1, 1); /* the bias gradient's capped chunk count; K = 20011 in dweight */
    test_matmul_vs_cpu_bf16(67, 129, 93);
    test_matmul_vs_cpu_bf16(257, 384, 1031);
    test_matmul_fp32(67, 129, 93);
    test_matmul_fp32(257, 384, 1031);
    test_residual(1);
    test_residual(100003);
    test_residual(((size_t)1 << 24) + 4099); /* beyond the grid cap: each thread loops */
    test_ssm_gates(1, 1);
    test_ssm_gates(37, 33);
    test_ssm_gates(129, 256);
    test_scan(1, 1, 1, 1, 0.0);
    test_scan(1, 1, 1, 0, 0.0);
    test_scan(2, 17, 33, 33, 0.1); /* causal: every channel forward */
    test_scan(2, 17, 33, 0, 0.1); /* every channel reverse */
    test_scan(3, 41, 67, 29, 0.05); /* mixed, the split inside a warp */
    test_scan(2, 1000, 300, 150, 0.01); /* T across many prefetch groups, several blocks */
    test_scan(1, 33, 129, 64, 0.5); /* dense resets */
    test_scan(65, 40, 512, 256, 0.05); /* B*N = 33280 channels: the 16-step prefetch (the others take 32) */
    test_crossentropy(1, 1, 0);
    test_crossentropy(37, 384, 0);
    test_crossentropy(37, 384, 1);
    test_crossentropy(19, 1031, 1);
    test_sum_squares(1);
    test_sum_squares(1000003);
    test_adamw(1);
    test_adamw(100003);
    test_adamw_segments(1);
    test_adamw_segments(1009);

    if (argc > 1 && strcmp(argv[1], "--perf") == 0)
        perf();
    printf("1..%d\n", tests_run);
    diag("%d passed, %d failed", tests_run - tests_failed, tests_failed);
    return tests_failed ? 1 : 0;
}
