/* effattn — efficient attention kernels over plain matrices, each with its exact twin.
 *
 * Single-head kernels over row-major float matrices: Q (n, d), K (n, d), V (n, dv) -> out
 * (n, dv).  Exact softmax attention is the reference; the others are the families that trade
 * quality for cost: sparse attention over a Pattern, Linformer (low-rank projections of the
 * sequence axis), Synthesizer (weights not from query-key products), Performer FAVOR+ and the
 * Linear Transformer (kernel feature maps, with the causal prefix-sum form).  Every kernel
 * can also give the attention weights it implies for one query row, for the views.
 *
 * Memory: no kernel but exact keeps an n x n buffer (exact itself works row by row with n
 * floats); scratch is always the caller's (the *_scratch functions give its size in floats).
 * Costs: exact O(n^2 d); sparse O(cells d); Linformer O(n k d); FAVOR+ O(n m (d + dv));
 * linear O(n d dv).
 *
 * Conventions (checked against ../shared/oracles/attention/kernel_attention_small.txt):
 *   exact       softmax(Q K^T * scale) V, scale = 1/sqrt(d); causal keeps j <= i.  A row with
 *               no allowed key gives 0 (as HF Longformer zeroes such rows).
 *   FAVOR+      x~ = x d^-1/4 for queries and keys; phi(x) = m^-1/2 (exp(x~ W^T - |x~|^2/2 - c)
 *               + feature_eps), c = the row's max over features (queries) or the max over
 *               all keys and features (keys); W (m, d) rows are the random features.
 *               bi: out_i = phi_q_i^T (sum_j phi_k_j v_j^T) / (phi_q_i . sum_j phi_k_j);
 *               causal: sums over j <= i, each feature's key sum + causal_eps.
 *   linear      phi = elu(x) + 1 on raw q, k; out_i = phi_q_i^T S / (phi_q_i . z + eps).
 *   Linformer   softmax(Q (E K)^T * scale) (F V), E, F (k, n) (the first n columns of a
 *               longer projection, as fairseq truncates); causal form: row i uses
 *               E[:, :i+1] K[:i+1] (a prefix sum), the same truncation applied per row.
 * References: Performer (arXiv:2009.14794) and performer-pytorch softmax_kernel /
 * linear_attention / causal_linear_attention_noncuda; fast-transformers LinearAttention and
 * CausalLinearAttention; Linformer (arXiv:2006.04768) and fairseq MultiheadLinearAttention;
 * Synthesizer (arXiv:2005.00743); ../shared/research/attention.md sections 1, 4, 5.
 */
#ifndef LECTERN_EFFATTN_H
#define LECTERN_EFFATTN_H

#include <stddef.h>

#include "engine/pattern.h"

/* Rows per block of the streaming kernels (Linformer, FAVOR+, linear) and per tile of the
 * sparse kernel: big enough for sgemm to run at speed, small enough to stay in cache. */
#define EFFATTN_BLOCK 64

/* performer-pytorch softmax_kernel's eps, added to every feature after the max shift */
#define EFFATTN_FAVOR_FEATURE_EPS 1e-4f
/* performer-pytorch causal_linear_attention_noncuda: k_cumsum + eps */
#define EFFATTN_FAVOR_CAUSAL_EPS 1e-6f
/* fast-transformers LinearAttention / CausalLinearAttention eps in the denominator */
#define EFFATTN_LINEAR_EPS 1e-6f

/* ---- exact (reference) ---- */
/* scratch (n). */
void effattn_exact(const float *Q, const float *K, const float *V, int n, int d, int dv,
                   float scale, int causal, float *out, float *scratch);
/* Exact attention with a dense 0/1 mask (n, n): the twin of the sparse kernel.  scratch (n). */
void effattn_exact_masked(const float *Q, const float *K, const float *V, int n, int d, int dv,
                          float scale, const unsigned char *mask, float *out, float *scratch);
/* Softmax weights of query row q over keys 0..n-1 (0 where masked): w (n). */
void effattn_exact_row_weights(const float *Q, const float *K, int n, int d, float scale,
                               int causal, int q, float *w);
/* The full attention matrix (n, n) (exact only: the matrix a lesson takes the SVD of). */
void effattn_attention_matrix(const float *Q, const float *K, int n, int d, float scale,
                              int causal, float *A);

/* ---- sparse ---- */
/* Floats of the sparse kernel's score tile (128 KiB: it stays in L2). */
#define EFFATTN_SPARSE_TILE 32768
/* Scratch floats for effattn_sparse on every thread OpenMP would run now: that many shares of
 * max(p->max_row, EFFATTN_SPARSE_TILE + EFFATTN_BLOCK), O(n) each.  One share is the least
 * effattn_sparse accepts (it then runs on one thread). */
