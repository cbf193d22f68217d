/* trace — what one generation session computed, as plain data the views and tests read.
 *
 * For every position t of the context: its token and string; the attention weights of
 * every layer and head for query t (the causal row, keys 0..t, or for a bidirectional
 * block every key), kept as rows appended step by step so the full matrix is always
 * there; optionally the residual stream after each layer (for the logit lens).
 * For every position that was sampled (and for the pending next position): the logits,
 * the model's distribution, and the distribution after temperature/top-k/top-p.
 * A Trace is owned by the generator (gen.h); views get it const.
 */
#ifndef LECTERN_TRACE_H
#define LECTERN_TRACE_H

#include <stddef.h>

#include "engine/sampler.h"

struct Pattern;   /* engine/pattern.h */

typedef struct {
    int pos;            /* the distribution predicts the token at this position */
    float *logits;      /* (V) raw logits */
    float *probs;       /* (V) softmax(logits) */
    float *filtered;    /* (V) after temperature/top-k/top-p; 0 where cut */
    int chosen;         /* token placed at pos, -1 while pending */
    int forced;         /* 1 when the token was forced (`force`, prompt) rather than drawn */
    SamplerParams params;
} StepDist;

typedef struct Trace {
    int n_layer, n_head, n_embd, n_vocab;
    int n;              /* tokens in the context */
    int n_prompt;       /* the first n_prompt came from the prompt */
    int *tokens;        /* [n] */
    float *token_prob;  /* [n] probability the model gave tokens[t] from t-1 (t>0), NAN at 0 */

    int have_attn;      /* attention rows captured */
    float **attn_row;   /* [n] -> (L, NH, attn_nkeys[t]) */
    int *attn_nkeys;    /* [n] */

    int have_resid;     /* residual streams captured */
    float **resid;      /* [n] -> (L + 1, C) */

    StepDist **dist;    /* [n + 1]: dist[t] predicted tokens[t]; NULL where not kept (prompt);
                           dist[n] is the pending next distribution */
    const char *const *vocab; /* [n_vocab] raw bytes of every token id (not NUL-terminated) */
    const size_t *vocab_len;  /* [n_vocab] their lengths; views escape control bytes themselves */
    const char *model_name;   /* file name of the model, for titles */
    const char *mask_name;    /* "causal", "bidirectional", pattern name */
    const char *kernel_name;  /* "attention_forward (engine/attention.c)" */
    int cap;            /* allocated slots */

    /* Per layer [n_layer], refreshed by gen_attn_changed (NULL in a trace not made by gen):
     * the sparse pattern in force (NULL: every key the mask allows), borrowed from the
     * model's AttnSpec, so views can tell a cell outside the pattern from a weight that is
     * merely near zero (read it as data: pattern_row in engine/pattern.h); the names of the
     * mask/pattern/kernel and of the engine function for that layer.  Layer 0's names are
     * mask_name and kernel_name above.  Valid while the attention in force is unchanged. */
    const struct Pattern *const *patterns;
    const char *const *mask_names;
    const char *const *kernel_names;
} Trace;

/* The logit lens over positions pos0..pos0+n_pos-1: for each layer boundary
 * (0 = embeddings, n_layer = after the last block, final norm applied to all), the top k
 * tokens the output head would predict there. */
typedef struct {
    int n_layer1;       /* n_layer + 1 rows */
    int pos0, n_pos, k;
    int *ids;           /* (n_layer1, n_pos, k) */
    float *probs;       /* (n_layer1, n_pos, k) */
} LensTable;

void lens_table_free(LensTable *lt);   /* frees the arrays, not lt itself */

/* Weight of query q on key k in layer l, head h; 0 outside the row (masked). */
float trace_attn(const Trace *t, int l, int h, int q, int k);
/* The row for query q (nkeys floats) or NULL if not captured. */
const float *trace_attn_row(const Trace *t, int l, int h, int q, int *nkeys);
/* The pending next-token distribution, or NULL before a prompt. */
const StepDist *trace_next(const Trace *t);

/* Managed by gen.c: */
void trace_init(Trace *t, int L, int NH, int C, int V);
void trace_done(Trace *t);
void trace_truncate(Trace *t, int n);          /* drop positions >= n */
void trace_reserve(Trace *t, int n);           /* room for n positions (+1 dist) */
StepDist *stepdist_alloc(int V, int pos);
void stepdist_free(StepDist *d);

#endif
