/* tests/kernels/cuda/test_train_step.c: one full train step of the XS model (Gated SSM, Hawk, Transformer) on the GPU
 * matches the same step
 * on the CPU twin: same initial parameters (both initialise on the host from the seed), same rows,
 * forward + backward; the loss, the gradient norm and every tensor's gradient are compared with
 * tolerances that allow for bf16 GEMM inputs on the GPU (fp32 accumulation and master weights).
 * Parameters after AdamW are not compared: its first step moves every weight by about +-lr whatever
 * the gradient's size, so a near-zero gradient whose sign bf16 flips would fail a correct kernel
 * (AdamW itself is compared op by op in test_ops). The step does run AdamW, so that the whole of it,
 * the pinned batch upload and the one-launch AdamW included, allocates no scratch on the GPU: the
 * model reserves it at init, and a growth mid-step would wait for the whole device.
 * Plain C with TAP output (the GPU machine has no cmocka); exits 77 where no GPU is usable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "worker/model.h"
#include "worker/rng.h"
#include "worker/vocab.h"

enum { B = 4, T = 64 };

static int n_checks, n_failed;

static void check(int ok, const char *what, double got, double want, double tol)
{
    n_checks++;
    n_failed += !ok;
    printf("%s %d - %s (gpu %.6g cpu %.6g, tolerance %.3g)\n", ok ? "ok" : "not ok", n_checks, what, got, want, tol);
}

/* Two samples per row with prefixes, so both scan directions and every reset path run. */
static void make_rows(birdie_rows *r)
{
    birdie_rng rng = birdie_rng_stream(5, 0, 0, BIRDIE_RNG_TEST);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * T + t;
            int second = t >= 40, start = second ? 40 : 0, prefix_len = second ? 8 : 12, pos = t - start;
            int in_prefix = pos < prefix_len;
            r->inputs[i] = pos == prefix_len ? BIRDIE_BEGIN : (int32_t)(32 + birdie_rng_below(&rng, 90));
            r->labels[i] = in_prefix ? -1 : (int32_t)(32 + birdie_rng_below(&rng, 90));
            r->segments[i] = second ? 2 : 1;
            r->prefix[i] = (uint8_t)in_prefix;
            r->resets[i] = (uint8_t)((pos == 0 ? BIRDIE_RESET_FWD : 0) | (in_prefix ? 0 : BIRDIE_RESET_REV));
            r->arms[i] = 0;
        }
}

/* Forward + backward + AdamW; returns the loss, fills the norm and the gradients (host copy). */
static double step(birdie_model *m, const birdie_rows *rows, double *norm, float *grads_out)
{
    long labels = birdie_rows_label_count(rows);
    birdie_model_zero_grad(m);
    double loss = birdie_model_forward(m, rows, 1.0f / (float)labels) / (double)labels;
    birdie_model_backward(m);
    *norm = birdie_model_grad_norm(m);
    m->ops->download(grads_out, m->grads, m->n_params * sizeof(float));
    birdie_model_adamw(m, 1e-3f, 0.1f, *norm > 1.0 ? (float)(1.0 / *norm) : 1.0f, 1);
    m->ops->synchronize();
    return loss;
}

/* One step of the XS model of a family on both backends, compared; 0, or 1 when a model does not build. */
static int compare_family(int family, const birdie_ops *gpu)
{
    char err[512];
    birdie_model_config cfg = {0};
    birdie_model_config_of_family("XS", family, &cfg);
    cfg.bidirectional = 1;
    birdie_model mc, mg;
    if (birdie_model_init(&mc, &cfg, &birdie_ops_cpu, 7, B, T, err, sizeof err) < 0 ||
        birdie_model_init(&mg, &cfg, gpu, 7, B, T, err, sizeof err) < 0) {
        printf("Bail out! model init: %s\n", err); /* a GPU is there: this is a failure, not a skip */
        return 1;
    }
    birdie_rows rows;
    birdie_rows_alloc(&rows, B, T);
    make_rows(&rows);
    float *pc = malloc(mc.n_params * sizeof *pc), *pg = malloc(mg.n_params * sizeof *pg);
    double norm_c, norm_g;
    long growths = birdie_cuda_scratch_growths();
    double loss_c = step(&mc, &rows, &norm_c, pc), loss_g = step(&mg, &rows, &norm_g, pg);
    growths = birdie_cuda_scratch_growths() - growths;
    const char *fam = birdie_model_family_name(family);
    char what[96];
    snprintf(what, sizeof what, "%s: scratch growths during the GPU step (reserved at model init)", fam);
    check(growths == 0, what, (double)growths, 0.0, 0.0);
    snprintf(what, sizeof what, "%s: loss", fam);
    check(fabs(loss_g - loss_c) <= 2e-3 * fabs(loss_c), what, loss_g, loss_c, 2e-3 * fabs(loss_c));
    snprintf(what, sizeof what, "%s: gradient norm", fam);
    check(fabs(norm_g - norm_c) <= 2e-2 * norm_c, what, norm_g, norm_c, 2e-2 * norm_c);
    /* every tensor's gradient: relative L2 error against the CPU twin */
    for (int ti = 0; ti < mc.n_tensors; ti++) {
        const birdie_tensor *t = &mc.tensors[ti];
        double diff = 0, ref = 0;
        for (size_t i = t->offset; i < t->offset + t->count; i++) {
            diff += ((double)pg[i] - pc[i]) * ((double)pg[i] - pc[i]);
            ref += (double)pc[i] * pc[i];
        }
        snprintf(what, sizeof what, "%s: gradient of %s (relative L2 error)", fam, t->name);
        double rel = sqrt(diff) / (sqrt(ref) + 1e-12);
        check(rel <= 5e-2, what, rel, 0.0, 5e-2);
    }
    free(pc);
    free(pg);
    birdie_rows_free(&rows);
    birdie_model_free(&mc);
    birdie_model_free(&mg);
    return 0;
}

int main(void)
{
    char err[512];
    if (birdie_cuda_probe(err, sizeof err) < 0) {
        printf("1..0 # SKIP no GPU: %s\n", err);
        return 77;
    }
    const birdie_ops *gpu = birdie_ops_cuda_table();
    if (compare_family(BIRDIE_FAMILY_GATED_SSM, gpu) || compare_family(BIRDIE_FAMILY_HAWK, gpu) ||
        compare_family(BIRDIE_FAMILY_TRANSFORMER, gpu))
        return 1;
    printf("1..%d\n", n_checks);
    return n_failed ? 1 : 0;
}
