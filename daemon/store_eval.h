/* daemon/store_eval.h: what trained models did, in the store (migrations/0003_evaluations.sql):
 * evaluations of checkpoints (`birdied eval`) and fine-tuning curve points (`birdied finetune`).
 *
 * These are written by those commands' own processes, not by a coordinator, so they need no run open
 * for writing: the run is named, found in runs by name, and created when missing (no arms and no
 * incarnation; a training run that later takes the name records its arms then). Each call is one
 * transaction (BEGIN IMMEDIATE, the busy timeout of birdie_store_open), so it can run beside a live
 * coordinator on the same file. Reals that are NaN are stored as NULL and read back as NaN. Reading
 * back is birdie_store_history (store.h), whose GetHistoryResponse carries them as model_evals and
 * finetune_points. Not here: running the evaluations (daemon/eval_main.c) or fine-tuning. */
#ifndef BIRDIE_DAEMON_STORE_EVAL_H
#define BIRDIE_DAEMON_STORE_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/store.h"

/* One metric of one task. Fields that do not apply to the task are 0 (stored as NULL). */
typedef struct birdie_store_eval_result {
    const char *task; /* "phonebook", "phonebook_long", "infill", "bpc" */
    int k, entries; /* phonebook: names asked, entries per book */
    int context_len, span_len; /* infill */
    int items; /* what the metric is a mean over (bpc: documents) */
    const char *metric; /* "digit_accuracy", "exact_rate", "token_accuracy", "bits_per_char" */
    double value;
} birdie_store_eval_result;

/* One evaluation of a checkpoint: the results of one `birdied eval`. */
typedef struct birdie_store_eval {
    const char *checkpoint; /* the path evaluated */
    int64_t step; /* the checkpoint's step */
    uint64_t seed; /* the seed of the evaluation sets (stored as its signed 64-bit pattern) */
    int n_results;
    const birdie_store_eval_result *results;
} birdie_store_eval;

/* A point of a fine-tuning curve. */
typedef struct birdie_store_finetune_point {
    const char *task; /* "phonebook" */
    int64_t source_step; /* step of the pre-trained checkpoint */
    double lr;
    int64_t step; /* fine-tune step */
    int k;
    int items;
    double digit_accuracy, exact_rate, answer_loss, train_loss;
} birdie_store_finetune_point;

/* Records the evaluation and all its results in one transaction, for the run named run (created when
 * missing). 0, -EINVAL for a field out of range (named in err; nothing written), -EPERM on a
 * read-only handle, -EIO from SQLite. */
int birdie_store_record_eval(birdie_store *s, const char *run, const birdie_store_eval *e, char *err, size_t errlen);

/* Records one fine-tuning curve point for the run named run (created when missing); the same codes. */
int birdie_store_record_finetune_point(birdie_store *s, const char *run, const birdie_store_finetune_point *p,
                                       char *err, size_t errlen);

#endif
