/* Runs tests/daemon/interop_client.py (a Python gRPC client generated from the .proto files only)
 * against an in-process coordinator, then checks from C that what it did really happened. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/daemon/daemon_fixture.h"

static void test_python_client(void **state)
{
    const char *python = getenv("INTEROP_PYTHON"), *script = getenv("INTEROP_SCRIPT"), *protos = getenv("PROTO_PY_DIR");
    assert_non_null(python);
    assert_non_null(script);
    assert_non_null(protos);
    fixture f;
    assert_int_equal(fix_start(&f, 1, 1, 2000), 0);
    char out[400];
    snprintf(out, sizeof(out), "%s/python.out", f.dir);
    char *argv[] = {(char *)python, (char *)script, (char *)protos, f.addr, FIX_TOKEN, f.dir, NULL};
    int rc = fix_run(argv, out, 60000);
    const char *log = fix_slurp(out);
    if (rc != 0)
        fail_msg("python client exited %d:\n%s", rc, log);
    printf("# %s", log);
    assert_non_null(strstr(log, "checks passed"));
    /* What the Python client did is in the store. */
    assert_int_equal(fix_count(&f, "mixtures", "source = 'operator' AND request_id = 'py-1' AND version = 1"), 1);
    assert_int_equal(fix_count(&f, "mixtures", "source = 'scheduler' AND version = 2 AND step = 10"), 1);
    assert_int_equal(fix_count(&f, "evals", "step = 10"), FIX_N_ARMS);
    assert_int_equal(fix_count(&f, "mixtures", "version = 1 AND applied_step = 5"), 1);
    char s[32];
    coordinator_state(f.co, s, sizeof(s));
    assert_string_equal(s, "stopping"); /* it stopped the run last; its pause and resume are stored with reasons */
    assert_int_equal(fix_count(&f, "state_changes", "state = 'paused' AND reason = 'operator pause: py'"), 1);
    assert_int_equal(fix_count(&f, "state_changes", "state = 'stopping' AND reason = 'operator stop: py done'"), 1);
    fix_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_python_client)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
