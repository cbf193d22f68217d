/* effattn — exact, sparse, low-rank and kernel attention over plain matrices.
 *
 * Owns the single-head kernels of effattn.h, their implied-weight rows, the random
 * parameters they need (FAVOR+ features through GSL's QR, Linformer projections, Synthesizer
 * weights) and the runtime Effattn object built from text.  Not here: the patterns
 * (pattern.c), multi-head plumbing and the KV cache (attention.c, model.c), the oracle file
 * reader (effattn_case.c).
 * Two kinds of code.  The naive twins (effattn_exact, effattn_exact_masked,
 * effattn_exact_row_weights, effattn_linear_quadratic, the implied-weight rows) are the plain
 * form of each formula with dot products in double, so each reads next to its paper; they are
 * the oracles the tests hold the fast kernels against.  The fast kernels work in float32 as
 * the engine does (STYLE.md "Numbers"): matrix products through gsl_blas_sgemm on views of
 * contiguous rows (OpenBLAS underneath), the remaining loops with eight independent partial
 * sums so the compiler vectorises them without -ffast-math.  Costs stay those of effattn.h:
 * the sparse kernel multiplies a block of query rows by the keys their ranges share only when
 * that wastes at most a quarter more cells than the pattern allows (else it goes row by row),
 * and the kernel methods stream over blocks of rows, so no scratch grows past O(n).
 * References: see effattn.h; ../shared/research/attention.md sections 1, 4, 5.
 */
#include "engine/effattn.h"
#include "engine/gemm.h"
#include "engine/par.h"
#include "engine/vexp.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_vector.h>

#include "engine/err.h"

/* OpenBLAS runs a product of at most 65536 * 4 multiply-adds (GEMM_MULTITHREAD_THRESHOLD's
 * default) on the calling thread and hands larger ones to its thread pool, which for the
 * block-sized products here costs more than it gains (measured: up to twice the time on a
 * busy machine): those are multiplied in pieces of at most this size. */
#define SGEMM_SERIAL 262144
/* The sparse kernel's tiles: at most EFFATTN_BLOCK query rows and this many key ranges per
 * row (rows with more go one by one). */
#define TILE_RANGES 8

/* ---- naive-twin arithmetic (double) ---- */

static double dot(const float *a, const float *b, int d)
{
    double acc = 0;
    for (int t = 0; t < d; t++) acc += (double)a[t] * b[t];
    return acc;
}

/* s[0..cnt) <- softmax(s), max subtracted first so exp never overflows */
static void softmax(float *s, int cnt)
{
    if (cnt <= 0) return;
    float mx = s[0];
    for (int j = 1; j < cnt; j++) mx = s[j] > mx ? s[j] : mx;
    double sum = 0;
    for (int j = 0; j < cnt; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    for (int j = 0; j < cnt; j++) s[j] = (float)(s[j] / sum);
}

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* ---- fast-kernel arithmetic (float, vectorisable) ----
 * A single running sum is a serial chain the compiler may not reorder without -ffast-math;
 * eight independent partial sums (a fixed order, so results are reproducible) let it use
 * vector registers.  Fixed blocks of eight, as in attention.c's dot. */

static inline float dotf(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) acc[u] += a[i + u] * b[i + u];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y += a x */
static inline void axpyf(float *restrict y, float a, const float *restrict x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) y[i + u] += a * x[i + u];
    for (; i < n; i++) y[i] += a * x[i];
}

/* x *= a */
static inline void scalef(float *x, float a, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) x[i + u] *= a;
    for (; i < n; i++) x[i] *= a;
}

static inline float maxf(const float *x, int n)
{
    float m[8];
    int i = 0;
    if (n < 8) {
        float r = x[0];
        for (int j = 1; j < n; j++) r = x[j] > r ? x[j] : r;
        return r;
    }
    for (int u = 0; u < 8; u++) m[u] = x[u];
    for (i = 8; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) m[u] = x[i + u] > m[u] ? x[i + u] : m[u];
    float r = m[0];
    for (int u = 1; u < 8; u++) r = m[u] > r ? m[u] : r;
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

/* x <- exp(x - mx); returns the sum, in double: it is the softmax's denominator, and the
 * additions cost nothing next to the exponentials */
static inline double exp_sum(float *x, float mx, int n)
{
    double acc[4] = {0};
    int i = 0;
#ifdef VEXP_AVX2
    /* eight exponentials at a time (vexp.h), the sums still four doubles in a fixed order */
    const __m256 mv = _mm256_set1_ps(mx);
    for (; i + 8 <= n; i += 8) {
        const __m256 e = vexp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        for (int u = 0; u < 4; u++) acc[u] += (double)x[i + u] + (double)x[i + 4 + u];
    }
#endif
    for (; i + 4 <= n; i += 4)
        for (int u = 0; u < 4; u++) acc[u] += (x[i + u] = vexp1(x[i + u] - mx));
    double s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (; i < n; i++) s += (x[i] = vexp1(x[i] - mx));
    return s;
}

/* s[0..cnt) <- softmax(s) in float */
static void softmaxf(float *s, int cnt)
{
    if (cnt <= 0) return;
    double sum = exp_sum(s, maxf(s, cnt), cnt);
    scalef(s, (float)(1.0 / sum), cnt);
}

/* C (M, N) = alpha op(A) op(B) + beta C on row-major arrays with leading dimensions lda, ldb,
 * ldc: gsl_blas_sgemm on views, no copy.  op(A) is (M, Kd), op(B) (Kd, N); all sizes >= 1. */
static void sgemm(CBLAS_TRANSPOSE_t ta, CBLAS_TRANSPOSE_t tb, int M, int N, int Kd, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    size_t ar = (size_t)(ta == CblasNoTrans ? M : Kd), ac = (size_t)(ta == CblasNoTrans ? Kd : M);
    size_t br = (size_t)(tb == CblasNoTrans ? Kd : N), bc = (size_t)(tb == CblasNoTrans ? N : Kd);
    gsl_matrix_float_const_view a = gsl_matrix_float_const_view_array_with_tda(A, ar, ac, (size_t)lda);
    gsl_matrix_float_const_view b = gsl_matrix_float_const_view_array_with_tda(B, br, bc, (size_t)ldb);
    gsl_matrix_float_view c = gsl_matrix_float_view_array_with_tda(C, (size_t)M, (size_t)N, (size_t)ldc);
    gsl_blas_sgemm(ta, tb, alpha, &a.matrix, &b.matrix, beta, &c.matrix);
}

/* The same product in pieces of at most SGEMM_SERIAL multiply-adds, cut along the rows of C
 * (then its columns), so OpenBLAS runs each on this thread: for the block-sized products of
 * the kernels below its thread pool costs more than it gains.  Each element of C is still one
 * whole sum over Kd, so the result does not depend on the cut. */
static void sgemm_serial(CBLAS_TRANSPOSE_t ta, CBLAS_TRANSPOSE_t tb, int M, int N, int Kd,
                         float alpha, const float *A, int lda, const float *B, int ldb,
                         float beta, float *C, int ldc)
{
    size_t per_row = (size_t)N * Kd;
    int mc = per_row <= SGEMM_SERIAL ? (int)(SGEMM_SERIAL / per_row) : 1;
    int nc = per_row <= SGEMM_SERIAL ? N : (int)(SGEMM_SERIAL / Kd > 0 ? SGEMM_SERIAL / Kd : 1);
    for (int i = 0; i < M; i += mc)
        for (int j = 0; j < N; j += nc) {
            const float *a = A + (ta == CblasNoTrans ? (size_t)i * lda : (size_t)i);
            const float *b = B + (tb == CblasNoTrans ? (size_t)j : (size_t)j * ldb);
            sgemm(ta, tb, M - i < mc ? M - i : mc, N - j < nc ? N - j : nc, Kd, alpha, a, lda, b,
                  ldb, beta, C + (size_t)i * ldc + j, ldc);
        }
}

/* ------------------------------------------------------------------------------------ */
/* exact (the naive twins) */

void effattn_exact(const float *Q, const float *K, const float *V, int n, int d, int dv,
                   float scale, int causal, float *out, float *scratch)
{
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        const float *qi = Q + (size_t)i * d;
        for (int j = 0; j < lim; j++) scratch[j] = (float)(dot(qi, K + (size_t)j * d, d) * scale);
        softmax(scratch, lim);
        float *o = out + (size_t)i * dv;
        zero(o, (size_t)dv);
        for (int j = 0; j < lim; j++) {
            const float *vj = V + (size_t)j * dv;
            for (int t = 0; t < dv; t++) o[t] += scratch[j] * vj[t];
        }
    }
}

