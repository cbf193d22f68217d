/* pattern — which keys each query may attend to, as data.
 *
 * A Pattern is a square n x n 0/1 relation kept row by row as sorted, disjoint key ranges
 * [start, end): a kernel walks exactly the allowed keys, so its cost is O(allowed cells),
 * and the dense 0/1 matrix is only ever derived (pattern_dense) for views and tests.
 * Row = query i, column = key j, 1 = may attend (the convention of every reference).
 *
 * Growing sequences.  A pattern is built for a length n (rows and keys 0..n-1).  Running a
 * prefix of t <= n positions means the restriction to [0,t)^2: kernels take t and clip
 * every range at t.  For causal patterns the restriction is exactly the pattern built for
 * t (rows never look past themselves, random rows are drawn in row order), so a model builds
 * the pattern once for its context length and runs any prefix.  Bidirectional patterns
 * whose rows depend on n (random keys drawn from [0,n), DeepSpeed Fixed's short last
 * window, LSH) should be rebuilt for the exact n when exactness matters; building costs
 * O(cells), far less than the attention it feeds.
 *
 * Each layer holds its own Pattern (AttnSpec.pattern in model.h), so window sizes growing
 * with depth are a list of patterns; PatternSpec (below) builds the one for layer l from a
 * text such as "window w=4:8:16" (the l-th value, the last one repeating).
 *
 * Kinds (causal forms keep keys j <= i):
 *   full         every key
 *   window w     |i-j| <= w/2 (bidirectional, Longformer's band of w+1);
 *                the last w keys i-w+1..i (causal)
 *   dilated w d  keys i + k*d, |k| <= w/2 (bi); i - k*d, 0 <= k < w (causal); d = 1 is window
 *   global g     positions g see every key and are seen by every query; plus the diagonal,
 *                so no row is empty
 *   random r     r distinct keys per row, uniform over the allowed keys (gsl_rng mt19937)
 *   bigbird      window w + global g + r random keys per non-global row drawn among the keys
 *                the window and the globals do not already cover (as HF BigBird)
 *   block b      block-diagonal blocks of b (a short last block when b does not divide n)
 *   longformer   HF Longformer: w even, window |i-j| <= w/2, global rows and columns
 *   deepspeed    a DeepSpeed block layout (engine/deepspeed.h), kron(layout, ones(b,b));
 *                the causal form adds the token-level mask DeepSpeed leaves to the caller
 *   lsh          Reformer LSH buckets of given vectors (engine/lsh.h)
 * References: Longformer (Beltagy et al. 2020) and HF modeling_longformer.py; BigBird (Zaheer
 * et al. 2020); DeepSpeed sparsity_config.py; Reformer (Kitaev et al. 2020) and HF
 * modeling_reformer.py.  Definitions and pitfalls: ../shared/research/attention.md.
 */
#ifndef LECTERN_PATTERN_H
#define LECTERN_PATTERN_H

#include <stddef.h>

#include "engine/lsh.h"

typedef enum {
    PATTERN_FULL = 0, PATTERN_WINDOW, PATTERN_DILATED, PATTERN_GLOBAL, PATTERN_RANDOM,
    PATTERN_BIGBIRD, PATTERN_BLOCK, PATTERN_LONGFORMER, PATTERN_DEEPSPEED, PATTERN_LSH,
    PATTERN_DENSE
} PatternKind;

/* Read-only outside pattern.c; use the accessors below when in doubt. */
typedef struct Pattern {
    PatternKind kind;
    int n;                  /* rows = keys */
    int causal;             /* 1: no row holds a key past itself */
    char *name;             /* "sliding window w=4 causal" */
    size_t *row_off;        /* (n + 1) row q's ranges are ranges[2*row_off[q] .. 2*row_off[q+1]) */
    int *ranges;            /* (row_off[n], 2) [start, end) pairs, sorted, disjoint, non-adjacent */
    size_t cells;           /* allowed (query, key) cells */
    int max_row;            /* cells in the longest row: the sparse kernel's scratch */
    unsigned char *layout;  /* (layout_nb, layout_nb) block layout of a DeepSpeed pattern, else NULL */
    int layout_nb, layout_block;
} Pattern;

/* ---- building: every constructor returns 0 and sets *out, or ERR_ARG with a message
 * naming the parameter (and leaves *out untouched).  n >= 1.  Free with pattern_free. ---- */
int pattern_alloc_full(Pattern **out, int n, int causal);
int pattern_alloc_window(Pattern **out, int n, int w, int causal);            /* w >= 1 */
int pattern_alloc_dilated(Pattern **out, int n, int w, int d, int causal);    /* w, d >= 1 */
/* pos: ng global positions (each in [0,n), duplicates allowed). */
int pattern_alloc_global(Pattern **out, int n, const int *pos, int ng, int causal);
int pattern_alloc_random(Pattern **out, int n, int r, unsigned long seed, int causal); /* r >= 1 */
/* w >= 1, r >= 0, ng >= 0. */
int pattern_alloc_bigbird(Pattern **out, int n, int w, const int *pos, int ng, int r,
                          unsigned long seed, int causal);
int pattern_alloc_block(Pattern **out, int n, int b, int causal);             /* b >= 1 */
/* HF Longformer's mask: attention_window w (even, >= 2), global positions. */
int pattern_alloc_longformer(Pattern **out, int n, int w, const int *pos, int ng, int causal);
/* Token pattern kron(layout, ones(block, block)) restricted to n = nb*block tokens (with the
 * token-level causal mask when causal).  layout (nb, nb) 0/1; name may be NULL. */
