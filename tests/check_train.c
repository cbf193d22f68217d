/* Tests for training: every backward kernel against central finite differences of a
 * double-precision twin of its forward; the whole model against a double-precision GPT-2
 * twin and against PyTorch's loss and gradient norms on the tiny GPT-2 in ../shared;
 * AdamW, clipping, the schedule and accumulation by hand; loss going down; checkpoints
 * that resume bit for bit; and every error path. */
#include <check.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/model.h"
#include "engine/model_io.h"
#include "engine/ops.h"
#include "engine/ops_backward.h"
#include "engine/safetensors.h"
#include "engine/sampler.h"
#include "engine/train.h"
#include "engine/vmath.h"
#include "tests/util/oracle.h"
#include "tests/util/testutil.h"

static gsl_rng *rng_new(unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

static void fill(gsl_rng *r, float *x, size_t n, double sd)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian(r, sd);
}

static float *fmalloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* Compares an analytic gradient with a numeric one: |a - n| <= tol * max(1, max|n|)
 * element by element (the scale keeps near-zero entries from failing on rounding). */
static void check_grad(const char *what, const float *a, const double *num, size_t n, double tol)
{
    double scale = 1e-3;
    for (size_t i = 0; i < n; i++) if (fabs(num[i]) > scale) scale = fabs(num[i]);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - num[i]);
        ck_assert_msg(d <= tol * scale && !isnan(a[i]), "%s[%zu]: analytic %.9g numeric %.9g (scale %.3g)",
                      what, i, (double)a[i], num[i], scale);
    }
}

/* ---- double twins of the forwards ---- */

static void layernorm_d(double *out, const double *x, const double *w, const double *b, int N, int C, double eps)
{
    for (int n = 0; n < N; n++) {
        const double *xr = x + (size_t)n * C;
        double m = 0, v = 0;
        for (int i = 0; i < C; i++) m += xr[i];
        m /= C;
        for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= C;
        double s = 1.0 / sqrt(v + eps);
        for (int i = 0; i < C; i++) out[(size_t)n * C + i] = (xr[i] - m) * s * w[i] + b[i];
    }
}

/* out (N, out) = x . Weff + b with W stored per layout and ld */
static void matmul_d(double *out, const double *x, const double *w, const double *b, int N, int in,
                     int outd, int ld, WeightLayout layout)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < outd; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++)
                acc += x[(size_t)n * in + i] * (layout == W_OUT_IN ? w[(size_t)o * ld + i] : w[(size_t)i * ld + o]);
            out[(size_t)n * outd + o] = acc;
        }
}

static double gelu_d(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

static void attention_d(double *out, const double *qkv, int B, int T, int C, int NH)
{
    const int HS = C / NH;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *q = qkv + ((size_t)b * T + t) * 3 * C + h * HS;
                double sc[T], mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    const double *k = qkv + ((size_t)b * T + j) * 3 * C + C + h * HS;
                    double d = 0;
                    for (int i = 0; i < HS; i++) d += q[i] * k[i];
                    sc[j] = d / sqrt((double)HS);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= t; j++) { sc[j] = exp(sc[j] - mx); sum += sc[j]; }
                for (int i = 0; i < HS; i++) {
                    double acc = 0;
                    for (int j = 0; j <= t; j++) acc += sc[j] / sum * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * HS + i];
                    out[((size_t)b * T + t) * C + h * HS + i] = acc;
                }
            }
}

static double *to_d(const float *x, size_t n)
{
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static double dot_d(const double *a, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * r[i];
    return s;
}

#define FD_H 1e-6

/* ---- the vectorised exp ---- */

START_TEST(test_vmath_exp)
{
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        const float x = -87.0f + 175.0f * (float)i / 200000.0f;
        const double want = exp((double)x), got = vmath_exp(x);
        const double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
    }
    ck_assert_msg(worst < 4e-7, "vmath_exp relative error %g", worst);
    ck_assert(vmath_exp(0.0f) == 1.0f);
    ck_assert(vmath_exp(-1000.0f) > 0.0f && isfinite(vmath_exp(1000.0f)));   /* clamped */
    /* the SSE path and the scalar tail agree bit for bit; the sum and the max are right */
    float x[37], y[37];
    for (int i = 0; i < 37; i++) x[i] = y[i] = 3.7f * sinf((float)i * 1.3f);
    const float mx = vmath_max(x, 37);
    float want_max = x[0];
    for (int i = 1; i < 37; i++) if (x[i] > want_max) want_max = x[i];
    ck_assert(mx == want_max);
    const float sum = vmath_exp_shift_sum(x, 37, mx);
    double s = 0;
    for (int i = 0; i < 37; i++) {
        const float e = vmath_exp(y[i] - mx);
        ck_assert_msg(memcmp(&e, &x[i], sizeof e) == 0, "element %d: %.9g vs %.9g", i, (double)x[i], (double)e);
        s += e;
    }
    ck_assert(fabs(sum - s) < 1e-6 * s);
    ck_assert(vmath_max(x, 1) == x[0]);
}
END_TEST

/* ---- kernels against finite differences ---- */

