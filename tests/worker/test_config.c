/* tests/worker/test_config.c: the config parser (worker/config.c): every bad key or value is an error
 * that names the section, the key and what is wrong (out of range, not an integer, not a boolean, an
 * unknown size), a file's errors name the line (a missing file, its path), validation names a missing
 * [data] train; ranges are inclusive at both ends, a string fills its field up to the last byte but
 * not beyond, and the printed configuration reads back as the same configuration; a value config.ini
 * could not hold (a line too long for libinih, a ';' where a comment starts, whitespace at its ends, a
 * line break) is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/config.h"

static void expect_error(int rc, const char *err, const char *needle)
{
    assert_true(rc < 0);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not name '%s'", err, needle);
}

static void test_config_errors(void **state)
{
    (void)state;
    birdie_config cfg;
    birdie_config_defaults(&cfg);
    char err[512];
    expect_error(birdie_config_set(&cfg, "train.lrr=1", err, sizeof err), err, "[train] lrr");
    expect_error(birdie_config_set(&cfg, "train.lr=abc", err, sizeof err), err, "[train] lr");
    expect_error(birdie_config_set(&cfg, "train.batch=0", err, sizeof err), err, "out of range");
    expect_error(birdie_config_set(&cfg, "train.batch=2.5", err, sizeof err), err, "not an integer");
    expect_error(birdie_config_set(&cfg, "model.size=XXL", err, sizeof err), err, "XS|S|125M|350M");
    expect_error(birdie_config_set(&cfg, "model.bidirectional=maybe", err, sizeof err), err, "boolean");
    expect_error(birdie_config_set(&cfg, "run.seed=-1", err, sizeof err), err, "[run] seed");
    expect_error(birdie_config_set(&cfg, "nodot", err, sizeof err), err, "section.key=value");
    assert_int_equal(birdie_config_set(&cfg, "train.lr=2e-3", err, sizeof err), 0);
    assert_true(cfg.lr == 2e-3);
    assert_int_equal(birdie_config_set(&cfg, "data.source=shards", err, sizeof err), 0);
    expect_error(birdie_config_validate(&cfg, err, sizeof err), err, "[data] train");
    /* a file: the line and the key are named */
    char path[] = "/tmp/birdie-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("[train]\nlr = 1e-3\nbatchsize = 4\n", f);
    fclose(f);
    birdie_config_defaults(&cfg);
    int rc = birdie_config_load_file(&cfg, path, err, sizeof err);
    expect_error(rc, err, "line 3");
    expect_error(rc, err, "[train] batchsize");
    unlink(path);
    expect_error(birdie_config_load_file(&cfg, "/nonexistent/run.ini", err, sizeof err), err, "/nonexistent/run.ini");
}

/* Ranges are inclusive at both ends (grad_clip = 0 is "off", warmup_frac = 1 is all warm-up), a string
 * fills its field up to the last byte but not beyond, and the printed configuration reads back as the
 * same configuration. */
static void test_config_bounds_and_round_trip(void **state)
{
    (void)state;
    birdie_config cfg, back;
    birdie_config_defaults(&cfg);
    char err[512];
    assert_int_equal(birdie_config_set(&cfg, "train.grad_clip=0", err, sizeof err), 0);
    assert_int_equal(birdie_config_set(&cfg, "train.batch=1", err, sizeof err), 0);
    assert_int_equal(birdie_config_set(&cfg, "train.warmup_frac=1", err, sizeof err), 0);
    assert_int_equal(birdie_config_set(&cfg, "model.n_layers=1024", err, sizeof err), 0);
    expect_error(birdie_config_set(&cfg, "train.warmup_frac=1.0000001", err, sizeof err), err, "out of range");
    expect_error(birdie_config_set(&cfg, "train.grad_clip=-1e-9", err, sizeof err), err, "out of range");
    assert_true(cfg.grad_clip == 0 && cfg.batch == 1 && cfg.warmup_frac == 1 && cfg.n_layers == 1024);
    char name[80], assignment[100];
    memset(name, 'n', sizeof cfg.name - 1);
    name[sizeof cfg.name - 1] = '\0';
    snprintf(assignment, sizeof assignment, "run.name=%s", name);
    assert_int_equal(birdie_config_set(&cfg, assignment, err, sizeof err), 0);
    assert_string_equal(cfg.name, name);
    snprintf(assignment, sizeof assignment, "run.name=%sx", name);
    expect_error(birdie_config_set(&cfg, assignment, err, sizeof err), err, "[run] name");
    assert_int_equal(birdie_config_set(&cfg, "train.lr=0.00123456789", err, sizeof err), 0);
    assert_int_equal(birdie_config_set(&cfg, "run.seed=18446744073709551615", err, sizeof err), 0);
    assert_int_equal(birdie_config_set(&cfg, "model.bidirectional=false", err, sizeof err), 0);
    char path[] = "/tmp/birdie-test-print-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    birdie_config_print(&cfg, f);
    fclose(f);
    birdie_config_defaults(&back);
    if (birdie_config_load_file(&back, path, err, sizeof err) < 0)
        fail_msg("printed config does not load: %s", err);
    unlink(path);
    assert_true(back.lr == 0.00123456789 && back.seed == UINT64_MAX && back.bidirectional == 0);
    assert_memory_equal(&back, &cfg, sizeof cfg);
}

