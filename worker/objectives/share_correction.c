/* worker/objectives/share_correction.c: the row-filling model and the draw weights that undo the
 * tail bias of packing (share_correction.h). */
#include "worker/objectives/share_correction.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/rng.h"
#include "worker/error.h"

enum { S = BIRDIE_SHARE_SPACES, D = BIRDIE_SHARE_DRAWS };

/* The first spaces measured: geometric from the arm's smallest sample up to T (the tail is where
 * sizes and misses change fastest); the rest are placed where the measurements jump (refine). */
enum { GEOMETRIC = 8 };

static void space_grid(int min_size, int T, int *space)
{
    for (int k = 0; k < GEOMETRIC; k++) {
        double at = min_size * pow((double)T / min_size, (double)k / (GEOMETRIC - 1));
        space[k] = k == GEOMETRIC - 1 ? T : (int)at;
        if (k > 0 && space[k] < space[k - 1])
            space[k] = space[k - 1];
    }
}

/* Whether arm a's smallest sample fits `space` positions. */
static int fits(const birdie_share_model *m, int a, int space)
{
    return m->min_size[a] >= 1 && m->min_size[a] <= space;
}

/* Draws of arm a in a row with `space` left, as birdie_fill_row makes them: a chunk length in
 * [min_len, max_len] cut to the chunk cap, the text, the objective. */
static int measure_space(birdie_share_model *m, const birdie_arm *arm, int a, int k, const birdie_source *src,
                         uint64_t seed, int32_t *chunk, birdie_sample *sample, char *err, size_t errlen)
{
    int space = m->space[a * S + k], *sizes = m->sizes + ((size_t)a * S + k) * D, got = 0;
    for (int d = 0; d < D; d++) {
        birdie_rng base = birdie_rng_stream(seed, (uint64_t)a, (uint64_t)space * D + (uint64_t)d, BIRDIE_RNG_SHARES);
        birdie_rng data = birdie_rng_fork(&base, 0), obj = birdie_rng_fork(&base, 1);
        /* the chunk lengths at evenly spaced quantiles of the builder's uniform draw: size tables
         * without the sampling noise of D random lengths */
        int len = arm->min_len + (int)((d + 0.5) * (arm->max_len - arm->min_len + 1) / D);
        int cap = birdie_arm_chunk_cap(arm, space);
        if (len > cap)
            len = cap;
        int rc = birdie_source_window(src, &data, chunk, len);
        if (rc) {
            snprintf(err, errlen, "arm '%s': reading a window of %d tokens from the source failed (%d)", arm->name, len,
                     rc);
            return rc < 0 ? rc : -EIO;
        }
        rc = birdie_objective_apply(arm, chunk, len, space, &obj, sample, err, errlen);
        if (rc == -ENOSPC || rc == -EAGAIN)
            continue;
        if (rc)
            return rc;
        sizes[got++] = sample->nprefix + sample->ntargets;
    }
    m->hit[a * S + k] = (double)got / D;
    /* fewer samples than draws: cycle them; none at all: a sample there would fill the space (the
     * chain never sees a size of 0, which would not move it forward) */
    for (int d = got; d < D; d++)
        sizes[d] = got > 0 ? sizes[d - got] : space;
    return 0;
}

/* Inserts the midpoint of the interval where the chance of a sample jumps most (an objective that
 * needs about twice its chunk, like autoencoding, fails sharply below some space) and measures it;
 * `have` spaces are measured so far. Returns the new count, or a negative errno. */
static int refine(birdie_share_model *m, const birdie_arm *arm, int a, int have, const birdie_source *src,
                  uint64_t seed, int32_t *chunk, birdie_sample *sample, char *err, size_t errlen)
{
    int *sp = m->space + a * S, best = -1;
    double *hit = m->hit + a * S, jump = 0.0;
    for (int k = 1; k < have; k++)
        if (sp[k] - sp[k - 1] > 1 && fabs(hit[k] - hit[k - 1]) > jump) {
            jump = fabs(hit[k] - hit[k - 1]);
            best = k;
        }
    if (best < 0) /* no jump: split the widest interval */
        for (int k = 1; k < have; k++)
            if (sp[k] - sp[k - 1] > 1 && (best < 0 || sp[k] - sp[k - 1] > sp[best] - sp[best - 1]))
                best = k;
    if (best < 0)
        return have;
    int *sizes = m->sizes + (size_t)a * S * D;
    memmove(sp + best + 1, sp + best, (size_t)(have - best) * sizeof *sp);
    memmove(hit + best + 1, hit + best, (size_t)(have - best) * sizeof *hit);
    memmove(sizes + (size_t)(best + 1) * D, sizes + (size_t)best * D, (size_t)(have - best) * D * sizeof *sizes);
    sp[best] = (sp[best - 1] + sp[best + 1]) / 2;
    int rc = measure_space(m, arm, a, best, src, seed, chunk, sample, err, errlen);
    return rc < 0 ? rc : have + 1;
}

