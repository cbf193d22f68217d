/* Tests for engine/sampler.c: the filtered distribution against a naive twin (full sort,
 * double precision) on many seeded random logit vectors, the draw's frequencies, the
 * seeded stream's determinism and reseeding rules, and every ERR_ARG path.
 * The rule under test (stated in sampler.c): tokens rank by logit, ties to the lower id;
 * top-k keeps the first k, top-p the shortest prefix of the survivors reaching p. */
#include <check.h>
#include <float.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/sampler.h"
#include "tests/util/testutil.h"

/* Check records every passing ck_assert (a write to its pipe); inner loops over V or over
 * 200k draws use this instead, which only calls into Check on failure. */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

/* ---- the naive twin ---- */

static const float *ref_key;  /* qsort has no context argument */

static int ref_cmp(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (ref_key[i] > ref_key[j]) return -1;
    if (ref_key[i] < ref_key[j]) return 1;
    return i < j ? -1 : i > j;
}

typedef struct {
    int n_kept;
    int topp_cut;       /* the top-p boundary decided which tokens stay */
    double margin;      /* how near p the cumulative mass came at that boundary, relative */
} RefInfo;

/* The rule stated in sampler.c, done the obvious way: rank by (logit desc, id asc) with
 * a full sort, take the first k, then the shortest prefix whose mass reaches p of theirs,
 * renormalise.  Double throughout.  kept[i] = 1 for survivors. */
static RefInfo ref_filter(const float *logits, int V, double T, int k, double p, double *out,
                          char *kept)
{
    RefInfo info = {0, 0, INFINITY};
    float *key = malloc((size_t)V * sizeof *key);
    int *order = malloc((size_t)V * sizeof *order);
    double *e = malloc((size_t)V * sizeof *e);
    for (int i = 0; i < V; i++) {
        key[i] = isnan(logits[i]) ? -INFINITY : logits[i];
        order[i] = i;
    }
    ref_key = key;
    qsort(order, (size_t)V, sizeof *order, ref_cmp);
    for (int i = 0; i < V; i++) {
        out[i] = 0.0;
        kept[i] = 0;
    }
    if (T == 0.0) {
        out[order[0]] = 1.0;
        kept[order[0]] = 1;
        info.n_kept = 1;
        goto done;
    }
    double max = key[order[0]];
    for (int i = 0; i < V; i++) e[i] = key[i] == max ? 1.0 : exp(((double)key[i] - max) / T);
    int n = (k > 0 && k < V) ? k : V;
    if (p < 1.0) {
        double mass = 0.0, cum = 0.0;
        for (int j = 0; j < n; j++) mass += e[order[j]];
        double target = p * mass;
        for (int j = 0; j < n; j++) {
            double before = cum;
            cum += e[order[j]];
            if (cum >= target) {
                info.topp_cut = j + 1 < n;
                info.margin = fmin(target - before, cum - target) / target;
                n = j + 1;
                break;
            }
        }
    }
    double s = 0.0;
    for (int j = 0; j < n; j++) s += e[order[j]];
    for (int j = 0; j < n; j++) {
        out[order[j]] = e[order[j]] / s;
        kept[order[j]] = 1;
    }
    info.n_kept = n;
done:
    free(key);
    free(order);
    free(e);
    return info;
}

/* softmax at temperature 1, double */
static void ref_softmax(const float *logits, int V, double *out)
{
    char *kept = malloc((size_t)V);
    ref_filter(logits, V, 1.0, 0, 1.0, out, kept);
    free(kept);
}

/* ---- comparing ---- */

static int n_boundary_diffs;  /* cases where a boundary within rounding of p fell the other way */

/* Compares the sampler's probs and filtered outputs with the twin's: the kept sets must be
 * equal and the values within 1e-6.  Two allowances, both forced by float32 weights:
 * a kept token whose true probability is below 1e-36 may underflow to 0; and when the
 * cumulative mass at the top-p boundary is within 1e-6 (relative) of p, the one
 * boundary token may fall the other way (such cases are counted; they must stay rare). */
