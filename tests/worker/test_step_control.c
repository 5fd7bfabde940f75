/* tests/worker/test_step_control.c: worker/step_control.h against the protocol's rules, over every ordering
 * of the four things that can happen while a scheduler decision is pending: the decision reaching the
 * ranks, an operator checkpoint, a pause and a stop (24 orderings), with apply_lag 0 and 2 and with
 * the second rank getting the decision at once or a vote later (96 runs).
 *
 * The driver plays birdie_train's use of the module against a scripted coordinator whose clock is
 * the vote (one tick per vote and per trained step). The checks are the rules themselves, not the
 * module's formulas: the decision reported after step 3 is in force from step 3 + 1 + lag exactly;
 * no step trains while paused; every checkpoint holds the mixture the next step trains with and none
 * is written while the decision is pending; an operator checkpoint is written once; a stop ends the
 * run at the step boundary it is seen at, or, while a decision is pending, at the decision's step
 * with the decision taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "worker/step_control.h"

enum { STEPS = 12, EVAL = 3, NEXT_EVAL = 9, PAUSE_TICKS = 2, MAX_TICKS = 1000, MAX_CKPT = 16 };

typedef struct script {
    int lag, skew; /* apply_lag; how many ticks after rank 0 the second rank holds the decision */
    long decision, checkpoint, pause, stop; /* ticks after the report at which each happens */
} script;

typedef struct trace {
    int64_t version_of_step[STEPS + 1]; /* the mixture each trained step used; -1: not trained */
    long tick_of_step[STEPS + 1]; /* the tick it trained at; the vote that let it was the tick before */
    long report_tick;
    long ckpt_step[MAX_CKPT];
    int64_t ckpt_version[MAX_CKPT];
    int n_ckpt;
    long steps_done, stop_seen_at; /* the boundary (step) whose vote first carried the stop; 0: none */
    int stopped;
} trace;

static void write_ckpt(trace *t, long step, int64_t version)
{
    assert_true(t->n_ckpt < MAX_CKPT);
    t->ckpt_step[t->n_ckpt] = step;
    t->ckpt_version[t->n_ckpt++] = version;
}

/* A vote at `tick`: what the two ranks hold and flag. Before the report nothing is scripted. */
static birdie_step_votes votes_at(const script *s, const trace *t, long tick)
{
    birdie_step_votes v = {0};
    if (t->report_tick < 0)
        return v;
    long since = tick - t->report_tick;
    int64_t rank0 = since >= s->decision, rank1 = since >= s->decision + s->skew;
    v.min_version = rank0 < rank1 ? rank0 : rank1;
    v.max_version = rank0 > rank1 ? rank0 : rank1;
    v.pause = since >= s->pause && since < s->pause + PAUSE_TICKS;
    v.stop = since >= s->stop;
    v.checkpoint_seq = since >= s->checkpoint;
    return v;
}

/* birdie_train's loop, as it uses the module (a coordinator is the control plane). */
static void run(const script *s, trace *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i <= STEPS; i++)
        t->version_of_step[i] = -1;
    t->report_tick = -1;
    birdie_step_control sc;
    birdie_step_control_init(&sc, 0);
    int64_t in_force = 0;
    long tick = 0;
    for (long step = 1; step <= STEPS && !t->stopped; step++) {
        birdie_step_control_begin(&sc, step);
        for (;;) {
            assert_true(tick < MAX_TICKS); /* nothing waits forever */
            birdie_step_votes v = votes_at(s, t, tick);
            birdie_step_verdict d = birdie_step_control_vote(&sc, step, &v, 1);
            tick++;
            if (d.stop_seen && !t->stop_seen_at)
                t->stop_seen_at = step;
            if (d.apply_version >= 0)
                in_force = d.apply_version;
            if (d.next == BIRDIE_STEP_STOP)
                t->stopped = 1;
            if (d.next == BIRDIE_STEP_TRAIN || d.next == BIRDIE_STEP_STOP)
                break;
        }
        if (t->stopped)
            break;
        if (birdie_step_control_settle(&sc, step, 1))
            write_ckpt(t, step - 1, in_force);
        t->version_of_step[step] = in_force;
        t->tick_of_step[step] = tick++;
        t->steps_done = step;
        if (step == EVAL) {
            t->report_tick = tick;
            birdie_step_control_decision_reported(&sc, step, s->lag, NEXT_EVAL);
        }
        if (step == STEPS && birdie_step_control_periodic_checkpoint(&sc, step, STEPS))
            write_ckpt(t, step, in_force);
    }
    if (t->stopped && birdie_step_control_final_checkpoint(&sc, 1, t->steps_done, 1))
        write_ckpt(t, t->steps_done, in_force);
}

