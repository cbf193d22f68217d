/* q8 — Q8_0 kernels: quantising activations and weights, the int8 matrix product and its
 * naive twin (see q8.h).  It owns no state and never allocates.
 *
 * One row of a product, in an order every kernel keeps, so all give the same bits:
 *   isum[g] = sum of int8 products over group g (exact in int32, any order);
 *   term[g] = ((float)isum[g] * w_scale[g]) * x_scale[g];
 *   eight float lanes: lane[g % 8] += term[g] for g = 0, 1, ... (padded with +0 terms to a
 *   multiple of 8), then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
 * The lanes are what lets a vector kernel keep eight groups in flight instead of a chain of
 * dependent additions (runq.c adds group after group; the sums differ from its by float
 * rounding only).
 * Speed: on x86-64, AVX-512 VNNI (one vpdpbusd per 64 values) or AVX2 (maddubs/madd per
 * 32) group dot products, built with __attribute__((target)) and picked at run time from
 * what the CPU has, so a binary built for any x86-64 level runs the widest one; elsewhere a
 * plain loop.  Eight groups' integer sums are reduced in one horizontal step.
 * References: llama2.c runq.c (quantize, matmul), export.py (quantize_q80).
 */
#include "engine/q8.h"
#include "engine/par.h"

#include "engine/err.h"

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
        if (!(scale > 0.0f) || isinf(scale)) {  /* zeros, or NaN/inf: no finite quotient */
            xs[g] = scale > 0.0f ? scale : 0.0f;
            memset(q, 0, (size_t)gs);
            continue;
        }
        for (int i = 0; i < gs; i++) {
            float v = roundf(x[i] / scale);  /* half away from zero, as runq.c */
            q[i] = (int8_t)(v >= -127.0f && v <= 127.0f ? v : 0.0f);  /* NaN inputs give 0 */
        }
    }
}

/* The lane order shared by every kernel (see the top of the file). */
static float lanes_finish(const float l[8])
{
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
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

static float row_dot_generic(const int8_t *q, const float *s, const int8_t *wq, const float *ws, int gs, int ng)
{
    float lane[8] = {0};
    int g = 0;
    for (; g < ng; g++)
        lane[g % 8] += (float)dot_i8(q + (size_t)g * gs, wq + (size_t)g * gs, gs) * ws[g] * s[g];
    for (; g % 8; g++) lane[g % 8] += 0.0f;  /* the padding terms of the vector kernels */
    return lanes_finish(lane);
}

typedef float (*row_dot_fn)(const int8_t *, const float *, const int8_t *, const float *, int, int);

/* Rows [row0, row1) of out for N activation rows; each weight row is read once and used
 * for every activation row while it is in cache (prefill). */
static void q8_rows(row_dot_fn dot, float *out, const int8_t *xq, const float *xs, const Linear *lin,
                    int N, int row0, int row1)
{
    const int in = lin->in, gs = lin->q8_group, ng = in / gs;
    for (int i = row0; i < row1; i++) {
        const int8_t *wq = lin->wq8 + (size_t)i * (size_t)in;
        const float *ws = lin->wq8_scale + (size_t)i * (size_t)ng;
        for (int n = 0; n < N; n++) {
            float val = dot(xq + (size_t)n * (size_t)in, xs + (size_t)n * (size_t)ng, wq, ws, gs, ng);
            if (lin->b) val += lin->b[i];
            out[(size_t)n * (size_t)lin->out + (size_t)i] = val;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define Q8_HAVE_X86 1
#include <immintrin.h>

/* int8 x int8 dot product of n values, 32 at a time: maddubs multiplies unsigned by signed
 * bytes, so a's sign moves onto b (|a| * sign(a)b == a*b); pairs of int16 products then sum
 * into int32 lanes.  Exact for values in [-127, 127], all a Q8_0 quantiser writes. */
__attribute__((target("avx2")))
static inline __m256i dot32_avx2(const int8_t *a, const int8_t *b, int n, __m256i acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int k = 0; k < n; k += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(a + k));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(b + k));
        __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
    }
    return acc;
}

/* The int32 sum of each of 8 vectors, as one vector (lane k = sum of a[k]). */
__attribute__((target("avx2")))
static inline __m256i hsum8_avx2(const __m256i a[8])
{
    __m256i t0 = _mm256_hadd_epi32(a[0], a[1]), t1 = _mm256_hadd_epi32(a[2], a[3]);
    __m256i t2 = _mm256_hadd_epi32(a[4], a[5]), t3 = _mm256_hadd_epi32(a[6], a[7]);
    __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* lane += ((float)isum * ws) * xs for 8 groups at g; past ng the terms are +0. */
__attribute__((target("avx2")))
static inline __m256 lanes_add_avx2(__m256 lane, __m256i isum, const float *ws, const float *xs, int rem)
{
    __m256 w, x;
    if (rem == 8) {
        w = _mm256_loadu_ps(ws);
        x = _mm256_loadu_ps(xs);
    } else {
        float wb[8] = {0}, xb[8] = {0};
        memcpy(wb, ws, sizeof(float) * (size_t)rem);
        memcpy(xb, xs, sizeof(float) * (size_t)rem);
        w = _mm256_loadu_ps(wb);
        x = _mm256_loadu_ps(xb);
    }
    return _mm256_add_ps(lane, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum), w), x));
}