static void compare_case(const float *logits, int V, SamplerParams sp, const char *what)
{
    Sampler *s = sampler_alloc(V, sp);
    ck_assert_ptr_nonnull(s);
    float *probs = malloc((size_t)V * sizeof *probs);
    float *filt = malloc((size_t)V * sizeof *filt);
    double *ref = malloc((size_t)V * sizeof *ref);
    double *refp = malloc((size_t)V * sizeof *refp);
    char *kept = malloc((size_t)V);
    sampler_distribution(s, logits, V, probs, filt);
    RefInfo info = ref_filter(logits, V, sp.temperature, sp.top_k, sp.top_p, ref, kept);
    ref_softmax(logits, V, refp);

    int ambiguous = info.topp_cut && info.margin < 1e-6, n_diff = 0;
    for (int i = 0; i < V; i++) {
        REQUIRE(fabs(probs[i] - refp[i]) <= 1e-6, "%s: probs[%d] = %.9g, want %.9g (V=%d)", what,
                i, (double)probs[i], refp[i], V);
        int kept_here = filt[i] != 0.0f;
        if (kept_here == kept[i] || (kept[i] && ref[i] <= 1e-36)) continue;
        n_diff++;
        REQUIRE(ambiguous && n_diff == 1,
                "%s: token %d is %s (filtered %.9g, twin %.9g; V=%d T=%g k=%d p=%.9g, kept %d)",
                what, i, kept[i] ? "cut but should stay" : "kept but should be cut",
                (double)filt[i], ref[i], V, (double)sp.temperature, sp.top_k, (double)sp.top_p,
                info.n_kept);
    }
    double sum = 0.0;
    for (int i = 0; i < V; i++) sum += filt[i];
    REQUIRE(fabs(sum - 1.0) < 1e-5, "%s: filtered sums to %.9g", what, sum);
    if (n_diff)
        n_boundary_diffs++;
    else
        for (int i = 0; i < V; i++)
            REQUIRE(fabs(filt[i] - ref[i]) <= 1e-6,
                    "%s: filtered[%d] = %.9g, want %.9g (V=%d T=%g k=%d p=%.9g)", what, i,
                    (double)filt[i], ref[i], V, (double)sp.temperature, sp.top_k,
                    (double)sp.top_p);
    free(probs);
    free(filt);
    free(ref);
    free(refp);
    free(kept);
    sampler_free(s);
}

/* ---- random cases ---- */

enum { SHAPE_GAUSS, SHAPE_FLAT, SHAPE_FLAT_NOISE, SHAPE_TIES, SHAPE_WILD, SHAPE_COUNT };

static void make_logits(gsl_rng *r, float *x, int V, int shape)
{
    double sigma = 0.1 + 5.0 * gsl_rng_uniform(r), c = gsl_ran_gaussian(r, 3.0);
    for (int i = 0; i < V; i++) {
        switch (shape) {
        case SHAPE_GAUSS: x[i] = (float)(c + gsl_ran_gaussian(r, sigma)); break;
        case SHAPE_FLAT: x[i] = (float)c; break;
        case SHAPE_FLAT_NOISE: x[i] = (float)(c + gsl_ran_gaussian(r, 1e-6)); break;
        case SHAPE_TIES: x[i] = (float)gsl_rng_uniform_int(r, 4) * 0.7f; break;
        default: {
            double u = gsl_rng_uniform(r);
            x[i] = u < 0.1 ? -INFINITY : u < 0.15 ? 1e30f : u < 0.25 ? -1e30f
                 : u < 0.28 ? NAN : (float)gsl_ran_gaussian(r, sigma);
        }
        }
    }
}

static SamplerParams random_params(gsl_rng *r, int V)
{
    SamplerParams p = SAMPLER_DEFAULTS;
    double u = gsl_rng_uniform(r);
    p.temperature = u < 0.1 ? 0.0f : u < 0.3 ? 1.0f : (float)(0.05 + 3.0 * gsl_rng_uniform(r));
    u = gsl_rng_uniform(r);
    p.top_k = u < 0.3 ? 0 : u < 0.4 ? V + (int)gsl_rng_uniform_int(r, 5)
            : u < 0.6 ? 1 + (int)gsl_rng_uniform_int(r, 64)
            : 1 + (int)gsl_rng_uniform_int(r, (unsigned long)V);
    u = gsl_rng_uniform(r);
    p.top_p = u < 0.25 ? 1.0f : u < 0.35 ? 1e-7f : u < 0.45 ? 0.9f : (float)gsl_rng_uniform_pos(r);
    return p;
}

