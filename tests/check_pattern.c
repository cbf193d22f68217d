/* Tests for engine/pattern.c, engine/deepspeed.c and engine/lsh.c: layouts and masks against
 * ../shared/oracles/attention, counts and structure of the random kinds, seeds, the sparse
 * kernel against exact attention with the dense mask, graph facts, the text grammar, errors. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "engine/deepspeed.h"
#include "engine/effattn.h"
#include "engine/err.h"
#include "engine/lsh.h"
#include "engine/pattern.h"
#include "tests/util/testutil.h"

/* ---- a reader for the oracle files' `case NAME` ... `end` blocks ---- */

typedef struct {
    char *name;
    char **line;
    int nline;
} OCase;

typedef struct {
    char *text;
    OCase *c;
    int n;
} OFile;

static int ofile_load(OFile *f, const char *rel)
{
    memset(f, 0, sizeof *f);
    const char *path = shared_path(rel, "attention oracle");
    if (!path) return -1;
    f->text = read_file(path, NULL);
    ck_assert_ptr_nonnull(f->text);
    OCase *cur = NULL;
    for (char *save = NULL, *l = strtok_r(f->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#') continue;
        if (!strncmp(l, "case ", 5)) {
            f->c = realloc(f->c, (size_t)(f->n + 1) * sizeof *f->c);
            cur = &f->c[f->n++];
            cur->name = l + 5;
            cur->line = NULL;
            cur->nline = 0;
        } else if (!strcmp(l, "end")) {
            cur = NULL;
        } else if (cur) {
            cur->line = realloc(cur->line, (size_t)(cur->nline + 1) * sizeof(char *));
            cur->line[cur->nline++] = l;
        }
    }
    return 0;
}

static void ofile_free(OFile *f)
{
    for (int i = 0; i < f->n; i++) free(f->c[i].line);
    free(f->c);
    free(f->text);
}

/* index of the line starting with "key" (followed by a space or the end), -1 if none */
static int oc_find(const OCase *c, const char *key)
{
    size_t k = strlen(key);
    for (int i = 0; i < c->nline; i++)
        if (!strncmp(c->line[i], key, k) && (c->line[i][k] == ' ' || !c->line[i][k])) return i;
    return -1;
}

static const char *oc_get(const OCase *c, const char *key)
{
    int i = oc_find(c, key);
    if (i < 0) return NULL;
    const char *v = c->line[i] + strlen(key);
    return *v == ' ' ? v + 1 : v;
}

static int oc_int(const OCase *c, const char *key)
{
    const char *v = oc_get(c, key);
    ck_assert_msg(v != NULL, "case %s: no %s", c->name, key);
    return atoi(v);
}

/* rows of 0/1 characters following the line `key`, concatenated */
static char *oc_bits(const OCase *c, const char *key, int rows)
{
    int i = oc_find(c, key);
    ck_assert_msg(i >= 0, "case %s: no %s", c->name, key);
    size_t len = 0;
    for (int r = 0; r < rows; r++) len += strlen(c->line[i + 1 + r]) + 1;
    char *s = malloc(len + 1), *o = s;
    for (int r = 0; r < rows; r++) o += sprintf(o, "%s\n", c->line[i + 1 + r]);
    return s;
}

/* space-separated integers after `key` into v (at most max); returns the count */
static int oc_ints(const OCase *c, const char *key, int *v, int max)
{
    const char *s = oc_get(c, key);
    ck_assert_msg(s != NULL, "case %s: no %s", c->name, key);
    int k = 0;
    char *e;
    for (;;) {
        long x = strtol(s, &e, 10);
        if (e == s) break;
        ck_assert_int_lt(k, max);
        v[k++] = (int)x;
        s = e;
    }
    return k;
}

static char *dense_text(const Pattern *p)
{
    unsigned char *m = malloc((size_t)p->n * p->n);
    pattern_dense(p, m);
    char *s = pattern_matrix_text(m, p->n, p->n);
    free(m);
    return s;
}

/* ---- DeepSpeed ---- */

static void layout_counts(const unsigned char *a, int nb, int *row)
{
    for (int r = 0; r < nb; r++) {
        row[r] = 0;
        for (int c = 0; c < nb; c++) row[r] += a[r * nb + c];
    }
}

START_TEST(test_deepspeed_oracle)
{
    OFile f;
    if (ofile_load(&f, "oracles/attention/sparse_layouts.txt")) return;
    ck_assert_int_eq(f.n, 17);
    int deterministic = 0, random = 0;
    for (int i = 0; i < f.n; i++) {
        const OCase *c = &f.c[i];
        const char *cls = oc_get(c, "class"), *params = oc_get(c, "params");
        int seq_len = oc_int(c, "seq_len"), nb_file = oc_int(c, "num_blocks");
        char *expect = oc_bits(c, "layout", nb_file);
        DeepspeedConfig cfg;
        ck_assert_msg(deepspeed_config_parse(&cfg, cls, params) == 0, "%s: %s", c->name, err_msg());
        ck_assert_int_eq(cfg.block, oc_int(c, "block"));
        unsigned char *lay;
        int nb;
        ck_assert_msg(deepspeed_layout(&cfg, seq_len, 0, 7, &lay, &nb) == 0, "%s: %s", c->name, err_msg());
        ck_assert_int_eq(nb, nb_file);
        char *got = pattern_matrix_text(lay, nb, nb);
        if (!oc_get(c, "seed")) {
            ck_assert_msg(!strcmp(got, expect), "%s:\nexpected\n%sgot\n%s", c->name, expect, got);
            deterministic++;
        } else {
            /* random blocks: the window/global part exactly, at most r extra blocks per row */
            int r = oc_int(c, "random_blocks_per_row");
            DeepspeedConfig det;
            char *p0 = malloc(strlen(params) + 32);
            sprintf(p0, "%s", params);
            char *rb = strstr(p0, "num_random_blocks=");
            ck_assert_ptr_nonnull(rb);
            rb[strlen("num_random_blocks=")] = '0';
            ck_assert_int_eq(deepspeed_config_parse(&det, cls, p0), 0);
            unsigned char *dl;
            int dnb;
            ck_assert_int_eq(deepspeed_layout(&det, seq_len, 0, 0, &dl, &dnb), 0);
            int *extra_file = calloc((size_t)nb, sizeof(int)), *extra_ours = calloc((size_t)nb, sizeof(int));
            int any_extra = 0;
            for (int q = 0; q < nb; q++)
                for (int k = 0; k < nb; k++) {
                    int d = dl[q * nb + k], o = lay[q * nb + k], e = expect[q * (nb + 1) + k] == '1';
                    ck_assert_msg(!d || e, "%s: oracle lacks window/global block (%d,%d)", c->name, q, k);
                    ck_assert_msg(!d || o, "%s: we lack window/global block (%d,%d)", c->name, q, k);
                    extra_file[q] += e && !d;
                    extra_ours[q] += o && !d;
                    if (cfg.unidirectional) ck_assert_msg(!o || k <= q, "%s: future block", c->name);
                }
            for (int q = 0; q < nb; q++) {
                ck_assert_int_le(extra_file[q], r);
                ck_assert_int_le(extra_ours[q], r);
                any_extra |= extra_ours[q] > 0;
            }
            ck_assert_msg(any_extra, "%s: no random block landed outside window/global", c->name);
            /* same seed, same layout; another seed, another layout */
            unsigned char *again, *other;
            int nb2;
            ck_assert_int_eq(deepspeed_layout(&cfg, seq_len, 0, 7, &again, &nb2), 0);
            ck_assert_int_eq(memcmp(again, lay, (size_t)nb * nb), 0);
            ck_assert_int_eq(deepspeed_layout(&cfg, seq_len, 0, 8, &other, &nb2), 0);
            ck_assert_int_ne(memcmp(other, lay, (size_t)nb * nb), 0);
            free(again);
            free(other);
            free(extra_file);
            free(extra_ours);
            free(dl);
            free(p0);
            deepspeed_config_done(&det);
            random++;
        }
        /* the token-level pattern is kron(layout, ones(b, b)) */
        Pattern *p;
        ck_assert_int_eq(pattern_alloc_layout(&p, lay, nb, cfg.block, 0, cls), 0);
        int *cnt = malloc((size_t)nb * sizeof(int));
        layout_counts(lay, nb, cnt);
        size_t cells = 0;
        for (int q = 0; q < nb; q++) cells += (size_t)cnt[q] * cfg.block * cfg.block;
        ck_assert_uint_eq(pattern_active_cells(p), cells);
        for (int t = 0; t < 50; t++) {
            int q = (t * 37) % seq_len, k = (t * 101 + 5) % seq_len;
            ck_assert_int_eq(pattern_allows(p, q, k), lay[(q / cfg.block) * nb + k / cfg.block]);
        }
        int lnb, lb;
        ck_assert_ptr_nonnull(pattern_block_layout(p, &lnb, &lb));
        ck_assert_int_eq(lnb, nb);
        ck_assert_int_eq(lb, cfg.block);
        pattern_free(p);
        free(cnt);
        free(got);
        free(lay);
        free(expect);
        deepspeed_config_done(&cfg);
    }
    ck_assert_int_eq(deterministic, 14);
    ck_assert_int_eq(random, 3);
    ofile_free(&f);
}
END_TEST

START_TEST(test_deepspeed_defaults_and_causal)
{
    DeepspeedConfig c;
    ck_assert_int_eq(deepspeed_config_parse(&c, "LocalSlidingWindowSparsityConfig", NULL), 0);
    ck_assert_int_eq(c.unidirectional, 1);   /* the one class defaulting to unidirectional */
    ck_assert_int_eq(c.num_sliding_window_blocks, 3);
    ck_assert_int_eq(c.block, 16);
    deepspeed_config_done(&c);
    ck_assert_int_eq(deepspeed_config_parse(&c, "bigbird", ""), 0);
    ck_assert_int_eq(c.num_random_blocks, 1);
    ck_assert_int_eq(c.unidirectional, 0);
    deepspeed_config_done(&c);
    ck_assert_int_eq(deepspeed_config_parse(&c, "Variable", "local_window_blocks=[2,4] global_block_indices=0,9"), 0);
    ck_assert_int_eq(c.n_local_window_blocks, 2);
    ck_assert_int_eq(c.global_block_indices[1], 9);
    deepspeed_config_done(&c);

    /* DeepSpeed leaves intra-block causality to the caller: causal adds it per token */
    ck_assert_int_eq(deepspeed_config_parse(&c, "Fixed", "block=4 attention=unidirectional"), 0);
    unsigned char *lay;
    int nb;
    ck_assert_int_eq(deepspeed_layout(&c, 32, 0, 0, &lay, &nb), 0);
    Pattern *bi, *ca;
    ck_assert_int_eq(pattern_alloc_layout(&bi, lay, nb, 4, 0, "fixed"), 0);
    ck_assert_int_eq(pattern_alloc_layout(&ca, lay, nb, 4, 1, "fixed"), 0);
    ck_assert(pattern_allows(bi, 0, 3));   /* same diagonal block: DeepSpeed allows it */
    ck_assert(!pattern_allows(ca, 0, 3));
    ck_assert_int_eq(ca->causal, 1);
    for (int q = 0; q < 32; q++)
        for (int k = 0; k < 32; k++)
            ck_assert_int_eq(pattern_allows(ca, q, k), pattern_allows(bi, q, k) && k <= q);
    ck_assert_ptr_nonnull(strstr(pattern_name(ca), "causal"));
    pattern_free(bi);
    pattern_free(ca);
    free(lay);
    deepspeed_config_done(&c);

    /* per-head layouts: Fixed with different global representatives */
    ck_assert_int_eq(deepspeed_config_parse(&c, "Fixed", "num_heads=4 different_layout_per_head=True "
                                            "num_different_global_patterns=4"), 0);
    unsigned char *h0, *h1;
    ck_assert_int_eq(deepspeed_layout(&c, 256, 0, 0, &h0, &nb), 0);
    ck_assert_int_eq(deepspeed_layout(&c, 256, 1, 0, &h1, &nb), 0);
    ck_assert(h0[0 * nb + 3] && !h0[0 * nb + 6]);   /* head 0: last block of each window */
    ck_assert(h1[0 * nb + 2] && h1[0 * nb + 6]);    /* head 1: the one before */
    free(h0);
    free(h1);
    deepspeed_config_done(&c);
}
END_TEST

static void expect_ds_error(const char *cls, const char *params, int seq_len, const char *needle)
{
    DeepspeedConfig c;
    err_clear();
    int rc = deepspeed_config_parse(&c, cls, params);
    if (rc == 0) {
        unsigned char *lay = NULL;
        int nb;
        rc = deepspeed_layout(&c, seq_len, 0, 0, &lay, &nb);
        free(lay);
        deepspeed_config_done(&c);
    }
    ck_assert_msg(rc == ERR_ARG, "%s %s: rc %d", cls, params, rc);
    ck_assert_msg(strstr(err_msg(), needle) != NULL, "%s %s: message '%s' lacks '%s'", cls, params,
                  err_msg(), needle);
}

START_TEST(test_deepspeed_errors)
{
    expect_ds_error("Dense", "", 100, "dividable by block size 16");
    expect_ds_error("Fixed", "num_local_blocks=4 num_global_blocks=3", 64, "must be dividable");
    expect_ds_error("Fixed", "attention=sideways", 64, "uni/bi-directional");
    expect_ds_error("Fixed", "attention=unidirectional horizontal_global_attention=True", 64, "horizontal");
    expect_ds_error("Fixed", "num_different_global_patterns=2", 64, "different_layout_per_head");
    expect_ds_error("Nonsense", "", 64, "unknown class");
    expect_ds_error("Fixed", "num_sliding_window_blocks=3", 64, "takes no parameter");
    expect_ds_error("Fixed", "block=abc", 64, "expected an integer");
    expect_ds_error("Fixed", "block", 64, "expected name=value");
    expect_ds_error("Fixed", "block=0", 64, "block=0");
    expect_ds_error("BigBird", "attention=unidirectional num_random_blocks=2", 64, "sample larger");
    expect_ds_error("BigBird", "num_sliding_window_blocks=9", 64, "sliding window blocks, 9");
    expect_ds_error("BigBird", "num_random_blocks=9", 64, "random blocks, 9");
    expect_ds_error("BSLongformer", "global_block_indices=[0,6] global_block_end_indices=[2]", 320, "length");
    expect_ds_error("BSLongformer", "global_block_indices=[3] global_block_end_indices=[2]", 320, "smaller than");
    expect_ds_error("Variable", "local_window_blocks=[2,x]", 64, "list");
    expect_ds_error("Variable", "local_window_blocks=[0]", 64, ">= 1");
    expect_ds_error("LocalSlidingWindow", "different_layout_per_head=True", 64, "takes no parameter");
}
END_TEST

/* ---- Longformer ---- */

START_TEST(test_longformer_oracle)
{
    OFile f;
    if (ofile_load(&f, "oracles/attention/longformer_masks.txt")) return;
    ck_assert_int_eq(f.n, 3);
    for (int i = 0; i < f.n; i++) {
        const OCase *c = &f.c[i];
        int n = oc_int(c, "seq_len"), w = oc_int(c, "attention_window");
        int pos[16], ng = 0;
        if (strcmp(oc_get(c, "global"), "-")) ng = oc_ints(c, "global", pos, 16);
        char *expect = oc_bits(c, "mask", n);
        Pattern *p;
        ck_assert_int_eq(pattern_alloc_longformer(&p, n, w, pos, ng, 0), 0);
        char *got = dense_text(p);
        ck_assert_msg(!strcmp(got, expect), "%s:\nexpected\n%sgot\n%s", c->name, expect, got);
        free(got);
        pattern_free(p);
        /* the same through the text grammar */
        char spec[128];
        int o = sprintf(spec, "longformer w=%d", w);
        for (int g = 0; g < ng; g++) o += sprintf(spec + o, "%s%d", g ? "," : " g=", pos[g]);
        ck_assert_msg(pattern_parse(spec, n, 0, 0, &p) == 0, "%s: %s", spec, err_msg());
        got = dense_text(p);
        ck_assert_str_eq(got, expect);
        free(got);
        pattern_free(p);
        free(expect);
    }
    ofile_free(&f);
}
END_TEST

/* ---- Reformer LSH ---- */

START_TEST(test_lsh_oracle)
{
    OFile f;
    if (ofile_load(&f, "oracles/attention/reformer_lsh.txt")) return;
    ck_assert_int_eq(f.n, 3);
    for (int ci = 0; ci < f.n; ci++) {
        const OCase *c = &f.c[ci];
        int n = oc_int(c, "seq_len"), d = oc_int(c, "dim"), H = oc_int(c, "num_hashes");
        LshSpec s = {.n_hashes = H, .chunk = oc_int(c, "chunk_length"),
                     .chunks_before = oc_int(c, "num_chunks_before"),
                     .chunks_after = oc_int(c, "num_chunks_after")};
        const char *nbv = oc_get(c, "num_buckets");
        if (nbv[0] == '[') sscanf(nbv, "[%d,%d]", &s.nb_a, &s.nb_b);
        else s.nb_a = atoi(nbv);
        ck_assert_int_eq(lsh_spec_check(&s), 0);
        ck_assert_int_eq(lsh_buckets_total(&s), oc_int(c, "num_buckets_total"));
        int rh = lsh_rot_half(&s);
        float *x = malloc((size_t)n * d * sizeof(float)), *R = malloc((size_t)H * d * rh * sizeof(float));
        int vi = oc_find(c, "vectors");
        for (int i = 0; i < n; i++) {
            char *p = c->line[vi + 1 + i], *e;
            for (int k = 0; k < d; k++, p = e) x[i * d + k] = strtof(p, &e);
        }
        for (int h = 0; h < H; h++) {
            char key[32];
            sprintf(key, "rotation %d", h);
            int ri = oc_find(c, key);
            ck_assert_int_ge(ri, 0);
            for (int k = 0; k < d; k++) {
                char *p = c->line[ri + 1 + k], *e;
                for (int j = 0; j < rh; j++, p = e) R[(size_t)h * d * rh + k * rh + j] = strtof(p, &e);
            }
        }
        int total = H * n;
        int *buckets = malloc((size_t)total * sizeof(int)), *sorted = malloc((size_t)total * sizeof(int));
        int *undo = malloc((size_t)total * sizeof(int)), *want = malloc((size_t)total * sizeof(int));
        lsh_hash(&s, x, n, d, R, buckets);
        ck_assert_int_eq(oc_ints(c, "offset_buckets", want, total), total);
        for (int i = 0; i < total; i++) ck_assert_msg(buckets[i] == want[i], "%s: bucket %d", c->name, i);
        ck_assert_int_eq(lsh_sort(buckets, n, H, sorted, undo), 0);
        oc_ints(c, "sorted_idx", want, total);
        for (int i = 0; i < total; i++) ck_assert_int_eq(sorted[i], want[i]);
        oc_ints(c, "undo_sorted_idx", want, total);
        for (int i = 0; i < total; i++) ck_assert_int_eq(undo[i], want[i]);
        Pattern *p;
        ck_assert_int_eq(pattern_alloc_lsh_sorted(&p, &s, sorted, n, 0), 0);
        char *got = dense_text(p), *expect = oc_bits(c, "visible", n);
        ck_assert_msg(!strcmp(got, expect), "%s:\nexpected\n%sgot\n%s", c->name, expect, got);
        /* causal: the same visibility with future keys cleared */
        Pattern *pc;
        ck_assert_int_eq(pattern_alloc_lsh_sorted(&pc, &s, sorted, n, 1), 0);
        for (int q = 0; q < n; q++)
            for (int k = 0; k < n; k++)
                ck_assert_int_eq(pattern_allows(pc, q, k), expect[q * (n + 1) + k] == '1' && k <= q);
        /* a broken order is refused */
        sorted[1] = sorted[0];
        Pattern *none = NULL;
        ck_assert_int_eq(pattern_alloc_lsh_sorted(&none, &s, sorted, n, 0), ERR_ARG);
        ck_assert_ptr_null(none);
        ck_assert_ptr_nonnull(strstr(err_msg(), "permutation"));
        pattern_free(pc);
        pattern_free(p);
        free(got);
        free(expect);
        free(x);
        free(R);
        free(buckets);
        free(sorted);
        free(undo);
        free(want);
    }
    ofile_free(&f);
}
END_TEST

static float *gaussian(int count, unsigned long seed, double sigma)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    float *v = malloc((size_t)count * sizeof(float));
    for (int i = 0; i < count; i++) v[i] = (float)gsl_ran_gaussian(r, sigma);
    gsl_rng_free(r);
    return v;
}

