/* tests/kernels/cpu/test_parallel.c: the promise of kernels/cpu/parallel.h that the CPU twin's ops give
 * the same bits for any number of threads (so runs repeat bit for bit whatever the cores), checked on
 * the ops spread over cores (RMSNorm's forward, the gated scan both ways, the cross-entropy, the gates
 * and the gated output, the bf16 rounding) and on those that sum across rows and stay serial for it
 * (RMSNorm's backward, the bias gradient), so that threading one later cannot change its bits
 * unnoticed. Shapes are large enough that every op does go parallel (parallel.h's threshold) and odd,
 * so the ranges of 1, 2, 3 and 5 threads all cut differently. Values are checked elsewhere
 * (test_cpu_ops.c); here only that they do not move. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"
#include "tests/common/testutil.h"

enum { B = 3, T = 173, BT = B * T, C = 389, N = 258, V = 131 };

typedef struct bufs {
    float *x, *w, *dy, *rstd, *proj, *h, *f, *xs, *dh, *logits;
    uint8_t *resets;
    int32_t *targets;
} bufs;

static float *rnd(size_t n, float scale, birdie_rng *rng)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    fill_random(p, n, scale, rng);
    return p;
}

static bufs make_inputs(void)
{
    birdie_rng rng = birdie_rng_stream(5, 0, 0, BIRDIE_RNG_TEST);
    bufs b = {.x = rnd((size_t)BT * C, 2.0f, &rng),
              .w = rnd(C, 1.0f, &rng),
              .dy = rnd((size_t)BT * C, 1.0f, &rng),
              .rstd = rnd(BT, 1.0f, &rng),
              .proj = rnd((size_t)BT * 4 * N, 3.0f, &rng),
              .h = rnd((size_t)BT * N, 1.0f, &rng),
              .f = rnd((size_t)BT * N, 1.0f, &rng),
              .xs = rnd((size_t)BT * N, 1.0f, &rng),
              .dh = rnd((size_t)BT * N, 1.0f, &rng),
              .logits = rnd((size_t)BT * V, 4.0f, &rng),
              .resets = malloc(BT),
              .targets = malloc(BT * sizeof(int32_t))};
    assert_non_null(b.resets);
    assert_non_null(b.targets);
    for (int i = 0; i < BT; i++) {
        b.resets[i] = (uint8_t)(birdie_rng_below(&rng, 7) == 0 ? BIRDIE_RESET_FWD : 0) |
                      (uint8_t)(birdie_rng_below(&rng, 7) == 0 ? BIRDIE_RESET_REV : 0);
        b.targets[i] = birdie_rng_below(&rng, 5) == 0 ? BIRDIE_IGNORE_LABEL : (int32_t)birdie_rng_below(&rng, V);
    }
    for (size_t i = 0; i < (size_t)BT * N; i++)
        b.f[i] = 0.5f + 0.45f * b.f[i];
    return b;
}

/* Every op's outputs under the current thread count, concatenated. */
static float *outputs(const bufs *in, size_t *count)
{
    size_t n = 0,
           cap = (size_t)BT * C * 3 + BT + C + (size_t)BT * 4 * N + (size_t)BT * N * 8 + 4 * N + (size_t)BT * V + BT;
    float *o = calloc(cap, sizeof *o);
    assert_non_null(o);
    float *y = o + n, *rstd = o + n + (size_t)BT * C;
    n += (size_t)BT * C + BT;
    cpu_rmsnorm_forward(y, rstd, in->x, in->w, BT, C);
    float *dx = o + n;
    n += (size_t)BT * C;
    float *dweight = o + n;
    n += C;
    cpu_rmsnorm_backward(dx, dweight, in->dy, in->x, in->w, in->rstd, BT, C);
    float *dbias = o + n;
    n += 4 * N;
    cpu_bias_backward(dbias, in->proj, BT, 4 * N);
    float *sum = o + n;
    n += (size_t)BT * C;
    cpu_residual_forward(sum, in->x, in->dy, (size_t)BT * C);
    float *h = o + n;
    n += (size_t)BT * N;
    cpu_scan_forward(h, in->xs, in->f, in->resets, B, T, N, N / 2 + 1);
    float *dxs = o + n, *df = o + n + (size_t)BT * N;
    n += 2 * (size_t)BT * N;
    cpu_scan_backward(dxs, df, in->dh, in->h, in->f, in->resets, B, T, N, N / 2 + 1);
    float *gx = o + n, *gf = o + n + (size_t)BT * N;
    n += 2 * (size_t)BT * N;
    cpu_ssm_gates_forward(gx, gf, in->proj, BT, N);
    float *dproj = o + n;
    n += (size_t)BT * 4 * N;
    cpu_ssm_gates_backward(dproj, in->dh, in->xs, in->proj, BT, N);
    float *g = o + n, *dhh = o + n + (size_t)BT * N;
    n += 2 * (size_t)BT * N;
    cpu_ssm_output_forward(g, in->proj, in->h, BT, N);
    cpu_ssm_output_backward(dproj, dhh, in->dh, in->proj, in->h, BT, N);
    float *losses = o + n, *dlogits = o + n + BT;
    n += BT + (size_t)BT * V;
    cpu_crossentropy_forward_backward(losses, dlogits, in->logits, in->targets, BT, V, 0.01f);
    float *r = o + n;
    n += (size_t)BT * C / 2;
    cpu_bf16_round_f32(r, in->x, (size_t)BT * C / 2);
    assert_true(n <= cap);
    *count = n;
    return o;
}

static void test_same_bits_any_thread_count(void **state)
{
    (void)state;
    assert_true((long)BT * C >= CPU_PARALLEL_MIN_WORK && (long)BT * N >= CPU_PARALLEL_MIN_WORK &&
                (long)BT * V >= CPU_PARALLEL_MIN_WORK);
    bufs in = make_inputs();
    birdie_cpu_set_threads(1);
    size_t n1, n;
    float *one = outputs(&in, &n1);
    static const int counts[] = {2, 3, 5};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        birdie_cpu_set_threads(counts[k]);
        float *many = outputs(&in, &n);
        assert_int_equal(n, n1);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&one[i], &many[i], sizeof one[i]) != 0)
                fail_msg("%d threads: output %zu is %a, one thread gave %a", counts[k], i, (double)many[i],
                         (double)one[i]);
        free(many);
    }
    free(one);
    free(in.x), free(in.w), free(in.dy), free(in.rstd), free(in.proj), free(in.h), free(in.f), free(in.xs);
    free(in.dh), free(in.logits), free(in.resets), free(in.targets);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bits_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