START_TEST(test_layernorm_backward)
{
    gsl_rng *r = rng_new(11);
    const int N = 5, C = 13;
    float *x = fmalloc(N * C), *w = fmalloc(C), *b = fmalloc(C), *out = fmalloc(N * C), *dout = fmalloc(N * C);
    float *mean = fmalloc(N), *rstd = fmalloc(N), *dx = fmalloc(N * C), *dw = fmalloc(C), *db = fmalloc(C);
    fill(r, x, N * C, 1.7); fill(r, w, C, 1.0); fill(r, b, C, 0.5); fill(r, dout, N * C, 1.0);
    for (int i = 0; i < N * C; i++) dx[i] = 0.25f;   /* dinp accumulates: start from 0.25 */
    layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
    layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, C);
    double *xd = to_d(x, N * C), *wd = to_d(w, C), *bd = to_d(b, C), *od = malloc(sizeof(double) * N * C);
    double *num = malloc(sizeof(double) * N * C);
    double *ps[3] = {xd, wd, bd};
    const float *an[3] = {dx, dw, db};
    const int sz[3] = {N * C, C, C};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < sz[k]; i++) {
            double save = ps[k][i];
            ps[k][i] = save + FD_H;
            layernorm_d(od, xd, wd, bd, N, C, 1e-5);
            double lp = dot_d(od, dout, N * C);
            ps[k][i] = save - FD_H;
            layernorm_d(od, xd, wd, bd, N, C, 1e-5);
            double lm = dot_d(od, dout, N * C);
            ps[k][i] = save;
            num[i] = (lp - lm) / (2 * FD_H) + (k == 0 ? 0.25 : 0.0);
        }
        check_grad(k == 0 ? "layernorm dinp" : k == 1 ? "layernorm dweight" : "layernorm dbias", an[k], num, sz[k], 1e-5);
    }
    free(x); free(w); free(b); free(out); free(dout); free(mean); free(rstd); free(dx); free(dw); free(db);
    free(xd); free(wd); free(bd); free(od); free(num);
    gsl_rng_free(r);
}
END_TEST

START_TEST(test_matmul_backward_layouts)
{
    gsl_rng *r = rng_new(12);
    const int N = 4, in = 7, outd = 5, pad = 3;
    for (int layout = 0; layout < 2; layout++) {
        const int ld = (layout == W_OUT_IN ? in : outd) + pad, rows = layout == W_OUT_IN ? outd : in;
        const size_t nw = (size_t)rows * ld;
        float *x = fmalloc(N * in), *w = fmalloc(nw), *b = fmalloc(outd), *dout = fmalloc(N * outd);
        float *dx = fmalloc(N * in), *dw = fmalloc(nw), *db = fmalloc(outd);
        fill(r, x, N * in, 1.0); fill(r, w, nw, 0.5); fill(r, b, outd, 0.3); fill(r, dout, N * outd, 1.0);
        for (size_t i = 0; i < nw; i++) dw[i] = 0.5f;   /* dweight accumulates, padding untouched */
        for (int i = 0; i < outd; i++) db[i] = -0.125f;
        for (int i = 0; i < N * in; i++) dx[i] = 99.0f; /* dinp is overwritten */
        Linear lin = {.w = w, .b = b, .in = in, .out = outd, .ld = ld, .layout = (WeightLayout)layout};
        matmul_backward(dx, dw, db, dout, x, &lin, N);
        double *xd = to_d(x, N * in), *wd = to_d(w, nw), *bd = to_d(b, outd), *od = malloc(sizeof(double) * N * outd);
        double *num = malloc(sizeof(double) * nw);
        double *ps[3] = {xd, wd, bd};
        const float *an[3] = {dx, dw, db};
        const size_t sz[3] = {(size_t)N * in, nw, (size_t)outd};
        const double base[3] = {0.0, 0.5, -0.125};
        for (int k = 0; k < 3; k++) {
            for (size_t i = 0; i < sz[k]; i++) {
                double save = ps[k][i];
                ps[k][i] = save + FD_H;
                matmul_d(od, xd, wd, bd, N, in, outd, ld, (WeightLayout)layout);
                double lp = dot_d(od, dout, (size_t)N * outd);
                ps[k][i] = save - FD_H;
                matmul_d(od, xd, wd, bd, N, in, outd, ld, (WeightLayout)layout);
                double lm = dot_d(od, dout, (size_t)N * outd);
                ps[k][i] = save;
                num[i] = (lp - lm) / (2 * FD_H) + base[k];  /* padding: derivative 0, stays 0.5 */
            }
            char what[64];
            snprintf(what, sizeof what, "matmul layout %d part %d", layout, k);
            check_grad(what, an[k], num, sz[k], 1e-5);
        }
        free(x); free(w); free(b); free(dout); free(dx); free(dw); free(db);
        free(xd); free(wd); free(bd); free(od); free(num);
    }
    gsl_rng_free(r);
}
END_TEST

/* A column block of a fused (in, 3*out) matrix, as HF's c_attn holds q, k, v. */
START_TEST(test_matmul_backward_fused_block)
{
    gsl_rng *r = rng_new(13);
    const int N = 3, in = 6, outd = 4, ld = 3 * outd;
    float *x = fmalloc(N * in), *w = fmalloc(in * ld), *dout = fmalloc(N * outd);
    float *dw = fmalloc(in * ld), *dx = fmalloc(N * in);
    fill(r, x, N * in, 1.0); fill(r, w, in * ld, 1.0); fill(r, dout, N * outd, 1.0);
    Linear k = {.w = w + outd, .b = NULL, .in = in, .out = outd, .ld = ld, .layout = W_IN_OUT};
    matmul_backward(dx, dw + outd, NULL, dout, x, &k, N);
    for (int i = 0; i < in; i++)
        for (int c = 0; c < ld; c++) {
            double want = 0;
            if (c >= outd && c < 2 * outd)
                for (int n = 0; n < N; n++) want += (double)x[n * in + i] * dout[n * outd + c - outd];
            ck_assert_msg(fabs(dw[i * ld + c] - want) < 1e-5, "dW[%d,%d] %g want %g", i, c, (double)dw[i * ld + c], want);
        }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < in; i++) {
            double want = 0;
            for (int o = 0; o < outd; o++) want += (double)dout[n * outd + o] * w[i * ld + outd + o];
            ck_assert(fabs(dx[n * in + i] - want) < 1e-5);
        }
    free(x); free(w); free(dout); free(dw); free(dx);
    gsl_rng_free(r);
}
END_TEST

