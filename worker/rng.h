/* worker/rng.h: the counter-based random numbers every draw of birdie comes from.
 *
 * A stream is keyed by (seed, step, global row index, purpose): any draw can be recomputed without
 * replaying the ones before it, and one rank with batch 2b draws exactly what two ranks with batch
 * b draw together (docs/design.md §3.4). Never seed from time, pid or thread timing. The generator is a
 * SplitMix64-style finaliser over the key and a counter; it is not cryptographic.
 */
#ifndef BIRDIE_RNG_H
#define BIRDIE_RNG_H

#include <math.h>
#include <stdint.h>

/* What a stream is for; part of the key so that two uses never share draws. */
enum birdie_rng_purpose {
    BIRDIE_RNG_INIT = 1, /* parameter initialisation (row = tensor index) */
    BIRDIE_RNG_DATA = 2, /* which text window a row reads */
    BIRDIE_RNG_ARM = 3, /* which objective arm a sample uses */
    BIRDIE_RNG_OBJECTIVE = 4, /* the objective's own draws (spans, shuffles, splits) */
    BIRDIE_RNG_CORPUS = 5, /* synthetic corpus: lexicon and documents */
    BIRDIE_RNG_VALIDATION = 6, /* fixed validation rows */
    BIRDIE_RNG_SCHEDULER = 7, /* reward model init, candidates, exploration */
    BIRDIE_RNG_SHARES = 8, /* sample sizes measured for the mixture share correction */
    BIRDIE_RNG_EVAL_PHONEBOOK = 9, /* evaluation: phonebook books, numbers and asked names */
    BIRDIE_RNG_EVAL_INFILL = 10, /* evaluation: held-out documents and cut spans */
    BIRDIE_RNG_EVAL_BPC = 11, /* evaluation: held-out documents of bits per character */
    BIRDIE_RNG_GENERATE = 12, /* sampling during generation (row = prompt, step = token index) */
    BIRDIE_RNG_FINETUNE = 13, /* fine-tuning data: books, K and asked names of a step's rows (finetune_data.h) */
    BIRDIE_RNG_TEST = 99 /* tests and benchmarks */
};

typedef struct birdie_rng {
    uint64_t key;
    uint64_t counter;
} birdie_rng;

static inline uint64_t birdie_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline birdie_rng birdie_rng_stream(uint64_t seed, uint64_t step, uint64_t row, uint32_t purpose)
{
    uint64_t k = birdie_mix64(seed + 0x9E3779B97F4A7C15ull);
    k = birdie_mix64(k ^ (step + 0xD1B54A32D192ED03ull));
    k = birdie_mix64(k ^ (row + 0x8CB92BA72F3D8DD7ull));
    k = birdie_mix64(k ^ ((uint64_t)purpose + 0xABC98388FB8FAC03ull));
    birdie_rng r = {k, 0};
    return r;
}

/* A stream derived from another one's key (for nested draws, e.g. per-span sub-streams). */
static inline birdie_rng birdie_rng_fork(const birdie_rng *parent, uint64_t index)
{
    birdie_rng r = {birdie_mix64(parent->key ^ birdie_mix64(index + 0x632BE59BD9B4E019ull)), 0};
    return r;
}

static inline uint64_t birdie_rng_u64(birdie_rng *r)
{
    r->counter++;
    return birdie_mix64(r->key + birdie_mix64(r->counter * 0x9E3779B97F4A7C15ull));
}

/* Uniform in [0, 1) with 53 bits. */
static inline double birdie_rng_uniform(birdie_rng *r)
{
    return (double)(birdie_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method, deterministic). */
static inline uint64_t birdie_rng_below(birdie_rng *r, uint64_t n)
{
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        __uint128_t m = (__uint128_t)birdie_rng_u64(r) * n;
        if ((uint64_t)m >= threshold)
            return (uint64_t)(m >> 64);
    }
}

/* Uniform integer in [lo, hi] (inclusive), lo <= hi. */
static inline int64_t birdie_rng_range(birdie_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)birdie_rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* Standard normal (Box-Muller, one value per call). */
static inline double birdie_rng_normal(birdie_rng *r)
{
    double u1 = 1.0 - birdie_rng_uniform(r); /* (0, 1] so log is finite */
    double u2 = birdie_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
