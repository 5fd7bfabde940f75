/* coordinator_internal: the coordinator's state and the functions its files share
 * (coordinator.c: lifecycle and the completion-queue loop; coord_calls.c: per-call state machine
 * and streams; coord_run.c: run state, mixtures and evaluation rounds; coord_handlers.c: one
 * function per RPC method; coord_checkpoint.c: the checkpoint methods). Everything here runs on the coordinator thread only, except the
 * atomic `state_snapshot` and `stop_requested`. */
#ifndef BIRDIE_DAEMON_COORDINATOR_INTERNAL_H
#define BIRDIE_DAEMON_COORDINATOR_INTERNAL_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/coordinator.h"
#include "daemon/decide_worker.h"
#include "daemon/eval_round.h"
#include "daemon/store.h"
#include "worker/clock.h"

#define COORD_TICK_MS 50
#define COORD_DRAIN_MS 2000 /* how long a finished run's Watch streams may take to flush at stop */
#define COORD_OUTSTANDING_REQUESTS 8 /* request_call slots kept armed, for bursts of calls */
#define COORD_EVENT_QUEUE_MAX 1024 /* per Watch stream; a slower client is cut off */
#define COORD_MSG_MAX 512

typedef enum run_state {
    RUN_STARTING = 0,
    RUN_RUNNING,
    RUN_PAUSED,
    RUN_STOPPING,
    RUN_FINISHED,
    RUN_FAILED,
    RUN_STOPPED, /* ended early by an operator's stop (distinct from a run that reached its last step) */
} run_state;

const char *coord_run_state_name(run_state s);
/* The run is over: finished, stopped by an operator, or failed. */
static inline int coord_run_ended(run_state s)
{
    return s == RUN_FINISHED || s == RUN_STOPPED || s == RUN_FAILED;
}

typedef enum auth_level {
    AUTH_NONE, /* health probes */
    AUTH_READ, /* needs the token only with auth_all */
    AUTH_MUTATION, /* always needs the token */
} auth_level;

typedef enum stream_kind {
    STREAM_NONE = 0,
    STREAM_DIRECTIVE, /* Coordinator.WatchMixture */
    STREAM_EVENTS, /* Control.Watch */
    STREAM_HEALTH, /* grpc.health.v1.Health/Watch */
} stream_kind;

typedef struct coordinator coordinator;

/* A unary handler: returns the status; on OK sets *reply (packed), else writes msg. */
typedef grpc_status_code (*unary_handler)(coordinator *co, const ProtobufCMessage *req, grpc_byte_buffer **reply,
                                          char *msg, size_t msglen);

typedef struct method_entry {
    const char *path;
    const ProtobufCMessageDescriptor *request;
    auth_level auth;
    unary_handler unary; /* NULL for streams */
    stream_kind stream;
} method_entry;

typedef enum call_phase {
    PHASE_REQUESTED,
    PHASE_READING,
    PHASE_STREAMING,
    PHASE_FINISHING,
} call_phase;

struct server_call;
typedef struct call_tag {
    struct server_call *call;
    int is_close; /* the RECV_CLOSE_ON_SERVER batch of a stream */
} call_tag;

typedef struct server_call {
    coordinator *co;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_md;
    call_tag main_tag, close_tag;
    call_phase phase;
    int pending; /* batches in flight */
    const method_entry *method;
    grpc_byte_buffer *recv_bb;
    grpc_byte_buffer *send_bb; /* the message of the batch in flight */
    grpc_slice status_details; /* must outlive the status batch */
    int has_status_details;
    int cancelled; /* RECV_CLOSE_ON_SERVER result */
    /* streams */
    stream_kind stream;
    int send_in_flight;
    int gone; /* client gone or call failed: no more batches */
    int ending; /* send the final status when idle */
    int drain; /* with ending: send the queued events first (a run that ended), then the status */
    grpc_status_code end_code;
    char end_msg[COORD_MSG_MAX];
    int directive_dirty;
    int rank; /* directive streams: the rank that asked (WatchMixtureRequest.rank) */
    int64_t pushed_ms; /* directive streams: monotonic time of the last directive sent (or dropped) */
    grpc_byte_buffer **events; /* ring [COORD_EVENT_QUEUE_MAX] */
    int ev_head, ev_count;
    int health_known; /* Health/Watch: the service asked for is served here */
    int health_want, health_sent; /* Health/Watch: status to send, last sent (-1: none yet) */
    int counted; /* its status is in the per-method counter */
    struct server_call *prev, *next; /* stream list */
} server_call;