START_TEST(test_lsh_seeded)
{
    int n = 64, d = 8;
    float *x = gaussian(n * d, 11, 1.0);
    Pattern *a, *b, *c;
    ck_assert_int_eq(pattern_alloc_lsh(&a, x, n, d, 8, 2, 8, 5, 0), 0);
    ck_assert_int_eq(pattern_alloc_lsh(&b, x, n, d, 8, 2, 8, 5, 0), 0);
    ck_assert_int_eq(pattern_alloc_lsh(&c, x, n, d, 8, 2, 8, 6, 0), 0);
    unsigned char *ma = malloc((size_t)n * n), *mb = malloc((size_t)n * n), *mc = malloc((size_t)n * n);
    pattern_dense(a, ma);
    pattern_dense(b, mb);
    pattern_dense(c, mc);
    ck_assert_int_eq(memcmp(ma, mb, (size_t)n * n), 0);
    ck_assert_int_ne(memcmp(ma, mc, (size_t)n * n), 0);
    for (int q = 0; q < n; q++) {
        ck_assert(pattern_allows(a, q, q));                       /* a query is in its own chunk */
        ck_assert_int_le(pattern_row_cells(a, q, n), 2 * 2 * 8);  /* rounds x chunks x chunk */
    }
    ck_assert_str_eq(pattern_name(a), "lsh buckets=8 hashes=2 chunk=8 seed=5 bidirectional");
    /* a sequence that fits in one chunk attends fully, as HF does */
    Pattern *small;
    ck_assert_int_eq(pattern_alloc_lsh(&small, x, 6, d, 4, 1, 8, 5, 1), 0);
    ck_assert_uint_eq(pattern_active_cells(small), 21);
    /* through the grammar, with the vectors */
    PatternSpec *s;
    ck_assert_int_eq(pattern_spec_parse("lsh buckets=8 hashes=2 chunk=8 seed=5", &s), 0);
    ck_assert(pattern_spec_needs_vectors(s));
    Pattern *viaspec;
    ck_assert_int_eq(pattern_spec_build(s, 0, n, 0, 99, x, d, &viaspec), 0);
    pattern_dense(viaspec, mb);
    ck_assert_int_eq(memcmp(ma, mb, (size_t)n * n), 0);
    Pattern *none = NULL;
    ck_assert_int_eq(pattern_spec_build(s, 0, n, 0, 99, NULL, d, &none), ERR_ARG);
    ck_assert_ptr_null(none);
    pattern_free(viaspec);
    pattern_spec_free(s);
    ck_assert_int_eq(pattern_spec_parse("lsh buckets=2x4 chunk=8", &s), 0);
    ck_assert_int_eq(pattern_spec_build(s, 0, n, 1, 3, x, d, &viaspec), 0);
    ck_assert_ptr_nonnull(strstr(pattern_name(viaspec), "buckets=2x4"));
    ck_assert_int_eq(viaspec->causal, 1);
    pattern_free(viaspec);
    pattern_spec_free(s);
    /* errors */
    ck_assert_int_eq(pattern_alloc_lsh(&small, x, n, d, 3, 1, 8, 0, 0) == ERR_ARG, 1);
    ck_assert_ptr_nonnull(strstr(err_msg(), "buckets=3"));
    ck_assert_int_eq(pattern_alloc_lsh(&c, x, n, d, 4, 0, 8, 0, 0), ERR_ARG);
    ck_assert_int_eq(pattern_alloc_lsh(&c, x, n, d, 4, 1, 0, 0, 0), ERR_ARG);
    pattern_free(small);
    pattern_free(a);
    pattern_free(b);
    pattern_free(c);
    free(ma);
    free(mb);
    free(mc);
    free(x);
}
END_TEST