START_TEST(test_gelu_backward)
{
    gsl_rng *r = rng_new(14);
    const int N = 257;
    float *x = fmalloc(N), *dout = fmalloc(N), *dx = fmalloc(N), *y = fmalloc(N);
    fill(r, x, N, 2.5);
    x[0] = 0.0f; x[1] = -6.0f; x[2] = 6.0f;
    fill(r, dout, N, 1.0);
    gelu_forward(y, x, N);
    for (int i = 0; i < N; i++) ck_assert(fabs(y[i] - gelu_d(x[i])) < 1e-6);
    gelu_backward(dx, x, NULL, dout, N);
    double *num = malloc(sizeof(double) * N);
    for (int i = 0; i < N; i++) num[i] = (gelu_d((double)x[i] + FD_H) - gelu_d((double)x[i] - FD_H)) / (2 * FD_H) * dout[i];
    check_grad("gelu", dx, num, N, 1e-5);
    /* the training forward: same values, and its saved tanh gives the same backward, in
     * place as the trainer calls it */
    float *y2 = fmalloc(N), *th = fmalloc(N);
    gelu_forward_train(y2, th, x, N);
    for (int i = 0; i < N; i++) ck_assert_msg(fabs(y2[i] - y[i]) <= 3e-7 * (1 + fabs(y[i])), "gelu_forward_train[%d]", i);
    memcpy(dx, dout, sizeof(float) * N);
    gelu_backward(dx, x, th, dx, N);
    check_grad("gelu in place", dx, num, N, 1e-5);
    free(y2); free(th);
    free(x); free(dout); free(dx); free(y); free(num);
    gsl_rng_free(r);
}
END_TEST

START_TEST(test_residual_backward)
{
    float da[3] = {1, 2, 3}, db[3] = {0}, d[3] = {0.5f, -1, 2};
    residual_backward(da, db, d, 3);
    ck_assert(da[0] == 1.5f && da[1] == 1 && da[2] == 5);
    ck_assert(db[0] == 0.5f && db[1] == -1 && db[2] == 2);
    residual_backward(NULL, db, d, 3);
    ck_assert(db[2] == 4);
}
END_TEST

START_TEST(test_attention_backward)
{
    gsl_rng *r = rng_new(15);
    const int B = 2, T = 5, C = 8, NH = 2;
    const size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C;
    float *qkv = fmalloc(nq), *out = fmalloc(no), *att = fmalloc((size_t)B * NH * T * T);
    float *dout = fmalloc(no), *dqkv = fmalloc(nq), *scratch = fmalloc(T * T);
    fill(r, qkv, nq, 1.2);
    fill(r, dout, no, 1.0);
    attention_forward_train(out, att, qkv, B, T, C, NH);
    double *qd = to_d(qkv, nq), *od = malloc(sizeof(double) * no), *num = malloc(sizeof(double) * nq);
    attention_d(od, qd, B, T, C, NH);
    for (size_t i = 0; i < no; i++) ck_assert_msg(fabs(out[i] - od[i]) < 1e-5, "out[%zu]", i);
    for (int b = 0; b < B; b++)   /* rows of probabilities sum to 1, zero above the diagonal */
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *row = att + (((size_t)b * NH + h) * T + t) * T;
                double s = 0;
                for (int j = 0; j < T; j++) { s += row[j]; if (j > t) ck_assert(row[j] == 0.0f); }
                ck_assert(fabs(s - 1) < 1e-6);
            }
    for (size_t i = 0; i < nq; i++) dqkv[i] = 42.0f;   /* overwritten */
    attention_backward(dqkv, dout, qkv, att, scratch, B, T, C, NH);
    for (size_t i = 0; i < nq; i++) {
        double save = qd[i];
        qd[i] = save + FD_H;
        attention_d(od, qd, B, T, C, NH);
        double lp = dot_d(od, dout, no);
        qd[i] = save - FD_H;
        attention_d(od, qd, B, T, C, NH);
        double lm = dot_d(od, dout, no);
        qd[i] = save;
        num[i] = (lp - lm) / (2 * FD_H);
    }
    check_grad("attention dqkv", dqkv, num, nq, 1e-5);
    free(qkv); free(out); free(att); free(dout); free(dqkv); free(scratch); free(qd); free(od); free(num);
    gsl_rng_free(r);
}
END_TEST

static double ce_d(const double *x, const int *tg, int N, int V, int Vp)
{
    double tot = 0;
    int cnt = 0;
    for (int n = 0; n < N; n++) {
        if (tg[n] < 0) continue;
        const double *row = x + (size_t)n * Vp;
        double mx = row[0], s = 0;
        for (int i = 1; i < V; i++) if (row[i] > mx) mx = row[i];
        for (int i = 0; i < V; i++) s += exp(row[i] - mx);
        tot += log(s) - (row[tg[n]] - mx);
        cnt++;
    }
    return tot / cnt;
}

START_TEST(test_crossentropy_backward)
{
    gsl_rng *r = rng_new(16);
    const int N = 4, V = 11, Vp = 16;
    int tg[4] = {3, -1, 10, 0};
    float *x = fmalloc(N * Vp), *losses = fmalloc(N);
    fill(r, x, N * Vp, 2.0);
    double *xd = to_d(x, N * Vp), *num = malloc(sizeof(double) * N * Vp);
    crossentropy_forward(x, losses, tg, N, V, Vp);
    double mean = (losses[0] + losses[2] + losses[3]) / 3.0;
    ck_assert_msg(fabs(mean - ce_d(xd, tg, N, V, Vp)) < 1e-5, "loss %g vs %g", mean, ce_d(xd, tg, N, V, Vp));
    ck_assert(losses[1] == 0.0f);
    for (int n = 0; n < N; n++) for (int i = V; i < Vp; i++) ck_assert(x[n * Vp + i] == 0.0f);
    crossentropy_backward(x, tg, 1.0f / 3.0f, N, V, Vp);
    for (int i = 0; i < N * Vp; i++) {
        double save = xd[i];
        xd[i] = save + FD_H;
        double lp = ce_d(xd, tg, N, V, Vp);
        xd[i] = save - FD_H;
        double lm = ce_d(xd, tg, N, V, Vp);
        xd[i] = save;
        num[i] = (lp - lm) / (2 * FD_H);
    }
    check_grad("crossentropy dlogits", x, num, N * Vp, 1e-5);
    free(x); free(losses); free(xd); free(num);
    gsl_rng_free(r);
}
END_TEST

