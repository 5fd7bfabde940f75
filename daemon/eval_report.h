/* daemon/eval_report.h: what one `birdied eval` measured, and its three forms: the table for people,
 * one JSON object for scripts, and the rows of the store (daemon/store_eval.h).
 *
 * The JSON object (jansson, keys in this order; a task's key only when the task ran):
 *   {"checkpoint": path, "step": N, "run": name,
 *    "model": {"size", "d_model", "d_state", "n_layers", "bidirectional", "vocab", "params", "seq_len"},
 *    "seed": S, "batch": B, "decoding": "greedy",
 *    "phonebook": [{"k", "entries", "items", "digit_accuracy", "exact_rate"}, ...],    K = 1, 2, 4, 8
 *    "phonebook_long": [... the same, books LONG_FACTOR times longer ...],            with --long
 *    "infill": {"items", "context_len", "span_len", "paradigm", "exact_rate", "token_accuracy"},
 *    "bpc": {"documents", "chars", "tokens", "bits_per_char"},
 *    "seconds": wall-clock time of the whole evaluation}
 * Everything but "seconds" is a function of the checkpoint and the flags. Reals are printed with 17
 * significant digits, so two runs compare byte for byte. A metric that is not a number is null.
 * Not here: running the tasks (eval_main.c). */
#ifndef BIRDIE_DAEMON_EVAL_REPORT_H
#define BIRDIE_DAEMON_EVAL_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/store_eval.h"

enum {
    BIRDIE_EVAL_KS = 4, /* K = 1, 2, 4, 8 */
    BIRDIE_EVAL_SAMPLES = 3, /* example generations kept per phonebook K (and for infilling) */
    BIRDIE_EVAL_SAMPLE_MAX = 512, /* bytes of one example's text */
    BIRDIE_EVAL_MAX_RESULTS = 2 * 2 * BIRDIE_EVAL_KS + 2 + 1 /* rows a report gives the store */
};

/* One example generation: what was asked, the reference and what the model wrote (escaped). */
typedef struct birdie_eval_sample {
    char asked[BIRDIE_EVAL_SAMPLE_MAX], want[BIRDIE_EVAL_SAMPLE_MAX], got[BIRDIE_EVAL_SAMPLE_MAX];
} birdie_eval_sample;

typedef struct birdie_eval_phonebook_row {
    int k, entries, items;
    double digit_accuracy, exact_rate;
    int n_samples;
    birdie_eval_sample samples[BIRDIE_EVAL_SAMPLES];
} birdie_eval_phonebook_row;

typedef struct birdie_eval_report {
    const char *checkpoint, *run, *size;
    int64_t step;
    int d_model, d_state, n_layers, bidirectional, vocab, seq_len;
    size_t params;
    uint64_t seed;
    int batch;
    int has_phonebook, has_long, has_infill, has_bpc;
    birdie_eval_phonebook_row phonebook[BIRDIE_EVAL_KS], phonebook_long[BIRDIE_EVAL_KS];
    struct {
        int items, context_len, span_len;
        const char *paradigm; /* "first" | "none" */
        double exact_rate, token_accuracy;
        int n_samples;
        birdie_eval_sample samples[BIRDIE_EVAL_SAMPLES];
    } infill;
    struct {
        int documents;
        uint64_t chars, tokens;
        double bits_per_char;
    } bpc;
    double seconds;
} birdie_eval_report;

/* Writes text[0..len) into out (cap bytes, NUL-terminated), newlines as "\n", '"' and '\' with a
 * backslash, other bytes outside printable ASCII as "\xHH", cut with "..." when it does not fit. */
void birdie_eval_escape(char *out, size_t cap, const char *text, size_t len);

void birdie_eval_print_table(FILE *to, const birdie_eval_report *r);
/* Prints the JSON object on one line. 0, or -ENOMEM with a message. */
int birdie_eval_print_json(FILE *to, const birdie_eval_report *r, char *err, size_t errlen);
/* The report's metrics as store rows (out has BIRDIE_EVAL_MAX_RESULTS slots); returns how many. */
int birdie_eval_store_rows(const birdie_eval_report *r, birdie_store_eval_result *out);

#endif