/* ---- fixed kinds ---- */

static int row_text_eq(const Pattern *p, int q, const char *bits)
{
    for (int k = 0; k < p->n; k++)
        if (pattern_allows(p, q, k) != (bits[k] == '1')) return 0;
    return 1;
}

START_TEST(test_fixed_kinds)
{
    Pattern *p;
    ck_assert_int_eq(pattern_alloc_window(&p, 10, 4, 0), 0);
    ck_assert(row_text_eq(p, 5, "0001111100"));   /* w/2 = 2 keys each side */
    ck_assert(row_text_eq(p, 0, "1110000000"));
    ck_assert_str_eq(pattern_name(p), "sliding window w=4 bidirectional");
    ck_assert_uint_eq(pattern_active_cells(p), 10 * 5 - 2 * (2 + 1));
    ck_assert_int_eq(p->max_row, 5);
    pattern_free(p);
    ck_assert_int_eq(pattern_alloc_window(&p, 10, 4, 1), 0);
    ck_assert(row_text_eq(p, 5, "0011110000"));   /* the last w keys, itself included */
    ck_assert(row_text_eq(p, 1, "1100000000"));
    ck_assert_str_eq(pattern_name(p), "sliding window w=4 causal");
    pattern_free(p);
    ck_assert_int_eq(pattern_alloc_dilated(&p, 12, 4, 2, 0), 0);
    ck_assert(row_text_eq(p, 6, "001010101010"));
    pattern_free(p);
    ck_assert_int_eq(pattern_alloc_dilated(&p, 12, 3, 3, 1), 0);
    ck_assert(row_text_eq(p, 9, "000100100100"));
    pattern_free(p);
    int g[] = {2, 7};
    ck_assert_int_eq(pattern_alloc_global(&p, 10, g, 2, 0), 0);
    ck_assert(row_text_eq(p, 2, "1111111111"));
    ck_assert(row_text_eq(p, 5, "0010010100"));   /* globals + itself */
    pattern_free(p);
    ck_assert_int_eq(pattern_alloc_global(&p, 10, g, 2, 1), 0);
    ck_assert(row_text_eq(p, 7, "1111111100"));
    ck_assert(row_text_eq(p, 5, "0010010000"));
    ck_assert(row_text_eq(p, 1, "0100000000"));
    pattern_free(p);
    ck_assert_int_eq(pattern_alloc_block(&p, 10, 4, 0), 0);
    ck_assert(row_text_eq(p, 5, "0000111100"));
    ck_assert(row_text_eq(p, 9, "0000000011"));   /* a short last block */
    pattern_free(p);
    ck_assert_int_eq(pattern_alloc_block(&p, 10, 4, 1), 0);
    ck_assert(row_text_eq(p, 6, "0000111000"));
    pattern_free(p);
    ck_assert_int_eq(pattern_alloc_full(&p, 7, 1), 0);
    ck_assert_uint_eq(pattern_active_cells(p), 28);
    pattern_free(p);

    /* n^2 versus about w n: the course's numbers, at a length the model cannot show */
    ck_assert_int_eq(pattern_alloc_window(&p, 16384, 256, 1), 0);
    size_t cells = pattern_active_cells(p);
    ck_assert_uint_eq(cells, (size_t)16384 * 256 - (size_t)256 * 255 / 2);
    ck_assert_uint_lt(cells, (size_t)16384 * 16384 / 60);
    pattern_free(p);

    /* a dense mask round-trips */
    unsigned char m[25] = {1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1};
    ck_assert_int_eq(pattern_alloc_dense(&p, m, 5, 0, "mine"), 0);
    unsigned char back[25];
    pattern_dense(p, back);
    ck_assert_int_eq(memcmp(m, back, 25), 0);
    ck_assert_int_eq(pattern_row_cells(p, 1, 5), 0);
    const int *r;
    ck_assert_int_eq(pattern_row(p, 0, &r), 2);
    ck_assert_int_eq(r[0], 0);
    ck_assert_int_eq(r[1], 1);
    ck_assert_int_eq(r[2], 2);
    ck_assert_int_eq(r[3], 4);
    pattern_free(p);
}
END_TEST

