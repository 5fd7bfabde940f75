/* worker/bench.c: birdie-bench, the speed measurements (never a test).
 *
 *   birdie-bench [--backend cpu|cuda|auto] [--precision auto|fp32|bf16] [--model XS|S|125M|350M] [--batch B]
 *                [--seq T] [--steps N]
 *   birdie-bench --packer
 *   birdie-bench --generate [--model S] [--batch B]
 *
 * Times full train steps (forward + backward + AdamW) of the model on random tokens and prints
 * tokens/s, the model FLOP rate against the machine's measured GEMM rate (the practical ceiling of
 * this work; on the GPU also against the H100's 989 TFLOP/s bf16 peak), the scan's achieved bandwidth
 * against a measured copy, and the share of time per op (and of all time outside the GEMM ops, which
 * include their bf16 rounding). --precision picks the GEMM inputs as [train] precision does
 * (worker/precision.h); the ceiling is measured in the same precision. --generate times generation on the CPU
 * (worker/generate.h): tokens/s of one stream and of a batch, and the time per token after prompts of
 * growing length (flat: one recurrent step per token). Numbers go to stdout, one block per run. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_backend.h"
#include "worker/clock.h"
#include "worker/error.h"
#include "worker/generate.h"
#include "worker/model.h"
#include "worker/objectives/bench.h"
#include "worker/objectives/mixture.h"
#include "worker/precision.h"
#include "worker/source.h"
#include "worker/rng.h"
#include "worker/vocab.h"

#define H100_BF16_DENSE_FLOPS 989e12

typedef struct bench_args {
    const char *backend, *precision, *model;
    int batch, seq, steps;
    int packer;
    int generate;
} bench_args;

/* Matmul FLOPs per token of one train step: 2 per multiply-add, x3 for forward + two backward GEMMs. */
static double train_flops_per_token(const birdie_model_config *c)
{
    double C = c->d_model, N = c->d_state, V = c->vocab;
    double per_layer = C * 4 * N + N * C;
    return 6.0 * (c->n_layers * per_layer + V * C);
}

/* The ceiling of GEMM work on this backend: one square product through the backend's own matmul, on
 * random inputs: on a GPU, alloc's zeros run about 10% fast (less power drawn, higher clocks), which
 * would flatter the ceiling and understate the share of it a step reaches. */
static double measure_matmul_rate(const birdie_ops *ops, int n)
{
    size_t bytes = (size_t)n * n * sizeof(float);
    float *a = ops->alloc(bytes), *b = ops->alloc(bytes), *c = ops->alloc(bytes), *host = malloc(bytes);
    if (!a || !b || !c || !host)
        return 0;
    birdie_rng rng = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_TEST);
    for (size_t i = 0; i < (size_t)n * n; i++)
        host[i] = (float)(2.0 * birdie_rng_uniform(&rng) - 1.0);
    ops->upload(a, host, bytes);
    for (size_t i = 0; i < (size_t)n * n; i++)
        host[i] = (float)(2.0 * birdie_rng_uniform(&rng) - 1.0);
    ops->upload(b, host, bytes);
    free(host);
    ops->matmul_forward(c, a, b, NULL, n, n, n); /* warm-up */
    ops->synchronize();
    int reps = 0;
    double t0 = birdie_monotonic_seconds(), dt;
    do {
        ops->matmul_forward(c, a, b, NULL, n, n, n);
        ops->synchronize();
        reps++;
        dt = birdie_monotonic_seconds() - t0;
    } while (dt < 1.0);
    ops->free(a), ops->free(b), ops->free(c);
    return 2.0 * n * (double)n * n * reps / dt;
}