/* Every value must survive config.ini (printed beside the checkpoints, read back by birdied eval and
 * generate, which compare its hash with the checkpoint's): libinih cuts a line after 199 characters
 * and parses the rest as a line of its own, drops whitespace at a value's ends, and starts a comment at
 * a ';' at the start or after whitespace. Such values are refused, from an override as from a file,
 * and a longer line in a file is an error naming it instead of two half lines. */
static void test_config_values_fit_the_file(void **state)
{
    (void)state;
    birdie_config cfg, back;
    birdie_config_defaults(&cfg);
    char err[512];
    expect_error(birdie_config_set(&cfg, "daemon.listen=;27.0.0.1:0", err, sizeof err), err, "[daemon] listen");
    expect_error(birdie_config_set(&cfg, "objectives.arms=ntp ; infill", err, sizeof err), err, "comment");
    expect_error(birdie_config_set(&cfg, "objectives.arms=ntp\t;infill", err, sizeof err), err, "comment");
    expect_error(birdie_config_set(&cfg, "run.name= x", err, sizeof err), err, "whitespace");
    expect_error(birdie_config_set(&cfg, "run.name=x ", err, sizeof err), err, "whitespace");
    expect_error(birdie_config_set(&cfg, "run.name=a\nsteps = 5", err, sizeof err), err, "line break");
    assert_int_equal(birdie_config_set(&cfg, "objectives.arms=ntp; infill;copy", err, sizeof err), 0);
    /* "arms = " and 192 characters make the longest line libinih reads whole: 199 */
    char value[300], assignment[320];
    memset(value, 'a', sizeof value);
    value[192] = '\0';
    snprintf(assignment, sizeof assignment, "objectives.arms=%s", value);
    assert_int_equal(birdie_config_set(&cfg, assignment, err, sizeof err), 0);
    value[192] = 'a';
    value[193] = '\0';
    snprintf(assignment, sizeof assignment, "objectives.arms=%s", value);
    expect_error(birdie_config_set(&cfg, assignment, err, sizeof err), err, "longer than one config line");
    assert_int_equal((int)strlen(cfg.arms), 192);
    /* what was accepted reads back */
    char path[] = "/tmp/birdie-test-fit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    birdie_config_print(&cfg, f);
    fclose(f);
    birdie_config_defaults(&back);
    if (birdie_config_load_file(&back, path, err, sizeof err) < 0)
        fail_msg("printed config does not load: %s", err);
    assert_memory_equal(&back, &cfg, sizeof cfg);
    /* a line of 210 characters: cut after 199, its rest "val = v.bin" would parse as a line of its own */
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "[data]\nsource = shards\ntrain = %.*sval = v.bin\n", 199 - 8, value);
    fclose(f);
    birdie_config_defaults(&back);
    int rc = birdie_config_load_file(&back, path, err, sizeof err);
    expect_error(rc, err, "line 3");
    expect_error(rc, err, "longer than 199");
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_bounds_and_round_trip),
        cmocka_unit_test(test_config_values_fit_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
