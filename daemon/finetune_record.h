/* daemon/finetune_record.h: `birdied finetune --db FILE`: the curve points of a fine-tune recorded in
 * the store (birdie_store_record_finetune_point, migrations/0003_evaluations.sql) through the hooks
 * of worker/finetune_main.h, so the worker's fine-tuning code needs no SQLite. Not here: fine-tuning. */
#ifndef BIRDIE_DAEMON_FINETUNE_RECORD_H
#define BIRDIE_DAEMON_FINETUNE_RECORD_H

#include "daemon/store.h"
#include "worker/finetune_main.h"

typedef struct birdie_finetune_recorder {
    birdie_store *store; /* open between the hooks' open and close */
} birdie_finetune_recorder;

/* Hooks that record into a store opened at their open (a file that is not a birdie database, or one
 * newer than this binary, is a data error). r must outlive the hooks' use. */
birdie_finetune_hooks birdie_finetune_recorder_hooks(birdie_finetune_recorder *r);

#endif
