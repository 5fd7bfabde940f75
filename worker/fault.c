/* worker/fault.c: the table of armed faults (fault.h). Process-wide and lock-free: the training thread
 * and the coordinator's threads query it concurrently, and a firing must be used up exactly once. */
#include "worker/fault.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/error.h"

static const char *const point_names[BIRDIE_FAULT_POINTS] = {
    "kill",       "hang_collective", "stop_heartbeat", "corrupt_shard", "fail_fsync",
    "fail_store", "store_busy",      "drop_push",      "nan_loss",      "kill_before_rename",
};

typedef struct armed_point {
    long step;
    int count;
    int only_rank; /* the rank drop_push strikes; -1: every rank */
    atomic_int left;
} armed_point;

static armed_point points[BIRDIE_FAULT_POINTS];
static atomic_uint armed_mask;
static atomic_long current_step;

const char *birdie_fault_name(birdie_fault_point p)
{
    return p >= 0 && p < BIRDIE_FAULT_POINTS ? point_names[p] : "?";
}

static int parse_entry(const char *entry, size_t len, int rank, unsigned *mask, armed_point *table, char *err,
                       size_t errlen)
{
    char buf[128];
    if (len >= sizeof buf)
        return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: entry '%.*s...' is too long", 40, entry);
    memcpy(buf, entry, len);
    buf[len] = '\0';
    char *at = strchr(buf, '@');
    if (!at)
        return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: '%s' is not point@step[=count][/rank]", buf);
    *at = '\0';
    int p = 0;
    while (p < BIRDIE_FAULT_POINTS && strcmp(buf, point_names[p]) != 0)
        p++;
    if (p == BIRDIE_FAULT_POINTS)
        return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: unknown point '%s'", buf);
    char *end;
    errno = 0;
    long step = strtol(at + 1, &end, 10), count = 1, only_rank = -1;
    if (end == at + 1 || errno || step < 0)
        return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: %s needs a step >= 0 after '@'", buf);
    if (*end == '=') {
        char *c = end + 1;
        count = strtol(c, &end, 10);
        if (end == c || count < 1 || count > 1000000)
            return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: %s: the count after '=' must be 1..1000000", buf);
    }
    if (*end == '/') {
        char *r = end + 1;
        only_rank = strtol(r, &end, 10);
        if (end == r || only_rank < 0)
            return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: %s: the rank after '/' must be >= 0", buf);
    }
    if (*end != '\0')
        return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: %s: unexpected '%s'", buf, end);
    if (*mask & (1u << p))
        return birdie_fail(err, errlen, -EINVAL, "BIRDIE_FAULT: %s is given twice", buf);
    /* drop_push runs in the coordinator (on rank 0): its rank names whose directive is dropped */
    if (only_rank >= 0 && only_rank != rank && p != BIRDIE_FAULT_DROP_PUSH)
        return 0;
    *mask |= 1u << p;
    table[p].step = step;
    table[p].count = (int)count;
    table[p].only_rank = p == BIRDIE_FAULT_DROP_PUSH ? (int)only_rank : -1;
    return 0;
}

int birdie_fault_arm(const char *spec, int rank, char *err, size_t errlen)
{
    armed_point table[BIRDIE_FAULT_POINTS] = {{0}};
    unsigned mask = 0;
    for (const char *s = spec ? spec : ""; *s;) {
        size_t len = strcspn(s, ",");
        int rc = len ? parse_entry(s, len, rank, &mask, table, err, errlen) : 0;
        if (rc < 0)
            return rc;
        s += len + (s[len] == ',');
    }
    atomic_store(&armed_mask, 0u);
    for (int p = 0; p < BIRDIE_FAULT_POINTS; p++) {
        points[p].step = table[p].step;
        points[p].count = table[p].count;
        points[p].only_rank = table[p].only_rank;
        atomic_store(&points[p].left, table[p].count);
    }
    atomic_store(&armed_mask, mask);
    return 0;
}

int birdie_fault_arm_from_env(int rank, char *err, size_t errlen)
{
    return birdie_fault_arm(getenv("BIRDIE_FAULT"), rank, err, errlen);
}

void birdie_fault_set_step(long step)
{
    atomic_store_explicit(&current_step, step, memory_order_relaxed);
}

int birdie_fault_active(birdie_fault_point p, long at_step)
{
    if (!(atomic_load_explicit(&armed_mask, memory_order_acquire) & (1u << p)))
        return 0;
    long step = at_step >= 0 ? at_step : atomic_load_explicit(&current_step, memory_order_relaxed);
    return step >= points[p].step;
}

int birdie_fault_fire(birdie_fault_point p, long at_step)
{
    if (!birdie_fault_active(p, at_step))
        return 0;
    int left = atomic_load(&points[p].left);
    while (left > 0)
        if (atomic_compare_exchange_weak(&points[p].left, &left, left - 1)) {
            /* said before the harm, so a test (or an operator) sees which fault it was */
            fprintf(stderr, "birdied: fault %s fires (step %ld, %d left)\n", point_names[p],
                    at_step >= 0 ? at_step : atomic_load(&current_step), left - 1);
            return 1;
        }
    return 0;
}

int birdie_fault_fire_for_rank(birdie_fault_point p, long at_step, int target_rank)
{
    if (!birdie_fault_active(p, at_step) || (points[p].only_rank >= 0 && points[p].only_rank != target_rank))
        return 0;
    return birdie_fault_fire(p, at_step);
}

int birdie_fault_count(birdie_fault_point p)
{
    return atomic_load(&armed_mask) & (1u << p) ? points[p].count : 0;
}

void birdie_fault_kill(void)
{
    raise(SIGKILL);
}

void birdie_fault_hang(void)
{
    for (;;)
        pause();
}
