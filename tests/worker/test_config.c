/* tests/worker/test_config.c: the config parser (worker/config.c): every bad key or value is an error
 * that names the section, the key and what is wrong (out of range, not an integer, not a boolean, an
 * unknown size), a file's errors name the line (a missing file, its path), validation names a missing
 * [data] train; ranges are inclusive at both ends, a string fills its field up to the last byte but
 * not beyond, and the printed configuration reads back as the same configuration. */
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
    /* the model family: gated_ssm by default, an unknown name refused with the choices */
    assert_string_equal(cfg.family, "gated_ssm");
    expect_error(birdie_config_set(&cfg, "model.family=mamba", err, sizeof err), err, "gated_ssm|hawk|transformer");
    assert_int_equal(birdie_config_set(&cfg, "model.family=transformer", err, sizeof err), 0);
    assert_int_equal(birdie_config_validate(&cfg, err, sizeof err), 0);
    assert_int_equal(birdie_config_set(&cfg, "model.family=hawk", err, sizeof err), 0);
    assert_int_equal(birdie_config_validate(&cfg, err, sizeof err), 0);
    assert_int_equal(birdie_config_set(&cfg, "model.family=gated_ssm", err, sizeof err), 0);
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
    assert_int_equal(birdie_config_set(&cfg, "model.family=hawk", err, sizeof err), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_bounds_and_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
