/* sampler — owns the choice of the next token: temperature, top-k, top-p (nucleus), the
 * seeded random stream, and the two distributions the views show (the model's own
 * softmax and the filtered one actually sampled from).  It does not own logits, the
 * trace or any policy about when to sample (gen.c does).
 *
 * Ranking rule.  "Most probable" is decided on the logits, not on the rounded
 * probabilities: token a ranks before token b when logit[a] > logit[b], or when they are
 * equal and a < b (lower id wins ties).  Since exp is monotone this is the order of the
 * true probabilities, but unlike float probabilities it never turns two different logits
 * into a tie, so the kept set does not depend on rounding.  NaN logits count as -inf.
 * Top-k keeps the first k tokens in this order; top-p keeps the shortest prefix of it
 * whose mass (relative to the top-k survivors, as when HF chains its warpers) reaches p,
 * the token that crosses p included (HF TopPLogitsWarper, llama2.c sample_topp).
 *
 * Cost.  Both cuts are selections, not sorts: top-k is a quickselect on the ranking, and
 * top-p is a quickselect driven by mass — partition around a pivot, compare the mass of
 * the better side with what is still needed, and descend into one side only.  Expected
 * O(V) for any distribution, including a flat one where the nucleus holds most of the
 * vocabulary.  Three shortcuts keep the constant small on a 50k vocabulary, none of
 * which can change the result: top-k first keeps, in one sequential pass, the tokens
 * ranking before a threshold estimated from a random sample; top-p first drops tokens
 * too light to matter (llama2.c's bound); and on a large range top-p's first two pivots
 * are placed from a sample on either side of the estimated crossing.  Pivots and samples
 * come from a private xorshift reset on every call, so the sampler's mt19937 stream is
 * used for draws only and the same call does the same work.  Nothing of size V is ever
 * sorted (only top-p's 256-token sample).
 *
 * Degenerate inputs: tokens at +inf share the mass evenly; if every logit is -inf (or
 * NaN) the distribution is uniform, the limit of equal logits.
 * References: Holtzman et al. 2019 (nucleus sampling); llama2.c run.c (sample_topp);
 * HF transformers generation/logits_process.py (TopK/TopPLogitsWarper).
 */
#include "engine/sampler.h"
#include "engine/err.h"
#include "engine/vexp.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { SAMPLER_SAMPLE = 1024, SAMPLER_SAMPLE_P = 256 };

struct Sampler {
    SamplerParams p;
    int cap;            /* largest V the scratch holds */
    gsl_rng *rng;       /* draws only */
    uint64_t pivot;     /* xorshift state for quickselect pivots */
    const float *key;   /* (V) during a call: the ranking key, the logits themselves or
                           keybuf when they hold NaN */
    float *keybuf;      /* (cap) logits with NaN -> -inf */
    float *w;           /* (cap) unnormalised weights exp((l - max) / T) */
    float *f;           /* (cap) the same with cut tokens zeroed, when anything is cut */
    int *idx;           /* (cap) token ids; after filtering the kept ones come first */
    int sample[SAMPLER_SAMPLE]; /* ids (top-k) or idx positions (top-p) drawn at random
                                   to place a threshold or pivot */
};

static int params_ok(SamplerParams p)
{
    if (!isfinite(p.temperature) || p.temperature < 0.0f)
        return ERR(ERR_ARG, "sampler: temperature must be a finite number >= 0 (got %g)",
                   (double)p.temperature);
    if (p.top_k < 0) return ERR(ERR_ARG, "sampler: top_k must be >= 0 (got %d)", p.top_k);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
        return ERR(ERR_ARG, "sampler: top_p must be in (0, 1] (got %g)", (double)p.top_p);
    return 0;
}

