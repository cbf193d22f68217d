/* attention — exact softmax attention over the KV cache (see attention.h).
 *
 * Two paths compute the same thing: for one query (decode) a loop per head over the
 * cached keys, heads in parallel; for many queries (prefill) per head and block of rows two
 * matrix products, scores = Q_h K_h^T and out_h = P V_h, through gemm_forward (gemm.c) on
 * strided views of the cache (no copy), with the row softmax in between.
 * Reference: llama2.c run.c forward() (the per-head loop), nanoGPT CausalSelfAttention (the
 * matrix form).
 */
#include "engine/attention.h"

#include "engine/effattn.h"
#include "engine/gemm.h"
#include "engine/matvec.h"
#include "engine/par.h"
#include "engine/pattern.h"
#include "engine/vexp.h"

#include <math.h>
#include <string.h>

/* q . k over n floats.  Eight independent partial sums let the compiler vectorise the
 * loop without -ffast-math (a single running sum is a serial dependency chain). */
static inline float dot(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) acc[u] += a[i + u] * b[i + u];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* softmax over x[0..n) in place; a row always has n >= 1 keys (the query itself). */
static void softmax_row(float *x, int n)
{
    float m = x[0];
    for (int j = 1; j < n; j++) if (x[j] > m) m = x[j];
    float s = 0.0f;
    int j = 0;
#ifdef VEXP_AVX2
    const __m256 mv = _mm256_set1_ps(m);
    __m256 sv = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
        const __m256 e = vexp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv));
        _mm256_storeu_ps(x + j, e);
        sv = _mm256_add_ps(sv, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, sv);
    s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
#endif
    for (; j < n; j++) { x[j] = vexp1(x[j] - m); s += x[j]; }
    float inv = 1.0f / s;
    for (j = 0; j < n; j++) x[j] *= inv;
}

static void capture_row(float *capture, int cap_rows, int cap_row0, int cap_cols,
                        int h, int t, const float *p, int nk)
{
    float *dst = capture + ((size_t)h * cap_rows + cap_row0 + t) * cap_cols;
    memcpy(dst, p, sizeof(float) * (size_t)nk);
    memset(dst + nk, 0, sizeof(float) * (size_t)(cap_cols - nk));
}

/* heads h0..h1 of query row t against keys 0..nk of the cache */
static void decode_heads(float *out, const float *q, const float *kc, const float *vc, int t,
                         int ntot, int nk, int h0, int h1, int NH, int NKV, int HS, float scale,
                         float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int kvdim = NKV * HS, C = NH * HS, group = NH / NKV;
    for (int h = h0; h < h1; h++) {
        const float *qh = q + (size_t)t * C + (size_t)h * HS;
        const int kvh = h / group;
        float *att = scratch + (size_t)h * ntot;
        matvec_dot_rows(att, qh, kc + (size_t)kvh * HS, (size_t)kvdim, HS, nk);
        for (int j = 0; j < nk; j++) att[j] *= scale;
        softmax_row(att, nk);
        matvec_sum_rows(out + (size_t)t * C + (size_t)h * HS, att, vc + (size_t)kvh * HS,
                        (size_t)kvdim, nk, HS);
        if (capture) capture_row(capture, cap_rows, cap_row0, cap_cols, h, t, att, nk);
    }
}

static void attention_rows(float *out, const float *q, const float *kc, const float *vc,
                           int T, int pos0, int NH, int NKV, int HS, MaskKind mask,
                           float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int ntot = pos0 + T;
    const float scale = 1.0f / sqrtf((float)HS);
    for (int t = 0; t < T; t++) {
        const int nk = mask == MASK_CAUSAL ? pos0 + t + 1 : ntot;
        /* heads in parallel once there is enough work to pay for a fork and join */
        if (!par_worth((double)NH * nk * HS, 65536)) {
            decode_heads(out, q, kc, vc, t, ntot, nk, 0, NH, NH, NKV, HS, scale, scratch, capture,
                         cap_rows, cap_row0, cap_cols);
            continue;
        }
        #pragma omp parallel
        {
            long h0, h1;
            par_share(NH, &h0, &h1);
            decode_heads(out, q, kc, vc, t, ntot, nk, (int)h0, (int)h1, NH, NKV, HS, scale, scratch,
                         capture, cap_rows, cap_row0, cap_cols);
        }
    }
}

/* Rows t0..t1 of one head: scores for the keys those rows may see, softmax, times V.
 * scr holds (t1 - t0) x ntot floats. */
