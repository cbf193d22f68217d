/* Tests for engine/effattn.c and engine/effattn_case.c: every kernel against
 * kernel_attention_small.txt, the approximation errors of approx_error.md with our own random
 * features, prefix-sum forms against their quadratic twins, implied weights against outputs,
 * GSL's QR and SVD, the runtime Effattn object and the oracle-file reader's errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "engine/effattn.h"
#include "engine/effattn_case.h"
#include "engine/err.h"
#include "engine/pattern.h"
#include "tests/util/testutil.h"

#define KERNEL_FILE "oracles/attention/kernel_attention_small.txt"

static float *gaussian(size_t count, unsigned long seed, double sigma)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    float *v = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) v[i] = (float)gsl_ran_gaussian(r, sigma);
    gsl_rng_free(r);
    return v;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static double rel_frobenius(const float *approx, const float *exact, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)approx[i] - exact[i];
        num += d * d;
        den += (double)exact[i] * exact[i];
    }
    return sqrt(num / den);
}

/* ---- the oracle file ---- */

START_TEST(test_kernel_oracle)
{
    const char *path = shared_path(KERNEL_FILE, "kernel attention oracle");
    if (!path) return;
    const char *cases[] = {"n6_d4_dv3_m8_k3", "n8_d4_dv4_m6_k4"};
    const char *methods[] = {"exact_bi", "exact_causal", "favor_bi", "favor_causal", "elu_bi",
                             "elu_causal", "linformer_bi", "phi_q", "phi_k"};
    for (int ci = 0; ci < 2; ci++) {
        EffattnCase *c;
        ck_assert_msg(effattn_case_load(path, cases[ci], &c) == 0, "%s", err_msg());
        ck_assert_int_eq(c->d, 4);
        ck_assert_int_gt(c->m, 0);
        for (size_t mi = 0; mi < sizeof methods / sizeof methods[0]; mi++) {
            float *o;
            int rows, cols;
            ck_assert_msg(effattn_case_run(c, methods[mi], &o, &rows, &cols) == 0, "%s: %s",
                          methods[mi], err_msg());
            const EffattnMatrix *want = effattn_case_matrix(c, methods[mi]);
            ck_assert_ptr_nonnull(want);
            ck_assert_int_eq(rows, want->rows);
            ck_assert_int_eq(cols, want->cols);
            for (int i = 0; i < rows * cols; i++) {
                double tol = 1e-6 + 1e-5 * fabs(want->v[i]);
                ck_assert_msg(fabs(o[i] - want->v[i]) <= tol, "%s %s [%d]: %.9g vs %.9g", cases[ci],
                              methods[mi], i, o[i], want->v[i]);
            }
            free(o);
        }
        /* the causal Linformer's last row sees the whole sequence: it is linformer_bi's */
        float *o;
        int rows, cols;
        ck_assert_int_eq(effattn_case_run(c, "linformer_causal", &o, &rows, &cols), 0);
        const EffattnMatrix *bi = effattn_case_matrix(c, "linformer_bi");
        for (int t = 0; t < cols; t++) {
            size_t at = (size_t)(rows - 1) * cols + t;
            ck_assert(fabs(o[at] - bi->v[at]) <= 1e-6 + 1e-5 * fabs(bi->v[at]));
            ck_assert(fabs(o[t] - bi->v[t]) > 1e-4);   /* and its first row does not */
        }
        free(o);
        effattn_case_free(c);
    }
}
END_TEST

