/* q8 — Q8_0 kernels: quantising activations and weights, the int8 matrix product and its
 * naive twin (see q8.h).  It owns no state and never allocates.
 *
 * Integer sums are exact, so the vectorised group dot product gives bit for bit what the
 * naive loop gives; the float accumulation over groups runs in the same order in both
 * (and as llama2.c's runq.c matmul: val += (float)isum * w_scale * x_scale).
 * Speed: on x86-64 an AVX2 group dot product (maddubs/madd, built with
 * __attribute__((target)) and picked at run time, so the default -march=x86-64-v2 build
 * runs it where the CPU has it); elsewhere a plain loop the compiler vectorises.
 * References: llama2.c runq.c (quantize, matmul), export.py (quantize_q80).
 */
#include "engine/q8.h"

#include <math.h>
#include <string.h>

void quantize_q8_forward(int8_t *xq, float *xs, const float *inp, int N, int in, int gs)
{
    size_t groups = (size_t)N * (size_t)(in / gs);
    for (size_t g = 0; g < groups; g++) {
        const float *x = inp + g * (size_t)gs;
        int8_t *q = xq + g * (size_t)gs;
        float wmax = 0.0f;
        for (int i = 0; i < gs; i++) {
            float a = fabsf(x[i]);
            if (a > wmax) wmax = a;
        }
        float scale = wmax / 127.0f;
        xs[g] = scale;
        if (!(scale > 0.0f)) {  /* all zero (or NaN): 0/0 would be NaN, cast UB */
            memset(q, 0, (size_t)gs);
            continue;
        }
        for (int i = 0; i < gs; i++) q[i] = (int8_t)roundf(x[i] / scale);
    }
}

/* Blocks of a fixed 32 values give the vectoriser a known trip count (GCC's -O2 cost model
 * leaves loops of unknown length scalar); the tail covers any group size. */
static inline int32_t dot_i8(const int8_t *restrict a, const int8_t *restrict b, int n)
{
    int32_t s = 0;
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        int32_t t = 0;
        for (int j = 0; j < 32; j++) t += (int32_t)a[k + j] * (int32_t)b[k + j];
        s += t;
    }
    for (; k < n; k++) s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}

/* Rows [row0, row1) of out for N activation rows; each weight row is read once and used
 * for every activation row while it is in cache (prefill). */
static void q8_rows_generic(float *out, const int8_t *xq, const float *xs, const Linear *lin,
                            int N, int row0, int row1)
{
    const int in = lin->in, gs = lin->q8_group, ng = in / gs;
    for (int i = row0; i < row1; i++) {
        const int8_t *wq = lin->wq8 + (size_t)i * (size_t)in;
        const float *ws = lin->wq8_scale + (size_t)i * (size_t)ng;
        for (int n = 0; n < N; n++) {
            const int8_t *q = xq + (size_t)n * (size_t)in;
            const float *s = xs + (size_t)n * (size_t)ng;
            float val = 0.0f;
            for (int g = 0; g < ng; g++)
                val += (float)dot_i8(q + (size_t)g * gs, wq + (size_t)g * gs, gs) * ws[g] * s[g];
            if (lin->b) val += lin->b[i];
            out[(size_t)n * (size_t)lin->out + (size_t)i] = val;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define Q8_HAVE_AVX2 1
#include <immintrin.h>

/* int8 x int8 dot products 32 at a time: maddubs multiplies unsigned by signed bytes, so
 * move a's sign onto b (|a| * sign(a)b == a*b); pairs of int16 products then sum into
 * int32 lanes.  Exact for values in [-127, 127], which is all a Q8_0 quantiser writes. */
__attribute__((target("avx2")))
static inline int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, int n)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(a + k));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(b + k));
        __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    int32_t t = _mm_cvtsi128_si32(s);
    for (; k < n; k++) t += (int32_t)a[k] * (int32_t)b[k];
    return t;
}

