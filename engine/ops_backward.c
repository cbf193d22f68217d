/* ops_backward — backward passes of the GPT-2 operations and the training-only forwards
 * (see ops_backward.h).  The inference forwards stay in ops.c and attention.c; these
 * functions are their derivatives, written next to one another so a student can hold each
 * beside llm.c's train_gpt2.c (layernorm_backward, matmul_backward, attention_backward,
 * gelu_backward, crossentropy_softmax_backward) and PyTorch's autograd formulas.
 *
 * Determinism: every reduction runs in a fixed order whatever the thread count (column
 * blocks per thread, never an OpenMP reduction), so a training run repeats bit for bit.
 * OpenBLAS is never called from inside an OpenMP region (it has its own threads).
 */
#include "engine/ops_backward.h"

#include <gsl/gsl_blas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/vmath.h"

/* ---- matrix products split across OpenMP threads ---------------------------------- */

/* C = alpha op(A) op(B) + beta C, with C's rows (or columns, when it has more of them)
 * split into one block per thread, each a single-threaded BLAS call: training keeps one
 * pool of threads (OpenMP's) instead of two that spin against each other.  With one
 * thread it is exactly one gsl_blas_sgemm call. */
static void gemm(CBLAS_TRANSPOSE_t ta, CBLAS_TRANSPOSE_t tb, float alpha, const gsl_matrix_float *A,
                 const gsl_matrix_float *B, float beta, gsl_matrix_float *C)
{
    const size_t M = C->size1, N = C->size2;
    const size_t K = ta == CblasNoTrans ? A->size2 : A->size1;
    int nt = omp_get_max_threads();
    if (nt > 1 && (double)M * N * K < 2e6) nt = 1;   /* too small to share */
    if (nt <= 1 || omp_in_parallel()) {
        gsl_blas_sgemm(ta, tb, alpha, A, B, beta, C);
        return;
    }
    const int by_rows = M >= N;
    const size_t len = by_rows ? M : N;
    #pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        const size_t p0 = len * (size_t)t / (size_t)nt, p1 = len * (size_t)(t + 1) / (size_t)nt;
        if (p1 == p0) continue;
        if (by_rows) {
            gsl_matrix_float_const_view a = ta == CblasNoTrans ? gsl_matrix_float_const_submatrix(A, p0, 0, p1 - p0, K)
                                                               : gsl_matrix_float_const_submatrix(A, 0, p0, K, p1 - p0);
            gsl_matrix_float_view c = gsl_matrix_float_submatrix(C, p0, 0, p1 - p0, N);
            gsl_blas_sgemm(ta, tb, alpha, &a.matrix, B, beta, &c.matrix);
        } else {
            gsl_matrix_float_const_view b = tb == CblasNoTrans ? gsl_matrix_float_const_submatrix(B, 0, p0, K, p1 - p0)
                                                               : gsl_matrix_float_const_submatrix(B, p0, 0, p1 - p0, K);
            gsl_matrix_float_view c = gsl_matrix_float_submatrix(C, 0, p0, M, p1 - p0);
            gsl_blas_sgemm(ta, tb, alpha, A, &b.matrix, beta, &c.matrix);
        }
    }
}

void matmul_forward_train(float *out, const float *inp, const Linear *lin, int N)
{
    int nt = omp_get_max_threads();
    if (nt > 1 && (double)N * lin->in * lin->out < 2e6) nt = 1;
    if (nt <= 1 || N < 2 * nt) {
        matmul_forward_blas(out, inp, lin, N);
        return;
    }
    /* rows are independent: each thread runs the ordinary forward on its block */
    #pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        const int n0 = (int)((long)N * t / nt), n1 = (int)((long)N * (t + 1) / nt);
        if (n1 > n0) matmul_forward_blas(out + (size_t)n0 * lin->out, inp + (size_t)n0 * lin->in, lin, n1 - n0);
    }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens,
                      int B, int T, int C)
{
    /* sequential: two positions may share a token, and their rows must add in order */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *e = dwte + (size_t)tokens[b * T + t] * C;
            for (int i = 0; i < C; i++) e[i] += d[i];
            if (dwpe) {
                float *p = dwpe + (size_t)t * C;
                for (int i = 0; i < C; i++) p[i] += d[i];
            }
        }
}

