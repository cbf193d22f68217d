/* llmc — llm.c's GPT-2 checkpoints (gpt2_124M.bin layout) and its gpt2_tokenizer.bin.
 *
 * Owns validating the checkpoint header against the file size, pointing a GPT-2 Model's
 * weights into the mapping (version 3, fp32) or into one fp32 buffer converted from the
 * file (version 5, bf16), and the decode-only token table.  It does not run the model.
 *
 * Checkpoint: 256 int32 (1024 bytes): magic 20240326, version, maxT, V, L, NH, C, Vp, zeros;
 * then the parameters grouped by kind across layers, each (out, in) row-major:
 *   wte (Vp, C), wpe (maxT, C), ln1w (L, C), ln1b (L, C), qkvw (L, 3C, C), qkvb (L, 3C),
 *   attprojw (L, C, C), attprojb (L, C), ln2w (L, C), ln2b (L, C), fcw (L, 4C, C),
 *   fcb (L, 4C), fcprojw (L, C, 4C), fcprojb (L, C), lnfw (C), lnfb (C).
 * wte rows V..Vp-1 are padding (zeros).  The fused qkvw becomes three Linear views at row
 * offsets 0, C and 2C of each layer's block: q, k, v without copies.
 * Tokenizer: 256 uint32: magic 20240328, version (1: 50257 tokens, EOT 50256; 2: EOT in
 * header[3]), vocab size; then per token a uint8 length (> 0) and the bytes.
 * References: llm.c train_gpt2.c (gpt2_build_from_checkpoint, fill_in_parameter_sizes),
 * train_gpt2.py (write_model, write_tokenizer), llmc/tokenizer.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/loaders.h"
#include "engine/model_io.h"
#include "engine/tensor.h"
#include "engine/tokenizer_impl.h"

#define LLMC_MAGIC 20240326
#define LLMC_TOK_MAGIC 20240328
#define LLMC_HEADER 1024
#define LLMC_NTENSORS 16

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}

int llmc_probe(const void *head, size_t n)
{
    return n >= 4 && rd_i32(head) == LLMC_MAGIC ? 2 : 0;
}

/* Element counts of the 16 tensors in file order; 0 on overflow. */
static int llmc_sizes(size_t sz[LLMC_NTENSORS], size_t maxT, size_t V, size_t L, size_t C, size_t *total)
{
    size_t C2 = C * C;  /* C <= 65536 (model_config_check), so no overflow here */
    size_t v[LLMC_NTENSORS][3] = {
        {V, C, 1}, {maxT, C, 1}, {L, C, 1}, {L, C, 1}, {L, 3 * C2, 1}, {L, 3 * C, 1},
        {L, C2, 1}, {L, C, 1},   {L, C, 1}, {L, C, 1}, {L, 4 * C2, 1}, {L, 4 * C, 1},
        {L, 4 * C2, 1}, {L, C, 1}, {C, 1, 1}, {C, 1, 1},
    };
    size_t t = 0;
    for (int i = 0; i < LLMC_NTENSORS; i++) {
        if (size_mul(v[i][0], v[i][1], &sz[i]) || size_add(t, sz[i], &t)) return -1;
    }
    *total = t;
    return 0;
}

