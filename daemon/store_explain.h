/* store_explain: the reads behind `birdiectl explain` (ctl/ctl_explain.c): one decision with what it
 * saw and chose (the decisions row, the evals and rewards of its step, the mixture before and after,
 * the next scheduler decision's observed reward, and migration 0005's details and record), the
 * records of a run of consecutive scheduler evaluations for a replay, and the checkpoint files that
 * may hold a scheduler state. Read-only; nothing here decides or replays. */
#ifndef BIRDIE_DAEMON_STORE_EXPLAIN_H
#define BIRDIE_DAEMON_STORE_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/store.h"

typedef struct store_explained {
    int64_t incarnation, step, mixture_version;
    char source[16]; /* "scheduler" | "operator" */
    int explore;
    double predicted_reward, observed_reward, fit_error; /* the decisions row; NaN for NULL */
    char *record_text; /* NULL when none */
    int n_arms;
    double *loss_sum, *tokens, *rewards; /* [n_arms] of the step; NaN where nothing was recorded */
    double *weights_after; /* [n_arms] mixture mixture_version */
    int64_t version_before; /* the mixture in force before; == mixture_version when the decision kept it */
    double *weights_before; /* [n_arms]; NaN when no earlier mixture is recorded */
    int has_next; /* the next scheduler decision of the incarnation exists */
    int64_t next_step;
    double next_observed, next_predicted; /* its decisions row: the observed reward of this decision's
                                            * mixture, and what the model had predicted for it */
    int has_detail; /* a decision_details row (migration 0005) */
    birdie_decision_detail detail; /* detail.record malloc'ed */
} store_explained;

/* The decision of `step` (the scheduler's when there are several; the newest incarnation that has
 * one): 1 found, 0 none at that step, < 0 error. */
int store_explain_step(birdie_store *s, int64_t step, store_explained *out, char *err, size_t errlen);
/* The scheduler decision of evaluation eval_index (newest incarnation): 1, 0 none, < 0 error. */
int store_explain_eval(birdie_store *s, int64_t eval_index, store_explained *out, char *err, size_t errlen);
void store_explained_free(store_explained *e);

/* The records of evaluations from..to (inclusive) as the scheduler that made decision `to` of
 * `incarnation` saw them: for each index the one of the highest incarnation <= incarnation.
 * records[i] (malloc'ed, lens[i] bytes) is evaluation from + i; 1 when all were found, 0 when one is
 * missing (*missing = its index), < 0 error. Free with store_records_free. */
int store_decision_records(birdie_store *s, int64_t incarnation, int64_t from, int64_t to, uint8_t ***records,
                           size_t **lens, int64_t *missing, char *err, size_t errlen);
void store_records_free(uint8_t **records, size_t *lens, int64_t n);

/* Paths of recorded checkpoints of incarnations <= incarnation, newest first (incarnation, then
 * step); *paths is an array of *n malloc'ed strings, freed with store_paths_free. */
int store_checkpoint_paths(birdie_store *s, int64_t incarnation, char ***paths, int *n, char *err, size_t errlen);
void store_paths_free(char **paths, int n);

/* The class of every arm of the selected run (*classes: n_arms malloc'ed strings). */
int store_arm_classes(birdie_store *s, char ***classes, char *err, size_t errlen);
int store_n_arms(const birdie_store *s);

#endif