enum { COL_BLOCK = 64 };

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C)
{
    /* dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = w * dy */
    #pragma omp parallel for if (N > 16)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        const float m = mean[n], s = rstd[n];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int i = 0; i < C; i++) {
            float xhat = (x[i] - m) * s, dxhat = weight[i] * dy[i];
            dnorm_mean += dxhat;
            dnorm_norm_mean += dxhat * xhat;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float xhat = (x[i] - m) * s, dxhat = weight[i] * dy[i];
            dx[i] += s * (dxhat - dnorm_mean - xhat * dnorm_norm_mean);
        }
    }
    /* dw = sum_n xhat * dy, db = sum_n dy: each thread owns a block of columns */
    const int nblk = (C + COL_BLOCK - 1) / COL_BLOCK;
    #pragma omp parallel for if ((size_t)N * C > 65536)
    for (int blk = 0; blk < nblk; blk++) {
        const int i0 = blk * COL_BLOCK, i1 = i0 + COL_BLOCK < C ? i0 + COL_BLOCK : C;
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            const float m = mean[n], s = rstd[n];
            for (int i = i0; i < i1; i++) {
                dweight[i] += (x[i] - m) * s * dy[i];
                if (dbias) dbias[i] += dy[i];
            }
        }
    }
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const Linear *lin, int N)
{
    const int in = lin->in, outd = lin->out;
    const int out_in = lin->layout == W_OUT_IN;
    const size_t wrows = (size_t)(out_in ? outd : in), wcols = (size_t)(out_in ? in : outd);
    gsl_matrix_float_const_view dY = gsl_matrix_float_const_view_array(dout, (size_t)N, (size_t)outd);
    gsl_matrix_float_const_view X = gsl_matrix_float_const_view_array(inp, (size_t)N, (size_t)in);
    if (dinp) {
        /* dX (N, in) = dY (N, out) . Weff^T, Weff (in, out) = W^T (out_in) or W (in_out) */
        gsl_matrix_float_const_view W = gsl_matrix_float_const_view_array_with_tda(lin->w, wrows, wcols, (size_t)lin->ld);
        gsl_matrix_float_view dX = gsl_matrix_float_view_array(dinp, (size_t)N, (size_t)in);
        gemm(CblasNoTrans, out_in ? CblasNoTrans : CblasTrans, 1.0f, &dY.matrix, &W.matrix, 0.0f, &dX.matrix);
    }
    if (dweight) {
        gsl_matrix_float_view dW = gsl_matrix_float_view_array_with_tda(dweight, wrows, wcols, (size_t)lin->ld);
        if (out_in) /* dW (out, in) += dY^T X */
            gemm(CblasTrans, CblasNoTrans, 1.0f, &dY.matrix, &X.matrix, 1.0f, &dW.matrix);
        else        /* dW (in, out) += X^T dY */
            gemm(CblasTrans, CblasNoTrans, 1.0f, &X.matrix, &dY.matrix, 1.0f, &dW.matrix);
    }
    if (dbias) {
        const int nblk = (outd + COL_BLOCK - 1) / COL_BLOCK;
        #pragma omp parallel for if ((size_t)N * outd > 65536)
        for (int blk = 0; blk < nblk; blk++) {
            const int o0 = blk * COL_BLOCK, o1 = o0 + COL_BLOCK < outd ? o0 + COL_BLOCK : outd;
            for (int n = 0; n < N; n++) {
                const float *dy = dout + (size_t)n * outd;
                for (int o = o0; o < o1; o++) dbias[o] += dy[o];
            }
        }
    }
}

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* tanh of GELU's inner argument, 1 - 2 / (e^{2u} + 1) (e^{2u} never overflows: vmath
 * clamps), and the forward value; four at a time where SSE4.1 is there. */
static inline float gelu_tanh(float x)
{
    const float u = GELU_SCALE * (x + 0.044715f * x * x * x);
    return 1.0f - 2.0f / (vmath_exp(2.0f * u) + 1.0f);
}