START_TEST(test_case_errors)
{
    EffattnCase *c = NULL;
    ck_assert_int_eq(effattn_case_load("/nonexistent/k.txt", "x", &c), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent/k.txt"));
    const char *path = shared_path(KERNEL_FILE, "kernel attention oracle");
    if (path) {
        ck_assert_int_eq(effattn_case_load(path, "nope", &c), ERR_ARG);
        ck_assert_ptr_nonnull(strstr(err_msg(), "n6_d4_dv3_m8_k3"));   /* lists the cases */
        ck_assert_int_eq(effattn_case_load(path, "n6_d4_dv3_m8_k3", &c), 0);
        float *o = NULL;
        int r, k;
        ck_assert_int_eq(effattn_case_run(c, "warp_bi", &o, &r, &k), ERR_ARG);
        ck_assert_ptr_nonnull(strstr(err_msg(), "exact_bi"));
        effattn_case_free(c);
        c = NULL;
    }
    struct { const char *text; int rc; const char *needle; } bad[] = {
        {"case a\nQ 2 2\n1 2\n3\nend\n", ERR_FORMAT, ":4:"},
        {"case a\nQ 2 2\n1 2\n", ERR_FORMAT, "ends after 1 of 2 rows"},
        {"case a\nQ 2 2\n1 2 3\n", ERR_FORMAT, "more than 2 numbers"},
        {"case a\nQ 2 x\n1 2\nend\n", ERR_FORMAT, ":2:"},
        {"case a\nQ 99999 99999\n1\nend\n", ERR_FORMAT, "more numbers than the file holds"},
        {"stray line\n", ERR_FORMAT, "expected 'case NAME'"},
        {"case a\nn 6\n", ERR_FORMAT, "without 'end'"},
        {"case a\nn -6\nend\n", ERR_FORMAT, "positive integer"},
        {"case b\nend\n", ERR_ARG, "no case 'a' (cases: b)"},
        {"case a\nQ 1 1\n1\nQ 1 1\n2\nend\n", ERR_FORMAT, "given twice"},
        {"case a\nQ 1 1\nnan\nend\n", ERR_FORMAT, "expected 1 numbers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *tmp = write_temp(bad[i].text, strlen(bad[i].text), ".txt");
        ck_assert_ptr_nonnull(tmp);
        c = NULL;
        ck_assert_msg(effattn_case_load(tmp, "a", &c) == bad[i].rc, "case %zu: %s", i, err_msg());
        ck_assert_msg(strstr(err_msg(), bad[i].needle) != NULL, "case %zu: '%s'", i, err_msg());
        ck_assert_ptr_null(c);
        remove(tmp);
        free(tmp);
    }
    /* a case missing what a method needs */
    const char *partial = "case a\nQ 2 2\n1 2\n3 4\nK 2 2\n1 0\n0 1\nV 2 1\n5\n6\nend\n";
    char *tmp = write_temp(partial, strlen(partial), ".txt");
    ck_assert_int_eq(effattn_case_load(tmp, "a", &c), 0);
    float *o = NULL;
    int r, k;
    ck_assert_int_eq(effattn_case_run(c, "exact_causal", &o, &r, &k), 0);
    ck_assert(fabsf(o[0] - 5) < 1e-6f);   /* the first causal row sees only itself */
    char *txt = effattn_case_matrix_text(o, r, k);
    ck_assert_int_eq(strncmp(txt, "5\n", 2), 0);
    free(txt);
    free(o);
    ck_assert_int_eq(effattn_case_run(c, "favor_bi", &o, &r, &k), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "no matrix W"));
    ck_assert_int_eq(effattn_case_run(c, "linformer_bi", &o, &r, &k), ERR_ARG);
    effattn_case_free(c);
    remove(tmp);
    free(tmp);
    const char *shape = "case a\nQ 2 2\n1 2\n3 4\nK 2 3\n1 0 1\n0 1 1\nV 2 1\n5\n6\nend\n";
    tmp = write_temp(shape, strlen(shape), ".txt");
    ck_assert_int_eq(effattn_case_load(tmp, "a", &c), 0);
    ck_assert_int_eq(effattn_case_run(c, "exact_bi", &o, &r, &k), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "K is 2x3"));
    effattn_case_free(c);
    remove(tmp);
    free(tmp);
}
END_TEST

/* ---- prefix sums against the quadratic form ---- */

START_TEST(test_prefix_equals_quadratic)
{
    int n = 150, d = 16, dv = 8, m = 32;   /* the causal form runs in blocks of 64 rows: 2 and a part */
    float *Q = gaussian((size_t)n * d, 1, 0.5), *K = gaussian((size_t)n * d, 2, 0.5);
    float *V = gaussian((size_t)n * dv, 3, 1.0), *W = malloc((size_t)m * d * sizeof(float));
    ck_assert_int_eq(effattn_favor_matrix(W, m, d, 1, 0, 4), 0);
    float *pq = malloc((size_t)n * m * sizeof(float)), *pk = malloc((size_t)n * m * sizeof(float));
    float *o1 = malloc((size_t)n * dv * sizeof(float)), *o2 = malloc((size_t)n * dv * sizeof(float));
    size_t sl = effattn_linear_scratch(m, dv) > (size_t)n ? effattn_linear_scratch(m, dv) : (size_t)n;
    float *s = malloc(sl * sizeof(float));
    for (int fm = 0; fm < 2; fm++) {
        int width = fm ? d : m;
        float keps = fm ? 0.0f : EFFATTN_FAVOR_CAUSAL_EPS, deps = fm ? EFFATTN_LINEAR_EPS : 0.0f;
        if (fm) {
            effattn_elu_features(Q, n, d, pq);
            effattn_elu_features(K, n, d, pk);
        } else {
            effattn_favor_features(Q, n, d, W, m, 1, EFFATTN_FAVOR_FEATURE_EPS, pq);
            effattn_favor_features(K, n, d, W, m, 0, EFFATTN_FAVOR_FEATURE_EPS, pk);
        }
        for (int causal = 0; causal < 2; causal++) {
            effattn_linear(pq, pk, V, n, width, dv, causal, keps, deps, o1, s);
            effattn_linear_quadratic(pq, pk, V, n, width, dv, causal, keps, deps, o2, s);
            ck_assert_msg(max_abs_diff(o1, o2, (size_t)n * dv) <= 1e-5, "map %d causal %d: %g", fm,
                          causal, max_abs_diff(o1, o2, (size_t)n * dv));
            /* implied weights reproduce each output row */
            float *w = malloc((size_t)n * sizeof(float));
            for (int q = 0; q < n; q += 9) {
                effattn_linear_row_weights(pq, pk, n, width, causal, keps, deps, q, w);
                for (int t = 0; t < dv; t++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += (double)w[j] * V[(size_t)j * dv + t];
                    ck_assert(fabs(acc - o1[(size_t)q * dv + t]) <= 1e-5);
                }
                if (causal) for (int j = q + 1; j < n; j++) ck_assert(w[j] == 0);
            }
            free(w);
        }
    }
    /* causal: the last row of the prefix form equals the bidirectional form's last row only
     * for elu (no eps in the key sums): a check that causal sums include the current token */
    effattn_elu_features(Q, n, d, pq);
    effattn_elu_features(K, n, d, pk);
    effattn_linear(pq, pk, V, n, d, dv, 1, 0, EFFATTN_LINEAR_EPS, o1, s);
    effattn_linear(pq, pk, V, n, d, dv, 0, 0, EFFATTN_LINEAR_EPS, o2, s);
    ck_assert(max_abs_diff(o1 + (size_t)(n - 1) * dv, o2 + (size_t)(n - 1) * dv, (size_t)dv) <= 1e-5);
    ck_assert(max_abs_diff(o1, o2, (size_t)dv) > 1e-3);
    free(Q);
    free(K);
    free(V);
    free(W);
    free(pq);
    free(pk);
    free(o1);
    free(o2);
    free(s);
}
END_TEST

