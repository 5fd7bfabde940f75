/* worker/generate_main.c: `birdied generate` (generate_main.h): flags, the run's configuration, the
 * checkpoint, the prompt's bytes as tokens, and the continuation on stdout.
 *
 * Shape: the checkpoint and the configuration beside it (or --config and overrides) give the model,
 * as worker/trained_model.h says. Tokens are the byte vocabulary of worker/vocab.h (a prompt byte is its id;
 * generated specials print nothing; EOS ends the text).
 *
 * Backend: the CPU twin only. The generator goes through the op table, but its CUDA path has not been
 * run on a GPU, so --backend cuda is refused with that reason. Prints: the continuation on stdout, one
 * summary line on stderr; errors on stderr with their exit class (worker/error.h). */
#include "worker/generate_main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/cli_flags.h"
#include "worker/clock.h"
#include "worker/error.h"
#include "worker/generate.h"
#include "worker/trained_model.h"
#include "worker/vocab.h"

/* Longest prompt: the prefix is read in one forward pass whose activations grow with its length. */
enum { GEN_MAX_PROMPT = 65536, GEN_MAX_TOKENS = 1 << 20 };

typedef struct gen_options {
    birdie_trained_args model;
    const char *prompt, *prompt_file, *stop, *backend;
    int max_tokens, top_k;
    double temperature;
    uint64_t seed;
} gen_options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: birdied generate [--checkpoint DIR|FILE] [--config FILE] [--section.key=value ...]\n"
            "                        [--prompt TEXT | --prompt-file F] [--max-tokens N] [--temperature T]\n"
            "                        [--top-k K] [--seed S] [--stop STR] [--backend cpu]\n"
            "  Continues a prompt (default: stdin) with a trained model and prints the continuation.\n"
            "  --checkpoint      a [checkpoint] dir (its newest checkpoint that verifies, as --resume auto)\n"
            "                    or one ckpt_*.bin file (default: the configuration's [checkpoint] dir)\n"
            "  --config, --section.key=value\n"
            "                    the training run's configuration (default: the config.ini its run wrote\n"
            "                    beside the checkpoints): the checkpoint is accepted only when its\n"
            "                    configuration hash matches (that fixes the shape)\n"
            "  --max-tokens N    tokens to generate at most, 1..%d (default 128)\n"
            "  --temperature T   0 = greedy (default); else sample from softmax(logits / T)\n"
            "  --top-k K         sample among the K most likely tokens (default 0 = all)\n"
            "  --seed S          the draws are keyed by (S, token index), never by time (default 0)\n"
            "  --stop STR        end when the text ends with STR (not printed); EOS always ends\n"
            "  --backend cpu     the only backend generation runs on\n"
            "  The prompt is read as the prefix of a training sample (both directions in the\n"
            "  bidirectional layers), then every token costs one recurrent step.\n"
            "  exit codes: 0 done, 1 internal error, 2 usage, 3 data (checkpoint or prompt)\n",
            GEN_MAX_TOKENS);
}

static int parse_options(int argc, char **argv, gen_options *o, int *help, char *err, size_t errlen)
{
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    memset(o, 0, sizeof *o);
    o->max_tokens = 128;
    o->backend = "cpu";
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long x;
        double d;
        int taken = birdie_trained_take_arg(&o->model, argc, argv, &i, err, errlen);
        if (taken < 0)
            return taken;
        if (taken)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return 0;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--prompt-file"))) {
            o->prompt_file = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--prompt"))) {
            o->prompt = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--stop"))) {
            o->stop = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--backend"))) {
            o->backend = v;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--max-tokens"))) {
            if (birdie_parse_long(v, 1, GEN_MAX_TOKENS, &x) < 0)
                return birdie_fail(err, errlen, usage_error, "--max-tokens '%s': not an integer in 1..%d", v,
                                   GEN_MAX_TOKENS);
            o->max_tokens = (int)x;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--top-k"))) {
            if (birdie_parse_long(v, 0, BIRDIE_VOCAB, &x) < 0)
                return birdie_fail(err, errlen, usage_error, "--top-k '%s': not an integer in 0..%d", v, BIRDIE_VOCAB);
            o->top_k = (int)x;
        } else if ((v = birdie_flag_value(argc, argv, &i, "--seed"))) {
            if (birdie_parse_u64(v, &o->seed) < 0)
                return birdie_fail(err, errlen, usage_error, "--seed '%s': not a non-negative integer", v);
        } else if ((v = birdie_flag_value(argc, argv, &i, "--temperature"))) {
            if (birdie_parse_double(v, 0.0, 1e6, &d) < 0)
                return birdie_fail(err, errlen, usage_error, "--temperature '%s': not a number in [0, 1e6]", v);
            o->temperature = d;
        } else {
            return birdie_fail(err, errlen, usage_error, "unknown argument '%s' (see birdied generate --help)", a);
        }
    }
    if (o->prompt && o->prompt_file)
        return birdie_fail(err, errlen, usage_error, "--prompt and --prompt-file: give one");
    if (strcmp(o->backend, "cpu") != 0)
        return birdie_fail(err, errlen, usage_error,
                           "--backend '%s': generation runs on the cpu backend only (its CUDA path is written "
                           "through the op table but has not been verified on a GPU)",
                           o->backend);
    return 0;
}

