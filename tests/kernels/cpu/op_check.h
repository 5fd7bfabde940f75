/* tests/kernels/cpu/op_check.h: what the CPU op tests share: fp32's unit roundoff, an element-wise comparison
 * against a double reference with a per-element tolerance, and fourth-order central differences. */
#ifndef BIRDIE_TESTS_OP_CHECK_H
#define BIRDIE_TESTS_OP_CHECK_H

#include <math.h>
#include <stddef.h>

#define U32 0x1.0p-24

/* ---- comparison and finite differences ---- */

/* Fails unless |got - want| <= tol element by element (NaN fails); reports how close it came. */
static inline void check_within(const float *got, const double *want, const double *tol, size_t n, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= tol[i]))
            fail_msg("%s[%zu]: got %.9g want %.9g (|error| %.3g > tol %.3g)", what, i, (double)got[i], want[i], e,
                     tol[i]);
        if (tol[i] > 0)
            worst = fmax(worst, e / tol[i]);
    }
    print_message("# %-22s n=%-5zu worst |error|/tol %.3f\n", what, n, worst);
}

typedef double (*scalar_fn)(void *ctx, const double *x);

/* Fourth-order central differences: (f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / 12h, error ~h^4 f^(5) / 30.
 * step[i] (or 1e-3 when step is NULL) is chosen by the caller well inside the scale the function
 * varies on. */
static inline void fd_grad(scalar_fn fn, void *ctx, double *x, size_t n, const double *step, double *grad)
{
    for (size_t i = 0; i < n; i++) {
        double keep = x[i], h = step ? step[i] : 1e-3, f[4];
        const double at[4] = {-2, -1, 1, 2};
        for (int s = 0; s < 4; s++) {
            x[i] = keep + at[s] * h;
            f[s] = fn(ctx, x);
        }
        x[i] = keep;
        grad[i] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
    }
}

#endif