/* FAVOR+ and elu+1 end to end make their features 64 rows at a time: they must equal the
 * whole feature matrices put through the quadratic (double) twin, at a length of several
 * blocks, both forms.  1e-5 as for the prefix sums above. */
START_TEST(test_streamed_equals_quadratic)
{
    int n = 200, d = 16, dv = 8, m = 40;
    float *Q = gaussian((size_t)n * d, 41, 0.6), *K = gaussian((size_t)n * d, 42, 0.6);
    float *V = gaussian((size_t)n * dv, 43, 1.0), *W = malloc((size_t)m * d * sizeof(float));
    ck_assert_int_eq(effattn_favor_matrix(W, m, d, 1, 0, 44), 0);
    float *pq = malloc((size_t)n * m * sizeof(float)), *pk = malloc((size_t)n * m * sizeof(float));
    float *o1 = malloc((size_t)n * dv * sizeof(float)), *o2 = malloc((size_t)n * dv * sizeof(float));
    size_t sf = effattn_favor_scratch(n, m, dv), se = effattn_elu_scratch(n, d, dv);
    size_t ss = sf > se ? sf : se;
    float *s = malloc((ss > (size_t)n ? ss : (size_t)n) * sizeof(float));
    for (int causal = 0; causal < 2; causal++) {
        effattn_favor(Q, K, V, W, n, d, dv, m, causal, EFFATTN_FAVOR_FEATURE_EPS,
                      EFFATTN_FAVOR_CAUSAL_EPS, o1, s);
        effattn_favor_features(Q, n, d, W, m, 1, EFFATTN_FAVOR_FEATURE_EPS, pq);
        effattn_favor_features(K, n, d, W, m, 0, EFFATTN_FAVOR_FEATURE_EPS, pk);
        effattn_linear_quadratic(pq, pk, V, n, m, dv, causal, causal ? EFFATTN_FAVOR_CAUSAL_EPS : 0.0f,
                                 0.0f, o2, s);
        double e = max_abs_diff(o1, o2, (size_t)n * dv);
        ck_assert_msg(e <= 1e-5, "favor causal %d: %g", causal, e);
        effattn_elu(Q, K, V, n, d, dv, causal, EFFATTN_LINEAR_EPS, o1, s);
        effattn_elu_features(Q, n, d, pq);
        effattn_elu_features(K, n, d, pk);
        effattn_linear_quadratic(pq, pk, V, n, d, dv, causal, 0.0f, EFFATTN_LINEAR_EPS, o2, s);
        e = max_abs_diff(o1, o2, (size_t)n * dv);
        ck_assert_msg(e <= 1e-5, "elu causal %d: %g", causal, e);
    }
    free(Q);
    free(K);
    free(V);
    free(W);
    free(pq);
    free(pk);
    free(o1);
    free(o2);
    free(s);
}
END_TEST

/* Linformer at a length of several query blocks against the formula in double. */
START_TEST(test_linformer_blocks)
{
    int n = 150, d = 12, dv = 5, k = 7;
    float *Q = gaussian((size_t)n * d, 51, 1), *K = gaussian((size_t)n * d, 52, 1), *V = gaussian((size_t)n * dv, 53, 1);
    float *E = malloc((size_t)k * n * sizeof(float)), *F = malloc((size_t)k * n * sizeof(float));
    effattn_linformer_init(E, k, n, 54);
    effattn_linformer_init(F, k, n, 55);
    float *o = malloc((size_t)n * dv * sizeof(float)), *s = malloc(effattn_linformer_scratch(k, d, dv) * sizeof(float));
    double *kp = malloc((size_t)k * d * sizeof(double)), *vp = malloc((size_t)k * dv * sizeof(double));
    double a[7];
    float scale = 1 / sqrtf((float)d);
    for (int causal = 0; causal < 2; causal++) {
        ck_assert_int_eq(effattn_linformer(Q, K, V, E, F, n, n, d, dv, k, scale, causal, o, s), 0);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            int lim = causal ? i + 1 : n;
            double mx = -1e300, z = 0;
            for (int c = 0; c < k; c++) {
                for (int t = 0; t < d; t++) kp[c * d + t] = 0;
                for (int t = 0; t < dv; t++) vp[c * dv + t] = 0;
                for (int j = 0; j < lim; j++) {
                    for (int t = 0; t < d; t++) kp[c * d + t] += (double)E[c * n + j] * K[j * d + t];
                    for (int t = 0; t < dv; t++) vp[c * dv + t] += (double)F[c * n + j] * V[j * dv + t];
                }
                a[c] = 0;
                for (int t = 0; t < d; t++) a[c] += Q[i * d + t] * kp[c * d + t] * scale;
                mx = a[c] > mx ? a[c] : mx;
            }
            for (int c = 0; c < k; c++) z += (a[c] = exp(a[c] - mx));
            for (int t = 0; t < dv; t++) {
                double y = 0;
                for (int c = 0; c < k; c++) y += a[c] / z * vp[c * dv + t];
                double e = fabs(y - o[i * dv + t]);
                worst = e > worst ? e : worst;
            }
        }
        ck_assert_msg(worst < 1e-5, "causal %d: %g", causal, worst);
    }
    free(Q);
    free(K);
    free(V);
    free(E);
    free(F);
    free(o);
    free(s);
    free(kp);
    free(vp);
}
END_TEST

