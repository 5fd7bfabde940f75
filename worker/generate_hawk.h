/* worker/generate_hawk.h: the recurrent step of a Hawk model for the generator of worker/generate.h (internal
 * to generate.c). What a Hawk layer carries from one token to the next: the forward channels' RG-LRU state
 * (in the generator's state buffers, as for the Gated SSM) and the conv window, the last BIRDIE_CONV_WIDTH
 * conv inputs of the sample. Both are O(1) in the context length. */
#ifndef BIRDIE_GENERATE_HAWK_H
#define BIRDIE_GENERATE_HAWK_H

#include <stddef.h>
#include <stdint.h>

#include "worker/generate.h"

typedef struct birdie_hawk_gen {
    float **win[2]; /* per layer (cap, BIRDIE_CONV_WIDTH, N): the conv window, in turns */
    float *conv_out; /* (cap, BIRDIE_CONV_WIDTH, N) */
    float *conv; /* (cap, N) the current position's conv output */
    float *gates; /* (cap, 2N) */
    float *mlp; /* (cap, 2M) */
    float *mlp_g; /* (cap, M) */
    float *zeros; /* (BIRDIE_CONV_WIDTH * N) zeros: a copy is an add of zeros (the table has no copy op) */
    uint8_t *d_win_resets; /* (cap, BIRDIE_CONV_WIDTH) */
    uint8_t *d_rev; /* (cap) BIRDIE_RESET_REV: each row is one generated (target) position */
    uint8_t *host_win_resets; /* (cap, BIRDIE_CONV_WIDTH) */
    int *filled; /* (cap) positions of the row's sample in the window, at most BIRDIE_CONV_WIDTH */
    float *host_v; /* (N) staging */
} birdie_hawk_gen;

int birdie_hawk_gen_init(birdie_generator *g, char *err, size_t errlen);
void birdie_hawk_gen_free(birdie_generator *g);
/* After the prefix pass: row r of that pass (prompt i, len tokens, BEGIN at len) fills prompt i's windows. */
void birdie_hawk_gen_take_row(birdie_generator *g, int r, int i, int len);
/* One token per row through every layer (the state buffers' parity as in generate.c). */
void birdie_hawk_gen_step(birdie_generator *g, const int32_t *tokens);

#endif
