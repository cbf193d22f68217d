/* sptok — llama2.c's tokenizer.bin and its encoding rules, as the TOK_LLAMA2C kind.
 *
 * Owns reading and validating tokenizer.bin, run.c's encode() and decode() rules, and the
 * kind's export/import text.  It does not own the shared vocabulary table and index
 * (tokenizer.c), nor printing (the REPL prints what sptok_print_llama2c returns).
 *
 * encode() as run.c does it, step by step:
 *   1. BOS (1) when asked; then, for non-empty text, the dummy prefix: the id of " ".
 *   2. The text's bytes are cut into code points the way run.c cuts them (a byte that is not
 *      a UTF-8 continuation starts a new piece; at most 4 bytes per piece), each looked up
 *      in the vocabulary; a piece not found falls back to one byte token per byte
 *      (id = byte + 3).
 *   3. Repeatedly, among adjacent pairs whose concatenation is in the vocabulary, the one
 *      whose concatenation has the highest score (the leftmost on ties; scores at or below
 *      -1e10 never merge) is replaced by it.  run.c rescans the whole sequence per merge
 *      (quadratic); here a max-heap of candidate pairs over a linked list gives the same
 *      merges in the same order in O(n log n): a popped pair is used only if both tokens
 *      are still adjacent and unchanged, which makes it exactly a current pair.
 *   4. EOS (2) when asked.
 * Lookups go through the vocabulary sorted by bytes (binary search, as run.c's bsearch);
 * a concatenation is compared in place, never built in a fixed buffer.
 * Deliberate differences, none of which the real tokenizers reach: pieces are byte strings
 * (run.c compares C strings, so a NUL inside a piece would cut it); when two ids share the
 * same bytes the lower id is found (run.c's bsearch finds either); a missing " " piece
 * means no dummy prefix (run.c would emit id -1); a byte fallback past the vocabulary gives
 * <unk> (0) (run.c would emit an id past the end).
 * References: llama2.c run.c (build_tokenizer, encode, decode, safe_printf), tokenizer.py
 * (export: BOS as "\n<s>\n", EOS "\n</s>\n", "▁" as " ").
 */
#include "engine/sptok.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/tokenizer_impl.h"

#define SP_BOS 1
#define SP_EOS 2
#define SP_BYTE0 3  /* id of "<0x00>" */

typedef struct {
    int n;
    int max_token_length;
    float *score;        /* (n) */
    char *blob;          /* pieces back to back, each NUL-terminated (run.c's C strings) */
    size_t *off;         /* (n + 1): piece i = blob + off[i], length off[i+1] - off[i] - 1 */
    int *sorted;         /* (n) ids in byte order (then by id) */
    int dummy;           /* id of " ", or -1 */
    int16_t *byte_of;    /* (n) the byte a "<0xNN>" piece stands for, or -1 */
    int16_t *byte_of_stripped; /* (n) the same for the piece with its leading space dropped */
    unsigned char byte_pieces[512]; /* byte b as a C string at 2b (run.c's byte_pieces) */
} SpTok;

static const TokenizerOps sptok_ops;

static const SpTok *impl_of(const Tokenizer *t) { return t->impl; }

static const char *piece(const SpTok *s, int id, size_t *len)
{
    *len = s->off[id + 1] - s->off[id] - 1;
    return s->blob + s->off[id];
}

/* Compares the concatenation a ++ b with p, bytes as unsigned (strcmp order). */
static int cmp_concat(const char *a, size_t la, const char *b, size_t lb, const char *p, size_t lp)
{
    size_t n = la < lp ? la : lp;
    int c = memcmp(a, p, n);
    if (c) return c;
    if (la > lp) return 1;  /* p is a proper prefix of a */
    p += la;
    lp -= la;
    n = lb < lp ? lb : lp;
    c = memcmp(b, p, n);
    if (c) return c;
    return (lb > lp) - (lb < lp);
}

/* Lowest id whose piece is a ++ b, or -1. */
static int lookup2(const SpTok *s, const char *a, size_t la, const char *b, size_t lb)
{
    int lo = 0, hi = s->n;  /* first index with piece >= key */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        size_t lp;
        const char *p = piece(s, s->sorted[mid], &lp);
        if (cmp_concat(a, la, b, lb, p, lp) > 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == s->n) return -1;
    size_t lp;
    const char *p = piece(s, s->sorted[lo], &lp);
    return cmp_concat(a, la, b, lb, p, lp) == 0 ? s->sorted[lo] : -1;
}

