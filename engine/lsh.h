/* lsh — Reformer's locality-sensitive hashing of shared query/key vectors, step by step.
 *
 * The steps of HF LSHSelfAttention (attention.md section 3), each a function so a lesson and
 * the tests can look at the intermediate results: random rotations R (Gaussian, not
 * orthogonalised), buckets = argmax([xR; -xR]) per round (factorized [a, b] buckets:
 * argmax over the first a/2 rotated columns + a * argmax over the next b/2), round h offset
 * by h * n_buckets, a stable sort of the round-concatenated H*n entries by (bucket,
 * position), chunks of `chunk` sorted entries that attend to themselves and to the
 * chunks_before previous chunks (circularly: chunk 0 sees the last one; rounds mix at their
 * boundaries).  The visibility is the union over rounds.  pattern_alloc_lsh wraps it all.
 * Deviation from HF: a length that is not a multiple of chunk gets a short last chunk (HF
 * pads); n <= chunk gives full attention as in HF.
 */
#ifndef LECTERN_LSH_H
#define LECTERN_LSH_H

typedef struct {
    int nb_a;           /* buckets, or the first factor of factorized buckets; even >= 2 */
    int nb_b;           /* second factor (even >= 2), or 0 when not factorized */
    int n_hashes;       /* rounds H >= 1 */
    int chunk;          /* lsh_attn_chunk_length >= 1 */
    int chunks_before;  /* lsh_num_chunks_before, 1 */
    int chunks_after;   /* lsh_num_chunks_after, 0 */
} LshSpec;

int lsh_spec_check(const LshSpec *s);
int lsh_buckets_total(const LshSpec *s);     /* nb_a, or nb_a * nb_b */
int lsh_rot_half(const LshSpec *s);          /* rotated columns per round: (nb_a + nb_b) / 2 */

/* R (H, d, rot_half) ~ N(0,1) from a gsl_rng mt19937 seeded with seed. */
void lsh_rotations(const LshSpec *s, int d, unsigned long seed, float *R);
/* Offset buckets (H, n): round h's bucket of position i, plus h * buckets_total. */
void lsh_hash(const LshSpec *s, const float *x, int n, int d, const float *R, int *buckets);
/* sorted (H*n): indices into the round-concatenated array ordered by (bucket, position);
 * undo (H*n) its inverse, may be NULL.  ERR_ARG if H*n overflows. */
int lsh_sort(const int *buckets, int n, int H, int *sorted, int *undo);
/* The pattern itself is built from `sorted` by pattern_alloc_lsh_sorted (pattern.h),
 * row by row without an n x n buffer. */

#endif