Sampler *sampler_alloc(int V, SamplerParams p)
{
    if (V <= 0) {
        ERR(ERR_ARG, "sampler: vocabulary size must be positive (got %d)", V);
        return NULL;
    }
    if (params_ok(p) < 0) return NULL;
    Sampler *s = xcalloc(1, sizeof *s);
    s->p = p;
    s->cap = V;
    s->keybuf = xmalloc((size_t)V * sizeof *s->keybuf);
    s->w = xmalloc((size_t)V * sizeof *s->w);
    s->f = xmalloc((size_t)V * sizeof *s->f);
    s->idx = xmalloc((size_t)V * sizeof *s->idx);
    s->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!s->rng) {  /* only without memory, and only when a GSL handler returned */
        sampler_free(s);
        ERR(ERR_STATE, "sampler: cannot allocate the random generator");
        return NULL;
    }
    gsl_rng_set(s->rng, p.seed);
    return s;
}

void sampler_free(Sampler *s)
{
    if (!s) return;
    if (s->rng) gsl_rng_free(s->rng);
    free(s->keybuf);
    free(s->w);
    free(s->f);
    free(s->idx);
    free(s);
}

int sampler_set(Sampler *s, SamplerParams p)
{
    int rc = params_ok(p);
    if (rc < 0) return rc;
    /* Changing only T/k/p must not restart the stream, or every `set` would replay the
     * same draws. */
    if (p.seed != s->p.seed) gsl_rng_set(s->rng, p.seed);
    s->p = p;
    return 0;
}

SamplerParams sampler_params(const Sampler *s) { return s->p; }

void sampler_reseed(Sampler *s, unsigned long seed)
{
    s->p.seed = seed;
    gsl_rng_set(s->rng, seed);
}

/* ---- plain helpers ---- */

int sampler_argmax(const float *x, int V)
{
    if (!x || V <= 0) return -1;
    int best = 0;
    float bv = isnan(x[0]) ? -INFINITY : x[0];
    for (int i = 1; i < V; i++)
        if (x[i] > bv) { bv = x[i]; best = i; }  /* strict: lowest id wins ties; NaN never > */
    return best;
}

/* out[i] <- exp((key[i] - max) / T), unnormalised; returns their sum.  A key equal to the
 * max gives exactly 1, which also covers max = +inf (inf - inf would be NaN) and all
 * keys -inf (uniform).  key must be NaN-free. */
static double exp_shifted(const float *key, int V, float max, float T, float *out)
{
    double sum = 0.0;
    if (isfinite(max)) {  /* the usual case: exp(0) is already exactly 1 */
        int i = 0;
#ifdef VEXP_AVX2
        /* eight lanes, their sums in two double vectors (a serial double sum was a chain of
         * V dependent additions) */
        const __m256 mv = _mm256_set1_ps(max), tv = _mm256_set1_ps(T);
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        for (; i + 8 <= V; i += 8) {
            const __m256 e = vexp8(_mm256_div_ps(_mm256_sub_ps(_mm256_loadu_ps(key + i), mv), tv));
            _mm256_storeu_ps(out + i, e);
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        }
        double lanes[4];
        _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
        sum = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
#endif
        for (; i < V; i++) {
            float e = vexp1((key[i] - max) / T);
            out[i] = e;
            sum += e;
        }
        return sum;
    }
    for (int i = 0; i < V; i++) {
        float e = key[i] == max ? 1.0f : vexp1((key[i] - max) / T);
        out[i] = e;
        sum += e;
    }
    return sum;
}

/* out[i] <- x[i] * scale, as a float product: one extra rounding (< 1.2e-7 relative)
 * instead of a double conversion and division per element. */
static void scale_into(float *out, const float *x, int V, double scale)
{
    float c = (float)scale;
    for (int i = 0; i < V; i++) out[i] = x[i] * c;
}

void softmax_inplace(float *x, int V)
{
    if (!x || V <= 0) return;
    float max = -INFINITY;
    for (int i = 0; i < V; i++) {
        if (isnan(x[i])) x[i] = -INFINITY;
        if (x[i] > max) max = x[i];
    }
    double sum = exp_shifted(x, V, max, 1.0f, x);
    for (int i = 0; i < V; i++) x[i] = (float)(x[i] / sum);
}

/* ---- selection ---- */

/* Token a ranks before token b (see the ranking rule above).  Bitwise, not short-circuit:
 * the partition loop below stays free of unpredictable branches. */
static inline int ranks_before(const float *key, int a, int b)
{
    return (key[a] > key[b]) | ((key[a] == key[b]) & (a < b));
}