void effattn_exact_masked(const float *Q, const float *K, const float *V, int n, int d, int dv,
                          float scale, const unsigned char *mask, float *out, float *scratch)
{
    for (int i = 0; i < n; i++) {
        const unsigned char *mrow = mask + (size_t)i * n;
        const float *qi = Q + (size_t)i * d;
        int cnt = 0;
        for (int j = 0; j < n; j++)
            if (mrow[j]) scratch[cnt++] = (float)(dot(qi, K + (size_t)j * d, d) * scale);
        softmax(scratch, cnt);
        float *o = out + (size_t)i * dv;
        zero(o, (size_t)dv);
        for (int j = 0, c = 0; j < n; j++) {
            if (!mrow[j]) continue;
            const float *vj = V + (size_t)j * dv;
            for (int t = 0; t < dv; t++) o[t] += scratch[c] * vj[t];
            c++;
        }
    }
}

void effattn_exact_row_weights(const float *Q, const float *K, int n, int d, float scale,
                               int causal, int q, float *w)
{
    int lim = causal ? q + 1 : n;
    for (int j = 0; j < lim; j++) w[j] = (float)(dot(Q + (size_t)q * d, K + (size_t)j * d, d) * scale);
    softmax(w, lim);
    for (int j = lim; j < n; j++) w[j] = 0;
}

void effattn_attention_matrix(const float *Q, const float *K, int n, int d, float scale,
                              int causal, float *A)
{
    for (int i = 0; i < n; i++) effattn_exact_row_weights(Q, K, n, d, scale, causal, i, A + (size_t)i * n);
}

/* ------------------------------------------------------------------------------------ */
/* sparse */

/* Row q's ranges that start before nkeys (the last one may still end past it). */
static int row_ranges(const Pattern *p, int q, int nkeys, const int **r)
{
    int nr = pattern_row(p, q, r), c = 0;
    while (c < nr && (*r)[2 * c] < nkeys) c++;
    return c;
}

/* Scores and softmax of row q over the pattern's keys < nkeys into w (compact, in key order);
 * returns the count. */
static int sparse_scores(const Pattern *p, int q, int nkeys, const float *qv, const float *K,
                         int ldk, int d, float scale, float *w)
{
    const int *r;
    int nr = row_ranges(p, q, nkeys, &r), cnt = 0;
    for (int i = 0; i < nr; i++) {
        int hi = r[2 * i + 1] < nkeys ? r[2 * i + 1] : nkeys;
        for (int j = r[2 * i]; j < hi; j++) w[cnt++] = dotf(qv, K + (size_t)j * ldk, d) * scale;
    }
    softmaxf(w, cnt);
    return cnt;
}

/* One row the plain way: scores, softmax, out = sum_j w_j v_j. */
static int sparse_row(const Pattern *p, int q, int nkeys, const float *qv, const float *K,
                      int ldk, const float *V, int ldv, int d, int dv, float scale, float *out,
                      float *w, float *att_row)
{
    int cnt = sparse_scores(p, q, nkeys, qv, K, ldk, d, scale, w);
    zero(out, (size_t)dv);
    if (att_row) zero(att_row, (size_t)nkeys);
    const int *r;
    int nr = row_ranges(p, q, nkeys, &r), c = 0;
    for (int i = 0; i < nr; i++) {
        int hi = r[2 * i + 1] < nkeys ? r[2 * i + 1] : nkeys;
        for (int j = r[2 * i]; j < hi; j++, c++) {
            axpyf(out, w[c], V + (size_t)j * ldv, dv);
            if (att_row) att_row[j] = w[c];
        }
    }
    return cnt;
}

int effattn_sparse_row(const Pattern *p, int q, int nkeys, const float *qv, const float *K,
                       int ldk, const float *V, int ldv, int d, int dv, float scale, float *out,
                       float *w, float *att_row)
{
    if (q < 0 || q >= p->n || nkeys > p->n)
        return ERR(ERR_ARG, "sparse attention: row %d of %d keys outside a pattern of n=%d", q,
                   nkeys, p->n);
    return sparse_row(p, q, nkeys, qv, K, ldk, V, ldv, d, dv, scale, out, w, att_row);
}

/* Scratch: a tile of scores plus the rows' inverse denominators, or one row's weights,
 * whichever is larger. */
static size_t sparse_scratch_one(const Pattern *p)
{
    size_t a = (size_t)EFFATTN_SPARSE_TILE + EFFATTN_BLOCK, b = (size_t)(p->max_row > 0 ? p->max_row : 1);
    return a > b ? a : b;
}

/* One thread's share for each thread OpenMP would run now: effattn_sparse splits its rows
 * between as many threads as the scratch it is given has shares for. */
size_t effattn_sparse_scratch(const Pattern *p)
{
    return sparse_scratch_one(p) * (size_t)omp_get_max_threads();
}

/* A tile: rows i0..i0+B-1 all have R ranges, and range r of every row lies inside the hull
 * [hs[r], he[r]); the hulls are disjoint and increasing.  Grows the block from row i0 while
 * the hulls stay disjoint, the tile fits `tile` floats and it wastes at most a quarter more
 * cells than the rows allow; returns B, or 0 when row i0 should go the plain way (a tile of
 * one row would only add the cost of calling sgemm). */
static int tile_rows(const Pattern *p, int i0, int i_end, int n, size_t tile, int *R, int *hs, int *he)
{
    const int *r;
    int nr = row_ranges(p, i0, n, &r);
    if (nr < 1 || nr > TILE_RANGES) return 0;
    size_t width = 0, cells = 0;
    for (int k = 0; k < nr; k++) {
        hs[k] = r[2 * k];
        he[k] = r[2 * k + 1] < n ? r[2 * k + 1] : n;
        width += (size_t)(he[k] - hs[k]);
    }
    cells = width;
    if (width > tile) return 0;
    int B = 1;
    while (i0 + B < i_end && B < EFFATTN_BLOCK) {
        int nh[TILE_RANGES], ne[TILE_RANGES];
        if (row_ranges(p, i0 + B, n, &r) != nr) break;
        size_t w2 = 0, c2 = cells;
        int ok = 1;
        for (int k = 0; k < nr && ok; k++) {
            int s = r[2 * k], e = r[2 * k + 1] < n ? r[2 * k + 1] : n;
            nh[k] = s < hs[k] ? s : hs[k];
            ne[k] = e > he[k] ? e : he[k];
            ok = k == 0 || nh[k] >= ne[k - 1];
            w2 += (size_t)(ne[k] - nh[k]);
            c2 += (size_t)(e - s);
        }
        size_t area = w2 * (size_t)(B + 1);
        if (!ok || area > tile || 4 * area > 5 * c2) break;
        memcpy(hs, nh, sizeof(int) * (size_t)nr);
        memcpy(he, ne, sizeof(int) * (size_t)nr);
        cells = c2;
        B++;
    }
    *R = nr;
    return B > 1 ? B : 0;
}

