/* effattn — exact, sparse, low-rank and kernel attention over plain matrices.
 *
 * Owns the single-head kernels of effattn.h, their implied-weight rows, the random
 * parameters they need (FAVOR+ features through GSL's QR, Linformer projections, Synthesizer
 * weights) and the runtime Effattn object built from text.  Not here: the patterns
 * (pattern.c), multi-head plumbing and the KV cache (attention.c, model.c), the oracle file
 * reader (effattn_case.c).
 * Loops are the plain form of each formula, dot products accumulated in double, so each one
 * reads next to its paper; the exact kernel is the naive twin the others are tested against.
 * References: see effattn.h; ../shared/research/attention.md sections 1, 4, 5.
 */
#include "engine/effattn.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_vector.h>

#include "engine/err.h"

static double dot(const float *a, const float *b, int d)
{
    double acc = 0;
    for (int t = 0; t < d; t++) acc += (double)a[t] * b[t];
    return acc;
}

/* s[0..cnt) <- softmax(s), max subtracted first so exp never overflows */
static void softmax(float *s, int cnt)
{
    if (cnt <= 0) return;
    float mx = s[0];
    for (int j = 1; j < cnt; j++) mx = s[j] > mx ? s[j] : mx;
    double sum = 0;
    for (int j = 0; j < cnt; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    for (int j = 0; j < cnt; j++) s[j] = (float)(s[j] / sum);
}

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* ------------------------------------------------------------------------------------ */
/* exact */

void effattn_exact(const float *Q, const float *K, const float *V, int n, int d, int dv,
                   float scale, int causal, float *out, float *scratch)
{
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        const float *qi = Q + (size_t)i * d;
        for (int j = 0; j < lim; j++) scratch[j] = (float)(dot(qi, K + (size_t)j * d, d) * scale);
        softmax(scratch, lim);
        float *o = out + (size_t)i * dv;
        zero(o, (size_t)dv);
        for (int j = 0; j < lim; j++) {
            const float *vj = V + (size_t)j * dv;
            for (int t = 0; t < dv; t++) o[t] += scratch[j] * vj[t];
        }
    }
}

void effattn_exact_masked(const float *Q, const float *K, const float *V, int n, int d, int dv,
                          float scale, const unsigned char *mask, float *out, float *scratch)
{
    for (int i = 0; i < n; i++) {
        const unsigned char *mrow = mask + (size_t)i * n;
        const float *qi = Q + (size_t)i * d;
        int cnt = 0;
        for (int j = 0; j < n; j++)
            if (mrow[j]) scratch[cnt++] = (float)(dot(qi, K + (size_t)j * d, d) * scale);
        softmax(scratch, cnt);
        float *o = out + (size_t)i * dv;
        zero(o, (size_t)dv);
        for (int j = 0, c = 0; j < n; j++) {
            if (!mrow[j]) continue;
            const float *vj = V + (size_t)j * dv;
            for (int t = 0; t < dv; t++) o[t] += scratch[c] * vj[t];
            c++;
        }
    }
}

void effattn_exact_row_weights(const float *Q, const float *K, int n, int d, float scale,
                               int causal, int q, float *w)
{
    int lim = causal ? q + 1 : n;
    for (int j = 0; j < lim; j++) w[j] = (float)(dot(Q + (size_t)q * d, K + (size_t)j * d, d) * scale);
    softmax(w, lim);
    for (int j = lim; j < n; j++) w[j] = 0;
}

void effattn_attention_matrix(const float *Q, const float *K, int n, int d, float scale,
                              int causal, float *A)
{
    for (int i = 0; i < n; i++) effattn_exact_row_weights(Q, K, n, d, scale, causal, i, A + (size_t)i * n);
}

/* ------------------------------------------------------------------------------------ */
/* sparse */

/* Scores and softmax of row q over the pattern's keys < nkeys into w (compact, in key order);
 * returns the count. */
static int sparse_scores(const Pattern *p, int q, int nkeys, const float *qv, const float *K,
                         int ldk, int d, float scale, float *w)
{
    const int *r;
    int nr = pattern_row(p, q, &r), cnt = 0;
    for (int i = 0; i < nr && r[2 * i] < nkeys; i++) {
        int hi = r[2 * i + 1] < nkeys ? r[2 * i + 1] : nkeys;
        for (int j = r[2 * i]; j < hi; j++) w[cnt++] = (float)(dot(qv, K + (size_t)j * ldk, d) * scale);
    }
    softmax(w, cnt);
    return cnt;
}