/* ---- random features ---- */

START_TEST(test_favor_matrix)
{
    int m = 10, d = 4;
    float *W = malloc((size_t)m * d * sizeof(float)), *W2 = malloc((size_t)m * d * sizeof(float));
    ck_assert_int_eq(effattn_favor_matrix(W, m, d, 1, 1, 3), 0);
    /* scaling 1: rows of length sqrt(d), orthogonal within each block of d rows */
    for (int a = 0; a < m; a++)
        for (int b = a; b < m && b / d == a / d; b++) {
            double dp = 0;
            for (int t = 0; t < d; t++) dp += (double)W[a * d + t] * W[b * d + t];
            ck_assert_msg(fabs(dp - (a == b ? d : 0)) < 1e-5, "rows %d %d: %g", a, b, dp);
        }
    ck_assert_int_eq(effattn_favor_matrix(W2, m, d, 1, 1, 3), 0);
    ck_assert_int_eq(memcmp(W, W2, (size_t)m * d * sizeof(float)), 0);   /* same seed */
    ck_assert_int_eq(effattn_favor_matrix(W2, m, d, 1, 1, 4), 0);
    ck_assert_int_ne(memcmp(W, W2, (size_t)m * d * sizeof(float)), 0);
    /* scaling 0: lengths of Gaussian vectors, not all equal */
    ck_assert_int_eq(effattn_favor_matrix(W, m, d, 1, 0, 3), 0);
    double n0 = 0, n1 = 0;
    for (int t = 0; t < d; t++) {
        n0 += (double)W[t] * W[t];
        n1 += (double)W[d + t] * W[d + t];
    }
    ck_assert(fabs(n0 - n1) > 1e-6);
    ck_assert_int_eq(effattn_favor_matrix(W, 0, d, 1, 0, 3), ERR_ARG);
    ck_assert_int_eq(effattn_favor_matrix(W, m, d, 1, 2, 3), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "scaling=2"));
    free(W);
    free(W2);
}
END_TEST

/* approx_error.md: n=512, d=64, dv=64; Q, K ~ N(0, sigma^2), V ~ N(0, 1).  Our random numbers
 * differ from numpy's, so means are compared within ~3 std/sqrt(seeds) plus a margin. */
typedef struct {
    const char *what;
    double sigma;
    int kind;      /* 0 FAVOR+ orthogonal, 1 FAVOR+ iid, 2 elu, 3 Linformer xavier */
    int size;      /* m or k */
    float eps;
    double mean, std;
} ErrRow;