START_TEST(test_encoder_backward)
{
    gsl_rng *r = rng_new(17);
    const int B = 2, T = 3, C = 4, V = 5;
    int tok[6] = {1, 4, 1, 1, 0, 4};   /* repeated tokens must add up */
    float *dout = fmalloc(B * T * C), *dwte = fmalloc(V * C), *dwpe = fmalloc(T * C);
    fill(r, dout, B * T * C, 1.0);
    encoder_backward(dwte, dwpe, dout, tok, B, T, C);
    for (int v = 0; v < V; v++)
        for (int i = 0; i < C; i++) {
            double want = 0;
            for (int n = 0; n < B * T; n++) if (tok[n] == v) want += dout[n * C + i];
            ck_assert(fabs(dwte[v * C + i] - want) < 1e-6);
        }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++)
            ck_assert(fabs(dwpe[t * C + i] - (dout[t * C + i] + dout[(T + t) * C + i])) < 1e-6);
    free(dout); free(dwte); free(dwpe);
    gsl_rng_free(r);
}
END_TEST

/* ---- the whole model ---- */

static ModelConfig tiny_config(void)
{
    ModelConfig c = model_config_default(ARCH_GPT2);
    c.n_layer = 2; c.n_head = 2; c.n_kv_head = 2; c.n_embd = 8; c.n_ctx = 8;
    c.vocab_size = 19; c.padded_vocab = 24; c.n_hidden = 32;
    return c;
}

/* A double-precision GPT-2 over the trainer's tensors (HF layout, in trainer order),
 * with one parameter perturbed: the loss of (inputs, targets) (B, T). */
static double model_loss_d(const Trainer *tr, const ModelConfig *c, const int *in, const int *tg,
                           int B, int T, int pk, size_t pi, double delta)
{
    const int L = c->n_layer, C = c->n_embd, H = c->n_hidden, NH = c->n_head, V = c->vocab_size;
    const int BT = B * T;
    double *P[64];
    int nt = trainer_n_tensors(tr);
    for (int k = 0; k < nt; k++) {
        const TrainParam *tp = trainer_tensor(tr, k);
        P[k] = to_d(tp->p, tp->n);
        if (k == pk) P[k][pi] += delta;
    }
    double *x = malloc(sizeof(double) * BT * C), *h = malloc(sizeof(double) * BT * C);
    double *qkv = malloc(sizeof(double) * BT * 3 * C), *y = malloc(sizeof(double) * BT * C);
    double *f = malloc(sizeof(double) * BT * H), *o = malloc(sizeof(double) * BT * C);
    for (int n = 0; n < BT; n++)
        for (int i = 0; i < C; i++) x[n * C + i] = P[0][in[n] * C + i] + P[1][(n % T) * C + i];
    for (int l = 0; l < L; l++) {
        double **p = P + 2 + 12 * l;
        layernorm_d(h, x, p[0], p[1], BT, C, c->norm_eps);
        matmul_d(qkv, h, p[2], p[3], BT, C, 3 * C, 3 * C, W_IN_OUT);
        for (int b = 0; b < B; b++) attention_d(y + b * T * C, qkv + b * T * 3 * C, 1, T, C, NH);
        matmul_d(o, y, p[4], p[5], BT, C, C, C, W_IN_OUT);
        for (int i = 0; i < BT * C; i++) x[i] += o[i];
        layernorm_d(h, x, p[6], p[7], BT, C, c->norm_eps);
        matmul_d(f, h, p[8], p[9], BT, C, H, H, W_IN_OUT);
        for (int i = 0; i < BT * H; i++) f[i] = gelu_d(f[i]);
        matmul_d(o, f, p[10], p[11], BT, H, C, C, W_IN_OUT);
        for (int i = 0; i < BT * C; i++) x[i] += o[i];
    }
    double **pf = P + 2 + 12 * L;
    layernorm_d(h, x, pf[0], pf[1], BT, C, c->norm_eps);
    double *logits = malloc(sizeof(double) * BT * c->padded_vocab);
    matmul_d(logits, h, P[0], NULL, BT, C, c->padded_vocab, C, W_OUT_IN);
    double loss = ce_d(logits, tg, BT, V, c->padded_vocab);
    for (int k = 0; k < nt; k++) free(P[k]);
    free(x); free(h); free(qkv); free(y); free(f); free(o); free(logits);
    return loss;
}

START_TEST(test_model_gradients_against_double_twin)
{
    ModelConfig c = tiny_config();
    TrainConfig tc = train_config_default();
    Trainer *tr;
    ck_assert_int_eq(trainer_alloc_random(&tr, &c, 5, &tc), 0);
    /* perturb the ones and zeros of the init so every tensor matters */
    gsl_rng *r = rng_new(18);
    for (int k = 0; k < trainer_n_tensors(tr); k++) {
        const TrainParam *tp = trainer_tensor(tr, k);
        for (size_t i = 0; i < tp->n; i++) tp->p[i] += (float)gsl_ran_gaussian(r, 0.3);
    }
    for (int i = c.vocab_size * c.n_embd; i < c.padded_vocab * c.n_embd; i++) trainer_tensor(tr, 0)->p[i] = 0.0f;
    const int B = 2, T = 6;
    int in[12], tg[12];
    for (int i = 0; i < B * T; i++) { in[i] = (int)gsl_rng_uniform_int(r, (unsigned long)c.vocab_size); tg[i] = (int)gsl_rng_uniform_int(r, (unsigned long)c.vocab_size); }
    tg[4] = -1;
    float loss;
    ck_assert_int_eq(trainer_forward(tr, in, tg, B, T, &loss), 0);
    double ld = model_loss_d(tr, &c, in, tg, B, T, -1, 0, 0);
    ck_assert_msg(fabs(loss - ld) < 1e-5 * ld, "loss %g vs double %g", (double)loss, ld);
    ck_assert_int_eq(trainer_backward(tr, 1.0f), 0);
    const double h = 1e-5;
    for (int k = 0; k < trainer_n_tensors(tr); k++) {
        const TrainParam *tp = trainer_tensor(tr, k);
        for (int s = 0; s < 6; s++) {
            size_t i = s == 0 ? 0 : gsl_rng_uniform_int(r, tp->n);
            if (k == 0) i = (size_t)in[s] * c.n_embd + (size_t)s;   /* wte: rows that are used */
            double lp = model_loss_d(tr, &c, in, tg, B, T, k, i, h);
            double lm = model_loss_d(tr, &c, in, tg, B, T, k, i, -h);
            double num = (lp - lm) / (2 * h);
            ck_assert_msg(fabs(tp->g[i] - num) < 2e-4 * fmax(fabs(num), 0.05),
                          "%s[%zu]: analytic %.8g numeric %.8g", tp->name, i, (double)tp->g[i], num);
        }
    }
    trainer_free(tr);
    gsl_rng_free(r);
}
END_TEST