static int cmp_ids(const void *x, const void *y, void *ctx)
{
    const SpTok *s = ctx;
    int a = *(const int *)x, b = *(const int *)y;
    size_t la, lb;
    const char *pa = piece(s, a, &la), *pb = piece(s, b, &lb);
    int c = cmp_concat(pa, la, "", 0, pb, lb);
    return c ? c : (a > b) - (a < b);
}

/* run.c's decode() tests pieces with sscanf("<0x%02hhX>"); doing the same here keeps every
 * odd piece ("<0x4>", "<0x41junk") decoding as it does there. */
static int16_t byte_piece_value(const char *p)
{
    unsigned char v;
    if (p[0] != '<') return -1;  /* skip the scan for the common case */
    return sscanf(p, "<0x%02hhX>", &v) == 1 ? (int16_t)v : (int16_t)-1;
}

static void sp_free(void *impl)
{
    SpTok *s = impl;
    if (!s) return;
    free(s->score);
    free(s->blob);
    free(s->off);
    free(s->sorted);
    free(s->byte_of);
    free(s->byte_of_stripped);
    free(s);
}

/* Builds the kind from n pieces (copied); ownership of score passes to the tokenizer. */
static Tokenizer *sp_build(int n, int max_len, float *score, const char *const *bytes, const size_t *lens)
{
    SpTok *s = xcalloc(1, sizeof *s);
    s->n = n;
    s->max_token_length = max_len;
    s->score = score;
    s->off = xmalloc(((size_t)n + 1) * sizeof(size_t));
    size_t total = 0;
    for (int i = 0; i < n; i++) total += lens[i] + 1;
    s->blob = xmalloc(total ? total : 1);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        s->off[i] = o;
        if (lens[i]) memcpy(s->blob + o, bytes[i], lens[i]);
        o += lens[i];
        s->blob[o++] = 0;
    }
    s->off[n] = o;
    s->sorted = xmalloc(((size_t)n ? (size_t)n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) s->sorted[i] = i;
    qsort_r(s->sorted, (size_t)n, sizeof(int), cmp_ids, s);
    s->dummy = lookup2(s, " ", 1, "", 0);
    s->byte_of = xmalloc(((size_t)n ? (size_t)n : 1) * sizeof(int16_t));
    s->byte_of_stripped = xmalloc(((size_t)n ? (size_t)n : 1) * sizeof(int16_t));
    for (int i = 0; i < n; i++) {
        const char *p = s->blob + s->off[i];
        s->byte_of[i] = byte_piece_value(p);
        s->byte_of_stripped[i] = p[0] == ' ' ? byte_piece_value(p + 1) : s->byte_of[i];
    }
    for (int b = 0; b < 256; b++) {
        s->byte_pieces[2 * b] = (unsigned char)b;
        s->byte_pieces[2 * b + 1] = 0;
    }
    Tokenizer *t = tokenizer_alloc(TOK_LLAMA2C, &sptok_ops, s);
    tokenizer_set_vocab(t, n, bytes, lens);
    t->eot = n > SP_BOS ? SP_BOS : -1;
    return t;
}

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}

int sptok_parse(Tokenizer **out, const void *buf, size_t len, int vocab_size, const char *name)
{
    const unsigned char *p = buf;
    if (vocab_size < 0) return ERR(ERR_ARG, "%s: vocab_size %d is negative", name, vocab_size);
    if (len < 4) return ERR(ERR_FORMAT, "%s: too short for a llama2.c tokenizer (%zu bytes)", name, len);
    int max_len = rd_i32(p);
    if (max_len < 0) return ERR(ERR_FORMAT, "%s: max_token_length %d is negative", name, max_len);
    /* first pass: count and validate, so nothing is allocated from unchecked sizes */
    size_t off = 4;
    int n = 0;
    while (vocab_size ? n < vocab_size : off < len) {
        if (len - off < 8) {
            if (vocab_size)
                return ERR(ERR_FORMAT, "%s: ends inside token %d (the model has %d tokens)", name, n, vocab_size);
            return ERR(ERR_FORMAT, "%s: ends inside token %d", name, n);
        }
        int32_t l = rd_i32(p + off + 4);
        if (l < 0) return ERR(ERR_FORMAT, "%s: token %d has negative length %d", name, n, l);
        if (l > max_len)
            return ERR(ERR_FORMAT, "%s: token %d is %d bytes, longer than max_token_length %d", name, n, l, max_len);
        if ((size_t)l > len - off - 8)
            return ERR(ERR_FORMAT, "%s: token %d (%d bytes) runs past the end of the file", name, n, l);
        off += 8 + (size_t)l;
        if (n == INT32_MAX - 1) return ERR(ERR_FORMAT, "%s: too many tokens", name);
        n++;
    }
    if (n < 3)  /* BOS (1) and EOS (2) are fixed ids in run.c's encode */
        return ERR(ERR_FORMAT, "%s: holds %d tokens; a llama2.c tokenizer starts with <unk>, BOS, EOS", name, n);
    float *score = xmalloc((size_t)n * sizeof(float));
    const char **bytes = xmalloc((size_t)n * sizeof(char *));
    size_t *lens = xmalloc((size_t)n * sizeof(size_t));
    off = 4;
    for (int i = 0; i < n; i++) {
        memcpy(&score[i], p + off, 4);
        lens[i] = (size_t)rd_i32(p + off + 4);
        bytes[i] = (const char *)(p + off + 8);
        off += 8 + lens[i];
    }
    *out = sp_build(n, max_len, score, bytes, lens);
    free(bytes);
    free(lens);
    return 0;
}

