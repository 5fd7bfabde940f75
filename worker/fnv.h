/* worker/fnv.h: FNV-1a, birdie's one non-cryptographic hash, in 64 bits (the checksums of checkpoint
 * files and scheduler states, the per-arm keys of validation rows) and 32 bits (the suffix of an
 * over-long arm name, the corpus lexicon's word set). Both continue from h, so data in pieces hashes
 * as one run. It detects truncation and bit rot, not tampering.
 * Header-only: the scheduler library (daemon/scheduler) is built before the worker's libraries and
 * must not link them. */
#ifndef BIRDIE_FNV_H
#define BIRDIE_FNV_H

#include <stddef.h>
#include <stdint.h>

#define BIRDIE_FNV_OFFSET 0xcbf29ce484222325ull
#define BIRDIE_FNV32_OFFSET 2166136261u

static inline uint64_t birdie_fnv1a(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static inline uint32_t birdie_fnv1a32(uint32_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

#endif
