/* daemon/scheduler/reward.c: interval reward (docs/algorithm.md §3.3) and class-weighted scores (§3.4).
 * The weights are 1/n_c, so the score is the sum over classes of the class's mean reward: splitting
 * an arm into identical copies leaves the score of an equivalent action unchanged. */
#include <math.h>

#include "daemon/scheduler/reward.h"

#define REWARD_SENSITIVITY 2.718281828459045 /* r = e */

double sched_interval_reward(double old_loss, double new_loss)
{
    double ratio = (new_loss - old_loss) / (old_loss + 1e-8);
    double geo_mean = sqrt(old_loss * new_loss);
    double n = REWARD_SENSITIVITY * geo_mean * ratio * ratio * ratio;
    double r = -100.0 * REWARD_SENSITIVITY * tanh(n);
    if (isnan(r))
        return 0.0;
    return fmin(1.0, fmax(-1.0, r));
}

void sched_class_weights(const int *arm_class, int n_arms, int n_classes, double *w)
{
    int counts[n_classes];
    for (int c = 0; c < n_classes; c++)
        counts[c] = 0;
    for (int i = 0; i < n_arms; i++)
        counts[arm_class[i]]++;
    for (int i = 0; i < n_arms; i++)
        w[i] = 1.0 / (double)counts[arm_class[i]];
}

double sched_class_score(const double *value, const double *w, int n_arms)
{
    double s = 0.0;
    for (int i = 0; i < n_arms; i++)
        s += value[i] * w[i];
    return s;
}
