/* worker/generate_transformer.h: the Transformer's step for the generator of worker/generate.h (internal to
 * generate.c): a key/value cache per layer holds every position of each row's sample so far (the prompt's from
 * the prefix pass, then one per generated token), and each new token's query reads it through the
 * attention_decode op. A row holds at most m->T positions (the context the model was built for); generate.c
 * ends a row whose cache is full. */
#ifndef BIRDIE_GENERATE_TRANSFORMER_H
#define BIRDIE_GENERATE_TRANSFORMER_H

#include <stdint.h>

#include "worker/generate.h"

typedef struct birdie_tf_gen {
    float **kc, **vc; /* per layer (cap, T, C): rotated keys and values by position */
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
/* Whether row r's cache is full (no room for another token). */
int birdie_tf_gen_full(const birdie_generator *g, int r);
/* One token per row through every layer; a row whose cache is full takes no new position (its logits are not
 * meaningful; generate.c has ended it). */
void birdie_tf_gen_step(birdie_generator *g, const int32_t *tokens);

#endif