/* Rows i0..i0+B-1 as two matrix products around a masked softmax:
 * S (B, U) = scale Q_rows K_hulls^T, one sgemm per hull (keys are contiguous rows of K);
 * each row keeps exp(s - max) on its own cells and 0 on the rest of the hulls;
 * out_rows = S V_hulls, one sgemm per hull, then each row divided by its sum. */
static void tile_attend(const Pattern *p, int i0, int B, int R, const int *hs, const int *he,
                        int n, const float *Q, const float *K, const float *V, int d, int dv,
                        float scale, float *out, float *S)
{
    int U = 0;
    for (int k = 0; k < R; k++) U += he[k] - hs[k];
    float *inv = S + (size_t)B * U;
    /* pieces of at most SGEMM_SERIAL multiply-adds: OpenBLAS runs those on this thread */
    const int kq = SGEMM_SERIAL / (B * d) > 0 ? SGEMM_SERIAL / (B * d) : 1;
    const int kv = SGEMM_SERIAL / (B * dv) > 0 ? SGEMM_SERIAL / (B * dv) : 1;
    /* gemm.c's own kernel has no thread pool to avoid: one product per hull */
    const int own = !strcmp(gemm_impl_name(), "avx512");
    for (int k = 0, off = 0; k < R; off += he[k] - hs[k], k++) {
        if (own) {
            gemm_forward(S + off, (size_t)U, Q + (size_t)i0 * d, (size_t)d, K + (size_t)hs[k] * d,
                         (size_t)d, 1, NULL, scale, B, he[k] - hs[k], d);
            continue;
        }
        for (int c = hs[k]; c < he[k]; c += kq)
            sgemm(CblasNoTrans, CblasTrans, B, he[k] - c < kq ? he[k] - c : kq, d, scale,
                  Q + (size_t)i0 * d, d, K + (size_t)c * d, d, 0.0f, S + off + (c - hs[k]), U);
    }
    for (int b = 0; b < B; b++) {
        float *row = S + (size_t)b * U;
        const int *r;
        row_ranges(p, i0 + b, n, &r);
        float mx = -INFINITY;
        for (int k = 0, off = 0; k < R; off += he[k] - hs[k], k++) {
            int s = r[2 * k], e = r[2 * k + 1] < n ? r[2 * k + 1] : n;
            float m = maxf(row + off + (s - hs[k]), e - s);
            mx = m > mx ? m : mx;
        }
        double sum = 0;
        for (int k = 0, off = 0; k < R; off += he[k] - hs[k], k++) {
            int s = r[2 * k], e = r[2 * k + 1] < n ? r[2 * k + 1] : n;
            zero(row + off, (size_t)(s - hs[k]));
            sum += exp_sum(row + off + (s - hs[k]), mx, e - s);
            zero(row + off + (e - hs[k]), (size_t)(he[k] - e));
        }
        inv[b] = (float)(1.0 / sum);
    }
    for (int k = 0, off = 0; k < R; off += he[k] - hs[k], k++) {
        if (own) {
            float *o = out + (size_t)i0 * dv;
            const float *sk = S + off, *vk = V + (size_t)hs[k] * dv;
            if (k) gemm_forward_acc(o, (size_t)dv, sk, (size_t)U, vk, (size_t)dv, 0, 1.0f, B, dv, he[k] - hs[k]);
            else gemm_forward(o, (size_t)dv, sk, (size_t)U, vk, (size_t)dv, 0, NULL, 1.0f, B, dv, he[k] - hs[k]);
            continue;
        }
        for (int c = hs[k]; c < he[k]; c += kv)
            sgemm(CblasNoTrans, CblasNoTrans, B, dv, he[k] - c < kv ? he[k] - c : kv, 1.0f,
                  S + off + (c - hs[k]), U, V + (size_t)c * dv, dv,
                  k || c > hs[k] ? 1.0f : 0.0f, out + (size_t)i0 * dv, dv);
    }
    for (int b = 0; b < B; b++) scalef(out + (size_t)(i0 + b) * dv, inv[b], dv);
}

/* Rows i_begin..i_end of effattn_sparse on the calling thread, with one share of scratch. */
static void sparse_rows(const Pattern *p, int i_begin, int i_end, int n, const float *Q,
                        const float *K, const float *V, int d, int dv, float scale, float *out,
                        float *scratch, size_t tile)
{
    int hs[TILE_RANGES], he[TILE_RANGES], R = 0;
    for (int i = i_begin; i < i_end;) {
        int B = tile_rows(p, i, i_end, n, tile, &R, hs, he);
        if (B > 0) {
            tile_attend(p, i, B, R, hs, he, n, Q, K, V, d, dv, scale, out, scratch);
            i += B;
        } else {
            sparse_row(p, i, n, Q + (size_t)i * d, K, d, V, dv, d, dv, scale,
                       out + (size_t)i * dv, scratch, NULL);
            i++;
        }
    }
}

