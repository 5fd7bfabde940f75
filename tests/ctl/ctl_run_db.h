/* tests/ctl/ctl_run_db.h: a Birdie run written into a fresh database through the store's write API,
 * with a real scheduler (daemon/scheduler) making the decisions exactly as the coordinator records
 * them (evals, rewards, mixture, decision and its 0005 details in one transaction per evaluation),
 * an operator's mixture between two evaluations, training steps, and checkpoint files holding the
 * scheduler's state at two points. What birdiectl plot and explain read, with every decision kept in
 * memory so a test can compare the command's output with what was decided. */
#ifndef BIRDIE_TESTS_CTL_RUN_DB_H
#define BIRDIE_TESTS_CTL_RUN_DB_H

#include <stdint.h>

#include "daemon/scheduler/scheduler.h"

enum { RUN_ARMS = 4, RUN_EVALS = 10, RUN_OPERATOR_AFTER = 6 };

typedef struct run_db {
    char dir[64]; /* temporary folder: s.db, ck/ (checkpoints) */
    char db[128], ck_dir[128];
    birdie_decision d[RUN_EVALS]; /* the scheduler's decisions; evaluation k at step 100 (k + 1) */
    int64_t store_version[RUN_EVALS]; /* the mixture version the store gave decision k */
    double operator_weights[RUN_ARMS]; /* set at step RUN_OPERATOR_AFTER * 100 + 50 */
    uint64_t ckpt_evals[2]; /* evaluations done in the scheduler state of each checkpoint file */
    char ckpt_path[2][4096];
} run_db;

extern const char *const run_arm_names[RUN_ARMS];
extern const char *const run_arm_classes[RUN_ARMS];

/* 0, or -1 after printing why. */
int run_db_create(run_db *r);
/* Frees the decisions and removes the folder. */
void run_db_destroy(run_db *r);

#endif
