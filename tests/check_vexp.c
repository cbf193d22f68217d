/* vexp: e^x against double exp over the whole finite range (within 1.5 ulp; 1.0 measured),
 * the edges (0 below VEXP_MIN, +inf above VEXP_MAX, NaN kept, the 2^128 case near the top),
 * the eight-lane version equal to the scalar one bit for bit, and the operations built on it
 * (GELU, SwiGLU) against their double-precision formulas. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/vexp.h"
#include "tests/util/testutil.h"

static double ulps(float got, double want)
{
    const float w = (float)want;
    const double ulp = (double)nextafterf(fabsf(w), INFINITY) - fabsf(w);
    return fabs((double)got - want) / ulp;
}

START_TEST(test_vexp_accuracy)
{
    double worst = 0, at = 0;
    const int n = 2000003;
    for (int i = 0; i <= n; i++) {
        const float x = VEXP_MIN + (VEXP_MAX - VEXP_MIN) * (float)i / (float)n;
        const double u = ulps(vexp1(x), exp((double)x));
        if (u > worst) { worst = u; at = x; }
    }
    ck_assert_msg(worst <= 1.5, "worst error %.2f ulp at x = %.9g", worst, at);
    /* exact where it must be */
    ck_assert_float_eq(vexp1(0.0f), 1.0f);
    ck_assert_float_eq(vexp1(-0.0f), 1.0f);
}
END_TEST

START_TEST(test_vexp_edges)
{
    ck_assert_float_eq(vexp1(-INFINITY), 0.0f);
    ck_assert_float_eq(vexp1(-100.0f), 0.0f);
    ck_assert_float_eq(vexp1(INFINITY), INFINITY);
    ck_assert_float_eq(vexp1(89.0f), INFINITY);
    ck_assert(isnan(vexp1(NAN)));
    /* between 127.5 ln 2 and VEXP_MAX, n rounds to 128: still finite and right */
    const float top = 88.6f;
    ck_assert(isfinite(vexp1(top)));
    ck_assert_msg(ulps(vexp1(top), exp((double)top)) <= 2.0, "e^88.6 = %g", (double)vexp1(top));
    ck_assert_msg(vexp1(VEXP_MIN) >= FLT_MIN * 0.999f, "e^VEXP_MIN = %g", (double)vexp1(VEXP_MIN));
}
END_TEST

START_TEST(test_vexp8_matches_scalar)
{
#ifdef VEXP_AVX2
    float xs[64] = {-INFINITY, INFINITY, NAN, -100.0f, 89.0f, 88.6f, VEXP_MIN, VEXP_MAX, 0.0f, -0.0f,
                    1e-30f, -1e-30f, 0.5f, -0.5f, 0.34657359f, -0.34657359f};
    unsigned seed = 3;
    for (int i = 16; i < 64; i++) {
        seed = seed * 1103515245u + 12345u;
        xs[i] = ((float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f) * 180.0f;
    }
    for (int i = 0; i < 64; i += 8) {
        float out[8];
        _mm256_storeu_ps(out, vexp8(_mm256_loadu_ps(xs + i)));
        for (int k = 0; k < 8; k++) {
            const float s = vexp1(xs[i + k]);
            ck_assert_msg((isnan(s) && isnan(out[k])) || memcmp(&s, &out[k], sizeof s) == 0,
                          "x = %.9g: lane %.9g, scalar %.9g", (double)xs[i + k], (double)out[k], (double)s);
        }
    }
#else
    printf("check_vexp: SKIP the eight-lane version: built without AVX2\n");
#endif
}
END_TEST

START_TEST(test_gelu_swiglu_against_double)
{
    enum { N = 1003 };  /* not a multiple of 8: the scalar tail runs too */
    float x[N], g[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = -12.0f + 24.0f * (float)i / (float)(N - 1);
        g[i] = 0.5f + 0.001f * (float)i;
    }
    gelu_forward(y, x, N);
    for (int i = 0; i < N; i++) {
        const double v = x[i], want = 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
        ck_assert_msg(fabs(y[i] - want) <= 1e-6 * (1.0 + fabs(want)), "gelu(%g) = %.9g, want %.9g", v, (double)y[i], want);
    }
    swiglu_forward(y, x, g, N);
    for (int i = 0; i < N; i++) {
        const double v = x[i], want = v / (1.0 + exp(-v)) * g[i];
        ck_assert_msg(fabs(y[i] - want) <= 1e-6 * (1.0 + fabs(want)), "swiglu(%g) = %.9g, want %.9g", v, (double)y[i], want);
    }
    /* far out: GELU of a large negative input is -0 or a negligible negative, never NaN */
    const float big[2] = {-1e6f, 1e6f};
    float out[2];
    gelu_forward(out, big, 2);
    ck_assert(out[0] <= 0.0f && out[0] > -1e-30f);
    ck_assert_float_eq(out[1], 1e6f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vexp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_vexp_accuracy);
    tcase_add_test(tc, test_vexp_edges);
    tcase_add_test(tc, test_vexp8_matches_scalar);
    tcase_add_test(tc, test_gelu_swiglu_against_double);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
