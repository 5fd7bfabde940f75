/* Tests of birdiectl plot (ctl/ctl_plot.c, run as a subprocess, path in $BIRDIECTL; gnuplot from
 * PATH) on a run written through the store's write API (ctl_run_db.c): every picture it lists exists
 * and is a valid image of the size asked for (PNG: the 8-byte signature, then an IHDR chunk first
 * with width 1100 and height 640; SVG: parsed by tests/ctl/check_svg.py, an <svg> root holding drawn
 * paths), the data files hold what the store holds, and a missing gnuplot (exit 7), a missing --out
 * (exit 2) and a database with nothing to draw (exit 1) are reported as documented. */
#define _GNU_SOURCE
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/store.h"
#include "tests/ctl/ctl_run_db.h"
#include "tests/daemon/daemon_fixture.h"

typedef struct env {
    run_db r;
    char out[200], plots[200];
    const char *ctl, *python, *svg_check;
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    e->ctl = getenv("BIRDIECTL");
    e->python = getenv("PYTHON");
    e->svg_check = getenv("SVG_CHECK");
    if (!e->ctl || !e->python || !e->svg_check || run_db_create(&e->r))
        return -1;
    snprintf(e->out, sizeof(e->out), "%s/ctl.out", e->r.dir);
    snprintf(e->plots, sizeof(e->plots), "%s/plots", e->r.dir);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    run_db_destroy(&e->r);
    free(e);
    return 0;
}

static int run(env *e, char *const *argv)
{
    return fix_run(argv, e->out, 120000);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The PNG signature, then the IHDR chunk (length 13) with the picture's size. */
static void check_png(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char h[24];
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: missing", path);
    size_t got = fread(h, 1, sizeof(h), f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (got != sizeof(h) || memcmp(h, sig, 8) != 0)
        fail_msg("%s: not a PNG (signature)", path);
    assert_int_equal(be32(h + 8), 13);
    assert_memory_equal(h + 12, "IHDR", 4);
    assert_int_equal(be32(h + 16), 1100);
    assert_int_equal(be32(h + 20), 640);
    /* far more than the header: something was drawn (a blank 1100x640 PNG compresses to ~3 KiB) */
    assert_true(size > 10000);
}

static const char *slurp_dat(env *e, const char *name)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", e->plots, name);
    return fix_slurp(path);
}

static void test_pictures(void **state)
{
    env *e = *state;
    char *argv[] = {(char *)e->ctl, "--db", e->r.db, "plot", "--out", e->plots, NULL};
    int rc = run(e, argv);
    if (rc != 0)
        fail_msg("plot exited %d:\n%s", rc, fix_slurp(e->out));
    static const char *const names[] = {"loss", "class_loss", "mixture", "rewards"};
    const char *listed = fix_slurp(e->out);
    char path[400], svgs[4][400];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s.png", e->plots, names[i]);
        if (!strstr(listed, path))
            fail_msg("plot did not list %s:\n%s", path, listed);
        check_png(path);
        snprintf(svgs[i], sizeof(svgs[i]), "%s/%s.svg", e->plots, names[i]);
        if (!strstr(listed, svgs[i]))
            fail_msg("plot did not list %s", svgs[i]);
    }
    /* at least 6 drawn paths each: axes, a curve per series, key samples */
    char *check[] = {(char *)e->python, (char *)e->svg_check, "6", svgs[0], svgs[1], svgs[2], svgs[3], NULL};
    rc = run(e, check);
    if (rc != 0)
        fail_msg("check_svg.py: %s", fix_slurp(e->out));
    /* the mixture's data: the first row is the config mixture (uniform over 3 classes) at step 0,
     * then each scheduler mixture from the step it was applied at; the operator's in between */
    snprintf(path, sizeof(path), "%s/mixture.dat", e->plots);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    double x, w[3];
    assert_int_equal(fscanf(f, "%lf %lf %lf %lf", &x, &w[0], &w[1], &w[2]), 4);
    assert_true(x == 0 && w[0] == w[1] && w[1] == w[2]);
    int rows = 1;
    while (fscanf(f, "%lf %lf %lf %lf", &x, &w[0], &w[1], &w[2]) == 4)
        rows++;
    fclose(f);
    /* config + one per evaluation + the operator's; the last (applied at 1001) is past every step */
    assert_int_equal(rows, 1 + RUN_EVALS + 1);
    assert_true(x == 1001);
    /* the decisions by kind: evaluations 0 and 1 keep the uniform mixture, the operator's at 750,
     * the scheduler's choices at every other evaluation */
    assert_string_equal(slurp_dat(e, "marks_3.dat"), "100\n200\n");
    assert_string_equal(slurp_dat(e, "marks_2.dat"), "750\n");
    int choices = 0;
    for (int k = 0; k < 2; k++)
        for (const char *p = slurp_dat(e, k ? "marks_1.dat" : "marks_0.dat"); *p; p++)
            choices += *p == '\n';
    assert_int_equal(choices, RUN_EVALS - 2);
    int explores = 0;
    for (int k = 0; k < RUN_EVALS; k++)
        explores += e->r.d[k].kind == BIRDIE_DECISION_EXPLORE;
    int lines = 0;
    for (const char *p = slurp_dat(e, "marks_1.dat"); *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, explores);
}

static void test_missing_gnuplot_and_usage(void **state)
{
    env *e = *state;
    char *argv[] = {(char *)e->ctl,         "--db", e->r.db, "plot", "--out", e->plots, "--gnuplot",
                    "/nonexistent/gnuplot", NULL};
    assert_int_equal(run(e, argv), 7);
    if (!strstr(fix_slurp(e->out), "gnuplot-nox"))
        fail_msg("no install hint:\n%s", fix_slurp(e->out));
    char *json[] = {(char *)e->ctl,         "-o", "json", "--db", e->r.db, "plot", "--out", e->plots, "--gnuplot",
                    "no-such-gnuplot-here", NULL};
    assert_int_equal(run(e, json), 7);
    json_t *o = json_loads(fix_slurp(e->out), 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "code")), "MISSING_PROGRAM");
    json_decref(o);
    char *no_out[] = {(char *)e->ctl, "--db", e->r.db, "plot", NULL};
    assert_int_equal(run(e, no_out), 2);
    /* a run with arms but nothing recorded yet */
    char empty[300], err[256];
    snprintf(empty, sizeof(empty), "%s/empty.db", e->r.dir);
    birdie_store *s = NULL;
    int64_t run_id, inc;
    assert_int_equal(birdie_store_open(empty, 0, &s, err, sizeof(err)), 0);
    assert_int_equal(
        store_begin_run(s, "r", 1, RUN_ARMS, run_arm_names, run_arm_classes, 1, &run_id, &inc, err, sizeof(err)), 0);
    birdie_store_close(s);
    char *nothing[] = {(char *)e->ctl, "--db", empty, "plot", "--out", e->plots, NULL};
    assert_int_equal(run(e, nothing), 1);
    if (!strstr(fix_slurp(e->out), "NO_DATA"))
        fail_msg("%s", fix_slurp(e->out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pictures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_gnuplot_and_usage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
