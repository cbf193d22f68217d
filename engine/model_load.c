/* model_load — turning a checkpoint into a Model: format detection by content, the
 * safetensors path (Lectern's own files, Hugging Face GPT-2 files and directories), name
 * resolution of tensors into Linear views, and the tokenizer search.
 *
 * F32 weights in (out, in) layout are never copied: Linear views point into the mmapped
 * file.  Hugging Face GPT-2's Conv1D weights are (in, out); they are transposed once, at
 * load, into owned (out, in) buffers, and the file's pages behind them are given back
 * (resident memory stays one copy of the weights).  A decode step reads each weight row
 * once with the (out, in) kernel, which streams one contiguous share of rows per thread;
 * the (in, out) form needed a per-product reduction and ran GPT-2 at 66% of the bandwidth
 * bound against 77% for the same-sized Llama.  F16/BF16 tensors are converted once into
 * owned float buffers.
 * Lectern's own files carry their config (JSON) and tokenizer in __metadata__ under
 * "lectern.config", "lectern.tokenizer.kind", "lectern.tokenizer.a", "lectern.tokenizer.b",
 * so one file is a whole model.
 */
#include "engine/model.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/hfconfig.h"
#include "engine/loaders.h"
#include "engine/model_io.h"
#include "engine/safetensors.h"
#include "engine/sptok.h"

typedef struct {
    SafeTensors *st;
    float **owned;
    int n_owned;
} StStore;

