/* daemon/scheduler/candidates.c: uniform candidate actions, the explore half, top-k selection and
 * the mean of the chosen rows. Everything is in double and in a fixed order, so the choice is the
 * same on every machine for the same scores. */
#include <stddef.h>

#include "daemon/scheduler/candidates.h"

static void normalise(double *v, int n)
{
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += v[i];
    for (int i = 0; i < n; i++)
        v[i] /= total;
}

void sched_draw_candidates(double *cand, int M, int n_arms, birdie_rng *rng)
{
    for (int m = 0; m < M; m++) {
        double *row = cand + (size_t)m * n_arms;
        for (int i = 0; i < n_arms; i++)
            row[i] = 1.0 - birdie_rng_uniform(rng); /* (0, 1]: a row never sums to 0 */
        normalise(row, n_arms);
    }
}

void sched_fill_explore_half(double *cand, int M, int n_arms, const double *explore)
{
    for (int m = M - M / 2; m < M; m++)
        for (int i = 0; i < n_arms; i++)
            cand[(size_t)m * n_arms + i] = explore[i];
}

/* Is candidate a ranked before b? Higher score first, then lower index. */
static int ranks_before(const double *score, int a, int b)
{
    return score[a] > score[b] || (score[a] == score[b] && a < b);
}

void sched_top_k(const double *score, int M, int k, int *top)
{
    int filled = 0;
    for (int m = 0; m < M; m++) {
        if (filled == k && !ranks_before(score, m, top[k - 1]))
            continue;
        int pos = filled < k ? filled++ : k - 1;
        while (pos > 0 && ranks_before(score, m, top[pos - 1])) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos] = m;
    }
}

void sched_mean_of_rows(double *action, const double *cand, int n_arms, const int *top, int k)
{
    for (int i = 0; i < n_arms; i++)
        action[i] = 0.0;
    for (int j = 0; j < k; j++)
        for (int i = 0; i < n_arms; i++)
            action[i] += cand[(size_t)top[j] * n_arms + i];
    for (int i = 0; i < n_arms; i++)
        action[i] /= (double)k;
    normalise(action, n_arms);
}
