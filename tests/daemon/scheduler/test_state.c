/* tests/daemon/scheduler/test_state.c: the scheduler's checkpoint: save -> load -> save is byte-identical,
 * a resumed scheduler makes the same next decisions as the uninterrupted one, a decision is
 * recomputed bit-exactly from its record and the state saved before it, and damaged or foreign
 * buffers are rejected with a named reason (never a crash, nor a reward model the buffer cannot hold). */
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

#include "daemon/scheduler/bytes.h"
#include "tests/daemon/scheduler/sched_test_util.h"
#include "worker/fnv.h"
#include "worker/rng.h"

enum { ARMS = 4, CLASSES = 2 };
static const int state_classes[ARMS] = {0, 1, 1, 1};

static void make_config(birdie_sched_config *cfg)
{
    sched_test_config(cfg, ARMS, state_classes, CLASSES, 11);
    cfg->hidden = 16;
    cfg->candidates = 256;
    cfg->warmup_step = 200;
    cfg->explore.horizon = 1000;
}

static birdie_sched *make_sched(void)
{
    birdie_sched_config cfg;
    make_config(&cfg);
    birdie_sched *s = NULL;
    char err[256];
    assert_int_equal(birdie_sched_create(&cfg, &s, err, sizeof(err)), 0);
    return s;
}

static void observe_k(birdie_sched *s, int k, birdie_decision *d)
{
    double loss[ARMS];
    for (int i = 0; i < ARMS; i++)
        loss[i] = 3.0 * pow(0.95 + 0.01 * i, k) + 0.1 * i;
    assert_int_equal(sched_test_observe(s, 100 * (int64_t)(k + 1), loss, d), 0);
}

static uint8_t *save(const birdie_sched *s, size_t *len)
{
    uint8_t *buf = NULL;
    char err[128];
    assert_int_equal(birdie_sched_save(s, &buf, len, err, sizeof(err)), 0);
    return buf;
}

static void test_round_trip_is_byte_identical(void **state)
{
    (void)state;
    birdie_sched *s = make_sched();
    birdie_decision d = {0};
    for (int k = 0; k < 4; k++)
        observe_k(s, k, &d);
    size_t len, len2;
    uint8_t *buf = save(s, &len);
    birdie_sched *t = NULL;
    char err[256];
    assert_int_equal(birdie_sched_load(buf, len, NULL, &t, err, sizeof(err)), 0);
    uint8_t *buf2 = save(t, &len2);
    assert_true(len == len2);
    assert_memory_equal(buf, buf2, len);
    assert_true(birdie_sched_eval_count(t) == 4 && birdie_sched_history_len(t) == 3);
    assert_true(birdie_sched_mixture_version(t) == birdie_sched_mixture_version(s));
    assert_memory_equal(birdie_sched_mixture(t), birdie_sched_mixture(s), ARMS * sizeof(double));
    free(buf);
    free(buf2);
    birdie_decision_free(&d);
    birdie_sched_free(s);
    birdie_sched_free(t);
}

static void test_resume_continues_identically(void **state)
{
    (void)state;
    birdie_sched *run = make_sched();
    birdie_decision d = {0}, e = {0};
    for (int k = 0; k < 3; k++)
        observe_k(run, k, &d);
    size_t len;
    uint8_t *buf = save(run, &len);
    birdie_sched_config expect;
    make_config(&expect);
    birdie_sched *resumed = NULL;
    char err[256];
    assert_int_equal(birdie_sched_load(buf, len, &expect, &resumed, err, sizeof(err)), 0);
    for (int k = 3; k < 7; k++) {
        observe_k(run, k, &d);
        observe_k(resumed, k, &e);
        if (!birdie_decision_equal(&d, &e))
            fail_msg("evaluation %d differs after the resume", k);
    }
    assert_true(d.kind == BIRDIE_DECISION_EXPLORE || d.kind == BIRDIE_DECISION_EXPLOIT);
    free(buf);
    birdie_decision_free(&d);
    birdie_decision_free(&e);
    birdie_sched_free(run);
    birdie_sched_free(resumed);
}

