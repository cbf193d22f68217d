/* llama2c — llama2.c checkpoints: reading the legacy format (version 0) and the versioned
 * exports (version 1 fp32, version 2 int8 Q8_0), and writing versions 0, 1 and 2.
 *
 * It owns parsing and validating the header, mapping the file and pointing a Model's
 * weights into it (no copies, except the Q8_0 token embedding and any Q8_0 matrix whose
 * rows do not hold whole groups, which are dequantised once).  It does not run the model
 * (model.c), tokenise (sptok.c) or pick the format (model_load probes content).
 *
 * Layouts (little-endian; matrices (out, in) row-major as PyTorch stores nn.Linear):
 *   legacy: 7 int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *           (vocab_size < 0: an unshared classifier follows), then fp32 tok_embeddings
 *           (V, C); rms_att (L, C); wq (L, C, C); wk, wv (L, kv, C); wo (L, C, C);
 *           rms_ffn (L, C); w1 (L, H, C); w2 (L, C, H); w3 (L, H, C); rms_final (C);
 *           freq_cis_real, freq_cis_imag (seq_len * head_size / 2 each, unused: RoPE is
 *           computed); wcls (V, C) only when unshared.
 *   export: uint32 magic 0x616b3432 ("ak42"), int32 version, the 7 int32 above (vocab > 0),
 *           uint8 shared_classifier, version 2 only an int32 group size (unaligned, at
 *           byte 37), zeros up to byte 256.  Version 1: fp32 rms_att, rms_ffn, rms_final,
 *           tok_embeddings, wq, wk, wv, wo, w1, w2, w3, [wcls].  Version 2: the three
 *           norms in fp32, then each matrix of each layer (tok_embeddings, wq[0..L), wk..,
 *           wv.., wo.., w1.., w2.., w3.., [wcls]) as int8 values followed by its fp32
 *           scales, one per group of `group` consecutive values of the flattened tensor.
 * The file size must be exactly what the header implies (checked with overflow-checked
 * arithmetic before any pointer is made).
 * References: llama2.c run.c (checkpoint_init_weights / memory_map_weights), runq.c,
 * export.py (legacy_export, version1_export, version2_export), model.py.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/llama2c.h"
#include "engine/err.h"
#include "engine/loaders.h"
#include "engine/model_io.h"
#include "engine/q8.h"
#include "engine/sptok.h"

#define L2_MAGIC 0x616b3432u
#define L2_EXPORT_HEADER 256
#define L2_LEGACY_HEADER 28
/* 1: Q8_0 matrices also get a dequantised float copy in Linear.w (see take_q8).  0: the
 * forward pass runs them as int8 (model.c linear_forward), as runq.c does. */
#define L2_Q8_FLOAT_COPY 0
/* Dimensions beyond this are not a checkpoint but garbage (probe only; loads check sizes). */
#define L2_PLAUSIBLE (1 << 24)

typedef struct {
    int version;          /* 0 legacy, 1, 2 */
    int dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
    int shared;           /* classifier = token embedding */
    int group;            /* Q8_0 group size (version 2) */
    size_t header_bytes;
    size_t total;         /* the file size the header implies */
} L2Header;

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int llama2c_probe(const void *head, size_t n)
{
    const unsigned char *p = head;
    if (n >= 4 && rd_u32(p) == L2_MAGIC) return 2;
    if (n < L2_LEGACY_HEADER) return 0;
    int32_t v[7];
    for (int i = 0; i < 7; i++) v[i] = rd_i32(p + 4 * i);
    int32_t vocab = v[5];
    if (vocab == INT32_MIN) return 0;
    if (vocab < 0) vocab = -vocab;
    for (int i = 0; i < 7; i++) {
        int32_t x = i == 5 ? vocab : v[i];
        if (x <= 0 || x > L2_PLAUSIBLE) return 0;
    }
    if (v[0] % v[3] != 0 || v[3] % v[4] != 0) return 0;
    return 1;
}

/* Accumulates a byte count; any overflow sticks. */
typedef struct {
    size_t v;
    int overflow;
} Sz;

static void sz_add(Sz *s, size_t a)
{
    if (size_add(s->v, a, &s->v) != 0) s->overflow = 1;
}

static size_t sz_mul(Sz *s, size_t a, size_t b)
{
    size_t r;
    if (size_mul(a, b, &r) != 0) {
        s->overflow = 1;
        return 0;
    }
    return r;
}

