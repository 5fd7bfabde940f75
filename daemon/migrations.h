/* migrations: the SQL migrations of the migrations/ .sql files, embedded at build time by
 * migrations/embed_sql.py. birdie_migrations[i] takes a database from user_version i to i+1. */
#ifndef BIRDIE_DAEMON_MIGRATIONS_H
#define BIRDIE_DAEMON_MIGRATIONS_H

extern const char *const birdie_migrations[];
extern const int birdie_migration_count;

#endif