START_TEST(test_approx_error_ranges)
{
    const ErrRow rows[] = {
        {"FAVOR+ orth eps=0 m=64 sigma=.5", 0.5, 0, 64, 0.0f, 0.7195, 0.0607},
        {"FAVOR+ orth eps=0 m=256 sigma=.5", 0.5, 0, 256, 0.0f, 0.4472, 0.0331},
        {"FAVOR+ iid eps=0 m=256 sigma=.5", 0.5, 1, 256, 0.0f, 0.4644, 0.0710},
        {"FAVOR+ orth eps=1e-4 m=256 sigma=.5", 0.5, 0, 256, 1e-4f, 0.4163, 0.0275},
        {"FAVOR+ orth eps=1e-4 m=256 sigma=1", 1.0, 0, 256, 1e-4f, 0.8054, 0.0208},
        {"elu+1 sigma=1", 1.0, 2, 0, 0.0f, 0.7810, 0.0208},
        {"elu+1 sigma=.5", 0.5, 2, 0, 0.0f, 0.2419, 0.0173},
        {"Linformer xavier k=64 sigma=1", 1.0, 3, 64, 0.0f, 2.5793, 0.0757},
        {"Linformer xavier k=128 sigma=.5", 0.5, 3, 128, 0.0f, 2.1120, 0.1680},
    };
    const int n = 512, d = 64, dv = 64, seeds = 3;
    float *exact = malloc((size_t)n * dv * sizeof(float)), *approx = malloc((size_t)n * dv * sizeof(float));
    size_t sc = effattn_favor_scratch(n, 256, dv);
    if (effattn_elu_scratch(n, d, dv) > sc) sc = effattn_elu_scratch(n, d, dv);
    if (effattn_linformer_scratch(128, d, dv) > sc) sc = effattn_linformer_scratch(128, d, dv);
    float *s = malloc(sc * sizeof(float)), *W = malloc((size_t)256 * d * sizeof(float));
    float *E = malloc((size_t)128 * n * sizeof(float)), *F = malloc((size_t)128 * n * sizeof(float));
    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
        const ErrRow *e = &rows[ri];
        double sum = 0;
        for (int sd = 0; sd < seeds; sd++) {
            unsigned long seed = 1000 + 10 * (unsigned long)sd;
            float *Q = gaussian((size_t)n * d, seed, e->sigma), *K = gaussian((size_t)n * d, seed + 1, e->sigma);
            float *V = gaussian((size_t)n * dv, seed + 2, 1.0);
            effattn_exact(Q, K, V, n, d, dv, 1.0f / 8.0f, 0, exact, s);
            if (e->kind <= 1) {
                ck_assert_int_eq(effattn_favor_matrix(W, e->size, d, e->kind == 0, 0, seed + 3), 0);
                effattn_favor(Q, K, V, W, n, d, dv, e->size, 0, e->eps, EFFATTN_FAVOR_CAUSAL_EPS, approx, s);
            } else if (e->kind == 2) {
                effattn_elu(Q, K, V, n, d, dv, 0, EFFATTN_LINEAR_EPS, approx, s);
            } else {
                effattn_linformer_init(E, e->size, n, seed + 3);
                effattn_linformer_init(F, e->size, n, seed + 4);
                ck_assert_int_eq(effattn_linformer(Q, K, V, E, F, n, n, d, dv, e->size, 1.0f / 8.0f, 0,
                                                   approx, s), 0);
            }
            sum += rel_frobenius(approx, exact, (size_t)n * dv);
            free(Q);
            free(K);
            free(V);
        }
        double mean = sum / seeds, tol = 3 * e->std / sqrt((double)seeds) + 0.05 * e->mean;
        ck_assert_msg(fabs(mean - e->mean) <= tol, "%s: mean error %.4f, table %.4f +- %.4f", e->what,
                      mean, e->mean, tol);
    }
    free(exact);
    free(approx);
    free(s);
    free(W);
    free(E);
    free(F);
}
END_TEST

/* ---- Linformer and Synthesizer against naive formulas ---- */