/* The oracle line "grad_norm <name> <value>" and "grad <name> <values>" readers. */
static int oracle_norm(const char *text, const char *name, double *out)
{
    char key[160];
    snprintf(key, sizeof key, "\ngrad_norm %s ", name);
    const char *p = strstr(text, key);
    if (!p) return -1;
    *out = strtod(p + strlen(key), NULL);
    return 0;
}

START_TEST(test_oracle_loss_and_grad_norms)
{
    const char *dir = shared_path("models/gpt2-tiny", "training oracle (PyTorch loss and gradients)");
    const char *ids_path = shared_path("oracles/gpt2-tiny/rand40.ids", "training oracle ids");
    const char *og = shared_path("oracles/gpt2-tiny/loss_grad_rand40.txt", "training oracle gradients");
    if (!dir || !ids_path || !og) return;
    Model *m;
    ck_assert_msg(model_load(&m, dir, NULL) == 0, "%s", err_msg());
    int n;
    int *ids = oracle_read_ids(ids_path, &n);
    ck_assert_int_eq(n, 40);
    char *text = read_file(og, NULL);
    ck_assert_ptr_nonnull(text);
    double want_loss = strtod(strstr(text, "\nloss ") + 6, NULL);
    float loss;
    TrainGradNorms g = {0};
    ck_assert_msg(train_loss(m, ids, n, &loss, &g) == 0, "%s", err_msg());
    ck_assert_msg(fabs(loss - want_loss) <= 1e-5 * want_loss, "loss %.9g, PyTorch %.9g", (double)loss, want_loss);
    ck_assert_int_eq(g.n, 28);
    for (int i = 0; i < g.n; i++) {
        double want;
        ck_assert_msg(oracle_norm(text, g.names[i], &want) == 0, "no oracle norm for %s", g.names[i]);
        ck_assert_msg(fabs(g.norms[i] - want) <= 1e-4 * want, "%s: %.9g, PyTorch %.9g", g.names[i], g.norms[i], want);
    }
    train_grad_norms_done(&g);

    /* element values of a few gradients (ln_f, ln_1 of layer 0, a wte row, a wpe row) */
    Trainer *tr;
    ck_assert_int_eq(trainer_alloc(&tr, m, NULL), 0);
    ck_assert_int_eq(trainer_forward(tr, ids, ids + 1, 1, n - 1, &loss), 0);
    ck_assert_int_eq(trainer_backward(tr, 1.0f), 0);
    static const struct { const char *oracle, *tensor; int row; } rows[] = {
        {"ln_f.weight", "ln_f.weight", 0}, {"ln_f.bias", "ln_f.bias", 0},
        {"h.0.ln_1.weight", "h.0.ln_1.weight", 0}, {"h.0.attn.c_attn.bias", "h.0.attn.c_attn.bias", 0},
        {"wpe.weight[0]", "wpe.weight", 0}, {"wte.weight[31415]", "wte.weight", 31415},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        char key[96];
        snprintf(key, sizeof key, "\ngrad %s ", rows[k].oracle);
        const char *p = strstr(text, key);
        ck_assert_msg(p != NULL, "oracle lacks %s", rows[k].oracle);
        p += strlen(key);
        const TrainParam *tp = NULL;
        for (int i = 0; i < trainer_n_tensors(tr); i++)
            if (strcmp(trainer_tensor(tr, i)->name, rows[k].tensor) == 0) tp = trainer_tensor(tr, i);
        ck_assert_ptr_nonnull(tp);
        const size_t width = tp->ndim == 2 ? (size_t)tp->shape[1] : tp->n;
        const float *gv = tp->g + (size_t)rows[k].row * width;
        for (size_t i = 0; i < width; i++) {
            char *end;
            double want = strtod(p, &end);
            ck_assert(end != p);
            p = end;
            ck_assert_msg(fabs(gv[i] - want) < 2e-6 + 1e-4 * fabs(want), "%s[%zu]: %.7g, PyTorch %.7g",
                          rows[k].oracle, i, (double)gv[i], want);
        }
    }
    trainer_free(tr);
    free(text);
    free(ids);
    model_free(m);
}
END_TEST

/* The training forward and the inference forward are the same network. */
START_TEST(test_random_init_and_forward_agree_with_inference)
{
    ModelConfig c = tiny_config();
    Model *m;
    ck_assert_int_eq(model_random(&m, &c, 77), 0);
    Trainer *a, *b;
    ck_assert_int_eq(trainer_alloc(&a, m, NULL), 0);
    ck_assert_int_eq(trainer_alloc_random(&b, &c, 77, NULL), 0);
    ck_assert_uint_eq(trainer_n_params(a), trainer_n_params(b));
    for (int k = 0; k < trainer_n_tensors(a); k++)
        ck_assert_msg(memcmp(trainer_tensor(a, k)->p, trainer_tensor(b, k)->p, trainer_tensor(a, k)->n * sizeof(float)) == 0,
                      "tensor %s differs between model_random and trainer_alloc_random", trainer_tensor(a, k)->name);
    const int T = 7;
    int ids[7] = {1, 5, 18, 0, 3, 3, 9}, tg[7] = {5, 18, 0, 3, 3, 9, 2};
    ck_assert_int_eq(trainer_forward(b, ids, tg, 1, T, NULL), 0);
    RunState rs;
    ck_assert_int_eq(runstate_init(&rs, &c, T, T), 0);
    float *lg = fmalloc((size_t)T * c.padded_vocab);
    ck_assert_int_eq(model_forward(trainer_model(b), &rs, ids, T, 0, lg, 1, NULL), 0);
    const float *pr = trainer_probs(b);
    for (int t = 0; t < T; t++) {
        float row[32];
        memcpy(row, lg + t * c.padded_vocab, sizeof(float) * c.vocab_size);
        softmax_inplace(row, c.vocab_size);
        for (int i = 0; i < c.vocab_size; i++) ck_assert(fabs(row[i] - pr[t * c.padded_vocab + i]) < 1e-6);
    }
    free(lg);
    runstate_done(&rs);
    trainer_free(a);
    trainer_free(b);
    model_free(m);
}
END_TEST

