/* gemm — the many-row matrix product of a prefill, on AVX-512 where the CPU has it.
 *
 * Why not always OpenBLAS: a prefill is almost all matrix products, and which sgemm kernels
 * OpenBLAS runs is decided by its CPU detection and the OPENBLAS_CORETYPE variable, which
 * some machines set (ours forces "Haswell", the AVX2 kernels, because older OpenBLAS builds
 * miscompute on newer CPUs).  On a CPU with AVX-512 that halves the floating-point work per
 * instruction, and a 512-token GPT-2 prefill cannot then reach ten times the decode rate.
 * So, as llamafile's tinyBLAS does for llama.cpp, the prefill's products have a kernel of
 * their own, tested against the naive twin below and against OpenBLAS (check_gemm), with
 * OpenBLAS kept for every CPU without AVX-512 and for everything else in the engine.
 *
 * The method is the usual one (Goto and van de Geijn, "Anatomy of high-performance matrix
 * multiplication", 2008; BLIS's loops): B is copied, KC rows of k at a time and NC columns at
 * a time, into panels of NR = 48 columns laid out k-major, so the kernel's three 16-float
 * loads per k are contiguous; the panels (480 KB) stay in L2 while every block of MR = 8
 * rows of A streams past them.  The kernel keeps an 8 x 48 block of C in 24 of the 32 zmm
 * registers and, per k, broadcasts one element of each of A's 8 rows (read in place: A's rows
 * are already k-contiguous) against the three loads.  C is written once per KC block of k,
 * the bias and alpha applied at the store.  Threads split the columns of C (each packs only
 * its own panels) or, when there are too few columns, the rows.
 */
#include "engine/gemm.h"

#include <gsl/gsl_blas.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/par.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define GEMM_X86 1
#include <immintrin.h>
#endif

enum { GEMM_MR = 8, GEMM_NR = 48, GEMM_KC = 256, GEMM_NCP = 10 /* panels per block */ };
#define PANEL_FLOATS ((size_t)GEMM_KC * GEMM_NR)
#define PACK_FLOATS (PANEL_FLOATS * GEMM_NCP)

void gemm_forward_naive(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                        size_t ldb, int b_trans, const float *bias, float alpha, int M, int N, int K)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                const float b = b_trans ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
                acc += (double)A[(size_t)m * lda + k] * b;
            }
            C[(size_t)m * ldc + n] = (float)(alpha * acc + (bias ? bias[n] : 0.0));
        }
}

static void blas_product(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                         int b_trans, const float *bias, float alpha, int M, int N, int K, int acc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!acc)
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) C[(size_t)m * ldc + n] = bias ? bias[n] : 0.0f;
        return;
    }
    float beta = acc ? 1.0f : 0.0f;
    if (bias && !acc) {
        for (int m = 0; m < M; m++) memcpy(C + (size_t)m * ldc, bias, sizeof(float) * (size_t)N);
        beta = 1.0f;
    }
    gsl_matrix_float_const_view a = gsl_matrix_float_const_view_array_with_tda(A, (size_t)M, (size_t)K, lda);
    gsl_matrix_float_const_view b = b_trans
        ? gsl_matrix_float_const_view_array_with_tda(B, (size_t)N, (size_t)K, ldb)
        : gsl_matrix_float_const_view_array_with_tda(B, (size_t)K, (size_t)N, ldb);
    gsl_matrix_float_view c = gsl_matrix_float_view_array_with_tda(C, (size_t)M, (size_t)N, ldc);
    gsl_blas_sgemm(CblasNoTrans, b_trans ? CblasTrans : CblasNoTrans, alpha, &a.matrix,
                   &b.matrix, beta, &c.matrix);
}

void gemm_forward_blas(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                       int b_trans, const float *bias, float alpha, int M, int N, int K)
{
    blas_product(C, ldc, A, lda, B, ldb, b_trans, bias, alpha, M, N, K, 0);
}

/* ---- which implementation ---- */

static GemmImpl gemm_choice = GEMM_AUTO;
static pthread_once_t gemm_env_once = PTHREAD_ONCE_INIT;

/* LECTERN_GEMM, read once: attention calls gemm_forward from several threads at a time */
static void gemm_env_read(void)
{
    const char *e = getenv("LECTERN_GEMM");
    if (e && !strcmp(e, "blas")) gemm_choice = GEMM_BLAS;
    else if (e && !strcmp(e, "avx512")) gemm_choice = GEMM_AVX512;
}