int effattn_sparse_row(const Pattern *p, int q, int nkeys, const float *qv, const float *K,
                       int ldk, const float *V, int ldv, int d, int dv, float scale, float *out,
                       float *w, float *att_row)
{
    if (q < 0 || q >= p->n || nkeys > p->n)
        return ERR(ERR_ARG, "sparse attention: row %d of %d keys outside a pattern of n=%d", q,
                   nkeys, p->n);
    int cnt = sparse_scores(p, q, nkeys, qv, K, ldk, d, scale, w);
    zero(out, (size_t)dv);
    if (att_row) zero(att_row, (size_t)nkeys);
    const int *r;
    int nr = pattern_row(p, q, &r), c = 0;
    for (int i = 0; i < nr && r[2 * i] < nkeys; i++) {
        int hi = r[2 * i + 1] < nkeys ? r[2 * i + 1] : nkeys;
        for (int j = r[2 * i]; j < hi; j++, c++) {
            const float *vj = V + (size_t)j * ldv;
            for (int t = 0; t < dv; t++) out[t] += w[c] * vj[t];
            if (att_row) att_row[j] = w[c];
        }
    }
    return cnt;
}

int effattn_sparse(const Pattern *p, const float *Q, const float *K, const float *V, int n,
                   int d, int dv, float scale, float *out, float *scratch)
{
    if (n > p->n)
        return ERR(ERR_ARG, "sparse attention: %d positions, the pattern covers %d", n, p->n);
    for (int i = 0; i < n; i++) {
        int rc = effattn_sparse_row(p, i, n, Q + (size_t)i * d, K, d, V, dv, d, dv, scale,
                                    out + (size_t)i * dv, scratch, NULL);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Linformer */

size_t effattn_linformer_scratch(int k, int d, int dv)
{
    return (size_t)k * d + (size_t)k * dv + (size_t)k;
}

static int linformer_check(int n, int k, int lde)
{
    if (k < 1) return ERR(ERR_ARG, "linformer: k=%d must be >= 1", k);
    if (lde < n) return ERR(ERR_ARG, "linformer: projections cover %d positions, need %d", lde, n);
    return 0;
}

/* P (k, d) += E[:, j] x_j^T */
static void project_add(float *P, const float *E, int lde, int k, int j, const float *xj, int d)
{
    for (int c = 0; c < k; c++) {
        float e = E[(size_t)c * lde + j];
        float *pc = P + (size_t)c * d;
        for (int t = 0; t < d; t++) pc[t] += e * xj[t];
    }
}

/* softmax(q . Kp_c * scale) over c into a (k) */
static void linformer_weights(const float *qv, const float *Kp, int k, int d, float scale, float *a)
{
    for (int c = 0; c < k; c++) a[c] = (float)(dot(qv, Kp + (size_t)c * d, d) * scale);
    softmax(a, k);
}

int effattn_linformer(const float *Q, const float *K, const float *V, const float *E,
                      const float *F, int lde, int n, int d, int dv, int k, float scale,
                      int causal, float *out, float *scratch)
{
    int rc = linformer_check(n, k, lde);
    if (rc) return rc;
    float *Kp = scratch, *Vp = Kp + (size_t)k * d, *a = Vp + (size_t)k * dv;   /* (k,d) (k,dv) (k) */
    zero(Kp, (size_t)k * d);
    zero(Vp, (size_t)k * dv);
    if (!causal) {
        for (int j = 0; j < n; j++) {
            project_add(Kp, E, lde, k, j, K + (size_t)j * d, d);
            project_add(Vp, F, lde, k, j, V + (size_t)j * dv, dv);
        }
    }
    for (int i = 0; i < n; i++) {
        if (causal) {
            /* row i sees E[:, :i+1] K[:i+1]: one more column of the prefix sum */
            project_add(Kp, E, lde, k, i, K + (size_t)i * d, d);
            project_add(Vp, F, lde, k, i, V + (size_t)i * dv, dv);
        }
        linformer_weights(Q + (size_t)i * d, Kp, k, d, scale, a);
        float *o = out + (size_t)i * dv;
        zero(o, (size_t)dv);
        for (int c = 0; c < k; c++)
            for (int t = 0; t < dv; t++) o[t] += a[c] * Vp[(size_t)c * dv + t];
    }
    return 0;
}

int effattn_linformer_row_weights(const float *Q, const float *K, const float *E,
                                  const float *F, int lde, int n, int d, int k, float scale,
                                  int causal, int q, float *wk, float *w, float *scratch)
{
    int rc = linformer_check(n, k, lde);
    if (rc) return rc;
    if (q < 0 || q >= n) return ERR(ERR_ARG, "linformer: row %d outside 0..%d", q, n - 1);
    float *Kp = scratch, *a = Kp + (size_t)k * d;
    zero(Kp, (size_t)k * d);
    int lim = causal ? q + 1 : n;
    for (int j = 0; j < lim; j++) project_add(Kp, E, lde, k, j, K + (size_t)j * d, d);
    linformer_weights(Q + (size_t)q * d, Kp, k, d, scale, a);
    if (wk) memcpy(wk, a, (size_t)k * sizeof(float));
    for (int j = 0; j < n; j++) {
        double acc = 0;
        if (j < lim)
            for (int c = 0; c < k; c++) acc += (double)a[c] * F[(size_t)c * lde + j];
        w[j] = (float)acc;
    }
    return 0;
}

void effattn_linformer_init(float *P, int k, int n_max, unsigned long seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    /* xavier_uniform: bound = gain * sqrt(6 / (fan_in + fan_out)), gain 1/sqrt(2) */
    double bound = sqrt(0.5) * sqrt(6.0 / ((double)n_max + k));
    for (size_t i = 0; i < (size_t)k * n_max; i++)
        P[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * bound);
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------------------------------ */
/* Synthesizer */

/* logits of token i (first lim of l) into s; hid (h) scratch */
static void synth_dense_logits(const SynthDense *s, const float *xi, int lim, float *hid, float *lg)
{
    for (int u = 0; u < s->h; u++) {
        double a = dot(s->W1 + (size_t)u * s->dx, xi, s->dx) + s->b1[u];
        hid[u] = a > 0 ? (float)a : 0.0f;
    }
    for (int j = 0; j < lim; j++) lg[j] = (float)(dot(s->W2 + (size_t)j * s->h, hid, s->h) + s->b2[j]);
}

static void mix_rows(const float *a, int lim, const float *V, int dv, float *o)
{
    zero(o, (size_t)dv);
    for (int j = 0; j < lim; j++)
        for (int t = 0; t < dv; t++) o[t] += a[j] * V[(size_t)j * dv + t];
}

int effattn_synth_dense(const SynthDense *s, const float *X, const float *V, int n, int dv,
                        int causal, float *out, float *scratch)
{
    if (n > s->l) return ERR(ERR_ARG, "synthesizer: %d positions, rows hold %d", n, s->l);
    float *hid = scratch, *lg = scratch + s->h;
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        synth_dense_logits(s, X + (size_t)i * s->dx, lim, hid, lg);
        softmax(lg, lim);
        mix_rows(lg, lim, V, dv, out + (size_t)i * dv);
    }
    return 0;
}

int effattn_synth_random(const float *R, int l, const float *V, int n, int dv, int causal,
                         float *out, float *scratch)
{
    if (n > l) return ERR(ERR_ARG, "synthesizer: %d positions, the matrix holds %d", n, l);
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        memcpy(scratch, R + (size_t)i * l, (size_t)lim * sizeof(float));
        softmax(scratch, lim);
        mix_rows(scratch, lim, V, dv, out + (size_t)i * dv);
    }
    return 0;
}

int effattn_synth_dense_row_weights(const SynthDense *s, const float *X, int n, int causal,
                                    int q, float *w, float *scratch)
{
    if (n > s->l || q < 0 || q >= n)
        return ERR(ERR_ARG, "synthesizer: row %d of %d positions (rows hold %d)", q, n, s->l);
    int lim = causal ? q + 1 : n;
    synth_dense_logits(s, X + (size_t)q * s->dx, lim, scratch, w);
    softmax(w, lim);
    for (int j = lim; j < n; j++) w[j] = 0;
    return 0;
}

int effattn_synth_random_row_weights(const float *R, int l, int n, int causal, int q, float *w)
{
    if (n > l || q < 0 || q >= n)
        return ERR(ERR_ARG, "synthesizer: row %d of %d positions (the matrix holds %d)", q, n, l);
    int lim = causal ? q + 1 : n;
    memcpy(w, R + (size_t)q * l, (size_t)lim * sizeof(float));
    softmax(w, lim);
    for (int j = lim; j < n; j++) w[j] = 0;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* FAVOR+ and linear attention */

int effattn_favor_matrix(float *W, int m, int d, int orthogonal, int scaling,
                         unsigned long seed)
{
    if (m < 1 || d < 1) return ERR(ERR_ARG, "performer: m=%d features of d=%d must be >= 1", m, d);
    if (scaling != 0 && scaling != 1)
        return ERR(ERR_ARG, "performer: scaling=%d must be 0 (chi norms) or 1 (sqrt d)", scaling);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    if (!orthogonal) {
        /* performer-pytorch's non-orthogonal features: plain randn(m, d), no rescaling */
        for (size_t i = 0; i < (size_t)m * d; i++) W[i] = (float)gsl_ran_gaussian(rng, 1.0);
        gsl_rng_free(rng);
        return 0;
    }
    gsl_matrix *G = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_matrix *Qm = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_matrix *Rm = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_vector *tau = gsl_vector_alloc((size_t)d);
    int rc = 0;
    for (int row0 = 0; row0 < m && !rc; row0 += d) {
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) gsl_matrix_set(G, (size_t)a, (size_t)b, gsl_ran_gaussian(rng, 1.0));
        if (gsl_linalg_QR_decomp(G, tau) || gsl_linalg_QR_unpack(G, tau, Qm, Rm)) {
            rc = ERR(ERR_ARG, "performer: QR of a random block failed");
            break;
        }
        /* Q^T's rows are Q's columns; flipping each by sign(R_jj) makes Q Haar-distributed */
        int rows = m - row0 < d ? m - row0 : d;
        for (int r = 0; r < rows; r++) {
            double sg = gsl_matrix_get(Rm, (size_t)r, (size_t)r) < 0 ? -1.0 : 1.0;
            for (int t = 0; t < d; t++)
                W[(size_t)(row0 + r) * d + t] = (float)(sg * gsl_matrix_get(Qm, (size_t)t, (size_t)r));
        }
    }
    for (int r = 0; r < m && !rc; r++) {
        double mult;
        if (scaling == 0) {
            /* the norm of a fresh Gaussian vector: rows get the lengths iid rows would have */
            double s2 = 0;
            for (int t = 0; t < d; t++) {
                double g = gsl_ran_gaussian(rng, 1.0);
                s2 += g * g;
            }
            mult = sqrt(s2);
        } else {
            mult = sqrt((double)d);
        }
        for (int t = 0; t < d; t++) W[(size_t)r * d + t] = (float)(W[(size_t)r * d + t] * mult);
    }
    gsl_matrix_free(G);
    gsl_matrix_free(Qm);
    gsl_matrix_free(Rm);
    gsl_vector_free(tau);
    gsl_rng_free(rng);
    return rc;
}

void effattn_favor_features(const float *X, int n, int d, const float *W, int m, int is_query,
                            float feature_eps, float *phi)
{
    double norm = pow((double)d, -0.25), ratio = 1.0 / sqrt((double)m);
    double gmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        const float *xi = X + (size_t)i * d;
        double sq = 0;
        for (int t = 0; t < d; t++) sq += (double)xi[t] * xi[t];
        double dg = sq * norm * norm / 2;   /* |x~|^2 / 2 */
        float *pi = phi + (size_t)i * m;
        double rmax = -INFINITY;
        for (int f = 0; f < m; f++) {
            double a = dot(xi, W + (size_t)f * d, d) * norm;   /* x~ . w_f */
            rmax = a > rmax ? a : rmax;
            pi[f] = (float)(a - dg);
        }
        if (is_query) {
            /* queries: shift by the row's own max (a per-row constant cancels in the ratio) */
            for (int f = 0; f < m; f++) pi[f] = (float)(ratio * (exp(pi[f] - rmax) + feature_eps));
        } else {
            gmax = rmax > gmax ? rmax : gmax;
        }
    }
    if (is_query) return;
    /* keys: one shift for all keys and features, so key features stay comparable */
    for (size_t i = 0; i < (size_t)n * m; i++) phi[i] = (float)(ratio * (exp(phi[i] - gmax) + feature_eps));
}