START_TEST(test_against_naive_twin)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2385);
    float *x = malloc(60000 * sizeof *x);
    n_boundary_diffs = 0;
    int n_cases = 1500;
    for (int c = 0; c < n_cases; c++) {
        int V = 1 + (int)gsl_rng_uniform_int(r, 5000);
        if (c % 10 == 0) V = 1 + (int)gsl_rng_uniform_int(r, 8);  /* tiny vocabularies */
        /* large ones, where top-k and top-p first estimate their cut from a sample */
        if (c % 50 == 49) V = 8192 + (int)gsl_rng_uniform_int(r, 52000);
        int shape = c % SHAPE_COUNT;
        make_logits(r, x, V, shape);
        SamplerParams p = random_params(r, V);
        char what[64];
        snprintf(what, sizeof what, "case %d shape %d", c, shape);
        compare_case(x, V, p, what);
    }
    ck_assert_msg(n_boundary_diffs <= n_cases / 100,
                  "%d of %d cases kept a different boundary token", n_boundary_diffs, n_cases);
    free(x);
    gsl_rng_free(r);
}
END_TEST

/* The case the header promises stays O(V): a nearly flat GPT-2-sized distribution with a
 * nucleus of 90% of the vocabulary (speed is measured in bench/bench_sampler.c). */
START_TEST(test_flat_gpt2_vocab)
{
    enum { V = 50257 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    float *x = malloc(V * sizeof *x);
    SamplerParams p = SAMPLER_DEFAULTS;
    p.top_p = 0.9f;
    make_logits(r, x, V, SHAPE_FLAT);
    compare_case(x, V, p, "flat 50257");
    make_logits(r, x, V, SHAPE_FLAT_NOISE);
    compare_case(x, V, p, "flat+noise 50257");
    p.top_k = 40;
    compare_case(x, V, p, "flat+noise 50257 k=40");
    p.top_k = 0;
    p.temperature = 0.7f;
    make_logits(r, x, V, SHAPE_GAUSS);
    compare_case(x, V, p, "gauss 50257");
    free(x);
    gsl_rng_free(r);
}
END_TEST

/* ---- directed cases ---- */

static void filtered_of(const float *x, int V, SamplerParams p, float *out)
{
    Sampler *s = sampler_alloc(V, p);
    ck_assert_ptr_nonnull(s);
    sampler_distribution(s, x, V, NULL, out);
    sampler_free(s);
}

START_TEST(test_top_k_ties_go_to_lower_id)
{
    const float x[5] = {1.0f, 3.0f, 3.0f, 3.0f, 0.0f};
    float f[5];
    SamplerParams p = SAMPLER_DEFAULTS;
    p.top_k = 2;
    filtered_of(x, 5, p, f);
    ck_assert_float_eq_tol(f[1], 0.5f, 1e-7f);
    ck_assert_float_eq_tol(f[2], 0.5f, 1e-7f);
    ck_assert_float_eq(f[0], 0.0f);
    ck_assert_float_eq(f[3], 0.0f);
    ck_assert_float_eq(f[4], 0.0f);
    p.top_k = 1;
    filtered_of(x, 5, p, f);
    ck_assert_float_eq(f[1], 1.0f);
    ck_assert_float_eq(f[2], 0.0f);
}
END_TEST

START_TEST(test_top_p_boundary)
{
    float x[10], f[10];
    for (int i = 0; i < 10; i++) x[i] = 2.385f;
    SamplerParams p = SAMPLER_DEFAULTS;
    p.top_p = 0.35f;  /* 0.3 < p <= 0.4: the 4th token crosses p and stays */
    filtered_of(x, 10, p, f);
    for (int i = 0; i < 10; i++) ck_assert_float_eq_tol(f[i], i < 4 ? 0.25f : 0.0f, 1e-7f);
    for (int i = 4; i < 10; i++) ck_assert(f[i] == 0.0f);
    p.top_p = 0.5f;   /* reaching p exactly is enough */
    filtered_of(x, 4, p, f);
    ck_assert_float_eq_tol(f[0], 0.5f, 1e-7f);
    ck_assert_float_eq_tol(f[1], 0.5f, 1e-7f);
    ck_assert(f[2] == 0.0f && f[3] == 0.0f);
    /* mass exactly p (flat weights are exactly 1, so the sums are exact): the prefix
     * that reaches p stays and the next token goes, whatever the pivots */
    const float ps[3] = {0.25f, 0.5f, 0.75f};
    for (int V = 4; V <= 64; V += 4) {
        float xs[64], fs[64];
        for (int i = 0; i < V; i++) xs[i] = -1.5f;
        for (int j = 0; j < 3; j++) {
            p.top_p = ps[j];
            filtered_of(xs, V, p, fs);
            int want = (int)(ps[j] * (float)V);
            for (int i = 0; i < V; i++)
                REQUIRE(fs[i] == (i < want ? 1.0f / (float)want : 0.0f),
                        "V=%d p=%g: filtered[%d] = %g", V, (double)ps[j], i, (double)fs[i]);
        }
    }
    /* p tiny: the argmax alone */
    const float y[6] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f, -INFINITY};
    p.top_p = 1e-9f;
    filtered_of(y, 6, p, f);
    for (int i = 0; i < 6; i++) ck_assert(f[i] == (i == 1 ? 1.0f : 0.0f));
    /* top-p is relative to the top-k survivors: k=2 keeps {1,3} at 0.5 each, p=0.5 then
     * keeps id 1 only */
    p.top_k = 2;
    p.top_p = 0.5f;
    filtered_of(y, 6, p, f);
    for (int i = 0; i < 6; i++) ck_assert(f[i] == (i == 1 ? 1.0f : 0.0f));
    /* k >= V cuts nothing */
    p.top_k = 6;
    p.top_p = 1.0f;
    filtered_of(y, 6, p, f);
    for (int i = 0; i < 5; i++) ck_assert(f[i] > 0.0f);
    ck_assert(f[5] == 0.0f);
}
END_TEST

