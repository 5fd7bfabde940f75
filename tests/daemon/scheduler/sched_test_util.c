/* tests/daemon/scheduler/sched_test_util.c: see sched_test_util.h. */
#include <stdio.h>

#include "tests/daemon/scheduler/sched_test_util.h"

static char test_names[SCHED_TEST_MAX_ARMS][8];
static const char *test_name_ptrs[SCHED_TEST_MAX_ARMS];

void sched_test_config(birdie_sched_config *cfg, int n_arms, const int *classes, int n_classes, uint64_t seed)
{
    for (int i = 0; i < SCHED_TEST_MAX_ARMS; i++) {
        snprintf(test_names[i], sizeof(test_names[i]), "arm%02d", i);
        test_name_ptrs[i] = test_names[i];
    }
    birdie_sched_config_defaults(cfg);
    cfg->n_arms = n_arms;
    cfg->arm_names = test_name_ptrs;
    cfg->arm_class = classes;
    cfg->n_classes = n_classes;
    cfg->seed = seed;
    cfg->hidden = 32;
    cfg->layers = 2;
    cfg->candidates = 512;
}

int sched_test_observe(birdie_sched *s, int64_t step, const double *loss, birdie_decision *d)
{
    int n = birdie_sched_n_arms(s);
    double loss_sum[SCHED_TEST_MAX_ARMS], tokens[SCHED_TEST_MAX_ARMS];
    for (int i = 0; i < n; i++) {
        tokens[i] = 1000.0;
        loss_sum[i] = loss[i] * 1000.0;
    }
    birdie_sched_input in = {.step = step, .n_arms = n, .loss_sum = loss_sum, .tokens = tokens};
    char err[256];
    int rc = birdie_sched_observe(s, &in, d, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "observe at step %lld: %s\n", (long long)step, err);
    return rc;
}

double sched_test_sum(const double *v, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}
