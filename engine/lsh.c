/* lsh — Reformer's angular LSH: rotations, buckets, the stable (bucket, position) sort.
 *
 * Owns the hashing steps of HF LSHSelfAttention (_hash_vectors,
 * _get_sorted_bucket_idx_and_undo_sorted_bucket_idx); the chunk visibility that turns a
 * sorted order into a pattern lives in pattern.c (pattern_alloc_lsh_sorted), and attention
 * over it in effattn.c.  Reference: Kitaev et al. 2020 (arXiv:2001.04451) section 2; HF
 * modeling_reformer.py; ../shared/research/attention.md section 3.
 */
#include "engine/lsh.h"

#include <limits.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "engine/err.h"

int lsh_spec_check(const LshSpec *s)
{
    if (s->nb_a < 2 || s->nb_a % 2)
        return ERR(ERR_ARG, "lsh: buckets=%d must be even and >= 2", s->nb_a);
    if (s->nb_b != 0 && (s->nb_b < 2 || s->nb_b % 2))
        return ERR(ERR_ARG, "lsh: second bucket factor %d must be even and >= 2", s->nb_b);
    if (s->nb_b && (long long)s->nb_a * s->nb_b > INT_MAX / 2)
        return ERR(ERR_ARG, "lsh: %d x %d buckets is too many", s->nb_a, s->nb_b);
    if (s->n_hashes < 1) return ERR(ERR_ARG, "lsh: hashes=%d must be >= 1", s->n_hashes);
    if ((long long)s->n_hashes * lsh_buckets_total(s) > INT_MAX)
        return ERR(ERR_ARG, "lsh: %d rounds of %d buckets is too many", s->n_hashes,
                   lsh_buckets_total(s));
    if (s->chunk < 1) return ERR(ERR_ARG, "lsh: chunk=%d must be >= 1", s->chunk);
    if (s->chunks_before < 0 || s->chunks_after < 0)
        return ERR(ERR_ARG, "lsh: chunks before/after %d/%d must be >= 0", s->chunks_before,
                   s->chunks_after);
    return 0;
}

int lsh_buckets_total(const LshSpec *s) { return s->nb_b ? s->nb_a * s->nb_b : s->nb_a; }

int lsh_rot_half(const LshSpec *s) { return (s->nb_a + s->nb_b) / 2; }

void lsh_rotations(const LshSpec *s, int d, unsigned long seed, float *R)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    size_t n = (size_t)s->n_hashes * d * lsh_rot_half(s);
    for (size_t i = 0; i < n; i++) R[i] = (float)gsl_ran_gaussian(rng, 1.0);
    gsl_rng_free(rng);
}

/* argmax over [v; -v] (2k values), first maximum as torch.argmax */
static int argmax_pm(const double *v, int k)
{
    int best = 0;
    double bv = v[0];
    for (int j = 1; j < 2 * k; j++) {
        double x = j < k ? v[j] : -v[j - k];
        if (x > bv) {
            bv = x;
            best = j;
        }
    }
    return best;
}

void lsh_hash(const LshSpec *s, const float *x, int n, int d, const float *R, int *buckets)
{
    int rh = lsh_rot_half(s), total = lsh_buckets_total(s);
    double *rot = xmalloc((size_t)rh * sizeof(double));
    for (int h = 0; h < s->n_hashes; h++) {
        const float *Rh = R + (size_t)h * d * rh;   /* (d, rh) */
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * d;
            for (int j = 0; j < rh; j++) {
                double acc = 0;
                for (int k = 0; k < d; k++) acc += (double)xi[k] * Rh[(size_t)k * rh + j];
                rot[j] = acc;
            }
            int b;
            if (!s->nb_b) {
                b = argmax_pm(rot, rh);
            } else {
                /* factorized: first nb_a/2 columns pick the low digit, the next nb_b/2 the high */
                b = argmax_pm(rot, s->nb_a / 2) + s->nb_a * argmax_pm(rot + s->nb_a / 2, s->nb_b / 2);
            }
            buckets[(size_t)h * n + i] = b + h * total;
        }
    }
    free(rot);
}

typedef struct {
    long long key;
    int idx;
} SortItem;

static int cmp_item(const void *a, const void *b)
{
    const SortItem *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

int lsh_sort(const int *buckets, int n, int H, int *sorted, int *undo)
{
    size_t total;
    if (n < 1 || H < 1 || size_mul((size_t)n, (size_t)H, &total) || total > INT_MAX)
        return ERR(ERR_ARG, "lsh: %d rounds of %d positions", H, n);
    /* HF: scaled_buckets = n * bucket + (index mod n), then a stable argsort; the keys are
     * distinct, so any correct sort is the stable one */
    SortItem *it = xmalloc(total * sizeof *it);
    for (size_t i = 0; i < total; i++) {
        it[i].key = (long long)buckets[i] * n + (long long)(i % (size_t)n);
        it[i].idx = (int)i;
    }
    qsort(it, total, sizeof *it, cmp_item);
    for (size_t i = 0; i < total; i++) {
        sorted[i] = it[i].idx;
        if (undo) undo[it[i].idx] = (int)i;
    }
    free(it);
    return 0;
}