START_TEST(test_accumulation_matches_one_batch)
{
    ModelConfig c = tiny_config();
    Trainer *a, *b;
    ck_assert_int_eq(trainer_alloc_random(&a, &c, 3, NULL), 0);
    ck_assert_int_eq(trainer_alloc_random(&b, &c, 3, NULL), 0);
    int in[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, tg[10] = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    ck_assert_int_eq(trainer_forward(a, in, tg, 2, 5, NULL), 0);
    ck_assert_int_eq(trainer_backward(a, 1.0f), 0);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(trainer_forward(b, in + 5 * k, tg + 5 * k, 1, 5, NULL), 0);
        ck_assert_int_eq(trainer_backward(b, 0.5f), 0);
    }
    for (int k = 0; k < trainer_n_tensors(a); k++) {
        const TrainParam *x = trainer_tensor(a, k), *y = trainer_tensor(b, k);
        for (size_t i = 0; i < x->n; i++)
            ck_assert_msg(fabs(x->g[i] - y->g[i]) < 1e-6 + 1e-4 * fabs(x->g[i]), "%s[%zu]", x->name, i);
    }
    trainer_free(a);
    trainer_free(b);
}
END_TEST

START_TEST(test_adamw_clip_and_schedule)
{
    ModelConfig c = tiny_config();
    TrainConfig tc = train_config_default();
    tc.lr = 0.01f; tc.min_lr = 0.001f; tc.warmup = 4; tc.max_steps = 14; tc.grad_clip = 0.5f;
    tc.weight_decay = 0.1f;
    Trainer *tr;
    ck_assert_int_eq(trainer_alloc_random(&tr, &c, 9, &tc), 0);
    /* schedule: linear warm-up, cosine to min_lr */
    ck_assert(fabs(trainer_lr(tr, 0) - 0.0025f) < 1e-9);
    ck_assert(fabs(trainer_lr(tr, 3) - 0.01f) < 1e-9);
    ck_assert(fabs(trainer_lr(tr, 9) - 0.0055f) < 1e-7);   /* halfway through the cosine */
    ck_assert(fabs(trainer_lr(tr, 14) - 0.001f) < 1e-9);
    ck_assert(fabs(trainer_lr(tr, 100) - 0.001f) < 1e-9);
    /* a hand-made gradient: a matrix and a bias; everything else 0 */
    const TrainParam *w = trainer_tensor(tr, 4), *bias = trainer_tensor(tr, 5), *ln = trainer_tensor(tr, 2);
    ck_assert(w->decay && !bias->decay && !ln->decay);
    float w0 = w->p[0], w1 = w->p[1], b0 = bias->p[0], ln0 = ln->p[0];
    w->g[0] = 3.0f; bias->g[0] = 4.0f;     /* norm 5 > clip 0.5: scaled by 0.1 */
    double norm;
    ck_assert_int_eq(trainer_update(tr, 0.01f, &norm), 0);
    ck_assert(fabs(norm - 5.0) < 1e-12);
    /* first step: mhat = g, vhat = g^2, so the step is lr * sign(g) (+ decay) */
    double gw = 0.3, want_w0 = w0 - 0.01 * (gw / (fabs(gw) + 1e-8) + 0.1 * w0);
    ck_assert_msg(fabs(w->p[0] - want_w0) < 1e-7, "w0 %g want %g", (double)w->p[0], want_w0);
    ck_assert(fabs(w->p[1] - (w1 - 0.01 * 0.1 * w1)) < 1e-8);      /* zero gradient: decay only */
    ck_assert(fabs(bias->p[0] - (b0 - 0.01)) < 1e-7);                /* no decay on biases */
    ck_assert(ln->p[0] == ln0);                                       /* no gradient, no decay */
    ck_assert(w->g[0] == 0.0f && bias->g[0] == 0.0f);                 /* gradients zeroed */
    ck_assert_int_eq(trainer_step_count(tr), 1);
    /* a non-finite gradient is refused and leaves the weights alone */
    float before = w->p[0];
    w->g[0] = NAN;
    ck_assert_int_eq(trainer_update(tr, 0.01f, NULL), ERR_RANGE);
    ck_assert(w->p[0] == before);
    ck_assert_int_eq(trainer_step_count(tr), 1);
    trainer_free(tr);
}
END_TEST

static int *pattern_tokens(int n, int V)
{
    int *ids = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) ids[i] = (i * 7 + (i / 5) * 3) % V;
    return ids;
}

