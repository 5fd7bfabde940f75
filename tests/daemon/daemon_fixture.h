/* daemon_fixture: shared scaffolding of the daemon tests: a coordinator started in-process on
 * 127.0.0.1:0 with a temporary database and a deterministic fake decide callback, plus helpers to
 * count rows in its database (read through a second, read-only SQLite connection) and to run a
 * subprocess with a time limit. */
#ifndef BIRDIE_TESTS_DAEMON_FIXTURE_H
#define BIRDIE_TESTS_DAEMON_FIXTURE_H

#include <stdint.h>

#include "daemon/coordinator.h"
#include "daemon/rpc_client.h"

#define FIX_TOKEN "t0ken-for-tests"
#define FIX_N_ARMS 4

extern const char *const fix_arm_names[FIX_N_ARMS];
extern const char *const fix_arm_classes[FIX_N_ARMS];

/* How the fake decide callback behaves. */
typedef struct fake_scheduler {
    int fail; /* return -EINVAL */
    int bad_weights; /* return NaN weights */
    int keep; /* keep the mixture (new_mixture = 0) */
    int sleep_ms; /* pretend to be slow */
    int calls; /* how many times it ran */
} fake_scheduler;

typedef struct fixture {
    char dir[256];
    char db_path[300];
    char addr[64];
    coordinator *co;
    fake_scheduler sched;
    int world_size, auth_all, eval_deadline_ms, stall_after_ms;
    int metrics; /* serve GET /metrics on 127.0.0.1:0 */
    int metrics_port; /* its bound port (0: none) */
} fixture;

/* The fake scheduler's mixture: weight of arm i proportional to its mean loss (loss_sum/tokens). */
void fix_expected_weights(const double *loss_sum, const double *tokens, double *out);

/* Starts a coordinator (world_size ranks, auth_all as given). Returns 0 or fails the test. */
int fix_start(fixture *f, int world_size, int auth_all, int eval_deadline_ms);
/* The same with the coordinator's stall threshold (coordinator_config.stall_after_ms; 0: its default). */
int fix_start_stall(fixture *f, int world_size, int auth_all, int eval_deadline_ms, int stall_after_ms);
/* The same with metrics served on 127.0.0.1:0 (f->metrics_port). */
int fix_start_metrics(fixture *f, int world_size, int auth_all, int eval_deadline_ms, int stall_after_ms);
/* GET path from the fixture's metrics server: the HTTP status (0 when it could not connect), the body
 * (malloc'ed, NUL-terminated; free it) and the Content-Type header value (ctype[ctlen], may be NULL). */
int fix_http_get(const fixture *f, const char *method, const char *path, char **body, char *ctype, size_t ctlen);
/* The value of one sample ("name" or "name{labels}" exactly as printed) in an exposition; NaN when absent. */
double fix_metric(const char *text, const char *sample);

/* Stops the coordinator and starts a new one on the same database (a new incarnation of the run)
 * and a new port (f->addr is updated). Returns 0 or a negative code. */
int fix_restart(fixture *f);
/* Stops the coordinator (if running) and removes the temporary directory. */
void fix_stop(fixture *f);

/* A channel to the fixture's coordinator with the given token (NULL: none). */
birdie_rpc_channel *fix_channel(const fixture *f, const char *token);

/* SELECT count(*) FROM table [WHERE where], or -1 on error. */
int64_t fix_count(const fixture *f, const char *table, const char *where);

/* Runs argv with stdout+stderr to out_path, killing it after timeout_ms. Returns its exit status,
 * or -1 if it could not run or was killed. */
int fix_run(char *const argv[], const char *out_path, int timeout_ms);
/* Reads a whole (small) file into a static buffer. */
const char *fix_slurp(const char *path);

#endif
