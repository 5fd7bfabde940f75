/* worker/finetune_main.h: the `birdied finetune` subcommand: a pre-trained checkpoint fine-tuned on
 * phonebook items (worker/finetune.h) with a learning-speed curve, and the fine-tuned model written as
 * a checkpoint that `birdied generate --checkpoint OUT` loads with no other flag.
 *
 *   birdied finetune --checkpoint DIR|FILE [--config F] [--section.key=value ...] --task phonebook
 *                    --out DIR [--steps N] [--batch B] [--seq-len T] [--lr X] [--entries MIN-MAX]
 *                    [--k MIN-MAX] [--curve-every N] [--curve-items N] [--seed S] [--name NAME]
 *                    [--db FILE] [-o table|json]
 *
 * OUT receives ckpt_<steps>.bin with its manifest.json and a config.ini: the source run's
 * configuration with [train] batch, seq_len, lr, [run] steps, name and [checkpoint] dir set to the
 * fine-tune's, and the checkpoint records that configuration's hash (birdie_train_config_hash). The
 * curve points also go to hooks (the daemon side records them in SQLite); this file has no SQLite. */
#ifndef BIRDIE_FINETUNE_MAIN_H
#define BIRDIE_FINETUNE_MAIN_H

#include <stddef.h>
#include <stdint.h>

#include "worker/finetune.h"

/* Where the curve goes besides stdout: open(db_path) once before training when --db is given, point
 * for every curve point (run = the fine-tune's [run] name), close at the end when open succeeded. A
 * negative return stops the command with that code's exit class (untagged: 1). */
typedef struct birdie_finetune_hooks {
    void *ctx;
    int (*open)(void *ctx, const char *db_path, char *err, size_t errlen);
    int (*point)(void *ctx, const char *run, int64_t source_step, double lr, const birdie_finetune_point *p, char *err,
                 size_t errlen);
    void (*close)(void *ctx);
} birdie_finetune_hooks;

/* argv[0] is "finetune"; hooks may be NULL (then --db is a usage error). Returns an exit code of
 * worker/error.h: 0, 1 internal, 2 usage, 3 data (missing, corrupt or mismatched checkpoint, an output
 * that cannot be written), 4 non-finite loss or gradient. Keeps no global state. */
int birdie_finetune_main(int argc, char **argv, const birdie_finetune_hooks *hooks);

#endif