int birdie_share_model_init(birdie_share_model *m, const birdie_arm_set *arms, const birdie_source *src, uint64_t seed,
                            int T, int max_misses, int32_t *chunk, birdie_sample *sample, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    int n = arms->n;
    m->n_arms = n;
    m->T = T;
    m->max_misses = max_misses;
    m->min_size = malloc((size_t)n * sizeof *m->min_size);
    m->space = malloc((size_t)n * S * sizeof *m->space);
    m->hit = calloc((size_t)n * S, sizeof *m->hit);
    m->sizes = calloc((size_t)n * S * D, sizeof *m->sizes);
    m->mass = malloc((size_t)(T + 1) * sizeof *m->mass);
    m->hit_now = malloc((size_t)n * sizeof *m->hit_now);
    m->size_at = malloc((size_t)n * sizeof *m->size_at);
    if (!m->min_size || !m->space || !m->hit || !m->sizes || !m->mass || !m->hit_now || !m->size_at) {
        birdie_share_model_free(m);
        return birdie_fail(err, errlen, -ENOMEM, "share correction: out of memory for %d arms", n);
    }
    for (int a = 0; a < n; a++) {
        const birdie_arm *arm = &arms->arms[a];
        m->min_size[a] = birdie_arm_min_size(arm);
        if (!fits(m, a, T))
            continue; /* never drawn: build_rows refuses such an arm with weight */
        space_grid(m->min_size[a], T, m->space + a * S);
        int rc = 0, have = 0;
        while (rc == 0 && have < GEOMETRIC)
            rc = measure_space(m, arm, a, have++, src, seed, chunk, sample, err, errlen);
        while (rc == 0 && have < S) {
            int grown = refine(m, arm, a, have, src, seed, chunk, sample, err, errlen);
            if (grown < 0)
                rc = grown;
            else if (grown == have)
                break;
            else
                have = grown;
        }
        if (rc < 0) {
            birdie_share_model_free(m);
            return rc;
        }
        for (int k = have; k < S; k++) { /* nothing left to split: repeat the last space */
            m->space[a * S + k] = m->space[a * S + have - 1];
            m->hit[a * S + k] = m->hit[a * S + have - 1];
            memcpy(m->sizes + ((size_t)a * S + k) * D, m->sizes + ((size_t)a * S + have - 1) * D, D * sizeof(int));
        }
    }
    return 0;
}

void birdie_share_model_free(birdie_share_model *m)
{
    free(m->min_size);
    free(m->space);
    free(m->hit);
    free(m->sizes);
    free(m->mass);
    free(m->hit_now);
    free(m->size_at);
    memset(m, 0, sizeof *m);
}

/* Where `space` falls among arm a's measured spaces: the first one at or above it (hi), whose
 * sample sizes cut to the space stand for it (the builder cuts chunks to fit the same way), and the
 * weight of hi against the one below for the chance of a sample, linear in the space. */
static int grid_at(const birdie_share_model *m, int a, int space, double *weight_hi)
{
    const int *sp = m->space + a * S;
    int k = 0;
    while (k < S - 1 && sp[k] < space)
        k++;
    *weight_hi = k == 0 || sp[k] <= space || sp[k] == sp[k - 1]
                     ? 1.0
                     : (double)(space - sp[k - 1]) / (double)(sp[k] - sp[k - 1]);
    return k;
}

/* Adds w samples with the sizes measured at space index k of arm a, cut to the space left. */
static void spread(birdie_share_model *m, int a, int k, int u, int space, double w)
{
    const int *sizes = m->sizes + ((size_t)a * S + k) * D;
    for (int d = 0; d < D; d++)
        m->mass[u + (sizes[d] < space ? sizes[d] : space)] += w / D;
}

/* The chance that a draw of arm a gives a sample with `space` left (0 when its smallest sample does
 * not fit), and in *k the measured space whose sizes stand for it. */
