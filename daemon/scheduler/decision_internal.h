/* daemon/scheduler/decision_internal.h: allocation of a decision record (decision.c), for the code
 * that fills one (scheduler.c). Not a public header. */
#ifndef BIRDIE_SCHED_DECISION_INTERNAL_H
#define BIRDIE_SCHED_DECISION_INTERNAL_H

#include "daemon/scheduler/scheduler.h"

/* Releases what d held, then gives it zeroed arrays for n_arms arms and top_k candidates; the fit
 * and choice fields start as NaN ("not computed"). 0 or -ENOMEM. */
int sched_decision_alloc(birdie_decision *d, int n_arms, int top_k);

#endif
