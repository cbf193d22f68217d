/* pattern — attention patterns as per-row key ranges; the fixed kinds, graph facts, text.
 *
 * Owns: building every pattern kind row by row (a small builder that sorts and merges each
 * row's ranges), the dense view, reachability and shortest paths, and the text grammar the
 * REPL uses (PatternSpec).  Not here: DeepSpeed's block layouts (deepspeed.c), Reformer's
 * hashing (lsh.c), the kernels that run a pattern (effattn.c).
 * References: Longformer (arXiv:2004.05150) section 3 and HF modeling_longformer.py; BigBird
 * (arXiv:2007.14062) section 2; Sparse Transformer (arXiv:1904.10509); Reformer
 * (arXiv:2001.04451); ../shared/research/attention.md sections 1-3.
 */
#include "engine/pattern.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsl/gsl_rng.h>

#include "engine/deepspeed.h"
#include "engine/err.h"
#include "engine/lsh.h"

/* ------------------------------------------------------------------------------------ */
/* Builder: rows are appended in order; each row's ranges arrive in any order and overlap
 * freely, and commit sorts, merges and clips them (causal: to keys <= q). */

typedef struct {
    Pattern *p;
    size_t cap;       /* pairs allocated in p->ranges */
    int *row;         /* (cap_row, 2) ranges of the row being built */
    size_t nrow, cap_row;
    int q;            /* the row being built */
} Builder;

static void b_init(Builder *b, PatternKind kind, int n, int causal)
{
    Pattern *p = xcalloc(1, sizeof *p);
    p->kind = kind;
    p->n = n;
    p->causal = causal;
    p->row_off = xcalloc((size_t)n + 1, sizeof *p->row_off);
    b->p = p;
    b->cap = 16;
    p->ranges = xmalloc(b->cap * 2 * sizeof(int));
    b->cap_row = 16;
    b->row = xmalloc(b->cap_row * 2 * sizeof(int));
    b->nrow = 0;
    b->q = 0;
}

/* Adds keys [lo, hi) to the current row, clipped to [0, n). */
static void b_add(Builder *b, long lo, long hi)
{
    if (lo < 0) lo = 0;
    if (hi > b->p->n) hi = b->p->n;
    if (lo >= hi) return;
    if (b->nrow == b->cap_row) {
        b->cap_row *= 2;
        b->row = xrealloc(b->row, b->cap_row * 2 * sizeof(int));
    }
    b->row[2 * b->nrow] = (int)lo;
    b->row[2 * b->nrow + 1] = (int)hi;
    b->nrow++;
}

