/* worker/cli_flags.h: the flag parsing the subcommands of birdied share (generate, eval, finetune):
 * "--name VALUE" or "--name=VALUE", and strict integer and number parsing. Errors are the caller's to
 * word; these only say whether a value is well formed. Not here: the run configuration's own keys
 * (worker/config.h) and what any flag means. */
#ifndef BIRDIE_CLI_FLAGS_H
#define BIRDIE_CLI_FLAGS_H

#include <stdint.h>

/* The value of flag `name` at argv[*i] ("--name=V", or "--name V" which advances *i), or NULL when
 * argv[*i] is another flag. A bare "--name" as the last argument gives "" (its parser rejects it). */
const char *birdie_flag_value(int argc, char **argv, int *i, const char *name);

/* Whether argv[i] is a configuration override "--section.key=value". */
int birdie_flag_is_override(const char *arg);

/* Decimal integers in [lo, hi] / non-negative 64-bit integers / finite numbers in [lo, hi]: 0, or -1
 * when s is empty, has trailing bytes or is out of range. */
int birdie_parse_long(const char *s, long lo, long hi, long *out);
int birdie_parse_u64(const char *s, uint64_t *out);
int birdie_parse_double(const char *s, double lo, double hi, double *out);

/* The exit code of subcommand `name` that ended with rc (0, or a negative code whose message is err):
 * 0, or the failure's exit class (worker/error.h; 1 when untagged) after "birdied NAME: ERR" on stderr. */
int birdie_subcommand_exit(const char *name, int rc, const char *err);

#endif
