/* ctl_plot: `birdiectl plot`: draws a run's history (ctl_plot_data.h) with gnuplot, as PNG and SVG, into
 * an output folder: loss (training and validation), class_loss (validation loss per objective class),
 * mixture (the mixture per class over steps with the scheduler's decisions marked: the Birdie paper's
 * Fig. 5 analogue) and rewards (mean reward per class and the observed class-weighted reward). The
 * data files (*.dat), the gnuplot script (plot.gp) and gnuplot's messages (gnuplot.log) stay beside
 * the pictures, so a picture can be redrawn or restyled by hand. gnuplot runs as a child process; this file does not read the store or
 * talk gRPC. */
#ifndef BIRDIE_CTL_PLOT_H
#define BIRDIE_CTL_PLOT_H

#include <stddef.h>

#include "ctl/ctl_plot_data.h"

#define CTL_PLOT_MAX_FILES 8

typedef struct ctl_plot_files {
    int n;
    char path[CTL_PLOT_MAX_FILES][4200]; /* the pictures written */
} ctl_plot_files;

/* Draws d into out_dir (created if missing) with the gnuplot program `gnuplot` (a name looked up on
 * PATH, or a path). 0; -ENOENT when gnuplot cannot be started (not installed); -ECHILD when it
 * failed (its exit status in the message) or left a picture empty; -EIO for the folder or files;
 * -ENODATA when the history has nothing to draw. */
int ctl_plot_draw(const ctl_plot_data *d, const char *out_dir, const char *gnuplot, ctl_plot_files *files, char *err,
                  size_t errlen);

#endif