static void test_replay_recomputes_decision(void **state)
{
    (void)state;
    birdie_sched *s = make_sched();
    birdie_decision d = {0}, again = {0};
    for (int k = 0; k < 3; k++)
        observe_k(s, k, &d);
    size_t len;
    uint8_t *before = save(s, &len);
    observe_k(s, 3, &d);
    char err[256];
    assert_int_equal(birdie_sched_replay(before, len, &d, &again, err, sizeof(err)), 0);
    assert_true(birdie_decision_equal(&d, &again));
    /* a record of a later evaluation does not fit this state */
    birdie_decision later = {0};
    observe_k(s, 4, &later);
    assert_int_equal(birdie_sched_replay(before, len, &later, &again, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "record is evaluation 4"));
    /* the comparison itself notices a one-bit change */
    assert_int_equal(birdie_sched_replay(before, len, &d, &again, err, sizeof(err)), 0);
    uint64_t bits;
    memcpy(&bits, &again.mixture_out[1], sizeof(bits));
    bits ^= 1;
    memcpy(&again.mixture_out[1], &bits, sizeof(bits));
    assert_false(birdie_decision_equal(&d, &again));
    free(before);
    birdie_decision_free(&d);
    birdie_decision_free(&again);
    birdie_decision_free(&later);
    birdie_sched_free(s);
}

/* Rewrites the trailing checksum so that a deliberate edit reaches the parser. */
static void reseal(uint8_t *buf, size_t len)
{
    uint64_t h = birdie_fnv1a(BIRDIE_FNV_OFFSET, buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + i] = (uint8_t)(h >> (8 * i));
}

/* The state's trailing checksum is 64-bit FNV-1a of every byte before it, little-endian: checked
 * against the hash written out from its definition here (offset basis 14695981039346656037, prime
 * 1099511628211), so that the shared worker/fnv.h cannot change the bytes a checkpoint holds. */
static void test_checksum_is_fnv1a64(void **state)
{
    (void)state;
    birdie_sched *s = make_sched();
    size_t len;
    uint8_t *buf = save(s, &len);
    uint64_t h = 14695981039346656037ull, stored = 0;
    for (size_t i = 0; i + 8 < len; i++)
        h = (h ^ buf[i]) * 1099511628211ull;
    for (int i = 0; i < 8; i++)
        stored |= (uint64_t)buf[len - 8 + i] << (8 * i);
    assert_true(stored == h);
    free(buf);
    birdie_sched_free(s);
}

static void expect_load_error(const uint8_t *buf, size_t len, int code, const char *needle)
{
    birdie_sched *t = (birdie_sched *)1;
    char err[256] = "";
    assert_int_equal(birdie_sched_load(buf, len, NULL, &t, err, sizeof(err)), code);
    assert_null(t);
    if (needle && !strstr(err, needle))
        fail_msg("load error '%s' does not mention '%s'", err, needle);
}