static void ststore_free(void *p)
{
    StStore *s = p;
    if (!s) return;
    for (int i = 0; i < s->n_owned; i++) free(s->owned[i]);
    free(s->owned);
    safetensors_free(s->st);
    free(s);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* ---- resolving named tensors --------------------------------------------------- */

typedef struct {
    const SafeTensors *st;
    StStore *store;
    const char *origin;
    const char *prefix;   /* "" or "transformer." */
} Resolver;

/* A weight buffer Lectern fills itself (a conversion or a transpose), of n floats.  Large
 * ones are asked for in 2 MB huge pages: a decode step reads every weight, and with 4 KB pages
 * that is a TLB miss every 4 KB, each a page-table walk (two-dimensional under a hypervisor).
 * On the 2-core VM where this was measured, GPT-2's decode went from 70% to 81% of the
 * bandwidth bound.  MADV_HUGEPAGE is advice: where the kernel declines it (transparent huge
 * pages "never"), the buffer is ordinary memory.  Freed with free(). */
static float *weights_alloc(size_t n)
{
    const size_t bytes = n * sizeof(float), huge = (size_t)2 << 20;
    if (bytes >= huge) {
        void *p = NULL;
        if (posix_memalign(&p, huge, bytes) == 0) {
#ifdef MADV_HUGEPAGE
            madvise(p, bytes, MADV_HUGEPAGE);
#endif
            return p;
        }
    }
    return xmalloc(bytes);
}

/* Finds name (with the resolver's prefix) and checks its shape; returns a float view
 * (converted into an owned buffer for F16/BF16).  NULL with an error set on failure;
 * optional tensors return NULL with no error when absent. */
static const float *get_tensor(Resolver *r, const char *name, int ndim, const int64_t *shape,
                               int optional, int *rc)
{
    char *full = xasprintf("%s%s", r->prefix, name);
    const Tensor *t = safetensors_find(r->st, full);
    if (!t && *r->prefix) t = safetensors_find(r->st, name);
    free(full);
    if (!t) {
        if (!optional) *rc = ERR(ERR_FORMAT, "%s: tensor '%s' missing", r->origin, name);
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[128] = "", got[128] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "", (long long)shape[i]);
        for (int i = 0; i < t->ndim && i < 8; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        *rc = ERR(ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", r->origin, name, got, want);
        return NULL;
    }
    size_t n = tensor_numel(t);
    if (t->dtype == DT_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) return t->data;
    if (t->dtype != DT_F32 && t->dtype != DT_F16 && t->dtype != DT_BF16) {
        *rc = ERR(ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16 or BF16 expected)",
                  r->origin, name, dtype_name(t->dtype));
        return NULL;
    }
    float *buf = weights_alloc(n);
    tensor_to_f32(buf, t->data, t->dtype, n);
    r->store->owned = xrealloc(r->store->owned, sizeof(float *) * (size_t)(r->store->n_owned + 1));
    r->store->owned[r->store->n_owned++] = buf;
    return buf;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define GET(name, nd, ...) get_tensor(r, name, nd, SHAPE(__VA_ARGS__), 0, &rc)
#define GETOPT(name, nd, ...) get_tensor(r, name, nd, SHAPE(__VA_ARGS__), 1, &rc)

/* t, an owned buffer now holding w's values (transposed or not), takes w's place: an owned
 * F16/BF16 conversion w is freed, and pages of the mapped file behind w are dropped from this
 * process (they were only read, so the next touch, if any, reads the file again). */
static void replace_source(Resolver *r, const float *w, float *t, size_t bytes)
{
    StStore *s = r->store;
    for (int k = 0; k < s->n_owned; k++)
        if (s->owned[k] == w) {
            free(s->owned[k]);
            s->owned[k] = t;
            return;
        }
    s->owned = xrealloc(s->owned, sizeof(float *) * (size_t)(s->n_owned + 1));
    s->owned[s->n_owned++] = t;
    const long pg = sysconf(_SC_PAGESIZE);
    /* only pages of the file mapping: dropping anonymous memory would zero it */
    if (pg > 0 && safetensors_in_map(s->st, w, bytes)) {
        uintptr_t a = ((uintptr_t)w + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
        uintptr_t e = ((uintptr_t)w + bytes) & ~((uintptr_t)pg - 1);
        if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);  /* advice only: failure is harmless */
    }
}

/* The (out, in) transpose of an (in, out) matrix w, as an owned buffer in huge pages. */
static const float *transposed(Resolver *r, const float *w, int in, int out)
{
    float *t = weights_alloc((size_t)in * (size_t)out);
    /* 32 x 32 tiles: both sides stay in cache lines already loaded */
    for (int i0 = 0; i0 < in; i0 += 32)
        for (int o0 = 0; o0 < out; o0 += 32) {
            const int i1 = i0 + 32 < in ? i0 + 32 : in, o1 = o0 + 32 < out ? o0 + 32 : out;
            for (int i = i0; i < i1; i++)
                for (int o = o0; o < o1; o++) t[(size_t)o * in + i] = w[(size_t)i * out + o];
        }
    replace_source(r, w, t, sizeof(float) * (size_t)in * (size_t)out);
    return t;
}

static Linear linear(const float *w, const float *b, int in, int out, int ld, WeightLayout layout)
{
    return (Linear){.w = w, .b = b, .in = in, .out = out, .ld = ld, .layout = layout};
}

/* GPT-2 in Hugging Face's names and layouts (Conv1D weights are (in, out)). */
static int resolve_gpt2(Model *m, Resolver *r)
{
    const ModelConfig *c = &m->cfg;
    const int C = c->n_embd, H = c->n_hidden, V = c->vocab_size, Vp = c->padded_vocab;
    int rc = 0;
    char name[128];
    m->w.wte = GET("wte.weight", 2, Vp, C);
    m->w.wpe = GET("wpe.weight", 2, c->n_ctx, C);
    if (rc) return rc;
    /* Conv1D weights are (in, out).  By default they are transposed once to (out, in), the
     * layout decode reads fastest (GPT-2 124M: 76-80% of the bandwidth bound against 65-75%
     * as stored, alternating runs on one machine).  LECTERN_ZERO_COPY=1 keeps them as the
     * file holds them, views into the mapping with the layout recorded: no copy at load, and
     * the pages are shared with every other process that maps the file. */
    const char *zc = getenv("LECTERN_ZERO_COPY");
    const int zero_copy = zc && *zc && strcmp(zc, "0") != 0;
    for (int l = 0; l < c->n_layer; l++) {
        LayerWeights *w = &m->w.layer[l];
#define N(s) (snprintf(name, sizeof name, "h.%d.%s", l, s), name)
        w->ln1_w = GET(N("ln_1.weight"), 1, C);
        w->ln1_b = GET(N("ln_1.bias"), 1, C);
        const float *qkv = GET(N("attn.c_attn.weight"), 2, C, 3 * C);
        const float *qkvb = GET(N("attn.c_attn.bias"), 1, 3 * C);
        const float *ow = GET(N("attn.c_proj.weight"), 2, C, C);
        const float *ob = GET(N("attn.c_proj.bias"), 1, C);
        w->ln2_w = GET(N("ln_2.weight"), 1, C);
        w->ln2_b = GET(N("ln_2.bias"), 1, C);
        const float *fw = GET(N("mlp.c_fc.weight"), 2, C, H);
        const float *fb = GET(N("mlp.c_fc.bias"), 1, H);
        const float *pw = GET(N("mlp.c_proj.weight"), 2, H, C);
        const float *pb = GET(N("mlp.c_proj.bias"), 1, C);
#undef N
        if (rc) return rc;
        if (zero_copy) {
            /* as stored: q, k, v are column blocks of the fused (C, 3C) matrix, row stride 3C */
            w->q = linear(qkv, qkvb, C, C, 3 * C, W_IN_OUT);
            w->k = linear(qkv + C, qkvb + C, C, C, 3 * C, W_IN_OUT);
            w->v = linear(qkv + 2 * C, qkvb + 2 * C, C, C, 3 * C, W_IN_OUT);
            w->o = linear(ow, ob, C, C, C, W_IN_OUT);
            w->fc = linear(fw, fb, C, H, H, W_IN_OUT);
            w->proj = linear(pw, pb, H, C, C, W_IN_OUT);
            continue;
        }
        /* transposed to (out, in); q, k, v are then row blocks of the fused (3C, C) matrix */
        const float *qkvt = transposed(r, qkv, C, 3 * C);
        w->q = linear(qkvt, qkvb, C, C, C, W_OUT_IN);
        w->k = linear(qkvt + (size_t)C * C, qkvb + C, C, C, C, W_OUT_IN);
        w->v = linear(qkvt + (size_t)2 * C * C, qkvb + 2 * C, C, C, C, W_OUT_IN);
        w->o = linear(transposed(r, ow, C, C), ob, C, C, C, W_OUT_IN);
        w->fc = linear(transposed(r, fw, C, H), fb, C, H, C, W_OUT_IN);
        w->proj = linear(transposed(r, pw, H, C), pb, H, C, H, W_OUT_IN);
    }
    m->w.lnf_w = GET("ln_f.weight", 1, C);
    m->w.lnf_b = GET("ln_f.bias", 1, C);
    if (rc) return rc;
    const float *head = GETOPT("lm_head.weight", 2, V, C);
    if (rc) return rc;
    m->cfg.tied_head = head == NULL || head == m->w.wte;
    m->w.head = linear(head ? head : m->w.wte, NULL, C, head ? V : Vp, C, W_OUT_IN);
    return 0;
}

/* Llama in Meta's names (the ones llama2.c's model.py uses), weights (out, in). */
static int resolve_llama(Model *m, Resolver *r)
{
    const ModelConfig *c = &m->cfg;
    const int C = c->n_embd, H = c->n_hidden, V = c->vocab_size, Vp = c->padded_vocab;
    const int kv = model_kv_dim(c);
    int rc = 0;
    char name[128];
    m->w.wte = GET("tok_embeddings.weight", 2, Vp, C);
    if (rc) return rc;
    for (int l = 0; l < c->n_layer; l++) {
        LayerWeights *w = &m->w.layer[l];
#define N(s) (snprintf(name, sizeof name, "layers.%d.%s", l, s), name)
        w->ln1_w = GET(N("attention_norm.weight"), 1, C);
        const float *wq = GET(N("attention.wq.weight"), 2, C, C);
        const float *wk = GET(N("attention.wk.weight"), 2, kv, C);
        const float *wv = GET(N("attention.wv.weight"), 2, kv, C);
        const float *wo = GET(N("attention.wo.weight"), 2, C, C);
        w->ln2_w = GET(N("ffn_norm.weight"), 1, C);
        const float *w1 = GET(N("feed_forward.w1.weight"), 2, H, C);
        const float *w2 = GET(N("feed_forward.w2.weight"), 2, C, H);
        const float *w3 = GET(N("feed_forward.w3.weight"), 2, H, C);
#undef N
        if (rc) return rc;
        w->q = linear(wq, NULL, C, C, C, W_OUT_IN);
        w->k = linear(wk, NULL, C, kv, C, W_OUT_IN);
        w->v = linear(wv, NULL, C, kv, C, W_OUT_IN);
        w->o = linear(wo, NULL, C, C, C, W_OUT_IN);
        w->fc = linear(w1, NULL, C, H, C, W_OUT_IN);
        w->fc_gate = linear(w3, NULL, C, H, C, W_OUT_IN);
        w->proj = linear(w2, NULL, H, C, H, W_OUT_IN);
    }
    m->w.lnf_w = GET("norm.weight", 1, C);
    if (rc) return rc;
    const float *head = GETOPT("output.weight", 2, V, C);
    if (rc) return rc;
    m->cfg.tied_head = head == NULL;
    m->w.head = linear(head ? head : m->w.wte, NULL, C, head ? V : Vp, C, W_OUT_IN);
    return 0;
}

/* ---- configs ---------------------------------------------------------------------- */

static int json_int(json_t *o, const char *k, int *out, int required, const char *origin)
{
    json_t *v = json_object_get(o, k);
    if (!v) return required ? ERR(ERR_FORMAT, "%s: config lacks '%s'", origin, k) : 0;
    if (!json_is_integer(v)) return ERR(ERR_FORMAT, "%s: config '%s' is not an integer", origin, k);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > (1 << 30)) return ERR(ERR_FORMAT, "%s: config '%s' = %lld out of range", origin, k, (long long)x);
    *out = (int)x;
    return 0;
}

static int json_float(json_t *o, const char *k, float *out, const char *origin)
{
    json_t *v = json_object_get(o, k);
    if (!v) return 0;
    if (!json_is_number(v)) return ERR(ERR_FORMAT, "%s: config '%s' is not a number", origin, k);
    *out = (float)json_number_value(v);
    return 0;
}

ModelConfig model_config_default(ModelArch arch)
{
    ModelConfig c = {0};
    c.arch = arch;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tied_head = 1;
    if (arch == ARCH_LLAMA) {
        c.norm = NORM_RMS; c.pos = POS_ROPE; c.ffn = FFN_SWIGLU; c.bias = 0;
    } else {
        c.norm = NORM_LAYER; c.pos = POS_LEARNED; c.ffn = FFN_GELU_TANH; c.bias = 1;
    }
    return c;
}

/* Lectern's own config JSON (metadata "lectern.config"). */
int model_config_from_json(ModelConfig *out, const char *text, size_t len, const char *origin)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return ERR(ERR_FORMAT, "%s: lectern.config is not a JSON object (%s)", origin, je.text);
    }
    int rc = 0;
    const char *arch = json_string_value(json_object_get(o, "arch"));
    ModelConfig c;
    if (arch && strcmp(arch, "gpt2") == 0) c = model_config_default(ARCH_GPT2);
    else if (arch && strcmp(arch, "llama") == 0) c = model_config_default(ARCH_LLAMA);
    else { json_decref(o); return ERR(ERR_FORMAT, "%s: lectern.config arch must be \"gpt2\" or \"llama\"", origin); }
    if ((rc = json_int(o, "n_layer", &c.n_layer, 1, origin)) || (rc = json_int(o, "n_head", &c.n_head, 1, origin)) ||
        (rc = json_int(o, "n_embd", &c.n_embd, 1, origin)) || (rc = json_int(o, "n_ctx", &c.n_ctx, 1, origin)) ||
        (rc = json_int(o, "vocab_size", &c.vocab_size, 1, origin))) goto out;
    c.n_kv_head = c.n_head;
    c.padded_vocab = c.vocab_size;
    c.n_hidden = 4 * c.n_embd;
    if ((rc = json_int(o, "n_kv_head", &c.n_kv_head, 0, origin)) || (rc = json_int(o, "n_hidden", &c.n_hidden, 0, origin)) ||
        (rc = json_int(o, "padded_vocab", &c.padded_vocab, 0, origin)) ||
        (rc = json_float(o, "norm_eps", &c.norm_eps, origin)) || (rc = json_float(o, "rope_theta", &c.rope_theta, origin)))
        goto out;
    *out = c;
