/* model — the forward pass shared by every architecture, the run state, and the checks
 * every loader relies on.  Loading by format lives in model_load.c.
 *
 * One block, read top to bottom like the papers (GPT-2: Radford et al. 2019 §2.3;
 * Llama: Touvron et al. 2023 §2.2):  x += attn(norm1(x));  x += ffn(norm2(x)).
 * The norm, the position scheme and the feed-forward are picked by the config.
 * References: llama2.c run.c forward(), llm.c gpt2_forward().
 */
#include "engine/model.h"
#include "engine/matvec.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/attention.h"
#include "engine/effattn.h"
#include "engine/err.h"
#include "engine/ops.h"
#include "engine/pattern.h"
#include "engine/q8.h"

int model_kv_dim(const ModelConfig *c) { return c->n_embd / c->n_head * c->n_kv_head; }
int model_head_size(const ModelConfig *c) { return c->n_embd / c->n_head; }

int model_config_check(const ModelConfig *c, const char *origin)
{
#define BAD(...) return ERR(ERR_FORMAT, __VA_ARGS__)
    if (c->n_layer <= 0 || c->n_layer > 4096) BAD("%s: n_layer %d out of range", origin, c->n_layer);
    if (c->n_head <= 0 || c->n_head > 4096) BAD("%s: n_head %d out of range", origin, c->n_head);
    if (c->n_kv_head <= 0 || c->n_kv_head > c->n_head || c->n_head % c->n_kv_head)
        BAD("%s: n_kv_head %d must divide n_head %d", origin, c->n_kv_head, c->n_head);
    if (c->n_embd <= 0 || c->n_embd > 65536 || c->n_embd % c->n_head)
        BAD("%s: n_embd %d must be a positive multiple of n_head %d", origin, c->n_embd, c->n_head);
    if (c->pos == POS_ROPE && (c->n_embd / c->n_head) % 2)
        BAD("%s: rotary embeddings need an even head size (got %d)", origin, c->n_embd / c->n_head);
    if (c->n_ctx <= 0 || c->n_ctx > (1 << 20)) BAD("%s: context length %d out of range", origin, c->n_ctx);
    if (c->vocab_size <= 0 || c->vocab_size > (1 << 24)) BAD("%s: vocab_size %d out of range", origin, c->vocab_size);
    if (c->padded_vocab < c->vocab_size || c->padded_vocab > (1 << 24))
        BAD("%s: padded vocab %d smaller than vocab %d", origin, c->padded_vocab, c->vocab_size);
    if (c->n_hidden <= 0 || c->n_hidden > (1 << 20)) BAD("%s: hidden size %d out of range", origin, c->n_hidden);
    if (!(c->norm_eps > 0.0f && c->norm_eps < 1.0f)) BAD("%s: norm epsilon %g out of range", origin, (double)c->norm_eps);
    if (c->pos == POS_ROPE && !(c->rope_theta > 1.0f)) BAD("%s: rope_theta %g out of range", origin, (double)c->rope_theta);
    return 0;
#undef BAD
}

static size_t linear_params(const Linear *l) { return (size_t)l->in * l->out + (l->b ? (size_t)l->out : 0); }

void model_count_params(Model *m)
{
    const ModelConfig *c = &m->cfg;
    size_t n = (size_t)c->vocab_size * c->n_embd;
    if (m->w.wpe) n += (size_t)c->n_ctx * c->n_embd;
    for (int l = 0; l < c->n_layer; l++) {
        const LayerWeights *w = &m->w.layer[l];
        n += (size_t)c->n_embd * (w->ln1_b ? 4 : 2);
        n += linear_params(&w->q) + linear_params(&w->k) + linear_params(&w->v) + linear_params(&w->o);
        n += linear_params(&w->fc) + linear_params(&w->proj);
        if (c->ffn == FFN_SWIGLU) n += linear_params(&w->fc_gate);
    }
    n += (size_t)c->n_embd * (m->w.lnf_b ? 2 : 1);
    if (!c->tied_head) n += linear_params(&m->w.head);
    m->n_params = n;
}