START_TEST(test_random_and_bigbird)
{
    int n = 40, r = 3;
    Pattern *a, *b, *c;
    ck_assert_int_eq(pattern_alloc_random(&a, n, r, 42, 0), 0);
    ck_assert_int_eq(pattern_alloc_random(&b, n, r, 42, 0), 0);
    ck_assert_int_eq(pattern_alloc_random(&c, n, r, 43, 0), 0);
    int differ = 0;
    for (int q = 0; q < n; q++) {
        ck_assert_int_eq(pattern_row_cells(a, q, n), r);
        for (int k = 0; k < n; k++) {
            ck_assert_int_eq(pattern_allows(a, q, k), pattern_allows(b, q, k));
            differ |= pattern_allows(a, q, k) != pattern_allows(c, q, k);
        }
    }
    ck_assert(differ);
    pattern_free(a);
    pattern_free(b);
    pattern_free(c);

    /* causal: min(r, q+1) keys, none in the future, and a prefix is the shorter pattern */
    ck_assert_int_eq(pattern_alloc_random(&a, n, r, 9, 1), 0);
    ck_assert_int_eq(pattern_alloc_random(&b, 20, r, 9, 1), 0);
    for (int q = 0; q < n; q++) {
        ck_assert_int_eq(pattern_row_cells(a, q, n), q + 1 < r ? q + 1 : r);
        for (int k = q + 1; k < n; k++) ck_assert(!pattern_allows(a, q, k));
    }
    unsigned char *pa = malloc(400), *pb = malloc(400);
    pattern_dense_prefix(a, 20, pa);
    pattern_dense(b, pb);
    ck_assert_int_eq(memcmp(pa, pb, 400), 0);
    free(pa);
    free(pb);
    pattern_free(a);
    pattern_free(b);

    /* BigBird: window + globals + r random keys among the rest, per non-global row */
    int g[] = {0, 21};
    int w = 4;
    ck_assert_int_eq(pattern_alloc_bigbird(&a, n, w, g, 2, r, 5, 0), 0);
    ck_assert_int_eq(pattern_alloc_bigbird(&b, n, w, g, 2, r, 5, 0), 0);
    for (int q = 0; q < n; q++) {
        if (q == 0 || q == 21) {
            ck_assert_int_eq(pattern_row_cells(a, q, n), n);
            continue;
        }
        int base = 0;
        for (int k = 0; k < n; k++) {
            int win = abs(k - q) <= w / 2, glob = k == 0 || k == 21;
            base += win || glob;
            if (win || glob) ck_assert(pattern_allows(a, q, k));
            ck_assert_int_eq(pattern_allows(a, q, k), pattern_allows(b, q, k));
        }
        ck_assert_int_eq(pattern_row_cells(a, q, n), base + r);
        for (int k = 0; k < n; k++) ck_assert(pattern_allows(a, k, 21));   /* seen by all */
    }
    ck_assert_str_eq(pattern_name(a), "bigbird w=4 g=0,21 r=3 seed=5 bidirectional");
    pattern_free(a);
    pattern_free(b);
    ck_assert_int_eq(pattern_alloc_bigbird(&a, n, w, g, 2, r, 5, 1), 0);
    for (int q = 0; q < n; q++)
        for (int k = q + 1; k < n; k++) ck_assert(!pattern_allows(a, q, k));
    pattern_free(a);
}
END_TEST

