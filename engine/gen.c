/* gen — stepping a model through a sequence and keeping every step (see gen.h).
 *
 * The prompt runs as a prefill in chunks of GEN_CHUNK rows (matrix-matrix products,
 * and bounded capture buffers); each later token is one incremental step over the KV
 * cache.  What each step computed goes into the Trace; rewinding truncates it.
 */
#include "engine/gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"

#define GEN_CHUNK 64

struct Gen {
    Model *m;
    RunState rs;
    Sampler *sampler;
    Trace tr;
    int cap_attn, cap_resid;
    float *logits_buf;          /* (GEN_CHUNK, Vp) when scoring the prompt */
    float *cap_attn_buf;        /* (L, NH, GEN_CHUNK, max_T) */
    float *cap_resid_buf;       /* (L + 1, GEN_CHUNK, C) */
    const char **vocab;         /* [V] */
    size_t *vocab_len;          /* [V] */
    char *id_names;             /* "<id>" strings when the model has no tokenizer */
    float *scratch;             /* (C) */
    float *lens_logits;         /* (Vp) */
    const struct Pattern **patterns;  /* [L] the trace's per-layer view of the AttnSpecs */
    const char **mask_names;          /* [L] */
    const char **kernel_names;        /* [L] */
};

static void build_vocab(Gen *g)
{
    const int V = g->m->cfg.vocab_size;
    g->vocab = xcalloc((size_t)V, sizeof(char *));
    g->vocab_len = xcalloc((size_t)V, sizeof(size_t));
    size_t missing = 0;
    for (int i = 0; i < V; i++) {
        size_t len = 0;
        const char *b = g->m->tok ? tokenizer_token_bytes(g->m->tok, i, &len) : NULL;
        if (b) { g->vocab[i] = b; g->vocab_len[i] = len; }
        else missing++;
    }
    if (!missing) return;
    /* ids without a string (no tokenizer, or llm.c's padding) are shown as <id> */
    g->id_names = xmalloc(missing * 12);
    char *p = g->id_names;
    for (int i = 0; i < V; i++)
        if (!g->vocab[i]) {
            int k = snprintf(p, 12, "<%d>", i);
            g->vocab[i] = p;
            g->vocab_len[i] = (size_t)k;
            p += 12;
        }
}

int gen_alloc(Gen **out, Model *m, int capture_attn, int capture_resid)
{
    if (!m) return ERR(ERR_STATE, "no model loaded");
    Gen *g = xcalloc(1, sizeof *g);
    g->m = m;
    int rc = runstate_init(&g->rs, &m->cfg, m->cfg.n_ctx, GEN_CHUNK);
    if (rc) { free(g); return rc; }
    g->sampler = sampler_alloc(m->cfg.vocab_size, SAMPLER_DEFAULTS);
    const ModelConfig *c = &m->cfg;
    trace_init(&g->tr, c->n_layer, c->n_head, c->n_embd, c->vocab_size);
    build_vocab(g);
    g->tr.vocab = g->vocab;
    g->tr.vocab_len = g->vocab_len;
    const char *slash = strrchr(m->path, '/');
    g->tr.model_name = slash ? slash + 1 : m->path;
    g->patterns = xcalloc((size_t)c->n_layer, sizeof *g->patterns);
    g->mask_names = xcalloc((size_t)c->n_layer, sizeof *g->mask_names);
    g->kernel_names = xcalloc((size_t)c->n_layer, sizeof *g->kernel_names);
    g->tr.patterns = g->patterns;
    g->tr.mask_names = g->mask_names;
    g->tr.kernel_names = g->kernel_names;
    gen_attn_changed(g);
    g->scratch = xcalloc((size_t)c->n_embd, sizeof(float));
    g->lens_logits = xcalloc((size_t)c->padded_vocab, sizeof(float));
    g->cap_attn = capture_attn;
    g->cap_resid = capture_resid;
    *out = g;
    return 0;
}

void gen_free(Gen *g)
{
    if (!g) return;
    runstate_done(&g->rs);
    sampler_free(g->sampler);
    trace_done(&g->tr);
    free(g->logits_buf);
    free(g->cap_attn_buf);
    free(g->cap_resid_buf);
    free(g->vocab);
    free(g->vocab_len);
    free(g->id_names);
    free(g->scratch);
    free(g->lens_logits);
    free(g->patterns);
    free(g->mask_names);
    free(g->kernel_names);
    free(g);
}