static int cmp_range(const void *a, const void *b)
{
    const int *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Sorts and merges the current row in place, clipped to keys < lim. */
static void b_normalize(Builder *b, long lim)
{
    if (b->nrow > 1) qsort(b->row, b->nrow, 2 * sizeof(int), cmp_range);
    size_t m = 0;
    for (size_t i = 0; i < b->nrow; i++) {
        int lo = b->row[2 * i], hi = b->row[2 * i + 1];
        if (hi > lim) hi = (int)lim;
        if (lo >= hi) continue;
        if (m > 0 && lo <= b->row[2 * m - 1]) {
            if (hi > b->row[2 * m - 1]) b->row[2 * m - 1] = hi;
        } else {
            b->row[2 * m] = lo;
            b->row[2 * m + 1] = hi;
            m++;
        }
    }
    b->nrow = m;
}

static void b_commit(Builder *b)
{
    Pattern *p = b->p;
    b_normalize(b, p->causal ? (long)b->q + 1 : (long)p->n);
    size_t have = p->row_off[b->q];
    if (have + b->nrow > b->cap) {
        while (have + b->nrow > b->cap) b->cap *= 2;
        p->ranges = xrealloc(p->ranges, b->cap * 2 * sizeof(int));
    }
    long cells = 0;
    for (size_t i = 0; i < b->nrow; i++) {
        p->ranges[2 * (have + i)] = b->row[2 * i];
        p->ranges[2 * (have + i) + 1] = b->row[2 * i + 1];
        cells += b->row[2 * i + 1] - b->row[2 * i];
    }
    p->row_off[b->q + 1] = have + b->nrow;
    p->cells += (size_t)cells;
    if (cells > p->max_row) p->max_row = (int)cells;
    b->nrow = 0;
    b->q++;
}

static Pattern *b_finish(Builder *b, char *name)
{
    free(b->row);
    b->row = NULL;
    b->p->name = name;
    return b->p;
}

/* Adds r distinct keys drawn uniformly among [0, lim) minus the keys the current row
 * already holds (all of them when fewer than r remain).  Floyd's sampling: r draws. */
static void b_add_random(Builder *b, gsl_rng *rng, long lim, int r, long *pick)
{
    if (r <= 0 || lim <= 0) return;
    b_normalize(b, lim);
    long covered = 0;
    for (size_t i = 0; i < b->nrow; i++) covered += b->row[2 * i + 1] - b->row[2 * i];
    long free_keys = lim - covered;
    if (free_keys <= 0) return;
    int k = 0;
    if (free_keys <= r) {
        for (long i = 0; i < free_keys; i++) pick[k++] = i;
    } else {
        for (long j = free_keys - r; j < free_keys; j++) {
            long t = (long)gsl_rng_uniform_int(rng, (unsigned long)j + 1);
            int seen = 0;
            for (int i = 0; i < k && !seen; i++) seen = pick[i] == t;
            pick[k++] = seen ? j : t;
        }
    }
    /* map indices among the free keys to keys: walk the gaps between held ranges */
    size_t nheld = b->nrow;
    for (int i = 0; i < k; i++) {
        long idx = pick[i], key = idx;
        for (size_t g = 0; g < nheld; g++) {
            if (b->row[2 * g] <= key) key += b->row[2 * g + 1] - b->row[2 * g];
            else break;
        }
        b_add(b, key, key + 1);
    }
}

static int check_n(int n, const char *what)
{
    if (n < 1) return ERR(ERR_ARG, "%s: sequence length n=%d must be >= 1", what, n);
    return 0;
}

static const char *dir_name(int causal) { return causal ? "causal" : "bidirectional"; }

/* ------------------------------------------------------------------------------------ */

int pattern_alloc_full(Pattern **out, int n, int causal)
{
    int rc = check_n(n, "full");
    if (rc) return rc;
    Builder b;
    b_init(&b, PATTERN_FULL, n, causal);
    for (int q = 0; q < n; q++) {
        b_add(&b, 0, n);
        b_commit(&b);
    }
    *out = b_finish(&b, xasprintf("full %s", dir_name(causal)));
    return 0;
}

static void window_row(Builder *b, int q, int w, int causal)
{
    if (causal) b_add(b, (long)q - w + 1, (long)q + 1);
    else b_add(b, (long)q - w / 2, (long)q + w / 2 + 1);
}

int pattern_alloc_window(Pattern **out, int n, int w, int causal)
{
    int rc = check_n(n, "window");
    if (rc) return rc;
    if (w < 1) return ERR(ERR_ARG, "window: w=%d must be >= 1", w);
    Builder b;
    b_init(&b, PATTERN_WINDOW, n, causal);
    for (int q = 0; q < n; q++) {
        window_row(&b, q, w, causal);
        b_commit(&b);
    }
    *out = b_finish(&b, xasprintf("sliding window w=%d %s", w, dir_name(causal)));
    return 0;
}

int pattern_alloc_dilated(Pattern **out, int n, int w, int d, int causal)
{
    int rc = check_n(n, "dilated");
    if (rc) return rc;
    if (w < 1) return ERR(ERR_ARG, "dilated: w=%d must be >= 1", w);
    if (d < 1) return ERR(ERR_ARG, "dilated: d=%d must be >= 1 (1 = no gaps)", d);
    Builder b;
    b_init(&b, PATTERN_DILATED, n, causal);
    for (int q = 0; q < n; q++) {
        if (causal) {
            for (long k = 0; k < w; k++) b_add(&b, q - k * d, q - k * d + 1);
        } else {
            for (long k = -(w / 2); k <= w / 2; k++) b_add(&b, q + k * d, q + k * d + 1);
        }
        b_commit(&b);
    }
    *out = b_finish(&b, xasprintf("dilated window w=%d d=%d %s", w, d, dir_name(causal)));
    return 0;
}

static int check_positions(const char *what, int n, const int *pos, int ng)
{
    if (ng < 0) return ERR(ERR_ARG, "%s: %d global positions", what, ng);
    if (ng > 0 && !pos) return ERR(ERR_ARG, "%s: global positions missing", what);
    for (int i = 0; i < ng; i++)
        if (pos[i] < 0 || pos[i] >= n)
            return ERR(ERR_ARG, "%s: global position %d outside 0..%d", what, pos[i], n - 1);
    return 0;
}

static char *positions_text(const int *pos, int ng)
{
    char *s = xstrdup("");
    for (int i = 0; i < ng; i++) {
        char *t = xasprintf("%s%s%d", s, i ? "," : "", pos[i]);
        free(s);
        s = t;
    }
    return s;
}

/* Window (w > 0) + global rows/columns + r random keys per non-global row + the diagonal:
 * the one builder behind global, random, bigbird and longformer. */
static Pattern *build_combined(PatternKind kind, int n, int w, const int *pos, int ng, int r,
                               unsigned long seed, int diag, int causal)
{
    unsigned char *is_global = xcalloc((size_t)n, 1);
    for (int i = 0; i < ng; i++) is_global[pos[i]] = 1;
    int *glist = xmalloc(((size_t)ng + 1) * sizeof(int));
    int ngu = 0;
    for (int i = 0; i < n && ngu < ng; i++)
        if (is_global[i]) glist[ngu++] = i;
    gsl_rng *rng = NULL;
    long *pick = NULL;
    if (r > 0) {
        rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, seed);
        pick = xmalloc((size_t)r * sizeof(long));
    }
    Builder b;
    b_init(&b, kind, n, causal);
    for (int q = 0; q < n; q++) {
        if (is_global[q]) {
            b_add(&b, 0, n);
        } else {
            if (w > 0) window_row(&b, q, w, causal);
            for (int i = 0; i < ngu; i++) b_add(&b, glist[i], glist[i] + 1);
            if (diag) b_add(&b, q, q + 1);
            if (r > 0) b_add_random(&b, rng, causal ? (long)q + 1 : n, r, pick);
        }
        b_commit(&b);
    }
    gsl_rng_free(rng);
    free(pick);
    free(glist);
    free(is_global);
    return b_finish(&b, NULL);
}

