/* worker/objectives/arm.h: objective classes, arms (a class plus its parameters), arm sets, the
 * arm spec grammar and the default grid (docs/algorithm.md §2.9, §2.10).
 *
 * An arm is what the mixture weighs and what the scheduler rewards: one objective class with fixed
 * parameters and a stable name used everywhere else (logs, SQLite, RPC). This file parses and
 * names arms; applying an arm to text lives in objective.h, drawing arms in mixture.h.
 *
 * Arm spec grammar (one arm per string, tokens separated by spaces or tabs):
 *
 *   spec  := CLASS { KEY "=" VALUE }
 *   CLASS := ntp | prefix_lm | plm | copying | copy | deshuffling | deshuffle
 *          | infilling | infill | autoencoding | ae | selective_copying | selcopy
 *
 *   keys of every class
 *     name=STR        the arm's name, 1..47 chars of [A-Za-z0-9._-]; default: generated from the
 *                     parameters, e.g. "infill.l64-128.r15.w8"
 *     len=A-B | len=A chunk length range in tokens, 1 <= A <= B <= 65536 (class minimums below)
 *     paradigm=on|off add the class paradigm token to the prefix (never for ntp); default on
 *   prefix_lm         split=F        mean split fraction, 0 < F < 1, default 0.75; len A >= 8
 *   deshuffling       share=F        shuffled share of positions, 0 < F <= 1, default 1; len A >= 2
 *   infilling         rate=F         corruption rate, 0 < F <= 1, default 0.15
 *                     width=N        mean span width, 1 <= N <= 256, default 8
 *                     sentinels=sequential|random   default sequential (T5 convention)
 *   autoencoding      rate, width, sentinels as infilling, and shuffle=on|off (default off)
 *   selective_copying spans=K        spans to copy, 1 <= K <= 8, default 1
 *                     layout=prepend|append   instruction before (prepend, query-context) or after
 *                                    (append, context-query) the context; default prepend
 *                     span=A-B       copied span length, 1 <= A <= B <= 1024, default 12-48
 *                     delim=A-B      delimiter length, 1 <= A <= B <= 256, default 3-24
 *                     len (the context) must satisfy A >= K * (2 * delim A + span A)
 *
 * Example: "infill len=32-64 rate=0.15 width=8". An unknown class or key, a malformed value, a
 * value out of range or a repeated key is an error whose message quotes the spec.
 */
#ifndef BIRDIE_OBJECTIVES_ARM_H
#define BIRDIE_OBJECTIVES_ARM_H

#include <stddef.h>
#include <stdint.h>

/* Objective classes; the class index also picks the paradigm id (BIRDIE_PARADIGM0 + class). */
typedef enum birdie_objective_class {
    BIRDIE_OBJ_NTP = 0,
    BIRDIE_OBJ_PREFIX_LM = 1,
    BIRDIE_OBJ_COPYING = 2,
    BIRDIE_OBJ_DESHUFFLING = 3,
    BIRDIE_OBJ_INFILLING = 4,
    BIRDIE_OBJ_AUTOENCODING = 5, /* with or without deshuffling of the pieces: one class (docs/algorithm.md §2.7) */
    BIRDIE_OBJ_SELECTIVE_COPYING = 6,
    BIRDIE_NUM_OBJECTIVE_CLASSES = 7
} birdie_objective_class;

/* Arm ids are stored per position as int16 (rows.h), so a set holds at most this many arms. */
#define BIRDIE_MAX_ARMS 1024
#define BIRDIE_ARM_NAME_MAX 48
/* Span lengths are drawn from max(1, trunc(Normal(width, 1))), tabulated over width +- 8. */
#define BIRDIE_SPAN_TABLE 17

typedef struct birdie_arm {
    char name[BIRDIE_ARM_NAME_MAX];
    birdie_objective_class cls;
    int min_len, max_len; /* chunk length range (context length for selective copying) */
    int paradigm; /* 1: the prefix carries the class paradigm token (never for NTP) */

    double split; /* prefix_lm: mean split fraction */
    double share; /* deshuffling: share of positions shuffled */

    double rate; /* infilling, autoencoding: corruption rate rho */
    int width; /* infilling, autoencoding: mean span width w */
    int random_sentinels; /* 0: sentinels 0,1,2,... per sample; 1: uniform random ids (v1) */
    int shuffle; /* autoencoding: shuffle the pieces of the corrupted prefix */

    int spans; /* selective copying: K */
    int layout_append; /* selective copying: 1 = context then instruction */
    int span_min, span_max; /* selective copying: copied span length */
    int delim_min, delim_max; /* selective copying: start and end delimiter lengths */

    /* Derived by birdie_arm_finalize (infilling, autoencoding): the per-position probability that
     * a span starts, P(mask) = E[min(1, rate / l)], and the cumulative distribution of the span
     * length l given that a span starts, over l = span_lo .. span_lo + BIRDIE_SPAN_TABLE - 1. */
    double mask_prob;
    int span_lo;
    double span_cdf[BIRDIE_SPAN_TABLE];
} birdie_arm;

typedef struct birdie_arm_set {
    int n, cap;
    birdie_arm *arms;
} birdie_arm_set;

/* Class names: canonical ("infilling") and the short prefix used in generated names ("infill"). */
const char *birdie_objective_class_name(birdie_objective_class cls);
const char *birdie_objective_class_short(birdie_objective_class cls);

/* Parses one arm spec (grammar above) into *arm, validated and finalized. 0 or -EINVAL. */
int birdie_arm_parse(birdie_arm *arm, const char *spec, char *err, size_t errlen);

/* Checks every parameter of *arm against its class's ranges, computes the derived fields and, if
 * the name is empty, generates it. 0 or -EINVAL naming the arm. */
int birdie_arm_finalize(birdie_arm *arm, char *err, size_t errlen);

/* Writes the canonical spec of an arm (every parameter spelt out; birdie_arm_parse of it gives
 * the same arm). Returns the length snprintf would write. */
int birdie_arm_describe(const birdie_arm *arm, char *buf, size_t len);

/* Smallest row space (positions) a sample of this arm can occupy, and the longest chunk worth
 * reading for a given space (objective.h says how each class spends its space). */
int birdie_arm_min_size(const birdie_arm *arm);
int birdie_arm_chunk_cap(const birdie_arm *arm, int space);

void birdie_arm_set_init(birdie_arm_set *set);
void birdie_arm_set_free(birdie_arm_set *set);
/* Appends a finalized arm; -EINVAL on a duplicate name, -ENOSPC past BIRDIE_MAX_ARMS. */
int birdie_arm_set_add(birdie_arm_set *set, const birdie_arm *arm, char *err, size_t errlen);
/* Appends the default grid of docs/algorithm.md §2.10 (61 arms in 7 classes; see grid.c for the list). */
int birdie_arm_set_add_default(birdie_arm_set *set, char *err, size_t errlen);
/* Builds a set from config strings: each is an arm spec, or "default" for the default grid.
 * The set is initialised here and freed on error. */
int birdie_arm_set_from_specs(birdie_arm_set *set, const char *const *specs, int nspecs, char *err, size_t errlen);
/* Index of the arm with this name, or -1. */
int birdie_arm_set_find(const birdie_arm_set *set, const char *name);
/* Sets the paradigm-token flag of every arm (the per-arm-set switch; NTP never gets one). */
void birdie_arm_set_paradigm(birdie_arm_set *set, int on);

#endif