static void sz_add3(Sz *s, size_t a, size_t b, size_t c)
{
    sz_add(s, sz_mul(s, sz_mul(s, a, b), c));
}

static const char *l2_format_name(const L2Header *h, char *buf, size_t n)
{
    if (h->version == 0) snprintf(buf, n, "llama2.c legacy (version 0)");
    else if (h->version == 1) snprintf(buf, n, "llama2.c export (version 1, fp32)");
    else snprintf(buf, n, "llama2.c export (version 2, int8 Q8_0, group %d)", h->group);
    return buf;
}

/* Bytes of one Q8_0 tensor of numel values: int8 values + fp32 scales. */
static void sz_q8(Sz *s, size_t numel, int group)
{
    sz_add(s, numel);
    sz_add(s, sz_mul(s, numel / (size_t)group, 4));
}

static int l2_check_q8(const char *name, const char *what, size_t numel, int group)
{
    if (numel % (size_t)group != 0)
        return ERR(ERR_FORMAT, "%s: %s has %zu values, not a multiple of the Q8_0 group size %d",
                   name, what, numel, group);
    return 0;
}

static int l2_parse_header(const unsigned char *p, size_t len, const char *name, L2Header *h)
{
    memset(h, 0, sizeof *h);
    size_t off;
    if (len >= 4 && rd_u32(p) == L2_MAGIC) {
        if (len < 8) return ERR(ERR_FORMAT, "%s: truncated llama2.c export header (%zu bytes)", name, len);
        h->version = rd_i32(p + 4);
        if (h->version != 1 && h->version != 2)
            return ERR(ERR_FORMAT, "%s: unknown llama2.c export version %d (Lectern reads 1 and 2)",
                       name, h->version);
        if (len < L2_EXPORT_HEADER)
            return ERR(ERR_FORMAT, "%s: truncated llama2.c export header (%zu of %d bytes)", name,
                       len, L2_EXPORT_HEADER);
        off = 8;
        h->header_bytes = L2_EXPORT_HEADER;
    } else {
        if (len < L2_LEGACY_HEADER)
            return ERR(ERR_FORMAT, "%s: too short for a llama2.c header (%zu bytes)", name, len);
        h->version = 0;
        off = 0;
        h->header_bytes = L2_LEGACY_HEADER;
    }
    h->dim = rd_i32(p + off);
    h->hidden = rd_i32(p + off + 4);
    h->n_layers = rd_i32(p + off + 8);
    h->n_heads = rd_i32(p + off + 12);
    h->n_kv_heads = rd_i32(p + off + 16);
    h->vocab = rd_i32(p + off + 20);
    h->seq_len = rd_i32(p + off + 24);
    if (h->version == 0) {
        h->shared = h->vocab > 0;
        if (h->vocab < 0) {
            if (h->vocab == INT32_MIN) return ERR(ERR_FORMAT, "%s: vocab_size %d out of range", name, h->vocab);
            h->vocab = -h->vocab;
        }
    } else {
        unsigned flag = p[36];
        if (flag > 1) return ERR(ERR_FORMAT, "%s: shared_classifier flag %u is not 0 or 1", name, flag);
        h->shared = (int)flag;
        if (h->version == 2) {
            h->group = rd_i32(p + 37);
            if (h->group <= 0) return ERR(ERR_FORMAT, "%s: Q8_0 group size %d must be positive", name, h->group);
        }
    }
    const struct { const char *what; int v; } dims[] = {
        {"dim", h->dim}, {"hidden_dim", h->hidden}, {"n_layers", h->n_layers},
        {"n_heads", h->n_heads}, {"n_kv_heads", h->n_kv_heads}, {"vocab_size", h->vocab},
        {"seq_len", h->seq_len},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v <= 0)
            return ERR(ERR_FORMAT, "%s: %s %d must be positive", name, dims[i].what, dims[i].v);
    if (h->dim % h->n_heads != 0)
        return ERR(ERR_FORMAT, "%s: n_heads %d does not divide dim %d", name, h->n_heads, h->dim);
    if (h->n_heads % h->n_kv_heads != 0)
        return ERR(ERR_FORMAT, "%s: n_kv_heads %d does not divide n_heads %d", name, h->n_kv_heads,
                   h->n_heads);
    int hs = h->dim / h->n_heads;
    if (hs % 2 != 0)
        return ERR(ERR_UNSUPPORTED, "%s: head size %d is odd (rotary embeddings rotate pairs)", name, hs);

    size_t C = (size_t)h->dim, H = (size_t)h->hidden, L = (size_t)h->n_layers;
    size_t V = (size_t)h->vocab, kv = (size_t)hs * (size_t)h->n_kv_heads;
    Sz s = {h->header_bytes, 0};
    if (h->version == 2) {
        const int g = h->group;
        int rc;
        if ((rc = l2_check_q8(name, "tok_embeddings", V * C, g)) || (rc = l2_check_q8(name, "wq", C * C, g)) ||
            (rc = l2_check_q8(name, "wk", kv * C, g)) || (rc = l2_check_q8(name, "w1", H * C, g)))
            return rc;
        sz_add3(&s, 2 * L + 1, C, 4);  /* norms */
        sz_q8(&s, sz_mul(&s, V, C), g);
        Sz layer = {0, 0};  /* one layer's seven matrices, then times L (never a loop over L:
                               the count comes from the file) */
        sz_q8(&layer, C * C, g);
        sz_q8(&layer, kv * C, g);
        sz_q8(&layer, kv * C, g);
        sz_q8(&layer, C * C, g);
        for (int k = 0; k < 3; k++) sz_q8(&layer, sz_mul(&layer, H, C), g);
        s.overflow |= layer.overflow;
        sz_add(&s, sz_mul(&s, layer.v, L));
        if (!h->shared) sz_q8(&s, sz_mul(&s, V, C), g);
    } else {
        Sz n = {0, 0};  /* floats */
        sz_add3(&n, V, C, 1);
        sz_add3(&n, 2 * L + 1, C, 1);
        sz_add3(&n, L, 2 * C, C);
        sz_add3(&n, L, 2 * kv, C);
        sz_add3(&n, L, 3 * H, C);
        if (h->version == 0) sz_add3(&n, 2, (size_t)h->seq_len * (size_t)hs / 2, 1);
        if (!h->shared) sz_add3(&n, V, C, 1);
        s.overflow |= n.overflow;
        sz_add(&s, sz_mul(&s, n.v, 4));
    }
    char fmt[96];
    if (s.overflow)
        return ERR(ERR_FORMAT, "%s: %s header sizes overflow (dim %d, hidden_dim %d, %d layers, vocab %d)",
                   name, l2_format_name(h, fmt, sizeof fmt), h->dim, h->hidden, h->n_layers, h->vocab);
    h->total = s.v;
    if (len != h->total)
        return ERR(ERR_FORMAT,
                   "%s: %zu bytes, but its %s header (dim %d, hidden_dim %d, %d layers, %d heads, "
                   "%d kv heads, vocab %d %s, seq_len %d) implies %zu%s",
                   name, len, l2_format_name(h, fmt, sizeof fmt), h->dim, h->hidden, h->n_layers,
                   h->n_heads, h->n_kv_heads, h->vocab, h->shared ? "shared" : "unshared", h->seq_len,
                   h->total, len < h->total ? " (truncated?)" : "");
    return 0;
}