int pattern_alloc_layout(Pattern **out, const unsigned char *layout, int nb, int block,
                         int causal, const char *name);
/* Any 0/1 matrix (n, n); causal is only recorded (the caller vouches for it). */
int pattern_alloc_dense(Pattern **out, const unsigned char *mask, int n, int causal,
                        const char *name);
/* Reformer LSH over x (n, d) with shared QK: random rotations drawn from seed, bucket =
 * argmax[xR; -xR] per round, stable sort by (bucket, position), chunks of `chunk` sorted
 * entries attend to themselves and the previous chunk (circularly); the pattern is the union
 * over rounds (engine/lsh.h has the steps, and factorized buckets).  n_buckets even >= 2,
 * n_hashes >= 1, chunk >= 1. */
int pattern_alloc_lsh(Pattern **out, const float *x, int n, int d, int n_buckets, int n_hashes,
                      int chunk, unsigned long seed, int causal);
/* The last LSH step alone: chunk visibility of a sorted order (lsh_sort) of H*n entries. */
int pattern_alloc_lsh_sorted(Pattern **out, const LshSpec *s, const int *sorted, int n,
                             int causal);

void pattern_free(Pattern *p);   /* NULL is a no-op */

/* ---- reading ---- */
/* Row q's ranges: *ranges points at count pairs (start, end) inside p; valid while p lives. */
static inline int pattern_row(const Pattern *p, int q, const int **ranges)
{
    *ranges = p->ranges + 2 * p->row_off[q];
    return (int)(p->row_off[q + 1] - p->row_off[q]);
}
/* 1 when query q may attend key k. */
int pattern_allows(const Pattern *p, int q, int k);
/* Cells of row q restricted to keys < t. */
int pattern_row_cells(const Pattern *p, int q, int t);
/* Writes the dense 0/1 matrix (n, n). */
void pattern_dense(const Pattern *p, unsigned char *out);
size_t pattern_active_cells(const Pattern *p);
/* The first t rows and keys: (t, t) 0/1.  t <= n. */
void pattern_dense_prefix(const Pattern *p, int t, unsigned char *out);
const char *pattern_name(const Pattern *p);
/* A DeepSpeed pattern's block layout (nb, nb), or NULL for other kinds. */
const unsigned char *pattern_block_layout(const Pattern *p, int *nb, int *block);
/* Rows of '0'/'1' characters, each ended by '\n': the text the CLI prints and the oracle
 * files hold.  Returns an xmalloc'd string. */
char *pattern_matrix_text(const unsigned char *m, int rows, int cols);

/* ---- graph facts ---- */
/* Which inputs output position q can depend on after the given layers.  layers[0] is the
 * lowest layer; all have the same n.  residual = 1 adds each position's own stream (a
 * transformer's residual connection), so reach only grows with depth.  reach (n) gets 0/1;
 * returns the count of reachable inputs, or ERR_ARG. */
int pattern_reach(const Pattern *const *layers, int n_layers, int q, int residual,
                  unsigned char *reach);
/* Shortest chain of "attends to" edges from query `from` to key `to` in the union of the np
 * patterns (information flows the other way: from `to` up to `from`).  path (n) receives
 * from, ..., to; *len = number of positions on it (hops + 1), 0 when `to` is unreachable.
 * BFS where each position is visited once however wide the ranges: O(n + ranges). */
int pattern_path(const Pattern *const *ps, int np, int from, int to, int *path, int *len);

/* ---- from text: what the REPL and `lectern pattern` call ----
 * Grammar: NAME [key=value ...], values are integers, comma lists for positions, and
 * ':'-separated per-layer lists for scalar parameters ("window w=4:8:16": layer 0 gets 4,
 * layer 1 gets 8, layers >= 2 get 16).
 *   full
 *   window w=W                     dilated w=W d=D
 *   global g=I,J,...               random r=R [seed=S]
 *   bigbird w=W [g=I,J,...] [r=R] [seed=S]      (alias: combined; r defaults to 1)
 *   block b=B                      longformer w=W [g=I,J,...]
 *   deepspeed class=Fixed|Variable|BigBird|BSLongformer|LocalSlidingWindow|Dense
 *             [DeepSpeed parameter=value ...]   (names and defaults of sparsity_config.py)
 *   lsh [buckets=4 | buckets=2x4] [hashes=1] [chunk=4] [seed=S]   (needs vectors to build)
 * seed= in the text overrides the seed argument. */
typedef struct PatternSpec PatternSpec;
int pattern_spec_parse(const char *text, PatternSpec **out);
/* Builds the pattern of layer `layer` for length n.  x (n, d) are the vectors LSH hashes
 * (the layer's shared query/key vectors); NULL is fine for every other kind. */
int pattern_spec_build(const PatternSpec *s, int layer, int n, int causal, unsigned long seed,
                       const float *x, int d, Pattern **out);
int pattern_spec_needs_vectors(const PatternSpec *s);   /* 1 for lsh */
const char *pattern_spec_text(const PatternSpec *s);   /* the normalised text */
void pattern_spec_free(PatternSpec *s);                /* NULL is a no-op */
/* pattern_spec_parse + pattern_spec_build for layer 0 without vectors. */
int pattern_parse(const char *text, int n, int causal, unsigned long seed, Pattern **out);

#endif
