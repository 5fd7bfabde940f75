/* worker/eval/eval_text.h: what the evaluation tasks share: text <-> tokens through the byte-level
 * vocabulary (worker/vocab.h, docs/algorithm.md §4.2) and the RNG purposes of the evaluation sets.
 *
 * The vocabulary is byte-level: a byte b in 1..255 is id b, byte 0 is PAD and cannot be encoded,
 * ids >= 256 are special (BEGIN, EOS, markers, paradigms, sentinels) and decode to no text. So every
 * character an evaluation task writes (printable ASCII and '\n') is encodable, one token per byte.
 * Not here: the tasks themselves (phonebook.h, infill.h, bpc.h) and generation from a model.
 */
#ifndef BIRDIE_EVAL_TEXT_H
#define BIRDIE_EVAL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "worker/rng.h" /* BIRDIE_RNG_EVAL_* */

/* Whether every byte of text[0..len) is encodable (no byte 0). */
int birdie_eval_encodable(const char *text, size_t len);

/* Encodes text[0..len) as one id per byte into out (room for len ids). Returns len (as an int) or
 * -EINVAL with a message when a byte is 0 (PAD) or len exceeds INT32_MAX. */
int birdie_eval_encode(const char *text, size_t len, int32_t *out, char *err, size_t errlen);

/* Decodes ids to bytes: ids 1..255 are written to out (at most cap - 1 bytes, then a NUL; cap > 0);
 * decoding stops at the first id that is not a byte (a special id, PAD or out of range), when out
 * is full, or at n. Returns the bytes written; *stop_at (may be NULL) gets the index of the first id
 * not decoded (n when all were). */
size_t birdie_eval_decode(const int32_t *ids, int n, char *out, size_t cap, int *stop_at);

#endif
