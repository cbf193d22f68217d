/* gen — stepping a model through a sequence, keeping every step.
 *
 * A Gen holds a model (not owned), its run state (KV cache), a sampler and the Trace.
 * gen_prompt() runs the prompt as one prefill (matrix-matrix products); gen_step() adds one
 * token with an incremental step over the KV cache.  gen_back() rewinds: the KV cache is
 * truncated (positions past the new end are simply overwritten later), never recomputed,
 * and the stored distribution of the rewound position becomes the pending one again, so
 * `force` can branch from there.
 * Context overflow policy: a step that would pass the model's n_ctx fails with ERR_RANGE
 * and a message; nothing is read or written past a buffer and the session stays usable.
 */
#ifndef LECTERN_GEN_H
#define LECTERN_GEN_H

#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/trace.h"

typedef struct Gen Gen;

/* capture_attn / capture_resid: record attention rows / residual streams in the trace
 * (they can be switched on later with gen_capture, which recomputes the context). */
int gen_alloc(Gen **out, Model *m, int capture_attn, int capture_resid);
void gen_free(Gen *g);  /* NULL is a no-op; does not free the model */

const Model *gen_model(const Gen *g);
const Trace *gen_trace(const Gen *g);
SamplerParams gen_params(const Gen *g);
int gen_set_params(Gen *g, SamplerParams p);     /* ERR_ARG on a bad value */
void gen_reseed(Gen *g);                         /* restart the random stream from the seed */
int gen_capture(Gen *g, int attn, int resid);

/* Replaces the context with ids (n >= 1), runs the prefill and computes the pending
 * distribution.  ERR_RANGE when n > n_ctx, ERR_ARG for an id outside the vocabulary. */
int gen_prompt(Gen *g, const int *ids, int n);

/* Appends one token: the given one when forced >= 0, else one drawn from the pending
 * distribution.  *out (may be NULL) receives it. */
int gen_step(Gen *g, int forced, int *out);

/* Rewinds n tokens (n >= 1; at least one token stays). */
int gen_back(Gen *g, int n);

/* Call after changing the model's AttnSpecs (pattern/kernel): refreshes the names and the
 * per-layer patterns the trace shows.  The context is not recomputed (use gen_prompt again
 * for that). */
void gen_attn_changed(Gen *g);

/* Re-evaluates the pending distribution with the current sampler settings (after `set`). */
int gen_refilter(Gen *g);

/* Logit lens: the top k tokens (ids, probs) that layer `layer` (0 = embeddings, L = final)
 * would predict at position pos.  Needs captured residuals (ERR_STATE otherwise). */
int gen_lens(Gen *g, int layer, int pos, int k, int *ids, float *probs);

/* The whole lens table for positions pos0..pos0+n_pos-1 (see trace.h). */
int gen_lens_table(Gen *g, int pos0, int n_pos, int k, LensTable *out);

#endif