__attribute__((target("avx2")))
static inline float lanes_finish_avx2(__m256 lane)
{
    float l[8];
    _mm256_storeu_ps(l, lane);
    return lanes_finish(l);
}

__attribute__((target("avx2")))
static float row_dot_avx2(const int8_t *q, const float *s, const int8_t *wq, const float *ws, int gs, int ng)
{
    __m256 lane = _mm256_setzero_ps();
    for (int g = 0; g < ng; g += 8) {
        const int rem = ng - g < 8 ? ng - g : 8;
        __m256i isum;
        if (gs % 32 == 0) {
            __m256i acc[8];
            for (int k = 0; k < 8; k++)
                acc[k] = k < rem ? dot32_avx2(q + (size_t)(g + k) * gs, wq + (size_t)(g + k) * gs, gs,
                                              _mm256_setzero_si256())
                                 : _mm256_setzero_si256();
            isum = hsum8_avx2(acc);
        } else {
            int32_t is[8] = {0};
            for (int k = 0; k < rem; k++) is[k] = dot_i8(q + (size_t)(g + k) * gs, wq + (size_t)(g + k) * gs, gs);
            isum = _mm256_loadu_si256((const __m256i *)(const void *)is);
        }
        lane = lanes_add_avx2(lane, isum, ws + g, s + g, rem);
    }
    return lanes_finish_avx2(lane);
}

/* AVX-512 VNNI: a whole group of 64 in one multiply-add (vpdpbusd: unsigned |a| times b
 * with a's sign, four products summed into each int32 lane, exact). */
#define Q8_AVX512 "avx512f,avx512bw,avx512vl,avx512vnni,avx2"

__attribute__((target(Q8_AVX512)))
static inline __m256i dot64_vnni(const int8_t *a, const int8_t *b, int n)
{
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < n; k += 64) {
        __m512i va = _mm512_loadu_si512((const void *)(a + k)), vb = _mm512_loadu_si512((const void *)(b + k));
        __mmask64 neg = _mm512_movepi8_mask(va);
        __m512i sb = _mm512_mask_sub_epi8(vb, neg, _mm512_setzero_si512(), vb);
        acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(va), sb);
    }
    return _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
}

/* Eight whole groups of 64 (export.py's default group size): straight-line code, the
 * eight accumulators stay in registers. */
__attribute__((target(Q8_AVX512)))
static inline __m256i isum8x64_vnni(const int8_t *a, const int8_t *b, int rem)
{
    __m256i acc[8];
#define Q8_G(k) acc[k] = (k) < rem ? dot64_vnni(a + 64 * (k), b + 64 * (k), 64) : _mm256_setzero_si256()
    Q8_G(0); Q8_G(1); Q8_G(2); Q8_G(3); Q8_G(4); Q8_G(5); Q8_G(6); Q8_G(7);
#undef Q8_G
    return hsum8_avx2(acc);
}