int effattn_sparse(const Pattern *p, const float *Q, const float *K, const float *V, int n,
                   int d, int dv, float scale, float *out, float *scratch, size_t scratch_floats)
{
    if (n > p->n)
        return ERR(ERR_ARG, "sparse attention: %d positions, the pattern covers %d", n, p->n);
    const size_t one = sparse_scratch_one(p);
    if (scratch_floats < one)
        return ERR(ERR_ARG, "sparse attention: scratch of %zu floats, the pattern needs %zu",
                   scratch_floats, one);
    const size_t tile = one - EFFATTN_BLOCK;
    /* rows are independent: threads take contiguous shares of them, each its own scratch */
    long nt = (long)(scratch_floats / one);
    if (nt > omp_get_max_threads()) nt = omp_get_max_threads();
    if (nt < 2 || !par_worth((double)n * (d + dv) * (p->max_row > 0 ? p->max_row : 1), 1 << 20)) {
        sparse_rows(p, 0, n, n, Q, K, V, d, dv, scale, out, scratch, tile);
        return 0;
    }
    #pragma omp parallel num_threads((int)nt)
    {
        long lo, hi;
        par_share(n, &lo, &hi);
        sparse_rows(p, (int)lo, (int)hi, n, Q, K, V, d, dv, scale, out,
                    scratch + (size_t)omp_get_thread_num() * one, tile);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Linformer */

size_t effattn_linformer_scratch(int k, int d, int dv)
{
    return (size_t)k * d + (size_t)k * dv + (size_t)EFFATTN_BLOCK * k;
}

static int linformer_check(int n, int k, int lde)
{
    if (k < 1) return ERR(ERR_ARG, "linformer: k=%d must be >= 1", k);
    if (lde < n) return ERR(ERR_ARG, "linformer: projections cover %d positions, need %d", lde, n);
    return 0;
}

/* P (k, d) += E[:, j] x_j^T */
static void project_add(float *P, const float *E, int lde, int k, int j, const float *xj, int d)
{
    for (int c = 0; c < k; c++) axpyf(P + (size_t)c * d, E[(size_t)c * lde + j], xj, d);
}

/* softmax(q . Kp_c * scale) over c into a (k), in double: the implied-weights twin */
static void linformer_weights(const float *qv, const float *Kp, int k, int d, float scale, float *a)
{
    for (int c = 0; c < k; c++) a[c] = (float)(dot(qv, Kp + (size_t)c * d, d) * scale);
    softmax(a, k);
}

int effattn_linformer(const float *Q, const float *K, const float *V, const float *E,
                      const float *F, int lde, int n, int d, int dv, int k, float scale,
                      int causal, float *out, float *scratch)
{
    int rc = linformer_check(n, k, lde);
    if (rc) return rc;
    float *Kp = scratch, *Vp = Kp + (size_t)k * d, *A = Vp + (size_t)k * dv;   /* (k,d) (k,dv) (EFFATTN_BLOCK,k) */
    if (!causal) {
        /* the sequence axis projected once: Kp = E[:, :n] K, Vp = F[:, :n] V */
        sgemm(CblasNoTrans, CblasNoTrans, k, d, n, 1.0f, E, lde, K, d, 0.0f, Kp, d);
        sgemm(CblasNoTrans, CblasNoTrans, k, dv, n, 1.0f, F, lde, V, dv, 0.0f, Vp, dv);
        /* then per block of queries softmax(Q Kp^T * scale) Vp, an ordinary attention over k keys */
        for (int i0 = 0; i0 < n; i0 += EFFATTN_BLOCK) {
            int C = n - i0 < EFFATTN_BLOCK ? n - i0 : EFFATTN_BLOCK;
            sgemm(CblasNoTrans, CblasTrans, C, k, d, scale, Q + (size_t)i0 * d, d, Kp, d, 0.0f, A, k);
            for (int i = 0; i < C; i++) softmaxf(A + (size_t)i * k, k);
            sgemm(CblasNoTrans, CblasNoTrans, C, dv, k, 1.0f, A, k, Vp, dv, 0.0f,
                  out + (size_t)i0 * dv, dv);
        }
        return 0;
    }
    zero(Kp, (size_t)k * d);
    zero(Vp, (size_t)k * dv);
    for (int i = 0; i < n; i++) {
        /* row i sees E[:, :i+1] K[:i+1]: one more column of the prefix sum */
        project_add(Kp, E, lde, k, i, K + (size_t)i * d, d);
        project_add(Vp, F, lde, k, i, V + (size_t)i * dv, dv);
        const float *qi = Q + (size_t)i * d;
        for (int c = 0; c < k; c++) A[c] = dotf(qi, Kp + (size_t)c * d, d) * scale;
        softmaxf(A, k);
        float *o = out + (size_t)i * dv;
        zero(o, (size_t)dv);
        for (int c = 0; c < k; c++) axpyf(o, A[c], Vp + (size_t)c * dv, dv);
    }
    return 0;
}

int effattn_linformer_row_weights(const float *Q, const float *K, const float *E,
                                  const float *F, int lde, int n, int d, int k, float scale,
                                  int causal, int q, float *wk, float *w, float *scratch)
{
    int rc = linformer_check(n, k, lde);
    if (rc) return rc;
    if (q < 0 || q >= n) return ERR(ERR_ARG, "linformer: row %d outside 0..%d", q, n - 1);
    float *Kp = scratch, *a = Kp + (size_t)k * d;
    zero(Kp, (size_t)k * d);
    int lim = causal ? q + 1 : n;
    for (int j = 0; j < lim; j++) project_add(Kp, E, lde, k, j, K + (size_t)j * d, d);
    linformer_weights(Q + (size_t)q * d, Kp, k, d, scale, a);
    if (wk) memcpy(wk, a, (size_t)k * sizeof(float));
    for (int j = 0; j < n; j++) {
        double acc = 0;
        if (j < lim)
            for (int c = 0; c < k; c++) acc += (double)a[c] * F[(size_t)c * lde + j];
        w[j] = (float)acc;
    }
    return 0;
}

void effattn_linformer_init(float *P, int k, int n_max, unsigned long seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    /* xavier_uniform: bound = gain * sqrt(6 / (fan_in + fan_out)), gain 1/sqrt(2) */
    double bound = sqrt(0.5) * sqrt(6.0 / ((double)n_max + k));
    for (size_t i = 0; i < (size_t)k * n_max; i++)
        P[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * bound);
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------------------------------ */
/* Synthesizer */

/* logits of token i (first lim of l) into s; hid (h) scratch */
static void synth_dense_logits(const SynthDense *s, const float *xi, int lim, float *hid, float *lg)
{
    for (int u = 0; u < s->h; u++) {
        float a = dotf(s->W1 + (size_t)u * s->dx, xi, s->dx) + s->b1[u];
        hid[u] = a > 0 ? a : 0.0f;
    }
    for (int j = 0; j < lim; j++) lg[j] = dotf(s->W2 + (size_t)j * s->h, hid, s->h) + s->b2[j];
}

static void mix_rows(const float *a, int lim, const float *V, int dv, float *o)
{
    zero(o, (size_t)dv);
    for (int j = 0; j < lim; j++) axpyf(o, a[j], V + (size_t)j * dv, dv);
}

int effattn_synth_dense(const SynthDense *s, const float *X, const float *V, int n, int dv,
                        int causal, float *out, float *scratch)
{
    if (n > s->l) return ERR(ERR_ARG, "synthesizer: %d positions, rows hold %d", n, s->l);
    float *hid = scratch, *lg = scratch + s->h;
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        synth_dense_logits(s, X + (size_t)i * s->dx, lim, hid, lg);
        softmaxf(lg, lim);
        mix_rows(lg, lim, V, dv, out + (size_t)i * dv);
    }
    return 0;
}

int effattn_synth_random(const float *R, int l, const float *V, int n, int dv, int causal,
                         float *out, float *scratch)
{
    if (n > l) return ERR(ERR_ARG, "synthesizer: %d positions, the matrix holds %d", n, l);
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        memcpy(scratch, R + (size_t)i * l, (size_t)lim * sizeof(float));
        softmaxf(scratch, lim);
        mix_rows(scratch, lim, V, dv, out + (size_t)i * dv);
    }
    return 0;
}

int effattn_synth_dense_row_weights(const SynthDense *s, const float *X, int n, int causal,
                                    int q, float *w, float *scratch)
{
    if (n > s->l || q < 0 || q >= n)
        return ERR(ERR_ARG, "synthesizer: row %d of %d positions (rows hold %d)", q, n, s->l);
    int lim = causal ? q + 1 : n;
    synth_dense_logits(s, X + (size_t)q * s->dx, lim, scratch, w);
    softmaxf(w, lim);
    for (int j = lim; j < n; j++) w[j] = 0;
    return 0;
}

int effattn_synth_random_row_weights(const float *R, int l, int n, int causal, int q, float *w)
{
    if (n > l || q < 0 || q >= n)
        return ERR(ERR_ARG, "synthesizer: row %d of %d positions (the matrix holds %d)", q, n, l);
    int lim = causal ? q + 1 : n;
    memcpy(w, R + (size_t)q * l, (size_t)lim * sizeof(float));
    softmaxf(w, lim);
    for (int j = lim; j < n; j++) w[j] = 0;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* FAVOR+ and linear attention */

int effattn_favor_matrix(float *W, int m, int d, int orthogonal, int scaling,
                         unsigned long seed)
{
    if (m < 1 || d < 1) return ERR(ERR_ARG, "performer: m=%d features of d=%d must be >= 1", m, d);
    if (scaling != 0 && scaling != 1)
        return ERR(ERR_ARG, "performer: scaling=%d must be 0 (chi norms) or 1 (sqrt d)", scaling);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    if (!orthogonal) {
        /* performer-pytorch's non-orthogonal features: plain randn(m, d), no rescaling */
        for (size_t i = 0; i < (size_t)m * d; i++) W[i] = (float)gsl_ran_gaussian(rng, 1.0);
        gsl_rng_free(rng);
        return 0;
    }
    gsl_matrix *G = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_matrix *Qm = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_matrix *Rm = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_vector *tau = gsl_vector_alloc((size_t)d);
    int rc = 0;
    for (int row0 = 0; row0 < m && !rc; row0 += d) {
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) gsl_matrix_set(G, (size_t)a, (size_t)b, gsl_ran_gaussian(rng, 1.0));
        if (gsl_linalg_QR_decomp(G, tau) || gsl_linalg_QR_unpack(G, tau, Qm, Rm)) {
            rc = ERR(ERR_ARG, "performer: QR of a random block failed");
            break;
        }
        /* Q^T's rows are Q's columns; flipping each by sign(R_jj) makes Q Haar-distributed */
        int rows = m - row0 < d ? m - row0 : d;
        for (int r = 0; r < rows; r++) {
            double sg = gsl_matrix_get(Rm, (size_t)r, (size_t)r) < 0 ? -1.0 : 1.0;
            for (int t = 0; t < d; t++)
                W[(size_t)(row0 + r) * d + t] = (float)(sg * gsl_matrix_get(Qm, (size_t)t, (size_t)r));
        }
    }
    for (int r = 0; r < m && !rc; r++) {
        double mult;
        if (scaling == 0) {
            /* the norm of a fresh Gaussian vector: rows get the lengths iid rows would have */
            double s2 = 0;
            for (int t = 0; t < d; t++) {
                double g = gsl_ran_gaussian(rng, 1.0);
                s2 += g * g;
            }
            mult = sqrt(s2);
        } else {
            mult = sqrt((double)d);
        }
        for (int t = 0; t < d; t++) W[(size_t)r * d + t] = (float)(W[(size_t)r * d + t] * mult);
    }
    gsl_matrix_free(G);
    gsl_matrix_free(Qm);
    gsl_matrix_free(Rm);
    gsl_vector_free(tau);
    gsl_rng_free(rng);
    return rc;
}

/* FAVOR+ features, step 1: phi (C, m) = x~ W^T, x~ = x d^-1/4 */
static void favor_project(const float *X, int C, int d, const float *W, int m, float *phi)
{
    sgemm_serial(CblasNoTrans, CblasTrans, C, m, d, powf((float)d, -0.25f), X, d, W, d, 0.0f, phi, m);
}

/* Step 2: phi = m^-1/2 (exp(x~ . w - |x~|^2/2 - c) + eps) where c is the row's own max over
 * features (queries: a per-row constant cancels in the ratio) or the given key_max (keys:
 * one shift for all keys and features, so key features stay comparable). */
static void favor_exp(const float *X, int C, int d, int m, int is_query, float key_max,
                      float feature_eps, float *phi)
{
    const float ratio = 1.0f / sqrtf((float)m), half_nn = 0.5f / sqrtf((float)d);   /* norm^2 / 2 */
    for (int i = 0; i < C; i++) {
        const float *xi = X + (size_t)i * d;
        float *pi = phi + (size_t)i * m;
        const float dg = dotf(xi, xi, d) * half_nn, c = is_query ? maxf(pi, m) : key_max;
        for (int f = 0; f < m; f++) pi[f] = ratio * (expf((pi[f] - dg) - c) + feature_eps);
    }
}

void effattn_favor_features(const float *X, int n, int d, const float *W, int m, int is_query,
                            float feature_eps, float *phi)
{
    favor_project(X, n, d, W, m, phi);
    float key_max = -INFINITY;
    for (int i = 0; i < n && !is_query; i++) {
        float mx = maxf(phi + (size_t)i * m, m);
        key_max = mx > key_max ? mx : key_max;
    }
    favor_exp(X, n, d, m, is_query, key_max, feature_eps, phi);
}

void effattn_elu_features(const float *X, int n, int d, float *phi)
{
    for (size_t i = 0; i < (size_t)n * d; i++) phi[i] = X[i] > 0 ? X[i] + 1.0f : expf(X[i]);
}

/* ---- linear attention in blocks ----
 * The state after a prefix of keys: S (m, dv) = sum phi_k_j v_j^T and zk (m) = k_eps +
 * sum phi_k_j.  Bidirectional: absorb every block of keys, then emit every block of queries.
 * Causal (the chunked prefix-sum form): for each block of rows, emit against the state of
 * the blocks before it plus the block's own lower triangle, then absorb the block.  Every
 * product is block-sized, so time is O(n) and the working set stays in cache at any n. */

size_t effattn_linear_scratch(int m, int dv)
{
    return (size_t)m * dv + (size_t)m + (size_t)EFFATTN_BLOCK * EFFATTN_BLOCK;
}

/* S += pk^T Vb, zk += the column sums of pk; pk (C, m), Vb (C, dv) */
static void lin_absorb(float *S, float *zk, const float *pk, const float *Vb, int C, int m, int dv)
{
    sgemm_serial(CblasTrans, CblasNoTrans, m, dv, C, 1.0f, pk, m, Vb, dv, 1.0f, S, dv);
    for (int j = 0; j < C; j++) axpyf(zk, 1.0f, pk + (size_t)j * m, m);
}

/* o (C, dv) = pq S / (pq . zk + den_eps), row by row; pq (C, m) */
static void lin_emit(const float *pq, const float *S, const float *zk, int C, int m, int dv,
                     float den_eps, float *o)
{
    sgemm_serial(CblasNoTrans, CblasNoTrans, C, dv, m, 1.0f, pq, m, S, dv, 0.0f, o, dv);
    for (int i = 0; i < C; i++)
        scalef(o + (size_t)i * dv, 1.0f / (dotf(pq + (size_t)i * m, zk, m) + den_eps), dv);
}

/* Causal rows of one block: o_i = (pq_i S + sum_{j<=i in block} (pq_i . pk_j) v_j) /
 * (pq_i . zk + sum_{j<=i} pq_i . pk_j + den_eps), with S, zk the state before the block;
 * A (C, C) scratch. */
static void lin_emit_causal(const float *pq, const float *pk, const float *Vb, const float *S,
                            const float *zk, int C, int m, int dv, float den_eps, float *A,
                            float *o)
{
    sgemm_serial(CblasNoTrans, CblasTrans, C, C, m, 1.0f, pq, m, pk, m, 0.0f, A, C);
    for (int i = 0; i < C; i++)
        for (int j = i + 1; j < C; j++) A[(size_t)i * C + j] = 0.0f;
    sgemm_serial(CblasNoTrans, CblasNoTrans, C, dv, m, 1.0f, pq, m, S, dv, 0.0f, o, dv);
    sgemm_serial(CblasNoTrans, CblasNoTrans, C, dv, C, 1.0f, A, C, Vb, dv, 1.0f, o, dv);
    for (int i = 0; i < C; i++) {
        float den = dotf(pq + (size_t)i * m, zk, m) + den_eps;
        for (int j = 0; j <= i; j++) den += A[(size_t)i * C + j];
        scalef(o + (size_t)i * dv, 1.0f / den, dv);
    }
}

/* Where a block's features come from: given (effattn_linear), or made from Q and K block by
 * block (FAVOR+, elu+1), so neither n x m feature matrix is ever held. */
typedef enum { MAP_GIVEN, MAP_FAVOR, MAP_ELU } FeatureMap;
typedef struct {
    FeatureMap map;
    const float *phi_q, *phi_k;   /* MAP_GIVEN: (n, m) */
    const float *Q, *K;           /* the others: (n, d) */
    const float *W;               /* MAP_FAVOR: (m, d) */
    int d;
    float feature_eps, key_max;
} Features;

/* Features of rows i0..i0+C-1 (queries or keys): a pointer into phi_q/phi_k or into buf. */
static const float *block_features(const Features *f, int is_query, int i0, int C, int m,
                                   float *buf)
{
    if (f->map == MAP_GIVEN) return (is_query ? f->phi_q : f->phi_k) + (size_t)i0 * m;
    const float *X = (is_query ? f->Q : f->K) + (size_t)i0 * f->d;
    if (f->map == MAP_ELU) {
        effattn_elu_features(X, C, f->d, buf);
    } else {
        favor_project(X, C, f->d, f->W, m, buf);
        favor_exp(X, C, f->d, m, is_query, f->key_max, f->feature_eps, buf);
    }
    return buf;
}

/* scratch: effattn_linear_scratch(m, dv), then for computed features 2 EFFATTN_BLOCK x m */
static void linear_blocks(const Features *f, const float *V, int n, int m, int dv, int causal,
                          float k_eps, float den_eps, float *out, float *scratch)
{
    float *S = scratch, *zk = S + (size_t)m * dv, *A = zk + m;
    float *qbuf = A + (size_t)EFFATTN_BLOCK * EFFATTN_BLOCK, *kbuf = qbuf + (size_t)EFFATTN_BLOCK * m;
    zero(S, (size_t)m * dv);
    for (int i = 0; i < m; i++) zk[i] = k_eps;
    /* bidirectional: pass 0 absorbs every key block, pass 1 emits every query block;
     * causal: one pass doing both, block by block */
    for (int pass = causal ? 1 : 0; pass < 2; pass++)
        for (int i0 = 0; i0 < n; i0 += EFFATTN_BLOCK) {
            int C = n - i0 < EFFATTN_BLOCK ? n - i0 : EFFATTN_BLOCK;
            const float *Vb = V + (size_t)i0 * dv, *pk = NULL;
            if (pass == 0 || causal) pk = block_features(f, 0, i0, C, m, kbuf);
            if (pass == 1) {
                const float *pq = block_features(f, 1, i0, C, m, qbuf);
                float *ob = out + (size_t)i0 * dv;
                if (causal) lin_emit_causal(pq, pk, Vb, S, zk, C, m, dv, den_eps, A, ob);
                else lin_emit(pq, S, zk, C, m, dv, den_eps, ob);
            }
            if (pk) lin_absorb(S, zk, pk, Vb, C, m, dv);
        }
}

void effattn_linear(const float *phi_q, const float *phi_k, const float *V, int n, int m,
                    int dv, int causal, float k_eps, float den_eps, float *out, float *scratch)
{
    Features f = {.map = MAP_GIVEN, .phi_q = phi_q, .phi_k = phi_k};
    linear_blocks(&f, V, n, m, dv, causal, k_eps, den_eps, out, scratch);
}

/* weights phi_q_i . phi_k_j for j < lim into w; returns the denominator */
static double linear_weights_row(const float *phi_q, const float *phi_k, int m, int lim,
                                 float k_eps, float den_eps, int i, float *w)
{
    const float *pq = phi_q + (size_t)i * m;
    double den = den_eps, qsum = 0;
    for (int f = 0; f < m; f++) qsum += pq[f];
    den += k_eps * qsum;
    for (int j = 0; j < lim; j++) {
        double a = dot(pq, phi_k + (size_t)j * m, m);
        w[j] = (float)a;
        den += a;
    }
    return den;
}

void effattn_linear_quadratic(const float *phi_q, const float *phi_k, const float *V, int n,
                              int m, int dv, int causal, float k_eps, float den_eps, float *out,
                              float *scratch)
{
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        double den = linear_weights_row(phi_q, phi_k, m, lim, k_eps, den_eps, i, scratch);
        float *o = out + (size_t)i * dv;
        for (int t = 0; t < dv; t++) {
            double num = 0;
            for (int j = 0; j < lim; j++) num += (double)scratch[j] * V[(size_t)j * dv + t];
            o[t] = (float)(num / den);
        }
    }
}

