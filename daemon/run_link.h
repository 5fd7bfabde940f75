/* daemon/run_link.h: connects a birdied process to its coordinator. Rank 0 hosts the coordinator
 * (coordinator.h) with the scheduler bound as its decide callback; every rank, rank 0 included,
 * registers over gRPC (worker_client.h) and gets the birdie_control table the training loop uses.
 * It does not train and does not decide when a rank applies a mixture (worker/train.c does). */
#ifndef BIRDIE_DAEMON_RUN_LINK_H
#define BIRDIE_DAEMON_RUN_LINK_H

#include <stddef.h>
#include <stdio.h>

#include "worker/checkpoint.h"
#include "worker/collective.h"
#include "worker/config.h"
#include "worker/control.h"

typedef struct birdie_run_link birdie_run_link;

/* Collective over all ranks (every rank must call it). token may be "" (then cfg->auth_all must be
 * false). resume (may be NULL): the coordinator continues from the checkpoint's step, mixture and
 * version (a new incarnation of the run; its scheduler history starts empty). On success ctl is filled in. Errors name the cause; a coordinator that fails to start on
 * rank 0 fails every rank. */
int birdie_run_link_open(const birdie_config *cfg, birdie_collective *coll, const char *token,
                         const birdie_checkpoint *resume, FILE *log, birdie_control *ctl, birdie_run_link **out,
                         char *err, size_t errlen);
/* Collective: every rank closes its client, then rank 0 stops the coordinator. */
void birdie_run_link_close(birdie_run_link *link, birdie_collective *coll);

#endif