START_TEST(test_degenerate_logits)
{
    float f[5], probs[5];
    SamplerParams p = SAMPLER_DEFAULTS;
    /* +inf tokens share the mass */
    const float a[4] = {INFINITY, 0.0f, INFINITY, -INFINITY};
    Sampler *s = sampler_alloc(5, p);
    sampler_distribution(s, a, 4, probs, f);
    for (int i = 0; i < 4; i++) ck_assert(f[i] == (i % 2 ? 0.0f : 0.5f) && probs[i] == f[i]);
    p.top_k = 1;
    sampler_set(s, p);
    sampler_distribution(s, a, 4, NULL, f);
    for (int i = 0; i < 4; i++) ck_assert(f[i] == (i == 0 ? 1.0f : 0.0f));
    /* all -inf (or NaN): uniform, and top-p then keeps the lowest ids */
    const float b[5] = {-INFINITY, NAN, -INFINITY, NAN, -INFINITY};
    p.top_k = 0;
    p.temperature = 2.0f;
    sampler_set(s, p);
    sampler_distribution(s, b, 5, probs, f);
    for (int i = 0; i < 5; i++) ck_assert_float_eq_tol(f[i], 0.2f, 1e-7f);
    for (int i = 0; i < 5; i++) ck_assert_float_eq_tol(probs[i], 0.2f, 1e-7f);
    p.top_p = 0.5f;
    sampler_set(s, p);
    sampler_distribution(s, b, 5, NULL, f);
    for (int i = 0; i < 5; i++) ck_assert_float_eq_tol(f[i], i < 3 ? 1.0f / 3.0f : 0.0f, 1e-7f);
    for (int i = 0; i < 10; i++) ck_assert_int_lt(sampler_sample(s, b, 5, NULL, NULL), 3);
    /* extreme temperatures: near-greedy keeps the tied maxima; huge is near-uniform */
    const float c[3] = {2.0f, 2.0f, 1.999f};
    p.top_p = 1.0f;
    p.temperature = 1e-30f;
    sampler_set(s, p);
    sampler_distribution(s, c, 3, NULL, f);
    ck_assert(f[0] == 0.5f && f[1] == 0.5f && f[2] == 0.0f);
    p.temperature = 1e30f;
    sampler_set(s, p);
    sampler_distribution(s, c, 3, NULL, f);
    for (int i = 0; i < 3; i++) ck_assert_float_eq_tol(f[i], 1.0f / 3.0f, 1e-7f);
    sampler_free(s);
}
END_TEST