const Model *gen_model(const Gen *g) { return g->m; }
const Trace *gen_trace(const Gen *g) { return &g->tr; }
SamplerParams gen_params(const Gen *g) { return sampler_params(g->sampler); }

int gen_set_params(Gen *g, SamplerParams p)
{
    int rc = sampler_set(g->sampler, p);
    if (rc) return rc;
    return gen_refilter(g);
}

void gen_reseed(Gen *g) { sampler_reseed(g->sampler, sampler_params(g->sampler).seed); }

int gen_refilter(Gen *g)
{
    StepDist *d = g->tr.n ? g->tr.dist[g->tr.n] : NULL;
    if (!d) return 0;
    sampler_distribution(g->sampler, d->logits, g->m->cfg.vocab_size, d->probs, d->filtered);
    d->params = sampler_params(g->sampler);
    return 0;
}

/* Runs tokens[pos0..pos0+n) through the model in chunks, recording attention rows,
 * residuals and (when score) each position's probability of the next token.
 * The last position's logits land in last_logits. */
static int run_span(Gen *g, int pos0, int n, int score, float *last_logits)
{
    const ModelConfig *c = &g->m->cfg;
    const int L = c->n_layer, NH = c->n_head, C = c->n_embd, Vp = c->padded_vocab;
    Trace *tr = &g->tr;
    if (g->cap_attn && !g->cap_attn_buf)
        g->cap_attn_buf = xmalloc(sizeof(float) * (size_t)L * NH * GEN_CHUNK * (size_t)g->rs.max_T);
    if (g->cap_resid && !g->cap_resid_buf)
        g->cap_resid_buf = xmalloc(sizeof(float) * (size_t)(L + 1) * GEN_CHUNK * C);
    if (score && !g->logits_buf) g->logits_buf = xmalloc(sizeof(float) * (size_t)GEN_CHUNK * Vp);
    for (int c0 = 0; c0 < n; c0 += GEN_CHUNK) {
        const int T = n - c0 < GEN_CHUNK ? n - c0 : GEN_CHUNK, p0 = pos0 + c0, ktot = p0 + T;
        Capture cap = {.attn = g->cap_attn ? g->cap_attn_buf : NULL,
                       .resid = g->cap_resid ? g->cap_resid_buf : NULL};
        float *lg = score ? g->logits_buf : g->rs.logits;
        int rc = model_forward(g->m, &g->rs, tr->tokens + p0, T, p0, lg, score, &cap);
        if (rc) return rc;
        for (int t = 0; t < T; t++) {
            const int q = p0 + t;
            if (cap.attn) {
                const int nk = g->m->attn[0].mask == MASK_BIDIRECTIONAL ? ktot : q + 1;
                /* the trace keeps causal rows at q + 1 keys, bidirectional at ktot */
                float *row = xrealloc(tr->attn_row[q], sizeof(float) * (size_t)L * NH * nk);
                for (int l = 0; l < L; l++)
                    for (int h = 0; h < NH; h++)
                        memcpy(row + ((size_t)l * NH + h) * nk,
                               cap.attn + (((size_t)l * NH + h) * T + t) * ktot, sizeof(float) * (size_t)nk);
                tr->attn_row[q] = row;
                tr->attn_nkeys[q] = nk;
            }
            if (cap.resid) {
                float *r = xrealloc(tr->resid[q], sizeof(float) * (size_t)(L + 1) * C);
                for (int l = 0; l <= L; l++)
                    memcpy(r + (size_t)l * C, cap.resid + ((size_t)l * T + t) * C, sizeof(float) * (size_t)C);
                tr->resid[q] = r;
            }
            if (score && q + 1 < tr->n) {
                /* the model's probability of the token that actually follows */
                const float *row = lg + (size_t)t * Vp;
                float mx = row[0];
                for (int v = 1; v < c->vocab_size; v++) if (row[v] > mx) mx = row[v];
                double s = 0.0;
                for (int v = 0; v < c->vocab_size; v++) s += exp((double)row[v] - mx);
                tr->token_prob[q + 1] = (float)(exp((double)row[tr->tokens[q + 1]] - mx) / s);
            }
        }
        if (c0 + T == n)
            memcpy(last_logits, lg + (score ? (size_t)(T - 1) * Vp : 0), sizeof(float) * (size_t)c->vocab_size);
    }
    tr->have_attn = g->cap_attn;
    tr->have_resid = g->cap_resid;
    return 0;
}