static int llmc_build(Model **out, const void *buf, size_t len, const char *name, LoaderStore *st)
{
    const unsigned char *p = buf;
    int rc;
#define FAIL(...) do { rc = ERR(__VA_ARGS__); loaders_store_free(st); return rc; } while (0)
    if (len < 4 || rd_i32(p) != LLMC_MAGIC) FAIL(ERR_FORMAT, "%s: not an llm.c checkpoint (bad magic)", name);
    if (len < LLMC_HEADER)
        FAIL(ERR_FORMAT, "%s: truncated llm.c header (%zu of %d bytes)", name, len, LLMC_HEADER);
    int version = rd_i32(p + 4);
    if (version != 3 && version != 5)
        FAIL(ERR_FORMAT, "%s: unknown llm.c checkpoint version %d (Lectern reads 3 fp32 and 5 bf16)", name, version);
    int maxT = rd_i32(p + 8), V = rd_i32(p + 12), L = rd_i32(p + 16), NH = rd_i32(p + 20);
    int C = rd_i32(p + 24), Vp = rd_i32(p + 28);
    ModelConfig c = model_config_default(ARCH_GPT2);
    c.n_layer = L;
    c.n_head = NH;
    c.n_kv_head = NH;
    c.n_embd = C;
    c.n_ctx = maxT;
    c.vocab_size = V;
    c.padded_vocab = Vp;
    c.n_hidden = C > 0 && C <= (1 << 28) ? 4 * C : C;  /* the check below rejects bad C */
    if ((rc = model_config_check(&c, name))) {
        loaders_store_free(st);
        return rc;
    }
    size_t sz[LLMC_NTENSORS], numel;
    if (llmc_sizes(sz, (size_t)maxT, (size_t)Vp, (size_t)L, (size_t)C, &numel))
        FAIL(ERR_FORMAT, "%s: llm.c header sizes overflow", name);
    size_t elt = version == 3 ? 4 : 2, total;
    if (size_mul(numel, elt, &total) || size_add(total, LLMC_HEADER, &total))
        FAIL(ERR_FORMAT, "%s: llm.c header sizes overflow", name);
    if (len != total)
        FAIL(ERR_FORMAT,
             "%s: %zu bytes, but its llm.c version %d header (maxT %d, V %d, Vp %d, %d layers, %d heads, "
             "C %d) implies %zu%s", name, len, version, maxT, V, Vp, L, NH, C, total,
             len < total ? " (truncated?)" : "");
    if (((uintptr_t)buf & 3) != 0) FAIL(ERR_ARG, "%s: buffer not 4-byte aligned", name);
#undef FAIL

    const float *base;
    if (version == 3) {
        base = (const float *)(const void *)(p + LLMC_HEADER);
    } else {
        float *f = loaders_store_alloc(st, numel * sizeof(float));
        tensor_to_f32(f, p + LLMC_HEADER, DT_BF16, numel);
        base = f;
        loaders_unmap(&st->map);  /* everything lives in the converted buffer now */
    }
    const float *t[LLMC_NTENSORS];
    for (int i = 0; i < LLMC_NTENSORS; i++) {
        t[i] = base;
        base += sz[i];
    }
    char fmt[64];
    snprintf(fmt, sizeof fmt, "llm.c GPT-2 checkpoint (version %d, %s)", version, version == 3 ? "fp32" : "bf16");
    Model *m = model_new(&c, name, fmt);
    m->store = st;
    m->store_free = loaders_store_free;
    const size_t Cz = (size_t)C, C3 = 3 * Cz, C4 = 4 * Cz;
    ModelWeights *w = &m->w;
    w->wte = t[0];
    w->wpe = t[1];
    for (int l = 0; l < L; l++) {
        LayerWeights *lw = &w->layer[l];
        size_t ll = (size_t)l;
        lw->ln1_w = t[2] + ll * Cz;
        lw->ln1_b = t[3] + ll * Cz;
        const float *qkv = t[4] + ll * C3 * Cz, *qkvb = t[5] + ll * C3;
        lw->q = (Linear){.w = qkv, .b = qkvb, .in = C, .out = C, .ld = C, .layout = W_OUT_IN};
        lw->k = (Linear){.w = qkv + Cz * Cz, .b = qkvb + Cz, .in = C, .out = C, .ld = C, .layout = W_OUT_IN};
        lw->v = (Linear){.w = qkv + 2 * Cz * Cz, .b = qkvb + 2 * Cz, .in = C, .out = C, .ld = C, .layout = W_OUT_IN};
        lw->o = (Linear){.w = t[6] + ll * Cz * Cz, .b = t[7] + ll * Cz, .in = C, .out = C, .ld = C, .layout = W_OUT_IN};
        lw->ln2_w = t[8] + ll * Cz;
        lw->ln2_b = t[9] + ll * Cz;
        lw->fc = (Linear){.w = t[10] + ll * C4 * Cz, .b = t[11] + ll * C4, .in = C, .out = 4 * C, .ld = C,
                          .layout = W_OUT_IN};
        lw->proj = (Linear){.w = t[12] + ll * Cz * C4, .b = t[13] + ll * Cz, .in = 4 * C, .out = C, .ld = 4 * C,
                            .layout = W_OUT_IN};
    }
    w->lnf_w = t[14];
    w->lnf_b = t[15];
    /* tied head over all Vp rows, as llm.c computes logits (padding rows give 0) */
    w->head = (Linear){.w = t[0], .in = C, .out = Vp, .ld = C, .layout = W_OUT_IN};
    m->weight_bytes = numel * elt;
    model_count_params(m);
    *out = m;
    return 0;
}