START_TEST(test_greedy)
{
    const float x[6] = {0.5f, 4.0f, NAN, 4.0f, -INFINITY, 3.0f};
    float probs[6], f[6];
    SamplerParams p = SAMPLER_DEFAULTS;
    p.temperature = 0.0f;
    p.top_k = 3;
    p.top_p = 0.5f;
    Sampler *s = sampler_alloc(6, p);
    for (int i = 0; i < 6; i++) f[i] = 9.0f;
    ck_assert_int_eq(sampler_sample(s, x, 6, probs, f), 1);
    for (int i = 0; i < 6; i++) ck_assert(f[i] == (i == 1 ? 1.0f : 0.0f));
    double refp[6];
    ref_softmax(x, 6, refp);
    for (int i = 0; i < 6; i++) ck_assert_float_eq_tol(probs[i], refp[i], 1e-7);
    ck_assert_float_eq(probs[2], 0.0f);
    ck_assert_float_eq(probs[4], 0.0f);
    sampler_free(s);
}
END_TEST

START_TEST(test_softmax_and_argmax)
{
    float a[3] = {1.0f, 2.0f, 3.0f};
    softmax_inplace(a, 3);
    double z = exp(1.0) + exp(2.0) + exp(3.0);
    for (int i = 0; i < 3; i++) ck_assert_float_eq_tol(a[i], exp(i + 1.0) / z, 1e-7);
    float b[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    softmax_inplace(b, 4);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(b[i], 0.25f);
    float c[3] = {1e30f, -1e30f, NAN};
    softmax_inplace(c, 3);
    ck_assert(c[0] == 1.0f && c[1] == 0.0f && c[2] == 0.0f);
    float d[3] = {INFINITY, 0.0f, INFINITY};
    softmax_inplace(d, 3);
    ck_assert(d[0] == 0.5f && d[1] == 0.0f && d[2] == 0.5f);
    float e[2] = {88.0f, 89.0f};  /* would overflow expf without the max shift */
    softmax_inplace(e, 2);
    ck_assert_float_eq_tol(e[1], 1.0 / (1.0 + exp(-1.0)), 1e-7);

    const float x[6] = {NAN, -2.0f, 7.5f, 7.5f, NAN, 7.4f};
    ck_assert_int_eq(sampler_argmax(x, 6), 2);
    ck_assert_int_eq(sampler_argmax(x, 1), 0);
    ck_assert_int_eq(sampler_argmax(x, 0), -1);
    const float y[3] = {-INFINITY, 5.0f, INFINITY};
    ck_assert_int_eq(sampler_argmax(y, 3), 2);
}
END_TEST

/* ---- drawing ---- */

START_TEST(test_draw_frequencies)
{
    enum { V = 30, N = 200000 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    float x[V], f[V];
    for (int i = 0; i < V; i++) x[i] = (float)gsl_ran_gaussian(r, 1.5);
    x[7] = -INFINITY;
    const SamplerParams cases[3] = {
        {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 3},
        {.temperature = 0.8f, .top_k = 20, .top_p = 0.9f, .seed = 4},
        {.temperature = 2.385f, .top_k = 0, .top_p = 0.6f, .seed = 5},
    };
    for (int c = 0; c < 3; c++) {
        Sampler *s = sampler_alloc(V, cases[c]);
        long count[V] = {0};
        sampler_distribution(s, x, V, NULL, f);
        int n_cut = 0;
        for (int i = 0; i < V; i++) n_cut += f[i] == 0.0f;
        ck_assert_int_ge(n_cut, 1);  /* token 7 at least */
        for (int t = 0; t < N; t++) {
            int id = sampler_sample(s, x, V, NULL, NULL);
            REQUIRE(id >= 0 && id < V, "drew %d", id);
            count[id]++;
        }
        double chi2 = 0.0;
        int dof = -1;
        for (int i = 0; i < V; i++) {
            double freq = (double)count[i] / N;
            if (f[i] == 0.0f) ck_assert_msg(count[i] == 0, "cut token %d drawn %ld times", i, count[i]);
            ck_assert_msg(fabs(freq - f[i]) < 0.005, "case %d token %d: frequency %.5f, p %.5f",
                          c, i, freq, (double)f[i]);
            if (f[i] > 0.0f) {
                double want = (double)f[i] * N;
                chi2 += (count[i] - want) * (count[i] - want) / want;
                dof++;
            }
        }
        /* chi-square far in the tail (p < 1e-6 for these degrees of freedom) fails */
        ck_assert_msg(chi2 < dof + 10.0 * sqrt(2.0 * dof) + 10.0, "case %d: chi2 %.1f, dof %d", c,
                      chi2, dof);
        sampler_free(s);
    }
    gsl_rng_free(r);
}
END_TEST

static void draw_seq(Sampler *s, const float *x, int V, int n, int *out)
{
    for (int t = 0; t < n; t++) out[t] = sampler_sample(s, x, V, NULL, NULL);
}

START_TEST(test_determinism_and_reseed)
{
    enum { V = 50, N = 400 };
    float x[V];
    for (int i = 0; i < V; i++) x[i] = (float)(i % 7) * 0.3f;
    SamplerParams p = SAMPLER_DEFAULTS;
    p.seed = 1234;
    p.top_k = 30;
    Sampler *a = sampler_alloc(V, p), *b = sampler_alloc(V, p);
    int sa[N], sb[N], sc[N];
    draw_seq(a, x, V, N, sa);
    draw_seq(b, x, V, N, sb);
    ck_assert_mem_eq(sa, sb, sizeof sa);

    /* a different seed gives a different stream */
    SamplerParams q = p;
    q.seed = 1235;
    Sampler *c = sampler_alloc(V, q);
    draw_seq(c, x, V, N, sc);
    ck_assert(memcmp(sa, sc, sizeof sa) != 0);

    /* sampler_reseed restarts the stream */
    sampler_reseed(a, 1234);
    draw_seq(a, x, V, N, sc);
    ck_assert_mem_eq(sa, sc, sizeof sa);

    /* sampler_set with the same seed continues the stream */
    sampler_reseed(a, 1234);
    draw_seq(a, x, V, N / 2, sc);
    SamplerParams same = p;
    same.top_k = 31;  /* changed and changed back, with no draw in between */
    ck_assert_int_eq(sampler_set(a, same), 0);
    ck_assert_int_eq(sampler_set(a, p), 0);
    draw_seq(a, x, V, N / 2, sc + N / 2);
    ck_assert_mem_eq(sa, sc, sizeof sa);

    /* ... and with a new seed restarts it as a fresh sampler with that seed would */
    ck_assert_int_eq(sampler_set(a, q), 0);
    ck_assert_int_eq(sampler_params(a).seed, 1235);
    draw_seq(a, x, V, N, sb);
    sampler_reseed(c, 1235);
    draw_seq(c, x, V, N, sc);
    ck_assert_mem_eq(sb, sc, sizeof sb);

    /* greedy steps consume no random number */
    sampler_reseed(a, 99);
    sampler_reseed(b, 99);
    draw_seq(a, x, V, 10, sa);
    SamplerParams g = sampler_params(a);
    g.temperature = 0.0f;
    ck_assert_int_eq(sampler_set(a, g), 0);
    draw_seq(a, x, V, 5, sc);
    for (int t = 0; t < 5; t++) ck_assert_int_eq(sc[t], sampler_argmax(x, V));
    g.temperature = 1.0f;
    ck_assert_int_eq(sampler_set(a, g), 0);
    draw_seq(a, x, V, 10, sa + 10);
    draw_seq(b, x, V, 20, sb);
    ck_assert_mem_eq(sa, sb, 20 * sizeof *sa);

    sampler_free(a);
    sampler_free(b);
    sampler_free(c);
}
END_TEST

/* ---- errors ---- */

static int params_eq(SamplerParams a, SamplerParams b)
{
    return memcmp(&a.temperature, &b.temperature, sizeof a.temperature) == 0 &&
           a.top_k == b.top_k && a.top_p == b.top_p && a.seed == b.seed;
}

START_TEST(test_bad_params)
{
    SamplerParams good = {.temperature = 0.7f, .top_k = 12, .top_p = 0.95f, .seed = 8};
    Sampler *s = sampler_alloc(16, good);
    ck_assert_ptr_nonnull(s);
    const SamplerParams bad[] = {
        {.temperature = -0.1f, .top_k = 0, .top_p = 1.0f, .seed = 1},
        {.temperature = NAN, .top_k = 0, .top_p = 1.0f, .seed = 1},
        {.temperature = INFINITY, .top_k = 0, .top_p = 1.0f, .seed = 1},
        {.temperature = 1.0f, .top_k = -1, .top_p = 1.0f, .seed = 1},
        {.temperature = 1.0f, .top_k = 0, .top_p = 0.0f, .seed = 1},
        {.temperature = 1.0f, .top_k = 0, .top_p = -0.5f, .seed = 1},
        {.temperature = 1.0f, .top_k = 0, .top_p = 1.0001f, .seed = 1},
        {.temperature = 1.0f, .top_k = 0, .top_p = NAN, .seed = 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear();
        ck_assert_int_eq(sampler_set(s, bad[i]), ERR_ARG);
        ck_assert_int_eq(err_code(), ERR_ARG);
        ck_assert_ptr_nonnull(strstr(err_msg(), "sampler: "));
        ck_assert(params_eq(sampler_params(s), good));
        err_clear();
        ck_assert_ptr_null(sampler_alloc(16, bad[i]));
        ck_assert_int_eq(err_code(), ERR_ARG);
    }
    /* the stream was not reseeded by the refused seeds */
    Sampler *t = sampler_alloc(16, good);
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = 0.1f * (float)i;
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(sampler_sample(s, x, 16, NULL, NULL), sampler_sample(t, x, 16, NULL, NULL));
    sampler_free(t);

    /* boundary values are accepted */
    SamplerParams edge = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .seed = 0};
    ck_assert_int_eq(sampler_set(s, edge), 0);
    edge.top_p = FLT_MIN;
    ck_assert_int_eq(sampler_set(s, edge), 0);

    err_clear();
    ck_assert_ptr_null(sampler_alloc(0, good));
    ck_assert_int_eq(err_code(), ERR_ARG);
    ck_assert_ptr_null(sampler_alloc(-3, good));
    sampler_free(NULL);
    sampler_free(s);
}
END_TEST

START_TEST(test_bad_calls)
{
    Sampler *s = sampler_alloc(8, SAMPLER_DEFAULTS);
    float x[9] = {0}, probs[9], f[9];
    for (int i = 0; i < 9; i++) probs[i] = f[i] = 7.0f;
    err_clear();
    ck_assert_int_eq(sampler_sample(s, x, 9, probs, f), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "outside 1..8"));
    ck_assert_int_eq(sampler_sample(s, x, 0, probs, f), ERR_ARG);
    ck_assert_int_eq(sampler_sample(s, NULL, 8, probs, f), ERR_ARG);
    err_clear();
    sampler_distribution(s, x, 9, probs, f);
    ck_assert_int_eq(err_code(), ERR_ARG);
    err_clear();
    sampler_distribution(s, NULL, 8, probs, f);
    ck_assert_int_eq(err_code(), ERR_ARG);
    for (int i = 0; i < 9; i++) ck_assert(probs[i] == 7.0f && f[i] == 7.0f);
    /* a smaller vocabulary than allocated is fine */
    int id = sampler_sample(s, x, 3, probs, f);
    ck_assert(id >= 0 && id < 3);
    ck_assert_float_eq_tol(f[0], 1.0f / 3.0f, 1e-7f);
    ck_assert(f[3] == 7.0f);
    sampler_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_against_naive_twin);
    tcase_add_test(tc, test_flat_gpt2_vocab);
    tcase_add_test(tc, test_top_k_ties_go_to_lower_id);
    tcase_add_test(tc, test_top_p_boundary);
    tcase_add_test(tc, test_degenerate_logits);
    tcase_add_test(tc, test_greedy);
    tcase_add_test(tc, test_softmax_and_argmax);
    tcase_add_test(tc, test_draw_frequencies);
    tcase_add_test(tc, test_determinism_and_reseed);
    tcase_add_test(tc, test_bad_params);
    tcase_add_test(tc, test_bad_calls);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
