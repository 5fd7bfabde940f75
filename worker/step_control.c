/* worker/step_control.c: what a step boundary's vote means (step_control.h). */
#include "worker/step_control.h"

void birdie_step_control_init(birdie_step_control *sc, int64_t applied_version)
{
    *sc = (birdie_step_control){.pending_version = -1, .applied_version = applied_version};
}

int birdie_step_control_begin(birdie_step_control *sc, long step)
{
    sc->holding = sc->pending_version >= 0 && step < sc->pending_from;
    sc->stopping = 0;
    return sc->holding;
}

birdie_step_verdict birdie_step_control_vote(birdie_step_control *sc, long step, const birdie_step_votes *v, int remote)
{
    birdie_step_verdict r = {.next = BIRDIE_STEP_TRAIN, .apply_version = -1, .wait_version = -1};
    /* an operator's request counts once: every rank adopts the highest sequence number seen */
    if (v->checkpoint_signal || v->checkpoint_seq > sc->checkpoint_seq) {
        sc->checkpoint_due = 1;
        sc->checkpoint_seq = v->checkpoint_seq;
        r.checkpoint_taken = 1;
    }
    if (v->stop && !sc->stopping) {
        r.stop_seen = 1;
        /* A decision due at this step is taken first, so the final checkpoint holds it (as the run
         * would have from this step on) and a resume continues exactly. One still on its way
         * (apply_lag) moves the stop to its step: training goes on for at most apply_lag steps. */
        if (!remote || sc->pending_version < 0) {
            r.next = BIRDIE_STEP_STOP;
            return r;
        }
        sc->stopping = !sc->holding;
    }
    if (!remote)
        return r;
    if (sc->holding && (!v->pause || v->stop)) /* a decision is on its way: no mixture changes until its step */
        return r;
    if (v->pause && !v->stop) {
        r.next = BIRDIE_STEP_WAIT_PAUSE;
        return r;
    }
    int64_t wanted = sc->pending_version;
    if ((wanted >= 0 && v->min_version < wanted) || v->min_version != v->max_version) {
        r.next = BIRDIE_STEP_WAIT_VERSION;
        r.wait_version = wanted > v->max_version ? wanted : v->max_version;
        return r;
    }
    if (v->min_version > sc->applied_version) {
        r.apply_version = v->min_version;
        sc->applied_version = v->min_version;
        sc->applied_step = step;
    }
    r.next = sc->stopping ? BIRDIE_STEP_STOP : BIRDIE_STEP_TRAIN;
    return r;
}

int birdie_step_control_settle(birdie_step_control *sc, long step, long first_step)
{
    if (sc->holding)
        return 0;
    int write = sc->checkpoint_due && step > first_step;
    sc->checkpoint_due = 0;
    sc->pending_version = -1;
    return write;
}

void birdie_step_control_decision_reported(birdie_step_control *sc, long step, long apply_lag, int64_t next_eval)
{
    sc->pending_version = sc->applied_version + 1;
    sc->pending_from = step + 1 + apply_lag < next_eval ? step + 1 + apply_lag : (long)next_eval;
}

int birdie_step_control_periodic_checkpoint(birdie_step_control *sc, long step, long last_step)
{
    if (sc->pending_version >= 0 && step < last_step) {
        sc->checkpoint_due = 1;
        return 0;
    }
    return 1;
}

int birdie_step_control_final_checkpoint(const birdie_step_control *sc, int ckpt_every, long steps_done,
                                         long first_step)
{
    return (ckpt_every || sc->checkpoint_due) && steps_done >= first_step;
}