static void attention_block(float *out, const float *q, const float *kc, const float *vc, int T,
                            int pos0, int NH, int NKV, int HS, MaskKind mask, int h, int t0, int t1,
                            float *scr, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int kvdim = NKV * HS, C = NH * HS, kvh = h / (NH / NKV), rows = t1 - t0;
    /* causal rows t0..t1 see keys 0..pos0+t1 at most: the block skips the rest of the
     * triangle, about half of the products of a long prompt */
    const int nkb = mask == MASK_CAUSAL ? pos0 + t1 : pos0 + T;
    const float scale = 1.0f / sqrtf((float)HS);
    /* scores (rows, nkb) = scale * Q_h K_h^T */
    gemm_forward(scr, (size_t)nkb, q + (size_t)t0 * C + (size_t)h * HS, (size_t)C,
                 kc + (size_t)kvh * HS, (size_t)kvdim, 1, NULL, scale, rows, nkb, HS);
    for (int t = t0; t < t1; t++) {
        float *row = scr + (size_t)(t - t0) * nkb;
        const int nk = mask == MASK_CAUSAL ? pos0 + t + 1 : nkb;
        softmax_row(row, nk);
        memset(row + nk, 0, sizeof(float) * (size_t)(nkb - nk)); /* masked keys weigh 0 */
        if (capture) capture_row(capture, cap_rows, cap_row0, cap_cols, h, t, row, nk);
    }
    /* out_h (rows, HS) = P V_h */
    gemm_forward(out + (size_t)t0 * C + (size_t)h * HS, (size_t)C, scr, (size_t)nkb,
                 vc + (size_t)kvh * HS, (size_t)kvdim, 0, NULL, 1.0f, rows, HS, nkb);
}

/* Many query rows: per head and block of rows two matrix products (gemm.c) over strided
 * views of the cache.  The (head, block) pieces are independent, so threads take whole
 * pieces, largest first, each with its own slice of scratch (T x ntot floats in all). */
static void attention_matmul(float *out, const float *q, const float *kc, const float *vc,
                           int T, int pos0, int NH, int NKV, int HS, MaskKind mask,
                           float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int ntot = pos0 + T;
    int nthr = par_worth((double)NH * T * ntot * HS, 1 << 20) ? omp_get_max_threads() : 1;
    if (nthr > T) nthr = T;
    const int rb = T / nthr < 64 ? T / nthr : 64;  /* nthr * rb <= T: the slices fit */
    const int nb = (T + rb - 1) / rb, pieces = NH * nb;
    if (nthr == 1) {
        for (int i = 0; i < pieces; i++) {
            const int b = i / NH, t0 = b * rb, t1 = t0 + rb < T ? t0 + rb : T;
            attention_block(out, q, kc, vc, T, pos0, NH, NKV, HS, mask, i % NH, t0, t1, scratch,
                            capture, cap_rows, cap_row0, cap_cols);
        }
        return;
    }
    #pragma omp parallel num_threads(nthr)
    {
        float *scr = scratch + (size_t)omp_get_thread_num() * rb * ntot;
        #pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < pieces; i++) {
            const int b = nb - 1 - i / NH, t0 = b * rb, t1 = t0 + rb < T ? t0 + rb : T;
            attention_block(out, q, kc, vc, T, pos0, NH, NKV, HS, mask, i % NH, t0, t1, scr,
                            capture, cap_rows, cap_row0, cap_cols);
        }
    }
}

/* Softmax attention restricted to a pattern's key ranges: cost O(allowed cells). */
static void attention_sparse(float *out, const float *q, const float *kc, const float *vc,
                             int T, int pos0, int NH, int NKV, int HS, const AttnSpec *spec,
                             float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int kvdim = NKV * HS, C = NH * HS, group = NH / NKV, ntot = pos0 + T;
    const float scale = 1.0f / sqrtf((float)HS);
    const Pattern *p = spec->pattern;
    for (int t = 0; t < T; t++) {
        const int qpos = pos0 + t, limit = spec->mask == MASK_CAUSAL ? qpos + 1 : ntot;
        /* positions past the pattern's length fall back to the plain mask */
        const int full[2] = {0, limit};
        const int *rg = full;
        int nr = 1;
        if (qpos < p->n) nr = pattern_row(p, qpos, &rg);
        for (int h = 0; h < NH; h++) {
            const float *qh = q + (size_t)t * C + (size_t)h * HS;
            const int kvh = h / group;
            float *att = scratch + (size_t)h * ntot;  /* indexed by key; only allowed keys set */
            float mx = -INFINITY;
            int any = 0;
            for (int r = 0; r < nr; r++)
                for (int j = rg[2 * r]; j < rg[2 * r + 1] && j < limit; j++) {
                    att[j] = dot(qh, kc + (size_t)j * kvdim + (size_t)kvh * HS, HS) * scale;
                    if (att[j] > mx) mx = att[j];
                    any = 1;
                }
            float sum = 0.0f;
            for (int r = 0; r < nr; r++)
                for (int j = rg[2 * r]; j < rg[2 * r + 1] && j < limit; j++) {
                    att[j] = expf(att[j] - mx);
                    sum += att[j];
                }
            float *o = out + (size_t)t * C + (size_t)h * HS;
            memset(o, 0, sizeof(float) * (size_t)HS);
            float *cap = capture ? capture + ((size_t)h * cap_rows + cap_row0 + t) * cap_cols : NULL;
            if (cap) memset(cap, 0, sizeof(float) * (size_t)cap_cols);
            if (!any) continue;  /* no allowed key: the row outputs zeros, as HF Longformer */
            const float inv = 1.0f / sum;
            for (int r = 0; r < nr; r++)
                for (int j = rg[2 * r]; j < rg[2 * r + 1] && j < limit; j++) {
                    const float a = att[j] * inv;
                    const float *v = vc + (size_t)j * kvdim + (size_t)kvh * HS;
                    for (int i = 0; i < HS; i++) o[i] += a * v[i];
                    if (cap) cap[j] = a;
                }
        }
    }
}

