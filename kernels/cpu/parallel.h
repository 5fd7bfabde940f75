/* kernels/cpu/parallel.h: how the CPU twin spreads a loop over cores, and which functions get an
 * AVX2+FMA clone. A loop over n independent items is cut into one contiguous range per OpenMP
 * thread; each item is computed by exactly one thread in the same order as the serial loop, so
 * results do not depend on the thread count. Reductions across items stay serial (determinism).
 * `work` (elements touched) decides whether threads are worth waking at all. */
#ifndef BIRDIE_CPU_PARALLEL_H
#define BIRDIE_CPU_PARALLEL_H

/* Below this many elements a loop stays on one core: waking threads costs more than it saves. */
#define CPU_PARALLEL_MIN_WORK (1L << 16)

#ifdef _OPENMP
#include <omp.h>
#define CPU_PARALLEL_RANGE(n, work, lo, hi, call)                            \
    do {                                                                     \
        int cpu_parallel_ = (long)(work) >= CPU_PARALLEL_MIN_WORK;           \
        _Pragma("omp parallel if(cpu_parallel_)")                            \
        {                                                                    \
            long nt_ = omp_get_num_threads(), id_ = omp_get_thread_num();    \
            long lo = (long)(n)*id_ / nt_, hi = (long)(n) * (id_ + 1) / nt_; \
            if (lo < hi)                                                     \
                call;                                                        \
        }                                                                    \
    } while (0)
#else
#define CPU_PARALLEL_RANGE(n, work, lo, hi, call) \
    do {                                          \
        long lo = 0, hi = (long)(n);              \
        if (lo < hi)                              \
            call;                                 \
    } while (0)
#endif

/* The hot loops are compiled twice, for baseline x86-64 and for Haswell-class cores (AVX2 + FMA),
 * and picked at load time by CPU features (x86-64-v3 = AVX2, FMA, BMI; "arch=haswell" would test the
 * CPU model instead and miss AMD parts), so one binary is both portable and fast. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CPU_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CPU_HOT
#endif

#endif
