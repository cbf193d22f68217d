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
 * vocabulary.  Pivots come from a private xorshift reset on every call, so the sampler's
 * mt19937 stream is used for draws only and the work done is reproducible.
 *
 * Degenerate inputs: tokens at +inf share the mass evenly; if every logit is -inf (or
 * NaN) the distribution is uniform, the limit of equal logits.
 * References: Holtzman et al. 2019 (nucleus sampling); llama2.c run.c (sample_topp);
 * HF transformers generation/logits_process.py (TopK/TopPLogitsWarper).
 */
#include "engine/sampler.h"
#include "engine/err.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct Sampler {
    SamplerParams p;
    int cap;            /* largest V the scratch holds */
    gsl_rng *rng;       /* draws only */
    uint64_t pivot;     /* xorshift state for quickselect pivots */
    float *key;         /* (cap) logits with NaN -> -inf: the ranking key */
    float *w;           /* (cap) unnormalised filtered weights exp((l - max) / T); 0 = cut */
    int *idx;           /* (cap) token ids; after filtering the kept ones come first */
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
    s->key = xmalloc((size_t)V * sizeof *s->key);
    s->w = xmalloc((size_t)V * sizeof *s->w);
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
    free(s->key);
    free(s->w);
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
    for (int i = 0; i < V; i++) {
        float e = key[i] == max ? 1.0f : expf((key[i] - max) / T);
        out[i] = e;
        sum += e;
    }
    return sum;
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

/* Token a ranks before token b (see the ranking rule above). */
static inline int ranks_before(const float *key, int a, int b)
{
    return key[a] > key[b] || (key[a] == key[b] && a < b);
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

/* Partitions idx[lo, hi) around a random pivot: afterwards idx[lo, m) rank before the
 * pivot, idx[m] is the pivot, idx(m, hi) rank after it.  Returns m; *mass (if not NULL)
 * receives the summed weight of idx[lo, m).  Keys are distinct under the ranking, so
 * there is no run of equal elements to degrade the partition. */
static int partition(Sampler *s, int lo, int hi, double *mass)
{
    int *idx = s->idx;
    const float *key = s->key, *w = s->w;
    int pi = pivot_in(s, lo, hi);
    int pv = idx[pi];
    idx[pi] = idx[hi - 1];
    idx[hi - 1] = pv;
    int m = lo;
    double acc = 0.0;
    for (int i = lo; i < hi - 1; i++) {
        int t = idx[i];
        if (ranks_before(key, t, pv)) {
            idx[i] = idx[m];
            idx[m++] = t;
            acc += w[t];
        }
    }
    idx[hi - 1] = idx[m];
    idx[m] = pv;
    if (mass) *mass = acc;
    return m;
}

/* Rearranges idx[0, n) so that idx[0, k) are the k best-ranked (in no order). */
static void select_top_k(Sampler *s, int n, int k)
{
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        int m = partition(s, lo, hi, NULL);
        if (m == k || m + 1 == k) return;
        if (k < m) hi = m;
        else lo = m + 1;
    }
}

/* Rearranges idx[0, n) so that its shortest best-ranked prefix with mass >= target comes
 * first; returns that prefix's length.  Invariant: idx[0, lo) is known to be in the
 * prefix and weighs acc < target; the prefix ends inside (lo, hi]. */