int sptok_load(Tokenizer **out, const char *path, int vocab_size)
{
    char *data;
    size_t len;
    int rc = tokenizer_read_file(path, &data, &len);
    if (rc) return rc;
    rc = sptok_parse(out, data, len, vocab_size, path);
    free(data);
    return rc;
}

/* ---- encoding ------------------------------------------------------------------------ */

typedef struct {
    float score;
    int i, j;     /* left and right list positions */
    int a, b;     /* their ids when pushed */
    int id;       /* the merged piece */
} Cand;

/* Max-heap order: higher score first, then the leftmost pair. */
static int cand_before(const Cand *x, const Cand *y)
{
    if (x->score != y->score) return x->score > y->score;
    return x->i < y->i;
}

typedef struct {
    Cand *v;
    size_t n, cap;
} Heap;

static void heap_push(Heap *h, Cand c)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->v = xrealloc(h->v, h->cap * sizeof(Cand));
    }
    size_t k = h->n++;
    while (k > 0) {
        size_t parent = (k - 1) / 2;
        if (!cand_before(&c, &h->v[parent])) break;
        h->v[k] = h->v[parent];
        k = parent;
    }
    h->v[k] = c;
}

static Cand heap_pop(Heap *h)
{
    Cand top = h->v[0], last = h->v[--h->n];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_before(&h->v[c + 1], &h->v[c])) c++;
        if (!cand_before(&h->v[c], &last)) break;
        h->v[k] = h->v[c];
        k = c;
    }
    if (h->n) h->v[k] = last;
    return top;
}

typedef struct {
    int *tok, *nxt, *prv;
} List;

static void push_pair(const SpTok *s, Heap *h, const List *l, int i)
{
    if (i < 0) return;
    int j = l->nxt[i];
    if (j < 0) return;
    size_t la, lb;
    const char *a = piece(s, l->tok[i], &la), *b = piece(s, l->tok[j], &lb);
    int id = lookup2(s, a, la, b, lb);
    /* run.c starts its best score at -1e10 and wants strictly more (NaN never merges) */
    if (id < 0 || !(s->score[id] > -1e10f)) return;
    heap_push(h, (Cand){s->score[id], i, j, l->tok[i], l->tok[j], id});
}

