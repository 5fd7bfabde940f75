/* tests/worker/test_flight.c: the flight recorder (worker/flight.c): a collective that never ended is
 * marked so, the ring keeps the newest collectives in order, the step and the RPCs appear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/flight.h"

static char *record(int rank, const char *reason)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(birdie_flight_write(f, rank, reason), 0);
    fclose(f);
    return buf;
}

static void test_record(void **state)
{
    (void)state;
    birdie_flight_step(41);
    long a = birdie_flight_begin("control all-reduce", 56);
    birdie_flight_end(a);
    long b = birdie_flight_begin("gradient all-reduce (bucket)", 4096);
    birdie_flight_rpc("/birdie.v1.Coordinator/Heartbeat", 0, 1.0, 1.5);
    birdie_flight_rpc("/birdie.v1.Coordinator/ReportEval", 4, 2.0, 3.0);
    char *r = record(1, "a peer was lost");
    assert_non_null(strstr(r, "flight record of rank 1: a peer was lost"));
    assert_non_null(strstr(r, "step: 41"));
    char line[128];
    snprintf(line, sizeof line, "#%ld control all-reduce, 56 bytes: started", a);
    assert_non_null(strstr(r, line));
    snprintf(line, sizeof line, "#%ld gradient all-reduce (bucket), 4096 bytes: started", b);
    char *open = strstr(r, line);
    assert_non_null(open);
    assert_non_null(strstr(open, "NEVER COMPLETED"));
    /* the completed one is not marked */
    char *done = strstr(r, "control all-reduce");
    assert_true(strstr(done, "NEVER COMPLETED") == strstr(open, "NEVER COMPLETED"));
    assert_non_null(strstr(r, "/birdie.v1.Coordinator/ReportEval: status 4"));
    free(r);
    birdie_flight_end(b);
}

static void test_ring_keeps_the_newest(void **state)
{
    (void)state;
    long first = 0, last = 0;
    for (int i = 0; i < 100; i++) {
        last = birdie_flight_begin("barrier", (size_t)i);
        if (i == 0)
            first = last;
        birdie_flight_end(last);
    }
    char *r = record(0, "test");
    char line[64];
    snprintf(line, sizeof line, "#%ld barrier", last);
    char *newest = strstr(r, line);
    assert_non_null(newest);
    assert_null(strstr(newest + 1, "#")); /* newest last */
    snprintf(line, sizeof line, "#%ld barrier", first);
    assert_null(strstr(r, line)); /* the oldest fell out */
    snprintf(line, sizeof line, "#%ld barrier", last - 15);
    assert_non_null(strstr(r, line)); /* sixteen are kept */
    assert_null(strstr(r, "NEVER COMPLETED"));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_ring_keeps_the_newest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