__attribute__((target(Q8_AVX512)))
static float row_dot_vnni(const int8_t *q, const float *s, const int8_t *wq, const float *ws, int gs, int ng)
{
    if (gs % 64 != 0) return row_dot_avx2(q, s, wq, ws, gs, ng);
    __m256 lane = _mm256_setzero_ps();
    if (gs == 64) {
        for (int g = 0; g < ng; g += 8) {
            const int rem = ng - g < 8 ? ng - g : 8;
            lane = lanes_add_avx2(lane, isum8x64_vnni(q + (size_t)g * 64, wq + (size_t)g * 64, rem), ws + g,
                                  s + g, rem);
        }
        return lanes_finish_avx2(lane);
    }
    for (int g = 0; g < ng; g += 8) {
        const int rem = ng - g < 8 ? ng - g : 8;
        __m256i acc[8];
        for (int k = 0; k < 8; k++)
            acc[k] = k < rem ? dot64_vnni(q + (size_t)(g + k) * gs, wq + (size_t)(g + k) * gs, gs)
                             : _mm256_setzero_si256();
        lane = lanes_add_avx2(lane, hsum8_avx2(acc), ws + g, s + g, rem);
    }
    return lanes_finish_avx2(lane);
}
#endif

static const struct {
    const char *name;
    row_dot_fn fn;
} q8_kernels[] = {
    [Q8_KERNEL_GENERIC] = {"generic", row_dot_generic},
#ifdef Q8_HAVE_X86
    [Q8_KERNEL_AVX2] = {"avx2", row_dot_avx2},
    [Q8_KERNEL_AVX512VNNI] = {"avx512vnni", row_dot_vnni},
#endif
};

static int q8_supported(int k)
{
    switch (k) {
    case Q8_KERNEL_GENERIC: return 1;
#ifdef Q8_HAVE_X86
    case Q8_KERNEL_AVX2: return __builtin_cpu_supports("avx2");
    case Q8_KERNEL_AVX512VNNI:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    default: return 0;
    }
}

/* 0: the best the CPU has.  Set by tests and benchmarks (q8_kernel_select). */
static _Atomic int q8_forced;

static int q8_best(void)
{
    int f = q8_forced;
    if (f) return f;
    for (int k = Q8_KERNEL_AVX512VNNI; k > Q8_KERNEL_GENERIC; k--)
        if (q8_supported(k)) return k;
    return Q8_KERNEL_GENERIC;
}

int q8_kernel_select(int kernel)
{
    if (kernel != Q8_KERNEL_AUTO && !q8_supported(kernel))
        return ERR(ERR_UNSUPPORTED, "Q8_0 kernel %d is not available on this CPU", kernel);
    q8_forced = kernel;
    return 0;
}

const char *q8_kernel_name(void)
{
    return q8_kernels[q8_best()].name;
}

void matmul_q8_forward(float *out, const int8_t *xq, const float *xs, const Linear *lin, int N)
{
    const row_dot_fn dot = q8_kernels[q8_best()].fn;  /* reads the CPU model libgcc filled at start */
    const int rows = lin->out;
    /* Blocks of rows per thread; small products stay on one thread (fork/join costs more). */
    const int block = 16;
    const int nblocks = (rows + block - 1) / block;
    if (!par_worth((double)rows * lin->in * N, 65536.0)) {
        q8_rows(dot, out, xq, xs, lin, N, 0, rows);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblocks; b++) {
        int r0 = b * block, r1 = r0 + block < rows ? r0 + block : rows;
        q8_rows(dot, out, xq, xs, lin, N, r0, r1);
    }
}

void matmul_q8_forward_naive(float *out, const int8_t *xq, const float *xs, const Linear *lin,
                             int N)
{
    const int in = lin->in, gs = lin->q8_group, ng = in / gs;
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < lin->out; i++) {
            float lane[8] = {0};
            int g = 0;
            for (; g < ng; g++) {
                int32_t isum = 0;
                for (int k = 0; k < gs; k++) {
                    size_t j = (size_t)g * gs + (size_t)k;
                    isum += (int32_t)xq[(size_t)n * in + j] * (int32_t)lin->wq8[(size_t)i * in + j];
                }
                lane[g % 8] += (float)isum * lin->wq8_scale[(size_t)i * ng + g] * xs[(size_t)n * ng + g];
            }
            for (; g % 8; g++) lane[g % 8] += 0.0f;
            float val = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
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