static void random_rows(birdie_rows *rows)
{
    birdie_rng rng = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_TEST);
    for (int b = 0; b < rows->B; b++)
        for (int t = 0; t < rows->T; t++) {
            size_t i = (size_t)b * rows->T + t;
            rows->inputs[i] = t == 0 ? BIRDIE_BEGIN : (int32_t)(32 + birdie_rng_below(&rng, 95));
            rows->labels[i] = (int32_t)(32 + birdie_rng_below(&rng, 95));
            rows->segments[i] = 1;
            rows->resets[i] = (uint8_t)(BIRDIE_RESET_REV | (t == 0 ? BIRDIE_RESET_FWD : 0));
            rows->prefix[i] = 0;
            rows->arms[i] = 0;
        }
}

static int cmp_prof(const void *a, const void *b)
{
    double x = ((const birdie_profile_entry *)a)->seconds, y = ((const birdie_profile_entry *)b)->seconds;
    return (x < y) - (x > y);
}

static int run_model_bench(const bench_args *args)
{
    char err[512], note[256], pnote[512];
    const birdie_ops *ops;
    if (birdie_backend_choose(args->backend, &birdie_ops_cpu, &ops, note, sizeof note, err, sizeof err) < 0) {
        fprintf(stderr, "birdie-bench: %s\n", err);
        return 5;
    }
    int cpu = ops == &birdie_ops_cpu, rc;
    if ((rc = birdie_precision_choose(args->precision, ops, &ops, pnote, sizeof pnote, err, sizeof err)) < 0) {
        fprintf(stderr, "birdie-bench: %s\n", err);
        return birdie_error_exit_class(rc);
    }
    int half = cpu ? ops != &birdie_ops_cpu : ops != birdie_ops_cuda_fp32_table(); /* bf16 GEMM inputs */
    birdie_model_config mc;
    if (birdie_model_config_by_name(args->model, &mc) < 0) {
        fprintf(stderr, "birdie-bench: unknown model '%s' (XS, S, 125M, 350M)\n", args->model);
        return 2;
    }
    mc.bidirectional = 1;
    int T = args->seq ? args->seq : (!strcmp(args->model, "XS") ? 64 : !strcmp(args->model, "S") ? 512 : 2048);
    /* GPU default: 16k tokens per step keeps the stored activations of 350M at T = 2048 near 30 GB */
    int B = args->batch ? args->batch : (cpu ? 8 : (16384 / T > 0 ? 16384 / T : 1));
    birdie_model m;
    if (birdie_model_init(&m, &mc, ops, 1, B, T, err, sizeof err) < 0) {
        fprintf(stderr, "birdie-bench: %s\n", err);
        return 1;
    }
    birdie_rows rows;
    if (birdie_rows_alloc(&rows, B, T) < 0) {
        fprintf(stderr, "birdie-bench: out of memory for rows\n");
        return 1;
    }
    random_rows(&rows);
    long labels = birdie_rows_label_count(&rows);

    printf("birdie-bench: %s\n", note);
    printf("birdie-bench: %s\n", pnote);
    printf("model %s bidirectional | D=%d N=%d L=%d V=%d | %.2fM parameters | B=%d T=%d\n", args->model, mc.d_model,
           mc.d_state, mc.n_layers, mc.vocab, m.n_params / 1e6, B, T);
    int steps = args->steps ? args->steps : 5;
    double total = 0;
    for (int s = 0; s <= steps; s++) { /* step 0 warms caches and is not timed */
        m.profile = s == steps; /* the profiled step synchronises per op: timed separately */
        double t0 = birdie_monotonic_seconds();
        birdie_model_zero_grad(&m);
        birdie_model_forward(&m, &rows, 1.0f / (float)labels);
        birdie_model_backward(&m);
        double norm = birdie_model_grad_norm(&m);
        birdie_model_adamw(&m, 1e-4f, 0.1f, norm > 1.0 ? (float)(1.0 / norm) : 1.0f, s + 1);
        ops->synchronize();
        if (s > 0 && s < steps)
            total += birdie_monotonic_seconds() - t0;
    }
    double prof_total = 0;
    for (int i = 0; i < m.n_prof; i++)
        prof_total += m.prof[i].seconds;
    int timed = steps - 1 > 0 ? steps - 1 : 1;
    if (steps == 1)
        total = prof_total; /* only the profiled step exists (its per-op synchronisation included) */
    double step_s = total / timed, tokens = (double)B * T;
    double flops = train_flops_per_token(&mc) * tokens / step_s;
    int gemm_n = cpu ? (half ? 2048 : 1024) : 8192;
    double gemm = measure_matmul_rate(ops, gemm_n);
    printf("train step (fwd+bwd+AdamW): %.1f ms | %.0f tokens/s | %.2f GFLOP/s model matmul work\n", step_s * 1e3,
           tokens / step_s, flops / 1e9);
    printf("measured %s matmul op ceiling (%s, %d^3 through the same op%s): %.2f GFLOP/s -> %.1f%% of it\n", ops->name,
           half ? "bf16 GEMM" : "fp32 sgemm", gemm_n, half ? " with its fp32->bf16 conversions" : "", gemm / 1e9,
           100.0 * flops / gemm);
    if (!cpu) {
        double bf16 = 0, copy = 0;
        if (birdie_cuda_measure_gemm_rate(&bf16, 0, 0, err, sizeof err) == 0)
            printf(
                "MFU: %.1f%% of 989 TFLOP/s (H100 SXM dense bf16 peak) | %.1f%% of measured bf16 GEMM %.0f TFLOP/s\n",
                100.0 * flops / H100_BF16_DENSE_FLOPS, 100.0 * flops / bf16, bf16 / 1e12);
        if (birdie_cuda_measure_copy_bandwidth(&copy, 0, 0, err, sizeof err) == 0) {
            double scan_s = 0;
            for (int i = 0; i < m.n_prof; i++)
                if (!strncmp(m.prof[i].op, "scan_", 5))
                    scan_s += m.prof[i].seconds;
            /* forward reads x, f and writes h; backward reads dh, h, f and writes dx, df */
            double scan_bytes = 8.0 * 4.0 * tokens * mc.d_state * mc.n_layers;
            printf("scan fwd+bwd: %.1f GB/s | measured D2D copy %.1f GB/s -> %.1f%%\n", scan_bytes / scan_s / 1e9,
                   copy / 1e9, 100.0 * scan_bytes / scan_s / copy);
        }
    }
    qsort(m.prof, (size_t)m.n_prof, sizeof m.prof[0], cmp_prof);
    double gemm_s = 0;
    for (int i = 0; i < m.n_prof; i++)
        if (!strncmp(m.prof[i].op, "matmul_", 7))
            gemm_s += m.prof[i].seconds;
    printf("GEMM ops %.1f%% of the step (%.1f%% of the ceiling while they run) | outside GEMMs %.1f%%\n",
           100.0 * gemm_s / prof_total, 100.0 * train_flops_per_token(&mc) * tokens / gemm_s / gemm,
           100.0 * (prof_total - gemm_s) / prof_total);
    printf("time per op (one synchronised step, %.1f ms):\n", prof_total * 1e3);
    for (int i = 0; i < m.n_prof; i++)
        printf("  %-32s %6.1f%%  %8.2f ms  %4ld calls\n", m.prof[i].op, 100.0 * m.prof[i].seconds / prof_total,
               m.prof[i].seconds * 1e3, m.prof[i].calls);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
    return 0;
}

