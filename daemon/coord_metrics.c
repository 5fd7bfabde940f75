/* coord_metrics: see coord_metrics.h. Every number is read from the coordinator's memory, never from
 * the store, while its lock is held: the coordinator thread changes memory and store together inside
 * that lock, so both show the same moment. Per-class values are derived here from per-arm state the
 * same way everywhere (validation loss: summed loss over summed tokens; weight: a sum; reward: a
 * mean of the arms whose reward is known). */
#include "daemon/coord_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/coordinator_internal.h"
#include "daemon/metrics.h"
#include "daemon/rpc_wire.h"

typedef struct scratch {
    double *val, *weight, *reward, *hb_age;
    int *stalled;
    birdie_metrics_rpc *rpc;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->val);
    free(s->weight);
    free(s->reward);
    free(s->hb_age);
    free(s->stalled);
    free(s->rpc);
}

static int scratch_alloc(scratch *s, const coordinator *co, size_t n_rpc)
{
    size_t nc = (size_t)co->n_classes, nw = (size_t)co->world_size;
    s->val = calloc(nc, sizeof(double));
    s->weight = calloc(nc, sizeof(double));
    s->reward = calloc(nc, sizeof(double));
    s->hb_age = calloc(nw, sizeof(double));
    s->stalled = calloc(nw, sizeof(int));
    s->rpc = calloc(n_rpc + 1, sizeof(birdie_metrics_rpc));
    return s->val && s->weight && s->reward && s->hb_age && s->stalled && s->rpc ? 0 : -1;
}

static void by_class(const coordinator *co, scratch *s)
{
    int nc = co->n_classes;
    double *loss = calloc((size_t)nc * 3, sizeof(double));
    if (!loss) {
        for (int c = 0; c < nc; c++)
            s->val[c] = s->reward[c] = NAN;
        return;
    }
    double *tokens = loss + nc, *n_rewards = loss + 2 * nc;
    for (int i = 0; i < co->n_arms; i++) {
        int c = co->arm_class[i];
        s->weight[c] += co->weights[i];
        loss[c] += co->last_loss_sum[i];
        tokens[c] += co->last_tokens[i];
        if (!isnan(co->last_rewards[i])) {
            s->reward[c] += co->last_rewards[i];
            n_rewards[c]++;
        }
    }
    for (int c = 0; c < nc; c++) {
        s->val[c] = co->last_eval_step >= 0 && tokens[c] > 0 ? loss[c] / tokens[c] : NAN;
        s->reward[c] = n_rewards[c] > 0 ? s->reward[c] / n_rewards[c] : NAN;
    }
    free(loss);
}

static size_t rpc_pairs(const coordinator *co, birdie_metrics_rpc *out)
{
    size_t n = 0;
    for (int m = 0; m <= coord_method_count(); m++)
        for (int code = 0; code < COORD_GRPC_CODES; code++) {
            if (!co->rpc_count[m][code])
                continue;
            if (out)
                out[n] = (birdie_metrics_rpc){.method = coord_method_path(m),
                                              .code = birdie_wire_status_name((grpc_status_code)code),
                                              .count = co->rpc_count[m][code]};
            n++;
        }
    return n;
}

static char *render_locked(coordinator *co, size_t *len)
{
    scratch s = {0};
    char *text = NULL;
    if (scratch_alloc(&s, co, rpc_pairs(co, NULL)) == 0) {
        by_class(co, &s);
        int64_t now = birdie_monotonic_ms();
        double tokens_per_s = 0;
        for (int r = 0; r < co->world_size; r++) {
            const rank_info *ri = &co->ranks[r];
            s.hb_age[r] = ri->last_heartbeat_ms ? (double)(now - ri->last_heartbeat_ms) / 1000.0 : NAN;
            s.stalled[r] = ri->stalled;
            tokens_per_s += ri->tokens_per_s;
        }
        birdie_metrics m = {
            .run_name = co->run_name,
            .state = coord_run_state_name(co->state),
            .serving = coord_health_serving(co, now, NULL, 0),
            .incarnation = co->incarnation,
            .step = co->step,
            .tokens_per_s = tokens_per_s,
            .loss = co->last_loss,
            .mixture_version = co->version,
            .n_classes = co->n_classes,
            .class_names = co->class_names,
            .class_train_loss = co->train_class_loss,
            .class_val_loss = s.val,
            .class_weight = s.weight,
            .class_reward = s.reward,
            .n_arms = co->n_arms,
            .arm_names = (const char *const *)co->arm_names,
            .arm_classes = (const char *const *)co->arm_classes,
            .arm_weight = co->weights,
            .decisions_explore = co->decisions_explore,
            .decisions_exploit = co->decisions_exploit,
            .decisions_operator = co->decisions_operator,
            .n_buckets = COORD_DECIDE_BUCKETS,
            .bucket_le = coord_decide_bucket_le,
            .bucket_count = co->decide_bucket,
            .decide_seconds_sum = co->decide_seconds,
            .checkpoint_age_s =
                co->has_last_checkpoint ? (double)(coord_now_unix_ms() - co->last_checkpoint.unix_ms) / 1000.0 : NAN,
            .checkpoint_step = co->last_checkpoint.step,
            .world_size = co->world_size,
            .heartbeat_age_s = s.hb_age,
            .stalled = s.stalled,
            .n_rpc = rpc_pairs(co, s.rpc),
            .rpc = s.rpc,
        };
        text = birdie_metrics_format(&m, len);
    }
    scratch_free(&s);
    return text;
}

char *coord_metrics_render(void *ctx, size_t *len)
{
    coordinator *co = ctx;
    pthread_mutex_lock(&co->lock);
    char *text = render_locked(co, len);
    pthread_mutex_unlock(&co->lock);
    return text;
}