out:
    json_decref(o);
    return rc;
}

char *model_config_to_json(const ModelConfig *c)
{
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f}",
                          "arch", c->arch == ARCH_LLAMA ? "llama" : "gpt2",
                          "n_layer", c->n_layer, "n_head", c->n_head, "n_kv_head", c->n_kv_head,
                          "n_embd", c->n_embd, "n_ctx", c->n_ctx, "vocab_size", c->vocab_size,
                          "padded_vocab", c->padded_vocab, "n_hidden", c->n_hidden,
                          "norm_eps", (double)c->norm_eps, "rope_theta", (double)c->rope_theta);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    char *r = xstrdup(s);
    free(s);
    return r;
}

/* ---- tokenizers ------------------------------------------------------------------- */

static int tokenizer_from_meta(Tokenizer **out, const SafeTensors *st, const char *origin)
{
    size_t kl, al, bl;
    const char *kind = safetensors_meta(st, "lectern.tokenizer.kind", &kl);
    if (!kind) return 0;
    const char *a = safetensors_meta(st, "lectern.tokenizer.a", &al);
    const char *b = safetensors_meta(st, "lectern.tokenizer.b", &bl);
    char *o = xasprintf("%s (metadata)", origin);
    int rc;
    if (kl == 8 && memcmp(kind, "gpt2-bpe", 8) == 0 && a && b)
        rc = tokenizer_gpt2_from_text(out, a, al, b, bl, o);
    else if (kl == 4 && memcmp(kind, "char", 4) == 0 && a)
        rc = tokenizer_char_new(out, a, al);
    else if (kl == 7 && memcmp(kind, "llama2c", 7) == 0 && a)
        rc = sptok_from_text(out, a, al, o);
    else if (kl == 4 && memcmp(kind, "llmc", 4) == 0 && a)
        rc = llmc_tokenizer_from_text(out, a, al, o);
    else
        rc = ERR(ERR_FORMAT, "%s: unknown or incomplete tokenizer in metadata", o);
    free(o);
    return rc;
}

