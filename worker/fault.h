/* worker/fault.h: built-in fault injection, for tests of what birdie does when the cluster misbehaves.
 *
 * BIRDIE_FAULT=point@step[=count][/rank][,...] arms faults in every process that reads it (birdied reads
 * it at start-up, on every rank; the coordinator on rank 0 shares rank 0's table). A point fires at the
 * first place it guards once the process has reached `step` (the training step this rank is at, or the
 * step of the record being written for the store's points); count (default 1) is how many times it
 * fires; /rank restricts it to one rank (default: every rank; for drop_push, which runs in the
 * coordinator, the rank whose directive is dropped). What each point does and the outcome
 * birdie promises are listed with the points below and in docs/design.md ("Faults"); tests/faults.sh
 * checks every one. Unset, every query is one relaxed atomic load of a zero mask: nothing is armed in a
 * production run unless someone set the variable. This file only decides whether a fault fires; the
 * code at each point does the harm.
 */
#ifndef BIRDIE_FAULT_H
#define BIRDIE_FAULT_H

#include <stddef.h>

typedef enum birdie_fault_point {
    BIRDIE_FAULT_KILL, /* kill: SIGKILL this rank at the start of the step */
    BIRDIE_FAULT_HANG_COLLECTIVE, /* hang_collective: this rank never joins the step's first collective */
    BIRDIE_FAULT_STOP_HEARTBEAT, /* stop_heartbeat: no heartbeat from this step on (training goes on) */
    BIRDIE_FAULT_CORRUPT_SHARD, /* corrupt_shard: the token scan of a shard being opened reads one bad id */
    BIRDIE_FAULT_FAIL_FSYNC, /* fail_fsync: the fsync of the next checkpoint file fails with EIO */
    BIRDIE_FAULT_FAIL_STORE, /* fail_store: the coordinator's next SQLite write fails */
    BIRDIE_FAULT_STORE_BUSY, /* store_busy: another connection holds the SQLite write lock for `count` retries */
    BIRDIE_FAULT_DROP_PUSH, /* drop_push: the coordinator drops the next mixture directive to this rank */
    BIRDIE_FAULT_NAN_LOSS, /* nan_loss: this rank's loss of the step is NaN */
    BIRDIE_FAULT_KILL_BEFORE_RENAME, /* kill_before_rename: SIGKILL after a checkpoint's temporary file, before its rename */
    BIRDIE_FAULT_POINTS
} birdie_fault_point;

/* The point's name as BIRDIE_FAULT spells it. */
const char *birdie_fault_name(birdie_fault_point p);

/* Arms the faults of spec for a process of rank `rank` (replacing whatever was armed). An empty or NULL
 * spec disarms all. Returns 0, or -EINVAL with a message naming the bad entry (nothing armed then). */
int birdie_fault_arm(const char *spec, int rank, char *err, size_t errlen);

/* birdie_fault_arm(getenv("BIRDIE_FAULT"), rank, ...). */
int birdie_fault_arm_from_env(int rank, char *err, size_t errlen);

/* The training step this rank is at (the train loop sets it before each step). */
void birdie_fault_set_step(long step);

/* 1 when p is armed, its step is reached (at_step < 0: the process's current step) and it has firings
 * left (one is used up); else 0. */
int birdie_fault_fire(birdie_fault_point p, long at_step);

/* birdie_fault_fire for a point that strikes another rank's traffic (drop_push): only when the spec's
 * /rank is target_rank or was not given. */
int birdie_fault_fire_for_rank(birdie_fault_point p, long at_step, int target_rank);

/* 1 when p is armed and its step is reached, without using a firing (for faults that last). */
int birdie_fault_active(birdie_fault_point p, long at_step);

/* The count given for p (how many times it fires), or 0 when not armed. */
int birdie_fault_count(birdie_fault_point p);

/* What the kill points do: SIGKILL to this process (nothing runs after it, as with kill -9). */
void birdie_fault_kill(void);
/* What hang_collective does: sleeps until the process is killed (as a rank stopped by SIGSTOP would). */
void birdie_fault_hang(void);

#endif