static void sp_encode(const SpTok *s, const char *text, size_t len, int bos, int eos, TokIds *out)
{
    /* the sequence before merging: at most BOS + dummy + one token per byte */
    size_t cap = len + 2;
    List l = {xmalloc(cap * sizeof(int)), xmalloc(cap * sizeof(int)), xmalloc(cap * sizeof(int))};
    size_t m = 0;
    if (bos) l.tok[m++] = SP_BOS;
    if (len > 0 && s->dummy >= 0) l.tok[m++] = s->dummy;
    const unsigned char *u = (const unsigned char *)text;
    size_t start = 0, n_cp = 0;
    for (size_t i = 0; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            start = i;
            n_cp = 0;
        }
        n_cp++;
        if (i + 1 < len && (u[i + 1] & 0xC0) == 0x80 && n_cp < 4) continue;
        int id = lookup2(s, text + start, n_cp, "", 0);
        if (id >= 0) {
            l.tok[m++] = id;
        } else {
            for (size_t k = 0; k < n_cp; k++) {
                int b = SP_BYTE0 + u[start + k];
                l.tok[m++] = b < s->n ? b : 0;
            }
        }
        n_cp = 0;
        start = i + 1;
    }
    for (size_t i = 0; i < m; i++) {
        l.nxt[i] = i + 1 < m ? (int)(i + 1) : -1;
        l.prv[i] = (int)i - 1;
    }
    Heap h = {0};
    for (size_t i = 0; i + 1 < m; i++) push_pair(s, &h, &l, (int)i);
    while (h.n) {
        Cand c = heap_pop(&h);
        if (l.nxt[c.i] != c.j || l.tok[c.i] != c.a || l.tok[c.j] != c.b) continue;  /* stale */
        l.tok[c.i] = c.id;
        int k = l.nxt[c.j];
        l.nxt[c.i] = k;
        if (k >= 0) l.prv[k] = c.i;
        l.nxt[c.j] = -2;  /* removed: no pair starts or ends here any more */
        l.prv[c.j] = -2;
        push_pair(s, &h, &l, l.prv[c.i]);
        push_pair(s, &h, &l, c.i);
    }
    free(h.v);
    for (int i = m ? 0 : -1; i >= 0; i = l.nxt[i]) tokenizer_ids_push(out, l.tok[i]);
    if (eos) tokenizer_ids_push(out, SP_EOS);
    free(l.tok);
    free(l.nxt);
    free(l.prv);
}

static int sp_encode_op(Tokenizer *t, const char *text, size_t len, TokIds *out)
{
    sp_encode(impl_of(t), text, len, 0, 0, out);
    return 0;
}

int sptok_encode_llama2c(Tokenizer *t, const char *text, size_t len, int bos, int eos,
                         int **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!t || t->kind != TOK_LLAMA2C) return ERR(ERR_ARG, "encode: not a llama2.c tokenizer");
    if (!text && len) return ERR(ERR_ARG, "encode: NULL text of length %zu", len);
    TokIds out = {0};
    sp_encode(impl_of(t), text ? text : "", len, bos, eos, &out);
    if (!out.v) out.v = xmalloc(sizeof(int));
    *ids = out.v;
    *n = out.n;
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------ */

const char *sptok_decode_llama2c(const Tokenizer *t, int prev, int id, size_t *len)
{
    if (!t || t->kind != TOK_LLAMA2C || id < 0 || id >= t->vocab_size) {
        *len = 0;
        return NULL;
    }
    const SpTok *s = impl_of(t);
    size_t l;
    const char *p = piece(s, id, &l);
    int strip = prev == SP_BOS && p[0] == ' ';
    int16_t b = strip ? s->byte_of_stripped[id] : s->byte_of[id];
    if (b >= 0) {
        *len = 1;
        return (const char *)s->byte_pieces + 2 * b;
    }
    *len = l - (size_t)strip;
    return p + strip;
}

/* isprint / isspace of the C locale, whatever locale the program set */
static int c_printable_or_space(unsigned char c)
{
    return (c >= 0x20 && c <= 0x7e) || (c >= 0x09 && c <= 0x0d);
}

const char *sptok_print_llama2c(const Tokenizer *t, int prev, int id, size_t *len)
{
    const char *p = sptok_decode_llama2c(t, prev, id, len);
    if (!p) return NULL;
    size_t n = strnlen(p, *len);  /* printf("%s") stops at a NUL */
    if (n == 1 && !c_printable_or_space((unsigned char)p[0])) n = 0;
    *len = n;
    return p;
}

float sptok_score(const Tokenizer *t, int id)
{
    if (!t || t->kind != TOK_LLAMA2C || id < 0 || id >= t->vocab_size) return NAN;
    return impl_of(t)->score[id];
}

static char *sp_decode_op(const Tokenizer *t, const int *ids, size_t n, size_t *len)
{
    size_t total = 0, l;
    for (size_t i = 0; i < n; i++) {
        sptok_decode_llama2c(t, i ? ids[i - 1] : -1, ids[i], &l);
        total += l;
    }
    char *s = xmalloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = sptok_decode_llama2c(t, i ? ids[i - 1] : -1, ids[i], &l);
        memcpy(s + o, p, l);
        o += l;
    }
    s[o] = 0;
    if (len) *len = o;
    return s;
}

