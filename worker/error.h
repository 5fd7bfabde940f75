/* worker/error.h: how a failure is reported everywhere outside the numerical core (which aborts with
 * file:line through CHECK_*), and the exit classes of birdied.
 *
 * A function that can fail returns 0 (or a count) on success and a negative code on failure, after
 * writing one message into the caller's (err, errlen): birdie_fail does both in one statement. The
 * code is a negative errno, optionally tagged with the exit class of the failure by whoever knows
 * what kind of failure it is where it is detected (a collective's deadline: a peer; an RPC to the
 * coordinator: the coordinator; a shard: data). A tag, once set, is kept by every caller above, so
 * birdied's main exits with the class of the first place that knew. Codes compare by their errno
 * part (birdie_error_errno). Nothing here prints or exits. */
#ifndef BIRDIE_ERROR_H
#define BIRDIE_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* birdied's exit codes (documented in `birdied --help`). */
typedef enum birdie_exit_class {
    BIRDIE_EXIT_INTERNAL = 1, /* out of memory, or a failure nobody classified (a bug) */
    BIRDIE_EXIT_USAGE = 2, /* usage or configuration error */
    BIRDIE_EXIT_DATA = 3, /* missing or corrupt data, shard or checkpoint; a checkpoint that cannot be written */
    BIRDIE_EXIT_DIVERGED = 4, /* non-finite loss or gradient */
    BIRDIE_EXIT_BACKEND = 5, /* no usable backend */
    BIRDIE_EXIT_PEER = 6, /* a peer rank was lost (a collective's deadline) */
    BIRDIE_EXIT_COORDINATOR = 7, /* the coordinator could not start, or was lost or failed during the run */
} birdie_exit_class;

#define BIRDIE_ERRNO_MASK 0xfff /* errno values are far below 4096 */

/* The exit class a code carries; 0 when untagged (or not an error). */
static inline int birdie_error_exit_class(int rc)
{
    return rc < 0 ? (-rc) >> 12 : 0;
}

/* The errno part of a code (a negative errno), tagged or not. */
static inline int birdie_error_errno(int rc)
{
    return rc < 0 ? -((-rc) & BIRDIE_ERRNO_MASK) : rc;
}

/* rc tagged with exit_class, unless it is not an error or already carries a class. */
static inline int birdie_error_tag(int rc, birdie_exit_class exit_class)
{
    if (rc >= 0 || birdie_error_exit_class(rc))
        return rc;
    return -(((int)exit_class << 12) | ((-rc) & BIRDIE_ERRNO_MASK));
}

/* Writes the message into err (when err is not NULL) and returns rc: `return birdie_fail(err, errlen,
 * -EINVAL, "[train] batch = %d ...", b);` is the one way to fail with a message. */
static inline int birdie_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int birdie_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

#endif