void gelu_forward_train(float *out, float *th, const float *inp, size_t N)
{
    #pragma omp parallel for if (N > 65536)
    for (size_t blk = 0; blk < (N + 4095) / 4096; blk++) {
        size_t i = blk * 4096;
        const size_t end = i + 4096 < N ? i + 4096 : N;
#ifdef __SSE4_1__
        const __m128 c1 = _mm_set1_ps(GELU_SCALE), c3 = _mm_set1_ps(0.044715f), two = _mm_set1_ps(2.0f);
        const __m128 one = _mm_set1_ps(1.0f), half = _mm_set1_ps(0.5f);
        for (; i + 4 <= end; i += 4) {
            const __m128 x = _mm_loadu_ps(inp + i);
            const __m128 u = _mm_mul_ps(c1, _mm_add_ps(x, _mm_mul_ps(_mm_mul_ps(_mm_mul_ps(c3, x), x), x)));
            const __m128 t = _mm_sub_ps(one, _mm_div_ps(two, _mm_add_ps(vmath_exp4(_mm_mul_ps(two, u)), one)));
            _mm_storeu_ps(th + i, t);
            _mm_storeu_ps(out + i, _mm_mul_ps(_mm_mul_ps(half, x), _mm_add_ps(one, t)));
        }
#endif
        for (; i < end; i++) {
            const float x = inp[i];
            th[i] = gelu_tanh(x);
            out[i] = 0.5f * x * (1.0f + th[i]);
        }
    }
}

void gelu_backward(float *dinp, const float *inp, const float *th, const float *dout, size_t N)
{
    #pragma omp parallel for if (N > 65536)
    for (size_t i = 0; i < N; i++) {
        const float x = inp[i];
        const float t = th ? th[i] : gelu_tanh(x);
        /* d/dx 0.5 x (1 + tanh u) = 0.5 (1 + tanh u) + 0.5 x sech^2(u) du/dx */
        const float local = 0.5f * (1.0f + t)
                          + 0.5f * x * (1.0f - t * t) * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = local * dout[i];
    }
}

void residual_backward(float *da, float *db, const float *dout, size_t N)
{
    if (da) for (size_t i = 0; i < N; i++) da[i] += dout[i];
    if (db) for (size_t i = 0; i < N; i++) db[i] += dout[i];
}