int runstate_init(RunState *s, const ModelConfig *c, int max_T, int chunk)
{
    memset(s, 0, sizeof *s);
    if (max_T <= 0 || max_T > c->n_ctx) max_T = c->n_ctx;
    if (chunk <= 0) chunk = 1;
    if (chunk > max_T) chunk = max_T;
    const size_t C = (size_t)c->n_embd, H = (size_t)c->n_hidden, kv = (size_t)model_kv_dim(c);
    size_t cache;
    if (size_mul((size_t)c->n_layer * (size_t)max_T, kv, &cache))
        return ERR(ERR_RANGE, "KV cache size overflows");
    s->max_T = max_T;
    s->chunk = chunk;
    s->nthreads = omp_get_max_threads();
    s->key_cache = xcalloc(cache, sizeof(float));
    s->value_cache = xcalloc(cache, sizeof(float));
    s->x = xcalloc((size_t)chunk * C, sizeof(float));
    s->xb = xcalloc((size_t)chunk * C, sizeof(float));
    s->xb2 = xcalloc((size_t)chunk * C, sizeof(float));
    s->q = xcalloc((size_t)chunk * C, sizeof(float));
    s->hb = xcalloc((size_t)chunk * H, sizeof(float));
    s->hb2 = xcalloc((size_t)chunk * H, sizeof(float));
    int rows = chunk > c->n_head ? chunk : c->n_head;
    s->att = xcalloc((size_t)rows * (size_t)max_T, sizeof(float));
    s->logits = xcalloc((size_t)c->padded_vocab, sizeof(float));
    const size_t wide = (size_t)chunk * (H > C ? H : C);
    s->xq = xcalloc(wide, 1);
    s->xs = xcalloc(wide, sizeof(float));
    return 0;
}

void runstate_done(RunState *s)
{
    if (!s) return;
    free(s->key_cache); free(s->value_cache); free(s->x); free(s->xb); free(s->xb2);
    free(s->q); free(s->hb); free(s->hb2); free(s->att); free(s->logits); free(s->kscratch);
    free(s->xq); free(s->xs);
    memset(s, 0, sizeof *s);
}

/* A Linear over T rows: float weights through BLAS, Q8_0 weights (llama2.c version 2) as
 * runq.c runs them — the input quantised per group, integer dot products per group. */
static void linear_forward(RunState *s, float *out, const float *inp, const Linear *lin, int T)
{
    if (lin->wq8) {
        quantize_q8_forward(s->xq, s->xs, inp, T, lin->in, lin->q8_group);
        matmul_q8_forward(out, s->xq, s->xs, lin, T);
    } else {
        matmul_forward(out, inp, lin, T);
    }
}

/* Several Linears of the same input (q, k, v; SwiGLU's fc and gate).  Decoding, float weights
 * share one parallel region; int8 weights share one quantisation of the input. */
static void linear_forward_n(RunState *s, float *const *outs, const float *inp,
                             const Linear *const *lins, int n, int T)
{
    int q8 = 0, same_group = 1;
    for (int k = 0; k < n; k++) {
        q8 += lins[k]->wq8 != NULL;
        same_group &= lins[k]->q8_group == lins[0]->q8_group;
    }
    if (T == 1 && q8 == 0) {
        matvec_forward_n(outs, inp, lins, n);
    } else if (q8 == n && same_group) {
        quantize_q8_forward(s->xq, s->xs, inp, T, lins[0]->in, lins[0]->q8_group);
        for (int k = 0; k < n; k++) matmul_q8_forward(outs[k], s->xq, s->xs, lins[k], T);
    } else {
        for (int k = 0; k < n; k++) linear_forward(s, outs[k], inp, lins[k], T);
    }
}

static void norm_forward(const ModelConfig *c, float *out, const float *inp, const float *w,
                         const float *b, int N)
{
    if (c->norm == NORM_RMS) rmsnorm_forward(out, NULL, inp, w, N, c->n_embd, c->norm_eps);
    else layernorm_forward(out, NULL, NULL, inp, w, b, N, c->n_embd, c->norm_eps);
}

