/* gemm: the prefill's matrix product against its double-accumulating naive twin, through both
 * implementations (Lectern's AVX-512 kernel and OpenBLAS), at sizes that exercise every tail
 * of the kernel's blocking (rows not a multiple of 8, columns not a multiple of 16 or 48 or
 * of a 480-column block, k not a multiple of 256), both layouts of B, with and without bias
 * and scale, overwriting and accumulating, padded row strides whose padding must stay
 * untouched, on one thread and two;
 * and prefill attention, which runs on it in blocks of rows, against the naive attention. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/attention.h"
#include "engine/err.h"
#include "engine/gemm.h"
#include "tests/util/testutil.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static int impl_available(GemmImpl impl)
{
    if (impl != GEMM_AVX512 || gemm_have_avx512()) return 1;
    static int told;
    if (!told++) printf("check_gemm: SKIP the AVX-512 kernel: this CPU has no AVX-512F\n");
    return 0;
}

static void check_one(GemmImpl impl, int M, int N, int K, int b_trans, int bias, float alpha,
                      int threads)
{
    unsigned seed = (unsigned)(M * 131 + N * 7 + K * 3 + b_trans * 5 + bias);
    const size_t lda = (size_t)K + 3, ldc = (size_t)N + 2;
    const size_t ldb = (size_t)(b_trans ? K : N) + 5, brows = (size_t)(b_trans ? N : K);
    float *A = xmalloc(sizeof(float) * (size_t)M * lda), *B = xmalloc(sizeof(float) * brows * ldb);
    float *bv = xmalloc(sizeof(float) * (size_t)N), *C = xmalloc(sizeof(float) * (size_t)M * ldc);
    float *R = xmalloc(sizeof(float) * (size_t)M * N);
    for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = frand(&seed);
    for (size_t i = 0; i < brows * ldb; i++) B[i] = frand(&seed);
    for (int i = 0; i < N; i++) bv[i] = 2.385f * frand(&seed);
    for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = -7.5f;  /* padding must keep this */
    gemm_select(impl);
    omp_set_num_threads(threads);
    gemm_forward(C, ldc, A, lda, B, ldb, b_trans, bias ? bv : NULL, alpha, M, N, K);
    gemm_forward_naive(R, (size_t)N, A, lda, B, ldb, b_trans, bias ? bv : NULL, alpha, M, N, K);
    const float tol = 2e-6f * (1.0f + (float)K);
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            const float c = C[(size_t)m * ldc + n], r = R[(size_t)m * N + n];
            ck_assert_msg(fabsf(c - r) <= tol, "%s %dx%dx%d bt %d bias %d alpha %g thr %d: C[%d][%d] = %g, naive %g",
                          gemm_impl_name(), M, N, K, b_trans, bias, (double)alpha, threads, m, n, c, r);
        }
        for (size_t n = (size_t)N; n < ldc; n++)
            ck_assert_msg(C[(size_t)m * ldc + n] == -7.5f, "%s %dx%dx%d: padding of row %d written",
                          gemm_impl_name(), M, N, K, m);
    }
    /* and accumulating: C += 0.5 A op(B) on top of what the first product wrote */
    float *R2 = xmalloc(sizeof(float) * (size_t)M * N);
    gemm_forward_acc(C, ldc, A, lda, B, ldb, b_trans, 0.5f, M, N, K);
    gemm_forward_naive(R2, (size_t)N, A, lda, B, ldb, b_trans, NULL, 0.5f, M, N, K);
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            const float c = C[(size_t)m * ldc + n], r = R[(size_t)m * N + n] + R2[(size_t)m * N + n];
            ck_assert_msg(fabsf(c - r) <= 2 * tol, "%s acc %dx%dx%d bt %d thr %d: C[%d][%d] = %g, naive %g",
                          gemm_impl_name(), M, N, K, b_trans, threads, m, n, c, r);
        }
        for (size_t n = (size_t)N; n < ldc; n++)
            ck_assert_msg(C[(size_t)m * ldc + n] == -7.5f, "%s acc %dx%dx%d: padding of row %d written",
                          gemm_impl_name(), M, N, K, m);
    }
    free(A); free(B); free(bv); free(C); free(R); free(R2);
}