/* The int32 sum of each of 8 vectors, as one vector (lane g = sum of a[g]). */
__attribute__((target("avx2")))
static inline __m256i hsum8_avx2(const __m256i a[8])
{
    __m256i t0 = _mm256_hadd_epi32(a[0], a[1]), t1 = _mm256_hadd_epi32(a[2], a[3]);
    __m256i t2 = _mm256_hadd_epi32(a[4], a[5]), t3 = _mm256_hadd_epi32(a[6], a[7]);
    __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* One row's value: eight groups' integer sums at a time, reduced together (one horizontal
 * step per eight groups instead of one per group), then the float terms
 * (float)isum * w_scale * x_scale added one group after another as the naive loop does. */
__attribute__((target("avx2")))
static float row_dot_avx2(const int8_t *q, const float *s, const int8_t *wq, const float *ws, int gs, int ng)
{
    const __m256i ones = _mm256_set1_epi16(1);
    float val = 0.0f;
    int g = 0;
    if (gs % 32 == 0) {
        for (; g + 8 <= ng; g += 8) {
            __m256i acc[8];
            for (int k = 0; k < 8; k++) {
                const int8_t *a = q + (size_t)(g + k) * gs, *b = wq + (size_t)(g + k) * gs;
                __m256i sum = _mm256_setzero_si256();
                for (int j = 0; j < gs; j += 32) {
                    __m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(a + j));
                    __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(b + j));
                    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p16, ones));
                }
                acc[k] = sum;
            }
            __m256 terms = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(hsum8_avx2(acc)),
                                                       _mm256_loadu_ps(ws + g)), _mm256_loadu_ps(s + g));
            float t[8];
            _mm256_storeu_ps(t, terms);
            for (int k = 0; k < 8; k++) val += t[k];
        }
    }
    for (; g < ng; g++)
        val += (float)dot_i8_avx2(q + (size_t)g * gs, wq + (size_t)g * gs, gs) * ws[g] * s[g];
    return val;
}

__attribute__((target("avx2")))
static void q8_rows_avx2(float *out, const int8_t *xq, const float *xs, const Linear *lin,
                         int N, int row0, int row1)
{
    const int in = lin->in, gs = lin->q8_group, ng = in / gs;
    for (int i = row0; i < row1; i++) {
        const int8_t *wq = lin->wq8 + (size_t)i * (size_t)in;
        const float *ws = lin->wq8_scale + (size_t)i * (size_t)ng;
        for (int n = 0; n < N; n++) {
            float val = row_dot_avx2(xq + (size_t)n * (size_t)in, xs + (size_t)n * (size_t)ng, wq, ws, gs, ng);
            if (lin->b) val += lin->b[i];
            out[(size_t)n * (size_t)lin->out + (size_t)i] = val;
        }
    }
}
#endif

typedef void (*q8_rows_fn)(float *, const int8_t *, const float *, const Linear *, int, int, int);

static q8_rows_fn q8_pick(void)
{
#ifdef Q8_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) return q8_rows_avx2;
#endif
    return q8_rows_generic;
}

void matmul_q8_forward(float *out, const int8_t *xq, const float *xs, const Linear *lin, int N)
{
    const q8_rows_fn rows_fn = q8_pick();  /* reads the CPU model libgcc filled at start-up */
    const int rows = lin->out;
    /* Blocks of rows per thread; small products stay on one thread (fork/join costs more). */
    const int block = 16;
    const int nblocks = (rows + block - 1) / block;
    const double work = (double)rows * lin->in * N;
#pragma omp parallel for schedule(static) if (work >= 65536.0)
    for (int b = 0; b < nblocks; b++) {
        int r0 = b * block, r1 = r0 + block < rows ? r0 + block : rows;
        rows_fn(out, xq, xs, lin, N, r0, r1);
    }
}

void matmul_q8_forward_naive(float *out, const int8_t *xq, const float *xs, const Linear *lin,
                             int N)
{
    const int in = lin->in, gs = lin->q8_group, ng = in / gs;
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < lin->out; i++) {
            float val = 0.0f;
            for (int g = 0; g < ng; g++) {
                int32_t isum = 0;
                for (int k = 0; k < gs; k++) {
                    size_t j = (size_t)g * gs + (size_t)k;
                    isum += (int32_t)xq[(size_t)n * in + j] * (int32_t)lin->wq8[(size_t)i * in + j];
                }
                val += (float)isum * lin->wq8_scale[(size_t)i * ng + g] * xs[(size_t)n * ng + g];
            }
            if (lin->b) val += lin->b[i];
            out[(size_t)n * lin->out + i] = val;
        }
    }
}

void q8_dequantize(float *w, const int8_t *q, const float *s, size_t n, int gs)
{
    for (size_t i = 0; i < n; i++) w[i] = (float)q[i] * s[i / (size_t)gs];
}

float q8_quantize_weights(int8_t *q, float *s, const float *w, size_t n, int gs)
{
    float maxerr = 0.0f;
    for (size_t g = 0; g < n / (size_t)gs; g++) {
        const float *x = w + g * (size_t)gs;
        float wmax = 0.0f;
        for (int i = 0; i < gs; i++) {
            float a = fabsf(x[i]);
            if (a > wmax) wmax = a;
        }
        float scale = wmax / 127.0f;
        s[g] = scale;
        for (int i = 0; i < gs; i++) {
            /* nearbyintf rounds half to even in the default mode, as torch.round */
            float v = scale > 0.0f ? nearbyintf(x[i] / scale) : 0.0f;
            if (v > 127.0f) v = 127.0f;
            if (v < -127.0f) v = -127.0f;
            q[g * (size_t)gs + (size_t)i] = (int8_t)v;
            float err = fabsf(v * scale - x[i]);
            if (err > maxerr) maxerr = err;
        }
    }
    return maxerr;
}
