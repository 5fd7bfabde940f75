/* tests/worker/fake_control.h: a scripted control plane (worker/control.h) for one rank of a test.
 * Each rank gets its own script, keyed by how many times the loop has polled it (the loop polls once
 * per step while nothing is pending, and again after every wait), so ranks can be told different
 * things at chosen points: a newer mixture, an operator stop or checkpoint, or a signal-style request
 * (birdie_train_request_*). It records what the loop reports back (evaluations, the last heartbeat,
 * finish). It does not talk to anything and never blocks: wait returns at once and the loop polls again. */
#ifndef BIRDIE_TEST_FAKE_CONTROL_H
#define BIRDIE_TEST_FAKE_CONTROL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "worker/control.h"
#include "worker/train.h"

enum { FAKE_MAX_ARMS = 8, FAKE_MAX_VERSIONS = 4, FAKE_MAX_EVALS = 16 };

typedef struct fake_control {
    /* the script: poll number (1-based) from which something holds; 0 = never */
    long version_from[FAKE_MAX_VERSIONS]; /* version v (1..) is held from this poll on */
    double weights[FAKE_MAX_VERSIONS][FAKE_MAX_ARMS];
    int n_arms;
    long stop_from, checkpoint_from; /* operator stop / checkpoint request (seq 1) */
    long fail_from; /* the coordinator fails the run (a stop with failed set) */
    long signal_stop_at, signal_checkpoint_at; /* birdie_train_request_* called at this poll */
    /* what happened */
    long polls, waits;
    int n_evals;
    int64_t eval_step[FAKE_MAX_EVALS];
    double eval_loss[FAKE_MAX_EVALS][FAKE_MAX_ARMS], eval_tokens[FAKE_MAX_EVALS][FAKE_MAX_ARMS];
    birdie_step_report last_heartbeat;
    int finished, finish_failed;
    int64_t finish_step;
} fake_control;

static void fake_poll(void *ctx, birdie_control_state *st, double *weights)
{
    fake_control *f = ctx;
    f->polls++;
    for (int v = FAKE_MAX_VERSIONS - 1; v >= 1; v--)
        if (f->version_from[v] && f->polls >= f->version_from[v]) {
            st->version = v;
            memcpy(weights, f->weights[v], (size_t)f->n_arms * sizeof *weights);
            break;
        }
    if (f->stop_from && f->polls >= f->stop_from) {
        st->stop = 1;
        snprintf(st->stop_reason, sizeof st->stop_reason, "operator");
    }
    if (f->fail_from && f->polls >= f->fail_from) {
        st->stop = st->failed = 1;
        snprintf(st->stop_reason, sizeof st->stop_reason, "store_write_failed: recording a step: disk full");
    }
    st->checkpoint_seq = f->checkpoint_from && f->polls >= f->checkpoint_from ? 1 : 0;
    if (f->polls == f->signal_stop_at)
        birdie_train_request_stop();
    if (f->polls == f->signal_checkpoint_at)
        birdie_train_request_checkpoint();
}

static int fake_wait(void *ctx, int64_t min_version, int want_unpause, int timeout_ms)
{
    (void)min_version, (void)want_unpause, (void)timeout_ms;
    ((fake_control *)ctx)->waits++;
    return 0;
}

static int fake_report_eval(void *ctx, int64_t step, const double *loss_sum, const double *tokens, char *err,
                            size_t errlen)
{
    fake_control *f = ctx;
    if (f->n_evals == FAKE_MAX_EVALS) {
        snprintf(err, errlen, "fake control: too many evaluations");
        return -1;
    }
    f->eval_step[f->n_evals] = step;
    memcpy(f->eval_loss[f->n_evals], loss_sum, (size_t)f->n_arms * sizeof *loss_sum);
    memcpy(f->eval_tokens[f->n_evals], tokens, (size_t)f->n_arms * sizeof *tokens);
    f->n_evals++;
    return 0;
}

static int fake_heartbeat(void *ctx, const birdie_step_report *report, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    ((fake_control *)ctx)->last_heartbeat = *report;
    return 0;
}

static int fake_finish(void *ctx, int64_t step, int failed, const char *reason, char *err, size_t errlen)
{
    (void)reason, (void)err, (void)errlen;
    fake_control *f = ctx;
    f->finished = 1;
    f->finish_failed = failed;
    f->finish_step = step;
    return 0;
}

/* A control table over f; n_arms must match the run's arms. The loop gives up waiting for ranks to
 * agree on a version after 10 s: correct runs agree within a few polls, a broken reduction fails fast. */
static birdie_control fake_control_table(fake_control *f, int n_arms)
{
    f->n_arms = n_arms;
    return (birdie_control){.ctx = f,
                            .poll = fake_poll,
                            .wait = fake_wait,
                            .report_eval = fake_report_eval,
                            .heartbeat = fake_heartbeat,
                            .finish = fake_finish,
                            .decision_timeout_ms = 10000};
}

#endif