START_TEST(test_linformer_and_synthesizer)
{
    int n = 12, d = 6, dv = 3, k = 4, nmax = 20;
    float *Q = gaussian((size_t)n * d, 5, 1), *K = gaussian((size_t)n * d, 6, 1), *V = gaussian((size_t)n * dv, 7, 1);
    float *E = malloc((size_t)k * nmax * sizeof(float)), *F = malloc((size_t)k * nmax * sizeof(float));
    effattn_linformer_init(E, k, nmax, 1);
    effattn_linformer_init(F, k, nmax, 2);
    double bound = sqrt(0.5) * sqrt(6.0 / (nmax + k));
    for (int i = 0; i < k * nmax; i++) ck_assert(fabs(E[i]) <= bound);
    float *o = malloc((size_t)n * dv * sizeof(float)), *s = malloc(effattn_linformer_scratch(k, d, dv) * sizeof(float));
    float scale = 1 / sqrtf((float)d);
    for (int causal = 0; causal < 2; causal++) {
        ck_assert_int_eq(effattn_linformer(Q, K, V, E, F, nmax, n, d, dv, k, scale, causal, o, s), 0);
        for (int i = 0; i < n; i++) {
            int lim = causal ? i + 1 : n;   /* truncation of E, F to the visible prefix */
            double kp[4][6] = {{0}}, vp[4][3] = {{0}}, a[4], mx = -1e300, z = 0;
            for (int c = 0; c < k; c++) {
                for (int j = 0; j < lim; j++) {
                    for (int t = 0; t < d; t++) kp[c][t] += (double)E[c * nmax + j] * K[j * d + t];
                    for (int t = 0; t < dv; t++) vp[c][t] += (double)F[c * nmax + j] * V[j * dv + t];
                }
                a[c] = 0;
                for (int t = 0; t < d; t++) a[c] += Q[i * d + t] * kp[c][t] * scale;
                mx = a[c] > mx ? a[c] : mx;
            }
            for (int c = 0; c < k; c++) z += (a[c] = exp(a[c] - mx));
            for (int t = 0; t < dv; t++) {
                double y = 0;
                for (int c = 0; c < k; c++) y += a[c] / z * vp[c][t];
                ck_assert_msg(fabs(y - o[i * dv + t]) < 1e-5, "causal %d row %d", causal, i);
            }
        }
    }
    ck_assert_int_eq(effattn_linformer(Q, K, V, E, F, 8, n, d, dv, k, scale, 0, o, s), ERR_ARG);
    ck_assert_int_eq(effattn_linformer(Q, K, V, E, F, nmax, n, d, dv, 0, scale, 0, o, s), ERR_ARG);

    /* Synthesizer dense: the MLP written out */
    int h = 5, l = 16;
    float *W1 = gaussian((size_t)h * d, 8, 0.5), *b1 = gaussian((size_t)h, 9, 0.5);
    float *W2 = gaussian((size_t)l * h, 10, 0.5), *b2 = gaussian((size_t)l, 11, 0.5);
    SynthDense sy = {.l = l, .dx = d, .h = h, .W1 = W1, .b1 = b1, .W2 = W2, .b2 = b2};
    float *ss = malloc((size_t)(h + l) * sizeof(float)), w[16];
    for (int causal = 0; causal < 2; causal++) {
        ck_assert_int_eq(effattn_synth_dense(&sy, Q, V, n, dv, causal, o, ss), 0);
        for (int i = 0; i < n; i += 5) {
            int lim = causal ? i + 1 : n;
            double hid[5], lg[16], mx = -1e300, z = 0;
            for (int u = 0; u < h; u++) {
                hid[u] = b1[u];
                for (int t = 0; t < d; t++) hid[u] += (double)W1[u * d + t] * Q[i * d + t];
                hid[u] = hid[u] > 0 ? hid[u] : 0;
            }
            for (int j = 0; j < lim; j++) {
                lg[j] = b2[j];
                for (int u = 0; u < h; u++) lg[j] += (double)W2[j * h + u] * hid[u];
                mx = lg[j] > mx ? lg[j] : mx;
            }
            for (int j = 0; j < lim; j++) z += (lg[j] = exp(lg[j] - mx));
            ck_assert_int_eq(effattn_synth_dense_row_weights(&sy, Q, n, causal, i, w, ss), 0);
            for (int j = 0; j < n; j++) ck_assert(fabs((j < lim ? lg[j] / z : 0) - w[j]) < 1e-6);
            for (int t = 0; t < dv; t++) {
                double y = 0;
                for (int j = 0; j < lim; j++) y += lg[j] / z * V[j * dv + t];
                ck_assert(fabs(y - o[i * dv + t]) < 1e-5);
            }
        }
    }
    ck_assert_int_eq(effattn_synth_dense(&sy, Q, V, 17, dv, 0, o, ss), ERR_ARG);
    /* Synthesizer random: rows are softmax(R[i][:n]) whatever the input */
    float *R = gaussian((size_t)l * l, 12, 1.0);
    ck_assert_int_eq(effattn_synth_random(R, l, V, n, dv, 1, o, ss), 0);
    ck_assert(max_abs_diff(o, V, (size_t)dv) < 1e-6);   /* row 0 causal sees only token 0 */
    ck_assert_int_eq(effattn_synth_random_row_weights(R, l, n, 0, 3, w), 0);
    double tot = 0;
    for (int j = 0; j < n; j++) tot += w[j];
    ck_assert(fabs(tot - 1) < 1e-6);
    ck_assert_int_eq(effattn_synth_random(R, l, V, 17, dv, 0, o, ss), ERR_ARG);
    free(Q);
    free(K);
    free(V);
    free(E);
    free(F);
    free(o);
    free(s);
    free(W1);
    free(b1);
    free(W2);
    free(b2);
    free(ss);
    free(R);
}
END_TEST

/* ---- the sparse kernel's tiles ---- */

/* Tiles (rows whose ranges slide together, multiplied through sgemm in pieces) and single
 * rows must both give exact attention under the dense mask.  Sizes make tiles of many rows
 * and several pieces (d = 64), and odd widths (d = 20, dv = 12) leave remainders in the
 * eight-wide loops.  Tolerance: the kernel works in float32 (the oracle sums its dot products
 * in double but stores weights and outputs as floats), and an output is a weighted mean of
 * values |v| < 4.5 (checked), whose float spacing is 2^-22 = 2.4e-7; 2e-6 is eight of those.
 * Measured worst: 1.3e-6. */
START_TEST(test_sparse_tiles)
{
    const int n = 700;
    const int dims[2][2] = {{64, 64}, {20, 12}};
    const char *specs[] = {"window w=256", "window w=37", "longformer w=64 g=0,350", "block b=40",
                           "dilated w=8 d=3", "bigbird w=32 g=0,1 r=4", "full",
                           "deepspeed class=Fixed block=20", "global g=5,600"};
    unsigned char *mask = malloc((size_t)n * n);
    float *o1 = malloc((size_t)n * 64 * sizeof(float)), *o2 = malloc((size_t)n * 64 * sizeof(float));
    float *ex = malloc((size_t)n * sizeof(float)), *row = malloc(64 * sizeof(float));
    for (int di = 0; di < 2; di++) {
        int d = dims[di][0], dv = dims[di][1];
        float scale = 1.0f / sqrtf((float)d);
        float *Q = gaussian((size_t)n * d, 31, 1.0), *K = gaussian((size_t)n * d, 32, 1.0);
        float *V = gaussian((size_t)n * dv, 33, 1.0);
        for (int i = 0; i < n * dv; i++) ck_assert(fabsf(V[i]) < 4.5f);
        for (size_t si = 0; si < sizeof specs / sizeof specs[0]; si++)
            for (int causal = 0; causal < 2; causal++) {
                Pattern *p;
                ck_assert_msg(pattern_parse(specs[si], n, causal, 4, &p) == 0, "%s: %s", specs[si], err_msg());
                pattern_dense(p, mask);
                size_t ws = effattn_sparse_scratch(p);
                float *w = malloc(ws * sizeof(float));
                ck_assert_int_eq(effattn_sparse(p, Q, K, V, n, d, dv, scale, o1, w, ws), 0);
                effattn_exact_masked(Q, K, V, n, d, dv, scale, mask, o2, ex);
                double e = max_abs_diff(o1, o2, (size_t)n * dv);
                ck_assert_msg(e <= 2e-6, "d=%d %s causal=%d: %g", d, specs[si], causal, e);
                /* the single-row path on every row */
                for (int q = 0; q < n; q++) {
                    effattn_sparse_row(p, q, n, Q + (size_t)q * d, K, d, V, dv, d, dv, scale, row, w, NULL);
                    e = max_abs_diff(row, o1 + (size_t)q * dv, (size_t)dv);
                    ck_assert_msg(e <= 2e-6, "d=%d %s causal=%d row %d: %g", d, specs[si], causal, q, e);
                }
                free(w);
                pattern_free(p);
            }
        free(Q);
        free(K);
        free(V);
    }
    free(mask);
    free(o1);
    free(o2);
    free(ex);
    free(row);
}
END_TEST

