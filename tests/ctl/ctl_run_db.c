/* tests/ctl/ctl_run_db.c: see ctl_run_db.h. */
#define _GNU_SOURCE
#include "tests/ctl/ctl_run_db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/store.h"
#include "worker/checkpoint.h"

const char *const run_arm_names[RUN_ARMS] = {"ntp.a", "ntp.b", "copy.a", "infill.a"};
const char *const run_arm_classes[RUN_ARMS] = {"ntp", "ntp", "copying", "infilling"};
static const int sched_classes[RUN_ARMS] = {0, 0, 1, 2};

static int fail(const char *what, const char *err)
{
    fprintf(stderr, "run_db: %s: %s\n", what, err);
    return -1;
}

/* A checkpoint file holding the scheduler's state (the model part is a token 4 parameters). */
static int write_checkpoint(run_db *r, int which, birdie_sched *s, int64_t step, const double *weights)
{
    float p[4] = {1, 2, 3, 4};
    uint8_t *state = NULL;
    size_t len = 0;
    char err[512];
    if (birdie_sched_save(s, &state, &len, err, sizeof(err)))
        return fail("saving the scheduler", err);
    birdie_checkpoint ck = {.step = step,
                            .n_params = 4,
                            .params = p,
                            .m = p,
                            .v = p,
                            .n_arms = RUN_ARMS,
                            .mixture_version = birdie_sched_mixture_version(s),
                            .weights = (double *)weights,
                            .sched_state = state,
                            .sched_len = len};
    birdie_checkpoint_info info;
    int rc = birdie_checkpoint_write(r->ck_dir, &ck, 10, &info, err, sizeof(err));
    free(state);
    if (rc)
        return fail("writing a checkpoint", err);
    r->ckpt_evals[which] = birdie_sched_eval_count(s);
    snprintf(r->ckpt_path[which], sizeof(r->ckpt_path[which]), "%s", info.path);
    return 0;
}

static int record_checkpoint(birdie_store *st, const run_db *r, int which, int64_t step)
{
    char err[512];
    store_checkpoint c = {.step = step,
                          .rank = 0,
                          .path = r->ckpt_path[which],
                          .bytes = 100,
                          .checksum = "0123456789abcdef",
                          .unix_ms = 1000 + step};
    return store_record_checkpoint(st, &c, "", err, sizeof(err)) < 0 ? fail("recording a checkpoint", err) : 0;
}