void effattn_elu_features(const float *X, int n, int d, float *phi)
{
    for (size_t i = 0; i < (size_t)n * d; i++) phi[i] = X[i] > 0 ? X[i] + 1.0f : expf(X[i]);
}

void effattn_linear(const float *phi_q, const float *phi_k, const float *V, int n, int m,
                    int dv, int causal, float k_eps, float den_eps, float *out, float *scratch)
{
    float *S = scratch, *z = scratch + (size_t)m * dv;   /* (m, dv), (m) */
    zero(S, (size_t)m * dv);
    zero(z, (size_t)m);
    /* S = sum_j phi_k_j v_j^T and z = sum_j phi_k_j: once (bi) or as running sums (causal) */
    for (int j = 0; j < (causal ? 0 : n); j++) {
        const float *pk = phi_k + (size_t)j * m, *vj = V + (size_t)j * dv;
        for (int f = 0; f < m; f++) {
            z[f] += pk[f];
            for (int t = 0; t < dv; t++) S[(size_t)f * dv + t] += pk[f] * vj[t];
        }
    }
    for (int i = 0; i < n; i++) {
        if (causal) {
            const float *pk = phi_k + (size_t)i * m, *vi = V + (size_t)i * dv;
            for (int f = 0; f < m; f++) {
                z[f] += pk[f];
                for (int t = 0; t < dv; t++) S[(size_t)f * dv + t] += pk[f] * vi[t];
            }
        }
        const float *pq = phi_q + (size_t)i * m;
        double den = den_eps;
        for (int f = 0; f < m; f++) den += (double)pq[f] * ((double)z[f] + k_eps);
        float *o = out + (size_t)i * dv;
        for (int t = 0; t < dv; t++) {
            double num = 0;
            for (int f = 0; f < m; f++) num += (double)pq[f] * S[(size_t)f * dv + t];
            o[t] = (float)(num / den);
        }
    }
}