/* ---- SVD ---- */

START_TEST(test_singular_values)
{
    /* a permuted diagonal: singular values 3, 2, 0.5 */
    float A[9] = {0, 2, 0, 0, 0, -0.5f, 3, 0, 0};
    double sv[3];
    ck_assert_int_eq(effattn_singular_values(A, 3, 3, sv), 0);
    ck_assert(fabs(sv[0] - 3) < 1e-6 && fabs(sv[1] - 2) < 1e-6 && fabs(sv[2] - 0.5) < 1e-6);
    /* wide matrices go through the transpose */
    float B[6] = {3, 0, 0, 0, 4, 0};
    ck_assert_int_eq(effattn_singular_values(B, 2, 3, sv), 0);
    ck_assert(fabs(sv[0] - 4) < 1e-6 && fabs(sv[1] - 3) < 1e-6);
    /* uniform attention (all queries zero) is rank one with singular value 1 */
    int n = 16, d = 4;
    float *Q = calloc((size_t)n * d, sizeof(float)), *K = gaussian((size_t)n * d, 1, 1.0);
    float *M = malloc((size_t)n * n * sizeof(float));
    double *s = malloc((size_t)n * sizeof(double));
    effattn_attention_matrix(Q, K, n, d, 0.5f, 0, M);
    ck_assert_int_eq(effattn_singular_values(M, n, n, s), 0);
    ck_assert(fabs(s[0] - 1) < 1e-5);
    ck_assert(s[1] < 1e-5);
    ck_assert_int_eq(effattn_rank_for_energy(s, n, 0.99), 1);
    /* a causal attention matrix is triangular with a full diagonal: full rank */
    effattn_attention_matrix(K, K, n, d, 0.5f, 1, M);
    ck_assert_int_eq(effattn_singular_values(M, n, n, s), 0);
    ck_assert(s[n - 1] > 1e-4);
    for (int i = 1; i < n; i++) ck_assert(s[i] <= s[i - 1]);
    ck_assert_int_eq(effattn_singular_values(M, 0, n, s), ERR_ARG);
    free(Q);
    free(K);
    free(M);
    free(s);
}
END_TEST

/* ---- the runtime object ---- */

