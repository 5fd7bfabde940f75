/* worker/scheduler_defaults.h: the defaults of the scheduler settings a run's config exposes
 * ([scheduler] keys of worker/config.c), also the scheduler library's own defaults
 * (birdie_sched_config_defaults in daemon/scheduler/sched_config.c): one table, so that a scheduler
 * built from the library's defaults and one built from a default config are the same.
 * The warm-up is not here: the config's default follows the run length (steps / 30), the library's
 * fixed 100 steps serves callers that have no run length. Settings the config does not expose
 * (noise, exploration, optimiser) live in sched_config.c alone. */
#ifndef BIRDIE_SCHEDULER_DEFAULTS_H
#define BIRDIE_SCHEDULER_DEFAULTS_H

/* Reward-model width D (even). docs/algorithm.md §3.5 allows 128 or 256; 128 keeps a
 * decision near 0.5 s on one core. */
#define BIRDIE_SCHED_DEFAULT_HIDDEN 128
#define BIRDIE_SCHED_DEFAULT_LAYERS 4 /* reward-model Gated SSM blocks */
#define BIRDIE_SCHED_DEFAULT_FIT_ITERS 200 /* reward-model AdamW steps per evaluation */
#define BIRDIE_SCHED_DEFAULT_CANDIDATES 2048 /* candidate mixtures scored */
#define BIRDIE_SCHED_DEFAULT_TOP_K 8 /* the next mixture is the mean of the best top_k */

/* The config table writes its defaults as text. */
#define BIRDIE_SCHED_DEFAULT_TEXT_(x) #x
#define BIRDIE_SCHED_DEFAULT_TEXT(x) BIRDIE_SCHED_DEFAULT_TEXT_(x)

#endif