START_TEST(test_training_reduces_loss)
{
    ModelConfig c = tiny_config();
    c.n_embd = 32; c.n_hidden = 128; c.n_ctx = 16;
    TrainConfig tc = train_config_default();
    tc.B = 4; tc.T = 16; tc.max_steps = 60; tc.warmup = 5; tc.lr = 3e-3f; tc.min_lr = 3e-4f;
    tc.weight_decay = 0.0f;
    Trainer *tr;
    ck_assert_int_eq(trainer_alloc_random(&tr, &c, 1, &tc), 0);
    int *ids = pattern_tokens(2000, c.vocab_size);
    TrainData d;
    ck_assert_int_eq(traindata_init(&d, ids, 2000, 0.1f, tc.T), 0);
    float v0, v1;
    ck_assert_int_eq(trainer_eval(tr, &d, 4, &v0), 0);
    TrainStepInfo info = {0};
    float first = 0;
    for (int s = 0; s < 60; s++) {
        ck_assert_msg(trainer_step(tr, &d, &info) == 0, "%s", err_msg());
        if (s == 0) first = info.loss;
    }
    ck_assert_int_eq(trainer_eval(tr, &d, 4, &v1), 0);
    ck_assert_msg(info.loss < 0.5f * first, "loss %g -> %g", (double)first, (double)info.loss);
    ck_assert_msg(v1 < 0.5f * v0, "validation loss %g -> %g", (double)v0, (double)v1);
    ck_assert_int_eq(info.step, 60);
    ck_assert_int_eq(info.tokens, 64);
    /* sampling from the trained model follows the pattern it learned (greedy) */
    int out[16];
    ck_assert_int_eq(trainer_sample(tr, ids, 6, 6, 0.0f, 1, out), 0);
    int right = 0;
    for (int i = 6; i < 12; i++) right += out[i] == ids[i];
    ck_assert_msg(right >= 4, "only %d of 6 greedy tokens follow the pattern", right);
    traindata_done(&d);
    free(ids);
    trainer_free(tr);
}
END_TEST

static void run_steps(Trainer *tr, const TrainData *d, int n, float *losses)
{
    TrainStepInfo info;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(trainer_step(tr, d, &info) == 0, "%s", err_msg());
        losses[i] = info.loss;
    }
}

START_TEST(test_checkpoint_resumes_bit_for_bit)
{
    ModelConfig c = tiny_config();
    c.n_ctx = 16;
    TrainConfig tc = train_config_default();
    tc.B = 2; tc.T = 12; tc.accum = 2; tc.max_steps = 8; tc.warmup = 2; tc.lr = 2e-3f;
    int *ids = pattern_tokens(500, c.vocab_size);
    TrainData d;
    ck_assert_int_eq(traindata_init(&d, ids, 500, 0.1f, tc.T), 0);
    Trainer *a, *b, *r;
    ck_assert_int_eq(trainer_alloc_random(&a, &c, 21, &tc), 0);
    ck_assert_int_eq(trainer_alloc_random(&b, &c, 21, &tc), 0);
    Tokenizer *tok;
    ck_assert_int_eq(tokenizer_char_new(&tok, "abcdefghijklmnopqrs", 19), 0);
    ck_assert_int_eq(trainer_set_tokenizer(b, tok), 0);
    float la[8], lb[8];
    run_steps(a, &d, 8, la);
    run_steps(b, &d, 4, lb);
    trainer_log(b, 4, lb[3], 1.5f);
    char *path = write_temp("", 0, ".safetensors");
    ck_assert_msg(trainer_save(b, &d, path) == 0, "%s", err_msg());
    trainer_free(b);
    ck_assert_msg(trainer_resume(&r, &d, path) == 0, "%s", err_msg());
    ck_assert_int_eq(trainer_step_count(r), 4);
    ck_assert_ptr_nonnull(trainer_model(r)->tok);
    int nh;
    const TrainPoint *hp = trainer_history(r, &nh);
    ck_assert_int_eq(nh, 1);
    ck_assert(hp[0].step == 4 && hp[0].train == lb[3] && hp[0].val == 1.5f);
    run_steps(r, &d, 4, lb + 4);
    for (int i = 0; i < 8; i++) ck_assert_msg(memcmp(&la[i], &lb[i], sizeof(float)) == 0, "step %d loss %.9g vs %.9g", i, (double)la[i], (double)lb[i]);
    for (int k = 0; k < trainer_n_tensors(a); k++)
        ck_assert_msg(memcmp(trainer_tensor(a, k)->p, trainer_tensor(r, k)->p, trainer_tensor(a, k)->n * sizeof(float)) == 0,
                      "%s differs after resume", trainer_tensor(a, k)->name);
    /* the checkpoint is also a model file */
    Model *m;
    ck_assert_msg(model_load(&m, path, NULL) == 0, "%s", err_msg());
    ck_assert_int_eq(m->cfg.n_layer, c.n_layer);
    ck_assert_ptr_nonnull(m->tok);
    model_free(m);
    /* other data is refused */
    int *other = pattern_tokens(500, c.vocab_size);
    other[3] ^= 1;
    TrainData d2;
    ck_assert_int_eq(traindata_init(&d2, other, 500, 0.1f, tc.T), 0);
    Trainer *x = NULL;
    ck_assert_int_eq(trainer_resume(&x, &d2, path), ERR_STATE);
    ck_assert_ptr_null(x);
    traindata_done(&d2);
    free(other);
    unlink(path);
    free(path);
    trainer_free(a);
    trainer_free(r);
    traindata_done(&d);
    free(ids);
}
END_TEST

/* ---- bad input ---- */