/* A cursor over the validated file: every take stays inside it by construction. */
typedef struct {
    const unsigned char *base;
    size_t off;
} Cur;

static const float *take_f32(Cur *c, size_t n)
{
    const float *p = (const float *)(const void *)(c->base + c->off);
    c->off += n * 4;
    return p;
}

static Linear lin_f32(const float *w, int in, int out)
{
    Linear l;
    memset(&l, 0, sizeof l);
    l.w = w;
    l.in = in;
    l.out = out;
    l.ld = in;
    l.layout = W_OUT_IN;
    return l;
}

/* A Q8_0 matrix (out, in): kept quantised when every row holds whole groups (runq.c's
 * matmul assumes it), otherwise dequantised once into the store. */
static int take_q8(Cur *c, LoaderStore *st, int in, int out, int group, Linear *lin,
                   const char *name, const char *what)
{
    size_t numel = (size_t)in * (size_t)out;
    const int8_t *q = (const int8_t *)(c->base + c->off);
    c->off += numel;
    if (c->off % 4 != 0)
        return ERR(ERR_UNSUPPORTED, "%s: %s scales are not 4-byte aligned (Q8_0 group size %d)",
                   name, what, group);
    const float *s = take_f32(c, numel / (size_t)group);
    memset(lin, 0, sizeof *lin);
    lin->in = in;
    lin->out = out;
    lin->ld = in;
    lin->layout = W_OUT_IN;
    if (in % group == 0) {
        lin->wq8 = q;
        lin->wq8_scale = s;
        lin->q8_group = group;
    }
    /* A float copy as well, for every code path that reads Linear.w: until model_forward
     * calls matmul_q8_forward when wq8 is set, it is what the forward pass runs on.  Once it
     * does, keep this only for rows without whole groups (in % group != 0). */
    if (!lin->wq8 || L2_Q8_FLOAT_COPY) {
        float *w = loaders_store_alloc(st, numel * sizeof(float));
        q8_dequantize(w, q, s, numel, group);
        lin->w = w;
    }
    return 0;
}