/* Reads all of f into *buf (malloc'ed), stopping past GEN_MAX_PROMPT bytes. */
static int read_all(FILE *f, unsigned char **buf, size_t *n)
{
    size_t cap = 4096, got;
    *n = 0;
    *buf = malloc(cap);
    if (!*buf)
        return -ENOMEM;
    while ((got = fread(*buf + *n, 1, cap - *n, f)) > 0) {
        *n += got;
        if (*n > GEN_MAX_PROMPT)
            break;
        if (*n == cap) {
            unsigned char *grown = realloc(*buf, cap * 2);
            if (!grown)
                return -ENOMEM;
            *buf = grown;
            cap *= 2;
        }
    }
    return ferror(f) ? -EIO : 0;
}

/* The prompt's bytes (--prompt, --prompt-file or stdin) as token ids. */
static int read_prompt(const gen_options *o, int32_t **tokens, int *len, char *err, size_t errlen)
{
    const int data_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_DATA);
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = 0;
    const char *name = o->prompt ? "--prompt" : o->prompt_file ? o->prompt_file : "stdin";
    if (o->prompt) {
        n = strlen(o->prompt);
        buf = malloc(n + 1);
        if (buf)
            memcpy(buf, o->prompt, n);
        else
            rc = -ENOMEM;
    } else {
        FILE *f = o->prompt_file ? fopen(o->prompt_file, "rb") : stdin;
        if (!f)
            return birdie_fail(err, errlen, birdie_error_tag(-errno, BIRDIE_EXIT_DATA), "prompt file %s: %s", name,
                               strerror(errno));
        rc = read_all(f, &buf, &n);
        if (f != stdin)
            fclose(f);
    }
    if (rc == 0 && n > GEN_MAX_PROMPT)
        rc = birdie_fail(err, errlen, data_error,
                         "the prompt (%s) has more than %d bytes (the prefix is read in one pass whose activations "
                         "grow with its length)",
                         name, GEN_MAX_PROMPT);
    else if (rc == -ENOMEM)
        birdie_fail(err, errlen, rc, "out of host memory for the prompt");
    else if (rc < 0)
        rc = birdie_fail(err, errlen, birdie_error_tag(rc, BIRDIE_EXIT_DATA), "reading the prompt from %s", name);
    if (rc == 0 && !(*tokens = malloc((n ? n : 1) * sizeof **tokens)))
        rc = birdie_fail(err, errlen, -ENOMEM, "out of host memory for the prompt");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (buf[i] == 0) { /* byte 0 is PAD: never text (worker/vocab.h) */
            free(*tokens);
            rc = birdie_fail(err, errlen, data_error, "the prompt (%s) holds a NUL byte at offset %zu", name, i);
        } else {
            (*tokens)[i] = buf[i];
        }
    }
    free(buf);
    *len = (int)n;
    return rc;
}

static int generate(const gen_options *o, char *err, size_t errlen)
{
    int32_t *prompt = NULL;
    int len = 0, rc;
    birdie_trained t;
    if ((rc = read_prompt(o, &prompt, &len, err, errlen)) < 0)
        return rc;
    if ((rc = birdie_trained_load(&t, &o->model, err, errlen)) < 0) {
        free(prompt);
        return rc;
    }
    const birdie_model_config *mc = &t.mc;
    birdie_model m;
    birdie_generator g;
    memset(&m, 0, sizeof m);
    memset(&g, 0, sizeof g);
    if ((rc = birdie_trained_model(&t, &m, 1, len + 1, err, errlen)) == 0 &&
        (rc = birdie_generator_init(&g, &m, err, errlen)) == 0) {
        birdie_gen_params p = {.max_tokens = o->max_tokens,
                               .temperature = (float)o->temperature,
                               .top_k = o->top_k,
                               .seed = o->seed,
                               .stop = o->stop};
        birdie_gen_output out;
        const int32_t *prompts[1] = {prompt};
        double t0 = birdie_monotonic_seconds();
        if ((rc = birdie_generate(&g, prompts, &len, 1, &p, &out, err, errlen)) == 0) {
            double dt = birdie_monotonic_seconds() - t0;
            fwrite(out.text, 1, out.text_len, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            static const char *const why[] = {"the token limit", "the stop string", "EOS"};
            fprintf(stderr,
                    "generate: checkpoint step %lld | %s D=%d N=%d L=%d%s | prompt %d tokens | %d tokens in %.2f s "
                    "(%.1f tokens/s) | ended by %s\n",
                    (long long)t.ck.step, t.cfg.size, mc->d_model, mc->d_state, mc->n_layers,
                    mc->bidirectional ? " bidirectional" : "", len, out.n_tokens, dt,
                    out.n_tokens / (dt > 0 ? dt : 1e-9), why[out.finish]);
            birdie_gen_output_free(&out);
        }
    }
    if (g.m)
        birdie_generator_free(&g);
    if (m.ops)
        birdie_model_free(&m);
    birdie_trained_free(&t);
    free(prompt);
    return rc;
}

int birdie_generate_main(int argc, char **argv)
{
    gen_options o;
    char err[4096];
    int help = 0, rc = parse_options(argc, argv, &o, &help, err, sizeof err);
    if (rc == 0 && help) {
        usage(stdout);
        return 0;
    }
    if (rc == 0)
        rc = generate(&o, err, sizeof err);
    return birdie_subcommand_exit("generate", rc, err);
}
