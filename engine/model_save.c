/* model_save — writing any Model as Lectern's safetensors (config and tokenizer in the
 * metadata), and building randomly initialised models of named shapes (`lectern init`).
 *
 * GPT-2 models are written with Hugging Face's names and Conv1D layout (in, out), so the
 * files also load in tools that read HF GPT-2; Llama models with Meta's names (out, in),
 * as llama2.c's model.py names them.  Rotary pairs stay interleaved (llama2.c's order),
 * not HF's rotate-half permutation; the config says "arch": "llama" to mark it.
 * Random init follows GPT-2's paper: N(0, 0.02), residual projections scaled by
 * 1/sqrt(2L), norms at 1 and biases at 0; every draw comes from a seeded mt19937.
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/model.h"
#include "engine/model_io.h"
#include "engine/safetensors.h"

static const struct { const char *name; ModelArch arch; int L, C, NH, NKV, T, V, H; } shapes[] = {
    {"gpt2", ARCH_GPT2, 12, 768, 12, 12, 1024, 50257, 3072},        /* GPT-2 124M */
    {"gpt2-medium", ARCH_GPT2, 24, 1024, 16, 16, 1024, 50257, 4096},
    {"gpt2-small4", ARCH_GPT2, 4, 256, 4, 4, 1024, 50257, 1024},     /* llm.c's small CPU config */
    {"gpt2-tiny", ARCH_GPT2, 2, 64, 4, 4, 64, 50257, 256},
    {"stories260K", ARCH_LLAMA, 5, 64, 8, 4, 512, 512, 172},
    {"stories15M", ARCH_LLAMA, 6, 288, 6, 6, 256, 32000, 768},
    {"stories42M", ARCH_LLAMA, 8, 512, 8, 8, 1024, 32000, 1376},
    {"stories110M", ARCH_LLAMA, 12, 768, 12, 12, 1024, 32000, 2048},
};

int model_shape(const char *name, ModelConfig *out)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(shapes[i].name, name) == 0) {
            ModelConfig c = model_config_default(shapes[i].arch);
            c.n_layer = shapes[i].L; c.n_embd = shapes[i].C; c.n_head = shapes[i].NH;
            c.n_kv_head = shapes[i].NKV; c.n_ctx = shapes[i].T; c.vocab_size = shapes[i].V;
            c.padded_vocab = shapes[i].V; c.n_hidden = shapes[i].H;
            *out = c;
            return 0;
        }
    return ERR(ERR_ARG, "unknown model shape '%s' (try: %s)", name, model_shape_names());
}

const char *model_shape_names(void)
{
    return "gpt2, gpt2-medium, gpt2-small4, gpt2-tiny, stories260K, stories15M, stories42M, stories110M";
}

/* ---- random models --------------------------------------------------------------- */

typedef struct { float *buf; } OwnedStore;
static void owned_free(void *p)
{
    OwnedStore *s = p;
    if (s) free(s->buf);
    free(s);
}

static float *take(float **cursor, size_t n)
{
    float *p = *cursor;
    *cursor += n;
    return p;
}

static void gauss(gsl_rng *r, float *x, size_t n, double sd)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian_ziggurat(r, sd);
}

static void ones(float *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = 1.0f; }