static void check_shapes(GemmImpl impl)
{
    static const int shapes[][3] = {
        {1, 1, 1}, {1, 17, 5}, {7, 33, 5}, {8, 48, 64}, {9, 49, 257}, {17, 15, 256},
        {64, 100, 300}, {30, 481, 40}, {130, 97, 513}, {16, 1000, 19}, {65, 64, 600},
    };
    const float alphas[2] = {1.0f, 0.37f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int bt = 0; bt < 2; bt++)
            for (int bias = 0; bias < 2; bias++)
                for (int threads = 1; threads <= 2; threads++)
                    check_one(impl, shapes[s][0], shapes[s][1], shapes[s][2], bt, bias,
                              alphas[(s + (size_t)bias) & 1], threads);
}

START_TEST(test_gemm_avx512_against_naive)
{
    if (impl_available(GEMM_AVX512)) check_shapes(GEMM_AVX512);
    gemm_select(GEMM_AUTO);
}
END_TEST

START_TEST(test_gemm_blas_against_naive)
{
    check_shapes(GEMM_BLAS);
    gemm_select(GEMM_AUTO);
}
END_TEST

START_TEST(test_gemm_k_zero_gives_bias)
{
    float C[6], bv[3] = {1.5f, -2.0f, 0.25f}, A[1] = {0}, B[1] = {0};
    gemm_forward(C, 3, A, 1, B, 1, 1, bv, 1.0f, 2, 3, 0);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(C[i], bv[i % 3]);
}
END_TEST

/* Prefill attention in blocks of rows, threads taking (head, block) pieces: long enough for
 * several blocks per head and for the two-thread path, both masks, a cache already holding
 * earlier positions, grouped key/value heads. */
static void check_attention(GemmImpl impl, int threads)
{
    const int NH = 4, NKV = 2, HS = 16, C = NH * HS, kv = NKV * HS, pos0 = 9, T = 150, nt = pos0 + T;
    unsigned seed = 11;
    float *q = xmalloc(sizeof(float) * (size_t)T * C), *kc = xmalloc(sizeof(float) * (size_t)nt * kv);
    float *vc = xmalloc(sizeof(float) * (size_t)nt * kv);
    float *o1 = xmalloc(sizeof(float) * (size_t)T * C), *o2 = xmalloc(sizeof(float) * (size_t)T * C);
    float *scratch = xmalloc(sizeof(float) * (size_t)T * nt);
    float *cap = xmalloc(sizeof(float) * (size_t)NH * T * nt);
    for (int i = 0; i < T * C; i++) q[i] = 3.0f * frand(&seed);
    for (int i = 0; i < nt * kv; i++) kc[i] = 2.0f * frand(&seed);
    for (int i = 0; i < nt * kv; i++) vc[i] = 2.0f * frand(&seed);
    gemm_select(impl);
    omp_set_num_threads(threads);
    for (int mask = 0; mask < 2; mask++) {
        AttnSpec spec = {(MaskKind)mask, NULL, NULL};
        for (size_t i = 0; i < (size_t)NH * T * nt; i++) cap[i] = NAN;
        attention_forward(o1, q, kc, vc, T, pos0, NH, NKV, HS, &spec, scratch, NULL, cap, T, 0, nt);
        attention_forward_naive(o2, q, kc, vc, T, pos0, NH, NKV, HS, (MaskKind)mask);
        for (int i = 0; i < T * C; i++)
            ck_assert_msg(fabsf(o1[i] - o2[i]) < 5e-6f, "%s threads %d mask %d: out[%d] %g vs %g",
                          gemm_impl_name(), threads, mask, i, o1[i], o2[i]);
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const int nk = mask == MASK_CAUSAL ? pos0 + t + 1 : nt;
                double s = 0;
                for (int j = 0; j < nt; j++) {
                    const float a = cap[((size_t)h * T + t) * nt + j];
                    if (j >= nk) ck_assert_float_eq(a, 0.0f);
                    s += a;
                }
                ck_assert_double_eq_tol(s, 1.0, 1e-5);
            }
    }
    gemm_select(GEMM_AUTO);
    free(q); free(kc); free(vc); free(o1); free(o2); free(scratch); free(cap);
}

START_TEST(test_prefill_attention_blocks)
{
    for (int threads = 1; threads <= 2; threads++) {
        check_attention(GEMM_BLAS, threads);
        if (impl_available(GEMM_AVX512)) check_attention(GEMM_AVX512, threads);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gemm_avx512_against_naive);
    tcase_add_test(tc, test_gemm_blas_against_naive);
    tcase_add_test(tc, test_gemm_k_zero_gives_bias);
    tcase_add_test(tc, test_prefill_attention_blocks);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