static int l2_build(Model **out, const void *buf, size_t len, const char *name, LoaderStore *st)
{
    L2Header h;
    int rc = l2_parse_header(buf, len, name, &h);
    if (rc) {
        loaders_store_free(st);
        return rc;
    }
    if (((uintptr_t)buf & 3) != 0) {
        loaders_store_free(st);
        return ERR(ERR_ARG, "%s: buffer not 4-byte aligned", name);
    }
    ModelConfig c = model_config_default(ARCH_LLAMA);
    c.arch = ARCH_LLAMA;
    c.n_layer = h.n_layers;
    c.n_head = h.n_heads;
    c.n_kv_head = h.n_kv_heads;
    c.n_embd = h.dim;
    c.n_ctx = h.seq_len;
    c.vocab_size = h.vocab;
    c.padded_vocab = h.vocab;
    c.n_hidden = h.hidden;
    c.norm = NORM_RMS;
    c.pos = POS_ROPE;
    c.ffn = FFN_SWIGLU;
    c.bias = 0;
    c.tied_head = h.shared;
    c.norm_eps = 1e-5f;       /* run.c's rmsnorm */
    c.rope_theta = 10000.0f;  /* model.py's precompute_freqs_cis default */
    if ((rc = model_config_check(&c, name))) {
        loaders_store_free(st);
        return rc;
    }
    char fmt[96];
    Model *m = model_new(&c, name, l2_format_name(&h, fmt, sizeof fmt));
    m->store = st;
    m->store_free = loaders_store_free;

    const int C = h.dim, H = h.hidden, L = h.n_layers, V = h.vocab;
    const int kv = C / h.n_heads * h.n_kv_heads;
    const size_t Cz = (size_t)C, Hz = (size_t)H, kvz = (size_t)kv;
    Cur cur = {buf, h.header_bytes};
    ModelWeights *w = &m->w;

    if (h.version == 0 || h.version == 1) {
        const float *emb, *rms_att, *rms_ffn, *rms_final, *wq, *wk, *wv, *wo, *w1, *w2, *w3;
        if (h.version == 0) {
            emb = take_f32(&cur, (size_t)V * Cz);
            rms_att = take_f32(&cur, (size_t)L * Cz);
            wq = take_f32(&cur, (size_t)L * Cz * Cz);
            wk = take_f32(&cur, (size_t)L * kvz * Cz);
            wv = take_f32(&cur, (size_t)L * kvz * Cz);
            wo = take_f32(&cur, (size_t)L * Cz * Cz);
            rms_ffn = take_f32(&cur, (size_t)L * Cz);
            w1 = take_f32(&cur, (size_t)L * Hz * Cz);
            w2 = take_f32(&cur, (size_t)L * Cz * Hz);
            w3 = take_f32(&cur, (size_t)L * Hz * Cz);
            rms_final = take_f32(&cur, Cz);
            /* freq_cis_real and freq_cis_imag: RoPE is computed, the tables are skipped */
            take_f32(&cur, 2 * ((size_t)h.seq_len * (size_t)(C / h.n_heads) / 2));
        } else {
            rms_att = take_f32(&cur, (size_t)L * Cz);
            rms_ffn = take_f32(&cur, (size_t)L * Cz);
            rms_final = take_f32(&cur, Cz);
            emb = take_f32(&cur, (size_t)V * Cz);
            wq = take_f32(&cur, (size_t)L * Cz * Cz);
            wk = take_f32(&cur, (size_t)L * kvz * Cz);
            wv = take_f32(&cur, (size_t)L * kvz * Cz);
            wo = take_f32(&cur, (size_t)L * Cz * Cz);
            w1 = take_f32(&cur, (size_t)L * Hz * Cz);
            w2 = take_f32(&cur, (size_t)L * Cz * Hz);
            w3 = take_f32(&cur, (size_t)L * Hz * Cz);
        }
        w->wte = emb;
        for (int l = 0; l < L; l++) {
            LayerWeights *lw = &w->layer[l];
            size_t ll = (size_t)l;
            lw->ln1_w = rms_att + ll * Cz;
            lw->q = lin_f32(wq + ll * Cz * Cz, C, C);
            lw->k = lin_f32(wk + ll * kvz * Cz, C, kv);
            lw->v = lin_f32(wv + ll * kvz * Cz, C, kv);
            lw->o = lin_f32(wo + ll * Cz * Cz, C, C);
            lw->ln2_w = rms_ffn + ll * Cz;
            lw->fc = lin_f32(w1 + ll * Hz * Cz, C, H);
            lw->fc_gate = lin_f32(w3 + ll * Hz * Cz, C, H);
            lw->proj = lin_f32(w2 + ll * Cz * Hz, H, C);
        }
        w->lnf_w = rms_final;
        w->head = lin_f32(h.shared ? emb : take_f32(&cur, (size_t)V * Cz), C, V);
        m->weight_bytes = h.total - h.header_bytes -
                          (h.version == 0 ? 2 * ((size_t)h.seq_len * (size_t)(C / h.n_heads) / 2) * 4 : 0);
    } else {
        const int g = h.group;
        const float *rms_att = take_f32(&cur, (size_t)L * Cz);
        const float *rms_ffn = take_f32(&cur, (size_t)L * Cz);
        w->lnf_w = take_f32(&cur, Cz);
        Linear emb;
        if ((rc = take_q8(&cur, st, C, V, g, &emb, name, "tok_embeddings"))) goto fail;
        /* The embedding is looked up by row, not multiplied: dequantise it (as runq.c). */
        if (emb.wq8) {
            float *e = loaders_store_alloc(st, (size_t)V * Cz * sizeof(float));
            q8_dequantize(e, emb.wq8, emb.wq8_scale, (size_t)V * Cz, g);
            w->wte = e;
        } else {
            w->wte = emb.w;
        }
        for (int l = 0; l < L; l++) {
            w->layer[l].ln1_w = rms_att + (size_t)l * Cz;
            w->layer[l].ln2_w = rms_ffn + (size_t)l * Cz;
        }
        struct { size_t field; int in, out; const char *what; } mats[] = {
            {offsetof(LayerWeights, q), C, C, "wq"},       {offsetof(LayerWeights, k), C, kv, "wk"},
            {offsetof(LayerWeights, v), C, kv, "wv"},      {offsetof(LayerWeights, o), C, C, "wo"},
            {offsetof(LayerWeights, fc), C, H, "w1"},      {offsetof(LayerWeights, proj), H, C, "w2"},
            {offsetof(LayerWeights, fc_gate), C, H, "w3"},
        };
        for (size_t k = 0; k < sizeof mats / sizeof mats[0]; k++)
            for (int l = 0; l < L; l++) {
                Linear *lin = (Linear *)(void *)((char *)&w->layer[l] + mats[k].field);
                if ((rc = take_q8(&cur, st, mats[k].in, mats[k].out, g, lin, name, mats[k].what))) goto fail;
            }
        if (h.shared) {
            w->head = emb;
            w->head.w = w->wte;  /* the float copy serves when the quantised one is not set */
        } else if ((rc = take_q8(&cur, st, C, V, g, &w->head, name, "wcls"))) {
            goto fail;
        }
        m->weight_bytes = h.total - h.header_bytes;
    }
    model_count_params(m);
    *out = m;
    return 0;
fail:
    model_free(m);
    return rc;
}