int pattern_alloc_global(Pattern **out, int n, const int *pos, int ng, int causal)
{
    int rc = check_n(n, "global");
    if (!rc) rc = check_positions("global", n, pos, ng);
    if (rc) return rc;
    if (ng < 1) return ERR(ERR_ARG, "global: no global positions given");
    Pattern *p = build_combined(PATTERN_GLOBAL, n, 0, pos, ng, 0, 0, 1, causal);
    char *g = positions_text(pos, ng);
    p->name = xasprintf("global g=%s %s", g, dir_name(causal));
    free(g);
    *out = p;
    return 0;
}

int pattern_alloc_random(Pattern **out, int n, int r, unsigned long seed, int causal)
{
    int rc = check_n(n, "random");
    if (rc) return rc;
    if (r < 1) return ERR(ERR_ARG, "random: r=%d keys per row must be >= 1", r);
    Pattern *p = build_combined(PATTERN_RANDOM, n, 0, NULL, 0, r, seed, 0, causal);
    p->name = xasprintf("random r=%d seed=%lu %s", r, seed, dir_name(causal));
    *out = p;
    return 0;
}

int pattern_alloc_bigbird(Pattern **out, int n, int w, const int *pos, int ng, int r,
                          unsigned long seed, int causal)
{
    int rc = check_n(n, "bigbird");
    if (!rc) rc = check_positions("bigbird", n, pos, ng);
    if (rc) return rc;
    if (w < 1) return ERR(ERR_ARG, "bigbird: window w=%d must be >= 1", w);
    if (r < 0) return ERR(ERR_ARG, "bigbird: r=%d random keys must be >= 0", r);
    Pattern *p = build_combined(PATTERN_BIGBIRD, n, w, pos, ng, r, seed, 0, causal);
    char *g = positions_text(pos, ng);
    p->name = xasprintf("bigbird w=%d g=%s r=%d seed=%lu %s", w, ng ? g : "-", r, seed,
                        dir_name(causal));
    free(g);
    *out = p;
    return 0;
}

int pattern_alloc_longformer(Pattern **out, int n, int w, const int *pos, int ng, int causal)
{
    int rc = check_n(n, "longformer");
    if (!rc) rc = check_positions("longformer", n, pos, ng);
    if (rc) return rc;
    /* HF LongformerSelfAttention asserts an even, positive attention_window */
    if (w < 2 || w % 2)
        return ERR(ERR_ARG, "longformer: attention_window w=%d must be even and >= 2", w);
    Pattern *p = build_combined(PATTERN_LONGFORMER, n, w, pos, ng, 0, 0, 0, causal);
    char *g = positions_text(pos, ng);
    p->name = xasprintf("longformer w=%d g=%s %s", w, ng ? g : "-", dir_name(causal));
    free(g);
    *out = p;
    return 0;
}

int pattern_alloc_block(Pattern **out, int n, int bsz, int causal)
{
    int rc = check_n(n, "block");
    if (rc) return rc;
    if (bsz < 1) return ERR(ERR_ARG, "block: b=%d must be >= 1", bsz);
    Builder b;
    b_init(&b, PATTERN_BLOCK, n, causal);
    for (int q = 0; q < n; q++) {
        long start = (long)(q / bsz) * bsz;
        b_add(&b, start, start + bsz);
        b_commit(&b);
    }
    *out = b_finish(&b, xasprintf("blockwise b=%d %s", bsz, dir_name(causal)));
    return 0;
}

int pattern_alloc_layout(Pattern **out, const unsigned char *layout, int nb, int block,
                         int causal, const char *name)
{
    if (nb < 1 || block < 1)
        return ERR(ERR_ARG, "layout: %d blocks of %d tokens", nb, block);
    if ((long long)nb * block > INT_MAX)
        return ERR(ERR_ARG, "layout: %d blocks of %d tokens is too long", nb, block);
    int n = nb * block;
    Builder b;
    b_init(&b, PATTERN_DEEPSPEED, n, causal);
    for (int q = 0; q < n; q++) {
        const unsigned char *row = layout + (size_t)(q / block) * nb;
        for (int c = 0; c < nb; c++)
            if (row[c]) b_add(&b, (long)c * block, (long)(c + 1) * block);
        b_commit(&b);
    }
    Pattern *p = b_finish(&b, name ? xasprintf("%s %s", name, dir_name(causal))
                                   : xasprintf("block layout b=%d %s", block, dir_name(causal)));
    p->layout = xmalloc((size_t)nb * nb);
    memcpy(p->layout, layout, (size_t)nb * nb);
    p->layout_nb = nb;
    p->layout_block = block;
    *out = p;
    return 0;
}

int pattern_alloc_dense(Pattern **out, const unsigned char *mask, int n, int causal,
                        const char *name)
{
    int rc = check_n(n, "dense");
    if (rc) return rc;
    Builder b;
    b_init(&b, PATTERN_DENSE, n, causal);
    for (int q = 0; q < n; q++) {
        const unsigned char *row = mask + (size_t)q * n;
        for (int k = 0; k < n;) {
            if (!row[k]) { k++; continue; }
            int s = k;
            while (k < n && row[k]) k++;
            b_add(&b, s, k);
        }
        b_commit(&b);
    }
    *out = b_finish(&b, xstrdup(name ? name : "dense mask"));
    return 0;
}

