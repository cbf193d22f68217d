/* trace — storage of a session's per-position data (see trace.h).  Rows are appended as
 * the context grows and dropped on rewind; nothing here computes. */
#include "engine/trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"

void trace_init(Trace *t, int L, int NH, int C, int V)
{
    memset(t, 0, sizeof *t);
    t->n_layer = L;
    t->n_head = NH;
    t->n_embd = C;
    t->n_vocab = V;
    t->mask_name = "causal";
}

void trace_reserve(Trace *t, int n)
{
    if (n <= t->cap) return;
    int cap = t->cap ? t->cap : 16;
    while (cap < n) cap *= 2;
    t->tokens = xrealloc(t->tokens, sizeof(int) * (size_t)cap);
    t->token_prob = xrealloc(t->token_prob, sizeof(float) * (size_t)cap);
    t->attn_row = xrealloc(t->attn_row, sizeof(float *) * (size_t)cap);
    t->attn_nkeys = xrealloc(t->attn_nkeys, sizeof(int) * (size_t)cap);
    t->resid = xrealloc(t->resid, sizeof(float *) * (size_t)cap);
    t->dist = xrealloc(t->dist, sizeof(StepDist *) * (size_t)(cap + 1));
    for (int i = t->cap; i < cap; i++) {
        t->attn_row[i] = NULL;
        t->attn_nkeys[i] = 0;
        t->resid[i] = NULL;
        t->token_prob[i] = NAN;
    }
    for (int i = t->cap ? t->cap + 1 : 0; i <= cap; i++) t->dist[i] = NULL;
    t->cap = cap;
}

StepDist *stepdist_alloc(int V, int pos)
{
    StepDist *d = xcalloc(1, sizeof *d);
    d->pos = pos;
    d->logits = xcalloc((size_t)V, sizeof(float));
    d->probs = xcalloc((size_t)V, sizeof(float));
    d->filtered = xcalloc((size_t)V, sizeof(float));
    d->chosen = -1;
    return d;
}

void stepdist_free(StepDist *d)
{
    if (!d) return;
    free(d->logits);
    free(d->probs);
    free(d->filtered);
    free(d);
}

void trace_truncate(Trace *t, int n)
{
    if (n < 0) n = 0;
    for (int i = n; i < t->n; i++) {
        free(t->attn_row[i]);
        t->attn_row[i] = NULL;
        t->attn_nkeys[i] = 0;
        free(t->resid[i]);
        t->resid[i] = NULL;
        t->token_prob[i] = NAN;
    }
    /* dist[n] stays: it is the pending distribution at the new end */
    for (int i = n + 1; i <= t->n && t->dist; i++) {
        stepdist_free(t->dist[i]);
        t->dist[i] = NULL;
    }
    if (n < t->n) t->n = n;
    if (t->n_prompt > n) t->n_prompt = n;
}

void trace_done(Trace *t)
{
    trace_truncate(t, 0);
    if (t->dist) stepdist_free(t->dist[0]);
    free(t->tokens);
    free(t->token_prob);
    free(t->attn_row);
    free(t->attn_nkeys);
    free(t->resid);
    free(t->dist);
    memset(t, 0, sizeof *t);
}

const float *trace_attn_row(const Trace *t, int l, int h, int q, int *nkeys)
{
    if (!t->have_attn || q < 0 || q >= t->n || l < 0 || l >= t->n_layer || h < 0 || h >= t->n_head ||
        !t->attn_row[q])
        return NULL;
    int nk = t->attn_nkeys[q];
    if (nkeys) *nkeys = nk;
    return t->attn_row[q] + ((size_t)l * t->n_head + h) * nk;
}

float trace_attn(const Trace *t, int l, int h, int q, int k)
{
    int nk;
    const float *row = trace_attn_row(t, l, h, q, &nk);
    if (!row || k < 0 || k >= nk) return 0.0f;
    return row[k];
}

const StepDist *trace_next(const Trace *t)
{
    if (!t->dist || t->n == 0) return NULL;
    return t->dist[t->n];
}

void lens_table_free(LensTable *lt)
{
    if (!lt) return;
    free(lt->ids);
    free(lt->probs);
    lt->ids = NULL;
    lt->probs = NULL;
}