/* Row building and packing with the default arms and the class-uniform mixture (the Birdie warm-up)
 * on the synthetic corpus, one thread. */
static int run_packer_bench(const bench_args *args)
{
    char err[512];
    birdie_arm_set arms;
    birdie_source *src = NULL;
    int T = args->seq ? args->seq : 512, B = args->batch ? args->batch : 64, rc = 1;
    birdie_arm_set_init(&arms);
    if (birdie_arm_set_add_default(&arms, err, sizeof err) < 0 ||
        birdie_source_open_synthetic(&src, 1337, BIRDIE_SPLIT_TRAIN, err, sizeof err) < 0) {
        fprintf(stderr, "birdie-bench: %s\n", err);
        birdie_arm_set_free(&arms);
        return 1;
    }
    double *w = calloc((size_t)arms.n, sizeof *w);
    birdie_packer_bench_result res;
    if (w && birdie_mixture_parse(&arms, "uniform", w, err, sizeof err) == 0 &&
        birdie_packer_bench(&arms, w, src, B, T, 2.0, &res, err, sizeof err) == 0) {
        printf("packer: %d arms, uniform mixture, rows of %d, synthetic corpus, 1 thread\n", arms.n, T);
        printf(
            "  %.2f M positions/s | %.2f M tokens/s (non-padding) | fill %.3f | %.2f samples/row | target >= 5 M/s\n",
            res.positions_per_s / 1e6, res.tokens_per_s / 1e6, birdie_pack_fill_rate(&res.stats),
            (double)res.stats.samples / (double)res.stats.rows);
        printf("  samples per class / mixture weight: %.3f .. %.3f | share correction: %.0f ms to measure the sample "
               "sizes and solve (solved again when the mixture changes)\n",
               res.class_share_min, res.class_share_max, res.setup_seconds * 1e3);
        rc = 0;
    } else {
        fprintf(stderr, "birdie-bench: %s\n", w ? err : "out of memory");
    }
    free(w);
    birdie_source_close(src);
    birdie_arm_set_free(&arms);
    return rc;
}

