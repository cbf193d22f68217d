/* gemm — the many-row matrix product of a prefill (see gemm.c for why it is not always sgemm).
 *
 * C (M x N, row stride ldc) = alpha * A (M x K, row stride lda) * op(B) + bias, where op(B) is
 * B^T for B stored (N, K) (b_trans = 1: nn.Linear's (out, in) weights, or the keys of a
 * score product Q K^T) and B itself for B stored (K, N) (b_trans = 0: Conv1D's (in, out), or
 * the values of P V).  bias (N floats) may be NULL.  C is overwritten and must not overlap
 * A or B.  Threads: OpenMP's team (omp_set_num_threads); small products run on one thread. */
#ifndef LECTERN_GEMM_H
#define LECTERN_GEMM_H

#include <stddef.h>

void gemm_forward(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                  int b_trans, const float *bias, float alpha, int M, int N, int K);

/* C += alpha * A op(B): the same product added to what C holds (no bias), for a product summed
 * over pieces (sparse attention's key ranges). */
void gemm_forward_acc(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                      int b_trans, float alpha, int M, int N, int K);

/* The same product through OpenBLAS's sgemm whatever gemm_select says.  Training uses it: the
 * committed default model is reproduced byte for byte only with the products it was made with. */
void gemm_forward_blas(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                       int b_trans, const float *bias, float alpha, int M, int N, int K);

/* Which implementation gemm_forward runs: GEMM_AUTO picks Lectern's AVX-512 kernel when the
 * CPU has AVX-512F and the OpenBLAS sgemm otherwise; GEMM_BLAS and GEMM_AVX512 force one (for
 * tests and benchmarks; GEMM_AVX512 falls back to BLAS on a CPU without it).  The environment
 * variable LECTERN_GEMM=blas|avx512 sets the initial choice.  Not thread-safe: call it
 * before computing. */
typedef enum { GEMM_AUTO = 0, GEMM_BLAS = 1, GEMM_AVX512 = 2 } GemmImpl;
void gemm_select(GemmImpl impl);
/* the implementation gemm_forward runs now: "avx512" or "openblas" */
const char *gemm_impl_name(void);
/* nonzero when this CPU (as the OS reports it) can run the AVX-512 kernel */
int gemm_have_avx512(void);

/* The naive twin: the same product in double, one row at a time (the tests' oracle). */
void gemm_forward_naive(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                        size_t ldb, int b_trans, const float *bias, float alpha, int M, int N, int K);

#endif