static inline int pivot_in(Sampler *s, int lo, int hi)
{
    uint64_t x = s->pivot;  /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->pivot = x;
    return lo + (int)((x >> 11) % (uint64_t)(hi - lo));
}

/* Partitions a[lo, hi) (token ids) around a[pi] (a random pivot when pi < 0): afterwards
 * a[lo, m) rank before the pivot, a[m] is the pivot, a(m, hi) rank after it.  Returns m;
 * *mass (if not NULL) receives the summed weight of a[lo, m).  Keys are distinct under the ranking, so there
 * is no run of equal elements to degrade the partition.  Lomuto's scheme with an
 * unconditional swap: the comparison only moves m, where a random key order would
 * otherwise mispredict a branch on every other element. */
static int partition(Sampler *s, int *a, int lo, int hi, int pi, double *mass)
{
    const float *key = s->key, *w = s->w;
    if (pi < 0) pi = pivot_in(s, lo, hi);
    int pv = a[pi];
    a[pi] = a[hi - 1];
    a[hi - 1] = pv;
    int m = lo;
    if (mass) {
        double acc = 0.0;
        for (int i = lo; i < hi - 1; i++) {
            int t = a[i];
            int b = ranks_before(key, t, pv);
            a[i] = a[m];
            a[m] = t;
            m += b;
            acc += (double)(w[t] * (float)b);  /* w * 0/1: no branch */
        }
        *mass = acc;
    } else {
        for (int i = lo; i < hi - 1; i++) {
            int t = a[i];
            int b = ranks_before(key, t, pv);
            a[i] = a[m];
            a[m] = t;
            m += b;
        }
    }
    a[hi - 1] = a[m];
    a[m] = pv;
    return m;
}

/* Rearranges a[0, n) so that a[0, k) are the k best-ranked (in no order). */
static void select_k(Sampler *s, int *a, int n, int k)
{
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        int m = partition(s, a, lo, hi, -1, NULL);
        if (m == k || m + 1 == k) return;
        if (k < m) hi = m;
        else lo = m + 1;
    }
}

/* Fills idx with candidates for the best `want` of V tokens and returns their count,
 * or 0 when it cannot help.  A quickselect over all of V would gather keys through idx
 * for a few passes; instead a random sample of SAMPLER_SAMPLE ids gives a threshold
 * token that about twice `want` (plus a margin) tokens rank before, and one sequential
 * pass keeps just those.  If the sample was unlucky and fewer than `want` pass, the
 * caller falls back to the full selection: the result never depends on the sample. */
static int rank_candidates(Sampler *s, int V, int want)
{
    int S = SAMPLER_SAMPLE;
    if (V < 8 * S || want > V / 16) return 0;
    int r = (int)(2.0 * want * S / V) + 12;  /* sample rank of the threshold */
    if (r >= S / 4) return 0;
    for (int j = 0; j < S; j++) s->sample[j] = pivot_in(s, 0, V);
    select_k(s, s->sample, S, r + 1);
    int tau = s->sample[0];
    for (int j = 1; j <= r; j++)   /* the worst of the r + 1 best */
        if (ranks_before(s->key, tau, s->sample[j])) tau = s->sample[j];
    const float *key = s->key;
    int *idx = s->idx, c = 0;
    for (int i = 0; i < V; i++) {
        idx[c] = i;
        c += ranks_before(key, i, tau) | (i == tau);
    }
    return c >= want ? c : 0;
}

static int rank_cmp(const void *pa, const void *pb, void *ctx)
{
    const Sampler *s = ctx;
    int a = s->idx[*(const int *)pa], b = s->idx[*(const int *)pb];
    return a == b ? 0 : ranks_before(s->key, a, b) ? -1 : 1;
}

/* A pivot position in idx[lo, hi) near where the mass still needed (need) runs out:
 * SAMPLER_SAMPLE_P positions drawn at random, sorted by rank, their weights scaled up to
 * the range until they reach need; then a few standard deviations before (after = 0)
 * or after (after = 1) that point.  Two such pivots leave a narrow band around the
 * crossing, where random pivots would each keep about half of the range.  An estimate
 * that misses only costs time: every pivot is valid for the selection. */