/* The CPU's model name from /proc/cpuinfo ("unknown" elsewhere). */
static void cpu_model_name(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            char *v = strchr(line, ':') + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, len, "%s", v);
            break;
        }
    if (f)
        fclose(f);
}

/* Seconds per step of `steps` greedy steps after reading n prompts of len tokens each. */
static double time_steps(birdie_generator *g, int n, int len, int steps, double *prefix_s)
{
    char err[256];
    int32_t *prompt = malloc((size_t)(len ? len : 1) * sizeof *prompt), next[256];
    const int32_t *ptrs[256];
    int lens[256];
    birdie_rng rng = birdie_rng_stream(2, 0, 0, BIRDIE_RNG_TEST);
    for (int t = 0; t < len; t++)
        prompt[t] = (int32_t)(32 + birdie_rng_below(&rng, 95));
    for (int i = 0; i < n; i++)
        ptrs[i] = prompt, lens[i] = len;
    double t0 = birdie_monotonic_seconds();
    if (birdie_generator_start(g, ptrs, lens, n, err, sizeof err) < 0) {
        fprintf(stderr, "birdie-bench: %s\n", err);
        free(prompt);
        return NAN;
    }
    double t1 = birdie_monotonic_seconds();
    birdie_gen_params greedy = {.max_tokens = steps};
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n; i++)
            next[i] = birdie_gen_sample(birdie_generator_logits(g, i), g->m->cfg.vocab, &greedy, (uint64_t)i, s);
        birdie_generator_step(g, next);
    }
    double t2 = birdie_monotonic_seconds();
    if (prefix_s)
        *prefix_s = t1 - t0;
    free(prompt);
    return (t2 - t1) / steps;
}

