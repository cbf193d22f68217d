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
 * Here: OpenMP gives each thread one contiguous share of the weight rows, so each core reads
 * one linear stream: shares of output rows for (out, in) weights, and for (in, out) weights
 * shares of input rows summed into per-thread partial outputs (cols_group_share).  Lectern
 * loads Hugging Face GPT-2's (in, out) weights transposed, so the second form is left to
 * callers that build (in, out) views themselves (the trainer's sampling).  A row is one dot
 * product with four FMA chains; the input vector comes from L1 each time.  (Running four rows
 * side by side, to read the input once per four rows, was slower: 21 against 28 GB/s on one
 * core here, as four streams a row apart prefetch worse than one.)  Small products stay on one
 * thread, where a fork and join would cost more than the work.  Matrix-matrix products
 * (prefill, training) still go to BLAS; this is only the N = 1 case.
 * Results differ from sgemv's in the last bits (a different summation order), well inside
 * the oracle tolerances; tests compare it with the double-accumulating naive product.
 */
#include "engine/matvec.h"

#include "engine/err.h"
#include "engine/par.h"

#include <omp.h>
#include <stdlib.h>
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

/* y[c0..c1) = b + sum_i x[i] W[i, c0..c1) for a row-major (in, out) matrix.  Eight rows of
 * W at a time, so the strip of y is loaded and stored once per eight rows of weights (one
 * row at a time was store-bound at a third of the bandwidth), and each row's strip is a
 * contiguous run the prefetcher follows. */
static void cols_axpy(float *y, const float *x, const float *w, size_t ld, int in, int c0, int c1,
                      const float *b)
{
    if (b) memcpy(y + c0, b + c0, sizeof(float) * (size_t)(c1 - c0));
    else memset(y + c0, 0, sizeof(float) * (size_t)(c1 - c0));
    int i = 0;
    for (; i + 8 <= in; i += 8) {
        const float *w0 = w + (size_t)i * ld;
        int c = c0;
#ifdef MATVEC_AVX2
        __m256 v[8];
        for (int u = 0; u < 8; u++) v[u] = _mm256_set1_ps(x[i + u]);
        for (; c + 8 <= c1; c += 8) {
            const float *wc = w0 + c;
            __m256 a = _mm256_fmadd_ps(_mm256_loadu_ps(wc), v[0], _mm256_loadu_ps(y + c));
            __m256 d = _mm256_mul_ps(_mm256_loadu_ps(wc + ld), v[1]);
            a = _mm256_fmadd_ps(_mm256_loadu_ps(wc + 2 * ld), v[2], a);
            d = _mm256_fmadd_ps(_mm256_loadu_ps(wc + 3 * ld), v[3], d);
            a = _mm256_fmadd_ps(_mm256_loadu_ps(wc + 4 * ld), v[4], a);
            d = _mm256_fmadd_ps(_mm256_loadu_ps(wc + 5 * ld), v[5], d);
            a = _mm256_fmadd_ps(_mm256_loadu_ps(wc + 6 * ld), v[6], a);
            d = _mm256_fmadd_ps(_mm256_loadu_ps(wc + 7 * ld), v[7], d);
            _mm256_storeu_ps(y + c, _mm256_add_ps(a, d));
        }
#endif
        for (; c < c1; c++) {
            float acc = 0.0f;
            for (int u = 0; u < 8; u++) acc += x[i + u] * w0[(size_t)u * ld + c];
            y[c] += acc;
        }
    }
    for (; i < in; i++) {
        const float xi = x[i];
        const float *wr = w + (size_t)i * ld;
        int c = c0;
#ifdef MATVEC_AVX2
        const __m256 xv = _mm256_set1_ps(xi);
        for (; c + 8 <= c1; c += 8)
            _mm256_storeu_ps(y + c, _mm256_fmadd_ps(_mm256_loadu_ps(wr + c), xv, _mm256_loadu_ps(y + c)));
#endif
        for (; c < c1; c++) y[c] += xi * wr[c];
    }
}

/* A thread's partial sums for an (in, out) product: grown on first use and kept, one per
 * thread, so decoding allocates nothing after its first step. */
static _Thread_local float *part_buf;
static _Thread_local size_t part_n;

static float *part_scratch(size_t n)
{
    if (n > part_n) {
        free(part_buf);
        part_buf = xmalloc(sizeof(float) * n);
        part_n = n;
    }
    return part_buf;
}

/* Products k0..k1 are column blocks of one (in, out) matrix side by side (GPT-2's c_attn
 * split into q, k, v): the same input, the same row stride, each block starting where the
 * previous one ends.  Run together, a thread reads whole rows instead of three strips. */
static int cols_group_end(const Linear *const *lins, int k0, int n)
{
    int k1 = k0 + 1;
    while (k1 < n && lins[k1]->layout == W_IN_OUT && lins[k1]->in == lins[k0]->in &&
           lins[k1]->ld == lins[k0]->ld && lins[k1]->w == lins[k1 - 1]->w + lins[k1 - 1]->out &&
           !lins[k1]->wq8)
        k1++;
    return k1;
}

/* Inside a parallel region, this thread's part of products k0..k1 of one (in, out) matrix.
 * Splitting the columns would give each thread a strip of every row, a strided read the
 * prefetcher follows badly (half the bandwidth here); instead each thread takes a
 * contiguous block of rows, sums its partial outputs over the full width, and after a
 * barrier each thread adds up one share of the columns from every thread's partials. */
static void cols_group_share(float *const *ys, const float *x, const Linear *const *lins, int k0,
                             int k1, float **parts)
{
    const Linear *l0 = lins[k0];
    int width = 0;
    for (int k = k0; k < k1; k++) width += lins[k]->out;
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    float *p = part_scratch((size_t)width);
    long r0, r1;
    par_share(l0->in, &r0, &r1);
    if (r0 < r1)
        cols_axpy(p, x + r0, l0->w + (size_t)r0 * (size_t)l0->ld, (size_t)l0->ld, (int)(r1 - r0), 0, width, NULL);
    else
        memset(p, 0, sizeof(float) * (size_t)width);
    parts[t] = p;
    #pragma omp barrier
    long c0, c1;
    par_share((width + 15) / 16, &c0, &c1);  /* whole 64-byte lines of the output */
    c0 *= 16;
    c1 = 16 * c1 < width ? 16 * c1 : width;
    int base = 0;
    for (int k = k0; k < k1; k++) {
        const Linear *lin = lins[k];
        const int lo = (int)(c0 > base ? c0 : base) - base;
        const int hi = (int)(c1 < base + lin->out ? c1 : base + lin->out) - base;
        for (int c = lo; c < hi; c++) {
            float v = lin->b ? lin->b[c] : 0.0f;
            for (int u = 0; u < nt; u++) v += parts[u][base + c];
            ys[k][c] = v;
        }
        base += lin->out;
    }
    /* the partials are read until every thread is done with them */
    #pragma omp barrier
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
    /* where each thread's partial sums are, for the (in, out) products; on the stack, since
     * this runs several times per decoded token */
    float *parts[omp_get_max_threads()];
    /* one fork and join for all of them; products of rows need no barrier between them (the
     * outputs are independent), so a thread goes on to its share of the next one at once */
    #pragma omp parallel
    for (int k = 0; k < n;) {
        if (lins[k]->layout == W_OUT_IN) {
            long lo, hi;
            par_share(lins[k]->out, &lo, &hi);
            if (lo < hi) rows_dot(ys[k], x, lins[k]->w, (size_t)lins[k]->ld, lins[k]->in, (int)lo, (int)hi, lins[k]->b);
            k++;
        } else {
            const int k1 = cols_group_end(lins, k, n);
            cols_group_share(ys, x, lins, k, k1, parts);
            k = k1;
        }
    }
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
