/* ctl_explain: `birdiectl explain STEP | --decision N [--replay [--checkpoint PATH]]`: one scheduler
 * decision as the store recorded it (daemon/store_explain.h): the per-arm validation losses it saw,
 * the rewards, explore or exploit and the draw behind it, the reward model's fit errors, the
 * predicted reward of the chosen mixture against the reward observed at the next decision, the top
 * candidates, and the mixture before and after, per arm and per class; as text or one JSON object.
 * With --replay it recomputes the decision from a checkpoint's scheduler state (the newest one
 * saved before it), replaying every stored evaluation in between, and compares the result with the
 * stored record bit for bit. It reads the store read-only and never talks to a server. */
#ifndef BIRDIE_CTL_EXPLAIN_H
#define BIRDIE_CTL_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct ctl_explain_args {
    const char *db, *run;
    int by_decision; /* 0: `step` is a training step; 1: `step` is the scheduler's evaluation index */
    int64_t step;
    int replay;
    const char *checkpoint; /* NULL: the checkpoints the store recorded; else a file or a folder */
    int json;
} ctl_explain_args;

enum {
    CTL_EXPLAIN_REPLAY_NONE = 0, /* not asked */
    CTL_EXPLAIN_REPLAY_MATCH = 1,
    CTL_EXPLAIN_REPLAY_DIFFERS = 2
};

/* Prints the explanation to stdout. 0 with *replay set; -ENOENT when there is no such decision (or
 * nothing to replay from), -EINVAL for a database without the run, -EIO for a database or checkpoint
 * that cannot be read; a message in err. */
int ctl_explain(const ctl_explain_args *a, int *replay, char *err, size_t errlen);

#endif