static int sampled_pivot(Sampler *s, int lo, int hi, double need, int after)
{
    int S = SAMPLER_SAMPLE_P, *smp = s->sample;
    for (int j = 0; j < S; j++) smp[j] = pivot_in(s, lo, hi);
    qsort_r(smp, (size_t)S, sizeof *smp, rank_cmp, s);
    double scale = (double)(hi - lo) / S, cum = 0.0;
    int j = 0;
    while (j < S - 1 && (cum += s->w[s->idx[smp[j]]] * scale) < need) j++;
    int d = 2 + (int)(3.0 * sqrt((double)j * (S - j) / S));
    j = after ? (j + d < S ? j + d : S - 1) : (j > d ? j - d : 0);
    return smp[j];
}

/* Rearranges idx[0, n) so that its shortest best-ranked prefix with mass >= target comes
 * first; returns that prefix's length.  Invariant: idx[0, lo) is known to be in the
 * prefix and weighs acc < target; the prefix ends inside (lo, hi]. */
static int select_top_p(Sampler *s, int n, double target)
{
    int lo = 0, hi = n, round = 0;
    double acc = 0.0;
    while (lo < hi) {
        double better;
        int pi = -1;
        if (round < 2 && hi - lo >= 32 * SAMPLER_SAMPLE_P)
            pi = sampled_pivot(s, lo, hi, target - acc, round);
        round++;
        int m = partition(s, s->idx, lo, hi, pi, &better);
        if (acc + better >= target) {
            hi = m;                                 /* the crossing token ranks before the pivot */
        } else if (acc + better + s->w[s->idx[m]] >= target) {
            return m + 1;                           /* the pivot crosses p */
        } else {
            acc += better + s->w[s->idx[m]];
            lo = m + 1;
        }
    }
    /* lo == hi: either the range narrowed to the crossing token or (by summation-order
     * rounding) the whole range was needed; in both cases the prefix is [0, hi). */
    return hi;
}

/* Moves the candidates of idx[0, n) (total weight mass) that can be in the nucleus to the
 * front and returns their count.  A token lighter than c = (1-p) mass / (2 (n-1)) never
 * is: all such tokens together weigh less than (1-p) mass / 2, so the heavier ones alone
 * pass p, and they all rank first (w is monotone in the key).  The factor 2 keeps that
 * margin far from rounding.  (llama2.c's sample_topp uses the same bound without it.)
 * On a peaked distribution this leaves a few hundred tokens of 50k to partition. */
static int nucleus_candidates(Sampler *s, int n, int identity, double mass, float p)
{
    int *idx = s->idx;
    if (n < 2) {
        if (identity) idx[0] = 0;
        return n;
    }
    const float *w = s->w;
    float c = (float)((1.0 - p) * mass / (2.0 * (n - 1)));
    int m = 0;
    if (identity) {  /* idx[j] == j: a sequential pass */
        for (int j = 0; j < n; j++) {
            idx[m] = j;
            m += w[j] >= c;
        }
        return m;
    }
    for (int j = 0; j < n; j++) {
        int t = idx[j];
        idx[j] = idx[m];
        idx[m] = t;
        m += w[t] >= c;
    }
    return m;
}

/* ---- the distribution ---- */

typedef struct {
    const float *f;  /* (V) unnormalised filtered weights, 0 where cut */
    double total;    /* their sum */
    int greedy;      /* the argmax when temperature is 0, else -1 */
    int last;        /* highest kept id: the draw's fallback */
} Filtered;

/* Computes the filtered weights (in s->w, or s->f when something was cut) and writes
 * probs if asked. */
