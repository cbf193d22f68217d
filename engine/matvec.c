/* matvec — one input row times a weight matrix: the whole of a decode step's weight traffic.
 *
 * Decoding one token reads every weight once and does two flops per weight, so it is bound
 * by memory bandwidth, not arithmetic.  What matters is (1) that both cores stream their own
 * contiguous part of the matrix at the same time, (2) that the loop issues enough independent
 * loads to keep the memory system busy, and (3) that no time goes to anything else per call.
 * OpenBLAS's sgemv through GSL met none of these well on two cores (its threads and OpenMP's
 * fought for them, and each call paid for a thread hand-off), reaching about a third of the
 * bandwidth bound; llama2.c's run.c, a plain OpenMP loop over rows, reaches about half.
 *
 * Here: OpenMP splits the output rows (W_OUT_IN) or output columns (W_IN_OUT) into one
 * contiguous share per thread, so each core reads one linear stream.  A row is one dot
 * product with four FMA chains; the input vector comes from L1 each time.  (Running four rows
 * side by side, to read the input once per four rows, was slower: 21 against 28 GB/s on one
 * core here, as four streams a row apart prefetch worse than one.)  Small products stay on one
 * thread, where a fork and join would cost more than the work.  Matrix-matrix products
 * (prefill, training) still go to BLAS; this is only the N = 1 case.
 * Results differ from sgemv's in the last bits (a different summation order), well inside
 * the oracle tolerances; tests compare it with the double-accumulating naive product.
 */
#include "engine/matvec.h"
#include "engine/par.h"

#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MATVEC_AVX2 1
#endif

/* below this many multiply-adds a product stays on one thread: a fork and join of two
 * threads costs a few microseconds, about what one core streams in 64K weights */
#define MATVEC_PARALLEL_MIN (1L << 16)

#ifdef MATVEC_AVX2
static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* y[r] (+)= W[r, :] . x for rows r0..r1 of a row-major (out, in) matrix with row stride ld */
static void rows_dot(float *y, const float *x, const float *w, size_t ld, int in, int r0, int r1,
                     const float *b)
{
    int r = r0;
#ifdef MATVEC_AVX2
    for (; r < r1; r++) {
        const float *wr = w + (size_t)r * ld;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 32 <= in; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 8), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 16), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 24), _mm256_loadu_ps(x + i + 24), a3);
        }
        for (; i + 8 <= in; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(x + i), a0);
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < in; i++) s += wr[i] * x[i];
        y[r] = s + (b ? b[r] : 0.0f);
    }
#endif
    for (; r < r1; r++) {
        const float *wr = w + (size_t)r * ld;
        /* eight partial sums: independent chains the compiler can keep in one vector */
        float acc[8] = {0};
        int i = 0;
        for (; i + 8 <= in; i += 8)
            for (int k = 0; k < 8; k++) acc[k] += wr[i + k] * x[i + k];
        float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        for (; i < in; i++) s += wr[i] * x[i];
        y[r] = s + (b ? b[r] : 0.0f);
    }
}

/* y[c0..c1) = b + sum_i x[i] W[i, c0..c1) for a row-major (in, out) matrix: each row of W
 * contributes a contiguous strip, so the strip of y stays in L1 while W streams past */
static void cols_axpy(float *y, const float *x, const float *w, size_t ld, int in, int c0, int c1,
                      const float *b)
{
    /* strips of at most 1024 columns (4 KiB of y) */
    for (int s0 = c0; s0 < c1; s0 += 1024) {
        const int s1 = s0 + 1024 < c1 ? s0 + 1024 : c1;
        if (b) memcpy(y + s0, b + s0, sizeof(float) * (size_t)(s1 - s0));
        else memset(y + s0, 0, sizeof(float) * (size_t)(s1 - s0));
        for (int i = 0; i < in; i++) {
            const float xi = x[i];
            const float *wr = w + (size_t)i * ld;
            int c = s0;
#ifdef MATVEC_AVX2
            const __m256 xv = _mm256_set1_ps(xi);
            for (; c + 16 <= s1; c += 16) {
                _mm256_storeu_ps(y + c, _mm256_fmadd_ps(_mm256_loadu_ps(wr + c), xv, _mm256_loadu_ps(y + c)));
                _mm256_storeu_ps(y + c + 8,
                                 _mm256_fmadd_ps(_mm256_loadu_ps(wr + c + 8), xv, _mm256_loadu_ps(y + c + 8)));
            }
            for (; c + 8 <= s1; c += 8)
                _mm256_storeu_ps(y + c, _mm256_fmadd_ps(_mm256_loadu_ps(wr + c), xv, _mm256_loadu_ps(y + c)));
#endif
            for (; c < s1; c++) y[c] += xi * wr[c];
        }
    }
}

/* this thread's share of one product inside a parallel region */
static void matvec_share(float *y, const float *x, const Linear *lin)
{
    const int in = lin->in, out = lin->out;
    const size_t ld = (size_t)lin->ld;
    long lo, hi;
    if (lin->layout == W_OUT_IN) {
        /* one contiguous share of rows per thread */
        par_share(out, &lo, &hi);
        if (lo < hi) rows_dot(y, x, lin->w, ld, in, (int)lo, (int)hi, lin->b);
    } else {
        /* shares of whole 64-byte lines, so no two threads write one cache line */
        par_share((out + 15) / 16, &lo, &hi);
        lo *= 16;
        hi = 16 * hi < out ? 16 * hi : out;
        if (lo < hi) cols_axpy(y, x, lin->w, ld, in, (int)lo, (int)hi, lin->b);
    }
}

void matvec_forward_n(float *const *ys, const float *x, const Linear *const *lins, int n)
{
    double work = 0;
    for (int k = 0; k < n; k++) work += (double)lins[k]->in * lins[k]->out;
    if (!par_worth(work, MATVEC_PARALLEL_MIN)) {
        for (int k = 0; k < n; k++) {
            const Linear *lin = lins[k];
            if (lin->layout == W_OUT_IN) rows_dot(ys[k], x, lin->w, (size_t)lin->ld, lin->in, 0, lin->out, lin->b);
            else cols_axpy(ys[k], x, lin->w, (size_t)lin->ld, lin->in, 0, lin->out, lin->b);
        }
        return;
    }
    /* one fork and join for all of them: the outputs are independent, so a thread goes on to
     * its share of the next product without waiting for the other */
    #pragma omp parallel
    for (int k = 0; k < n; k++) matvec_share(ys[k], x, lins[k]);
}

void matvec_forward(float *y, const float *x, const Linear *lin)
{
    matvec_forward_n(&y, x, &lin, 1);
}

void matvec_dot_rows(float *y, const float *x, const float *w, size_t ld, int in, int rows)
{
    rows_dot(y, x, w, ld, in, 0, rows, NULL);
}

void matvec_sum_rows(float *y, const float *a, const float *w, size_t ld, int rows, int n)
{
    cols_axpy(y, a, w, ld, rows, 0, n, NULL);
}
