/* daemon/scheduler/cyclic_lr.c: PyTorch's CyclicLR formula, written out so that the schedule needs
 * no optimizer object: cycle = floor(1 + i/total), x = 1 + i/total - cycle, scale = x/ratio while
 * rising, (x-1)/(ratio-1) while falling. Iteration i of the fit uses the value at i, as PyTorch does
 * when scheduler.step() follows optimizer.step(). */
#include <math.h>

#include "daemon/scheduler/cyclic_lr.h"

void sched_cyclic_lr(const birdie_rm_optim *o, uint64_t iter, double *lr, double *beta1)
{
    double total = (double)(o->cycle_up + o->cycle_down);
    double ratio = (double)o->cycle_up / total;
    double pos = (double)(iter % (uint64_t)(o->cycle_up + o->cycle_down)) / total; /* x in [0, 1) */
    double scale = pos <= ratio ? pos / ratio : (pos - 1.0) / (ratio - 1.0);
    *lr = o->lr_base + (o->lr_max - o->lr_base) * scale;
    *beta1 = o->beta1_at_base - (o->beta1_at_base - o->beta1_at_max) * scale;
}