static double hit_at(const birdie_share_model *m, int a, int space, int *k)
{
    if (!fits(m, a, space))
        return 0.0;
    double weight_hi;
    *k = grid_at(m, a, space, &weight_hi);
    const double *h = m->hit + a * S;
    return weight_hi * h[*k] + (1.0 - weight_hi) * (*k > 0 ? h[*k - 1] : 0.0);
}

/* The chain: mass[u] is the probability that a row reaches u positions used with a sample just
 * placed. From there the builder draws until a draw gives a sample or max_misses draws in a row
 * miss; with miss probability mu per draw (arms too big for the space, or whose objective gives
 * up there), arm a gives sum_{j < max_misses} mu^j * p_a * hit_a samples in expectation. */
void birdie_share_model_expected(birdie_share_model *m, const double *q, double *per_row)
{
    int n = m->n_arms, T = m->T, min_need = T + 1;
    double total = 0.0;
    for (int a = 0; a < n; a++) {
        per_row[a] = 0.0;
        if (q[a] > 0.0 && fits(m, a, T)) {
            total += q[a];
            if (m->min_size[a] < min_need)
                min_need = m->min_size[a];
        }
    }
    if (!(total > 0.0))
        return;
    memset(m->mass, 0, (size_t)(T + 1) * sizeof *m->mass);
    m->mass[0] = 1.0;
    for (int u = 0; T - u >= min_need; u++) {
        if (m->mass[u] == 0.0)
            continue;
        int space = T - u;
        double mu = 0.0;
        for (int a = 0; a < n; a++) {
            m->hit_now[a] = 0.0;
            if (!(q[a] > 0.0) || !fits(m, a, T))
                continue;
            m->hit_now[a] = hit_at(m, a, space, &m->size_at[a]);
            mu += q[a] / total * (1.0 - m->hit_now[a]);
        }
        double draws = 0.0, mu_j = 1.0;
        for (int j = 0; j < m->max_misses; j++, mu_j *= mu)
            draws += mu_j;
        for (int a = 0; a < n; a++) {
            double w = m->mass[u] * draws * (q[a] / total) * m->hit_now[a];
            if (w > 0.0) {
                per_row[a] += w;
                spread(m, a, m->size_at[a], u, space, w);
            }
        }
    }
}

/* Largest |share / weight - 1| over the arms with weight, for expected counts per_row. */
static double worst_share_error(const double *w, const double *per_row, int n)
{
    double samples = 0.0, worst = 0.0;
    for (int a = 0; a < n; a++)
        samples += per_row[a];
    for (int a = 0; a < n; a++)
        if (w[a] > 0.0)
            worst = fmax(worst, fabs(per_row[a] / samples / w[a] - 1.0));
    return worst;
}

double birdie_share_correct(birdie_share_model *m, const double *weights, double *draw)
{
    int n = m->n_arms;
    double *w = malloc((size_t)n * 2 * sizeof *w);
    if (!w) { /* no room to solve: draw from the mixture itself */
        memcpy(draw, weights, (size_t)n * sizeof *draw);
        return INFINITY;
    }
    double *per_row = w + n, sum = 0.0;
    for (int a = 0; a < n; a++)
        sum += weights[a] > 0.0 && fits(m, a, m->T) ? weights[a] : 0.0;
    for (int a = 0; a < n; a++)
        draw[a] = w[a] = weights[a] > 0.0 && fits(m, a, m->T) && sum > 0.0 ? weights[a] / sum : 0.0;
    double worst = INFINITY;
    for (int iter = 0; iter < 200; iter++) {
        birdie_share_model_expected(m, draw, per_row);
        double samples = 0.0;
        for (int a = 0; a < n; a++)
            samples += per_row[a];
        if (!(samples > 0.0) || (worst = worst_share_error(w, per_row, n)) < 1e-4)
            break;
        /* damped multiplicative step: arms below their share are drawn more often */
        double norm = 0.0;
        for (int a = 0; a < n; a++) {
            if (!(w[a] > 0.0))
                continue;
            if (per_row[a] > 0.0)
                draw[a] *= pow(w[a] / (per_row[a] / samples), 0.8);
            else
                draw[a] *= 4.0;
            draw[a] = fmin(fmax(draw[a], w[a] / 64.0), w[a] * 64.0);
            norm += draw[a];
        }
        for (int a = 0; a < n; a++)
            draw[a] /= norm;
    }
    free(w);
    return worst;
}
