/* worker/generate_transformer.h: the Transformer's step for the generator of worker/generate.h (internal to
 * generate.c): a key/value cache per layer holds every position of each row's sample so far (the prompt's from
 * the prefix pass, then one per generated token), and each new token's query reads it through the
 * attention_decode op. A row's cache holds m->T positions (the prefix pass's rows) until reserved larger;
 * birdie_generate reserves room for its tokens, and ends a row whose cache is still full. */
#ifndef BIRDIE_GENERATE_TRANSFORMER_H
#define BIRDIE_GENERATE_TRANSFORMER_H

#include <stdint.h>

#include "worker/generate.h"

typedef struct birdie_tf_gen {
    float **kc, **vc; /* per layer (cap, room, C): rotated keys and values by position */
    int room; /* positions each row's cache holds: m->T, or more after birdie_tf_gen_reserve */
    int32_t *lens, *lens1; /* (cap) positions cached per row, and with the new token (host) */
    int32_t *d_pos, *d_lens; /* (cap) the new token's position, and the cache length with it (backend) */
    float *qkv, *att, *mlp, *mlp_g; /* (cap, 3C), (cap, C), (cap, 2M), (cap, M) */
    float *zeros; /* (C): a copy is an add of zeros */
    float *host_row; /* (3C) staging */
} birdie_tf_gen;

int birdie_tf_gen_init(birdie_generator *g, char *err, size_t errlen);
void birdie_tf_gen_free(birdie_generator *g);
/* After the prefix pass: row r of that pass (prompt i, len tokens, BEGIN at len) fills prompt i's cache. */
void birdie_tf_gen_take_row(birdie_generator *g, int r, int i, int len);
/* Makes every row's cache hold at least positions positions (0, or -ENOMEM leaving the caches as they were). */
int birdie_tf_gen_reserve(birdie_generator *g, int positions, char *err, size_t errlen);
/* Whether row r's cache is full (no room for another token). */
int birdie_tf_gen_full(const birdie_generator *g, int r);
/* One token per row through every layer; a row whose cache is full takes no new position (its logits are not
 * meaningful; generate.c has ended it). */
void birdie_tf_gen_step(birdie_generator *g, const int32_t *tokens);

#endif