int model_forward(const Model *m, RunState *s, const int *tokens, int n, int pos0,
                  float *logits, int all_logits, const Capture *cap)
{
    const ModelConfig *c = &m->cfg;
    const int C = c->n_embd, L = c->n_layer, NH = c->n_head, NKV = c->n_kv_head;
    const int HS = C / NH, kvdim = model_kv_dim(c), H = c->n_hidden, Vp = c->padded_vocab;
    if (n <= 0) return ERR(ERR_ARG, "forward: no tokens");
    if (pos0 < 0 || pos0 + n > s->max_T)
        return ERR(ERR_RANGE, "context full: %d positions needed, the model holds %d", pos0 + n, s->max_T);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return ERR(ERR_ARG, "token id %d outside the vocabulary (0..%d)", tokens[i], c->vocab_size - 1);

    const int ktot = pos0 + n;
    for (int c0 = 0; c0 < n; c0 += s->chunk) {
        const int T = n - c0 < s->chunk ? n - c0 : s->chunk;
        const int pos = pos0 + c0;
        float *x = s->x;
        encoder_forward(x, tokens + c0, m->w.wte, c->pos == POS_LEARNED ? m->w.wpe : NULL, T, C, pos);
        if (cap && cap->resid)
            for (int t = 0; t < T; t++)
                memcpy(cap->resid + ((size_t)0 * n + c0 + t) * C, x + (size_t)t * C, sizeof(float) * C);

        for (int l = 0; l < L; l++) {
            const LayerWeights *w = &m->w.layer[l];
            float *kc = s->key_cache + (size_t)l * s->max_T * kvdim;
            float *vc = s->value_cache + (size_t)l * s->max_T * kvdim;
            float *krow = kc + (size_t)pos * kvdim, *vrow = vc + (size_t)pos * kvdim;

            /* attention: q, k, v of the new rows; k and v go straight into the cache */
            norm_forward(c, s->xb, x, w->ln1_w, w->ln1_b, T);
            {
                float *const outs[3] = {s->q, krow, vrow};
                const Linear *const lins[3] = {&w->q, &w->k, &w->v};
                linear_forward_n(s, outs, s->xb, lins, 3, T);
            }
            if (c->pos == POS_ROPE) {
                rope_forward(s->q, T, NH, HS, pos, c->rope_theta);
                rope_forward(krow, T, NKV, HS, pos, c->rope_theta);
            }
            float *capl = cap && cap->attn ? cap->attn + (size_t)l * NH * n * ktot : NULL;
            const AttnSpec *spec = m->attn ? &m->attn[l] : NULL;
            size_t need = attention_kernel_scratch(spec, pos + T, HS);
            if (need > s->kscratch_n) {
                /* a kernel method was switched in: its scratch grows once, then is reused */
                free(s->kscratch);
                s->kscratch = xmalloc(sizeof(float) * need);
                s->kscratch_n = need;
            }
            attention_forward(s->xb2, s->q, kc, vc, T, pos, NH, NKV, HS, spec, s->att,
                              s->kscratch, capl, n, c0, ktot);
            linear_forward(s, s->xb, s->xb2, &w->o, T);
            residual_forward(x, x, s->xb, (size_t)T * C);

            /* feed-forward */
            norm_forward(c, s->xb, x, w->ln2_w, w->ln2_b, T);
            if (c->ffn == FFN_SWIGLU) {
                float *const outs[2] = {s->hb, s->hb2};
                const Linear *const lins[2] = {&w->fc, &w->fc_gate};
                linear_forward_n(s, outs, s->xb, lins, 2, T);
                swiglu_forward(s->hb, s->hb, s->hb2, (size_t)T * H);
            } else {
                linear_forward(s, s->hb, s->xb, &w->fc, T);
                gelu_forward(s->hb, s->hb, (size_t)T * H);
            }
            linear_forward(s, s->xb, s->hb, &w->proj, T);
            residual_forward(x, x, s->xb, (size_t)T * C);
            if (cap && cap->resid)
                for (int t = 0; t < T; t++)
                    memcpy(cap->resid + ((size_t)(l + 1) * n + c0 + t) * C, x + (size_t)t * C, sizeof(float) * C);
        }

        /* final norm and head: every row when asked, else the last row of the last chunk */
        if (all_logits) {
            norm_forward(c, s->xb, x, m->w.lnf_w, m->w.lnf_b, T);
            linear_forward(s, logits + (size_t)c0 * Vp, s->xb, &m->w.head, T);
        } else if (c0 + T == n) {
            norm_forward(c, s->xb, x + (size_t)(T - 1) * C, m->w.lnf_w, m->w.lnf_b, 1);
            linear_forward(s, logits, s->xb, &m->w.head, 1);
        }
    }
    return 0;
}

void model_logits_from_resid(const Model *m, const float *x, float *logits, float *scratch)
{
    const Linear *h = &m->w.head;
    norm_forward(&m->cfg, scratch, x, m->w.lnf_w, m->w.lnf_b, 1);
    if (!h->wq8) {
        matmul_forward(logits, scratch, h, 1);
        return;
    }
    /* an int8 head (no run state here for quantised scratch): dequantise as we go */
    for (int o = 0; o < h->out; o++) {
        const size_t base = (size_t)o * h->in;
        float acc = h->b ? h->b[o] : 0.0f;
        for (int i = 0; i < h->in; i++)
            acc += (float)h->wq8[base + i] * h->wq8_scale[(base + i) / (size_t)h->q8_group] * scratch[i];
        logits[o] = acc;
    }
}

const char *model_attn_kernel_name(const Model *m, int layer)
{
    const AttnSpec *a = m->attn && layer >= 0 && layer < m->cfg.n_layer ? &m->attn[layer] : NULL;
    if (a && a->kernel) return "attention_kernel + effattn_row_weights (engine/attention.c, engine/effattn.c)";
    if (a && a->pattern) return "attention_sparse (engine/attention.c)";
    return "attention_forward (engine/attention.c)";
}

const char *model_attn_mask_name(const Model *m, int layer)
{
    const AttnSpec *a = m->attn && layer >= 0 && layer < m->cfg.n_layer ? &m->attn[layer] : NULL;
    if (a && a->kernel) return a->kernel->name;
    if (a && a->pattern) return pattern_name(a->pattern);
    return a && a->mask == MASK_BIDIRECTIONAL ? "bidirectional" : "causal";
}

void model_free(Model *m)
{
    if (!m) return;
    if (m->store_free) m->store_free(m->store);
    free(m->w.layer);
    free(m->attn);
    tokenizer_free(m->tok);
    free(m->path);
    free(m->format);
    free(m);
}