void attention_forward_train(float *out, float *att, const float *qkv, int B, int T, int C,
                             int NH)
{
    const int HS = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)HS);
    /* heads are independent: one per thread, each with single-threaded products */
    #pragma omp parallel for if (B * NH > 1 && (double)B * NH * T * T * HS > 1e6) schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        const int b = bh / NH, h = bh % NH;
        const float *base = qkv + (size_t)b * T * C3 + (size_t)h * HS;
        float *P = att + ((size_t)b * NH + h) * T * T;
        gsl_matrix_float_const_view Q = gsl_matrix_float_const_view_array_with_tda(base, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_const_view K = gsl_matrix_float_const_view_array_with_tda(base + C, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_const_view V = gsl_matrix_float_const_view_array_with_tda(base + 2 * C, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_view S = gsl_matrix_float_view_array(P, (size_t)T, (size_t)T);
        gsl_matrix_float_view O = gsl_matrix_float_view_array_with_tda(out + (size_t)b * T * C + (size_t)h * HS, (size_t)T, (size_t)HS, (size_t)C);
        /* scores = Q K^T / sqrt(HS); the upper triangle is computed and then masked */
        gsl_blas_sgemm(CblasNoTrans, CblasTrans, scale, &Q.matrix, &K.matrix, 0.0f, &S.matrix);
        for (int t = 0; t < T; t++) {
            float *row = P + (size_t)t * T;
            const float sum = vmath_exp_shift_sum(row, t + 1, vmath_max(row, t + 1));
            const float inv = 1.0f / sum;
            for (int j = 0; j <= t; j++) row[j] *= inv;
            for (int j = t + 1; j < T; j++) row[j] = 0.0f;
        }
        gsl_blas_sgemm(CblasNoTrans, CblasNoTrans, 1.0f, &S.matrix, &V.matrix, 0.0f, &O.matrix);
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        float *scratch, int B, int T, int C, int NH)
{
    const int HS = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for if (B * NH > 1 && (double)B * NH * T * T * HS > 1e6) schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        const int b = bh / NH, h = bh % NH;
        float *ds = scratch + (size_t)omp_get_thread_num() * T * T;   /* this thread's (T, T) */
        const size_t off = (size_t)b * T * C3 + (size_t)h * HS;
        const float *Pp = att + ((size_t)b * NH + h) * T * T;
        gsl_matrix_float_const_view Q = gsl_matrix_float_const_view_array_with_tda(qkv + off, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_const_view K = gsl_matrix_float_const_view_array_with_tda(qkv + off + C, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_const_view V = gsl_matrix_float_const_view_array_with_tda(qkv + off + 2 * C, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_view dQ = gsl_matrix_float_view_array_with_tda(dqkv + off, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_view dK = gsl_matrix_float_view_array_with_tda(dqkv + off + C, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_view dV = gsl_matrix_float_view_array_with_tda(dqkv + off + 2 * C, (size_t)T, (size_t)HS, C3);
        gsl_matrix_float_const_view dO = gsl_matrix_float_const_view_array_with_tda(dout + (size_t)b * T * C + (size_t)h * HS, (size_t)T, (size_t)HS, (size_t)C);
        gsl_matrix_float_const_view P = gsl_matrix_float_const_view_array(Pp, (size_t)T, (size_t)T);
        gsl_matrix_float_view dS = gsl_matrix_float_view_array(ds, (size_t)T, (size_t)T);
        /* out = P V:  dP = dO V^T,  dV = P^T dO */
        gsl_blas_sgemm(CblasNoTrans, CblasTrans, 1.0f, &dO.matrix, &V.matrix, 0.0f, &dS.matrix);
        gsl_blas_sgemm(CblasTrans, CblasNoTrans, 1.0f, &P.matrix, &dO.matrix, 0.0f, &dV.matrix);
        /* softmax: dS_tj = P_tj (dP_tj - sum_k P_tk dP_tk); masked entries have P = 0 */
        for (int t = 0; t < T; t++) {
            const float *p = Pp + (size_t)t * T;
            float *d = ds + (size_t)t * T;
            float dot = 0.0f;
            for (int j = 0; j <= t; j++) dot += p[j] * d[j];
            for (int j = 0; j <= t; j++) d[j] = p[j] * (d[j] - dot);
            for (int j = t + 1; j < T; j++) d[j] = 0.0f;
        }
        /* scores = scale Q K^T:  dQ = scale dS K,  dK = scale dS^T Q */
        gsl_blas_sgemm(CblasNoTrans, CblasNoTrans, scale, &dS.matrix, &K.matrix, 0.0f, &dQ.matrix);
        gsl_blas_sgemm(CblasTrans, CblasNoTrans, scale, &dS.matrix, &Q.matrix, 0.0f, &dK.matrix);
    }
}

void crossentropy_forward(float *logits, float *losses, const int *targets, int N, int V, int Vp)
{
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        float *x = logits + (size_t)n * Vp;
        const float mx = vmath_max(x, V);
        const int tgt = targets[n];
        const float xt = tgt >= 0 ? x[tgt] : 0.0f;
        const float sum = vmath_exp_shift_sum(x, V, mx);
        const float inv = 1.0f / sum;
        for (int i = 0; i < V; i++) x[i] *= inv;
        for (int i = V; i < Vp; i++) x[i] = 0.0f;
        /* -log p_t from the logits (log-sum-exp), not from a rounded probability */
        losses[n] = tgt >= 0 ? logf(sum) - (xt - mx) : 0.0f;
    }
}

void crossentropy_backward(float *probs, const int *targets, float dloss, int N, int V, int Vp)
{
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        float *p = probs + (size_t)n * Vp;
        const int tgt = targets[n];
        if (tgt < 0) {
            memset(p, 0, sizeof(float) * (size_t)Vp);
            continue;
        }
        for (int i = 0; i < V; i++) p[i] *= dloss;
        p[tgt] -= dloss;
        for (int i = V; i < Vp; i++) p[i] = 0.0f;
    }
}
