/* ctl_bars: the mixture summed per objective class as a compact bar table (birdiectl status): one line
 * per class with its weight and a bar of '#' whose length is the weight's share of the full width.
 * ASCII on purpose: it survives every terminal, log file and pager. */
#ifndef BIRDIE_CTL_BARS_H
#define BIRDIE_CTL_BARS_H

#include <stddef.h>
#include <stdio.h>

#include "birdie/v1/birdie.pb-c.h"

#define CTL_BAR_WIDTH 40

/* The number of '#' for weight w in [0, 1] on a bar of `width` characters (rounded to nearest; a
 * positive weight never rounds to an empty bar, so an arm class in use stays visible). */
int ctl_bar_length(double w, int width);

/* Prints the table to f; nothing when the mixture or the arm list is missing. Arms of the mixture
 * that the arm list lacks are summed under "?". */
void ctl_print_class_bars(FILE *f, const Birdie__V1__Mixture *m, Birdie__V1__ArmInfo *const *arms, size_t n_arms);

#endif