int pattern_alloc_lsh_sorted(Pattern **out, const LshSpec *s, const int *sorted, int n,
                             int causal)
{
    int rc = check_n(n, "lsh");
    if (!rc) rc = lsh_spec_check(s);
    if (rc) return rc;
    size_t total;
    if (size_mul((size_t)n, (size_t)s->n_hashes, &total) || total > INT_MAX)
        return ERR(ERR_ARG, "lsh: %d rounds of %d positions is too many", s->n_hashes, n);
    /* undo[sorted[i]] = i, checking that sorted is a permutation of 0..H*n-1 */
    int *undo = xmalloc(total * sizeof(int));
    for (size_t i = 0; i < total; i++) undo[i] = -1;
    for (size_t i = 0; i < total; i++) {
        if (sorted[i] < 0 || (size_t)sorted[i] >= total || undo[sorted[i]] >= 0) {
            free(undo);
            return ERR(ERR_ARG, "lsh: sorted order is not a permutation of 0..%zu (entry %zu "
                       "is %d)", total - 1, i, sorted[i]);
        }
        undo[sorted[i]] = (int)i;
    }
    Builder b;
    b_init(&b, PATTERN_LSH, n, causal);
    long chunk = s->chunk;
    long nchunks = ((long)total + chunk - 1) / chunk;
    for (int q = 0; q < n; q++) {
        if (n <= s->chunk) {
            /* HF runs plain full attention when the sequence fits one chunk */
            b_add(&b, 0, n);
            b_commit(&b);
            continue;
        }
        for (int h = 0; h < s->n_hashes; h++) {
            long c = undo[(size_t)h * n + q] / chunk;
            for (long off = -s->chunks_before; off <= s->chunks_after; off++) {
                long cc = ((c + off) % nchunks + nchunks) % nchunks;
                long t1 = (cc + 1) * chunk < (long)total ? (cc + 1) * chunk : (long)total;
                for (long t = cc * chunk; t < t1; t++) {
                    int key = sorted[t] % n;
                    b_add(&b, key, key + 1);
                }
            }
        }
        b_commit(&b);
    }
    free(undo);
    *out = b_finish(&b, xasprintf("lsh chunk=%d hashes=%d %s", s->chunk, s->n_hashes,
                                  dir_name(causal)));
    return 0;
}

int pattern_alloc_lsh(Pattern **out, const float *x, int n, int d, int n_buckets, int n_hashes,
                      int chunk, unsigned long seed, int causal)
{
    LshSpec s = {.nb_a = n_buckets, .nb_b = 0, .n_hashes = n_hashes, .chunk = chunk,
                 .chunks_before = 1, .chunks_after = 0};
    int rc = check_n(n, "lsh");
    if (!rc) rc = lsh_spec_check(&s);
    if (rc) return rc;
    if (d < 1 || !x) return ERR(ERR_ARG, "lsh: no vectors to hash (d=%d)", d);
    size_t total, nrot;
    if (size_mul((size_t)n, (size_t)n_hashes, &total) || total > INT_MAX ||
        size_mul((size_t)n_hashes * (size_t)d, (size_t)lsh_rot_half(&s), &nrot))
        return ERR(ERR_ARG, "lsh: %d rounds of %d positions is too many", n_hashes, n);
    float *R = xmalloc(nrot * sizeof(float));
    int *buckets = xmalloc(total * sizeof(int));
    int *sorted = xmalloc(total * sizeof(int));
    lsh_rotations(&s, d, seed, R);
    lsh_hash(&s, x, n, d, R, buckets);
    rc = lsh_sort(buckets, n, n_hashes, sorted, NULL);
    if (!rc) rc = pattern_alloc_lsh_sorted(out, &s, sorted, n, causal);
    if (!rc) {
        free((*out)->name);
        (*out)->name = xasprintf("lsh buckets=%d hashes=%d chunk=%d seed=%lu %s", n_buckets,
                                 n_hashes, chunk, seed, dir_name(causal));
    }
    free(R);
    free(buckets);
    free(sorted);
    return rc;
}

void pattern_free(Pattern *p)
{
    if (!p) return;
    free(p->name);
    free(p->row_off);
    free(p->ranges);
    free(p->layout);
    free(p);
}

/* ------------------------------------------------------------------------------------ */

int pattern_allows(const Pattern *p, int q, int k)
{
    if (q < 0 || q >= p->n || k < 0 || k >= p->n) return 0;
    const int *r;
    int nr = pattern_row(p, q, &r);
    int lo = 0, hi = nr;   /* binary search the range that could hold k */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (r[2 * mid + 1] <= k) lo = mid + 1;
        else hi = mid;
    }
    return lo < nr && r[2 * lo] <= k;
}

int pattern_row_cells(const Pattern *p, int q, int t)
{
    const int *r;
    int nr = pattern_row(p, q, &r), cells = 0;
    for (int i = 0; i < nr && r[2 * i] < t; i++)
        cells += (r[2 * i + 1] < t ? r[2 * i + 1] : t) - r[2 * i];
    return cells;
}

void pattern_dense_prefix(const Pattern *p, int t, unsigned char *out)
{
    memset(out, 0, (size_t)t * t);
    for (int q = 0; q < t; q++) {
        const int *r;
        int nr = pattern_row(p, q, &r);
        for (int i = 0; i < nr && r[2 * i] < t; i++) {
            int hi = r[2 * i + 1] < t ? r[2 * i + 1] : t;
            memset(out + (size_t)q * t + r[2 * i], 1, (size_t)(hi - r[2 * i]));
        }
    }
}

void pattern_dense(const Pattern *p, unsigned char *out) { pattern_dense_prefix(p, p->n, out); }

size_t pattern_active_cells(const Pattern *p) { return p->cells; }

const char *pattern_name(const Pattern *p) { return p->name ? p->name : ""; }