static int check_ids(const Gen *g, const int *ids, int n)
{
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= g->m->cfg.vocab_size)
            return ERR(ERR_ARG, "token id %d outside the vocabulary (0..%d)", ids[i], g->m->cfg.vocab_size - 1);
    return 0;
}

int gen_prompt(Gen *g, const int *ids, int n)
{
    if (n <= 0) return ERR(ERR_ARG, "prompt: empty (no tokens)");
    if (n > g->rs.max_T)
        return ERR(ERR_RANGE, "prompt: %d tokens, but the model's context holds %d", n, g->rs.max_T);
    int rc = check_ids(g, ids, n);
    if (rc) return rc;
    Trace *tr = &g->tr;
    trace_truncate(tr, 0);
    stepdist_free(tr->dist ? tr->dist[0] : NULL);
    trace_reserve(tr, n);
    tr->dist[0] = NULL;
    memcpy(tr->tokens, ids, sizeof(int) * (size_t)n);
    tr->n = n;
    tr->n_prompt = n;
    StepDist *d = stepdist_alloc(g->m->cfg.vocab_size, n);
    rc = run_span(g, 0, n, g->cap_attn || g->cap_resid, d->logits);
    if (rc) {
        stepdist_free(d);
        trace_truncate(tr, 0);
        return rc;
    }
    tr->dist[n] = d;
    return gen_refilter(g);
}

int gen_step(Gen *g, int forced, int *out)
{
    Trace *tr = &g->tr;
    if (tr->n == 0) return ERR(ERR_STATE, "no context: give a prompt first");
    if (tr->n >= g->rs.max_T)
        return ERR(ERR_RANGE, "context full: the model holds %d tokens (use back or reset)", g->rs.max_T);
    const int V = g->m->cfg.vocab_size;
    if (forced >= V) return ERR(ERR_ARG, "token id %d outside the vocabulary (0..%d)", forced, V - 1);
    StepDist *d = tr->dist[tr->n];
    int tok = forced >= 0 ? forced : sampler_sample(g->sampler, d->logits, V, d->probs, d->filtered);
    d->params = sampler_params(g->sampler);
    trace_reserve(tr, tr->n + 1);
    const int pos = tr->n;
    tr->tokens[pos] = tok;
    tr->token_prob[pos] = d->probs[tok];
    tr->n = pos + 1;
    StepDist *next = stepdist_alloc(V, pos + 1);
    int rc = run_span(g, pos, 1, 0, next->logits);
    if (rc) {
        stepdist_free(next);
        tr->n = pos;
        return rc;
    }
    d->chosen = tok;
    d->forced = forced >= 0;
    tr->dist[pos + 1] = next;
    gen_refilter(g);
    if (out) *out = tok;
    return 0;
}

int gen_back(Gen *g, int n)
{
    Trace *tr = &g->tr;
    if (n < 1) return ERR(ERR_ARG, "back: count must be at least 1");
    if (tr->n - n < 1)
        return ERR(ERR_ARG, "back: only %d token%s to rewind (one must stay)", tr->n - 1, tr->n - 1 == 1 ? "" : "s");
    const int keep = tr->n - n;
    StepDist *d = tr->dist[keep];
    trace_truncate(tr, keep);
    if (!d) {
        /* a prompt position keeps no distribution: one step over the last kept token
         * recomputes it (its KV entries are rewritten with the same values) */
        d = stepdist_alloc(g->m->cfg.vocab_size, keep);
        int rc = model_forward(g->m, &g->rs, tr->tokens + keep - 1, 1, keep - 1, g->rs.logits, 0, NULL);
        if (rc) { stepdist_free(d); return rc; }
        memcpy(d->logits, g->rs.logits, sizeof(float) * (size_t)g->m->cfg.vocab_size);
        tr->dist[keep] = d;
    }
    d->chosen = -1;
    d->forced = 0;
    return gen_refilter(g);
}

