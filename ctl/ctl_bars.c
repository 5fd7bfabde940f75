/* ctl_bars: see ctl_bars.h. */
#include "ctl/ctl_bars.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ctl_bar_length(double w, int width)
{
    if (!(w > 0))
        return 0;
    if (w >= 1)
        return width;
    int n = (int)lround(w * width);
    return n < 1 ? 1 : n;
}

static const char *class_of(Birdie__V1__ArmInfo *const *arms, size_t n_arms, const char *arm)
{
    for (size_t i = 0; i < n_arms; i++)
        if (strcmp(arms[i]->name, arm) == 0)
            return arms[i]->objective_class;
    return "?";
}

void ctl_print_class_bars(FILE *f, const Birdie__V1__Mixture *m, Birdie__V1__ArmInfo *const *arms, size_t n_arms)
{
    if (!m || !m->n_weights || !n_arms)
        return;
    /* classes in order of first appearance in the mixture; "?" at most once more */
    const char **names = calloc(m->n_weights, sizeof(*names));
    double *total = calloc(m->n_weights, sizeof(*total));
    int n = 0;
    if (!names || !total) {
        free(names);
        free(total);
        return;
    }
    for (size_t i = 0; i < m->n_weights; i++) {
        const char *c = class_of(arms, n_arms, m->weights[i]->arm);
        int k = 0;
        while (k < n && strcmp(names[k], c) != 0)
            k++;
        if (k == n)
            names[n++] = c;
        total[k] += m->weights[i]->weight;
    }
    fprintf(f, "  %-20s %8s  %s\n", "CLASS", "WEIGHT", "");
    for (int k = 0; k < n; k++) {
        char bar[CTL_BAR_WIDTH + 1];
        int len = ctl_bar_length(total[k], CTL_BAR_WIDTH);
        memset(bar, '#', (size_t)len);
        bar[len] = '\0';
        fprintf(f, "  %-20s %8.4f  |%-*s|\n", names[k], total[k], CTL_BAR_WIDTH, bar);
    }
    free(names);
    free(total);
}