static void test_garbage_is_rejected(void **state)
{
    (void)state;
    birdie_sched *s = make_sched();
    birdie_decision d = {0};
    for (int k = 0; k < 3; k++)
        observe_k(s, k, &d);
    size_t len;
    uint8_t *buf = save(s, &len);
    uint8_t *copy = malloc(len + 16);

    expect_load_error(buf, 0, -EBADMSG, "bad magic");
    expect_load_error(NULL, 10, -EBADMSG, "bad magic");
    memcpy(copy, buf, len);
    copy[0] = 'X';
    expect_load_error(copy, len, -EBADMSG, "bad magic");
    expect_load_error(buf, len - 1, -EBADMSG, "checksum");
    expect_load_error(buf, len / 2, -EBADMSG, "checksum");
    memcpy(copy, buf, len);
    copy[len / 2] ^= 0x10;
    expect_load_error(copy, len, -EBADMSG, "checksum");

    memcpy(copy, buf, len);
    copy[8] = 2; /* format version */
    reseal(copy, len);
    expect_load_error(copy, len, -EBADMSG, "format version 2");

    memcpy(copy, buf, len); /* 8 extra bytes before the checksum */
    memmove(copy + len, copy + len - 8, 8);
    memset(copy + len - 8, 0, 8);
    reseal(copy, len + 8);
    expect_load_error(copy, len + 8, -EBADMSG, "8 unexpected bytes");

    memcpy(copy, buf, len);
    copy[18] = 0xff; /* n_arms (bytes 16..19) becomes 0x00ff0004 */
    reseal(copy, len);
    expect_load_error(copy, len, -EBADMSG, "n_arms");

    /* the largest shape the config allows (hidden 4096, 64 layers: 10^10 reward-model parameters) in a
     * buffer of a few kilobytes: refused by its size before anything is allocated or initialised */
    memcpy(copy, buf, len);
    size_t at = 24; /* magic, version, flags, n_arms, n_classes; then per arm class, name length, name */
    for (int i = 0; i < ARMS; i++)
        at += 8 + strlen(birdie_sched_arm_name(s, i));
    at += 8; /* seed */
    uint32_t hidden = 4096, layers = 64, was = 0;
    memcpy(&was, copy + at, 4);
    assert_int_equal(was, 16); /* the field is where the format says */
    memcpy(copy + at, &hidden, 4);
    memcpy(copy + at + 4, &layers, 4);
    reseal(copy, len);
    expect_load_error(copy, len, -EBADMSG, "reward-model parameters, more than the");

    /* a NUL inside an arm's name ("ar\0m2", stored length 5) would load as the name "ar" and save as
     * other bytes */
    memcpy(copy, buf, len);
    size_t name2 = 24 + 2 * (8 + strlen(birdie_sched_arm_name(s, 0))) + 8;
    assert_memory_equal(copy + name2, "arm02", 5);
    copy[name2 + 2] = '\0';
    reseal(copy, len);
    expect_load_error(copy, len, -EBADMSG, "arm 2: bad or truncated 'arm name'");

    /* every single-byte change that passes the checksum either loads or fails by name: no crash */
    int loaded = 0, rejected = 0;
    birdie_rng rng = birdie_rng_stream(1, 2, 3, BIRDIE_RNG_TEST);
    for (int trial = 0; trial < 300; trial++) {
        memcpy(copy, buf, len);
        size_t pos = trial < 150 ? (size_t)trial : 16 + (size_t)birdie_rng_below(&rng, len - 24);
        copy[pos] ^= (uint8_t)(1 + birdie_rng_below(&rng, 255));
        reseal(copy, len);
        birdie_sched *t = NULL;
        char err[256] = "";
        int rc = birdie_sched_load(copy, len, NULL, &t, err, sizeof(err));
        if (rc == 0) {
            loaded++;
            birdie_sched_free(t);
        } else {
            assert_true(rc == -EBADMSG || rc == -ENOMEM);
            assert_true(strlen(err) > 0 && t == NULL);
            rejected++;
        }
    }
    fprintf(stderr, "mutated states: %d loaded, %d rejected\n", loaded, rejected);
    assert_true(rejected > 50);

    /* a resumed run whose arms differ from the checkpoint's */
    birdie_sched_config other;
    make_config(&other);
    const char *names[ARMS] = {"arm00", "arm01", "copying", "arm03"};
    other.arm_names = names;
    birdie_sched *t = NULL;
    char err[256];
    assert_int_equal(birdie_sched_load(buf, len, &other, &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "arm 2 is 'arm02', the config has 'copying'"));
    free(copy);
    free(buf);
    birdie_decision_free(&d);
    birdie_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_byte_identical), cmocka_unit_test(test_resume_continues_identically),
        cmocka_unit_test(test_replay_recomputes_decision),   cmocka_unit_test(test_garbage_is_rejected),
        cmocka_unit_test(test_checksum_is_fnv1a64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