int gemm_have_avx512(void)
{
#ifdef GEMM_X86
    /* libgcc's check includes the OS's XSAVE support for the zmm state */
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

void gemm_select(GemmImpl impl)
{
    pthread_once(&gemm_env_once, gemm_env_read);  /* so a later first read cannot undo this */
    gemm_choice = impl;
}

static int gemm_use_avx512(void)
{
    pthread_once(&gemm_env_once, gemm_env_read);
    return gemm_choice != GEMM_BLAS && gemm_have_avx512();
}

const char *gemm_impl_name(void) { return gemm_use_avx512() ? "avx512" : "openblas"; }

#ifdef GEMM_X86

/* ---- one packing buffer per thread, kept for the thread's life ---- */

static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;

static void pack_free(void *p) { free(p); }
static void pack_key_make(void)
{
    if (pthread_key_create(&pack_key, pack_free)) abort();
}

/* the buffer is held as the raw allocation; the panels start at the next 64-byte boundary */
static float *pack_buffer(void)
{
    pthread_once(&pack_once, pack_key_make);
    void *raw = pthread_getspecific(pack_key);
    if (!raw) {
        raw = xmalloc(sizeof(float) * PACK_FLOATS + 64);
        if (pthread_setspecific(pack_key, raw)) abort();
    }
    return (float *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
}

#define AVX512 __attribute__((target("avx512f")))

static inline AVX512 __mmask16 cols_mask(int cols)
{
    return cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1u);
}

/* Panel of columns n0..n0+nr (nr <= 48) and k0..k0+kc of B stored (N, K): bp[k][j] =
 * B[(n0+j) ldb + k0+k], columns past nr zero.  A gather reads one k of 16 rows. */
static AVX512 void pack_bt(float *bp, const float *B, size_t ldb, int n0, int nr, int k0, int kc)
{
    int offs[16];
    const int gather = ldb <= (size_t)INT_MAX / 16;
    for (int j = 0; j < 16; j++) offs[j] = gather ? j * (int)ldb : 0;
    const __m512i idx = _mm512_loadu_si512(offs);
    for (int g = 0; g < 3; g++) {
        const int cols = nr - 16 * g;
        float *dst = bp + 16 * g;
        if (cols <= 0) {
            for (int k = 0; k < kc; k++) _mm512_storeu_ps(dst + (size_t)k * GEMM_NR, _mm512_setzero_ps());
            continue;
        }
        const __mmask16 m = cols_mask(cols);
        const float *base = B + (size_t)(n0 + 16 * g) * ldb + k0;
        if (gather) {
            for (int k = 0; k < kc; k++)
                _mm512_storeu_ps(dst + (size_t)k * GEMM_NR,
                                 _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, base + k, 4));
        } else {
            for (int k = 0; k < kc; k++)
                for (int j = 0; j < 16; j++)
                    dst[(size_t)k * GEMM_NR + j] = j < cols ? base[(size_t)j * ldb + k] : 0.0f;
        }
    }
}

/* The same panel of B stored (K, N): each k is a contiguous run of the row. */
static AVX512 void pack_bn(float *bp, const float *B, size_t ldb, int n0, int nr, int k0, int kc)
{
    for (int k = 0; k < kc; k++) {
        const float *row = B + (size_t)(k0 + k) * ldb + n0;
        for (int g = 0; g < 3; g++) {
            const int cols = nr - 16 * g;
            const __m512 v = cols > 0 ? _mm512_maskz_loadu_ps(cols_mask(cols), row + 16 * g)
                                      : _mm512_setzero_ps();
            _mm512_storeu_ps(bp + (size_t)k * GEMM_NR + 16 * g, v);
        }
    }
}

/* C[0..mr)[0..nr) (=|+=) alpha * A[0..mr)[0..kc) . panel (+ bias on the first block of k).
 * Inlined with mr a constant, so the 24 accumulators live in registers. */
static inline __attribute__((always_inline)) AVX512 void
kernel(const int mr, int kc, const float *a, size_t lda, const float *bp, float *c, size_t ldc,
       int nr, int first, const float *bias, float alpha)
{
    __m512 acc[GEMM_MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++)
        acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(bp + (size_t)k * GEMM_NR);
        const __m512 b1 = _mm512_load_ps(bp + (size_t)k * GEMM_NR + 16);
        const __m512 b2 = _mm512_load_ps(bp + (size_t)k * GEMM_NR + 32);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            const __m512 av = _mm512_set1_ps(a[(size_t)i * lda + k]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(av, b2, acc[i][2]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
#pragma GCC unroll 3
        for (int g = 0; g < 3; g++) {
            const int cols = nr - 16 * g;
            if (cols <= 0) break;
            const __mmask16 m = cols_mask(cols);
            __m512 v = _mm512_mul_ps(acc[i][g], va);
            if (!first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, ci + 16 * g));
            else if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + 16 * g));
            _mm512_mask_storeu_ps(ci + 16 * g, m, v);
        }
    }
}