int llama2c_parse(Model **out, const void *buf, size_t len, const char *name)
{
    return l2_build(out, buf, len, name, loaders_store_new());
}

int llama2c_load(Model **out, const char *path, const char *tokenizer_path)
{
    LoaderStore *st = loaders_store_new();
    int rc = loaders_map_file(path, &st->map);
    if (rc) {
        loaders_store_free(st);
        return rc;
    }
    Model *m;
    if ((rc = l2_build(&m, st->map.map, st->map.len, path, st))) return rc;
    char *sibling = NULL;
    if (!tokenizer_path) {
        sibling = loaders_sibling(path, "tokenizer.bin");
        if (loaders_is_file(sibling)) tokenizer_path = sibling;
    }
    if (tokenizer_path) {
        rc = sptok_load(&m->tok, tokenizer_path, m->cfg.vocab_size);
        if (rc) {
            free(sibling);
            model_free(m);
            return rc;
        }
    }
    free(sibling);
    *out = m;
    return 0;
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const char *path;
    int failed;
} Writer;

static void wr(Writer *w, const void *p, size_t n)
{
    if (!w->failed && n && fwrite(p, 1, n, w->f) != n) w->failed = errno ? errno : EIO;
}

static void wr_i32(Writer *w, int32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    wr(w, b, 4);
}