void effattn_linear_row_weights(const float *phi_q, const float *phi_k, int n, int m, int causal,
                                float k_eps, float den_eps, int q, float *w)
{
    int lim = causal ? q + 1 : n;
    double den = linear_weights_row(phi_q, phi_k, m, lim, k_eps, den_eps, q, w);
    for (int j = 0; j < lim; j++) w[j] = (float)(w[j] / den);
    for (int j = lim; j < n; j++) w[j] = 0;
}

size_t effattn_favor_scratch(int n, int m, int dv)
{
    (void)n;   /* streamed: the features of one block at a time */
    return effattn_linear_scratch(m, dv) + 2 * (size_t)EFFATTN_BLOCK * m;
}

void effattn_favor(const float *Q, const float *K, const float *V, const float *W, int n, int d,
                   int dv, int m, int causal, float feature_eps, float causal_eps, float *out,
                   float *scratch)
{
    Features f = {.map = MAP_FAVOR, .Q = Q, .K = K, .W = W, .d = d, .feature_eps = feature_eps,
                  .key_max = -INFINITY};
    /* the keys' shift is the max over all keys and features: one projection pass first */
    float *buf = scratch + effattn_linear_scratch(m, dv);
    for (int i0 = 0; i0 < n; i0 += EFFATTN_BLOCK) {
        int C = n - i0 < EFFATTN_BLOCK ? n - i0 : EFFATTN_BLOCK;
        favor_project(K + (size_t)i0 * d, C, d, W, m, buf);
        float mx = maxf(buf, C * m);
        f.key_max = mx > f.key_max ? mx : f.key_max;
    }
    /* performer-pytorch: no eps in the bidirectional denominator, k_cumsum + eps causally */
    linear_blocks(&f, V, n, m, dv, causal, causal ? causal_eps : 0.0f, 0.0f, out, scratch);
}

