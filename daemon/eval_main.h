/* daemon/eval_main.h: `birdied eval`: a checkpoint measured on the evaluation tasks (phonebook
 * retrieval, infilling, bits per character), printed as a table or one JSON object and, with --db,
 * recorded in the store. It lives in daemon/ because it writes SQLite (daemon/store_eval.h). */
#ifndef BIRDIE_DAEMON_EVAL_MAIN_H
#define BIRDIE_DAEMON_EVAL_MAIN_H

/* argv[0] is "eval". Returns the process's exit code (worker/error.h classes: 0, 1, 2, 3). */
int birdie_eval_main(int argc, char **argv);

#endif