/* ---- the sparse kernel equals exact attention under the dense mask ---- */

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        m = d > m ? d : m;
    }
    return m;
}

START_TEST(test_sparse_equals_masked)
{
    int n = 37, d = 8, dv = 5;
    float *Q = gaussian(n * d, 1, 1.0), *K = gaussian(n * d, 2, 1.0), *V = gaussian(n * dv, 3, 1.0);
    float *o1 = malloc((size_t)n * dv * sizeof(float)), *o2 = malloc((size_t)n * dv * sizeof(float));
    float *scratch = malloc((size_t)n * sizeof(float));
    unsigned char *mask = malloc((size_t)n * n);
    float *x = gaussian(n * d, 4, 1.0);
    const char *specs[] = {"full", "window w=4", "window w=7", "dilated w=4 d=3", "global g=0,17",
                           "random r=5 seed=1", "bigbird w=4 g=0 r=2 seed=3", "block b=8",
                           "longformer w=6 g=3,30", "lsh buckets=4 hashes=2 chunk=5 seed=2"};
    float scale = 1.0f / sqrtf((float)d);
    for (size_t si = 0; si < sizeof specs / sizeof specs[0]; si++)
        for (int causal = 0; causal < 2; causal++) {
            PatternSpec *s;
            Pattern *p;
            ck_assert_msg(pattern_spec_parse(specs[si], &s) == 0, "%s: %s", specs[si], err_msg());
            ck_assert_msg(pattern_spec_build(s, 0, n, causal, 0, x, d, &p) == 0, "%s: %s", specs[si], err_msg());
            pattern_dense(p, mask);
            size_t ws = effattn_sparse_scratch(p);
            float *w = malloc(ws * sizeof(float));
            ck_assert_int_eq(effattn_sparse(p, Q, K, V, n, d, dv, scale, o1, w, ws), 0);
            effattn_exact_masked(Q, K, V, n, d, dv, scale, mask, o2, scratch);
            ck_assert_msg(max_abs_diff(o1, o2, (size_t)n * dv) <= 1e-6, "%s causal=%d: %g", specs[si],
                          causal, max_abs_diff(o1, o2, (size_t)n * dv));
            /* a prefix of t positions is the pattern restricted to [0,t)^2 */
            int t = 23;
            unsigned char *pm = malloc((size_t)t * t);
            pattern_dense_prefix(p, t, pm);
            ck_assert_int_eq(effattn_sparse(p, Q, K, V, t, d, dv, scale, o1, w, ws), 0);
            effattn_exact_masked(Q, K, V, t, d, dv, scale, pm, o2, scratch);
            ck_assert(max_abs_diff(o1, o2, (size_t)t * dv) <= 1e-6);
            free(pm);
            if (si == 0) {
                effattn_exact(Q, K, V, n, d, dv, scale, causal, o2, scratch);
                ck_assert_int_eq(effattn_sparse(p, Q, K, V, n, d, dv, scale, o1, w, ws), 0);
                ck_assert(max_abs_diff(o1, o2, (size_t)n * dv) <= 1e-6);
            }
            ck_assert_int_eq(effattn_sparse(p, Q, K, V, n + 1, d, dv, scale, o1, w, ws), ERR_ARG);
            /* less than one thread's share is refused; one share runs on one thread */
            const size_t share = ws / (size_t)omp_get_max_threads();
            ck_assert_int_eq(effattn_sparse(p, Q, K, V, n, d, dv, scale, o1, w, share), 0);
            ck_assert_int_eq(effattn_sparse(p, Q, K, V, n, d, dv, scale, o1, w, share - 1), ERR_ARG);
            ck_assert_ptr_nonnull(strstr(err_msg(), "scratch"));
            free(w);
            pattern_free(p);
            pattern_spec_free(s);
        }
    /* DeepSpeed layouts too, each at a multiple of its block */
    int nd = 48;
    float *Qd = gaussian(nd * d, 5, 1.0), *Kd = gaussian(nd * d, 6, 1.0), *Vd = gaussian(nd * dv, 7, 1.0);
    float *od1 = malloc((size_t)nd * dv * sizeof(float)), *od2 = malloc((size_t)nd * dv * sizeof(float));
    float *sd = malloc((size_t)nd * sizeof(float));
    unsigned char *md = malloc((size_t)nd * nd);
    const char *ds[] = {"deepspeed class=Fixed block=4", "deepspeed class=Variable block=4 num_random_blocks=2",
                        "deepspeed class=BigBird block=4", "deepspeed class=BSLongformer block=4",
                        "deepspeed class=LocalSlidingWindow block=4", "deepspeed class=Dense block=4"};
    for (size_t si = 0; si < sizeof ds / sizeof ds[0]; si++)
        for (int causal = 0; causal < 2; causal++) {
            Pattern *p;
            ck_assert_msg(pattern_parse(ds[si], nd, causal, 3, &p) == 0, "%s: %s", ds[si], err_msg());
            pattern_dense(p, md);
            size_t ws = effattn_sparse_scratch(p);
            float *w = malloc(ws * sizeof(float));
            ck_assert_int_eq(effattn_sparse(p, Qd, Kd, Vd, nd, d, dv, scale, od1, w, ws), 0);
            effattn_exact_masked(Qd, Kd, Vd, nd, d, dv, scale, md, od2, sd);
            ck_assert(max_abs_diff(od1, od2, (size_t)nd * dv) <= 1e-6);
            free(w);
            pattern_free(p);
        }
    /* the strided row form (a KV cache with another head's columns in between) */
    Pattern *p;
    ck_assert_int_eq(pattern_alloc_window(&p, n, 5, 1), 0);
    float *Kc = calloc((size_t)n * 2 * d, sizeof(float)), *Vc = calloc((size_t)n * 2 * dv, sizeof(float));
    for (int j = 0; j < n; j++) {
        memcpy(Kc + (size_t)j * 2 * d + d, K + (size_t)j * d, (size_t)d * sizeof(float));
        memcpy(Vc + (size_t)j * 2 * dv + dv, V + (size_t)j * dv, (size_t)dv * sizeof(float));
    }
    size_t sws = effattn_sparse_scratch(p);
    float *sw = malloc(sws * sizeof(float));
    ck_assert_int_eq(effattn_sparse(p, Q, K, V, n, d, dv, scale, o1, sw, sws), 0);
    free(sw);
    float row[8], att[64], ws[8];
    for (int q = 0; q < n; q++) {
        int cnt = effattn_sparse_row(p, q, q + 1, Q + (size_t)q * d, Kc + d, 2 * d, Vc + dv, 2 * dv, d,
                                     dv, scale, row, ws, att);
        ck_assert_int_eq(cnt, q + 1 < 5 ? q + 1 : 5);
        ck_assert(max_abs_diff(row, o1 + (size_t)q * dv, (size_t)dv) <= 1e-6);
        double sum = 0;
        for (int k = 0; k <= q; k++) {
            sum += att[k];
            if (!pattern_allows(p, q, k)) ck_assert(att[k] == 0);
        }
        ck_assert(fabs(sum - 1) < 1e-5);
    }
    ck_assert_int_eq(effattn_sparse_row(p, n, n, Q, K, d, V, dv, d, dv, scale, row, ws, NULL), ERR_ARG);
    pattern_free(p);
    free(Kc);
    free(Vc);
    free(Qd);
    free(Kd);
    free(Vd);
    free(od1);
    free(od2);
    free(sd);
    free(md);
    free(Q);
    free(K);
    free(V);
    free(x);
    free(o1);
    free(o2);
    free(scratch);
    free(mask);
}
END_TEST