/* ---- export / import ------------------------------------------------------------------
 * Text, so it can sit in safetensors metadata (JSON strings must be UTF-8):
 *   "llama2c-tokenizer v1 <n> <max_token_length>\n", then per token one line
 *   "<score as 8 hex digits of its IEEE bits> <bytes as hex, or - when empty>\n".
 * Bit patterns instead of decimals keep scores exact and independent of the locale. */

static int sp_export_op(const Tokenizer *t, char **a, size_t *alen, char **b, size_t *blen)
{
    const SpTok *s = impl_of(t);
    size_t cap = 64 + (size_t)s->n * 12 + 2 * s->off[s->n];
    char *o = xmalloc(cap);
    size_t n = (size_t)snprintf(o, cap, "llama2c-tokenizer v1 %d %d\n", s->n, s->max_token_length);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < s->n; i++) {
        uint32_t bits;
        memcpy(&bits, &s->score[i], 4);
        n += (size_t)snprintf(o + n, cap - n, "%08x ", (unsigned)bits);
        size_t l;
        const unsigned char *p = (const unsigned char *)piece(s, i, &l);
        if (l == 0) o[n++] = '-';
        for (size_t k = 0; k < l; k++) {
            o[n++] = hex[p[k] >> 4];
            o[n++] = hex[p[k] & 15];
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

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sptok_from_text(Tokenizer **out, const char *text, size_t len, const char *origin)
{
    const char *p = text, *end = text + len;
    const char *nl = memchr(p, '\n', len);
    int n, max_len;
    char head[64];
    size_t hl = nl ? (size_t)(nl - p) : 0;
    if (!nl || hl >= sizeof head) return ERR(ERR_FORMAT, "%s: not a llama2.c tokenizer text", origin);
    memcpy(head, p, hl);
    head[hl] = 0;
    char tail;
    if (sscanf(head, "llama2c-tokenizer v1 %d %d%c", &n, &max_len, &tail) != 2 || n < 3 || max_len < 0)
        return ERR(ERR_FORMAT, "%s: bad llama2.c tokenizer header", origin);
    if ((size_t)n > len / 11) return ERR(ERR_FORMAT, "%s: %d tokens cannot fit in %zu bytes", origin, n, len);
    p = nl + 1;
    float *score = xmalloc((size_t)n * sizeof(float));
    char **bytes = xcalloc((size_t)n, sizeof(char *));
    size_t *lens = xcalloc((size_t)n, sizeof(size_t));
    int rc = 0, i;
    for (i = 0; i < n; i++) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e || e - p < 10 || p[8] != ' ') {
            rc = ERR(ERR_FORMAT, "%s: token line %d malformed", origin, i);
            break;
        }
        uint32_t bits = 0;
        for (int k = 0; k < 8 && !rc; k++) {
            int v = hexval(p[k]);
            if (v < 0) rc = ERR(ERR_FORMAT, "%s: token line %d: bad score", origin, i);
            bits = bits << 4 | (uint32_t)(v < 0 ? 0 : v);
        }
        if (rc) break;
        memcpy(&score[i], &bits, 4);
        const char *h = p + 9;
        size_t hlen = (size_t)(e - h);
        if (hlen == 1 && h[0] == '-') hlen = 0;
        else if (hlen == 0 || hlen % 2) {
            rc = ERR(ERR_FORMAT, "%s: token line %d: bad bytes", origin, i);
            break;
        }
        bytes[i] = xmalloc(hlen / 2 + 1);
        lens[i] = hlen / 2;
        for (size_t k = 0; k < hlen / 2; k++) {
            int hi = hexval(h[2 * k]), lo = hexval(h[2 * k + 1]);
            if (hi < 0 || lo < 0) {
                rc = ERR(ERR_FORMAT, "%s: token line %d: bad bytes", origin, i);
                break;
            }
            bytes[i][k] = (char)(hi << 4 | lo);
        }
        if (rc) break;
        if (lens[i] > (size_t)max_len) {
            rc = ERR(ERR_FORMAT, "%s: token %d longer than max_token_length %d", origin, i, max_len);
            break;
        }
        p = e + 1;
    }
    if (!rc) *out = sp_build(n, max_len, score, (const char *const *)bytes, lens);
    else free(score);
    for (int k = 0; k < n; k++) free(bytes[k]);
    free(bytes);
    free(lens);
    return rc;
}

static const TokenizerOps sptok_ops = {
    .encode = sp_encode_op,
    .decode = sp_decode_op,
    .export_texts = sp_export_op,
    .free_impl = sp_free,
};
