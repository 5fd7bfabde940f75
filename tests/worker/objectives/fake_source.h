/* tests/worker/objectives/fake_source.h: a test double of worker/source.h for the objective tests and the
 * packer benchmark: an in-memory buffer of generated tokens, windows at offsets drawn from the
 * caller's stream. It stands in for worker/data's sources, which these tests do not link. */
#ifndef BIRDIE_TESTS_FAKE_SOURCE_H
#define BIRDIE_TESTS_FAKE_SOURCE_H

#include <stdint.h>

#include "worker/source.h"

/* Kinds of text the double holds. */
enum fake_text {
    FAKE_WORDS, /* lowercase words of 2..8 letters, spaces, an EOS every ~400 tokens */
    FAKE_BYTES, /* uniform bytes 1..255 */
    FAKE_CONSTANT /* one repeated letter: no delimiter is ever unique */
};

/* Opens a source of ntokens tokens generated from seed; 0 or a negative errno. */
int fake_source_open(birdie_source **out, uint64_t seed, int ntokens, enum fake_text kind);

#endif
