/* worker/source.h: where training and validation text comes from (the interface only).
 *
 * A token source is either the embedded synthetic corpus (worker/data/corpus.c) or a set of shard
 * files (worker/data/shard.c). Readers ask for windows of consecutive tokens; which window is chosen
 * comes entirely from the caller's counter-based RNG stream, so draws are reproducible.
 */
#ifndef BIRDIE_SOURCE_H
#define BIRDIE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "worker/rng.h"

typedef enum birdie_split { BIRDIE_SPLIT_TRAIN = 0, BIRDIE_SPLIT_VAL = 1 } birdie_split;

typedef struct birdie_source birdie_source;

/* Opens the synthetic corpus for one split; the two splits are disjoint streams of the seed. */
int birdie_source_open_synthetic(birdie_source **out, uint64_t seed, birdie_split split, char *err, size_t errlen);
/* Opens shard files (comma-separated paths or glob patterns). Every file is validated (magic,
 * version, size) and an error names the bad file. */
int birdie_source_open_shards(birdie_source **out, const char *patterns, char *err, size_t errlen);
void birdie_source_close(birdie_source *src);

/* Fills out[0..n) with n consecutive tokens of the source, the window chosen by rng. Documents
 * are separated by BIRDIE_EOS. Returns 0 or a negative errno (e.g. the source holds fewer than
 * n tokens). */
int birdie_source_window(const birdie_source *src, birdie_rng *rng, int32_t *out, int n);

/* Total tokens (shards) or 0 for the unbounded synthetic corpus. */
uint64_t birdie_source_tokens(const birdie_source *src);

#endif
