/* worker/objectives/mixture.c: named and explicit mixtures over an arm set, validation and the
 * arm draw (contract in mixture.h). The rules themselves (class-uniform, what is valid) are
 * mixture_rules.h's, shared with the coordinator and the scheduler; this file parses and words the
 * config path's messages. It does not change mixtures over time (the scheduler does). */
#include "worker/objectives/mixture.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/objectives/mixture_rules.h"
#include "worker/error.h"

int birdie_mixture_normalise(const birdie_arm_set *set, double *weights, char *err, size_t errlen)
{
    int at;
    double sum;
    if (birdie_mixture_check_normalise(set->n, weights, &at, &sum) == BIRDIE_MIXTURE_OK)
        return 0;
    if (at >= 0)
        snprintf(err, errlen, "mixture: arm '%s' has weight %g (weights are finite and >= 0)", set->arms[at].name,
                 weights[at]);
    else
        snprintf(err, errlen, "mixture: the weights of the %d arms sum to %g (need a finite sum > 0)", set->n, sum);
    return -EINVAL;
}

int birdie_mixture_draw(const double *weights, int n, birdie_rng *rng)
{
    double u = birdie_rng_uniform(rng), acc = 0.0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (weights[i] <= 0.0)
            continue;
        acc += weights[i];
        last = i;
        if (u < acc)
            return i;
    }
    return last; /* rounding left u above the running sum: the last arm of positive weight */
}

static void class_uniform(const birdie_arm_set *set, double *weights)
{
    int cls[BIRDIE_MAX_ARMS];
    for (int i = 0; i < set->n; i++)
        cls[i] = (int)set->arms[i].cls;
    birdie_class_uniform(set->n, cls, weights);
}

/* Adds w, split equally, to the arms that `match` accepts; returns how many there were. */
static int spread(const birdie_arm_set *set, double *weights, double w, int (*match)(const birdie_arm *, const void *),
                  const void *ctx)
{
    int hits = 0;
    for (int i = 0; i < set->n; i++)
        hits += match(&set->arms[i], ctx);
    for (int i = 0; i < set->n && hits; i++)
        if (match(&set->arms[i], ctx))
            weights[i] += w / hits;
    return hits;
}

static int is_class(const birdie_arm *arm, const void *ctx)
{
    return arm->cls == *(const birdie_objective_class *)ctx;
}

typedef struct denoiser {
    int width; /* UL2 mean span in subword tokens */
    double rate;
    double weight;
    int chosen_width; /* the set's infilling width nearest to 3 * width */
} denoiser;

static int is_denoiser_arm(const birdie_arm *arm, const void *ctx)
{
    const denoiser *d = ctx;
    return arm->cls == BIRDIE_OBJ_INFILLING && fabs(arm->rate - d->rate) < 1e-9 && arm->width == d->chosen_width;
}

static int ul2(const birdie_arm_set *set, double *weights, char *err, size_t errlen)
{
    denoiser dn[6] = {{3, 0.15, 0.2, 0}, {8, 0.15, 0.2, 0},  {3, 0.5, 0.1, 0},
                      {8, 0.5, 0.1, 0},  {64, 0.15, 0.1, 0}, {64, 0.5, 0.1, 0}};
    birdie_objective_class plm = BIRDIE_OBJ_PREFIX_LM;
    if (!spread(set, weights, 0.2, is_class, &plm)) {
        return birdie_fail(err, errlen, -EINVAL, "mixture 'ul2': the arm set has no prefix_lm arm for the S denoiser");
    }
    for (int d = 0; d < 6; d++) {
        double best = INFINITY, target = log(3.0 * dn[d].width);
        for (int i = 0; i < set->n; i++) {
            const birdie_arm *a = &set->arms[i];
            if (a->cls != BIRDIE_OBJ_INFILLING || fabs(a->rate - dn[d].rate) > 1e-9)
                continue;
            double dist = fabs(log((double)a->width) - target);
            if (dist < best - 1e-12) {
                best = dist;
                dn[d].chosen_width = a->width;
            }
        }
        if (!dn[d].chosen_width || !spread(set, weights, dn[d].weight, is_denoiser_arm, &dn[d])) {
            snprintf(err, errlen,
                     "mixture 'ul2': the arm set has no infilling arm with rate %g for the "
                     "denoiser (span %d, %g%%)",
                     dn[d].rate, dn[d].width, dn[d].rate * 100);
            return -EINVAL;
        }
    }
    return 0;
}

static int explicit_weights(const birdie_arm_set *set, const char *spec, double *weights, char *err, size_t errlen)
{
    char *copy = strdup(spec);
    if (!copy) {
        return birdie_fail(err, errlen, -ENOMEM, "mixture: out of memory");
    }
    unsigned char *given = calloc((size_t)set->n, 1);
    int rc = given ? 0 : -ENOMEM;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save)) {
        item += strspn(item, " \t");
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(err, errlen, "mixture: '%s' is not name=weight", item);
            rc = -EINVAL;
            break;
        }
        char *name_end = eq;
        while (name_end > item && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        *name_end = 0;
        int a = birdie_arm_set_find(set, item);
        char *end;
        double w = strtod(eq + 1, &end);
        end += strspn(end, " \t");
        birdie_mixture_fault f = birdie_mixture_arm_fault(a, given);
        if (f == BIRDIE_MIXTURE_UNKNOWN_ARM) {
            snprintf(err, errlen, "mixture: unknown arm '%s'", item);
            rc = -EINVAL;
        } else if (f == BIRDIE_MIXTURE_REPEATED_ARM) {
            snprintf(err, errlen, "mixture: arm '%s' given twice", item);
            rc = -EINVAL;
        } else if (end == eq + 1 || *end) {
            snprintf(err, errlen, "mixture: arm '%s': weight '%s' is not a number", item, eq + 1);
            rc = -EINVAL;
        } else {
            weights[a] = w;
        }
    }
    if (rc == -ENOMEM)
        snprintf(err, errlen, "mixture: out of memory");
    free(given);
    free(copy);
    return rc;
}

int birdie_mixture_parse(const birdie_arm_set *set, const char *spec, double *weights, char *err, size_t errlen)
{
    if (!set || set->n <= 0 || !spec) {
        return birdie_fail(err, errlen, -EINVAL, "mixture: no arms or no mixture given");
    }
    for (int i = 0; i < set->n; i++)
        weights[i] = 0.0;
    spec += strspn(spec, " \t");
    int rc;
    if (!strcmp(spec, "ntp")) {
        birdie_objective_class ntp = BIRDIE_OBJ_NTP;
        rc = spread(set, weights, 1.0, is_class, &ntp) ? 0 : -EINVAL;
        if (rc)
            snprintf(err, errlen, "mixture 'ntp': the arm set has no ntp arm");
    } else if (!strcmp(spec, "uniform")) {
        class_uniform(set, weights);
        rc = 0;
    } else if (!strcmp(spec, "ul2")) {
        rc = ul2(set, weights, err, errlen);
    } else if (strchr(spec, '=')) {
        rc = explicit_weights(set, spec, weights, err, errlen);
    } else {
        snprintf(err, errlen, "mixture '%s': unknown (ntp, ul2, uniform, or name=weight,...)", spec);
        rc = -EINVAL;
    }
    return rc ? rc : birdie_mixture_normalise(set, weights, err, errlen);
}
