/* worker/checkpoint.h: checkpoints of a training run and the manifest that lists them.
 *
 * A checkpoint is one file `ckpt_<step>.bin`: a header, the model's parameter buffer and both AdamW
 * moments (as they are in memory, fp32), the mixture in force (version and weights) and, when the
 * run keeps its own scheduler, the scheduler's state; a 64-bit FNV-1a checksum of everything before
 * it closes the file. The data position needs no field: every draw is keyed by (seed, step, row).
 * Files are written to a temporary name, fsynced and renamed; then `manifest.json` (jansson) is
 * rewritten the same way with every kept checkpoint's step, file, size and checksum. Resuming takes
 * the newest listed checkpoint that verifies. This file does not decide when to checkpoint
 * (worker/train.c) and does not record checkpoints in SQLite. */
#ifndef BIRDIE_CHECKPOINT_H
#define BIRDIE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "worker/fnv.h" /* the checksum; also for callers hashing a run's config */

typedef struct birdie_checkpoint {
    int64_t step; /* optimizer steps done */
    size_t n_params;
    float *params, *m, *v; /* host buffers, n_params each */
    int n_arms;
    uint64_t mixture_version;
    double *weights; /* (n_arms) */
    uint8_t *sched_state; /* scheduler state (birdie_sched_save), NULL when none */
    size_t sched_len;
    uint64_t config_hash; /* of the shape-defining config: a resume must match it */
    int32_t family; /* the model family (worker/model.h enum birdie_model_family; 0 = Gated SSM) */
} birdie_checkpoint;

/* The largest family value a checkpoint may hold (BIRDIE_FAMILY_TRANSFORMER of worker/model.h). */
#define BIRDIE_CHECKPOINT_FAMILY_MAX 2u

/* Where a written checkpoint went (what a coordinator records). */
typedef struct birdie_checkpoint_info {
    char path[4096];
    uint64_t bytes;
    char checksum[17]; /* 16 hex digits, as in the manifest */
} birdie_checkpoint_info;

/* Writes ckpt to dir (created if missing) and updates dir/manifest.json, keeping the newest `keep`
 * checkpoints (older files are deleted). info (may be NULL) receives the file's path, size and
 * checksum. 0 or a negative errno with a message. */
int birdie_checkpoint_write(const char *dir, const birdie_checkpoint *ckpt, int keep, birdie_checkpoint_info *info,
                            char *err, size_t errlen);

/* Loads the newest checkpoint of dir/manifest.json that verifies (size, checksum, header) into ckpt
 * (buffers malloc'ed; free with birdie_checkpoint_free). Returns 1 when one was loaded, 0 when dir
 * holds no manifest (a fresh run), or a negative errno naming the problem when checkpoints are
 * listed but none verifies. Each rejected file is described in notes (may be NULL). */
int birdie_checkpoint_load_latest(const char *dir, birdie_checkpoint *ckpt, char *notes, size_t noteslen, char *err,
                                  size_t errlen);

/* Loads and verifies one checkpoint file. */
int birdie_checkpoint_load_file(const char *path, birdie_checkpoint *ckpt, char *err, size_t errlen);

void birdie_checkpoint_free(birdie_checkpoint *ckpt);

#endif