static AVX512 void kernel_mr(int mr, int kc, const float *a, size_t lda, const float *bp, float *c,
                             size_t ldc, int nr, int first, const float *bias, float alpha)
{
    switch (mr) {
    case 8: kernel(8, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    case 7: kernel(7, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    case 6: kernel(6, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    case 5: kernel(5, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    case 4: kernel(4, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    case 3: kernel(3, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    case 2: kernel(2, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    default: kernel(1, kc, a, lda, bp, c, ldc, nr, first, bias, alpha); break;
    }
}

/* Rows m0..m1 of C, column panels p0..p1 (of NR columns), on the calling thread. */
static AVX512 void gemm_block(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                              size_t ldb, int b_trans, const float *bias, float alpha, int N, int K,
                              int m0, int m1, int p0, int p1, float *bp, int acc)
{
    for (int jp = p0; jp < p1; jp += GEMM_NCP) {
        const int jp1 = jp + GEMM_NCP < p1 ? jp + GEMM_NCP : p1;
        for (int pc = 0; pc < K; pc += GEMM_KC) {
            const int kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            for (int p = jp; p < jp1; p++) {
                const int n0 = p * GEMM_NR, nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
                float *panel = bp + (size_t)(p - jp) * kc * GEMM_NR;
                if (b_trans) pack_bt(panel, B, ldb, n0, nr, pc, kc);
                else pack_bn(panel, B, ldb, n0, nr, pc, kc);
            }
            for (int ic = m0; ic < m1; ic += GEMM_MR) {
                const int mr = m1 - ic < GEMM_MR ? m1 - ic : GEMM_MR;
                for (int p = jp; p < jp1; p++) {
                    const int n0 = p * GEMM_NR, nr = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
                    kernel_mr(mr, kc, A + (size_t)ic * lda + pc, lda,
                              bp + (size_t)(p - jp) * kc * GEMM_NR, C + (size_t)ic * ldc + n0, ldc,
                              nr, pc == 0 && !acc, bias ? bias + n0 : NULL, alpha);
                }
            }
        }
    }
}

static void gemm_avx512(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                        int b_trans, const float *bias, float alpha, int M, int N, int K, int acc)
{
    const int P = (N + GEMM_NR - 1) / GEMM_NR;
    if (!par_worth((double)M * N * K, 1 << 20)) {
        gemm_block(C, ldc, A, lda, B, ldb, b_trans, bias, alpha, N, K, 0, M, 0, P, pack_buffer(), acc);
        return;
    }
    #pragma omp parallel
    {
        float *bp = pack_buffer();
        const int nt = omp_get_num_threads();
        long lo, hi;
        if (P >= 4 * nt) {
            /* columns: each thread packs and computes its own panels, all rows */
            par_share(P, &lo, &hi);
            gemm_block(C, ldc, A, lda, B, ldb, b_trans, bias, alpha, N, K, 0, M, (int)lo, (int)hi, bp, acc);
        } else {
            /* few columns (P V of one head): rows, in whole kernel blocks; B is small */
            const long blocks = (M + GEMM_MR - 1) / GEMM_MR;
            par_share(blocks, &lo, &hi);
            const int m0 = (int)(lo * GEMM_MR), m1 = hi * GEMM_MR < M ? (int)(hi * GEMM_MR) : M;
            if (m0 < m1)
                gemm_block(C, ldc, A, lda, B, ldb, b_trans, bias, alpha, N, K, m0, m1, 0, P, bp, acc);
        }
    }
}
#endif /* GEMM_X86 */

static void product(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                    int b_trans, const float *bias, float alpha, int M, int N, int K, int acc)
{
#ifdef GEMM_X86
    if (M > 0 && N > 0 && K > 0 && gemm_use_avx512()) {
        gemm_avx512(C, ldc, A, lda, B, ldb, b_trans, bias, alpha, M, N, K, acc);
        return;
    }
#endif
    blas_product(C, ldc, A, lda, B, ldb, b_trans, bias, alpha, M, N, K, acc);
}

void gemm_forward(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                  int b_trans, const float *bias, float alpha, int M, int N, int K)
{
    product(C, ldc, A, lda, B, ldb, b_trans, bias, alpha, M, N, K, 0);
}

void gemm_forward_acc(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                      int b_trans, float alpha, int M, int N, int K)
{
    product(C, ldc, A, lda, B, ldb, b_trans, NULL, alpha, M, N, K, 1);
}