/* Row i (in values) of the (out, in) matrix behind lin, whatever its layout or storage. */
static void lin_row(const Linear *lin, int i, float *row)
{
    if (lin->wq8) {
        size_t g = (size_t)lin->q8_group, base = (size_t)i * (size_t)lin->in;
        for (int j = 0; j < lin->in; j++)
            row[j] = (float)lin->wq8[base + (size_t)j] * lin->wq8_scale[(base + (size_t)j) / g];
    } else if (lin->layout == W_OUT_IN) {
        memcpy(row, lin->w + (size_t)i * (size_t)lin->ld, (size_t)lin->in * sizeof(float));
    } else {
        for (int j = 0; j < lin->in; j++) row[j] = lin->w[(size_t)j * (size_t)lin->ld + (size_t)i];
    }
}

static void wr_linear(Writer *w, const Linear *lin, float *row)
{
    for (int i = 0; i < lin->out; i++) {
        lin_row(lin, i, row);
        wr(w, row, (size_t)lin->in * sizeof(float));
    }
}

static void wr_q8_linear(Writer *w, const Linear *lin, int group)
{
    size_t n = (size_t)lin->in * (size_t)lin->out;
    float *all = xmalloc(n * sizeof(float));
    for (int i = 0; i < lin->out; i++) lin_row(lin, i, all + (size_t)i * (size_t)lin->in);
    int8_t *q = xmalloc(n);
    float *s = xmalloc(n / (size_t)group * sizeof(float));
    q8_quantize_weights(q, s, all, n, group);
    wr(w, q, n);
    wr(w, s, n / (size_t)group * sizeof(float));
    free(s);
    free(q);
    free(all);
}

static int l2_writable(const Model *m, const char *path)
{
    const ModelConfig *c = &m->cfg;
    if (c->norm != NORM_RMS || c->pos != POS_ROPE || c->ffn != FFN_SWIGLU || c->bias ||
        c->rope_theta != 10000.0f || c->norm_eps != 1e-5f || m->w.wpe)
        return ERR(ERR_UNSUPPORTED,
                   "%s: the llama2.c format holds Llama models only (RMSNorm eps 1e-5, RoPE theta "
                   "10000, SwiGLU, no biases); %s is not one", path, m->path ? m->path : "this model");
    if (c->n_embd <= 0 || c->n_head <= 0 || c->n_kv_head <= 0 || c->n_embd % c->n_head ||
        c->n_head % c->n_kv_head || c->vocab_size <= 0 || c->n_layer <= 0)
        return ERR(ERR_ARG, "%s: model config is inconsistent", path);
    if (!m->w.wte) return ERR(ERR_ARG, "%s: model has no token embedding", path);
    return 0;
}