static void check(const script *s, const trace *t)
{
    long apply_from = EVAL + 1 + s->lag;
    /* the run stops: at the boundary that saw the stop, or, while the decision is pending there, at
     * the decision's step (with the decision taken) */
    assert_true(t->stopped && t->stop_seen_at > EVAL);
    long expect_done = t->stop_seen_at <= apply_from ? apply_from - 1 : t->stop_seen_at - 1;
    if (t->steps_done != expect_done)
        fail_msg("stop seen at step %ld, decision from %ld: %ld steps done, want %ld", t->stop_seen_at, apply_from,
                 t->steps_done, expect_done);
    for (long step = 1; step <= t->steps_done; step++) {
        int64_t want = step >= apply_from ? 1 : 0;
        if (t->version_of_step[step] != want)
            fail_msg("step %ld trained with mixture v%lld, want v%lld (decision from step %ld)", step,
                     (long long)t->version_of_step[step], (long long)want, apply_from);
        long since = t->tick_of_step[step] - 1 - t->report_tick; /* the vote that let it train */
        if (t->report_tick >= 0 && since >= s->pause && since < s->pause + PAUSE_TICKS && since < s->stop)
            fail_msg("step %ld trained while paused", step);
    }
    /* every checkpoint holds what the next step trains with, and none is taken mid-decision */
    for (int i = 0; i < t->n_ckpt; i++) {
        long k = t->ckpt_step[i];
        int64_t want = k + 1 >= apply_from ? 1 : 0;
        if (t->ckpt_version[i] != want)
            fail_msg("checkpoint of step %ld holds v%lld, the next step trains with v%lld", k,
                     (long long)t->ckpt_version[i], (long long)want);
        if (k >= EVAL && k < apply_from - 1)
            fail_msg("checkpoint of step %ld written while the decision of step %d was pending", k, EVAL);
        for (int j = 0; j < i; j++)
            assert_true(t->ckpt_step[j] < k);
    }
    /* the final one is the stop's; the operator's is served once, on its own or by the stop's */
    assert_true(t->n_ckpt >= 1 && t->n_ckpt <= 2);
    assert_int_equal(t->ckpt_step[t->n_ckpt - 1], t->steps_done);
    if (t->n_ckpt == 2)
        assert_true(s->checkpoint < s->stop);
}

static void test_every_ordering(void **state)
{
    (void)state;
    static const int perms[24][4] = {
        {1, 2, 3, 4}, {1, 2, 4, 3}, {1, 3, 2, 4}, {1, 3, 4, 2}, {1, 4, 2, 3}, {1, 4, 3, 2}, {2, 1, 3, 4}, {2, 1, 4, 3},
        {2, 3, 1, 4}, {2, 3, 4, 1}, {2, 4, 1, 3}, {2, 4, 3, 1}, {3, 1, 2, 4}, {3, 1, 4, 2}, {3, 2, 1, 4}, {3, 2, 4, 1},
        {3, 4, 1, 2}, {3, 4, 2, 1}, {4, 1, 2, 3}, {4, 1, 3, 2}, {4, 2, 1, 3}, {4, 2, 3, 1}, {4, 3, 1, 2}, {4, 3, 2, 1}};
    int runs = 0, stops_moved = 0, waited_for_decision = 0;
    for (int p = 0; p < 24; p++)
        for (int lag = 0; lag <= 2; lag += 2)
            for (int skew = 0; skew <= 1; skew++) {
                /* events 3 ticks apart: a step boundary or two between each */
                script s = {.lag = lag,
                            .skew = skew,
                            .decision = 3 * perms[p][0] - 2,
                            .checkpoint = 3 * perms[p][1] - 2,
                            .pause = 3 * perms[p][2] - 2,
                            .stop = 3 * perms[p][3] - 2};
                trace t;
                run(&s, &t);
                check(&s, &t);
                runs++;
                stops_moved += t.stop_seen_at < EVAL + 1 + lag;
                waited_for_decision += t.tick_of_step[EVAL + 1] - t.report_tick > 1;
            }
    assert_int_equal(runs, 96);
    /* the script reaches the cases that matter: stops seen while the decision is on its way, and
     * boundaries that had to wait for it */
    assert_true(stops_moved > 0);
    assert_true(waited_for_decision > 0);
}

/* Without a coordinator nothing waits: a stop stops at once and a checkpoint is only noted. */
static void test_without_coordinator(void **state)
{
    (void)state;
    birdie_step_control sc;
    birdie_step_control_init(&sc, 0);
    birdie_step_control_begin(&sc, 5);
    birdie_step_votes v = {.pause = 1, .checkpoint_signal = 1};
    birdie_step_verdict d = birdie_step_control_vote(&sc, 5, &v, 0);
    assert_int_equal(d.next, BIRDIE_STEP_TRAIN);
    assert_true(d.checkpoint_taken);
    assert_int_equal(birdie_step_control_settle(&sc, 5, 1), 1);
    assert_int_equal(birdie_step_control_settle(&sc, 6, 1), 0); /* served once */
    birdie_step_control_begin(&sc, 6);
    v = (birdie_step_votes){.stop = 1};
    d = birdie_step_control_vote(&sc, 6, &v, 0);
    assert_int_equal(d.next, BIRDIE_STEP_STOP);
    assert_true(d.stop_seen);
    /* no checkpoint is written of a run that trained nothing */
    assert_int_equal(birdie_step_control_final_checkpoint(&sc, 1, 4, 5), 0);
    assert_int_equal(birdie_step_control_final_checkpoint(&sc, 0, 5, 5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_ordering),
        cmocka_unit_test(test_without_coordinator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