size_t effattn_sparse_scratch(const Pattern *p);
/* Attention over exactly the pattern's keys, for the first n <= p->n positions (keys >= n
 * are clipped).  scratch (scratch_floats >= effattn_sparse_scratch(p)).  Rows whose key ranges
 * slide together (windows, blocks) go in tiles through gemm.c, the rest one by one; the cost
 * stays O(cells (d + dv)); threads take contiguous shares of the rows.  ERR_ARG when
 * n > p->n or the scratch is less than one share. */
int effattn_sparse(const Pattern *p, const float *Q, const float *K, const float *V, int n,
                   int d, int dv, float scale, float *out, float *scratch, size_t scratch_floats);
/* One query row q of a strided cache, the form a model with a KV cache calls: keys 0..nkeys-1
 * at K + j*ldk, values at V + j*ldv; qv (d); out (dv); w (p->max_row) scratch; att_row
 * (nkeys) or NULL receives the row's weights (0 off the pattern).  Returns the number of
 * keys attended (0: out is zero). */
int effattn_sparse_row(const Pattern *p, int q, int nkeys, const float *qv, const float *K,
                       int ldk, const float *V, int ldv, int d, int dv, float scale, float *out,
                       float *w, float *att_row);

/* ---- Linformer ---- */
size_t effattn_linformer_scratch(int k, int d, int dv);   /* k*d + k*dv + EFFATTN_BLOCK*k */
/* E, F (k, >= n) with row stride lde.  ERR_ARG when k < 1 or lde < n. */
int effattn_linformer(const float *Q, const float *K, const float *V, const float *E,
                      const float *F, int lde, int n, int d, int dv, int k, float scale,
                      int causal, float *out, float *scratch);
/* Row q: wk (k) the softmax over the projected keys (may be NULL) and w (n) the implied
 * weight of each token, w_j = sum_c wk_c F[c][j] (not a distribution: F mixes tokens). */
int effattn_linformer_row_weights(const float *Q, const float *K, const float *E,
                                  const float *F, int lde, int n, int d, int k, float scale,
                                  int causal, int q, float *wk, float *w, float *scratch);
/* fairseq's init of E/F (nn.Linear(n_max, k) weight, xavier_uniform with gain 1/sqrt 2),
 * drawn from gsl_rng mt19937(seed): P (k, n_max). */
void effattn_linformer_init(float *P, int k, int n_max, unsigned long seed);

/* ---- Synthesizer ---- */
typedef struct {
    int l;            /* longest sequence: each token synthesizes a row of l logits */
    int dx, h;        /* token width, hidden width */
    const float *W1;  /* (h, dx) */
    const float *b1;  /* (h) */
    const float *W2;  /* (l, h) */
    const float *b2;  /* (l) */
} SynthDense;
/* Dense: logits_i = W2 relu(W1 x_i + b1) + b2 (first n of l), out = softmax(logits) V.
 * X (n, dx).  scratch (h + l).  ERR_ARG when n > l. */
int effattn_synth_dense(const SynthDense *s, const float *X, const float *V, int n, int dv,
                        int causal, float *out, float *scratch);
/* Random: logits_i = R[i][0..n) of a fixed (l, l) matrix.  scratch (n). */
int effattn_synth_random(const float *R, int l, const float *V, int n, int dv, int causal,
                         float *out, float *scratch);
/* Row q's weights, w (n); scratch (h + l) for dense, unused for random. */
int effattn_synth_dense_row_weights(const SynthDense *s, const float *X, int n, int causal,
                                    int q, float *w, float *scratch);
int effattn_synth_random_row_weights(const float *R, int l, int n, int causal, int q, float *w);

/* ---- kernel (feature-map) attention ---- */
/* Random features W (m, d): orthogonal = 1 stacks ceil(m/d) blocks, each Q^T of the QR (GSL)
 * of a d x d N(0,1) matrix (sign-fixed so Q is Haar), the last block cut to m mod d rows;
 * orthogonal = 0 draws iid N(0,1) rows.  scaling 0 multiplies each row by the norm of a
 * fresh N(0,1)^d vector, scaling 1 by sqrt(d) (performer-pytorch
 * gaussian_orthogonal_random_matrix).  ERR_ARG on m, d < 1 or scaling not 0/1. */
int effattn_favor_matrix(float *W, int m, int d, int orthogonal, int scaling,
                         unsigned long seed);
/* FAVOR+ positive features phi (n, m) of X (n, d). */
void effattn_favor_features(const float *X, int n, int d, const float *W, int m, int is_query,
                            float feature_eps, float *phi);
/* elu(x) + 1, phi (n, d). */
void effattn_elu_features(const float *X, int n, int d, float *phi);
/* Linear attention from features: out_i = phi_q_i^T S_i / (phi_q_i . (z_i + k_eps) + den_eps),
 * S_i = sum phi_k_j v_j^T, z_i = sum phi_k_j over all j (bi) or j <= i (causal: prefix sums
 * carried from block to block of EFFATTN_BLOCK rows, each block adding its own lower
 * triangle: O(m dv) state).  phi_q, phi_k (n, m); scratch (effattn_linear_scratch(m, dv)). */