int model_random(Model **out, const ModelConfig *cfg, unsigned long seed)
{
    int rc = model_config_check(cfg, "init");
    if (rc) return rc;
    const size_t C = (size_t)cfg->n_embd, H = (size_t)cfg->n_hidden, Vp = (size_t)cfg->padded_vocab;
    const size_t kv = (size_t)model_kv_dim(cfg), L = (size_t)cfg->n_layer, T = (size_t)cfg->n_ctx;
    const int gpt = cfg->arch == ARCH_GPT2;
    size_t per_layer = 2 * C + C * C + 2 * C * kv + C * C + 2 * C * H + (gpt ? 0 : C * H);
    if (gpt) per_layer += 2 * C + C + 2 * kv + C + H + C;   /* LN biases and linear biases */
    size_t total = Vp * C + (gpt ? T * C : 0) + L * per_layer + 2 * C + (cfg->tied_head ? 0 : Vp * C);
    Model *m = model_new(cfg, "(random)", "random init");
    OwnedStore *st = xcalloc(1, sizeof *st);
    st->buf = xcalloc(total, sizeof(float));
    m->store = st;
    m->store_free = owned_free;
    float *cur = st->buf;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    const double sd = 0.02, sd_res = 0.02 / sqrt(2.0 * (double)L);

    float *wte = take(&cur, Vp * C);
    gauss(r, wte, (size_t)cfg->vocab_size * C, sd);  /* padding rows stay 0 */
    m->w.wte = wte;
    if (gpt) {
        float *wpe = take(&cur, T * C);
        gauss(r, wpe, T * C, 0.01);
        m->w.wpe = wpe;
    }
    const int c = (int)C, k = (int)kv, h = (int)H;
    for (size_t l = 0; l < L; l++) {
        LayerWeights *w = &m->w.layer[l];
        float *p;
        w->ln1_w = p = take(&cur, C); ones(p, C);
        w->ln2_w = p = take(&cur, C); ones(p, C);
        if (gpt) { w->ln1_b = take(&cur, C); w->ln2_b = take(&cur, C); }
        float *wq = take(&cur, C * C), *wk = take(&cur, C * kv), *wv = take(&cur, C * kv);
        float *wo = take(&cur, C * C), *w1 = take(&cur, C * H), *w2 = take(&cur, H * C);
        float *w3 = gpt ? NULL : take(&cur, C * H);
        gauss(r, wq, C * C, sd);
        gauss(r, wk, C * kv, sd);
        gauss(r, wv, C * kv, sd);
        gauss(r, wo, C * C, sd_res);
        gauss(r, w1, C * H, sd);
        if (w3) gauss(r, w3, C * H, sd);
        gauss(r, w2, H * C, sd_res);
        w->q = (Linear){.w = wq, .b = gpt ? take(&cur, C) : NULL, .in = c, .out = c, .ld = c, .layout = W_OUT_IN};
        w->k = (Linear){.w = wk, .b = gpt ? take(&cur, kv) : NULL, .in = c, .out = k, .ld = c, .layout = W_OUT_IN};
        w->v = (Linear){.w = wv, .b = gpt ? take(&cur, kv) : NULL, .in = c, .out = k, .ld = c, .layout = W_OUT_IN};
        w->o = (Linear){.w = wo, .b = gpt ? take(&cur, C) : NULL, .in = c, .out = c, .ld = c, .layout = W_OUT_IN};
        w->fc = (Linear){.w = w1, .b = gpt ? take(&cur, H) : NULL, .in = c, .out = h, .ld = c, .layout = W_OUT_IN};
        if (w3) w->fc_gate = (Linear){.w = w3, .b = NULL, .in = c, .out = h, .ld = c, .layout = W_OUT_IN};
        w->proj = (Linear){.w = w2, .b = gpt ? take(&cur, C) : NULL, .in = h, .out = c, .ld = h, .layout = W_OUT_IN};
    }
    float *p;
    m->w.lnf_w = p = take(&cur, C); ones(p, C);
    if (gpt) m->w.lnf_b = take(&cur, C);
    if (cfg->tied_head) {
        m->w.head = (Linear){.w = m->w.wte, .b = NULL, .in = (int)C, .out = (int)Vp, .ld = (int)C, .layout = W_OUT_IN};
    } else {
        float *hw = take(&cur, Vp * C);
        gauss(r, hw, (size_t)cfg->vocab_size * C, sd);
        m->w.head = (Linear){.w = hw, .b = NULL, .in = (int)C, .out = cfg->vocab_size, .ld = (int)C, .layout = W_OUT_IN};
    }
    gsl_rng_free(r);
    m->weight_bytes = total * sizeof(float);
    model_count_params(m);
    *out = m;
    return 0;
}

/* ---- saving ----------------------------------------------------------------------- */

static float lin_at(const Linear *l, int i, int o)   /* weight from input i to output o */
{
    if (l->wq8) {  /* Q8_0 (llama2.c version 2): dequantised, saved as F32 */
        size_t j = (size_t)o * l->in + i;
        return (float)l->wq8[j] * l->wq8_scale[j / (size_t)l->q8_group];
    }
    return l->layout == W_OUT_IN ? l->w[(size_t)o * l->ld + i] : l->w[(size_t)i * l->ld + o];
}