static int select_top_p(Sampler *s, int n, double target)
{
    int lo = 0, hi = n;
    double acc = 0.0;
    while (lo < hi) {
        double better;
        int m = partition(s, lo, hi, &better);
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

/* ---- the distribution ---- */

/* Fills s->w with the unnormalised filtered weights (0 where cut) and returns their sum
 * in index order, or, for greedy, returns -1 with *greedy set.  Writes probs if asked. */
static double filter(Sampler *s, const float *logits, int V, float *probs, int *greedy,
                     int *last_kept)
{
    float *key = s->key, *w = s->w;
    float max = -INFINITY;
    int arg = 0;
    for (int i = 0; i < V; i++) {
        float l = isnan(logits[i]) ? -INFINITY : logits[i];
        key[i] = l;
        if (l > max) { max = l; arg = i; }
    }
    float T = s->p.temperature;
    if (probs && T != 1.0f) {
        double z = exp_shifted(key, V, max, 1.0f, probs);
        for (int i = 0; i < V; i++) probs[i] = (float)(probs[i] / z);
    }
    if (T == 0.0f) {
        *greedy = arg;
        *last_kept = arg;
        return -1.0;
    }
    double z = exp_shifted(key, V, max, T, w);
    if (probs && T == 1.0f)
        for (int i = 0; i < V; i++) probs[i] = (float)(w[i] / z);

    int n = V, k = s->p.top_k;
    float p = s->p.top_p;
    if ((k > 0 && k < V) || p < 1.0f) {
        s->pivot = 0x9e3779b97f4a7c15ull;  /* same call, same pivots */
        int *idx = s->idx;
        for (int i = 0; i < V; i++) idx[i] = i;
        if (k > 0 && k < V) {
            select_top_k(s, V, k);
            n = k;
        }
        if (p < 1.0f) {
            double mass = n == V ? z : 0.0;
            if (n < V)
                for (int j = 0; j < n; j++) mass += w[idx[j]];
            n = select_top_p(s, n, (double)p * mass);
        }
        for (int j = n; j < V; j++) w[idx[j]] = 0.0f;
    }
    /* The draw walks w in index order; summing in the same order makes its cumulative end
     * exactly at this total. */
    double total = 0.0;
    int last = -1;
    for (int i = 0; i < V; i++) {
        total += w[i];
        if (w[i] > 0.0f) last = i;
    }
    *greedy = -1;
    *last_kept = last;
    return total;
}

static int check_call(const Sampler *s, const float *logits, int V)
{
    if (!s || !logits) return ERR(ERR_ARG, "sampler: NULL sampler or logits");
    if (V <= 0 || V > s->cap)
        return ERR(ERR_ARG, "sampler: vocabulary size %d outside 1..%d", V, s ? s->cap : 0);
    return 0;
}

static void write_filtered(const Sampler *s, int V, double total, int greedy, float *filtered)
{
    if (!filtered) return;
    if (greedy >= 0) {
        memset(filtered, 0, (size_t)V * sizeof *filtered);
        filtered[greedy] = 1.0f;
        return;
    }
    for (int i = 0; i < V; i++) filtered[i] = (float)(s->w[i] / total);
}

/* On a bad call (V outside 1..capacity, NULL logits) records ERR_ARG and writes nothing. */
void sampler_distribution(Sampler *s, const float *logits, int V, float *probs, float *filtered)
{
    if (check_call(s, logits, V) < 0) return;
    int greedy, last;
    double total = filter(s, logits, V, probs, &greedy, &last);
    write_filtered(s, V, total, greedy, filtered);
}

/* Returns the token id, or ERR_ARG as sampler_distribution.  Greedy decoding consumes no
 * random number, so switching to greedy and back does not shift the stream. */
int sampler_sample(Sampler *s, const float *logits, int V, float *probs, float *filtered)
{
    int rc = check_call(s, logits, V);
    if (rc < 0) return rc;
    int greedy, last;
    double total = filter(s, logits, V, probs, &greedy, &last);
    write_filtered(s, V, total, greedy, filtered);
    if (greedy >= 0) return greedy;

    /* Inverse CDF in index order.  r < total and the running sum repeats total's own
     * additions, so the loop normally returns; the fallback guards against a compiler or
     * platform that rounds differently, and never yields a cut token. */
    double r = gsl_rng_uniform(s->rng) * total, cum = 0.0;
    const float *w = s->w;
    for (int i = 0; i < V; i++) {
        cum += w[i];
        if (cum > r) return i;  /* cum rose past r here, so w[i] > 0 */
    }
    return last;
}