static Filtered filter(Sampler *s, const float *logits, int V, float *probs)
{
    float *w = s->w;
    float max = -INFINITY;
    int arg = 0, nan = 0;
    for (int i = 0; i < V; i++) {
        float l = logits[i];
        nan |= isnan(l);
        if (l > max) { max = l; arg = i; }  /* NaN never compares greater */
    }
    const float *key = logits;
    if (nan) {
        for (int i = 0; i < V; i++) s->keybuf[i] = isnan(logits[i]) ? -INFINITY : logits[i];
        key = s->keybuf;
    }
    s->key = key;
    float T = s->p.temperature;
    if (probs && T != 1.0f) {
        scale_into(probs, probs, V, 1.0 / exp_shifted(key, V, max, 1.0f, probs));
    }
    if (T == 0.0f) return (Filtered){NULL, 1.0, arg, arg};

    double z = exp_shifted(key, V, max, T, w);
    if (probs && T == 1.0f) scale_into(probs, w, V, 1.0 / z);
    int k = s->p.top_k;
    float p = s->p.top_p;
    if (!(k > 0 && k < V) && p >= 1.0f) {  /* nothing to cut */
        int last = V - 1;
        while (w[last] == 0.0f) last--;  /* stops: the argmax weighs 1 */
        return (Filtered){w, z, -1, last};
    }

    s->pivot = 0x9e3779b97f4a7c15ull;  /* same call, same pivots */
    int *idx = s->idx, n = V, identity = 1;
    double mass = z;
    if (k > 0 && k < V) {
        int c = rank_candidates(s, V, k);
        if (!c) {
            c = V;
            for (int i = 0; i < V; i++) idx[i] = i;
        }
        select_k(s, idx, c, k);
        n = k;
        identity = 0;
        mass = 0.0;
        for (int j = 0; j < n; j++) mass += w[idx[j]];
    }
    if (p < 1.0f) {
        double target = (double)p * mass;
        n = nucleus_candidates(s, n, identity, mass, p);
        n = select_top_p(s, n, target);
    }
    /* Survivors go to a zeroed copy: the draw and `filtered` walk it in index order. */
    float *f = s->f;
    memset(f, 0, (size_t)V * sizeof *f);
    double total = 0.0;
    int last = 0;
    for (int j = 0; j < n; j++) {
        int t = idx[j];
        f[t] = w[t];
        total += w[t];
        if (w[t] > 0.0f && t > last) last = t;
    }
    return (Filtered){f, total, -1, last};
}

static int check_call(const Sampler *s, const float *logits, int V)
{
    if (!s || !logits) return ERR(ERR_ARG, "sampler: NULL sampler or logits");
    if (V <= 0 || V > s->cap)
        return ERR(ERR_ARG, "sampler: vocabulary size %d outside 1..%d", V, s ? s->cap : 0);
    return 0;
}

static void write_filtered(const Filtered *r, int V, float *filtered)
{
    if (!filtered) return;
    if (r->greedy >= 0) {
        memset(filtered, 0, (size_t)V * sizeof *filtered);
        filtered[r->greedy] = 1.0f;
        return;
    }
    scale_into(filtered, r->f, V, 1.0 / r->total);
}

/* On a bad call (V outside 1..capacity, NULL logits) records ERR_ARG and writes nothing. */
void sampler_distribution(Sampler *s, const float *logits, int V, float *probs, float *filtered)
{
    if (check_call(s, logits, V) < 0) return;
    Filtered r = filter(s, logits, V, probs);
    write_filtered(&r, V, filtered);
}

/* Returns the token id, or ERR_ARG as sampler_distribution.  Greedy decoding consumes no
 * random number, so switching to greedy and back does not shift the stream. */
int sampler_sample(Sampler *s, const float *logits, int V, float *probs, float *filtered)
{
    int rc = check_call(s, logits, V);
    if (rc < 0) return rc;
    Filtered r = filter(s, logits, V, probs);
    write_filtered(&r, V, filtered);
    if (r.greedy >= 0) return r.greedy;

    /* Inverse CDF in index order.  The total was summed in another order, so rounding can
     * leave the final cumulative a hair below a draw at the very top; then the last kept
     * token is the one the draw pointed at.  A cut token (weight 0) is never returned:
     * the cumulative only rises past r on a positive weight. */
    double u = gsl_rng_uniform(s->rng), x = u * r.total, cum = 0.0;
    const float *f = r.f;
    for (int i = 0; i < V; i++) {
        cum += f[i];
        if (cum > x) return i;
    }
    return r.last;
}
