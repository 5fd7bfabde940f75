/* store: the coordinator's SQLite database (schema in the migrations/ .sql files). Opening migrates it under
 * PRAGMA user_version, one transaction per migration, in WAL mode with synchronous=NORMAL and
 * foreign keys on; a database newer than this binary, or a file that is not a birdie database, is
 * refused. Read-write handles are used only by the coordinator thread (the single writer); read-only
 * handles (birdiectl history --db) never migrate or write.
 *
 * Rows are keyed by (run_id, incarnation, step); arms are stored by index in the run's arm list.
 * Every function returns 0 (or a documented positive value) or a negative errno-style code with a
 * message naming what failed. */
#ifndef BIRDIE_DAEMON_STORE_H
#define BIRDIE_DAEMON_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/decision_detail.h"

#define STORE_APPLICATION_ID 0x42524431 /* "BRD1" in the SQLite header */

typedef struct birdie_store birdie_store;

/* A mixture to record. weights[n_arms] in arm order, already normalised. */
typedef struct store_mixture {
    int64_t version;
    int64_t step;
    int64_t created_unix_ms;
    const char *source; /* "config" | "scheduler" | "operator" */
    const char *request_id; /* NULL or "" for none */
    const char *reason; /* NULL for none */
    const double *weights;
} store_mixture;

/* A scheduler or operator decision; the reals may be NaN (stored as NULL). */
typedef struct store_decision {
    int64_t step;
    int64_t mixture_version; /* the version in force after the decision */
    const char *source;
    int explore;
    double predicted_reward;
    double observed_reward;
    double fit_error;
    const char *record;
    int64_t unix_ms;
    const birdie_decision_detail *detail; /* NULL or detail->record NULL: none (operator, fixed mixture) */
} store_decision;

/* A mixture read back. */
typedef struct store_mixture_row {
    int64_t incarnation;
    int64_t version;
    int64_t step;
    int64_t created_unix_ms;
    int64_t applied_step; /* -1: not applied yet */
    char source[16];
} store_mixture_row;

/* A checkpoint file a rank reported (already validated by the caller). */
typedef struct store_checkpoint {
    int64_t step;
    int rank;
    const char *path;
    int64_t bytes;
    const char *checksum; /* 16 lowercase hex digits */
    int64_t unix_ms;
} store_checkpoint;

#define STORE_PATH_MAX 4096

/* A checkpoint read back. bytes -1, rank -1 and checksum "" on rows written before migration 0002
 * added those columns. */
typedef struct store_checkpoint_row {
    int64_t incarnation;
    int64_t step;
    int64_t bytes;
    int64_t unix_ms;
    int rank;
    char path[STORE_PATH_MAX + 1];
    char checksum[17];
} store_checkpoint_row;

/* The number of migrations this binary knows (the newest user_version it can open). */
int store_known_version(void);

int birdie_store_open(const char *path, int read_only, birdie_store **out, char *err, size_t errlen);
void birdie_store_close(birdie_store *s);
int store_user_version(birdie_store *s, int *version, char *err, size_t errlen);

/* Read-write: finds the run by name (arms must match the stored list exactly, in order) or creates
 * it, and opens a new incarnation (1 for a new run). */
int store_begin_run(birdie_store *s, const char *name, int world_size, int n_arms, const char *const *arm_names,
                    const char *const *arm_classes, int64_t now_ms, int64_t *run_id, int64_t *incarnation, char *err,
                    size_t errlen);

/* Read-only use: selects the run by name (NULL: the newest run) and loads its arm list. */
int birdie_store_select_run(birdie_store *s, const char *name, int64_t *run_id, char *err, size_t errlen);
const char *store_arm_name(const birdie_store *s, int arm_index);

/* runs.state = state and a state_changes row (step: the newest reported step; reason may be NULL);
 * with `ended`, also closes the current incarnation with that state and reason. One transaction. */
int store_set_state(birdie_store *s, const char *state, const char *reason, int ended, int64_t step, int64_t now_ms,
                    char *err, size_t errlen);