START_TEST(test_errors)
{
    ModelConfig c = tiny_config();
    TrainConfig tc = train_config_default();
    Trainer *tr = NULL;
    /* configs */
    TrainConfig bad = tc; bad.B = 0;
    ck_assert_int_eq(train_config_check(&bad), ERR_ARG);
    bad = tc; bad.lr = -1; ck_assert_int_eq(train_config_check(&bad), ERR_ARG);
    bad = tc; bad.min_lr = 2 * tc.lr; ck_assert_int_eq(train_config_check(&bad), ERR_ARG);
    bad = tc; bad.beta2 = 1.0f; ck_assert_int_eq(train_config_check(&bad), ERR_ARG);
    bad = tc; bad.val_frac = 1.0f; ck_assert_int_eq(train_config_check(&bad), ERR_ARG);
    bad = tc; bad.accum = 0; ck_assert_int_eq(trainer_alloc_random(&tr, &c, 1, &bad), ERR_ARG);
    ck_assert_ptr_null(tr);
    /* architectures that do not train */
    ModelConfig ll = model_config_default(ARCH_LLAMA);
    ll.n_layer = 1; ll.n_head = 2; ll.n_kv_head = 2; ll.n_embd = 8; ll.n_ctx = 8; ll.vocab_size = 10;
    ll.padded_vocab = 10; ll.n_hidden = 16;
    ck_assert_int_eq(trainer_alloc_random(&tr, &ll, 1, NULL), ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err_msg(), "GPT-2"));
    ModelConfig z = c; z.n_embd = 0;
    ck_assert_int_eq(trainer_alloc_random(&tr, &z, 1, NULL), ERR_FORMAT);
    /* forward / backward misuse */
    ck_assert_int_eq(trainer_alloc_random(&tr, &c, 1, NULL), 0);
    int in[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, tg[9] = {1, 2, 3, 4, 5, 6, 7, 8, 0};
    ck_assert_int_eq(trainer_backward(tr, 1.0f), ERR_STATE);
    in[2] = 19;
    ck_assert_int_eq(trainer_forward(tr, in, tg, 1, 4, NULL), ERR_ARG);
    in[2] = -1;
    ck_assert_int_eq(trainer_forward(tr, in, tg, 1, 4, NULL), ERR_ARG);
    in[2] = 2;
    tg[1] = -2;
    ck_assert_int_eq(trainer_forward(tr, in, tg, 1, 4, NULL), ERR_ARG);
    tg[1] = 2;
    ck_assert_int_eq(trainer_forward(tr, in, tg, 1, 9, NULL), ERR_RANGE);
    ck_assert_int_eq(trainer_forward(tr, in, tg, 0, 4, NULL), ERR_ARG);
    ck_assert_int_eq(trainer_forward(tr, in, NULL, 1, 4, NULL), 0);
    ck_assert_int_eq(trainer_backward(tr, 1.0f), ERR_STATE);   /* no targets: nothing to do */
    ck_assert_ptr_null(trainer_probs(tr));
    Tokenizer *big;
    char alpha[40];
    for (int i = 0; i < 39; i++) alpha[i] = (char)('A' + i);
    ck_assert_int_eq(tokenizer_char_new(&big, alpha, 39), 0);
    ck_assert_int_eq(trainer_set_tokenizer(tr, big), ERR_ARG);
    tokenizer_free(big);
    /* data */
    TrainData d;
    ck_assert_int_eq(traindata_init(&d, in, 5, 0.1f, 4), ERR_ARG);
    ck_assert_int_eq(traindata_init(&d, in, 9, 0.5f, 4), 0);
    ck_assert_uint_eq(d.n_train, 9);           /* too short to split: no validation */
    float vl;
    ck_assert_int_eq(trainer_eval(tr, &d, 1, &vl), ERR_STATE);
    TrainConfig longT = tc; longT.T = 16;
    ck_assert_int_eq(trainer_set_config(tr, &longT), 0);
    ck_assert_int_eq(trainer_step(tr, &d, NULL), ERR_ARG);
    traindata_done(&d);
    /* loss needs two tokens and a context that holds them */
    Model *m;
    ck_assert_int_eq(model_random(&m, &c, 1), 0);
    float loss;
    ck_assert_int_eq(train_loss(m, in, 1, &loss, NULL), ERR_ARG);
    ck_assert_int_eq(train_loss(m, in, 10, &loss, NULL), ERR_RANGE);
    ck_assert_int_eq(train_loss(m, in, 9, &loss, NULL), 0);
    ck_assert(loss > 0 && isfinite(loss));
    model_free(m);
    /* sampling past the context */
    int out[16];
    ck_assert_int_eq(trainer_sample(tr, in, 4, 5, 1.0f, 1, out), ERR_RANGE);
    ck_assert_int_eq(trainer_sample(tr, in, 0, 2, 1.0f, 1, out), ERR_ARG);
    /* checkpoints: not a file, not a checkpoint, a damaged generator state */
    Trainer *r = NULL;
    ck_assert_int_eq(trainer_resume(&r, NULL, "/nonexistent/ckpt.safetensors"), ERR_IO);
    char *path = write_temp("", 0, ".safetensors");
    ck_assert_int_eq(model_save(trainer_model(tr), path), 0);
    ck_assert_int_eq(trainer_resume(&r, NULL, path), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "training checkpoint"));
    ck_assert_int_eq(trainer_save(tr, NULL, path), 0);
    size_t len;
    char *buf = read_file(path, &len);
    char *p = memmem(buf, len, "\"lectern.train.rng\":\"", 21);
    ck_assert_ptr_nonnull(p);
    p[21] = 'z';   /* not a hex digit */
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    ck_assert_int_eq(trainer_resume(&r, NULL, path), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "rng"));
    ck_assert_ptr_null(r);
    free(buf);
    unlink(path);
    free(path);
    trainer_free(tr);
    trainer_free(NULL);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *k = tcase_create("kernels");
    tcase_set_timeout(k, 60);   /* generous: a loaded machine or ASan stretches wall time */
    tcase_add_test(k, test_vmath_exp);
    tcase_add_test(k, test_layernorm_backward);
    tcase_add_test(k, test_matmul_backward_layouts);
    tcase_add_test(k, test_matmul_backward_fused_block);
    tcase_add_test(k, test_gelu_backward);
    tcase_add_test(k, test_residual_backward);
    tcase_add_test(k, test_attention_backward);
    tcase_add_test(k, test_crossentropy_backward);
    tcase_add_test(k, test_encoder_backward);
    suite_add_tcase(s, k);
    TCase *m = tcase_create("model");
    tcase_set_timeout(m, 120);
    tcase_add_test(m, test_model_gradients_against_double_twin);
    tcase_add_test(m, test_oracle_loss_and_grad_norms);
    tcase_add_test(m, test_random_init_and_forward_agree_with_inference);
    tcase_add_test(m, test_accumulation_matches_one_batch);
    suite_add_tcase(s, m);
    TCase *o = tcase_create("optimizer");
    tcase_set_timeout(o, 120);
    tcase_add_test(o, test_adamw_clip_and_schedule);
    tcase_add_test(o, test_training_reduces_loss);
    tcase_add_test(o, test_checkpoint_resumes_bit_for_bit);
    tcase_add_test(o, test_errors);
    suite_add_tcase(s, o);
    return s;
}

int main(void)
{
    err_install_gsl_handler();
    return run_suite(train_suite());
}