/* ---- graph facts ---- */

START_TEST(test_reach_and_path)
{
    Pattern *w3;
    ck_assert_int_eq(pattern_alloc_window(&w3, 12, 3, 1), 0);   /* keys q-2..q */
    int path[12], len;
    const Pattern *one[] = {w3};
    ck_assert_int_eq(pattern_path(one, 1, 7, 3, path, &len), 0);
    ck_assert_int_eq(len, 3);
    ck_assert_int_eq(path[0], 7);
    ck_assert_int_eq(path[1], 5);
    ck_assert_int_eq(path[2], 3);
    ck_assert_int_eq(pattern_path(one, 1, 3, 7, path, &len), 0);
    ck_assert_int_eq(len, 0);   /* causal: 3 never sees 7 */
    ck_assert_int_eq(pattern_path(one, 1, 4, 4, path, &len), 0);
    ck_assert_int_eq(len, 1);

    /* any pair through a global token in two hops */
    int g0 = 0;
    Pattern *gl;
    ck_assert_int_eq(pattern_alloc_global(&gl, 30, &g0, 1, 0), 0);
    const Pattern *two[] = {gl};
    for (int a = 1; a < 30; a += 7)
        for (int b = 2; b < 30; b += 5) {
            if (a == b) continue;
            ck_assert_int_eq(pattern_path(two, 1, a, b, path, &len), 0);
            ck_assert_int_eq(len, 3);
            ck_assert_int_eq(path[1], 0);
        }

    /* reachability grows with depth: causal window of 2 keys, 3 layers -> 4 inputs */
    Pattern *w2;
    ck_assert_int_eq(pattern_alloc_window(&w2, 12, 2, 1), 0);
    const Pattern *layers[] = {w2, w2, w2};
    unsigned char reach[12];
    ck_assert_int_eq(pattern_reach(layers, 3, 9, 0, reach), 4);
    for (int s = 0; s < 12; s++) ck_assert_int_eq(reach[s], s >= 6 && s <= 9);
    ck_assert_int_eq(pattern_reach(layers, 1, 9, 0, reach), 2);
    /* growing windows per layer: 2, then 3 (keys q-2..q) on top */
    const Pattern *grow[] = {w2, w3};
    ck_assert_int_eq(pattern_reach(grow, 2, 9, 0, reach), 4);   /* 9 -> 7..9 -> 6..9 */
    /* a pattern without the diagonal: residual keeps the position itself */
    unsigned char m[16] = {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0};
    Pattern *cyc;
    ck_assert_int_eq(pattern_alloc_dense(&cyc, m, 4, 0, "cycle"), 0);
    const Pattern *c1[] = {cyc};
    ck_assert_int_eq(pattern_reach(c1, 1, 0, 0, reach), 1);
    ck_assert(reach[1] && !reach[0]);
    ck_assert_int_eq(pattern_reach(c1, 1, 0, 1, reach), 2);
    ck_assert_int_eq(pattern_path(c1, 1, 0, 3, path, &len), 0);
    ck_assert_int_eq(len, 4);
    /* union of patterns: block + global shortcut */
    Pattern *blk;
    ck_assert_int_eq(pattern_alloc_block(&blk, 30, 5, 0), 0);
    const Pattern *b1[] = {blk};
    ck_assert_int_eq(pattern_path(b1, 1, 1, 29, path, &len), 0);
    ck_assert_int_eq(len, 0);
    const Pattern *b2[] = {blk, gl};
    ck_assert_int_eq(pattern_path(b2, 2, 1, 29, path, &len), 0);
    ck_assert_int_eq(len, 3);
    /* errors */
    ck_assert_int_eq(pattern_reach(layers, 3, 12, 0, reach), ERR_ARG);
    ck_assert_int_eq(pattern_reach(layers, 0, 1, 0, reach), ERR_ARG);
    const Pattern *mixed[] = {w2, gl};
    ck_assert_int_eq(pattern_reach(mixed, 2, 1, 0, reach), ERR_ARG);
    ck_assert_int_eq(pattern_path(mixed, 2, 1, 2, path, &len), ERR_ARG);
    ck_assert_int_eq(pattern_path(one, 1, -1, 2, path, &len), ERR_ARG);
    pattern_free(w3);
    pattern_free(w2);
    pattern_free(gl);
    pattern_free(cyc);
    pattern_free(blk);
}
END_TEST