typedef struct rank_info {
    int registered;
    int finished;
    int64_t step;
    int64_t applied_version;
    int64_t applied_step;
    double tokens_per_s;
    int64_t last_heartbeat_ms; /* monotonic; 0 = none */
    char host[64]; /* from Register, for the stall log line */
    int64_t pid;
    int64_t step_changed_ms; /* monotonic time of the last heartbeat that advanced the step */
    double step_ms; /* recent time per step (moving average); 0 = not known yet */
    int stalled; /* flagged: no heartbeat for stall_after_ms (or 5 step times) */
} rank_info;

#define COORD_GRPC_CODES 17 /* grpc_status_code 0..16 */
/* Upper bounds (seconds) of the decision-time histogram's buckets; +Inf is implied. */
#define COORD_DECIDE_BUCKETS 10
extern const double coord_decide_bucket_le[COORD_DECIDE_BUCKETS];
/* Health: no step for this many recent step times (and at least stall_after_ms) is NOT_SERVING. */
#define COORD_HEALTH_STEP_FACTOR 10

struct coordinator {
    /* config (owned copies) */
    char *bind_addr, *token, *db_path, *run_name;
    int auth_all;
    int n_arms;
    char **arm_names, **arm_classes;
    int world_size;
    int eval_deadline_ms;
    int stall_after_ms;
    int store_failed; /* a write failed and the run failed with it: later per-step rows are not attempted */

    /* Held by the coordinator thread while it handles an event or a tick, and by the metrics
     * server while it copies a snapshot: a scrape sees the state between two store transactions,
     * the same state GetStatus and the store show. */
    pthread_mutex_t lock;

    /* gRPC */
    grpc_completion_queue *cq;
    grpc_server *server;
    int port;
    pthread_t thread;
    atomic_int stop_requested;
    int shutting_down;
    int draining; /* stop requested: event streams of a finished run are flushing, ending with OK */
    int64_t drain_until_ms; /* monotonic: the server shuts down then even if a watcher is slow */
    int shutdown_done;
    int live_calls;
    server_call *streams; /* every open stream call */

    /* run (coordinator thread only) */
    birdie_store *store;
    int64_t run_id, incarnation;
    run_state state;
    atomic_int state_snapshot;
    char stop_reason[COORD_MSG_MAX];
    char last_error[COORD_MSG_MAX];
    rank_info *ranks; /* [world_size] */
    int64_t step; /* newest step any rank reported */
    int64_t last_recorded_step; /* newest steps row written */
    int64_t last_applied_marked; /* newest mixture version whose applied_step is recorded */

    /* current mixture */
    int64_t version;
    double *weights; /* [n_arms] */
    char source[16];
    int64_t mixture_step;
    int64_t mixture_created_ms;

    /* evaluation */
    eval_round round;
    int64_t last_eval_step; /* -1: none */
    double *last_loss_sum, *last_tokens; /* [n_arms] */
    decide_worker *decider;

    /* checkpoints */
    int64_t checkpoint_seq; /* operator checkpoint requests of this incarnation (0: none) */
    int has_last_checkpoint;
    store_checkpoint_row last_checkpoint; /* newest recorded checkpoint of the run */

    /* objective classes in first-appearance order of arm_classes (pointers into arm_classes) */
    int n_classes;
    const char **class_names; /* [n_classes] */
    int *arm_class; /* [n_arms] class index of each arm */

    /* metrics (docs/design.md §9) */
    double last_loss; /* loss of the newest steps row (NaN: none) */
    double *train_class_loss; /* [n_classes] rank 0's per-class loss at that step (NaN: none) */
    double *last_rewards; /* [n_arms] rewards of the newest decision (NaN: none) */
    int64_t decisions_explore, decisions_exploit, decisions_operator; /* the run's decisions in the store */
    int64_t decide_bucket[COORD_DECIDE_BUCKETS + 1]; /* decisions of this process by duration; last: +Inf */
    double decide_seconds;
    int64_t (*rpc_count)[COORD_GRPC_CODES]; /* [coord_method_count() + 1][code]; last row: unknown methods */
    struct birdie_metrics_http *metrics_http;

    /* health (coord_health.c) */
    int64_t progress_ms; /* monotonic: the newest step advance, or when the run (re)entered running */
    int progress_was_step; /* progress_ms marks a step (not a resume): the next advance updates step_ms */
    double step_ms; /* recent time per global step (moving average); 0 = not known yet */
    int health_last; /* the status last pushed to Health/Watch streams (-1: none) */
};

/* coordinator.c: the run without its server. coord_open validates cfg, opens the store (a new
 * incarnation) and starts the decide thread; coord_close records how the incarnation ended and frees
 * everything. coordinator_start adds the gRPC server and its thread; tests/fuzz/fuzz_rpc.c drives
 * the handlers of coord_methods on an opened coordinator directly, on the calling thread. */