/* weights phi_q_i . phi_k_j for j < lim into w; returns the denominator */
static double linear_weights_row(const float *phi_q, const float *phi_k, int m, int lim,
                                 float k_eps, float den_eps, int i, float *w)
{
    const float *pq = phi_q + (size_t)i * m;
    double den = den_eps, qsum = 0;
    for (int f = 0; f < m; f++) qsum += pq[f];
    den += k_eps * qsum;
    for (int j = 0; j < lim; j++) {
        double a = dot(pq, phi_k + (size_t)j * m, m);
        w[j] = (float)a;
        den += a;
    }
    return den;
}

void effattn_linear_quadratic(const float *phi_q, const float *phi_k, const float *V, int n,
                              int m, int dv, int causal, float k_eps, float den_eps, float *out,
                              float *scratch)
{
    for (int i = 0; i < n; i++) {
        int lim = causal ? i + 1 : n;
        double den = linear_weights_row(phi_q, phi_k, m, lim, k_eps, den_eps, i, scratch);
        float *o = out + (size_t)i * dv;
        for (int t = 0; t < dv; t++) {
            double num = 0;
            for (int j = 0; j < lim; j++) num += (double)scratch[j] * V[(size_t)j * dv + t];
            o[t] = (float)(num / den);
        }
    }
}