typedef struct {
    Tensor *t;
    char **names;
    float **bufs;
    int n, cap;
} Writer;

static void add(Writer *w, char *name, const float *data, int64_t d0, int64_t d1, int copy)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->t = xrealloc(w->t, sizeof(Tensor) * (size_t)w->cap);
        w->names = xrealloc(w->names, sizeof(char *) * (size_t)w->cap);
        w->bufs = xrealloc(w->bufs, sizeof(float *) * (size_t)w->cap);
    }
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    float *buf = NULL;
    if (copy) {
        buf = xmalloc(n * sizeof(float));
        memcpy(buf, data, n * sizeof(float));
        data = buf;
    }
    w->names[w->n] = name;
    w->bufs[w->n] = buf;
    w->t[w->n] = (Tensor){.name = name, .dtype = DT_F32, .ndim = d1 ? 2 : 1, .shape = {d0, d1},
                          .data = data, .nbytes = n * sizeof(float)};
    w->n++;
}

/* Linear materialised as (in, out) (HF Conv1D) or (out, in) (nn.Linear). */
static float *lin_matrix(const Linear *l, int in_out)
{
    float *b = xmalloc(sizeof(float) * (size_t)l->in * l->out);
    for (int i = 0; i < l->in; i++)
        for (int o = 0; o < l->out; o++)
            b[in_out ? (size_t)i * l->out + o : (size_t)o * l->in + i] = lin_at(l, i, o);
    return b;
}

static void add_owned(Writer *w, char *name, float *buf, int64_t d0, int64_t d1)
{
    add(w, name, buf, d0, d1, 0);
    w->bufs[w->n - 1] = buf;
}