size_t effattn_elu_scratch(int n, int d, int dv)
{
    (void)n;
    return effattn_linear_scratch(d, dv) + 2 * (size_t)EFFATTN_BLOCK * d;
}

void effattn_elu(const float *Q, const float *K, const float *V, int n, int d, int dv, int causal,
                 float eps, float *out, float *scratch)
{
    Features f = {.map = MAP_ELU, .Q = Q, .K = K, .d = d};
    linear_blocks(&f, V, n, d, dv, causal, 0.0f, eps, out, scratch);
}

/* ------------------------------------------------------------------------------------ */
/* rank */

int effattn_singular_values(const float *A, int rows, int cols, double *sv)
{
    if (rows < 1 || cols < 1) return ERR(ERR_ARG, "svd: empty %dx%d matrix", rows, cols);
    /* gsl_linalg_SV_decomp wants rows >= cols: take the transpose otherwise (same values) */
    int tr = rows < cols;
    size_t M = (size_t)(tr ? cols : rows), N = (size_t)(tr ? rows : cols);
    gsl_matrix *U = gsl_matrix_alloc(M, N);
    gsl_matrix *Vm = gsl_matrix_alloc(N, N);
    gsl_vector *S = gsl_vector_alloc(N), *work = gsl_vector_alloc(N);
    for (size_t i = 0; i < (size_t)rows; i++)
        for (size_t j = 0; j < (size_t)cols; j++) {
            double x = A[i * (size_t)cols + j];
            if (tr) gsl_matrix_set(U, j, i, x);
            else gsl_matrix_set(U, i, j, x);
        }
    int rc = 0;
    if (gsl_linalg_SV_decomp(U, Vm, S, work)) rc = ERR(ERR_ARG, "svd: GSL failed on a %dx%d matrix", rows, cols);
    for (size_t i = 0; i < N && !rc; i++) sv[i] = gsl_vector_get(S, i);
    gsl_matrix_free(U);
    gsl_matrix_free(Vm);
    gsl_vector_free(S);
    gsl_vector_free(work);
    return rc;
}

