/* attention — exact softmax attention over the KV cache (see attention.h).
 *
 * Two paths compute the same thing: for one query (decode) a loop per head over the
 * cached keys, heads in parallel; for many queries (prefill) per head two matrix products,
 * scores = Q_h K_h^T and out_h = P V_h, through gsl_blas_sgemm on strided views of the
 * cache (no copy), with the row softmax in between.  Reference: llama2.c run.c forward()
 * (the per-head loop), nanoGPT CausalSelfAttention (the matrix form).
 */
#include "engine/attention.h"

#include <gsl/gsl_blas.h>
#include <math.h>
#include <string.h>

/* softmax over x[0..n) in place; a row always has n >= 1 keys (the query itself). */
static void softmax_row(float *x, int n)
{
    float m = x[0];
    for (int j = 1; j < n; j++) if (x[j] > m) m = x[j];
    float s = 0.0f;
    for (int j = 0; j < n; j++) { x[j] = expf(x[j] - m); s += x[j]; }
    float inv = 1.0f / s;
    for (int j = 0; j < n; j++) x[j] *= inv;
}

static void capture_row(float *capture, int cap_rows, int cap_row0, int cap_cols,
                        int h, int t, const float *p, int nk)
{
    float *dst = capture + ((size_t)h * cap_rows + cap_row0 + t) * cap_cols;
    memcpy(dst, p, sizeof(float) * (size_t)nk);
    memset(dst + nk, 0, sizeof(float) * (size_t)(cap_cols - nk));
}

static void attention_rows(float *out, const float *q, const float *kc, const float *vc,
                           int T, int pos0, int NH, int NKV, int HS, MaskKind mask,
                           float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int kvdim = NKV * HS, C = NH * HS, group = NH / NKV, ntot = pos0 + T;
    const float scale = 1.0f / sqrtf((float)HS);
    for (int t = 0; t < T; t++) {
        const int nk = mask == MASK_CAUSAL ? pos0 + t + 1 : ntot;
        #pragma omp parallel for if (nk * HS > 4096)
        for (int h = 0; h < NH; h++) {
            const float *qh = q + (size_t)t * C + (size_t)h * HS;
            const int kvh = h / group;
            float *att = scratch + (size_t)h * ntot;
            for (int j = 0; j < nk; j++) {
                const float *k = kc + (size_t)j * kvdim + (size_t)kvh * HS;
                float s = 0.0f;
                for (int i = 0; i < HS; i++) s += qh[i] * k[i];
                att[j] = s * scale;
            }
            softmax_row(att, nk);
            float *o = out + (size_t)t * C + (size_t)h * HS;
            memset(o, 0, sizeof(float) * (size_t)HS);
            for (int j = 0; j < nk; j++) {
                const float *v = vc + (size_t)j * kvdim + (size_t)kvh * HS;
                const float a = att[j];
                for (int i = 0; i < HS; i++) o[i] += a * v[i];
            }
            if (capture) capture_row(capture, cap_rows, cap_row0, cap_cols, h, t, att, nk);
        }
    }
}

static void attention_blas(float *out, const float *q, const float *kc, const float *vc,
                           int T, int pos0, int NH, int NKV, int HS, MaskKind mask,
                           float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int kvdim = NKV * HS, C = NH * HS, group = NH / NKV, ntot = pos0 + T;
    const float scale = 1.0f / sqrtf((float)HS);
    for (int h = 0; h < NH; h++) {
        const int kvh = h / group;
        gsl_matrix_float_const_view Q = gsl_matrix_float_const_view_array_with_tda(q + (size_t)h * HS, (size_t)T, (size_t)HS, (size_t)C);
        gsl_matrix_float_const_view K = gsl_matrix_float_const_view_array_with_tda(kc + (size_t)kvh * HS, (size_t)ntot, (size_t)HS, (size_t)kvdim);
        gsl_matrix_float_const_view V = gsl_matrix_float_const_view_array_with_tda(vc + (size_t)kvh * HS, (size_t)ntot, (size_t)HS, (size_t)kvdim);
        gsl_matrix_float_view S = gsl_matrix_float_view_array(scratch, (size_t)T, (size_t)ntot);
        gsl_matrix_float_view O = gsl_matrix_float_view_array_with_tda(out + (size_t)h * HS, (size_t)T, (size_t)HS, (size_t)C);
        /* scores (T, ntot) = scale * Q_h K_h^T */
        gsl_blas_sgemm(CblasNoTrans, CblasTrans, scale, &Q.matrix, &K.matrix, 0.0f, &S.matrix);
        #pragma omp parallel for if (T * ntot > 16384)
        for (int t = 0; t < T; t++) {
            float *row = scratch + (size_t)t * ntot;
            const int nk = mask == MASK_CAUSAL ? pos0 + t + 1 : ntot;
            softmax_row(row, nk);
            memset(row + nk, 0, sizeof(float) * (size_t)(ntot - nk)); /* masked keys weigh 0 */
            if (capture) capture_row(capture, cap_rows, cap_row0, cap_cols, h, t, row, nk);
        }
        /* out_h (T, HS) = P V_h */
        gsl_blas_sgemm(CblasNoTrans, CblasNoTrans, 1.0f, &S.matrix, &V.matrix, 0.0f, &O.matrix);
    }
}

void attention_forward(float *out, const float *q, const float *kc, const float *vc,
                       int T, int pos0, int NH, int NKV, int HS, MaskKind mask,
                       float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    /* below a few rows the per-head loops beat the setup of two BLAS calls per head */
    if (T < 8)
        attention_rows(out, q, kc, vc, T, pos0, NH, NKV, HS, mask, scratch, capture, cap_rows, cap_row0, cap_cols);
    else
        attention_blas(out, q, kc, vc, T, pos0, NH, NKV, HS, mask, scratch, capture, cap_rows, cap_row0, cap_cols);
}

void attention_forward_naive(float *out, const float *q, const float *kc, const float *vc,
                             int T, int pos0, int NH, int NKV, int HS, MaskKind mask)
{
    const int kvdim = NKV * HS, C = NH * HS, group = NH / NKV;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < NH; h++) {
            const int nk = mask == MASK_CAUSAL ? pos0 + t + 1 : pos0 + T, kvh = h / group;
            double m = -INFINITY, s = 0.0;
            double sc[nk > 0 ? nk : 1];
            for (int j = 0; j < nk; j++) {
                double d = 0.0;
                for (int i = 0; i < HS; i++)
                    d += (double)q[(size_t)t * C + h * HS + i] * kc[(size_t)j * kvdim + kvh * HS + i];
                sc[j] = d / sqrt((double)HS);
                if (sc[j] > m) m = sc[j];
            }
            for (int j = 0; j < nk; j++) { sc[j] = exp(sc[j] - m); s += sc[j]; }
            for (int i = 0; i < HS; i++) {
                double acc = 0.0;
                for (int j = 0; j < nk; j++) acc += sc[j] / s * vc[(size_t)j * kvdim + kvh * HS + i];
                out[(size_t)t * C + h * HS + i] = (float)acc;
            }
        }
}
