/* par — when a loop should fork OpenMP threads.
 *
 * `#pragma omp parallel if (small)` is not free when it declines: once libgomp has a thread
 * pool, every declined region still costs a futex system call (measured: 100,000 regions,
 * 100,002 futex calls, ~1.7 us each).  A decode step of a small model runs ~60 regions, so
 * that alone cost stories260K two thirds of its speed.  Callers therefore branch in C and
 * never enter a region that would run on one thread. */
#ifndef LECTERN_PAR_H
#define LECTERN_PAR_H

#ifdef _OPENMP
#include <omp.h>
#endif

/* nonzero when work (any unit the caller chooses) reaches min and more than one thread may run */
static inline int par_worth(double work, double min)
{
#ifdef _OPENMP
    return work >= min && omp_get_max_threads() > 1 && !omp_in_parallel();
#else
    (void)work;
    (void)min;
    return 0;
#endif
}

/* this thread's share [*lo, *hi) of n items inside a parallel region (contiguous shares) */
static inline void par_share(long n, long *lo, long *hi)
{
#ifdef _OPENMP
    const long t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const long t = 0, nt = 1;
#endif
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

#endif