void gen_attn_changed(Gen *g)
{
    g->tr.kernel_name = model_attn_kernel_name(g->m, 0);
    g->tr.mask_name = model_attn_mask_name(g->m, 0);
    for (int l = 0; l < g->m->cfg.n_layer; l++) {
        const AttnSpec *a = g->m->attn ? &g->m->attn[l] : NULL;
        /* a kernel replaces the pattern: its rows are dense over the mask */
        g->patterns[l] = a && !a->kernel ? a->pattern : NULL;
        g->mask_names[l] = model_attn_mask_name(g->m, l);
        g->kernel_names[l] = model_attn_kernel_name(g->m, l);
    }
}

int gen_capture(Gen *g, int attn, int resid)
{
    const int was_attn = g->cap_attn, was_resid = g->cap_resid;
    g->cap_attn = attn;
    g->cap_resid = resid;
    Trace *tr = &g->tr;
    if ((attn && !was_attn) || (resid && !was_resid)) {
        if (tr->n > 0) {
            float *tmp = xmalloc(sizeof(float) * (size_t)g->m->cfg.vocab_size);
            int rc = run_span(g, 0, tr->n, 0, tmp);
            free(tmp);
            if (rc) return rc;
        }
    }
    if (!attn) {
        for (int i = 0; i < tr->n; i++) { free(tr->attn_row[i]); tr->attn_row[i] = NULL; }
        tr->have_attn = 0;
    }
    if (!resid) {
        for (int i = 0; i < tr->n; i++) { free(tr->resid[i]); tr->resid[i] = NULL; }
        tr->have_resid = 0;
    }
    return 0;
}

/* top k of a probability vector by repeated selection: k is small (a view's rows) */
static void top_k(const float *p, int V, int k, int *ids, float *probs)
{
    for (int j = 0; j < k; j++) { ids[j] = -1; probs[j] = -1.0f; }
    for (int v = 0; v < V; v++) {
        if (p[v] <= probs[k - 1]) continue;
        int j = k - 1;
        while (j > 0 && probs[j - 1] < p[v]) { probs[j] = probs[j - 1]; ids[j] = ids[j - 1]; j--; }
        probs[j] = p[v];
        ids[j] = v;
    }
}

int gen_lens(Gen *g, int layer, int pos, int k, int *ids, float *probs)
{
    const Trace *tr = &g->tr;
    const ModelConfig *c = &g->m->cfg;
    if (!tr->have_resid) return ERR(ERR_STATE, "logit lens needs the residual stream (capture is off)");
    if (layer < 0 || layer > c->n_layer) return ERR(ERR_ARG, "lens: layer %d outside 0..%d", layer, c->n_layer);
    if (pos < 0 || pos >= tr->n) return ERR(ERR_ARG, "lens: position %d outside 0..%d", pos, tr->n - 1);
    if (k < 1 || k > c->vocab_size) return ERR(ERR_ARG, "lens: k must be 1..%d", c->vocab_size);
    model_logits_from_resid(g->m, tr->resid[pos] + (size_t)layer * c->n_embd, g->lens_logits, g->scratch);
    softmax_inplace(g->lens_logits, c->vocab_size);
    top_k(g->lens_logits, c->vocab_size, k, ids, probs);
    return 0;
}

int gen_lens_table(Gen *g, int pos0, int n_pos, int k, LensTable *out)
{
    const int L1 = g->m->cfg.n_layer + 1;
    if (n_pos < 1 || pos0 < 0 || pos0 + n_pos > g->tr.n)
        return ERR(ERR_ARG, "lens: positions %d..%d outside the context (0..%d)", pos0, pos0 + n_pos - 1, g->tr.n - 1);
    LensTable lt = {.n_layer1 = L1, .pos0 = pos0, .n_pos = n_pos, .k = k};
    lt.ids = xmalloc(sizeof(int) * (size_t)L1 * n_pos * k);
    lt.probs = xmalloc(sizeof(float) * (size_t)L1 * n_pos * k);
    for (int l = 0; l < L1; l++)
        for (int p = 0; p < n_pos; p++) {
            size_t o = ((size_t)l * n_pos + p) * k;
            int rc = gen_lens(g, l, pos0 + p, k, lt.ids + o, lt.probs + o);
            if (rc) { lens_table_free(&lt); return rc; }
        }
    *out = lt;
    return 0;
}
