/* vmath — a vectorised exp for the training kernels (internal to engine/).
 *
 * glibc's expf is accurate but one call per value; the softmaxes and GELU of a training
 * step take tens of millions of them.  This exp is the textbook construction: e^x =
 * 2^n e^r with n = round(x / ln 2) and |r| <= ln2 / 2 (ln 2 split in two parts, so r is
 * exact), e^r by its Taylor series to r^7 (truncation below 5e-9 relative), 2^n put into the
 * exponent bits.  Relative error about 2e-7 (a couple of float ulps); inputs are clamped to
 * [-87, 88], so the result is never 0, inf or denormal.  The SSE (4 at a time) and scalar
 * versions do the same float operations in the same order and agree bit for bit.
 * Not -ffast-math: everything here is plain IEEE arithmetic.
 * Inference uses vexp.h instead (exact 0 and inf at the ends, eight lanes with FMA); this one
 * stays unchanged so a training run reproduces the committed default model byte for byte.
 */
#ifndef LECTERN_VMATH_H
#define LECTERN_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE4_1__
#include <smmintrin.h>
#endif

#define VMATH_LOG2E 1.44269504088896341f
#define VMATH_LN2_HI 0.693359375f           /* ln 2 in 10 bits: n * LN2_HI is exact */
#define VMATH_LN2_LO (-2.12194440e-4f)      /* ln 2 - LN2_HI */

static inline float vmath_poly(float r)
{
    /* 1 + r + r^2/2! + ... + r^7/7!, Horner */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    return p * r + 1.0f;
}

static inline float vmath_exp(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float n = nearbyintf(x * VMATH_LOG2E);
    float r = x - n * VMATH_LN2_HI;
    r = r - n * VMATH_LN2_LO;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return vmath_poly(r) * scale;
}

#ifdef __SSE4_1__
static inline __m128 vmath_exp4(__m128 x)
{
    x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.0f)), _mm_set1_ps(88.0f));
    const __m128 n = _mm_round_ps(_mm_mul_ps(x, _mm_set1_ps(VMATH_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m128 r = _mm_sub_ps(x, _mm_mul_ps(n, _mm_set1_ps(VMATH_LN2_HI)));
    r = _mm_sub_ps(r, _mm_mul_ps(n, _mm_set1_ps(VMATH_LN2_LO)));
    __m128 p = _mm_set1_ps(1.0f / 5040.0f);
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f / 720.0f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f / 120.0f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f / 24.0f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f / 6.0f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(0.5f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f));
    const __m128i e = _mm_slli_epi32(_mm_add_epi32(_mm_cvtps_epi32(n), _mm_set1_epi32(127)), 23);
    return _mm_mul_ps(p, _mm_castsi128_ps(e));
}
#endif

/* max of x[0..n), n >= 1 */
static inline float vmath_max(const float *x, int n)
{
    int i = 0;
    float m = x[0];
#ifdef __SSE4_1__
    if (n >= 4) {
        __m128 vm = _mm_loadu_ps(x);
        for (i = 4; i + 4 <= n; i += 4) vm = _mm_max_ps(vm, _mm_loadu_ps(x + i));
        float t[4];
        _mm_storeu_ps(t, vm);
        m = t[0];
        for (int k = 1; k < 4; k++) if (t[k] > m) m = t[k];
    }
#endif
    for (; i < n; i++) if (x[i] > m) m = x[i];
    return m;
}

/* x[i] = e^(x[i] - shift) for i < n; returns their sum (four partial sums, then in order). */
static inline float vmath_exp_shift_sum(float *x, int n, float shift)
{
    int i = 0;
    float s = 0.0f;
#ifdef __SSE4_1__
    __m128 vs = _mm_setzero_ps();
    const __m128 sh = _mm_set1_ps(shift);
    for (; i + 4 <= n; i += 4) {
        const __m128 e = vmath_exp4(_mm_sub_ps(_mm_loadu_ps(x + i), sh));
        _mm_storeu_ps(x + i, e);
        vs = _mm_add_ps(vs, e);
    }
    float t[4];
    _mm_storeu_ps(t, vs);
    s = (t[0] + t[1]) + (t[2] + t[3]);
#endif
    for (; i < n; i++) {
        x[i] = vmath_exp(x[i] - shift);
        s += x[i];
    }
    return s;
}

#endif
