/* store_internal: the birdie_store handle and the statement helpers shared by store_open.c,
 * store_write.c and store_read.c. Not part of the public API. */
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
};

/* Prepares sql; on failure writes "what: sqlite message" and returns -EIO. */
int store_prepare(birdie_store *s, const char *sql, sqlite3_stmt **st, const char *what, char *err, size_t errlen);
/* Steps a statement that returns no rows to completion and finalizes it. */
int store_step_done(birdie_store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen);
int store_exec(birdie_store *s, const char *sql, const char *what, char *err, size_t errlen);
/* Binds a double, or NULL for NaN (SQLite would store NULL anyway; this makes it explicit). */
void store_bind_real(sqlite3_stmt *st, int idx, double v);
/* Binds a text, or NULL for NULL/"". */
void store_bind_text_or_null(sqlite3_stmt *st, int idx, const char *v);

#endif
