/* matvec: the decode kernels against the double-accumulating naive product, in both weight
 * layouts, at sizes that exercise every tail (in not a multiple of 8 or 32, out not a
 * multiple of 16), with and without bias, on one thread and on two (where each thread takes a
 * share of rows or of cache lines); and the single-thread row kernels decode attention uses. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "engine/err.h"
#include "engine/matvec.h"
#include "engine/ops.h"
#include "tests/util/testutil.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

/* one product y = x W (+ b) with a padded row stride, checked against matmul_forward_naive */
static void check_one(int in, int out, WeightLayout layout, int bias, int threads)
{
    unsigned seed = (unsigned)(in * 131 + out * 7 + layout * 3 + bias);
    const int ld = (layout == W_OUT_IN ? in : out) + 3;  /* a stride that is not the width */
    const int rows = layout == W_OUT_IN ? out : in;
    float *w = xmalloc(sizeof(float) * (size_t)rows * ld), *b = xmalloc(sizeof(float) * (size_t)out);
    float *x = xmalloc(sizeof(float) * (size_t)in);
    float *y = xmalloc(sizeof(float) * (size_t)out), *yr = xmalloc(sizeof(float) * (size_t)out);
    for (size_t i = 0; i < (size_t)rows * ld; i++) w[i] = frand(&seed);
    for (int i = 0; i < out; i++) b[i] = frand(&seed);
    for (int i = 0; i < in; i++) x[i] = frand(&seed);
    Linear lin = {.w = w, .b = bias ? b : NULL, .in = in, .out = out, .ld = ld, .layout = layout};
    omp_set_num_threads(threads);
    for (int i = 0; i < out; i++) y[i] = NAN;  /* every output must be written */
    matvec_forward(y, x, &lin);
    matmul_forward_naive(yr, x, &lin, 1);
    for (int i = 0; i < out; i++)
        ck_assert_msg(fabsf(y[i] - yr[i]) <= 1e-5f * (1.0f + sqrtf((float)in)),
                      "in %d out %d layout %d bias %d threads %d: y[%d] = %g, naive %g", in, out,
                      layout, bias, threads, i, y[i], yr[i]);
    free(w);
    free(b);
    free(x);
    free(y);
    free(yr);
}

START_TEST(test_matvec_both_layouts)
{
    static const int sizes[][2] = {{1, 1}, {7, 5}, {8, 16}, {33, 17}, {64, 172}, {172, 64},
                                   {288, 768}, {768, 1023}, {1000, 2049}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int layout = 0; layout < 2; layout++)
            for (int bias = 0; bias < 2; bias++)
                for (int t = 1; t <= 2; t++) check_one(sizes[k][0], sizes[k][1], (WeightLayout)layout, bias, t);
}
END_TEST

START_TEST(test_row_kernels)
{
    /* the shapes of decode attention: head sizes 8, 48, 64 with keys in a strided cache */
    static const int hs[] = {8, 12, 48, 64};
    unsigned seed = 7;
    for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) {
        const int HS = hs[k], nk = 37, ld = 3 * HS;
        float *cache = xmalloc(sizeof(float) * (size_t)nk * ld), q[64], a[37], y[37], o[64];
        for (int i = 0; i < nk * ld; i++) cache[i] = frand(&seed);
        for (int i = 0; i < HS; i++) q[i] = frand(&seed);
        for (int j = 0; j < nk; j++) a[j] = frand(&seed);
        matvec_dot_rows(y, q, cache + HS, (size_t)ld, HS, nk);
        for (int j = 0; j < nk; j++) {
            double r = 0;
            for (int i = 0; i < HS; i++) r += (double)q[i] * cache[(size_t)j * ld + HS + i];
            ck_assert_msg(fabs(y[j] - r) < 1e-5, "HS %d key %d: %g vs %g", HS, j, y[j], r);
        }
        matvec_sum_rows(o, a, cache + 2 * HS, (size_t)ld, nk, HS);
        for (int i = 0; i < HS; i++) {
            double r = 0;
            for (int j = 0; j < nk; j++) r += (double)a[j] * cache[(size_t)j * ld + 2 * HS + i];
            ck_assert_msg(fabs(o[i] - r) < 1e-5, "HS %d dim %d: %g vs %g", HS, i, o[i], r);
        }
        free(cache);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("matvec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_matvec_both_layouts);
    tcase_add_test(tc, test_row_kernels);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
