/* vexp — e^x for float arrays, eight lanes at a time where the CPU has AVX2.
 *
 * Why: glibc's expf is one call per element, and the exponentials of a decode step (GELU's
 * 3072 per layer, the sampler's 50257) run on one thread while the other waits; at GPT-2's
 * ~12 ms per token they were ~3% of it.  The method is Cephes's expf (also the one in most
 * SIMD math libraries): n = round(x log2 e), r = x - n ln 2 in two parts (Cody and Waite), a
 * degree-7 polynomial for e^r on |r| <= ln2/2, and 2^n put into the exponent bits.
 * Accuracy: within 1.5 ulp of e^x (check_vexp tests it against double exp), for x in
 * [VEXP_MIN, VEXP_MAX]; below VEXP_MIN the result is 0 (glibc would give a subnormal, at most
 * 1.2e-38), above it +inf, and NaN stays NaN.  The scalar vexp1 does the same arithmetic in
 * the same order, so the tail of an array gets the same values a vector lane would.
 * Why not vmath.h's exp, the training kernels' own: that one clamps its input so it never
 * returns 0 or inf, and a sampler must give a -inf logit exactly 0 (a cut token is never
 * drawn); and training's arithmetic stays as it is, since the committed default model is
 * reproduced byte for byte only with the exact floats it was trained with.
 */
#ifndef LECTERN_VEXP_H
#define LECTERN_VEXP_H

#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VEXP_AVX2 1
#endif

#define VEXP_MIN (-87.33654475f)   /* e^VEXP_MIN = FLT_MIN, the smallest normal float */
#define VEXP_MAX 88.72283905f      /* e^VEXP_MAX is just below FLT_MAX */
#define VEXP_LOG2E 1.44269504088896341f
#define VEXP_LN2_HI 0.693359375f      /* ln 2 = HI + LO, HI with few bits so n HI is exact */
#define VEXP_LN2_LO (-2.12194440e-4f)

static inline float vexp1(float x)
{
    if (x != x) return x;
    if (x < VEXP_MIN) return 0.0f;
    if (x > VEXP_MAX) return INFINITY;
    const float n = nearbyintf(x * VEXP_LOG2E);
    float r = fmaf(n, -VEXP_LN2_HI, x);
    r = fmaf(n, -VEXP_LN2_LO, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float y = fmaf(p, r * r, r) + 1.0f;
    int ni = (int)n;
    if (ni > 127) { y += y; ni = 127; }  /* x near VEXP_MAX: 2^128 has no exponent of its own */
    union { unsigned u; float f; } s = {(unsigned)(ni + 127) << 23};
    return y * s.f;
}

#ifdef VEXP_AVX2
static inline __m256 vexp8(__m256 x)
{
    /* max/min return their second operand when either is NaN: x, so NaN passes through */
    const __m256 xc = _mm256_min_ps(_mm256_set1_ps(VEXP_MAX), _mm256_max_ps(_mm256_set1_ps(VEXP_MIN), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(VEXP_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-VEXP_LN2_HI), xc);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-VEXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i big = _mm256_cmpgt_epi32(ni, _mm256_set1_epi32(127));
    y = _mm256_blendv_ps(y, _mm256_add_ps(y, y), _mm256_castsi256_ps(big));
    ni = _mm256_min_epi32(ni, _mm256_set1_epi32(127));
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23)));
    /* outside the range: 0 and +inf exactly (x itself, not the clamped value, decides) */
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(VEXP_MIN), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(VEXP_MAX), _CMP_GT_OQ));
    return y;
}
#endif

#endif