/* ---- the text grammar ---- */

START_TEST(test_parse)
{
    struct { const char *text; const char *name; size_t cells; } ok[] = {
        {"full", "full causal", 55},
        {"window w=4", "sliding window w=4 causal", 4 * 10 - 6},
        {"  WINDOW   w=2 ", "sliding window w=2 causal", 19},
        {"dilated w=2 d=3", "dilated window w=2 d=3 causal", 17},
        {"global g=0,5", "global g=0,5 causal", 0},
        {"random r=2 seed=4", "random r=2 seed=4 causal", 19},
        {"bigbird w=2 g=0 r=1", "bigbird w=2 g=0 r=1 seed=77 causal", 0},
        {"combined w=2", "bigbird w=2 g=- r=1 seed=77 causal", 0},
        {"block b=5", "blockwise b=5 causal", 30},
        {"longformer w=2 g=1", "longformer w=2 g=1 causal", 0},
        {"deepspeed class=Local block=2", "deepspeed class=Local block=2 causal", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        Pattern *p;
        ck_assert_msg(pattern_parse(ok[i].text, 10, 1, 77, &p) == 0, "%s: %s", ok[i].text, err_msg());
        ck_assert_str_eq(pattern_name(p), ok[i].name);
        if (ok[i].cells) ck_assert_uint_eq(pattern_active_cells(p), ok[i].cells);
        ck_assert_int_eq(p->causal, 1);
        pattern_free(p);
    }
    /* per-layer windows: the l-th value, the last one repeating */
    PatternSpec *s;
    ck_assert_int_eq(pattern_spec_parse("window w=2:4:8", &s), 0);
    ck_assert_str_eq(pattern_spec_text(s), "window w=2:4:8");
    const char *want[] = {"sliding window w=2 causal", "sliding window w=4 causal",
                          "sliding window w=8 causal", "sliding window w=8 causal"};
    for (int l = 0; l < 4; l++) {
        Pattern *p;
        ck_assert_int_eq(pattern_spec_build(s, l, 16, 1, 0, NULL, 0, &p), 0);
        ck_assert_str_eq(pattern_name(p), want[l]);
        pattern_free(p);
    }
    ck_assert(!pattern_spec_needs_vectors(s));
    pattern_spec_free(s);

    struct { const char *text; const char *needle; } bad[] = {
        {"", "no pattern"},
        {"nosuch w=2", "unknown pattern 'nosuch'"},
        {"window", "needs w="},
        {"window w=0", "w=0"},
        {"window w=-3", "w=-3"},
        {"window w=abc", "w=abc"},
        {"window w=4 w=5", "given twice"},
        {"window q=3", "no parameter 'q'"},
        {"window 4", "expected name=value"},
        {"global g=1,x", "positions"},
        {"random r=2 seed=-1", "seed"},
        {"longformer w=1", "w=1"},
        {"lsh buckets=3", "buckets=3"},
        {"deepspeed", "needs class"},
        {"deepspeed class=Fixed nonsense=1", "no parameter 'nonsense'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Pattern *p = NULL;
        err_clear();
        ck_assert_msg(pattern_parse(bad[i].text, 10, 0, 0, &p) == ERR_ARG, "'%s' accepted", bad[i].text);
        ck_assert_msg(strstr(err_msg(), bad[i].needle) != NULL, "'%s': message '%s'", bad[i].text, err_msg());
        ck_assert_ptr_null(p);
    }
    /* parse fine, build fails for this n */
    Pattern *p = NULL;
    ck_assert_int_eq(pattern_parse("deepspeed class=Fixed", 100, 0, 0, &p), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "dividable"));
    ck_assert_int_eq(pattern_parse("global g=12", 10, 0, 0, &p), ERR_ARG);
    ck_assert_int_eq(pattern_parse("lsh", 10, 0, 0, &p), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "vectors"));
    ck_assert_ptr_null(p);
}
END_TEST

