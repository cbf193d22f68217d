/* matvec — the N = 1 matrix product of a decode step (see matvec.c for why it is not sgemv).
 * Threads: OpenMP's team (omp_set_num_threads); small products run on one thread. */
#ifndef LECTERN_MATVEC_H
#define LECTERN_MATVEC_H

#include "engine/model.h"

/* y (lin->out) = x (lin->in) . W (+ b), W in either layout.  y must not alias x. */
void matvec_forward(float *y, const float *x, const Linear *lin);
/* ys[k] = x . W_k (+ b_k) for k < n, all from the same input, in one parallel region (decode's
 * q, k, v and the two halves of SwiGLU's first layer).  No ys[k] may alias x. */
void matvec_forward_n(float *const *ys, const float *x, const Linear *const *lins, int n);

/* The same kernels on the calling thread alone, for callers that parallelise themselves
 * (decode attention over the KV cache, one head per thread):
 * y[r] = w[r*ld .. r*ld+in) . x for r < rows;
 * y[0..n) = sum over r < rows of a[r] * w[r*ld .. r*ld+n). */
void matvec_dot_rows(float *y, const float *x, const float *w, size_t ld, int in, int rows);
void matvec_sum_rows(float *y, const float *a, const float *w, size_t ld, int rows, int n);

#endif