size_t effattn_linear_scratch(int m, int dv);   /* m*dv + m + EFFATTN_BLOCK^2 */
void effattn_linear(const float *phi_q, const float *phi_k, const float *V, int n, int m,
                    int dv, int causal, float k_eps, float den_eps, float *out, float *scratch);
/* The same output the quadratic way (row by row over the weights): the prefix form's twin.
 * scratch (n). */
void effattn_linear_quadratic(const float *phi_q, const float *phi_k, const float *V, int n,
                              int m, int dv, int causal, float k_eps, float den_eps, float *out,
                              float *scratch);
/* Row q's implied weights phi_q_q . phi_k_j / denominator: w (n). */
void effattn_linear_row_weights(const float *phi_q, const float *phi_k, int n, int m, int causal,
                                float k_eps, float den_eps, int q, float *w);

/* effattn_linear_scratch(m, dv) + 2*EFFATTN_BLOCK*m: the features are made one block of rows
 * at a time, never for all n (the size does not grow with n; the argument stays for the
 * callers' sake) */
size_t effattn_favor_scratch(int n, int m, int dv);
/* FAVOR+ end to end with given W (m, d): effattn_favor_features + effattn_linear, streamed. */
void effattn_favor(const float *Q, const float *K, const float *V, const float *W, int n, int d,
                   int dv, int m, int causal, float feature_eps, float causal_eps, float *out,
                   float *scratch);
size_t effattn_elu_scratch(int n, int d, int dv);     /* the same with m = d */
void effattn_elu(const float *Q, const float *K, const float *V, int n, int d, int dv, int causal,
                 float eps, float *out, float *scratch);

/* ---- rank ---- */
/* Singular values of A (rows, cols), descending, into sv (min(rows, cols)), through GSL's
 * gsl_linalg_SV_decomp (Golub-Reinsch).  ERR_ARG on empty sizes. */
int effattn_singular_values(const float *A, int rows, int cols, double *sv);
/* Smallest r with sum_{i<r} sv_i^2 >= frac * sum sv_i^2 (the "effective rank" of a lesson). */
int effattn_rank_for_energy(const double *sv, int count, double frac);

/* ---- a kernel as a runtime choice (what `kernel NAME` selects for a model) ----
 * Text: exact | sparse (pattern supplied separately) | linformer [k=]K | performer [m=]M
 * [eps=E] [iid] [scaling=0|1] | linear | synthesizer dense [h=H] | synthesizer random;
 * seed=S anywhere overrides the seed argument.  Random parameters (E/F, W, the Synthesizer's
 * weights) are drawn at parse time for head size d and sequences up to n_max. */
typedef enum {
    EFFATTN_EXACT = 0, EFFATTN_SPARSE, EFFATTN_LINFORMER, EFFATTN_PERFORMER, EFFATTN_LINEAR,
    EFFATTN_SYNTH_DENSE, EFFATTN_SYNTH_RANDOM
} EffattnKind;

typedef struct Effattn {
    EffattnKind kind;
    char *name;              /* "performer m=64 seed=3" */
    int d, n_max;            /* head size, longest sequence */
    float scale;             /* 1/sqrt(d) for the softmax kinds */
    const Pattern *pattern;  /* EFFATTN_SPARSE: borrowed, set by the caller */
    int m;                   /* performer: features */
    float *W;                /* performer: (m, d) */
    float feature_eps, causal_eps;
    float linear_eps;        /* linear */
    int k;                   /* linformer: projected length */
    float *E, *F;            /* linformer: (k, n_max) */
    SynthDense synth;        /* synthesizer dense: pointers into store */
    float *R;                /* synthesizer random: (n_max, n_max) */
    float *store;            /* owned parameter storage */
} Effattn;

int effattn_parse(const char *text, int d, int n_max, unsigned long seed, Effattn **out);
void effattn_free(Effattn *e);   /* NULL is a no-op */
/* Scratch floats effattn_forward / effattn_row_weights need for n positions. */
size_t effattn_scratch_floats(const Effattn *e, int n, int dv);
/* Q, K (n, d = e->d), V (n, dv) -> out (n, dv).  ERR_ARG when n > n_max where parameters
 * cover only n_max positions, or sparse without a pattern / with a shorter one. */
int effattn_forward(const Effattn *e, const float *Q, const float *K, const float *V, int n,
                    int dv, int causal, float *out, float *scratch);
/* The weights query q puts on keys 0..n-1 (implied weights for kernel methods): w (n). */
int effattn_row_weights(const Effattn *e, const float *Q, const float *K, int n, int causal,
                        int q, float *w, float *scratch);

#endif
