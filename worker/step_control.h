/* worker/step_control.h: the step-control protocol of a run, as one type and pure functions.
 *
 * At every step boundary the ranks vote in the control all-reduce (MIN of the mixture versions they
 * hold, MAX of their pause, stop and checkpoint flags), so they all switch mixture, pause, checkpoint
 * or stop at the same step. This module decides what a vote means, given what is pending:
 *   - a new mixture is taken only once every rank holds it (min == max);
 *   - after an evaluation whose decision the coordinator makes, one decision is pending: it applies
 *     from a fixed step (the step after the evaluation, or [scheduler] apply_lag steps later, at the
 *     latest the next evaluation), and until then no other mixture is taken, however early it came;
 *   - a checkpoint (operator or signal) describes the state after the previous step; while a decision
 *     is pending it waits for the step the decision applies from, so it holds that decision;
 *   - a stop ends the run before the step it is seen at, except that a decision due at that step is
 *     taken first and one still pending moves the stop to its step (so the final checkpoint holds it);
 *   - a pause holds every rank at the boundary until it ends (or a stop comes).
 * It does not talk to other ranks, wait, or write checkpoints (worker/train.c does, as told here). */
#ifndef BIRDIE_STEP_CONTROL_H
#define BIRDIE_STEP_CONTROL_H

#include <stdint.h>

typedef struct birdie_step_control {
    int64_t pending_version; /* the version the coordinator's pending decision will carry; -1: none */
    long pending_from; /* and the step it applies from */
    int checkpoint_due; /* a checkpoint of the state after the previous step is wanted */
    int64_t checkpoint_seq; /* operator checkpoint requests already served */
    int64_t applied_version; /* the mixture in force and the step it was applied at */
    long applied_step;
    /* within one step boundary */
    int holding; /* a decision is pending and its step has not come */
    int stopping; /* stop once the decision due now is applied */
} birdie_step_control;

/* The control all-reduce's result: MIN of the versions, MAX of each flag. */
typedef struct birdie_step_votes {
    int64_t min_version, max_version;
    int pause, stop, checkpoint_signal;
    int64_t checkpoint_seq;
} birdie_step_votes;

typedef enum birdie_step_next {
    BIRDIE_STEP_TRAIN, /* train this step */
    BIRDIE_STEP_STOP, /* stop before this step */
    BIRDIE_STEP_WAIT_PAUSE, /* paused: wait for the end of the pause (or a stop), then vote again */
    BIRDIE_STEP_WAIT_VERSION, /* a version is not on every rank yet: wait for wait_version, vote again */
} birdie_step_next;

typedef struct birdie_step_verdict {
    birdie_step_next next;
    int64_t apply_version; /* >= 0: every rank holds this newer mixture: take it now, before next */
    int64_t wait_version; /* BIRDIE_STEP_WAIT_VERSION: the version to wait for */
    int stop_seen; /* this vote carried the stop: the caller records why */
    int checkpoint_taken; /* this vote carried a checkpoint request (now due): signal flags may clear */
} birdie_step_verdict;

void birdie_step_control_init(birdie_step_control *sc, int64_t applied_version);

/* Starts the boundary before `step`: returns 1 while a pending decision holds mixtures back. */
int birdie_step_control_begin(birdie_step_control *sc, long step);

/* What one vote means. remote: a coordinator is the control plane (without one, only stops and
 * checkpoints exist and nothing waits). */
birdie_step_verdict birdie_step_control_vote(birdie_step_control *sc, long step, const birdie_step_votes *v,
                                             int remote);

/* After the boundary's last vote (next was TRAIN): 1 when the checkpoint of step - 1 is to be written
 * now (it is due, no decision holds it back, and a step has been trained since the run started at
 * first_step). Clears what the boundary settled. */
int birdie_step_control_settle(birdie_step_control *sc, long step, long first_step);

/* The coordinator will decide on the evaluation of `step`: its decision carries the next version and
 * applies from step + 1 + apply_lag, at the latest from next_eval (the next evaluation step). */
void birdie_step_control_decision_reported(birdie_step_control *sc, long step, long apply_lag, int64_t next_eval);

/* A periodic checkpoint after `step`: 1 to write it now; 0 when a decision is pending (it is then due
 * at the step the decision applies from). The last step is always written now. */
int birdie_step_control_periodic_checkpoint(birdie_step_control *sc, long step, long last_step);

/* After a stop: 1 when the run leaves a checkpoint of its last step (it checkpoints periodically, or
 * one was due) and it trained at least one step. */
int birdie_step_control_final_checkpoint(const birdie_step_control *sc, int ckpt_every, long steps_done,
                                         long first_step);

#endif