int llmc_parse(Model **out, const void *buf, size_t len, const char *name)
{
    return llmc_build(out, buf, len, name, loaders_store_new());
}

int llmc_load(Model **out, const char *path, const char *tokenizer_path)
{
    LoaderStore *st = loaders_store_new();
    int rc = loaders_map_file(path, &st->map);
    if (rc) {
        loaders_store_free(st);
        return rc;
    }
    Model *m;
    if ((rc = llmc_build(&m, st->map.map, st->map.len, path, st))) return rc;
    Tokenizer *tok = NULL;
    if (tokenizer_path) {
        rc = model_load_tokenizer(&tok, tokenizer_path);
    } else {
        char *v = loaders_sibling(path, "vocab.json"), *g = loaders_sibling(path, "merges.txt");
        char *b = loaders_sibling(path, "gpt2_tokenizer.bin");
        if (loaders_is_file(v) && loaders_is_file(g)) rc = tokenizer_load_gpt2(&tok, v, g);
        else if (loaders_is_file(b)) rc = llmc_tokenizer_load(&tok, b);
        free(v);
        free(g);
        free(b);
    }
    if (!rc && tok && tokenizer_vocab_size(tok) > m->cfg.vocab_size) {
        rc = ERR(ERR_FORMAT, "%s: tokenizer has %d tokens but the model only %d",
                 tokenizer_path ? tokenizer_path : path, tokenizer_vocab_size(tok), m->cfg.vocab_size);
    }
    if (rc) {
        tokenizer_free(tok);
        model_free(m);
        return rc;
    }
    m->tok = tok;
    *out = m;
    return 0;
}

/* ---- gpt2_tokenizer.bin ----------------------------------------------------------------- */

static int table_encode(Tokenizer *t, const char *text, size_t len, TokIds *out)
{
    (void)t; (void)text; (void)len; (void)out;
    return ERR(ERR_UNSUPPORTED,
               "llm.c's gpt2_tokenizer.bin decodes only: give --tokenizer a directory with GPT-2's "
               "vocab.json and merges.txt (e.g. ../shared/tokenizers/gpt2) to encode text");
}

/* Export text: "llmc-tokenizer v1 <n> <eot>\n" then one line of hex bytes per token. */
static int table_export(const Tokenizer *t, char **a, size_t *alen, char **b, size_t *blen)
{
    size_t cap = 64 + (size_t)t->vocab_size + 2 * t->tok_off[t->vocab_size];
    char *o = xmalloc(cap);
    size_t n = (size_t)snprintf(o, cap, "llmc-tokenizer v1 %d %d\n", t->vocab_size, t->eot);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < t->vocab_size; i++) {
        for (size_t k = t->tok_off[i]; k < t->tok_off[i + 1]; k++) {
            unsigned char c = (unsigned char)t->tok_blob[k];
            o[n++] = hex[c >> 4];
            o[n++] = hex[c & 15];
        }
        o[n++] = '\n';
    }
    o[n] = 0;
    *a = o;
    *alen = n;
    if (b) *b = NULL;
    if (blen) *blen = 0;
    return 0;
}

static const TokenizerOps table_ops = {
    .encode = table_encode,
    .decode = NULL,
    .export_texts = table_export,
    .free_impl = NULL,
};

static Tokenizer *table_new(int n, int eot, const char *const *bytes, const size_t *lens)
{
    Tokenizer *t = tokenizer_alloc(TOK_LLMC_TABLE, &table_ops, NULL);
    tokenizer_set_vocab(t, n, bytes, lens);
    t->eot = eot;
    return t;
}

int llmc_tokenizer_probe(const void *head, size_t n)
{
    return n >= 4 && rd_i32(head) == LLMC_TOK_MAGIC;
}

