/* bench_sampler — engine/sampler.c's sampler_sample beside a naive full-sort sampler, in
 * one run, on a GPT-2-sized vocabulary (V = 50257).
 *
 * Two logit vectors: a nearly flat one (all equal plus noise of 1e-3, where the top-p
 * nucleus holds ~90% of the vocabulary and a sort-based sampler pays full price) and a
 * peaked one (Gaussian, sigma 3, like a trained model's logits).  Three settings: top_p
 * 0.9 alone, top_k 40 alone, both.  The naive twin does what most tutorials do: softmax in
 * double, qsort all V indices, cut, renormalise, inverse CDF.  Both write probs and
 * filtered, as gen.c does.  Each figure is the median over repeated runs of the mean
 * time per sample; the ratio is naive / Lectern.  Time is the thread's CPU time, which a
 * machine shared with other jobs inflates far less than the wall clock.
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/err.h"
#include "engine/sampler.h"

enum { V = 50257, REPEATS = 15 };

/* ---- naive twin ---- */

static const float *naive_key;

static int naive_cmp(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    float x = naive_key[i], y = naive_key[j];
    if (x != y) return x > y ? -1 : 1;
    return (i > j) - (i < j);
}

typedef struct {
    SamplerParams p;
    gsl_rng *rng;
    int *order;    /* (V) */
    double *e;     /* (V) */
} Naive;

static int naive_sample(Naive *n, const float *logits, float *probs, float *filtered)
{
    double max = -INFINITY, z = 0.0;
    for (int i = 0; i < V; i++) max = fmax(max, logits[i]);
    for (int i = 0; i < V; i++) z += (n->e[i] = exp(logits[i] - max));
    for (int i = 0; i < V; i++) probs[i] = (float)(n->e[i] / z);
    double T = n->p.temperature;
    z = 0.0;
    for (int i = 0; i < V; i++) z += (n->e[i] = exp((logits[i] - max) / T));
    for (int i = 0; i < V; i++) n->order[i] = i;
    naive_key = logits;
    qsort(n->order, V, sizeof *n->order, naive_cmp);
    int keep = n->p.top_k > 0 && n->p.top_k < V ? n->p.top_k : V;
    double mass = 0.0;
    for (int j = 0; j < keep; j++) mass += n->e[n->order[j]];
    if (n->p.top_p < 1.0f) {
        double cum = 0.0, target = n->p.top_p * mass;
        for (int j = 0; j < keep; j++) {
            cum += n->e[n->order[j]];
            if (cum >= target) { keep = j + 1; mass = cum; break; }
        }
    }
    for (int i = 0; i < V; i++) filtered[i] = 0.0f;
    for (int j = 0; j < keep; j++) filtered[n->order[j]] = (float)(n->e[n->order[j]] / mass);
    double r = gsl_rng_uniform(n->rng) * mass, cum = 0.0;
    for (int j = 0; j < keep; j++) {
        cum += n->e[n->order[j]];
        if (cum > r) return n->order[j];
    }
    return n->order[keep - 1];
}

/* ---- timing ---- */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile int sink;

/* Median over REPEATS of the mean µs per sample over `per` samples. */
static double time_lectern(Sampler *s, const float *x, float *probs, float *f, int per)
{
    double t[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        double t0 = now_us();
        for (int i = 0; i < per; i++) sink = sampler_sample(s, x, V, probs, f);
        t[r] = (now_us() - t0) / per;
    }
    qsort(t, REPEATS, sizeof t[0], cmp_double);
    return t[REPEATS / 2];
}

static double time_naive(Naive *n, const float *x, float *probs, float *f, int per)
{
    double t[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        double t0 = now_us();
        for (int i = 0; i < per; i++) sink = naive_sample(n, x, probs, f);
        t[r] = (now_us() - t0) / per;
    }
    qsort(t, REPEATS, sizeof t[0], cmp_double);
    return t[REPEATS / 2];
}

int main(void)
{
    float *flat = xmalloc(V * sizeof *flat), *peaked = xmalloc(V * sizeof *peaked);
    float *probs = xmalloc(V * sizeof *probs), *f = xmalloc(V * sizeof *f);
    float *f2 = xmalloc(V * sizeof *f2);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2385);
    for (int i = 0; i < V; i++) {
        flat[i] = (float)(1.5 + gsl_ran_gaussian(r, 1e-3));
        peaked[i] = (float)gsl_ran_gaussian(r, 3.0);
    }
    const struct { const char *name; const float *x; } dists[2] = {{"flat", flat}, {"peaked", peaked}};
    const struct { const char *name; int k; float p; } cfgs[3] = {
        {"top_p=0.9", 0, 0.9f}, {"top_k=40", 40, 1.0f}, {"top_k=40 top_p=0.9", 40, 0.9f}};

    Naive nv = {.rng = gsl_rng_alloc(gsl_rng_mt19937), .order = xmalloc(V * sizeof(int)),
                .e = xmalloc(V * sizeof(double))};
    printf("sampler_sample, V=%d, T=1, median of %d runs (us of CPU per sample)\n", V, REPEATS);
    printf("%-8s %-20s %10s %12s %8s %10s %8s\n", "logits", "filter", "lectern", "naive-sort",
           "ratio", "max|diff|", "kept");
    for (int d = 0; d < 2; d++) {
        for (int c = 0; c < 3; c++) {
            SamplerParams p = SAMPLER_DEFAULTS;
            p.top_k = cfgs[c].k;
            p.top_p = cfgs[c].p;
            Sampler *s = sampler_alloc(V, p);
            nv.p = p;
            gsl_rng_set(nv.rng, p.seed);
            /* the two must agree before their times mean anything */
            sampler_distribution(s, dists[d].x, V, probs, f);
            naive_sample(&nv, dists[d].x, probs, f2);
            double diff = 0.0;
            int kept = 0;
            for (int i = 0; i < V; i++) {
                diff = fmax(diff, fabs((double)f[i] - f2[i]));
                kept += f[i] > 0.0f;
                if ((f[i] > 0.0f) != (f2[i] > 0.0f)) diff = INFINITY;
            }
            double tl = time_lectern(s, dists[d].x, probs, f, 100);
            double tn = time_naive(&nv, dists[d].x, probs, f2, 5);
            printf("%-8s %-20s %10.1f %12.1f %7.1fx %10.2g %8d\n", dists[d].name, cfgs[c].name, tl,
                   tn, tn / tl, diff, kept);
            sampler_free(s);
        }
    }
    gsl_rng_free(nv.rng);
    gsl_rng_free(r);
    free(nv.order);
    free(nv.e);
    free(flat);
    free(peaked);
    free(probs);
    free(f);
    free(f2);
    return 0;
}