/* Generation on the CPU twin (the backend `birdied generate` runs on). */
static int run_generate_bench(const bench_args *args)
{
    char err[512], cpu[256];
    birdie_model_config mc;
    if (birdie_model_config_by_name(args->model, &mc) < 0) {
        fprintf(stderr, "birdie-bench: unknown model '%s' (XS, S, 125M, 350M)\n", args->model);
        return 2;
    }
    mc.bidirectional = 1;
    int B = args->batch ? args->batch : 16, steps = args->steps ? args->steps : 64;
    if (B > 256) {
        fprintf(stderr, "birdie-bench: --generate takes --batch up to 256\n");
        return 2;
    }
    enum { N_CTX = 4 };
    const int ctx[N_CTX] = {16, 256, 1024, 4096};
    cpu_model_name(cpu, sizeof cpu);
    printf("generate on the cpu backend | %s, %ld cores online\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    /* one stream: a model with rows long enough for the longest prompt */
    birdie_model m;
    birdie_generator g;
    if (birdie_model_init(&m, &mc, &birdie_ops_cpu, 1, 1, ctx[N_CTX - 1] + 1, err, sizeof err) < 0 ||
        birdie_generator_init(&g, &m, err, sizeof err) < 0) {
        fprintf(stderr, "birdie-bench: %s\n", err);
        return 1;
    }
    printf("model %s bidirectional | D=%d N=%d L=%d V=%d | %.2fM parameters | greedy, %d steps per measurement\n",
           args->model, mc.d_model, mc.d_state, mc.n_layers, mc.vocab, m.n_params / 1e6, steps);
    time_steps(&g, 1, 16, 4, NULL); /* warm-up */
    printf("time per token against the prompt's length (one stream):\n");
    for (int i = 0; i < N_CTX; i++) {
        double prefix_s, step_s = time_steps(&g, 1, ctx[i], steps, &prefix_s);
        printf("  prompt %5d tokens: prefix pass %8.1f ms | %.3f ms/token | %.0f tokens/s\n", ctx[i], prefix_s * 1e3,
               step_s * 1e3, 1.0 / step_s);
    }
    birdie_generator_free(&g);
    birdie_model_free(&m);
    /* a batch of B prompts of 64 tokens */
    if (birdie_model_init(&m, &mc, &birdie_ops_cpu, 1, B, 65, err, sizeof err) < 0 ||
        birdie_generator_init(&g, &m, err, sizeof err) < 0) {
        fprintf(stderr, "birdie-bench: %s\n", err);
        return 1;
    }
    double one = time_steps(&g, 1, 64, steps, NULL);
    printf("batched (prompts of 64 tokens), tokens/s over all rows:\n  1 row: %.0f\n", 1.0 / one);
    for (int bg = 0; bg <= 1; bg++) {
        g.batch_gemm = bg;
        double step_s = time_steps(&g, B, 64, steps, NULL);
        printf("  %d rows, %s: %.0f (%.3f ms per step)\n", B,
               bg ? "one GEMM per batch (batch_gemm = 1)" : "GEMMs per row, bit-identical to one by one (default)",
               B / step_s, step_s * 1e3);
    }
    birdie_generator_free(&g);
    birdie_model_free(&m);
    return 0;
}

static int parse_int(const char *flag, const char *v, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x <= 0 || x > 1 << 24) {
        fprintf(stderr, "birdie-bench: %s needs a positive integer\n", flag);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv)
{
    bench_args args = {"auto", "auto", "S", 0, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--backend") && v)
            args.backend = argv[++i];
        else if (!strcmp(a, "--precision") && v)
            args.precision = argv[++i];
        else if (!strcmp(a, "--model") && v)
            args.model = argv[++i];
        else if (!strcmp(a, "--packer"))
            args.packer = 1;
        else if (!strcmp(a, "--generate"))
            args.generate = 1;
        else if (!strcmp(a, "--batch")) {
            if (parse_int(a, v, &args.batch) < 0)
                return 2;
            i++;
        } else if (!strcmp(a, "--seq")) {
            if (parse_int(a, v, &args.seq) < 0)
                return 2;
            i++;
        } else if (!strcmp(a, "--steps")) {
            if (parse_int(a, v, &args.steps) < 0)
                return 2;
            i++;
        } else {
            fprintf(
                stderr,
                "usage: birdie-bench [--backend cpu|cuda|auto] [--precision auto|fp32|bf16] [--model XS|S|125M|350M] "
                "[--batch B] [--seq T] [--steps N]\n"
                "       birdie-bench --packer [--batch B] [--seq T]   row building + packing, tokens/s\n"
                "       birdie-bench --generate [--model M] [--batch B] [--steps N]   generation on the cpu\n"
                "(seconds per scheduler decision: birdie-sched-bench)\n");
            return strcmp(a, "--help") ? 2 : 0;
        }
    }
    if (args.packer)
        return run_packer_bench(&args);
    if (args.generate)
        return run_generate_bench(&args);
    return run_model_bench(&args);
}
