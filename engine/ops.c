/* ops — forward operations over flat float buffers (see ops.h).
 * References: llm.c train_gpt2.c (layernorm/matmul/gelu/residual), llama2.c run.c
 * (rmsnorm, RoPE, SwiGLU).  Matrix products: many rows go to gemm_forward (engine/gemm.c:
 * AVX-512 where the CPU has it, OpenBLAS's sgemm elsewhere); one input row (decode) goes to
 * matvec_forward (engine/matvec.c).
 */
#include "engine/ops.h"
#include "engine/gemm.h"
#include "engine/matvec.h"
#include "engine/par.h"
#include "engine/vexp.h"

#include <math.h>
#include <string.h>

void encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                     int T, int C, int pos0)
{
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * C;
        const float *e = wte + (size_t)tokens[t] * C;
        if (wpe) {
            const float *p = wpe + (size_t)(pos0 + t) * C;
            for (int i = 0; i < C; i++) o[i] = e[i] + p[i];
        } else {
            memcpy(o, e, sizeof(float) * (size_t)C);
        }
    }
}

static void layernorm_rows(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, long n0, long n1, int C, float eps)
{
    for (long n = n0; n < n1; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++) m += x[i];
        m /= (float)C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) { float d = x[i] - m; v += d * d; }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + eps);
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * w[i] + (b ? b[i] : 0.0f);
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, int N, int C, float eps)
{
    if (!par_worth(N, 17)) {
        layernorm_rows(out, mean, rstd, inp, w, b, 0, N, C, eps);
        return;
    }
    #pragma omp parallel
    {
        long n0, n1;
        par_share(N, &n0, &n1);
        layernorm_rows(out, mean, rstd, inp, w, b, n0, n1, C, eps);
    }
}

static void rmsnorm_rows(float *out, float *rrms, const float *inp, const float *w,
                         long n0, long n1, int C, float eps)
{
    for (long n = n0; n < n1; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++) ss += x[i] * x[i];
        ss = 1.0f / sqrtf(ss / (float)C + eps);
        for (int i = 0; i < C; i++) o[i] = w[i] * (ss * x[i]);
        if (rrms) rrms[n] = ss;
    }
}

void rmsnorm_forward(float *out, float *rrms, const float *inp, const float *w,
                     int N, int C, float eps)
{
    if (!par_worth(N, 17)) {
        rmsnorm_rows(out, rrms, inp, w, 0, N, C, eps);
        return;
    }
    #pragma omp parallel
    {
        long n0, n1;
        par_share(N, &n0, &n1);
        rmsnorm_rows(out, rrms, inp, w, n0, n1, C, eps);
    }
}

static void matmul_rows(float *out, const float *inp, const Linear *lin, int N, int blas)
{
    const int in = lin->in, outd = lin->out;
    if (N == 1) {
        /* one row: a matrix-vector product that reads each weight once (decode is
         * bandwidth-bound; see matvec.c) */
        matvec_forward(out, inp, lin);
        return;
    }
    /* many rows (a prefill, a training batch): a matrix-matrix product (see gemm.c) */
    (blas ? gemm_forward_blas : gemm_forward)(out, (size_t)outd, inp, (size_t)in, lin->w,
                                              (size_t)lin->ld, lin->layout == W_OUT_IN, lin->b,
                                              1.0f, N, outd, in);
}

void matmul_forward(float *out, const float *inp, const Linear *lin, int N)
{
    matmul_rows(out, inp, lin, N, 0);
}

void matmul_forward_blas(float *out, const float *inp, const Linear *lin, int N)
{
    matmul_rows(out, inp, lin, N, 1);
}

void matmul_forward_naive(float *out, const float *inp, const Linear *lin, int N)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < lin->out; o++) {
            double acc = lin->b ? lin->b[o] : 0.0;
            for (int i = 0; i < lin->in; i++) {
                float w = lin->layout == W_OUT_IN ? lin->w[(size_t)o * lin->ld + i]
                                                  : lin->w[(size_t)i * lin->ld + o];
                acc += (double)inp[(size_t)n * lin->in + i] * w;
            }
            out[(size_t)n * lin->out + o] = (float)acc;
        }
}

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* 0.5 x (1 + tanh u) is x sigmoid(2u) = x / (1 + e^-2u): the same function, one exponential
 * (vexp.h, eight at a time) instead of a tanhf (glibc's tanhf and the expm1f inside it were
 * 14% of a GPT-2 prefill).  For u -> -inf, e^-2u overflows to inf and the result is -0, as
 * it should be. */
static void gelu_range(float *out, const float *inp, long i0, long i1)
{
    long i = i0;
#ifdef VEXP_AVX2
    const __m256 k3 = _mm256_set1_ps(0.044715f), m2s = _mm256_set1_ps(-2.0f * GELU_SCALE);
    for (; i + 8 <= i1; i += 8) {
        const __m256 x = _mm256_loadu_ps(inp + i);
        const __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(k3, x), x), x);
        const __m256 e = vexp8(_mm256_mul_ps(m2s, _mm256_add_ps(x, c)));
        _mm256_storeu_ps(out + i, _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
    }
#endif
    for (; i < i1; i++) {
        float x = inp[i];
        out[i] = x / (1.0f + vexp1(-2.0f * GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

void gelu_forward(float *out, const float *inp, size_t N)
{
    if (!par_worth((double)N, 65537)) {
        gelu_range(out, inp, 0, (long)N);
        return;
    }
    #pragma omp parallel
    {
        long i0, i1;
        par_share((long)N, &i0, &i1);
        gelu_range(out, inp, i0, i1);
    }
}

static void swiglu_range(float *out, const float *a, const float *g, long i0, long i1)
{
    long i = i0;
#ifdef VEXP_AVX2
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= i1; i += 8) {
        const __m256 x = _mm256_loadu_ps(a + i);
        const __m256 e = vexp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(g + i)));
    }
#endif
    for (; i < i1; i++) {
        float x = a[i];
        out[i] = x * (1.0f / (1.0f + vexp1(-x))) * g[i];
    }
}

void swiglu_forward(float *out, const float *a, const float *g, size_t N)
{
    if (!par_worth((double)N, 65537)) {
        swiglu_range(out, a, g, 0, (long)N);
        return;
    }
    #pragma omp parallel
    {
        long i0, i1;
        par_share((long)N, &i0, &i1);
        swiglu_range(out, a, g, i0, i1);
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t N)
{
    for (size_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}

void rope_forward(float *x, int T, int n_heads, int HS, int pos0, float theta)
{
    for (int t = 0; t < T; t++) {
        const int pos = pos0 + t;
        float *row = x + (size_t)t * n_heads * HS;
        for (int i = 0; i < HS; i += 2) {
            /* float arithmetic in llama2.c's order, so logits match run.c closely; the angle
             * depends on (pos, i) only, so it is computed once for all heads */
            const float freq = 1.0f / powf(theta, (float)i / (float)HS);
            const float val = (float)pos * freq;
            const float c = cosf(val), s = sinf(val);
            for (int h = 0; h < n_heads; h++) {
                float *v = row + (size_t)h * HS;
                const float v0 = v[i], v1 = v[i + 1];
                v[i] = v0 * c - v1 * s;
                v[i + 1] = v0 * s + v1 * c;
            }
        }
    }
}
