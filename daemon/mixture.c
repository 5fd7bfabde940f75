/* mixture: see mixture.h. The rules are worker/objectives/mixture_rules.h's, shared with the config
 * path and the scheduler; this file looks arms up by name and words the coordinator's messages. */
#include "daemon/mixture.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"
#include "worker/objectives/mixture_rules.h"

static int arm_index(int n_arms, const char *const *arm_names, const char *name)
{
    for (int i = 0; i < n_arms; i++)
        if (strcmp(arm_names[i], name) == 0)
            return i;
    return -1;
}

static int weight_error(birdie_mixture_fault f, const char *arm, double w, char *err, size_t errlen)
{
    if (f == BIRDIE_MIXTURE_NOT_FINITE)
        return birdie_fail(err, errlen, -EINVAL, "weight of arm '%s' is not finite (%g)", arm, w);
    return birdie_fail(err, errlen, -EINVAL, "weight of arm '%s' is negative (%g)", arm, w);
}

int mixture_normalise(int n_arms, const char *const *arm_names, double *weights, char *err, size_t errlen)
{
    int at;
    double sum;
    birdie_mixture_fault f = birdie_mixture_check_normalise(n_arms, weights, &at, &sum);
    if (f == BIRDIE_MIXTURE_OK)
        return 0;
    if (at >= 0)
        return weight_error(f, arm_names[at], weights[at], err, errlen);
    return birdie_fail(err, errlen, -EINVAL, "weights sum to %g; at least one arm needs a positive finite weight", sum);
}

int mixture_from_named(int n_arms, const char *const *arm_names, size_t n_named, const char *const *names,
                       const double *weights, double *out_weights, char *err, size_t errlen)
{
    if (n_named == 0)
        return birdie_fail(err, errlen, -EINVAL, "no weights given; name at least one arm");
    double *w = calloc((size_t)n_arms, sizeof(*w));
    unsigned char *seen = calloc((size_t)n_arms, 1);
    int rc = 0;
    if (!w || !seen) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    for (size_t k = 0; rc == 0 && k < n_named; k++) {
        const char *name = names[k] ? names[k] : "";
        int i = arm_index(n_arms, arm_names, name);
        birdie_mixture_fault f = birdie_mixture_arm_fault(i, seen);
        if (f == BIRDIE_MIXTURE_UNKNOWN_ARM) {
            snprintf(err, errlen, "unknown arm '%s' (weights[%zu])", name, k);
            rc = -EINVAL;
        } else if (f == BIRDIE_MIXTURE_REPEATED_ARM) {
            snprintf(err, errlen, "arm '%s' is given twice", name);
            rc = -EINVAL;
        } else {
            f = birdie_mixture_weight_fault(weights[k]);
            if (f != BIRDIE_MIXTURE_OK)
                rc = weight_error(f, name, weights[k], err, errlen);
            w[i] = weights[k];
        }
    }
    if (rc == 0)
        rc = mixture_normalise(n_arms, arm_names, w, err, errlen);
    if (rc == 0)
        memcpy(out_weights, w, (size_t)n_arms * sizeof(*w));
    free(w);
    free(seen);
    return rc;
}

void mixture_uniform_by_class(int n_arms, const char *const *arm_classes, double *out_weights)
{
    int ids[n_arms > 0 ? n_arms : 1]; /* each class named by its first arm */
    for (int i = 0; i < n_arms; i++) {
        ids[i] = i;
        for (int j = 0; j < i && ids[i] == i; j++)
            if (strcmp(arm_classes[i], arm_classes[j]) == 0)
                ids[i] = j;
    }
    birdie_class_uniform(n_arms, ids, out_weights);
}
