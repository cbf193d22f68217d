/* sampler — next-token choice: greedy, temperature, top-k, top-p, seeded.
 *
 * A step costs O(V) expected time: top-k uses selection (quickselect), not a sort, and
 * top-p finds the smallest set of tokens whose mass reaches p by partitioning around
 * pivots, sorting nothing but the few survivors' boundary.  A nearly flat distribution
 * therefore does not turn decoding into a sort of the whole vocabulary.
 * The random stream is GSL's mt19937 seeded with `seed`; the same seed and the same
 * sequence of calls give the same tokens on every run.
 */
#ifndef LECTERN_SAMPLER_H
#define LECTERN_SAMPLER_H

#include <stdint.h>

typedef struct {
    float temperature;   /* 0 = greedy (argmax); otherwise logits / temperature */
    int top_k;           /* 0 = off; keep the k most probable */
    float top_p;         /* 1 = off; keep the smallest set with mass >= p */
    unsigned long seed;
} SamplerParams;

#define SAMPLER_DEFAULTS ((SamplerParams){ .temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42 })

typedef struct Sampler Sampler;

/* Allocates a sampler for vocabularies of up to V tokens (scratch sized V). */
Sampler *sampler_alloc(int V, SamplerParams p);
void sampler_free(Sampler *s);               /* NULL is a no-op */

/* Validates and sets parameters; reseeds the generator when p.seed differs from the
 * current seed.  ERR_ARG for temperature < 0, top_k < 0, top_p outside (0, 1]. */
int sampler_set(Sampler *s, SamplerParams p);
SamplerParams sampler_params(const Sampler *s);
void sampler_reseed(Sampler *s, unsigned long seed);  /* restart the stream */

/* probs (V) <- softmax(logits) (temperature 1, unfiltered: the model's own distribution);
 * filtered (V) <- the distribution actually sampled from: softmax(logits / T), restricted
 * to top-k and top-p survivors and renormalised; exactly 0 for cut tokens.  Greedy puts 1
 * on the argmax (lowest id among ties).  Either output may be NULL. */
void sampler_distribution(Sampler *s, const float *logits, int V, float *probs, float *filtered);

/* Draws the next token from the filtered distribution (computing it if needed) and
 * returns its id.  probs/filtered as in sampler_distribution, may be NULL. */
int sampler_sample(Sampler *s, const float *logits, int V, float *probs, float *filtered);

/* Plain helpers, O(V). */
int sampler_argmax(const float *x, int V);
void softmax_inplace(float *x, int V);

#endif