static int l2_write(const Model *m, const char *path, int version, int group)
{
    if (version < 0 || version > 2)
        return ERR(ERR_ARG, "%s: llama2.c version %d (Lectern writes 0, 1 and 2)", path, version);
    int rc = l2_writable(m, path);
    if (rc) return rc;
    const ModelConfig *c = &m->cfg;
    const int C = c->n_embd, L = c->n_layer, V = c->vocab_size, hs = C / c->n_head;
    const int shared = c->tied_head;
    if (version == 2) {
        if (group <= 0) {
            group = 64;
            while (C % group != 0) group /= 2;  /* export.py's back-off */
        }
        size_t kv = (size_t)hs * (size_t)c->n_kv_head;
        if (((size_t)V * C) % (size_t)group || (kv * C) % (size_t)group || ((size_t)c->n_hidden * C) % (size_t)group)
            return ERR(ERR_UNSUPPORTED, "%s: tensor sizes are not multiples of the Q8_0 group size %d",
                       path, group);
    }

    char *tmp = xasprintf("%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = ERR(ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    fchmod(fd, 0644);  /* mkstemp makes 0600; a checkpoint is an ordinary file */
    Writer w = {fdopen(fd, "wb"), path, 0};
    if (!w.f) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return ERR(ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    errno = 0;

    /* header */
    int32_t hdr[7] = {C, c->n_hidden, L, c->n_head, c->n_kv_head, V, c->n_ctx};
    if (version == 0) {
        if (!shared) hdr[5] = -V;
        for (int i = 0; i < 7; i++) wr_i32(&w, hdr[i]);
    } else {
        unsigned char head[L2_EXPORT_HEADER];
        memset(head, 0, sizeof head);
        uint32_t magic = L2_MAGIC;
        for (int i = 0; i < 4; i++) head[i] = (unsigned char)(magic >> (8 * i));
        int32_t fields[9] = {version, hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], hdr[5], hdr[6], 0};
        for (int k = 0; k < 8; k++)
            for (int i = 0; i < 4; i++) head[4 + 4 * k + i] = (unsigned char)((uint32_t)fields[k] >> (8 * i));
        head[36] = (unsigned char)(shared ? 1 : 0);
        if (version == 2)
            for (int i = 0; i < 4; i++) head[37 + i] = (unsigned char)((uint32_t)group >> (8 * i));
        wr(&w, head, sizeof head);
    }

    size_t rowmax = (size_t)(C > c->n_hidden ? C : c->n_hidden);
    float *row = xmalloc(rowmax * sizeof(float));
    const ModelWeights *mw = &m->w;
    Linear emb = lin_f32(mw->wte, C, V);
#define EACH_LAYER(stmt) for (int l = 0; l < L; l++) { const LayerWeights *lw = &mw->layer[l]; stmt; }
    if (version == 0) {
        wr_linear(&w, &emb, row);
        EACH_LAYER(wr(&w, lw->ln1_w, (size_t)C * 4));
        EACH_LAYER(wr_linear(&w, &lw->q, row));
        EACH_LAYER(wr_linear(&w, &lw->k, row));
        EACH_LAYER(wr_linear(&w, &lw->v, row));
        EACH_LAYER(wr_linear(&w, &lw->o, row));
        EACH_LAYER(wr(&w, lw->ln2_w, (size_t)C * 4));
        EACH_LAYER(wr_linear(&w, &lw->fc, row));
        EACH_LAYER(wr_linear(&w, &lw->proj, row));
        EACH_LAYER(wr_linear(&w, &lw->fc_gate, row));
        wr(&w, mw->lnf_w, (size_t)C * 4);
        /* freq_cis tables as model.py's precompute_freqs_cis makes them (readers since
         * mid-2023 ignore them; the oldest run.c read them) */
        for (int part = 0; part < 2; part++)
            for (int t = 0; t < c->n_ctx; t++) {
                for (int i = 0; i < hs / 2; i++) {
                    float freq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)hs);
                    float a = (float)t * freq;
                    row[i] = part == 0 ? cosf(a) : sinf(a);
                }
                wr(&w, row, (size_t)(hs / 2) * sizeof(float));
            }
        if (!shared) wr_linear(&w, &mw->head, row);
    } else if (version == 1) {
        EACH_LAYER(wr(&w, lw->ln1_w, (size_t)C * 4));
        EACH_LAYER(wr(&w, lw->ln2_w, (size_t)C * 4));
        wr(&w, mw->lnf_w, (size_t)C * 4);
        wr_linear(&w, &emb, row);
        EACH_LAYER(wr_linear(&w, &lw->q, row));
        EACH_LAYER(wr_linear(&w, &lw->k, row));
        EACH_LAYER(wr_linear(&w, &lw->v, row));
        EACH_LAYER(wr_linear(&w, &lw->o, row));
        EACH_LAYER(wr_linear(&w, &lw->fc, row));
        EACH_LAYER(wr_linear(&w, &lw->proj, row));
        EACH_LAYER(wr_linear(&w, &lw->fc_gate, row));
        if (!shared) wr_linear(&w, &mw->head, row);
    } else {
        EACH_LAYER(wr(&w, lw->ln1_w, (size_t)C * 4));
        EACH_LAYER(wr(&w, lw->ln2_w, (size_t)C * 4));
        wr(&w, mw->lnf_w, (size_t)C * 4);
        wr_q8_linear(&w, &emb, group);
        EACH_LAYER(wr_q8_linear(&w, &lw->q, group));
        EACH_LAYER(wr_q8_linear(&w, &lw->k, group));
        EACH_LAYER(wr_q8_linear(&w, &lw->v, group));
        EACH_LAYER(wr_q8_linear(&w, &lw->o, group));
        EACH_LAYER(wr_q8_linear(&w, &lw->fc, group));
        EACH_LAYER(wr_q8_linear(&w, &lw->proj, group));
        EACH_LAYER(wr_q8_linear(&w, &lw->fc_gate, group));
        if (!shared) wr_q8_linear(&w, &mw->head, group);
    }