/* tokenizer_path: a directory with vocab.json + merges.txt, or a file some loader knows
 * (llama2.c tokenizer.bin).  */
int model_load_tokenizer(Tokenizer **out, const char *tokenizer_path)
{
    if (is_dir(tokenizer_path)) return tokenizer_load_dir(out, tokenizer_path);
    if (!is_file(tokenizer_path))
        return ERR(ERR_IO, "%s: no such tokenizer file or directory", tokenizer_path);
    /* vocab.json given directly: merges.txt beside it */
    const char *base = strrchr(tokenizer_path, '/');
    base = base ? base + 1 : tokenizer_path;
    if (strcmp(base, "vocab.json") == 0) {
        char *d = dir_of(tokenizer_path);
        int rc = tokenizer_load_dir(out, d);
        free(d);
        return rc;
    }
    return model_io_load_tokenizer_file(out, tokenizer_path);
}

static int attach_tokenizer(Model *m, const SafeTensors *st, const char *model_dir,
                            const char *tokenizer_path)
{
    Tokenizer *tok = NULL;
    int rc = 0;
    if (tokenizer_path) rc = model_load_tokenizer(&tok, tokenizer_path);
    else if (st && safetensors_meta(st, "lectern.tokenizer.kind", NULL)) rc = tokenizer_from_meta(&tok, st, m->path);
    else if (model_dir) {
        char *v = xasprintf("%s/vocab.json", model_dir), *g = xasprintf("%s/merges.txt", model_dir);
        if (is_file(v) && is_file(g)) rc = tokenizer_load_gpt2(&tok, v, g);
        free(v); free(g);
    }
    if (rc) return rc;
    if (tok && tokenizer_vocab_size(tok) > m->cfg.vocab_size) {
        int tv = tokenizer_vocab_size(tok);
        tokenizer_free(tok);
        return ERR(ERR_FORMAT, "%s: tokenizer has %d tokens but the model only %d",
                   tokenizer_path ? tokenizer_path : m->path, tv, m->cfg.vocab_size);
    }
    m->tok = tok;
    return 0;
}