int model_save(const Model *m, const char *path)
{
    const ModelConfig *c = &m->cfg;
    const int C = c->n_embd, H = c->n_hidden, kv = model_kv_dim(c);
    Writer w = {0};
    if (c->arch == ARCH_GPT2) {
        add(&w, xstrdup("wte.weight"), m->w.wte, c->padded_vocab, C, 0);
        add(&w, xstrdup("wpe.weight"), m->w.wpe, c->n_ctx, C, 0);
        for (int l = 0; l < c->n_layer; l++) {
            const LayerWeights *L = &m->w.layer[l];
            add(&w, xasprintf("h.%d.ln_1.weight", l), L->ln1_w, C, 0, 0);
            add(&w, xasprintf("h.%d.ln_1.bias", l), L->ln1_b, C, 0, 0);
            /* fused c_attn (C, 3C): q | k | v column blocks */
            float *qkv = xmalloc(sizeof(float) * (size_t)C * 3 * C), *qkvb = xmalloc(sizeof(float) * 3 * (size_t)C);
            const Linear *parts[3] = {&L->q, &L->k, &L->v};
            for (int p = 0; p < 3; p++)
                for (int o = 0; o < C; o++) {
                    for (int i = 0; i < C; i++) qkv[(size_t)i * 3 * C + p * C + o] = lin_at(parts[p], i, o);
                    qkvb[p * C + o] = parts[p]->b ? parts[p]->b[o] : 0.0f;
                }
            add_owned(&w, xasprintf("h.%d.attn.c_attn.weight", l), qkv, C, 3 * C);
            add_owned(&w, xasprintf("h.%d.attn.c_attn.bias", l), qkvb, 3 * C, 0);
            add_owned(&w, xasprintf("h.%d.attn.c_proj.weight", l), lin_matrix(&L->o, 1), C, C);
            add(&w, xasprintf("h.%d.attn.c_proj.bias", l), L->o.b, C, 0, 0);
            add(&w, xasprintf("h.%d.ln_2.weight", l), L->ln2_w, C, 0, 0);
            add(&w, xasprintf("h.%d.ln_2.bias", l), L->ln2_b, C, 0, 0);
            add_owned(&w, xasprintf("h.%d.mlp.c_fc.weight", l), lin_matrix(&L->fc, 1), C, H);
            add(&w, xasprintf("h.%d.mlp.c_fc.bias", l), L->fc.b, H, 0, 0);
            add_owned(&w, xasprintf("h.%d.mlp.c_proj.weight", l), lin_matrix(&L->proj, 1), H, C);
            add(&w, xasprintf("h.%d.mlp.c_proj.bias", l), L->proj.b, C, 0, 0);
        }
        add(&w, xstrdup("ln_f.weight"), m->w.lnf_w, C, 0, 0);
        add(&w, xstrdup("ln_f.bias"), m->w.lnf_b, C, 0, 0);
        if (!c->tied_head) add_owned(&w, xstrdup("lm_head.weight"), lin_matrix(&m->w.head, 0), c->vocab_size, C);
    } else {
        add(&w, xstrdup("tok_embeddings.weight"), m->w.wte, c->padded_vocab, C, 0);
        for (int l = 0; l < c->n_layer; l++) {
            const LayerWeights *L = &m->w.layer[l];
            add(&w, xasprintf("layers.%d.attention_norm.weight", l), L->ln1_w, C, 0, 0);
            add_owned(&w, xasprintf("layers.%d.attention.wq.weight", l), lin_matrix(&L->q, 0), C, C);
            add_owned(&w, xasprintf("layers.%d.attention.wk.weight", l), lin_matrix(&L->k, 0), kv, C);
            add_owned(&w, xasprintf("layers.%d.attention.wv.weight", l), lin_matrix(&L->v, 0), kv, C);
            add_owned(&w, xasprintf("layers.%d.attention.wo.weight", l), lin_matrix(&L->o, 0), C, C);
            add(&w, xasprintf("layers.%d.ffn_norm.weight", l), L->ln2_w, C, 0, 0);
            add_owned(&w, xasprintf("layers.%d.feed_forward.w1.weight", l), lin_matrix(&L->fc, 0), H, C);
            add_owned(&w, xasprintf("layers.%d.feed_forward.w2.weight", l), lin_matrix(&L->proj, 0), C, H);
            add_owned(&w, xasprintf("layers.%d.feed_forward.w3.weight", l), lin_matrix(&L->fc_gate, 0), H, C);
        }
        add(&w, xstrdup("norm.weight"), m->w.lnf_w, C, 0, 0);
        if (!c->tied_head) add_owned(&w, xstrdup("output.weight"), lin_matrix(&m->w.head, 0), c->vocab_size, C);
    }
    /* biases absent in a GPT-2 model built without them are written as zeros */
    float *zeros = xcalloc((size_t)(H > 3 * C ? H : 3 * C), sizeof(float));
    for (int i = 0; i < w.n; i++) if (!w.t[i].data) w.t[i].data = zeros;

    char *cfg = model_config_to_json(c);
    const char *keys[4] = {"lectern.config", "lectern.tokenizer.kind", "lectern.tokenizer.a", "lectern.tokenizer.b"};
    const char *vals[4] = {cfg, NULL, NULL, NULL};
    size_t lens[4] = {strlen(cfg), 0, 0, 0};
    char *a = NULL, *b = NULL;
    int nmeta = 1;
    if (m->tok) {
        size_t al = 0, bl = 0;
        int rc = tokenizer_export(m->tok, &a, &al, &b, &bl);
        if (rc == 0) {
            static const char *const kinds[] = {[TOK_GPT2_BPE] = "gpt2-bpe", [TOK_CHAR] = "char",
                                                [TOK_LLAMA2C] = "llama2c", [TOK_LLMC_TABLE] = "llmc"};
            vals[1] = kinds[tokenizer_kind(m->tok)];
            lens[1] = strlen(vals[1]);
            vals[2] = a; lens[2] = al;
            nmeta = 3;
            if (b) { vals[3] = b; lens[3] = bl; nmeta = 4; }
        }
    }
    int rc = safetensors_write_lens(path, w.t, w.n, keys, vals, lens, nmeta);
    free(a); free(b); free(cfg); free(zeros);
    for (int i = 0; i < w.n; i++) { free(w.names[i]); free(w.bufs[i]); }
    free(w.t); free(w.names); free(w.bufs);
    return rc;
}