int coord_open(const coordinator_config *cfg, coordinator **out, char *err, size_t errlen);
void coord_close(coordinator *co);

/* time: wall-clock milliseconds for the store; deadlines use birdie_monotonic_ms (worker/clock.h) */
int64_t coord_now_unix_ms(void);

/* coord_calls.c */
void coord_request_call(coordinator *co);
void coord_on_event(coordinator *co, call_tag *tag, int success);
void coord_mark_directives_dirty(coordinator *co);
/* Sends the directive again to every rank that has not applied the newest mixture version and got no
 * directive for a second: a push lost on the way (see fault drop_push) delays that rank by about a
 * second instead of failing the run at the decision timeout. */
void coord_repush_directives(coordinator *co);
/* Ends every Watch stream with code and msg after the events already queued for it. */
void coord_end_event_streams(coordinator *co, grpc_status_code code, const char *msg);
/* Watch streams still open. */
int coord_event_streams_open(const coordinator *co);
void coord_broadcast_event(coordinator *co, const Birdie__V1__Event *ev);

/* coord_handlers.c */
const method_entry *coord_find_method(grpc_slice path);
/* The method table's size and the index of an entry (for per-method counters). */
int coord_method_count(void);
int coord_method_index(const method_entry *m);
const char *coord_method_path(int index);
/* Every method the coordinator serves (*n of them), in a fixed order. */
const method_entry *coord_methods(size_t *n);
grpc_byte_buffer *coord_pack_directive(coordinator *co);
/* The first event of every Control.Watch stream: the current state, step and mixture. */
grpc_byte_buffer *coord_pack_snapshot_event(coordinator *co);

/* OK while the run is running or paused; else FAILED_PRECONDITION with "<what>: the run is ...". */
grpc_status_code coord_check_active(const coordinator *co, const char *what, char *msg, size_t msglen);

/* coord_health.c */
/* "" or a service this coordinator serves (what Check and Watch know). */
int coord_health_service_known(const char *service);
/* 1 SERVING, 0 NOT_SERVING at monotonic time now_ms; why (may be NULL) says which rule decided. */
int coord_health_serving(const coordinator *co, int64_t now_ms, char *why, size_t whylen);
/* Recomputes the status and pushes a change to every Health/Watch stream (called after every
 * event and tick of the coordinator thread). */
void coord_health_update(coordinator *co);
/* A step advance (from heartbeats) or the run (re)entering running restarts the progress clock. */
void coord_health_progress(coordinator *co, int64_t now_ms, int64_t steps_advanced);
/* Health/Watch streams: the packed response for status. */
grpc_byte_buffer *coord_pack_health(int status);

/* coord_calls.c, for Health/Watch: queue status on the stream (sent when it differs from the last). */
void coord_health_stream_set(server_call *c, int status);

/* coord_checkpoint.c */
grpc_status_code coord_handle_checkpoint(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                         char *msg, size_t msglen);
grpc_status_code coord_handle_report_checkpoint(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                                char *msg, size_t msglen);
/* The newest recorded checkpoint (all zero / "" when none); its strings point into co. */
void coord_last_checkpoint_record(const coordinator *co, Birdie__V1__CheckpointRecord *out);
/* At start: the run's newest checkpoint from the store (0 or negative with err). */
int coord_load_last_checkpoint(coordinator *co, char *err, size_t errlen);

/* coord_run.c */
int coord_arm_index(const coordinator *co, const char *name);
/* Changes the run state and records it; -EIO (with msg) when the store refused, state unchanged
 * unless `force` (internal failures must still stop the run). */
int coord_set_state(coordinator *co, run_state s, const char *reason, int force, char *msg, size_t msglen);
/* Commits and installs a new mixture (version + 1). d may be NULL. 0 or negative with msg. */
int coord_commit_operator_mixture(coordinator *co, const double *weights, const char *request_id, const char *reason,
                                  char *msg, size_t msglen);
/* Called every tick: round deadline, finished decisions. */
void coord_tick(coordinator *co);
/* A completed round: hand it to the decide worker and announce it. */
void coord_round_completed(coordinator *co);
/* An error of the run (a store write that failed, a decision refused, a missed deadline): kept for
 * GetStatus.last_error and logged as one line on stderr, "<UTC time> birdied coordinator: step
 * <newest reported step>: <message>", e.g. "2026-12-06T13:45:01Z birdied coordinator: step 120: ...". */
void coord_set_error(coordinator *co, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A write to the store failed (after SQLite's bounded wait on a busy database): the run fails with
 * that reason, ranks stop and exit 7, so no later row is lost silently. `what` names the record. */
void coord_store_failed(coordinator *co, const char *what, const char *err);

#endif
