/* mixture: see mixture.h. */
#include "daemon/mixture.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int arm_index(int n_arms, const char *const *arm_names, const char *name)
{
    for (int i = 0; i < n_arms; i++)
        if (strcmp(arm_names[i], name) == 0)
            return i;
    return -1;
}

static int check_weight(const char *arm, double w, char *err, size_t errlen)
{
    if (isnan(w) || isinf(w)) {
        snprintf(err, errlen, "weight of arm '%s' is not finite (%g)", arm, w);
        return -EINVAL;
    }
    if (w < 0) {
        snprintf(err, errlen, "weight of arm '%s' is negative (%g)", arm, w);
        return -EINVAL;
    }
    return 0;
}

int mixture_normalise(int n_arms, const char *const *arm_names, double *weights, char *err, size_t errlen)
{
    double sum = 0;
    for (int i = 0; i < n_arms; i++) {
        int rc = check_weight(arm_names[i], weights[i], err, errlen);
        if (rc)
            return rc;
        sum += weights[i];
    }
    if (!(sum > 0) || isinf(sum)) {
        snprintf(err, errlen, "weights sum to %g; at least one arm needs a positive finite weight", sum);
        return -EINVAL;
    }
    for (int i = 0; i < n_arms; i++)
        weights[i] /= sum;
    return 0;
}

int mixture_from_named(int n_arms, const char *const *arm_names, size_t n_named, const char *const *names,
                       const double *weights, double *out_weights, char *err, size_t errlen)
{
    if (n_named == 0) {
        snprintf(err, errlen, "no weights given; name at least one arm");
        return -EINVAL;
    }
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
        if (i < 0) {
            snprintf(err, errlen, "unknown arm '%s' (weights[%zu])", name, k);
            rc = -EINVAL;
        } else if (seen[i]) {
            snprintf(err, errlen, "arm '%s' is given twice", name);
            rc = -EINVAL;
        } else {
            rc = check_weight(name, weights[k], err, errlen);
            seen[i] = 1;
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
    int n_classes = 0;
    for (int i = 0; i < n_arms; i++) {
        int first = 1;
        for (int j = 0; j < i; j++)
            if (strcmp(arm_classes[i], arm_classes[j]) == 0)
                first = 0;
        n_classes += first;
    }
    for (int i = 0; i < n_arms; i++) {
        int in_class = 0;
        for (int j = 0; j < n_arms; j++)
            in_class += strcmp(arm_classes[i], arm_classes[j]) == 0;
        out_weights[i] = 1.0 / ((double)n_classes * (double)in_class);
    }
}