size_t attention_kernel_scratch(const AttnSpec *spec, int ntot, int HS)
{
    if (!spec || !spec->kernel) return 0;
    /* Q, K, V of one head laid out contiguously, the weights row, and the kernel's own */
    return 3 * (size_t)ntot * HS + (size_t)ntot + effattn_scratch_floats(spec->kernel, ntot, HS);
}

/* A low-rank or kernel method: each row's implied weights (effattn_row_weights) times V,
 * which equals the method's own output for that row (tested in check_effattn). */
static void attention_kernel(float *out, const float *q, const float *kc, const float *vc,
                             int T, int pos0, int NH, int NKV, int HS, const AttnSpec *spec,
                             float *ks, float *capture, int cap_rows, int cap_row0, int cap_cols)
{
    const int kvdim = NKV * HS, C = NH * HS, group = NH / NKV, ntot = pos0 + T;
    const int causal = spec->mask == MASK_CAUSAL;
    float *Qh = ks, *Kh = Qh + (size_t)ntot * HS, *Vh = Kh + (size_t)ntot * HS;
    float *w = Vh + (size_t)ntot * HS, *scr = w + ntot;
    memset(Qh, 0, sizeof(float) * (size_t)ntot * HS);
    for (int h = 0; h < NH; h++) {
        const int kvh = h / group;
        for (int j = 0; j < ntot; j++) {
            memcpy(Kh + (size_t)j * HS, kc + (size_t)j * kvdim + (size_t)kvh * HS, sizeof(float) * (size_t)HS);
            memcpy(Vh + (size_t)j * HS, vc + (size_t)j * kvdim + (size_t)kvh * HS, sizeof(float) * (size_t)HS);
        }
        for (int t = 0; t < T; t++) {
            const int qpos = pos0 + t;
            memcpy(Qh + (size_t)qpos * HS, q + (size_t)t * C + (size_t)h * HS, sizeof(float) * (size_t)HS);
            float *o = out + (size_t)t * C + (size_t)h * HS;
            memset(o, 0, sizeof(float) * (size_t)HS);
            if (effattn_row_weights(spec->kernel, Qh, Kh, ntot, causal, qpos, w, scr) != 0) {
                if (capture) memset(capture + ((size_t)h * cap_rows + cap_row0 + t) * cap_cols, 0, sizeof(float) * (size_t)cap_cols);
                continue;
            }
            const int nk = causal ? qpos + 1 : ntot;
            for (int j = 0; j < nk; j++) {
                const float *v = Vh + (size_t)j * HS;
                for (int i = 0; i < HS; i++) o[i] += w[j] * v[i];
            }
            if (capture) {
                float *cap = capture + ((size_t)h * cap_rows + cap_row0 + t) * cap_cols;
                memset(cap, 0, sizeof(float) * (size_t)cap_cols);
                memcpy(cap, w, sizeof(float) * (size_t)nk);
            }
        }
    }
}

void attention_forward(float *out, const float *q, const float *kc, const float *vc,
                       int T, int pos0, int NH, int NKV, int HS, const AttnSpec *spec,
                       float *scratch, float *kscratch, float *capture, int cap_rows, int cap_row0,
                       int cap_cols)
{
    static const AttnSpec causal = {MASK_CAUSAL, NULL, NULL};
    if (!spec) spec = &causal;
    if (spec->kernel)
        attention_kernel(out, q, kc, vc, T, pos0, NH, NKV, HS, spec, kscratch, capture, cap_rows, cap_row0, cap_cols);
    else if (spec->pattern)
        attention_sparse(out, q, kc, vc, T, pos0, NH, NKV, HS, spec, scratch, capture, cap_rows, cap_row0, cap_cols);
    /* below a few rows the per-head loops beat the setup of two matrix products per head */
    else if (T < 8)
        attention_rows(out, q, kc, vc, T, pos0, NH, NKV, HS, spec->mask, scratch, capture, cap_rows, cap_row0, cap_cols);
    else
        attention_matmul(out, q, kc, vc, T, pos0, NH, NKV, HS, spec->mask, scratch, capture, cap_rows, cap_row0, cap_cols);
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
