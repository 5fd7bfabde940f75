/* worker/data/prep.h: the `birdied prep` subcommand: text and JSONL files to byte-level shards.
 *
 *   birdied prep [--out DIR] [--shard-tokens N] [--val-fraction F] FILE...
 *
 * Every document becomes its bytes as token ids followed by BIRDIE_EOS. A FILE ending in .jsonl
 * holds one {"text": ...} object per line, one document each; any other FILE is one document.
 * Documents keep their order across FILEs; the last F of them (default 0.01, at least one when
 * there are two or more, none when F is 0) go to DIR/val_000000.bin..., the others to
 * DIR/train_000000.bin..., each file holding at most N tokens (default 100,000,000). Empty
 * documents are skipped and counted. All input is validated before anything is written, a run
 * that fails while writing removes the shards it wrote, and DIR must not already hold
 * train_*.bin or val_*.bin files (stale shards would be read with the new ones).
 */
#ifndef BIRDIE_PREP_H
#define BIRDIE_PREP_H

/* The exit codes of birdied (worker/error.h): internal (out of memory) 1, usage 2 (flags, an --out
 * directory that cannot be used), data 3 (an input that cannot be read or parsed, no documents, a
 * shard that cannot be written). */
enum { BIRDIE_PREP_OK = 0, BIRDIE_PREP_FAILED = 1, BIRDIE_PREP_USAGE = 2, BIRDIE_PREP_DATA = 3 };

/* argv[0] is the subcommand's name ("prep"), options and files follow. Prints a summary on
 * stdout, errors on stderr. Returns one of the exit codes above. Re-entrant: keeps no
 * global state (no getopt), so it can run more than once in one process. */
int birdie_prep_main(int argc, char **argv);

#endif