/* The selected run's decisions (every incarnation) by kind: scheduler explore draws, scheduler
 * exploit draws, operator mixtures. */
int store_decision_counts(birdie_store *s, int64_t *explore, int64_t *exploit, int64_t *operator_, char *err,
                          size_t errlen);

/* One transaction: the mixture (with its weights) and, if d != NULL, its decision. */
int store_commit_mixture(birdie_store *s, const store_mixture *m, const store_decision *d, char *err, size_t errlen);

/* One transaction for a finished evaluation round: evals, rewards (NULL: none; NaN entries are
 * stored as NULL), the mixture (NULL: unchanged), the decision (NULL: none) and an event (kind NULL:
 * none). */
int store_commit_eval(birdie_store *s, int64_t step, const double *loss_sum, const double *tokens,
                      const double *rewards, const store_mixture *m, const store_decision *d, const char *event_kind,
                      const char *event_detail, int64_t now_ms, char *err, size_t errlen);

/* A per-step metrics row (ignored if the step already has one in this incarnation). */
int store_record_step(birdie_store *s, int64_t step, int64_t now_ms, double loss, double lr, double grad_norm,
                      double tokens_per_s, int64_t mixture_version, char *err, size_t errlen);

/* Sets applied_step of the mixture `version` of this incarnation if it is not set yet. */
int store_mark_applied(birdie_store *s, int64_t version, int64_t applied_step, char *err, size_t errlen);

int store_record_event(birdie_store *s, int64_t step, int64_t now_ms, const char *kind, const char *detail, char *err,
                       size_t errlen);

/* One transaction: the checkpoint row keyed (run, incarnation, c->step) and an event of kind
 * "checkpoint" with event_detail. Returns 1 when recorded, 0 when this step of this incarnation
 * was already recorded (then nothing is written: the first report stands), < 0 on error. */
int store_record_checkpoint(birdie_store *s, const store_checkpoint *c, const char *event_detail, char *err,
                            size_t errlen);

/* One transaction: operator checkpoint request `seq` of this incarnation (request_id NULL/"" for
 * none, unique per run) and an event of kind "checkpoint_requested" whose detail is the reason. */
int store_record_checkpoint_request(birdie_store *s, int64_t seq, int64_t step, const char *request_id,
                                    const char *reason, int64_t now_ms, char *err, size_t errlen);

/* The checkpoint request recorded for request_id in this run: 1 found (*seq, *incarnation), 0 not
 * found, < 0 error. */
int store_find_checkpoint_request(birdie_store *s, const char *request_id, int64_t *seq, int64_t *incarnation,
                                  char *err, size_t errlen);

/* The newest checkpoint of the selected run (highest incarnation, then highest step): 1 found,
 * 0 none, < 0 error. */
int store_last_checkpoint(birdie_store *s, store_checkpoint_row *row, char *err, size_t errlen);

/* The mixture recorded for an operator request id in this run: 1 found (row + weights[n_arms]),
 * 0 not found, < 0 error. */
int store_find_request(birdie_store *s, const char *request_id, store_mixture_row *row, double *weights, char *err,
                       size_t errlen);
/* A mixture of the given incarnation and version: 1 found, 0 not found, < 0 error. */
int store_load_mixture(birdie_store *s, int64_t incarnation, int64_t version, store_mixture_row *row, double *weights,
                       char *err, size_t errlen);

/* Where mixture `version` of the selected run first came from (source[cap]: "config", "scheduler" or
 * "operator") and in which incarnation: 1 when recorded, 0 when this store has no such version. */
int store_mixture_origin(birdie_store *s, int64_t version, char *source, size_t cap, int64_t *incarnation, char *err,
                         size_t errlen);

/* Evals, rewards, decisions, mixtures, checkpoints and state changes of the selected run with step >= since_step, oldest first,
 * at most `limit` rows per table (limit <= 0: 1000). Free with birdie_store_history_free. */
int birdie_store_history(birdie_store *s, int64_t since_step, int limit, Birdie__V1__GetHistoryResponse **out,
                         char *err, size_t errlen);
void birdie_store_history_free(Birdie__V1__GetHistoryResponse *h);

#endif