const unsigned char *pattern_block_layout(const Pattern *p, int *nb, int *block)
{
    if (nb) *nb = p->layout ? p->layout_nb : 0;
    if (block) *block = p->layout ? p->layout_block : 0;
    return p->layout;
}

char *pattern_matrix_text(const unsigned char *m, int rows, int cols)
{
    size_t len = (size_t)rows * ((size_t)cols + 1);
    char *s = xmalloc(len + 1), *o = s;
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) *o++ = m[(size_t)i * cols + j] ? '1' : '0';
        *o++ = '\n';
    }
    *o = 0;
    return s;
}

/* ------------------------------------------------------------------------------------ */

int pattern_reach(const Pattern *const *layers, int n_layers, int q, int residual,
                  unsigned char *reach)
{
    if (n_layers < 0 || (n_layers > 0 && !layers))
        return ERR(ERR_ARG, "reach: %d layers", n_layers);
    if (n_layers == 0) return ERR(ERR_ARG, "reach: no layers given");
    int n = layers[0]->n;
    for (int l = 1; l < n_layers; l++)
        if (layers[l]->n != n)
            return ERR(ERR_ARG, "reach: layer %d has n=%d, layer 0 has n=%d", l, layers[l]->n, n);
    if (q < 0 || q >= n) return ERR(ERR_ARG, "reach: position %d outside 0..%d", q, n - 1);
    int *diff = xmalloc(((size_t)n + 1) * sizeof(int));
    memset(reach, 0, (size_t)n);
    reach[q] = 1;
    /* walk down from the top layer: the set a position depends on grows layer by layer;
     * a difference array makes each layer O(n + ranges) however wide the ranges are */
    for (int l = n_layers - 1; l >= 0; l--) {
        memset(diff, 0, ((size_t)n + 1) * sizeof(int));
        for (int s = 0; s < n; s++) {
            if (!reach[s]) continue;
            const int *r;
            int nr = pattern_row(layers[l], s, &r);
            for (int i = 0; i < nr; i++) {
                diff[r[2 * i]]++;
                diff[r[2 * i + 1]]--;
            }
            if (residual) {
                diff[s]++;
                diff[s + 1]--;
            }
        }
        int acc = 0;
        for (int s = 0; s < n; s++) {
            acc += diff[s];
            reach[s] = acc > 0;
        }
    }
    free(diff);
    int count = 0;
    for (int s = 0; s < n; s++) count += reach[s];
    return count;
}

/* next unvisited position >= i (path-compressed) */
static int next_free(int *nxt, int i)
{
    int root = i;
    while (nxt[root] != root) root = nxt[root];
    while (nxt[i] != root) {
        int t = nxt[i];
        nxt[i] = root;
        i = t;
    }
    return root;
}

int pattern_path(const Pattern *const *ps, int np, int from, int to, int *path, int *len)
{
    if (np < 1 || !ps) return ERR(ERR_ARG, "path: no patterns given");
    int n = ps[0]->n;
    for (int l = 1; l < np; l++)
        if (ps[l]->n != n)
            return ERR(ERR_ARG, "path: pattern %d has n=%d, pattern 0 has n=%d", l, ps[l]->n, n);
    if (from < 0 || from >= n || to < 0 || to >= n)
        return ERR(ERR_ARG, "path: positions %d, %d outside 0..%d", from, to, n - 1);
    int *nxt = xmalloc(((size_t)n + 1) * sizeof(int));
    int *parent = xmalloc((size_t)n * sizeof(int));
    int *queue = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i <= n; i++) nxt[i] = i;
    int head = 0, tail = 0;
    queue[tail++] = from;
    parent[from] = -1;
    nxt[from] = from + 1;
    int found = from == to;
    while (head < tail && !found) {
        int u = queue[head++];
        for (int l = 0; l < np && !found; l++) {
            const int *r;
            int nr = pattern_row(ps[l], u, &r);
            for (int i = 0; i < nr && !found; i++) {
                for (int v = next_free(nxt, r[2 * i]); v < r[2 * i + 1]; v = next_free(nxt, v)) {
                    nxt[v] = v + 1;
                    parent[v] = u;
                    queue[tail++] = v;
                    if (v == to) { found = 1; break; }
                }
            }
        }
    }
    *len = 0;
    if (found) {
        int m = 0;
        for (int v = to; v != -1; v = parent[v]) m++;
        int i = m;
        for (int v = to; v != -1; v = parent[v]) path[--i] = v;
        *len = m;
    }
    free(nxt);
    free(parent);
    free(queue);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* PatternSpec: the text grammar of pattern.h. */

typedef enum { PT_LAYER_INT, PT_POSITIONS, PT_SEED, PT_BUCKETS } ParamType;

typedef struct {
    const char *key;
    ParamType type;
    int min;          /* PT_LAYER_INT: smallest value */
    int required;
} ParamDef;

typedef struct {
    const char *name;
    PatternKind kind;
    const ParamDef *params;   /* ended by key == NULL */
} KindDef;

static const ParamDef P_NONE[] = {{NULL, 0, 0, 0}};
static const ParamDef P_WINDOW[] = {{"w", PT_LAYER_INT, 1, 1}, {NULL, 0, 0, 0}};
static const ParamDef P_DILATED[] = {{"w", PT_LAYER_INT, 1, 1}, {"d", PT_LAYER_INT, 1, 1},
                                     {NULL, 0, 0, 0}};
static const ParamDef P_GLOBAL[] = {{"g", PT_POSITIONS, 0, 1}, {NULL, 0, 0, 0}};
static const ParamDef P_RANDOM[] = {{"r", PT_LAYER_INT, 1, 1}, {"seed", PT_SEED, 0, 0},
                                    {NULL, 0, 0, 0}};