int effattn_rank_for_energy(const double *sv, int count, double frac)
{
    double total = 0, acc = 0;
    for (int i = 0; i < count; i++) total += sv[i] * sv[i];
    for (int i = 0; i < count; i++) {
        acc += sv[i] * sv[i];
        if (acc >= frac * total) return i + 1;
    }
    return count;
}

/* ------------------------------------------------------------------------------------ */
/* Effattn: a kernel chosen by name */

void effattn_free(Effattn *e)
{
    if (!e) return;
    free(e->name);
    free(e->W);
    free(e->E);
    free(e->F);
    free(e->R);
    free(e->store);
    free(e);
}

static int parse_int_tok(const char *s, long lo, long hi, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float_tok(const char *s, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !isfinite(v) || v < 0) return -1;
    *out = v;
    return 0;
}

int effattn_parse(const char *text, int d, int n_max, unsigned long seed, Effattn **out)
{
    if (d < 1 || n_max < 1) return ERR(ERR_ARG, "kernel: head size %d, length %d", d, n_max);
    char *buf = xstrdup(text ? text : ""), *save = NULL;
    char **tok = NULL;
    int nt = 0, cap = 0, rc = 0;
    for (char *t = strtok_r(buf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
        if (nt == cap) tok = xrealloc(tok, (size_t)(cap = cap ? 2 * cap : 8) * sizeof *tok);
        tok[nt++] = t;
    }
    if (nt == 0) {
        free(buf);
        free(tok);
        return ERR(ERR_ARG, "kernel: no kernel given (exact, sparse, linformer K, performer M, "
                   "linear, synthesizer dense|random)");
    }
    Effattn *e = xcalloc(1, sizeof *e);
    e->d = d;
    e->n_max = n_max;
    e->scale = (float)(1.0 / sqrt((double)d));
    e->feature_eps = EFFATTN_FAVOR_FEATURE_EPS;
    e->causal_eps = EFFATTN_FAVOR_CAUSAL_EPS;
    e->linear_eps = EFFATTN_LINEAR_EPS;
    int first = 1, orthogonal = 1, scaling = 0, h = d;
    long x;
    double fx;
    if (!strcasecmp(tok[0], "exact")) e->kind = EFFATTN_EXACT;
    else if (!strcasecmp(tok[0], "sparse")) e->kind = EFFATTN_SPARSE;
    else if (!strcasecmp(tok[0], "linformer")) e->kind = EFFATTN_LINFORMER;
    else if (!strcasecmp(tok[0], "performer") || !strcasecmp(tok[0], "favor")) e->kind = EFFATTN_PERFORMER;
    else if (!strcasecmp(tok[0], "linear") || !strcasecmp(tok[0], "elu")) e->kind = EFFATTN_LINEAR;
    else if (!strcasecmp(tok[0], "synthesizer")) {
        if (nt < 2 || (strcasecmp(tok[1], "dense") && strcasecmp(tok[1], "random"))) {
            rc = ERR(ERR_ARG, "kernel: synthesizer needs dense or random");
            goto done;
        }
        e->kind = !strcasecmp(tok[1], "dense") ? EFFATTN_SYNTH_DENSE : EFFATTN_SYNTH_RANDOM;
        first = 2;
    } else {
        rc = ERR(ERR_ARG, "kernel: unknown kernel '%s' (exact, sparse, linformer K, performer M, "
                 "linear, synthesizer dense|random)", tok[0]);
        goto done;
    }
    for (int i = first; i < nt && !rc; i++) {
        char *v = strchr(tok[i], '=');
        const char *key = tok[i];
        if (v) *v++ = 0;
        if (!v && !strcasecmp(key, "iid") && e->kind == EFFATTN_PERFORMER) {
            orthogonal = 0;
        } else if (!v && i == first && (e->kind == EFFATTN_LINFORMER || e->kind == EFFATTN_PERFORMER)) {
            /* positional size: "linformer 32", "performer 64" */
            if (parse_int_tok(key, 1, 1 << 20, &x))
                rc = ERR(ERR_ARG, "kernel: '%s': expected a size >= 1", key);
            else if (e->kind == EFFATTN_LINFORMER) e->k = (int)x;
            else e->m = (int)x;
        } else if (!v) {
            rc = ERR(ERR_ARG, "kernel: '%s': expected name=value", key);
        } else if (!strcmp(key, "seed")) {
            if (parse_int_tok(v, 0, LONG_MAX, &x)) rc = ERR(ERR_ARG, "kernel: seed=%s", v);
            else seed = (unsigned long)x;
        } else if (!strcmp(key, "k") && e->kind == EFFATTN_LINFORMER) {
            if (parse_int_tok(v, 1, 1 << 20, &x)) rc = ERR(ERR_ARG, "kernel: k=%s must be >= 1", v);
            else e->k = (int)x;
        } else if (!strcmp(key, "m") && e->kind == EFFATTN_PERFORMER) {
            if (parse_int_tok(v, 1, 1 << 20, &x)) rc = ERR(ERR_ARG, "kernel: m=%s must be >= 1", v);
            else e->m = (int)x;
        } else if (!strcmp(key, "eps") && e->kind == EFFATTN_PERFORMER) {
            if (parse_float_tok(v, &fx)) rc = ERR(ERR_ARG, "kernel: eps=%s must be >= 0", v);
            else e->feature_eps = (float)fx;
        } else if (!strcmp(key, "eps") && e->kind == EFFATTN_LINEAR) {
            if (parse_float_tok(v, &fx)) rc = ERR(ERR_ARG, "kernel: eps=%s must be >= 0", v);
            else e->linear_eps = (float)fx;
        } else if (!strcmp(key, "scaling") && e->kind == EFFATTN_PERFORMER) {
            if (parse_int_tok(v, 0, 1, &x)) rc = ERR(ERR_ARG, "kernel: scaling=%s must be 0 or 1", v);
            else scaling = (int)x;
        } else if (!strcmp(key, "h") && e->kind == EFFATTN_SYNTH_DENSE) {
            if (parse_int_tok(v, 1, 1 << 20, &x)) rc = ERR(ERR_ARG, "kernel: h=%s must be >= 1", v);
            else h = (int)x;
        } else {
            rc = ERR(ERR_ARG, "kernel: %s takes no parameter '%s'", tok[0], key);
        }
    }
    if (rc) goto done;
    gsl_rng *rng;
    switch (e->kind) {
    case EFFATTN_EXACT: e->name = xstrdup("exact"); break;
    case EFFATTN_SPARSE: e->name = xstrdup("sparse"); break;
    case EFFATTN_LINEAR: e->name = xasprintf("linear elu+1 eps=%g", e->linear_eps); break;
    case EFFATTN_LINFORMER:
        if (e->k < 1) {
            rc = ERR(ERR_ARG, "kernel: linformer needs k (e.g. linformer 32)");
            break;
        }
        e->E = xmalloc((size_t)e->k * n_max * sizeof(float));
        e->F = xmalloc((size_t)e->k * n_max * sizeof(float));
        effattn_linformer_init(e->E, e->k, n_max, seed);
        effattn_linformer_init(e->F, e->k, n_max, seed + 1);
        e->name = xasprintf("linformer k=%d seed=%lu", e->k, seed);
        break;
    case EFFATTN_PERFORMER:
        if (e->m < 1) e->m = (int)(d * log((double)d)) > 0 ? (int)(d * log((double)d)) : 1;
        e->W = xmalloc((size_t)e->m * d * sizeof(float));
        rc = effattn_favor_matrix(e->W, e->m, d, orthogonal, scaling, seed);
        e->name = xasprintf("performer m=%d%s eps=%g seed=%lu", e->m, orthogonal ? "" : " iid",
                            e->feature_eps, seed);
        break;
    case EFFATTN_SYNTH_DENSE: {
        /* untrained weights, nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
        size_t n1 = (size_t)h * d, n2 = (size_t)n_max * h;
        e->store = xmalloc((n1 + h + n2 + (size_t)n_max) * sizeof(float));
        float *p = e->store;
        rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, seed);
        double b1 = 1 / sqrt((double)d), b2 = 1 / sqrt((double)h);
        for (size_t i = 0; i < n1 + h; i++) p[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * b1);
        for (size_t i = n1 + h; i < n1 + h + n2 + (size_t)n_max; i++)
            p[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * b2);
        gsl_rng_free(rng);
        e->synth = (SynthDense){.l = n_max, .dx = d, .h = h, .W1 = p, .b1 = p + n1,
                                .W2 = p + n1 + h, .b2 = p + n1 + h + n2};
        e->name = xasprintf("synthesizer dense h=%d seed=%lu", h, seed);
        break;
    }
    case EFFATTN_SYNTH_RANDOM: {
        size_t cells;
        if (size_mul((size_t)n_max, (size_t)n_max, &cells)) {
            rc = ERR(ERR_ARG, "kernel: synthesizer random for %d positions is too large", n_max);
            break;
        }
        e->R = xmalloc(cells * sizeof(float));
        rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, seed);
        for (size_t i = 0; i < cells; i++) e->R[i] = (float)gsl_ran_gaussian(rng, 1.0);
        gsl_rng_free(rng);
        e->name = xasprintf("synthesizer random seed=%lu", seed);
        break;
    }
    }
done:
    free(buf);
    free(tok);
    if (rc) {
        effattn_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

size_t effattn_scratch_floats(const Effattn *e, int n, int dv)
{
    size_t a = 0, b = 0;
    switch (e->kind) {
    case EFFATTN_EXACT: a = (size_t)n; break;
    case EFFATTN_SPARSE: a = e->pattern ? effattn_sparse_scratch(e->pattern) : (size_t)n; break;
    case EFFATTN_LINFORMER:
        a = effattn_linformer_scratch(e->k, e->d, dv);
        b = (size_t)e->k * e->d + 2 * (size_t)e->k;
        break;
    /* the forwards stream; the implied weights of a row need every token's features */
    case EFFATTN_PERFORMER:
        a = effattn_favor_scratch(n, e->m, dv);
        b = 2 * (size_t)n * e->m;
        break;
    case EFFATTN_LINEAR:
        a = effattn_elu_scratch(n, e->d, dv);
        b = 2 * (size_t)n * e->d;
        break;
    case EFFATTN_SYNTH_DENSE: a = (size_t)e->synth.h + (size_t)e->synth.l; break;
    case EFFATTN_SYNTH_RANDOM: a = (size_t)n; break;
    }
    return (a > b ? a : b) + 1;
}

static int check_len(const Effattn *e, int n)
{
    if (n < 1) return ERR(ERR_ARG, "kernel %s: %d positions", e->name, n);
    int covers = e->kind == EFFATTN_LINFORMER || e->kind == EFFATTN_SYNTH_DENSE ||
                 e->kind == EFFATTN_SYNTH_RANDOM;
    if (covers && n > e->n_max)
        return ERR(ERR_ARG, "kernel %s: %d positions, its parameters cover %d", e->name, n, e->n_max);
    if (e->kind == EFFATTN_SPARSE && !e->pattern)
        return ERR(ERR_ARG, "kernel sparse: no pattern set");
    if (e->kind == EFFATTN_SPARSE && n > e->pattern->n)
        return ERR(ERR_ARG, "kernel sparse: %d positions, the pattern covers %d", n, e->pattern->n);
    return 0;
}

int effattn_forward(const Effattn *e, const float *Q, const float *K, const float *V, int n,
                    int dv, int causal, float *out, float *scratch)
{
    int rc = check_len(e, n);
    if (rc) return rc;
    int d = e->d;
    switch (e->kind) {
    case EFFATTN_EXACT: effattn_exact(Q, K, V, n, d, dv, e->scale, causal, out, scratch); return 0;
    case EFFATTN_SPARSE:
        return effattn_sparse(e->pattern, Q, K, V, n, d, dv, e->scale, out, scratch,
                              effattn_sparse_scratch(e->pattern));
    case EFFATTN_LINFORMER:
        return effattn_linformer(Q, K, V, e->E, e->F, e->n_max, n, d, dv, e->k, e->scale, causal,
                                 out, scratch);
    case EFFATTN_PERFORMER:
        effattn_favor(Q, K, V, e->W, n, d, dv, e->m, causal, e->feature_eps, e->causal_eps, out, scratch);
        return 0;
    case EFFATTN_LINEAR: effattn_elu(Q, K, V, n, d, dv, causal, e->linear_eps, out, scratch); return 0;
    case EFFATTN_SYNTH_DENSE:
        /* each token's query vector is the input the synthesizing MLP sees */
        return effattn_synth_dense(&e->synth, Q, V, n, dv, causal, out, scratch);
    case EFFATTN_SYNTH_RANDOM: return effattn_synth_random(e->R, e->n_max, V, n, dv, causal, out, scratch);
    }
    return ERR(ERR_ARG, "kernel: unknown kind %d", e->kind);
}

int effattn_row_weights(const Effattn *e, const float *Q, const float *K, int n, int causal,
                        int q, float *w, float *scratch)
{
    int rc = check_len(e, n);
    if (rc) return rc;
    if (q < 0 || q >= n) return ERR(ERR_ARG, "kernel %s: row %d outside 0..%d", e->name, q, n - 1);
    int d = e->d;
    switch (e->kind) {
    case EFFATTN_EXACT: effattn_exact_row_weights(Q, K, n, d, e->scale, causal, q, w); return 0;
    case EFFATTN_SPARSE: {
        int cnt = sparse_scores(e->pattern, q, n, Q + (size_t)q * d, K, d, d, e->scale, scratch);
        (void)cnt;
        zero(w, (size_t)n);
        const int *r;
        int nr = pattern_row(e->pattern, q, &r), c = 0;
        for (int i = 0; i < nr && r[2 * i] < n; i++) {
            int hi = r[2 * i + 1] < n ? r[2 * i + 1] : n;
            for (int j = r[2 * i]; j < hi; j++) w[j] = scratch[c++];
        }
        return 0;
    }
    case EFFATTN_LINFORMER:
        return effattn_linformer_row_weights(Q, K, e->E, e->F, e->n_max, n, d, e->k, e->scale,
                                             causal, q, NULL, w, scratch);
    case EFFATTN_PERFORMER: {
        float *pq = scratch, *pk = scratch + (size_t)n * e->m;
        effattn_favor_features(Q, n, d, e->W, e->m, 1, e->feature_eps, pq);
        effattn_favor_features(K, n, d, e->W, e->m, 0, e->feature_eps, pk);
        effattn_linear_row_weights(pq, pk, n, e->m, causal, causal ? e->causal_eps : 0.0f, 0.0f, q, w);
        return 0;
    }
    case EFFATTN_LINEAR: {
        float *pq = scratch, *pk = scratch + (size_t)n * d;
        effattn_elu_features(Q, n, d, pq);
        effattn_elu_features(K, n, d, pk);
        effattn_linear_row_weights(pq, pk, n, d, causal, 0.0f, e->linear_eps, q, w);
        return 0;
    }
    case EFFATTN_SYNTH_DENSE: return effattn_synth_dense_row_weights(&e->synth, Q, n, causal, q, w, scratch);
    case EFFATTN_SYNTH_RANDOM: return effattn_synth_random_row_weights(e->R, e->n_max, n, causal, q, w);
    }
    return ERR(ERR_ARG, "kernel: unknown kind %d", e->kind);
}
