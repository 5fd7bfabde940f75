/* ctl_plot_data: the series `birdiectl plot` draws, taken from a run's history (GetHistoryResponse,
 * whether read from SQLite or over gRPC): training loss per step, validation loss (token-weighted over
 * all arms and per objective class), the mixture summed per class over steps, the mean reward per
 * class, and the scheduler's decisions by kind. Pure: no files, no gnuplot (ctl_plot.c draws). When a
 * step appears in several incarnations (a resumed run replays steps), the newest incarnation's value
 * is kept; every series is ordered by step. */
#ifndef BIRDIE_CTL_PLOT_DATA_H
#define BIRDIE_CTL_PLOT_DATA_H

#include <stddef.h>

#include "birdie/v1/birdie.pb-c.h"

#define CTL_PLOT_CLASS_MAX 48

typedef enum ctl_decision_mark {
    CTL_MARK_EXPLOIT = 0,
    CTL_MARK_EXPLORE = 1,
    CTL_MARK_OPERATOR = 2,
    CTL_MARK_WARMUP = 3, /* the scheduler's first evaluation and its warm-up: class-uniform mixture kept */
    CTL_MARK_COUNT = 4
} ctl_decision_mark;

/* One series of points: x[n] steps and y[n * width] values (width columns per point, NaN: none). */
typedef struct ctl_series {
    size_t n, width;
    double *x, *y;
} ctl_series;

typedef struct ctl_plot_data {
    int n_classes;
    char (*classes)[CTL_PLOT_CLASS_MAX]; /* class names in order of first appearance in the arm list */
    ctl_series train; /* width 1: training loss */
    ctl_series val; /* width 1: validation loss over all arms, sum(loss_sum) / sum(tokens) */
    ctl_series class_loss; /* width n_classes: sum(loss_sum) / sum(tokens) over the class's arms */
    ctl_series mixture; /* width n_classes: the class's total weight, from the step it applies at;
                          * the last one repeated at the last step of the history */
    ctl_series reward; /* width n_classes: mean reward of the class's arms */
    ctl_series observed; /* width 1: the decision's observed class-weighted reward */
    ctl_series marks[CTL_MARK_COUNT]; /* width 0: decision steps by kind */
} ctl_plot_data;

/* 0, or -EINVAL (an arm the history's arm list lacks, no arm list) / -ENOMEM with a message. */
int ctl_plot_data_build(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen);
void ctl_plot_data_free(ctl_plot_data *d);

#endif