static const ParamDef P_BIGBIRD[] = {{"w", PT_LAYER_INT, 1, 1}, {"g", PT_POSITIONS, 0, 0},
                                     {"r", PT_LAYER_INT, 0, 0}, {"seed", PT_SEED, 0, 0},
                                     {NULL, 0, 0, 0}};
static const ParamDef P_BLOCK[] = {{"b", PT_LAYER_INT, 1, 1}, {NULL, 0, 0, 0}};
static const ParamDef P_LONGFORMER[] = {{"w", PT_LAYER_INT, 2, 1}, {"g", PT_POSITIONS, 0, 0},
                                        {NULL, 0, 0, 0}};
static const ParamDef P_LSH[] = {{"buckets", PT_BUCKETS, 0, 0}, {"hashes", PT_LAYER_INT, 1, 0},
                                 {"chunk", PT_LAYER_INT, 1, 0}, {"seed", PT_SEED, 0, 0},
                                 {NULL, 0, 0, 0}};

static const KindDef KINDS[] = {
    {"full", PATTERN_FULL, P_NONE},          {"window", PATTERN_WINDOW, P_WINDOW},
    {"dilated", PATTERN_DILATED, P_DILATED}, {"global", PATTERN_GLOBAL, P_GLOBAL},
    {"random", PATTERN_RANDOM, P_RANDOM},    {"bigbird", PATTERN_BIGBIRD, P_BIGBIRD},
    {"combined", PATTERN_BIGBIRD, P_BIGBIRD}, {"block", PATTERN_BLOCK, P_BLOCK},
    {"longformer", PATTERN_LONGFORMER, P_LONGFORMER},
    {"deepspeed", PATTERN_DEEPSPEED, NULL},  {"lsh", PATTERN_LSH, P_LSH},
};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

struct PatternSpec {
    const KindDef *def;
    char *text;        /* normalised: name and key=value tokens joined by single spaces */
    int np;
    char **key, **val; /* (np) */
    char *ds_class;    /* deepspeed: the class name */
    char *ds_params;   /* deepspeed: the other name=value tokens */
};

const char *pattern_spec_text(const PatternSpec *s) { return s->text; }
int pattern_spec_needs_vectors(const PatternSpec *s) { return s->def->kind == PATTERN_LSH; }

void pattern_spec_free(PatternSpec *s)
{
    if (!s) return;
    for (int i = 0; i < s->np; i++) {
        free(s->key[i]);
        free(s->val[i]);
    }
    free(s->key);
    free(s->val);
    free(s->text);
    free(s->ds_class);
    free(s->ds_params);
    free(s);
}

static int parse_int(const char *s, const char *end, long lo, long hi, long *out)
{
    if (s == end) return -1;
    char *buf = xstrndup(s, (size_t)(end - s)), *e;
    errno = 0;
    long v = strtol(buf, &e, 10);
    int bad = errno || *e || e == buf || v < lo || v > hi || isspace((unsigned char)buf[0]);
    free(buf);
    if (bad) return -1;
    *out = v;
    return 0;
}

/* Value of a ':'-separated per-layer list for layer l (the last value repeats). */
static int layer_value(const char *v, int layer, long lo, long *out)
{
    const char *p = v;
    for (int l = 0;; l++) {
        const char *e = strchr(p, ':');
        if (!e) e = p + strlen(p);
        if (parse_int(p, e, lo, INT_MAX, out)) return -1;
        if (l == layer || !*e) return 0;
        p = e + 1;
    }
}

/* Positions "0,5,9": count (and values when pos != NULL); -1 when malformed. */
static int parse_positions(const char *v, int *pos)
{
    int k = 0;
    const char *p = v;
    for (;;) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        long x;
        if (parse_int(p, e, 0, INT_MAX, &x)) return -1;
        if (pos) pos[k] = (int)x;
        k++;
        if (!*e) return k;
        p = e + 1;
    }
}

/* "4" -> (4, 0); "2x4" -> (2, 4); "auto" -> (0, 0). */
static int parse_buckets(const char *v, int *a, int *b)
{
    long x, y;
    if (!strcmp(v, "auto")) { *a = *b = 0; return 0; }
    const char *xpos = strchr(v, 'x');
    if (!xpos) {
        if (parse_int(v, v + strlen(v), 2, INT_MAX, &x) || x % 2) return -1;
        *a = (int)x;
        *b = 0;
        return 0;
    }
    if (parse_int(v, xpos, 2, INT_MAX, &x) || x % 2) return -1;
    if (parse_int(xpos + 1, xpos + strlen(xpos), 2, INT_MAX, &y) || y % 2) return -1;
    if (x * y > INT_MAX) return -1;
    *a = (int)x;
    *b = (int)y;
    return 0;
}