#undef EACH_LAYER
    free(row);
    if (fflush(w.f) != 0 && !w.failed) w.failed = errno ? errno : EIO;
    if (fclose(w.f) != 0 && !w.failed) w.failed = errno ? errno : EIO;
    if (!w.failed && rename(tmp, path) != 0) w.failed = errno ? errno : EIO;
    if (w.failed) {
        unlink(tmp);
        rc = ERR(ERR_IO, "%s: write failed: %s", path, strerror(w.failed));
    }
    free(tmp);
    return rc;
}

int llama2c_write(const Model *m, const char *path, int version)
{
    return l2_write(m, path, version, 0);
}

int llama2c_write_q8(const Model *m, const char *path, int group)
{
    if (group <= 0) return ERR(ERR_ARG, "%s: Q8_0 group size %d must be positive", path, group);
    return l2_write(m, path, 2, group);
}

/* ---- run.c's generation loop --------------------------------------------------------- */

static int l2_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int llama2c_generate(const Model *m, const char *prompt, size_t len, int steps,
                     Llama2cPick pick, void *pick_ctx, Llama2cEmit emit, void *emit_ctx,
                     int *passes, int **ids, size_t *n_ids)
{
    if (passes) *passes = 0;
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!m->tok || tokenizer_kind(m->tok) != TOK_LLAMA2C)
        return ERR(ERR_STATE, "generate --compat llama2c: the model has no llama2.c tokenizer");
    if (steps <= 0 || steps > m->cfg.n_ctx) steps = m->cfg.n_ctx;
    int *pt;
    size_t np;
    int rc = sptok_encode_llama2c(m->tok, prompt ? prompt : "", prompt ? len : 0, 1, 0, &pt, &np);
    if (rc) return rc;
    RunState s;
    if ((rc = runstate_init(&s, &m->cfg, steps, 1))) {
        free(pt);
        return rc;
    }
    float *logits = xmalloc(sizeof(float) * (size_t)m->cfg.padded_vocab);
    int *seq = xmalloc(sizeof(int) * ((size_t)steps + 1));
    size_t n = 0;
    int token = pt[0], pos = 0;
    seq[n++] = token;
    /* one token per forward pass, as run.c: the same sums in the same order as its
     * oracle, so greedy choices with small margins come out the same */
    while (pos < steps) {
        if ((rc = model_forward(m, &s, &token, 1, pos, logits, 0, NULL))) break;
        int next = pos < (int)np - 1 ? pt[pos + 1]
                   : pick ? pick(logits, m->cfg.vocab_size, pick_ctx) : l2_argmax(logits, m->cfg.vocab_size);
        if (next < 0 || next >= m->cfg.vocab_size) {
            rc = ERR(ERR_RANGE, "generate: picked token %d outside the vocabulary", next);
            break;
        }
        pos++;
        if (next == 1) break;  /* BOS ends a story */
        size_t pl;
        const char *piece = sptok_print_llama2c(m->tok, token, next, &pl);
        if (emit && pl) emit(piece, pl, emit_ctx);
        seq[n++] = next;
        token = next;
    }
    if (!rc && emit) emit("\n", 1, emit_ctx);
    if (passes) *passes = pos;
    if (!rc && ids) {
        *ids = seq;
        seq = NULL;
        if (n_ids) *n_ids = n;
    }
    free(seq);
    free(logits);
    free(pt);
    runstate_done(&s);
    return rc;
}