/* ---- the safetensors path ---------------------------------------------------------- */

Model *model_new(const ModelConfig *c, const char *path, const char *format)
{
    Model *m = xcalloc(1, sizeof *m);
    m->cfg = *c;
    m->w.layer = xcalloc((size_t)c->n_layer, sizeof(LayerWeights));
    m->attn = xcalloc((size_t)c->n_layer, sizeof(AttnSpec));
    m->path = xstrdup(path);
    m->format = xstrdup(format);
    return m;
}

static int load_safetensors(Model **out, const char *file, const char *cfgdir, const char *tokenizer_path)
{
    SafeTensors *st;
    int rc = safetensors_open(&st, file);
    if (rc) return rc;
    ModelConfig c;
    const char *format;
    size_t clen;
    const char *cj = safetensors_meta(st, "lectern.config", &clen);
    char *cfgpath = NULL;
    if (cj) {
        rc = model_config_from_json(&c, cj, clen, file);
        format = "safetensors (Lectern)";
    } else {
        /* a Hugging Face GPT-2 file: its config.json is beside it */
        cfgpath = xasprintf("%s/config.json", cfgdir);
        if (!is_file(cfgpath)) {
            rc = ERR(ERR_FORMAT, "%s: no lectern.config in the metadata and no config.json beside it", file);
        } else {
            HfGpt2Config hc;
            rc = hfconfig_load(&hc, cfgpath);
            if (!rc) {
                c = model_config_default(ARCH_GPT2);
                c.n_layer = hc.n_layer; c.n_head = hc.n_head; c.n_kv_head = hc.n_head;
                c.n_embd = hc.n_embd; c.n_ctx = hc.n_positions; c.vocab_size = hc.vocab_size;
                c.padded_vocab = hc.vocab_size; c.n_hidden = hc.n_inner > 0 ? hc.n_inner : 4 * hc.n_embd;
                c.norm_eps = hc.layer_norm_epsilon;
            }
        }
        format = "safetensors (Hugging Face GPT-2)";
    }
    if (!rc) rc = model_config_check(&c, cj ? file : cfgpath);
    free(cfgpath);
    if (rc) { safetensors_free(st); return rc; }

    Model *m = model_new(&c, file, format);
    StStore *store = xcalloc(1, sizeof *store);
    store->st = st;
    m->store = store;
    m->store_free = ststore_free;
    /* save_pretrained of GPT2LMHeadModel prefixes every key with "transformer." */
    Resolver r = {.st = st, .store = store, .origin = file,
                  .prefix = safetensors_find(st, "transformer.wte.weight") ? "transformer." : ""};
    rc = c.arch == ARCH_LLAMA ? resolve_llama(m, &r) : resolve_gpt2(m, &r);
    if (!rc) rc = attach_tokenizer(m, st, cfgdir, tokenizer_path);
    if (rc) { model_free(m); return rc; }
    for (int i = 0; i < safetensors_count(st); i++) {
        const Tensor *t = safetensors_get(st, i);
        m->weight_bytes += t->nbytes;
    }
    model_count_params(m);
    *out = m;
    return 0;
}

int model_load(Model **out, const char *path, const char *tokenizer_path)
{
    if (!path || !*path) return ERR(ERR_ARG, "load: no model path given");
    if (is_dir(path)) {
        char *f = xasprintf("%s/model.safetensors", path);
        int rc;
        if (!is_file(f)) rc = ERR(ERR_IO, "%s: directory has no model.safetensors", path);
        else rc = load_safetensors(out, f, path, tokenizer_path);
        free(f);
        return rc;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) return ERR(ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char head[16] = {0};
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    int rc;
    char *dir = dir_of(path);
    /* safetensors: u64 header length, then '{' */
    if (got >= 9 && head[8] == '{') rc = load_safetensors(out, path, dir, tokenizer_path);
    else rc = model_io_load_other(out, path, head, got, tokenizer_path);
    free(dir);
    return rc;
}
