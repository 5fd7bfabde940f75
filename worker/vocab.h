/* worker/vocab.h: the byte-level vocabulary and its special ids (docs/algorithm.md §4.2).
 *
 * Bytes keep ids 0..255; byte 0 never occurs in text, so it doubles as PAD. Specials start at 256.
 * The vocabulary is padded to 384 ids for GEMM alignment; ids above the last sentinel are spare.
 */
#ifndef BIRDIE_VOCAB_H
#define BIRDIE_VOCAB_H

enum {
    BIRDIE_PAD = 0,
    BIRDIE_BEGIN = 256, /* "begin generating": between prefix and targets */
    BIRDIE_EOS = 257, /* end of a document */
    BIRDIE_COPY = 258, /* selective copying markers */
    BIRDIE_START = 259,
    BIRDIE_END = 260,
    BIRDIE_CONTEXT = 261,
    BIRDIE_SEP = 262,
    BIRDIE_DONE = 263,
    BIRDIE_PARADIGM0 = 264, /* one paradigm id per objective class: 264..270 */
    BIRDIE_NUM_PARADIGMS = 7,
    BIRDIE_SENTINEL0 = 271, /* infilling / autoencoding sentinels: 271..334 */
    BIRDIE_NUM_SENTINELS = 64,
    BIRDIE_VOCAB_USED = 335,
    BIRDIE_VOCAB = 384
};

#endif
