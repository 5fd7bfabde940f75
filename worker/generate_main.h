/* worker/generate_main.h: the `birdied generate` subcommand: a continuation of a prompt from a
 * trained checkpoint, printed on stdout.
 *
 *   birdied generate [--checkpoint DIR|FILE] [--config FILE] [--section.key=value ...]
 *                    [--prompt TEXT | --prompt-file F] [--max-tokens N] [--temperature T] [--top-k K]
 *                    [--seed S] [--stop STR] [--backend cpu]
 *
 * A checkpoint records the hash of its run's configuration, not the model's shape, so the command
 * takes the run's configuration (the same --config and overrides as the training run) and refuses a
 * checkpoint whose hash differs. The generator itself is worker/generate.h. */
#ifndef BIRDIE_GENERATE_MAIN_H
#define BIRDIE_GENERATE_MAIN_H

/* argv[0] is "generate". Returns an exit code of worker/error.h: 0, 1 internal, 2 usage, 3 data
 * (missing, corrupt or mismatched checkpoint, unusable prompt). Keeps no global state. */
int birdie_generate_main(int argc, char **argv);

#endif