int llmc_tokenizer_parse(Tokenizer **out, const void *buf, size_t len, const char *name)
{
    const unsigned char *p = buf;
    if (len < 4 || rd_i32(p) != LLMC_TOK_MAGIC)
        return ERR(ERR_FORMAT, "%s: not an llm.c tokenizer (bad magic)", name);
    if (len < LLMC_HEADER) return ERR(ERR_FORMAT, "%s: truncated llm.c tokenizer header", name);
    int version = rd_i32(p + 4), n = rd_i32(p + 8), eot;
    if (version == 1) {
        if (n != 50257)
            return ERR(ERR_FORMAT, "%s: llm.c tokenizer version 1 must hold 50257 tokens, not %d", name, n);
        eot = 50256;
    } else if (version == 2) {
        eot = rd_i32(p + 12);
    } else {
        return ERR(ERR_FORMAT, "%s: unknown llm.c tokenizer version %d (Lectern reads 1 and 2)", name, version);
    }
    if (n <= 0 || n > (1 << 24)) return ERR(ERR_FORMAT, "%s: vocab size %d out of range", name, n);
    if (eot < 0 || eot >= n) return ERR(ERR_FORMAT, "%s: EOT id %d outside the vocabulary (0..%d)", name, eot, n - 1);
    /* each token needs at least 2 bytes: a cheap bound before allocating */
    if ((size_t)n > (len - LLMC_HEADER) / 2)
        return ERR(ERR_FORMAT, "%s: %d tokens cannot fit in %zu bytes", name, n, len);
    const char **bytes = xmalloc((size_t)n * sizeof(char *));
    size_t *lens = xmalloc((size_t)n * sizeof(size_t));
    size_t off = LLMC_HEADER;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (off >= len) {
            rc = ERR(ERR_FORMAT, "%s: ends before token %d of %d", name, i, n);
            break;
        }
        size_t l = p[off];
        if (l == 0) {
            rc = ERR(ERR_FORMAT, "%s: token %d has length 0", name, i);
            break;
        }
        if (l > len - off - 1) {
            rc = ERR(ERR_FORMAT, "%s: token %d (%zu bytes) runs past the end of the file", name, i, l);
            break;
        }
        bytes[i] = (const char *)(p + off + 1);
        lens[i] = l;
        off += 1 + l;
    }
    if (!rc) *out = table_new(n, eot, bytes, lens);
    free(bytes);
    free(lens);
    return rc;
}

int llmc_tokenizer_load(Tokenizer **out, const char *path)
{
    char *data;
    size_t len;
    int rc = tokenizer_read_file(path, &data, &len);
    if (rc) return rc;
    rc = llmc_tokenizer_parse(out, data, len, path);
    free(data);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int llmc_tokenizer_from_text(Tokenizer **out, const char *text, size_t len, const char *origin)
{
    const char *nl = memchr(text, '\n', len);
    char head[64];
    size_t hl = nl ? (size_t)(nl - text) : 0;
    if (!nl || hl >= sizeof head) return ERR(ERR_FORMAT, "%s: not an llm.c tokenizer text", origin);
    memcpy(head, text, hl);
    head[hl] = 0;
    int n, eot;
    char tail;
    if (sscanf(head, "llmc-tokenizer v1 %d %d%c", &n, &eot, &tail) != 2 || n <= 0 || eot < -1 || eot >= n)
        return ERR(ERR_FORMAT, "%s: bad llm.c tokenizer header", origin);
    if ((size_t)n > len / 3) return ERR(ERR_FORMAT, "%s: %d tokens cannot fit in %zu bytes", origin, n, len);
    char **bytes = xcalloc((size_t)n, sizeof(char *));
    size_t *lens = xcalloc((size_t)n, sizeof(size_t));
    const char *p = nl + 1, *end = text + len;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t hlen = e ? (size_t)(e - p) : 0;
        if (!e || hlen == 0 || hlen % 2) {
            rc = ERR(ERR_FORMAT, "%s: token line %d malformed", origin, i);
            break;
        }
        bytes[i] = xmalloc(hlen / 2);
        lens[i] = hlen / 2;
        for (size_t k = 0; k < hlen / 2 && !rc; k++) {
            int hi = hexval(p[2 * k]), lo = hexval(p[2 * k + 1]);
            if (hi < 0 || lo < 0) rc = ERR(ERR_FORMAT, "%s: token line %d: bad hex", origin, i);
            else bytes[i][k] = (char)(hi << 4 | lo);
        }
        p = e + 1;
    }
    if (!rc) *out = table_new(n, eot, (const char *const *)bytes, lens);
    for (int i = 0; i < n; i++) free(bytes[i]);
    free(bytes);
    free(lens);
    return rc;
}
