/* coordinator: the gRPC coordinator of a birdie run (hosted by rank 0 of birdied). It serves
 * birdie.v1.Coordinator (workers), birdie.v1.Control (operators) and grpc.health.v1.Health (Check,
 * Watch) on one address, on its own thread, and optionally Prometheus metrics over HTTP; owns the SQLite store (the only writer); waits for every rank's
 * evaluation report of a step, hands the sums to the decide callback on a separate worker thread,
 * and commits evals + rewards + decision + new mixture in one transaction before pushing the new
 * version to every WatchMixture stream. Operator mixtures take the same commit path (source
 * "operator").
 *
 * It does not train, talk MPI, or compute rewards: the decide callback (bound by birdied to the
 * scheduler library) does that. Workers, rank 0 included, reach it only over gRPC (worker_client.h).
 *
 * Run states: starting (until every rank has registered) -> running <-> paused -> stopping (after
 * Stop) -> finished (every rank called Finish) or failed (a rank reported failure, an evaluation
 * round missed its deadline). Mixture versions: `initial_version` (0 for a new run) for the config
 * mixture, then +1 for every new mixture.
 *
 * Checkpoints: Control.Checkpoint raises the incarnation's checkpoint_seq (from 0) and pushes it on
 * every WatchMixture directive; ranks report the files they wrote with ReportCheckpoint, recorded
 * once per (run, incarnation, step) and shown by GetStatus, GetHistory and Watch.
 *
 * Auth: Control mutations (SetMixture, Checkpoint, Pause, Resume, Stop) need `authorization: Bearer <token>`;
 * with auth_all every other birdie.v1 method needs it too. An empty token disables mutations
 * altogether (they answer UNAUTHENTICATED) and is allowed only with auth_all off. Health (Check, Watch) is
 * never authenticated: Kubernetes gRPC probes cannot send metadata. */
#ifndef BIRDIE_DAEMON_COORDINATOR_H
#define BIRDIE_DAEMON_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/decision_detail.h"

typedef struct coordinator coordinator;

/* What the decide callback fills in. The coordinator allocates the arrays (n_arms each) and
 * presets: new_weights = current mixture, rewards = NaN, explore = 0, the three reals = NaN,
 * record_text = "", new_mixture = 1. */
typedef struct coordinator_decision {
    double *new_weights; /* [n_arms] the next mixture; validated and normalised like an operator's */
    double *rewards; /* [n_arms] per-arm reward of this evaluation (NaN: none, e.g. first eval) */
    int new_mixture; /* 0: keep the current mixture (no new version), e.g. during warm-up */
    int explore; /* the action was an exploration draw */
    double predicted_reward; /* NaN where not applicable */
    double observed_reward;
    double fit_error; /* reward-model fit error */
    char *record_text; /* free text kept with the decision (e.g. JSON of the scheduler's inputs) */
    size_t record_cap;
    birdie_decision_detail detail; /* zeroed; a scheduler fills it (detail.record malloc'ed, the
                                    * coordinator frees it) */
} coordinator_decision;

/* Called on the coordinator's decide thread (never the RPC thread), one call at a time, for every
 * completed evaluation round: loss_sum[n_arms] and tokens[n_arms] are summed over all ranks.
 * Return 0, or a negative code with a message in err: the evals are still recorded, the mixture is
 * kept, and the failure is recorded as an event and shown in GetStatus.last_error. */
typedef int (*coordinator_decide_fn)(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                                     coordinator_decision *out, char *err, size_t errlen);

typedef struct coordinator_config {
    const char *bind_addr; /* "127.0.0.1:50051"; port 0 picks a free one (coordinator_port) */
    const char *token; /* bearer token; NULL/"" only with auth_all == 0 */
    int auth_all; /* 1: every birdie.v1 method needs the token */
    const char *db_path; /* SQLite file, created and migrated if needed */
    const char *run_name; /* a new run, or a resume (new incarnation) of a run of that name */
    int n_arms;
    const char *const *arm_names; /* [n_arms], unique */
    const char *const *arm_classes; /* [n_arms] objective class of each arm */
    const double *initial_weights; /* [n_arms] or NULL: uniform over classes, then arms */
    int64_t initial_version; /* mixture version of initial_weights (0, or the checkpoint's) */
    int64_t initial_step; /* step the run starts or resumes at */
    int world_size;
    int eval_deadline_ms; /* from a round's first report to its last, else the run fails */
    int stall_after_ms; /* a rank whose heartbeat is this late, or 5 step times if longer, is flagged; 0: 10 s */
    const char *metrics_addr; /* "HOST:PORT" serving GET /metrics (Prometheus text); NULL or "": none */
    coordinator_decide_fn decide;
    void *decide_ctx;
} coordinator_config;

/* Validates the config, opens and migrates the store, records the run and a new incarnation, binds
 * (SO_REUSEPORT off: a port in use is an error) and starts serving on a new thread. Returns 0 or a
 * negative code with a message; nothing is left running on error. */
int coordinator_start(const coordinator_config *cfg, coordinator **out, char *err, size_t errlen);

/* The bound TCP port (useful with port 0). */
int coordinator_port(const coordinator *co);
/* The metrics server's bound TCP port; 0 without one. */
int coordinator_metrics_port(const coordinator *co);

/* Snapshot of the run state name ("running", ...), safe from any thread. */
void coordinator_state(coordinator *co, char *out, size_t outlen);

/* Stops serving (open calls are cancelled, streams end), joins the threads, closes the store and
 * frees everything. The incarnation is marked ended with the run's state. NULL is ignored. */
void coordinator_stop(coordinator *co);

#endif