static int check_value(const ParamDef *d, const char *val)
{
    long x;
    int a, b;
    switch (d->type) {
    case PT_LAYER_INT:
        for (const char *p = val;;) {
            const char *e = strchr(p, ':');
            if (!e) e = p + strlen(p);
            if (parse_int(p, e, d->min, INT_MAX, &x))
                return ERR(ERR_ARG, "pattern: %s=%s: expected an integer >= %d (or a per-layer "
                           "list a:b:c)", d->key, val, d->min);
            if (!*e) break;
            p = e + 1;
        }
        return 0;
    case PT_POSITIONS:
        if (parse_positions(val, NULL) < 0)
            return ERR(ERR_ARG, "pattern: %s=%s: expected positions like 0,5,9", d->key, val);
        return 0;
    case PT_SEED: {
        char *e;
        errno = 0;
        unsigned long long v = strtoull(val, &e, 10);
        (void)v;
        if (errno || *e || e == val || val[0] == '-')
            return ERR(ERR_ARG, "pattern: seed=%s: expected a non-negative integer", val);
        return 0;
    }
    case PT_BUCKETS:
        if (parse_buckets(val, &a, &b))
            return ERR(ERR_ARG, "pattern: buckets=%s: expected an even number >= 2, AxB with "
                       "even factors, or auto", val);
        return 0;
    }
    return 0;
}

static char *kind_names(void)
{
    char *s = xstrdup("");
    for (size_t i = 0; i < N_KINDS; i++) {
        char *t = xasprintf("%s%s%s", s, i ? ", " : "", KINDS[i].name);
        free(s);
        s = t;
    }
    return s;
}

int pattern_spec_parse(const char *text, PatternSpec **out)
{
    if (!text) return ERR(ERR_ARG, "pattern: no pattern given");
    /* split on white space */
    size_t ntok = 0, cap = 8;
    char **tok = xmalloc(cap * sizeof *tok);
    for (const char *p = text;;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *e = p;
        while (*e && !isspace((unsigned char)*e)) e++;
        if (ntok == cap) tok = xrealloc(tok, (cap *= 2) * sizeof *tok);
        tok[ntok++] = xstrndup(p, (size_t)(e - p));
        p = e;
    }
    int rc = 0;
    PatternSpec *s = NULL;
    if (ntok == 0) {
        rc = ERR(ERR_ARG, "pattern: no pattern given");
        goto done;
    }
    const KindDef *def = NULL;
    for (size_t i = 0; i < N_KINDS; i++)
        if (!strcasecmp(tok[0], KINDS[i].name)) def = &KINDS[i];
    if (!def) {
        char *names = kind_names();
        rc = ERR(ERR_ARG, "pattern: unknown pattern '%s' (known: %s)", tok[0], names);
        free(names);
        goto done;
    }
    s = xcalloc(1, sizeof *s);
    s->def = def;
    s->key = xcalloc(ntok, sizeof *s->key);
    s->val = xcalloc(ntok, sizeof *s->val);
    s->text = xstrdup(def->name);
    for (size_t i = 1; i < ntok; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i] || !eq[1]) {
            rc = ERR(ERR_ARG, "pattern: '%s': expected name=value", tok[i]);
            goto done;
        }
        char *k = xstrndup(tok[i], (size_t)(eq - tok[i])), *v = xstrdup(eq + 1);
        s->key[s->np] = k;
        s->val[s->np] = v;
        s->np++;
        for (int j = 0; j < s->np - 1; j++)
            if (!strcmp(s->key[j], k)) {
                rc = ERR(ERR_ARG, "pattern: %s given twice", k);
                goto done;
            }
        char *t = xasprintf("%s %s=%s", s->text, k, v);
        free(s->text);
        s->text = t;
    }
    if (def->kind == PATTERN_DEEPSPEED) {
        char *params = xstrdup("");
        for (int i = 0; i < s->np; i++) {
            if (!strcmp(s->key[i], "class")) {
                s->ds_class = xstrdup(s->val[i]);
                continue;
            }
            char *t = xasprintf("%s%s%s=%s", params, *params ? " " : "", s->key[i], s->val[i]);
            free(params);
            params = t;
        }
        s->ds_params = params;
        if (!s->ds_class) {
            rc = ERR(ERR_ARG, "pattern: deepspeed needs class=Dense|Fixed|Variable|BigBird|"
                     "BSLongformer|LocalSlidingWindow");
            goto done;
        }
        DeepspeedConfig c;
        rc = deepspeed_config_parse(&c, s->ds_class, s->ds_params);
        if (rc) goto done;
        deepspeed_config_done(&c);
        goto done;
    }
    for (int i = 0; i < s->np && !rc; i++) {
        const ParamDef *d = def->params;
        while (d->key && strcmp(d->key, s->key[i])) d++;
        if (!d->key) {
            char *known = xstrdup("");
            for (const ParamDef *e = def->params; e->key; e++) {
                char *t = xasprintf("%s%s%s", known, *known ? ", " : "", e->key);
                free(known);
                known = t;
            }
            rc = ERR(ERR_ARG, "pattern: %s takes no parameter '%s' (known: %s)", def->name,
                     s->key[i], *known ? known : "none");
            free(known);
        } else {
            rc = check_value(d, s->val[i]);
        }
    }
    for (const ParamDef *d = def->params; !rc && d->key; d++) {
        if (!d->required) continue;
        int have = 0;
        for (int i = 0; i < s->np; i++) have |= !strcmp(s->key[i], d->key);
        if (!have) rc = ERR(ERR_ARG, "pattern: %s needs %s=...", def->name, d->key);
    }