void effattn_linear_row_weights(const float *phi_q, const float *phi_k, int n, int m, int causal,
                                float k_eps, float den_eps, int q, float *w)
{
    int lim = causal ? q + 1 : n;
    double den = linear_weights_row(phi_q, phi_k, m, lim, k_eps, den_eps, q, w);
    for (int j = 0; j < lim; j++) w[j] = (float)(w[j] / den);
    for (int j = lim; j < n; j++) w[j] = 0;
}

size_t effattn_favor_scratch(int n, int m, int dv)
{
    return 2 * (size_t)n * m + (size_t)m * dv + (size_t)m;
}

void effattn_favor(const float *Q, const float *K, const float *V, const float *W, int n, int d,
                   int dv, int m, int causal, float feature_eps, float causal_eps, float *out,
                   float *scratch)
{
    float *pq = scratch, *pk = scratch + (size_t)n * m, *rest = pk + (size_t)n * m;
    effattn_favor_features(Q, n, d, W, m, 1, feature_eps, pq);
    effattn_favor_features(K, n, d, W, m, 0, feature_eps, pk);
    /* performer-pytorch: no eps in the bidirectional denominator, k_cumsum + eps causally */
    effattn_linear(pq, pk, V, n, m, dv, causal, causal ? causal_eps : 0.0f, 0.0f, out, rest);
}

size_t effattn_elu_scratch(int n, int d, int dv)
{
    return 2 * (size_t)n * d + (size_t)d * dv + (size_t)d;
}

void effattn_elu(const float *Q, const float *K, const float *V, int n, int d, int dv, int causal,
                 float eps, float *out, float *scratch)
{
    float *pq = scratch, *pk = scratch + (size_t)n * d, *rest = pk + (size_t)n * d;
    effattn_elu_features(Q, n, d, pq);
    effattn_elu_features(K, n, d, pk);
    effattn_linear(pq, pk, V, n, d, dv, causal, 0.0f, eps, out, rest);
}

/* ------------------------------------------------------------------------------------ */
/* rank */

int effattn_singular_values(const float *A, int rows, int cols, double *sv)
{
    if (rows < 1 || cols < 1) return ERR(ERR_ARG, "svd: empty %dx%d matrix", rows, cols);
    /* gsl_linalg_SV_decomp wants rows >= cols: take the transpose otherwise (same values) */
    int tr = rows < cols;
    size_t M = (size_t)(tr ? cols : rows), N = (size_t)(tr ? rows : cols);
    gsl_matrix *U = gsl_matrix_alloc(M, N);
    gsl_matrix *Vm = gsl_matrix_alloc(N, N);
    gsl_vector *S = gsl_vector_alloc(N), *work = gsl_vector_alloc(N);
    for (size_t i = 0; i < (size_t)rows; i++)
        for (size_t j = 0; j < (size_t)cols; j++) {
            double x = A[i * (size_t)cols + j];
            if (tr) gsl_matrix_set(U, j, i, x);
            else gsl_matrix_set(U, i, j, x);
        }
    int rc = 0;
    if (gsl_linalg_SV_decomp(U, Vm, S, work)) rc = ERR(ERR_ARG, "svd: GSL failed on a %dx%d matrix", rows, cols);
    for (size_t i = 0; i < N && !rc; i++) sv[i] = gsl_vector_get(S, i);
    gsl_matrix_free(U);
    gsl_matrix_free(Vm);
    gsl_vector_free(S);
    gsl_vector_free(work);
    return rc;
}

int effattn_rank_for_energy(const double *sv, int count, double frac)
{
    double total = 0, acc = 0;
    for (int i = 0; i < count; i++) total += sv[i] * sv[i];
    for (int i = 0; i < count; i++) {
        acc += sv[i] * sv[i];
        if (acc >= frac * total) return i + 1;
    }
    return count;
}

/* ------------------------------------------------------------------------------------ */
/* Effattn: a kernel chosen by name */

void effattn_free(Effattn *e)
{
    if (!e) return;
    free(e->name);
    free(e->W);
    free(e->E);
    free(e->F);
    free(e->R);
    free(e->store);
    free(e);
}