START_TEST(test_effattn_object)
{
    int n = 24, d = 8, dv = 4, nmax = 32;
    float *Q = gaussian((size_t)n * d, 21, 0.7), *K = gaussian((size_t)n * d, 22, 0.7), *V = gaussian((size_t)n * dv, 23, 1);
    float *o = malloc((size_t)n * dv * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
    Pattern *pat;
    ck_assert_int_eq(pattern_alloc_window(&pat, nmax, 5, 1), 0);
    const char *texts[] = {"exact", "sparse", "linformer 6", "linformer k=6 seed=3", "performer 16",
                           "performer m=16 iid eps=0", "performer scaling=1", "linear", "linear eps=0.001",
                           "synthesizer dense h=6", "synthesizer random"};
    const char *names[] = {"exact", "sparse", "linformer k=6 seed=9", "linformer k=6 seed=3",
                           "performer m=16 eps=0.0001 seed=9", "performer m=16 iid eps=0 seed=9",
                           "performer m=16 eps=0.0001 seed=9", "linear elu+1 eps=1e-06",
                           "linear elu+1 eps=0.001", "synthesizer dense h=6 seed=9",
                           "synthesizer random seed=9"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        Effattn *e;
        ck_assert_msg(effattn_parse(texts[i], d, nmax, 9, &e) == 0, "%s: %s", texts[i], err_msg());
        ck_assert_str_eq(e->name, names[i]);
        if (e->kind == EFFATTN_SPARSE) {
            float *s0 = malloc(effattn_scratch_floats(e, n, dv) * sizeof(float));
            ck_assert_int_eq(effattn_forward(e, Q, K, V, n, dv, 1, o, s0), ERR_ARG);   /* no pattern */
            free(s0);
            e->pattern = pat;
        }
        float *s = malloc(effattn_scratch_floats(e, n, dv) * sizeof(float));
        for (int causal = 0; causal < 2; causal++) {
            ck_assert_int_eq(effattn_forward(e, Q, K, V, n, dv, causal, o, s), 0);
            /* the implied weights of every row reproduce its output */
            for (int q = 0; q < n; q++) {
                ck_assert_int_eq(effattn_row_weights(e, Q, K, n, causal, q, w, s), 0);
                for (int t = 0; t < dv; t++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += (double)w[j] * V[(size_t)j * dv + t];
                    ck_assert_msg(fabs(acc - o[(size_t)q * dv + t]) <= 2e-5, "%s causal %d row %d: %g vs %g",
                                  texts[i], causal, q, acc, o[(size_t)q * dv + t]);
                }
                if (causal)
                    for (int j = q + 1; j < n; j++) ck_assert_msg(w[j] == 0, "%s: future weight", texts[i]);
            }
        }
        ck_assert_int_eq(effattn_row_weights(e, Q, K, n, 0, n, w, s), ERR_ARG);
        if (e->kind == EFFATTN_LINFORMER || e->kind == EFFATTN_SYNTH_DENSE || e->kind == EFFATTN_SYNTH_RANDOM) {
            float *big = calloc((size_t)(nmax + 1) * d, sizeof(float));
            ck_assert_int_eq(effattn_forward(e, big, big, big, nmax + 1, dv, 0, o, s), ERR_ARG);
            ck_assert_ptr_nonnull(strstr(err_msg(), "cover"));
            free(big);
        }
        free(s);
        effattn_free(e);
    }
    /* exact through the object is the exact kernel */
    Effattn *e;
    ck_assert_int_eq(effattn_parse("exact", d, nmax, 0, &e), 0);
    float *s = malloc(effattn_scratch_floats(e, n, dv) * sizeof(float)), *o2 = malloc((size_t)n * dv * sizeof(float));
    effattn_forward(e, Q, K, V, n, dv, 1, o, s);
    effattn_exact(Q, K, V, n, d, dv, 1 / sqrtf((float)d), 1, o2, s);
    ck_assert(max_abs_diff(o, o2, (size_t)n * dv) == 0);
    effattn_free(e);
    /* same seed, same performer; another seed, other features */
    Effattn *a, *b;
    ck_assert_int_eq(effattn_parse("performer 16 seed=5", d, nmax, 0, &a), 0);
    ck_assert_int_eq(effattn_parse("performer 16", d, nmax, 5, &b), 0);
    ck_assert_int_eq(memcmp(a->W, b->W, (size_t)16 * d * sizeof(float)), 0);
    effattn_free(b);
    ck_assert_int_eq(effattn_parse("performer 16", d, nmax, 6, &b), 0);
    ck_assert_int_ne(memcmp(a->W, b->W, (size_t)16 * d * sizeof(float)), 0);
    effattn_free(a);
    effattn_free(b);
    ck_assert_int_eq(effattn_parse("performer", d, nmax, 0, &a), 0);
    ck_assert_int_eq(a->m, (int)(d * log((double)d)));   /* performer's default nb_features */
    effattn_free(a);
    effattn_free(NULL);

    struct { const char *text; const char *needle; } bad[] = {
        {"", "no kernel"},
        {"warp", "unknown kernel 'warp'"},
        {"linformer", "needs k"},
        {"linformer 0", "size >= 1"},
        {"performer m=0", "m=0"},
        {"performer q=3", "no parameter 'q'"},
        {"performer eps=-1", "eps=-1"},
        {"performer scaling=3", "scaling=3"},
        {"synthesizer", "dense or random"},
        {"synthesizer dense h=0", "h=0"},
        {"linear 5", "expected name=value"},
        {"exact seed=x", "seed=x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Effattn *x = NULL;
        err_clear();
        ck_assert_msg(effattn_parse(bad[i].text, d, nmax, 0, &x) == ERR_ARG, "'%s' accepted", bad[i].text);
        ck_assert_msg(strstr(err_msg(), bad[i].needle) != NULL, "'%s': '%s'", bad[i].text, err_msg());
        ck_assert_ptr_null(x);
    }
    ck_assert_int_eq(effattn_parse("exact", 0, nmax, 0, &a), ERR_ARG);
    pattern_free(pat);
    free(Q);
    free(K);
    free(V);
    free(o);
    free(o2);
    free(w);
    free(s);
}
END_TEST

int main(void)
{
    err_install_gsl_handler();
    Suite *s = suite_create("effattn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_kernel_oracle);
    tcase_add_test(tc, test_case_errors);
    tcase_add_test(tc, test_prefix_equals_quadratic);
    tcase_add_test(tc, test_streamed_equals_quadratic);
    tcase_add_test(tc, test_linformer_blocks);
    tcase_add_test(tc, test_favor_matrix);
    tcase_add_test(tc, test_approx_error_ranges);
    tcase_add_test(tc, test_linformer_and_synthesizer);
    tcase_add_test(tc, test_sparse_tiles);
    tcase_add_test(tc, test_singular_values);
    tcase_add_test(tc, test_effattn_object);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
