/* q8 — Q8_0 quantised matrix products: int8 weights in groups of q8_group values sharing
 * one float scale (llama2.c export version 2, as its runq.c runs them).
 *
 * A product quantises the activation rows the same way (per group of q8_group along the
 * input dimension; once per input, shared by every Linear that reads it, e.g. q, k and v)
 * and sums integer products group by group:
 *     out[n][i] = sum_g (float)(sum_k xq[n][g,k] * wq[i][g,k]) * ws[i][g] * xs[n][g]
 * Kernels never allocate: the quantised activation (xq, xs) is caller scratch of
 * q8_scratch_* size.
 */
#ifndef LECTERN_Q8_H
#define LECTERN_Q8_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"

/* Quantises inp (N, in) into xq (N, in) and xs (N, in / gs): scale = max|x| / 127 per group,
 * q = round(x / scale) (half away from zero, as runq.c; an all-zero group gets scale 0 and
 * q 0).  in % gs == 0. */
void quantize_q8_forward(int8_t *xq, float *xs, const float *inp, int N, int in, int gs);

/* out (N, lin->out) = xq (N, lin->in) . W^T (+ b) for a Q8_0 Linear (lin->wq8 set; xq/xs
 * quantised with lin->q8_group).  Multithreaded over output rows (OpenMP). */
void matmul_q8_forward(float *out, const int8_t *xq, const float *xs, const Linear *lin, int N);
/* The naive twin: scalar loops, the same sums in the same order (the test oracle). */
void matmul_q8_forward_naive(float *out, const int8_t *xq, const float *xs, const Linear *lin,
                             int N);

/* Which row kernel matmul_q8_forward runs: by default the widest the CPU has.  All give
 * the same bits (integer group sums are exact; float terms are added group by group in
 * order).  q8_kernel_select forces one (for tests and benchmarks): ERR_UNSUPPORTED when the
 * CPU lacks it; Q8_KERNEL_AUTO returns to the default. */
enum { Q8_KERNEL_AUTO = 0, Q8_KERNEL_GENERIC = 1, Q8_KERNEL_AVX2 = 2, Q8_KERNEL_AVX512VNNI = 3 };
int q8_kernel_select(int kernel);
const char *q8_kernel_name(void);

/* Scratch sizes (elements) for quantising N rows of width `in` in groups of gs. */
static inline size_t q8_scratch_q(int N, int in) { return (size_t)N * (size_t)in; }
static inline size_t q8_scratch_s(int N, int in, int gs) { return (size_t)N * (size_t)(in / gs); }

/* w (n) = q * s per group (n % gs == 0). */
void q8_dequantize(float *w, const int8_t *q, const float *s, size_t n, int gs);

/* Quantises weights as llama2.c's export.py does (scale = max|w| / 127, round half to
 * even as torch.round); returns the largest absolute error of the round trip. */
float q8_quantize_weights(int8_t *q, float *s, const float *w, size_t n, int gs);

#endif