done:
    for (size_t i = 0; i < ntok; i++) free(tok[i]);
    free(tok);
    if (rc) {
        pattern_spec_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static const char *spec_get(const PatternSpec *s, const char *key)
{
    for (int i = 0; i < s->np; i++)
        if (!strcmp(s->key[i], key)) return s->val[i];
    return NULL;
}

static int spec_int(const PatternSpec *s, const char *key, int layer, int dflt)
{
    const char *v = spec_get(s, key);
    long x;
    if (!v || layer_value(v, layer, LONG_MIN, &x)) return dflt;
    return (int)x;
}

/* Positions from g=...; *pos xmalloc'd (NULL when absent). */
static int spec_positions(const PatternSpec *s, int **pos)
{
    const char *v = spec_get(s, "g");
    *pos = NULL;
    if (!v) return 0;
    int k = parse_positions(v, NULL);
    *pos = xmalloc((size_t)k * sizeof(int));
    parse_positions(v, *pos);
    return k;
}

int pattern_spec_build(const PatternSpec *s, int layer, int n, int causal, unsigned long seed,
                       const float *x, int d, Pattern **out)
{
    if (layer < 0) return ERR(ERR_ARG, "pattern: layer %d", layer);
    const char *sv = spec_get(s, "seed");
    if (sv) seed = strtoul(sv, NULL, 10);
    int w = spec_int(s, "w", layer, 0);
    int *pos = NULL, ng = spec_positions(s, &pos), rc;
    switch (s->def->kind) {
    case PATTERN_FULL: rc = pattern_alloc_full(out, n, causal); break;
    case PATTERN_WINDOW: rc = pattern_alloc_window(out, n, w, causal); break;
    case PATTERN_DILATED:
        rc = pattern_alloc_dilated(out, n, w, spec_int(s, "d", layer, 1), causal);
        break;
    case PATTERN_GLOBAL: rc = pattern_alloc_global(out, n, pos, ng, causal); break;
    case PATTERN_RANDOM:
        rc = pattern_alloc_random(out, n, spec_int(s, "r", layer, 1), seed, causal);
        break;
    case PATTERN_BIGBIRD:
        rc = pattern_alloc_bigbird(out, n, w, pos, ng, spec_int(s, "r", layer, 1), seed, causal);
        break;
    case PATTERN_BLOCK: rc = pattern_alloc_block(out, n, spec_int(s, "b", layer, 1), causal); break;
    case PATTERN_LONGFORMER: rc = pattern_alloc_longformer(out, n, w, pos, ng, causal); break;
    case PATTERN_DEEPSPEED: {
        DeepspeedConfig c;
        unsigned char *layout = NULL;
        int nb;
        rc = deepspeed_config_parse(&c, s->ds_class, s->ds_params);
        if (rc) break;
        rc = deepspeed_layout(&c, n, 0, seed, &layout, &nb);
        if (!rc) {
            char *name = xasprintf("deepspeed %s", s->text + strlen("deepspeed "));
            rc = pattern_alloc_layout(out, layout, nb, c.block, causal, name);
            free(name);
        }
        free(layout);
        deepspeed_config_done(&c);
        break;
    }
    case PATTERN_LSH: {
        int a = 4, b = 0;
        const char *bv = spec_get(s, "buckets");
        if (bv) parse_buckets(bv, &a, &b);
        int chunk = spec_int(s, "chunk", layer, 64), hashes = spec_int(s, "hashes", layer, 1);
        if (!x) {
            rc = ERR(ERR_ARG, "pattern: lsh buckets come from the model's vectors; build it "
                     "with pattern_spec_build(..., x, d, ...)");
            break;
        }
        if (a == 0) {
            /* HF _set_num_buckets: 2^(bit_length(2 * (n / chunk)) - 1), at least 2 */
            long t = 2L * (n / chunk);
            int bits = 0;
            while (t >> bits) bits++;
            a = bits > 1 ? 1 << (bits - 1 < 30 ? bits - 1 : 30) : 2;
        }
        if (b == 0) {
            rc = pattern_alloc_lsh(out, x, n, d, a, hashes, chunk, seed, causal);
        } else {
            /* factorized buckets: the same steps with two argmaxes */
            LshSpec ls = {.nb_a = a, .nb_b = b, .n_hashes = hashes, .chunk = chunk,
                          .chunks_before = 1, .chunks_after = 0};
            size_t total = (size_t)n * (size_t)hashes;
            if (n < 1 || d < 1 || total > INT_MAX) {
                rc = ERR(ERR_ARG, "lsh: n=%d d=%d hashes=%d", n, d, hashes);
                break;
            }
            float *R = xmalloc((size_t)hashes * d * lsh_rot_half(&ls) * sizeof(float));
            int *bk = xmalloc(total * sizeof(int)), *sorted = xmalloc(total * sizeof(int));
            lsh_rotations(&ls, d, seed, R);
            lsh_hash(&ls, x, n, d, R, bk);
            rc = lsh_sort(bk, n, hashes, sorted, NULL);
            if (!rc) rc = pattern_alloc_lsh_sorted(out, &ls, sorted, n, causal);
            if (!rc) {
                free((*out)->name);
                (*out)->name = xasprintf("lsh buckets=%dx%d hashes=%d chunk=%d seed=%lu %s", a,
                                         b, hashes, chunk, seed, dir_name(causal));
            }
            free(R);
            free(bk);
            free(sorted);
        }
        break;
    }
    default: rc = ERR(ERR_ARG, "pattern: kind %d cannot be built from text", s->def->kind);
    }
    free(pos);
    return rc;
}

int pattern_parse(const char *text, int n, int causal, unsigned long seed, Pattern **out)
{
    PatternSpec *s;
    int rc = pattern_spec_parse(text, &s);
    if (rc) return rc;
    rc = pattern_spec_build(s, 0, n, causal, seed, NULL, 0, out);
    pattern_spec_free(s);
    return rc;
}
