/* store_internal: the birdie_store handle and the statement helpers shared by store_open.c,
 * store_write.c, store_read.c and store_eval.c. Not part of the public API. */
#ifndef BIRDIE_DAEMON_STORE_INTERNAL_H
#define BIRDIE_DAEMON_STORE_INTERNAL_H

#include <sqlite3.h>

#include "daemon/store.h"

struct birdie_store {
    sqlite3 *db;
    int read_only;
    int schema_version; /* PRAGMA user_version after opening (read-only handles may be older) */
    int64_t run_id; /* 0: no run selected */
    int64_t incarnation; /* 0 on read-only handles */
    int n_arms;
    char **arm_names;
    sqlite3 *fault_locker; /* fault store_busy: a second connection holding the write lock */
    int fault_busy_tries; /* ... until the busy handler has been called this often */
};

/* SQLITE_BUSY is retried with backoff (1 ms doubling to 50 ms) this many times, about 5 s in all, then
 * the write fails and the run ends with it (never a lost row). */
enum { STORE_BUSY_TRIES = 100 };
/* The busy handler of every connection of the store (sqlite3_busy_handler). */
int store_busy_retry(void *store, int tries);

/* Prepares sql; on failure writes "what: sqlite message" and returns -EIO. */
int store_prepare(birdie_store *s, const char *sql, sqlite3_stmt **st, const char *what, char *err, size_t errlen);
/* Steps a statement that returns no rows to completion and finalizes it. */
int store_step_done(birdie_store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen);
int store_exec(birdie_store *s, const char *sql, const char *what, char *err, size_t errlen);
/* Binds a double, or NULL for NaN (SQLite would store NULL anyway; this makes it explicit). */
void store_bind_real(sqlite3_stmt *st, int idx, double v);
/* Binds a text, or NULL for NULL/"". */
void store_bind_text_or_null(sqlite3_stmt *st, int idx, const char *v);

/* Reads one row of a history query into a new message (*out, malloc'ed even when the result is an error). */
typedef int (*store_row_reader)(birdie_store *s, sqlite3_stmt *st, void **out);
/* Runs sql with ?1 = the selected run, ?2 = since_step, ?3 = limit, appending one message per row to
 * (*items, *n). 0, -ENOMEM or -EIO with a message. */
int store_read_table(birdie_store *s, const char *sql, int64_t since_step, int limit, store_row_reader reader,
                     void ***items, size_t *n, const char *what, char *err, size_t errlen);
/* The history's model evaluations and fine-tuning points (store_eval.c): nothing on a database older
 * than migration 0003 (a read-only handle does not migrate). */
int store_history_results(birdie_store *s, int64_t since_step, int limit, Birdie__V1__GetHistoryResponse *h, char *err,
                          size_t errlen);
void store_history_results_free(Birdie__V1__GetHistoryResponse *h);
/* The history's training steps and arm list (store_series.c). */
int store_history_series(birdie_store *s, int64_t since_step, int limit, Birdie__V1__GetHistoryResponse *h, char *err,
                         size_t errlen);
void store_history_series_free(Birdie__V1__GetHistoryResponse *h);

#endif