#define EXPECT_ARG(call, needle)                                                          \
    do {                                                                                  \
        Pattern *p_ = NULL, **pp_ = &p_;                                                  \
        err_clear();                                                                      \
        int rc_ = (call);                                                                 \
        ck_assert_msg(rc_ == ERR_ARG, "%s: rc %d", #call, rc_);                           \
        ck_assert_ptr_null(*pp_);                                                         \
        ck_assert_msg(strstr(err_msg(), needle) != NULL, "%s: message '%s' lacks '%s'",   \
                      #call, err_msg(), needle);                                          \
    } while (0)

START_TEST(test_bad_arguments)
{
    int g[] = {3, 10};
    EXPECT_ARG(pattern_alloc_window(pp_, 10, 0, 0), "window: w=0 must be >= 1");
    EXPECT_ARG(pattern_alloc_window(pp_, 0, 3, 0), "n=0");
    EXPECT_ARG(pattern_alloc_dilated(pp_, 10, 3, 0, 0), "d=0");
    EXPECT_ARG(pattern_alloc_dilated(pp_, 10, 0, 2, 0), "w=0");
    EXPECT_ARG(pattern_alloc_block(pp_, 10, 0, 1), "b=0");
    EXPECT_ARG(pattern_alloc_random(pp_, 10, 0, 1, 0), "r=0");
    EXPECT_ARG(pattern_alloc_global(pp_, 10, g, 2, 0), "position 10");
    EXPECT_ARG(pattern_alloc_global(pp_, 10, g, 0, 0), "no global");
    EXPECT_ARG(pattern_alloc_global(pp_, 10, NULL, 2, 0), "missing");
    EXPECT_ARG(pattern_alloc_bigbird(pp_, 10, 2, g, 1, -1, 0, 0), "r=-1");
    EXPECT_ARG(pattern_alloc_bigbird(pp_, 10, 0, g, 1, 1, 0, 0), "w=0");
    EXPECT_ARG(pattern_alloc_longformer(pp_, 10, 5, NULL, 0, 0), "even");
    EXPECT_ARG(pattern_alloc_layout(pp_, NULL, 0, 4, 0, NULL), "0 blocks");
    EXPECT_ARG(pattern_alloc_full(pp_, -2, 0), "n=-2");
    EXPECT_ARG(pattern_alloc_dense(pp_, NULL, 0, 0, NULL), "n=0");
    pattern_free(NULL);
    pattern_spec_free(NULL);
}
END_TEST

START_TEST(test_matrix_text)
{
    unsigned char m[6] = {1, 0, 1, 0, 1, 1};
    char *s = pattern_matrix_text(m, 2, 3);
    ck_assert_str_eq(s, "101\n011\n");
    free(s);
}
END_TEST

int main(void)
{
    err_install_gsl_handler();
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_deepspeed_oracle);
    tcase_add_test(tc, test_deepspeed_defaults_and_causal);
    tcase_add_test(tc, test_deepspeed_errors);
    tcase_add_test(tc, test_longformer_oracle);
    tcase_add_test(tc, test_lsh_oracle);
    tcase_add_test(tc, test_lsh_seeded);
    tcase_add_test(tc, test_fixed_kinds);
    tcase_add_test(tc, test_random_and_bigbird);
    tcase_add_test(tc, test_sparse_equals_masked);
    tcase_add_test(tc, test_reach_and_path);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_matrix_text);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
