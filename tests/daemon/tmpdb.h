/* tests/daemon/tmpdb.h: the cmocka fixture the store tests share: a fresh temporary directory holding
 * the path of a database not yet created, removed with everything in it afterwards, and a read of
 * one integer through a separate read-only connection (what a test checks the file with). */
#ifndef BIRDIE_TESTS_DAEMON_TMPDB_H
#define BIRDIE_TESTS_DAEMON_TMPDB_H

#include <stdint.h>

typedef struct tmpdb {
    char dir[64];
    char path[128]; /* dir/s.db */
} tmpdb;

int tmpdb_setup(void **state);
int tmpdb_teardown(void **state);
/* The first column of the first row of sql on path, or -1 when there is none or it fails. */
int64_t raw_int(const char *path, const char *sql);

#endif