static int parse_int_tok(const char *s, long lo, long hi, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float_tok(const char *s, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !isfinite(v) || v < 0) return -1;
    *out = v;
    return 0;
}

int effattn_parse(const char *text, int d, int n_max, unsigned long seed, Effattn **out)
{
    if (d < 1 || n_max < 1) return ERR(ERR_ARG, "kernel: head size %d, length %d", d, n_max);
    char *buf = xstrdup(text ? text : ""), *save = NULL;
    char **tok = NULL;
    int nt = 0, cap = 0, rc = 0;
    for (char *t = strtok_r(buf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
        if (nt == cap) tok = xrealloc(tok, (size_t)(cap = cap ? 2 * cap : 8) * sizeof *tok);
        tok[nt++] = t;
    }
    if (nt == 0) {
        free(buf);
        free(tok);
        return ERR(ERR_ARG, "kernel: no kernel given (exact, sparse, linformer K, performer M, "
                   "linear, synthesizer dense|random)");
    }
    Effattn *e = xcalloc(1, sizeof *e);
    e->d = d;
    e->n_max = n_max;
    e->scale = (float)(1.0 / sqrt((double)d));
    e->feature_eps = EFFATTN_FAVOR_FEATURE_EPS;
    e->causal_eps = EFFATTN_FAVOR_CAUSAL_EPS;
    e->linear_eps = EFFATTN_LINEAR_EPS;
    int first = 1, orthogonal = 1, scaling = 0, h = d;
    long x;
    double fx;
    if (!strcasecmp(tok[0], "exact")) e->kind = EFFATTN_EXACT;
    else if (!strcasecmp(tok[0], "sparse")) e->kind = EFFATTN_SPARSE;
    else if (!strcasecmp(tok[0], "linformer")) e->kind = EFFATTN_LINFORMER;
    else if (!strcasecmp(tok[0], "performer") || !strcasecmp(tok[0], "favor")) e->kind = EFFATTN_PERFORMER;
    else if (!strcasecmp(tok[0], "linear") || !strcasecmp(tok[0], "elu")) e->kind = EFFATTN_LINEAR;
    else if (!strcasecmp(tok[0], "synthesizer")) {
        if (nt < 2 || (strcasecmp(tok[1], "dense") && strcasecmp(tok[1], "random"))) {
            rc = ERR(ERR_ARG, "kernel: synthesizer needs dense or random");
            goto done;
        }
        e->kind = !strcasecmp(tok[1], "dense") ? EFFATTN_SYNTH_DENSE : EFFATTN_SYNTH_RANDOM;
        first = 2;
    } else {
        rc = ERR(ERR_ARG, "kernel: unknown kernel '%s' (exact, sparse, linformer K, performer M, "
                 "linear, synthesizer dense|random)", tok[0]);
        goto done;
    }
    for (int i = first; i < nt && !rc; i++) {
        char *v = strchr(tok[i], '=');
        const char *key = tok[i];
        if (v) *v++ = 0;
        if (!v && !strcasecmp(key, "iid") && e->kind == EFFATTN_PERFORMER) {
            orthogonal = 0;
        } else if (!v && i == first && (e->kind == EFFATTN_LINFORMER || e->kind == EFFATTN_PERFORMER)) {
            /* positional size: "linformer 32", "performer 64" */
            if (parse_int_tok(key, 1, 1 << 20, &x))
                rc = ERR(ERR_ARG, "kernel: '%s': expected a size >= 1", key);
            else if (e->kind == EFFATTN_LINFORMER) e->k = (int)x;
            else e->m = (int)x;
        } else if (!v) {
            rc = ERR(ERR_ARG, "kernel: '%s': expected name=value", key);
        } else if (!strcmp(key, "seed")) {
            if (parse_int_tok(v, 0, LONG_MAX, &x)) rc = ERR(ERR_ARG, "kernel: seed=%s", v);
            else seed = (unsigned long)x;
        } else if (!strcmp(key, "k") && e->kind == EFFATTN_LINFORMER) {
            if (parse_int_tok(v, 1, 1 << 20, &x)) rc = ERR(ERR_ARG, "kernel: k=%s must be >= 1", v);
            else e->k = (int)x;
        } else if (!strcmp(key, "m") && e->kind == EFFATTN_PERFORMER) {
            if (parse_int_tok(v, 1, 1 << 20, &x)) rc = ERR(ERR_ARG, "kernel: m=%s must be >= 1", v);
            else e->m = (int)x;
        } else if (!strcmp(key, "eps") && e->kind == EFFATTN_PERFORMER) {
            if (parse_float_tok(v, &fx)) rc = ERR(ERR_ARG, "kernel: eps=%s must be >= 0", v);
            else e->feature_eps = (float)fx;
        } else if (!strcmp(key, "eps") && e->kind == EFFATTN_LINEAR) {
            if (parse_float_tok(v, &fx)) rc = ERR(ERR_ARG, "kernel: eps=%s must be >= 0", v);
            else e->linear_eps = (float)fx;
        } else if (!strcmp(key, "scaling") && e->kind == EFFATTN_PERFORMER) {
            if (parse_int_tok(v, 0, 1, &x)) rc = ERR(ERR_ARG, "kernel: scaling=%s must be 0 or 1", v);
            else scaling = (int)x;
        } else if (!strcmp(key, "h") && e->kind == EFFATTN_SYNTH_DENSE) {
            if (parse_int_tok(v, 1, 1 << 20, &x)) rc = ERR(ERR_ARG, "kernel: h=%s must be >= 1", v);
            else h = (int)x;
        } else {
            rc = ERR(ERR_ARG, "kernel: %s takes no parameter '%s'", tok[0], key);
        }
    }
    if (rc) goto done;
    gsl_rng *rng;
    switch (e->kind) {
    case EFFATTN_EXACT: e->name = xstrdup("exact"); break;
    case EFFATTN_SPARSE: e->name = xstrdup("sparse"); break;
    case EFFATTN_LINEAR: e->name = xasprintf("linear elu+1 eps=%g", e->linear_eps); break;
    case EFFATTN_LINFORMER:
        if (e->k < 1) {
            rc = ERR(ERR_ARG, "kernel: linformer needs k (e.g. linformer 32)");
            break;
        }
        e->E = xmalloc((size_t)e->k * n_max * sizeof(float));
        e->F = xmalloc((size_t)e->k * n_max * sizeof(float));
        effattn_linformer_init(e->E, e->k, n_max, seed);
        effattn_linformer_init(e->F, e->k, n_max, seed + 1);
        e->name = xasprintf("linformer k=%d seed=%lu", e->k, seed);
        break;
    case EFFATTN_PERFORMER:
        if (e->m < 1) e->m = (int)(d * log((double)d)) > 0 ? (int)(d * log((double)d)) : 1;
        e->W = xmalloc((size_t)e->m * d * sizeof(float));
        rc = effattn_favor_matrix(e->W, e->m, d, orthogonal, scaling, seed);
        e->name = xasprintf("performer m=%d%s eps=%g seed=%lu", e->m, orthogonal ? "" : " iid",
                            e->feature_eps, seed);
        break;
    case EFFATTN_SYNTH_DENSE: {
        /* untrained weights, nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
        size_t n1 = (size_t)h * d, n2 = (size_t)n_max * h;
        e->store = xmalloc((n1 + h + n2 + (size_t)n_max) * sizeof(float));
        float *p = e->store;
        rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, seed);
        double b1 = 1 / sqrt((double)d), b2 = 1 / sqrt((double)h);
        for (size_t i = 0; i < n1 + h; i++) p[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * b1);
        for (size_t i = n1 + h; i < n1 + h + n2 + (size_t)n_max; i++)
            p[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * b2);
        gsl_rng_free(rng);
        e->synth = (SynthDense){.l = n_max, .dx = d, .h = h, .W1 = p, .b1 = p + n1,
                                .W2 = p + n1 + h, .b2 = p + n1 + h + n2};
        e->name = xasprintf("synthesizer dense h=%d seed=%lu", h, seed);
        break;
    }
    case EFFATTN_SYNTH_RANDOM: {
        size_t cells;
        if (size_mul((size_t)n_max, (size_t)n_max, &cells)) {
            rc = ERR(ERR_ARG, "kernel: synthesizer random for %d positions is too large", n_max);
            break;
        }
        e->R = xmalloc(cells * sizeof(float));
        rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, seed);
        for (size_t i = 0; i < cells; i++) e->R[i] = (float)gsl_ran_gaussian(rng, 1.0);
        gsl_rng_free(rng);
        e->name = xasprintf("synthesizer random seed=%lu", seed);
        break;
    }
    }
done:
    free(buf);
    free(tok);
    if (rc) {
        effattn_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

size_t effattn_scratch_floats(const Effattn *e, int n, int dv)
{
    size_t a = 0, b = 0;
    switch (e->kind) {
    case EFFATTN_EXACT: a = (size_t)n; break;
    case EFFATTN_SPARSE: a = e->pattern ? (size_t)e->pattern->max_row : (size_t)n; break;
    case EFFATTN_LINFORMER:
        a = effattn_linformer_scratch(e->k, e->d, dv);
        b = (size_t)e->k * e->d + 2 * (size_t)e->k;
        break;
    case EFFATTN_PERFORMER: a = effattn_favor_scratch(n, e->m, dv); break;
    case EFFATTN_LINEAR: a = effattn_elu_scratch(n, e->d, dv); break;
    case EFFATTN_SYNTH_DENSE: a = (size_t)e->synth.h + (size_t)e->synth.l; break;
    case EFFATTN_SYNTH_RANDOM: a = (size_t)n; break;
    }
    return (a > b ? a : b) + 1;
}

static int check_len(const Effattn *e, int n)
{
    if (n < 1) return ERR(ERR_ARG, "kernel %s: %d positions", e->name, n);
    int covers = e->kind == EFFATTN_LINFORMER || e->kind == EFFATTN_SYNTH_DENSE ||
                 e->kind == EFFATTN_SYNTH_RANDOM;
    if (covers && n > e->n_max)
        return ERR(ERR_ARG, "kernel %s: %d positions, its parameters cover %d", e->name, n, e->n_max);
    if (e->kind == EFFATTN_SPARSE && !e->pattern)
        return ERR(ERR_ARG, "kernel sparse: no pattern set");
    if (e->kind == EFFATTN_SPARSE && n > e->pattern->n)
        return ERR(ERR_ARG, "kernel sparse: %d positions, the pattern covers %d", n, e->pattern->n);
    return 0;
}

int effattn_forward(const Effattn *e, const float *Q, const float *K, const float *V, int n,
                    int dv, int causal, float *out, float *scratch)
{
    int rc = check_len(e, n);
    if (rc) return rc;
    int d = e->d;
    switch (e->kind) {
    case EFFATTN_EXACT: effattn_exact(Q, K, V, n, d, dv, e->scale, causal, out, scratch); return 0;
    case EFFATTN_SPARSE: return effattn_sparse(e->pattern, Q, K, V, n, d, dv, e->scale, out, scratch);
    case EFFATTN_LINFORMER:
        return effattn_linformer(Q, K, V, e->E, e->F, e->n_max, n, d, dv, e->k, e->scale, causal,
                                 out, scratch);
    case EFFATTN_PERFORMER:
        effattn_favor(Q, K, V, e->W, n, d, dv, e->m, causal, e->feature_eps, e->causal_eps, out, scratch);
        return 0;
    case EFFATTN_LINEAR: effattn_elu(Q, K, V, n, d, dv, causal, e->linear_eps, out, scratch); return 0;
    case EFFATTN_SYNTH_DENSE:
        /* each token's query vector is the input the synthesizing MLP sees */
        return effattn_synth_dense(&e->synth, Q, V, n, dv, causal, out, scratch);
    case EFFATTN_SYNTH_RANDOM: return effattn_synth_random(e->R, e->n_max, V, n, dv, causal, out, scratch);
    }
    return ERR(ERR_ARG, "kernel: unknown kind %d", e->kind);
}

int effattn_row_weights(const Effattn *e, const float *Q, const float *K, int n, int causal,
                        int q, float *w, float *scratch)
{
    int rc = check_len(e, n);
    if (rc) return rc;
    if (q < 0 || q >= n) return ERR(ERR_ARG, "kernel %s: row %d outside 0..%d", e->name, q, n - 1);
    int d = e->d;
    switch (e->kind) {
    case EFFATTN_EXACT: effattn_exact_row_weights(Q, K, n, d, e->scale, causal, q, w); return 0;
    case EFFATTN_SPARSE: {
        int cnt = sparse_scores(e->pattern, q, n, Q + (size_t)q * d, K, d, d, e->scale, scratch);
        (void)cnt;
        zero(w, (size_t)n);
        const int *r;
        int nr = pattern_row(e->pattern, q, &r), c = 0;
        for (int i = 0; i < nr && r[2 * i] < n; i++) {
            int hi = r[2 * i + 1] < n ? r[2 * i + 1] : n;
            for (int j = r[2 * i]; j < hi; j++) w[j] = scratch[c++];
        }
        return 0;
    }
    case EFFATTN_LINFORMER:
        return effattn_linformer_row_weights(Q, K, e->E, e->F, e->n_max, n, d, e->k, e->scale,
                                             causal, q, NULL, w, scratch);
    case EFFATTN_PERFORMER: {
        float *pq = scratch, *pk = scratch + (size_t)n * e->m;
        effattn_favor_features(Q, n, d, e->W, e->m, 1, e->feature_eps, pq);
        effattn_favor_features(K, n, d, e->W, e->m, 0, e->feature_eps, pk);
        effattn_linear_row_weights(pq, pk, n, e->m, causal, causal ? e->causal_eps : 0.0f, 0.0f, q, w);
        return 0;
    }
    case EFFATTN_LINEAR: {
        float *pq = scratch, *pk = scratch + (size_t)n * d;
        effattn_elu_features(Q, n, d, pq);
        effattn_elu_features(K, n, d, pk);
        effattn_linear_row_weights(pq, pk, n, d, causal, 0.0f, e->linear_eps, q, w);
        return 0;
    }
    case EFFATTN_SYNTH_DENSE: return effattn_synth_dense_row_weights(&e->synth, Q, n, causal, q, w, scratch);
    case EFFATTN_SYNTH_RANDOM: return effattn_synth_random_row_weights(e->R, e->n_max, n, causal, q, w);
    }
    return ERR(ERR_ARG, "kernel: unknown kind %d", e->kind);
}
