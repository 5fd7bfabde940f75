/* tests/daemon/scheduler/test_record_io.c: a decision record as bytes (record_io.c, what the store
 * keeps for birdiectl explain): every kind of decision survives encode -> decode bit for bit (all of
 * its fields, not only what birdie_decision_equal looks at), and a damaged, cut or foreign buffer is
 * refused with -EBADMSG and a reason, never decoded into something else. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/daemon/scheduler/sched_test_util.h"

enum { ARMS = 5, CLASSES = 2, EVALS = 8 };
static const int classes[ARMS] = {0, 0, 1, 1, 1};

/* EVALS decisions of one scheduler: initial, warm-up, then choices (explore and exploit both occur:
 * the exploration rate starts at 1 in the cook phase and decays). */
static void make_decisions(birdie_decision *d)
{
    birdie_sched_config cfg;
    sched_test_config(&cfg, ARMS, classes, CLASSES, 5);
    cfg.hidden = 16;
    cfg.candidates = 64;
    cfg.fit_iters = 10;
    cfg.warmup_step = 350; /* evaluations at steps 200 and 300 keep the uniform mixture */
    cfg.explore.horizon = 1000;
    birdie_sched *s = NULL;
    char err[256];
    assert_int_equal(birdie_sched_create(&cfg, &s, err, sizeof(err)), 0);
    for (int k = 0; k < EVALS; k++) {
        double loss[ARMS];
        for (int i = 0; i < ARMS; i++)
            loss[i] = 4.0 * pow(0.9 + 0.015 * i, k) + 0.05 * i;
        assert_int_equal(sched_test_observe(s, 100 * (int64_t)(k + 1), loss, &d[k]), 0);
    }
    birdie_sched_free(s);
}

static int same(double a, double b)
{
    return memcmp(&a, &b, sizeof(double)) == 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    birdie_decision d[EVALS] = {{0}};
    make_decisions(d);
    int kinds[4] = {0};
    for (int k = 0; k < EVALS; k++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        char err[256];
        assert_int_equal(birdie_decision_encode(&d[k], &buf, &len, err, sizeof(err)), 0);
        birdie_decision back = {0};
        assert_int_equal(birdie_decision_decode(buf, len, &back, err, sizeof(err)), 0);
        assert_true(birdie_decision_equal(&d[k], &back));
        /* field by field, independently of birdie_decision_equal */
        assert_int_equal(back.kind, d[k].kind);
        assert_int_equal(back.eval_index, (uint64_t)k);
        assert_int_equal(back.step, d[k].step);
        assert_int_equal(back.history_len, d[k].history_len);
        assert_int_equal(back.n_candidates, d[k].n_candidates);
        assert_int_equal(back.mixture_version_in, d[k].mixture_version_in);
        assert_int_equal(back.mixture_version_out, d[k].mixture_version_out);
        assert_true(same(back.explore_draw, d[k].explore_draw) && same(back.explore_prob, d[k].explore_prob));
        assert_true(same(back.fit_mse_clean, d[k].fit_mse_clean) && same(back.fit_mse_first, d[k].fit_mse_first));
        assert_true(same(back.predicted_out_score, d[k].predicted_out_score));
        for (int i = 0; i < ARMS; i++) {
            assert_true(same(back.loss_sum[i], d[k].loss_sum[i]) && same(back.tokens[i], d[k].tokens[i]));
            assert_true(same(back.mixture_in[i], d[k].mixture_in[i]));
            assert_true(same(back.mixture_out[i], d[k].mixture_out[i]));
            assert_true(same(back.reward[i], d[k].reward[i]) && same(back.predicted_out[i], d[k].predicted_out[i]));
        }
        for (int j = 0; j < d[k].top_k; j++) {
            assert_int_equal(back.top_index[j], d[k].top_index[j]);
            assert_true(same(back.top_score[j], d[k].top_score[j]));
            for (int i = 0; i < ARMS; i++)
                assert_true(same(back.top_candidates[j * ARMS + i], d[k].top_candidates[j * ARMS + i]));
        }
        kinds[d[k].kind]++;
        birdie_decision_free(&back);
        free(buf);
    }
    assert_int_equal(kinds[BIRDIE_DECISION_INITIAL], 1);
    assert_true(kinds[BIRDIE_DECISION_WARMUP] >= 1);
    assert_true(kinds[BIRDIE_DECISION_EXPLORE] + kinds[BIRDIE_DECISION_EXPLOIT] >= 3);
    for (int k = 0; k < EVALS; k++)
        birdie_decision_free(&d[k]);
}

static void test_damage_is_refused(void **state)
{
    (void)state;
    birdie_decision d[EVALS] = {{0}};
    make_decisions(d);
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(birdie_decision_encode(&d[EVALS - 1], &buf, &len, err, sizeof(err)), 0);
    birdie_decision back = {0};
    /* one flipped bit anywhere: the checksum catches it */
    for (size_t at = 0; at < len; at += len / 7 + 1) {
        buf[at] ^= 0x10;
        err[0] = 0;
        assert_int_equal(birdie_decision_decode(buf, len, &back, err, sizeof(err)), -EBADMSG);
        assert_true(err[0] != 0);
        buf[at] ^= 0x10;
    }
    /* cut short, or nothing at all */
    assert_int_equal(birdie_decision_decode(buf, len - 9, &back, err, sizeof(err)), -EBADMSG);
    assert_int_equal(birdie_decision_decode(buf, 5, &back, err, sizeof(err)), -EBADMSG);
    assert_int_equal(birdie_decision_decode(NULL, 0, &back, err, sizeof(err)), -EBADMSG);
    /* a scheduler state is not a record */
    assert_int_equal(
        birdie_decision_decode((const uint8_t *)"BIRDSCHD\1\0\0\0\0\0\0\0\0\0\0\0", 20, &back, err, sizeof(err)),
        -EBADMSG);
    assert_non_null(strstr(err, "not a birdie decision record"));
    assert_int_equal(birdie_decision_decode(buf, len, &back, err, sizeof(err)), 0); /* and undamaged it decodes */
    birdie_decision_free(&back);
    free(buf);
    for (int k = 0; k < EVALS; k++)
        birdie_decision_free(&d[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