int run_db_create(run_db *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/birdie-ctl-XXXXXX");
    if (!mkdtemp(r->dir))
        return fail("mkdtemp", "failed");
    snprintf(r->db, sizeof(r->db), "%s/s.db", r->dir);
    snprintf(r->ck_dir, sizeof(r->ck_dir), "%s/ck", r->dir);
    char err[512];
    birdie_sched_config cfg;
    birdie_sched_config_defaults(&cfg);
    cfg.n_arms = RUN_ARMS;
    cfg.arm_names = run_arm_names;
    cfg.arm_class = sched_classes;
    cfg.n_classes = 3;
    cfg.seed = 77;
    cfg.hidden = 16;
    cfg.layers = 2;
    cfg.fit_iters = 10;
    cfg.candidates = 64;
    cfg.warmup_step = 250; /* evaluations 0 (initial) and 1 (warm-up) keep the uniform mixture */
    cfg.explore.horizon = 1000;
    birdie_sched *s = NULL;
    birdie_store *st = NULL;
    int64_t run_id, inc;
    if (birdie_sched_create(&cfg, &s, err, sizeof(err)))
        return fail("scheduler", err);
    if (birdie_store_open(r->db, 0, &st, err, sizeof(err)) ||
        store_begin_run(st, "r", 1, RUN_ARMS, run_arm_names, run_arm_classes, 1000, &run_id, &inc, err, sizeof(err))) {
        birdie_sched_free(s);
        birdie_store_close(st);
        return fail("store", err);
    }
    int rc = 0;
    double uniform[RUN_ARMS];
    birdie_sched_uniform_mixture(s, uniform);
    store_mixture m0 = {.version = 0, .step = 0, .created_unix_ms = 1000, .source = "config", .weights = uniform};
    int64_t version = 0;
    if (store_commit_mixture(st, &m0, NULL, err, sizeof(err)) || store_mark_applied(st, 0, 0, err, sizeof(err)))
        rc = fail("config mixture", err);
    for (int k = 0; rc == 0 && k < RUN_EVALS; k++) {
        int64_t step = 100 * (int64_t)(k + 1);
        for (int64_t t = step - 99; rc == 0 && t <= step; t += 33)
            if (store_record_step(st, t, 1000 + t, 5.0 * exp(-t / 400.0), 1e-3, 1.0, 1000, version, err, sizeof(err)))
                rc = fail("step", err);
        double loss_sum[RUN_ARMS], tokens[RUN_ARMS];
        for (int a = 0; a < RUN_ARMS; a++) {
            tokens[a] = 500 + 100 * a;
            loss_sum[a] = tokens[a] * (4.0 * pow(0.92 + 0.01 * a, k) + 0.1 * a);
        }
        /* the operator's mixture is handed in as the mixture in force, as run_link.c does */
        int after_operator = k == RUN_OPERATOR_AFTER + 1;
        birdie_sched_input in = {.step = step,
                                 .n_arms = RUN_ARMS,
                                 .loss_sum = loss_sum,
                                 .tokens = tokens,
                                 .mixture = after_operator ? r->operator_weights : NULL,
                                 .mixture_version = birdie_sched_mixture_version(s) + 1};
        if (rc == 0 && birdie_sched_observe(s, &in, &r->d[k], err, sizeof(err)))
            rc = fail("observe", err);
        if (rc)
            break;
        const birdie_decision *d = &r->d[k];
        uint8_t *blob = NULL;
        size_t blob_len = 0;
        if (birdie_decision_encode(d, &blob, &blob_len, err, sizeof(err))) {
            rc = fail("encode", err);
            break;
        }
        birdie_decision_detail x = {.eval_index = (int64_t)d->eval_index,
                                    .explore_prob = d->explore_prob,
                                    .explore_draw = d->explore_draw,
                                    .fit_mse_first = d->fit_mse_first,
                                    .fit_mse_last = d->fit_mse_last,
                                    .fit_mse_clean = d->fit_mse_clean,
                                    .predicted_out_score = d->history_len > 0 ? d->predicted_out_score : NAN,
                                    .history_len = d->history_len,
                                    .n_candidates = d->n_candidates,
                                    .record = blob,
                                    .record_len = blob_len};
        snprintf(x.kind, sizeof(x.kind), "%s", birdie_decision_kind_name(d->kind));
        version++;
        r->store_version[k] = version;
        store_mixture m = {.version = version,
                           .step = step,
                           .created_unix_ms = 1000 + step,
                           .source = "scheduler",
                           .weights = d->mixture_out};
        store_decision sd = {.step = step,
                             .mixture_version = version,
                             .source = "scheduler",
                             .explore = d->kind == BIRDIE_DECISION_EXPLORE,
                             .predicted_reward = d->has_prediction ? d->predicted_in_score : NAN,
                             .observed_reward = d->has_reward ? d->observed_score : NAN,
                             .fit_error = d->fit_mse_clean,
                             .record = "",
                             .unix_ms = 1000 + step,
                             .detail = &x};
        if (store_commit_eval(st, step, loss_sum, tokens, d->has_reward ? d->reward : NULL, &m, &sd, NULL, NULL,
                              1000 + step, err, sizeof(err)) ||
            store_mark_applied(st, version, step + 1, err, sizeof(err)))
            rc = fail("commit", err);
        free(blob);
        /* checkpoints after evaluations 2 and 5: the scheduler as it is between two evaluations */
        if (rc == 0 && (k == 2 || k == 5)) {
            int which = k == 5;
            rc = write_checkpoint(r, which, s, step + 10, d->mixture_out);
            if (rc == 0)
                rc = record_checkpoint(st, r, which, step + 10);
        }
        if (rc == 0 && k == RUN_OPERATOR_AFTER) {
            const double w[RUN_ARMS] = {0.4, 0.1, 0.3, 0.2};
            memcpy(r->operator_weights, w, sizeof(w));
            version++;
            store_mixture om = {.version = version,
                                .step = step + 50,
                                .created_unix_ms = 1050 + step,
                                .source = "operator",
                                .request_id = "op-1",
                                .reason = "by hand",
                                .weights = r->operator_weights};
            store_decision od = {.step = step + 50,
                                 .mixture_version = version,
                                 .source = "operator",
                                 .predicted_reward = NAN,
                                 .observed_reward = NAN,
                                 .fit_error = NAN,
                                 .record = "by hand",
                                 .unix_ms = 1050 + step};
            if (store_commit_mixture(st, &om, &od, err, sizeof(err)) ||
                store_mark_applied(st, version, step + 51, err, sizeof(err)))
                rc = fail("operator mixture", err);
        }
    }
    birdie_sched_free(s);
    birdie_store_close(st);
    return rc;
}

void run_db_destroy(run_db *r)
{
    for (int k = 0; k < RUN_EVALS; k++)
        birdie_decision_free(&r->d[k]);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "run_db: could not remove %s\n", r->dir);
}
