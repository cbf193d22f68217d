/* bpe — GPT-2's byte-level BPE, exact against tiktoken's `gpt2` encoding (encode_ordinary).
 *
 * Owns: loading vocab.json (jansson) and merges.txt, the byte <-> unicode table, the PCRE2
 * pre-tokenizer, rank-ordered merging with a word cache, and export back to the two texts.
 * Does not own: token bytes, lookup and decode (tokenizer.c does those for every kind).
 * References: openai/gpt-2 src/encoder.py (bytes_to_unicode, get_pairs, bpe — the
 * definition); tiktoken's byte_pair_merge (lowest rank first, leftmost on ties);
 * ../shared/research/gpt2.md sections 4 and 7.
 *
 * Invalid UTF-8: the text is cut into maximal runs of well-formed UTF-8; each run is
 * pre-tokenized and merged on its own (the regex sees the run's end as the end of the text),
 * and every byte that does not start a well-formed sequence (a lone continuation byte, a
 * truncated or overlong sequence, a surrogate, 0xF5..0xFF) becomes one token of its own, the
 * byte's token — so encoding never fails and decode(encode(x)) == x for any bytes.
 *
 * "<|endoftext|>" typed in the text is encoded as plain text (27 91 437 1659 5239 91 29),
 * as tiktoken's encode_ordinary and encoder.py do: a prompt cannot forge the special token.
 * tokenizer_eot() still returns its id (50256) for callers that add it on purpose.
 *
 * Not thread-safe: encode updates the word cache and scratch buffers in the tokenizer.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <jansson.h>
#include <limits.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer_impl.h"

/* Exactly Unicode White_Space (what Python's `regex` and tiktoken call \s).  PCRE2's own \s
 * with UCP also takes U+180E, which would split " \u180e<letter>" differently. */
#define BPE_WS "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}" \
               "\\x{205F}\\x{3000}"
/* encoder.py's pattern with \s spelled out: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
 * ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static const char BPE_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" BPE_WS "\\p{L}\\p{N}]+"
    "|[" BPE_WS "]+(?![^" BPE_WS "])|[" BPE_WS "]+";

enum {
    BPE_DEC_SIZE = 256 + 68,     /* code points the byte table uses: 0 .. 0x143 */
    BPE_CACHE_WORD_MAX = 64,     /* longer pre-tokens are merged every time */
    BPE_CACHE_ENTRIES = 1 << 16, /* the cache is emptied when it reaches this */
};

typedef struct {
    uint32_t rank;
    int merged;    /* the id the pair merges into */
    size_t pos;    /* left symbol of the pair */
    int a, b;      /* the pair's ids when pushed; stale entries no longer match */
} BpeHeapEnt;

typedef struct {
    uint32_t byte_enc[256];          /* byte -> code point (encoder.py bytes_to_unicode) */
    int16_t byte_dec[BPE_DEC_SIZE];  /* code point -> byte, or -1 */
    int byte_id[256];                /* byte -> id of the one-byte token */
    TokIntMap pairs;                 /* (a << 32 | b) -> (rank << 32 | merged id) */
    int *merge_a, *merge_b;          /* (n_merges) the merges in rank order, for export */
    int n_merges;
    pcre2_code *re;
    pcre2_match_data *md;
    TokStrMap cache;                 /* pre-token bytes -> offset of [n, ids...] in cache_ids */
    TokIds cache_ids;
    /* scratch for one pre-token, (work_cap) each */
    int *sym;                        /* symbol ids; -1 once merged into the left neighbour */
    size_t *nxt, *prv;
    size_t work_cap;
    BpeHeapEnt *heap;                /* (heap_cap) min-heap on (rank, pos) */
    size_t heap_n, heap_cap;
} Bpe;

static void byte_tables(Bpe *b)
{
    /* Printable Latin-1 bytes stand for themselves; the other 68 bytes get U+0100.. in byte
     * order, so every byte is a visible character in vocab.json and merges.txt. */
    int n = 0;
    for (int i = 0; i < BPE_DEC_SIZE; i++) b->byte_dec[i] = -1;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || (c >= 0xae);
        b->byte_enc[c] = printable ? (uint32_t)c : (uint32_t)(256 + n++);
        b->byte_dec[b->byte_enc[c]] = (int16_t)c;
    }
}

static void bpe_free_impl(void *impl)
{
    Bpe *b = impl;
    if (!b) return;
    tokenizer_intmap_done(&b->pairs);
    free(b->merge_a);
    free(b->merge_b);
    pcre2_match_data_free(b->md);
    pcre2_code_free(b->re);
    tokenizer_strmap_done(&b->cache);
    free(b->cache_ids.v);
    free(b->sym);
    free(b->nxt);
    free(b->prv);
    free(b->heap);
    free(b);
}

/* ---- merging ---- */

static int pair_lookup(const Bpe *b, int x, int y, uint32_t *rank, int *merged)
{
    int64_t v;
    if (!tokenizer_intmap_get(&b->pairs, ((uint64_t)(uint32_t)x << 32) | (uint32_t)y, &v))
        return 0;
    *rank = (uint32_t)((uint64_t)v >> 32);
    *merged = (int)(uint32_t)v;
    return 1;
}

static int heap_less(const BpeHeapEnt *x, const BpeHeapEnt *y)
{
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(Bpe *b, uint32_t rank, int merged, size_t pos, int x, int y)
{
    if (b->heap_n == b->heap_cap) {
        b->heap_cap = b->heap_cap ? b->heap_cap * 2 : 64;
        b->heap = xrealloc(b->heap, b->heap_cap * sizeof *b->heap);
    }
    BpeHeapEnt e = {rank, merged, pos, x, y};
    size_t i = b->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &b->heap[p])) break;
        b->heap[i] = b->heap[p];
        i = p;
    }
    b->heap[i] = e;
}

static BpeHeapEnt heap_pop(Bpe *b)
{
    BpeHeapEnt top = b->heap[0], last = b->heap[--b->heap_n];
    size_t i = 0, n = b->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&b->heap[c + 1], &b->heap[c])) c++;
        if (!heap_less(&b->heap[c], &last)) break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (n) b->heap[i] = last;
    return top;
}

static void push_pair(Bpe *b, size_t pos, size_t q)
{
    uint32_t rank;
    int merged;
    if (pair_lookup(b, b->sym[pos], b->sym[q], &rank, &merged))
        heap_push(b, rank, merged, pos, b->sym[pos], b->sym[q]);
}

/* Merges the bytes of one pre-token, lowest-ranked adjacent pair first (leftmost on ties),
 * until no adjacent pair has a merge.  A heap keeps this O(n log n) for long words. */
static void bpe_merge(Bpe *b, const unsigned char *s, size_t n, TokIds *out)
{
    if (n > b->work_cap) {
        size_t cap = n > 2 * b->work_cap ? n : 2 * b->work_cap;
        size_t bytes;
        if (size_mul(cap, sizeof(size_t), &bytes) != 0) bytes = SIZE_MAX; /* xrealloc aborts */
        b->sym = xrealloc(b->sym, bytes); /* ints: sizeof(size_t) each is room to spare */
        b->nxt = xrealloc(b->nxt, bytes);
        b->prv = xrealloc(b->prv, bytes);
        b->work_cap = cap;
    }
    const size_t NONE = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        b->sym[i] = b->byte_id[s[i]];
        b->nxt[i] = i + 1 < n ? i + 1 : NONE;
        b->prv[i] = i ? i - 1 : NONE;
    }
    b->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(b, i, i + 1);
    while (b->heap_n) {
        BpeHeapEnt e = heap_pop(b);
        size_t p = e.pos, q = b->nxt[p];
        if (b->sym[p] != e.a || q == NONE || b->sym[q] != e.b) continue; /* stale */
        b->sym[p] = e.merged;
        b->sym[q] = -1;
        b->nxt[p] = b->nxt[q];
        if (b->nxt[q] != NONE) b->prv[b->nxt[q]] = p;
        if (b->prv[p] != NONE) push_pair(b, b->prv[p], p);
        if (b->nxt[p] != NONE) push_pair(b, p, b->nxt[p]);
    }
    for (size_t i = 0; i != NONE; i = b->nxt[i]) tokenizer_ids_push(out, b->sym[i]);
}

/* One pre-token: the cache, else merging. */
static void bpe_word(Bpe *b, const char *s, size_t n, TokIds *out)
{
    if (n == 1) {
        tokenizer_ids_push(out, b->byte_id[(unsigned char)s[0]]);
        return;
    }
    int cacheable = n <= BPE_CACHE_WORD_MAX;
    int64_t off;
    if (cacheable && tokenizer_strmap_get(&b->cache, s, n, &off)) {
        tokenizer_ids_append(out, b->cache_ids.v + off + 1, (size_t)b->cache_ids.v[off]);
        return;
    }
    size_t start = out->n;
    bpe_merge(b, (const unsigned char *)s, n, out);
    if (!cacheable) return;
    if (b->cache.count >= BPE_CACHE_ENTRIES) { /* bounded: start over rather than evict */
        tokenizer_strmap_clear(&b->cache);
        b->cache_ids.n = 0;
    }
    size_t k = out->n - start;
    tokenizer_strmap_put(&b->cache, s, n, (int64_t)b->cache_ids.n);
    tokenizer_ids_push(&b->cache_ids, (int)k);
    tokenizer_ids_append(&b->cache_ids, out->v + start, k);
}

/* Pre-tokenizes a run of well-formed UTF-8 (checked by the caller, hence NO_UTF_CHECK),
 * handing each pre-token to fn. */
static int pretok_run(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n,
                      BpePieceFn fn, void *ctx)
{
    size_t off = 0;
    while (off < n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, md, NULL);
        size_t end;
        if (rc > 0) {
            end = pcre2_get_ovector_pointer(md)[1];
        } else if (rc == PCRE2_ERROR_NOMATCH) {
            end = off; /* cannot happen: some alternative matches any character */
        } else {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ERR(ERR_STATE, "pre-tokenizer: PCRE2 match failed: %s", (const char *)msg);
        }
        if (end <= off) { /* never lose bytes: take one character */
            uint32_t cp;
            size_t k = tokenizer_utf8_decode(s + off, n - off, &cp);
            end = off + (k ? k : 1);
        }
        if ((rc = fn(ctx, s + off, end - off))) return rc;
        off = end;
    }
    return 0;
}

/* The whole text: runs of well-formed UTF-8 through the pattern, every other byte a
 * pre-token of its own (whose one-byte token is then the byte's token). */
static int pretok_text(const pcre2_code *re, pcre2_match_data *md, const char *text, size_t len,
                       BpePieceFn fn, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len) {
            if ((unsigned char)text[j] < 0x80) {
                j++;
                continue;
            }
            uint32_t cp;
            size_t k = tokenizer_utf8_decode(text + j, len - j, &cp);
            if (!k) break;
            j += k;
        }
        if (j > i) {
            int rc = pretok_run(re, md, text + i, j - i, fn, ctx);
            if (rc) return rc;
        }
        if (j < len) {
            int rc = fn(ctx, text + j, 1);
            if (rc) return rc;
            j++;
        }
        i = j;
    }
    return 0;
}

typedef struct {
    Bpe *b;
    TokIds *out;
} EncodeCtx;

static int encode_piece(void *ctx, const char *s, size_t n)
{
    EncodeCtx *e = ctx;
    bpe_word(e->b, s, n, e->out);
    return 0;
}

static int bpe_encode(Tokenizer *t, const char *text, size_t len, TokIds *out)
{
    Bpe *b = t->impl;
    EncodeCtx e = {b, out};
    return pretok_text(b->re, b->md, text, len, encode_piece, &e);
}

/* ---- export ---- */

typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

/* Token id as its vocab.json / merges.txt spelling (UTF-8).  JSON-escaped (Python's
 * json.dumps with ensure_ascii, the form OpenAI's file has) when json is set. */
static void put_token(const Bpe *bp, const Tokenizer *t, int id, int json, Buf *out)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)tokenizer_token_bytes(t, id, &len);
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = bp->byte_enc[s[i]];
        char tmp[8];
        size_t k;
        if (json && (cp == '"' || cp == '\\')) {
            tmp[0] = '\\';
            tmp[1] = (char)cp;
            k = 2;
        } else if (json && cp >= 0x80) {
            k = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
        } else {
            k = tokenizer_utf8_encode(cp, tmp);
        }
        buf_put(out, tmp, k);
    }
}

static int bpe_export(const Tokenizer *t, char **a, size_t *alen, char **b, size_t *blen)
{
    const Bpe *bp = t->impl;
    Buf v = {0}, m = {0};
    buf_put(&v, "{", 1);
    for (int id = 0; id < t->vocab_size; id++) {
        char num[32];
        if (id) buf_put(&v, ", ", 2);
        buf_put(&v, "\"", 1);
        put_token(bp, t, id, 1, &v);
        buf_put(&v, num, (size_t)snprintf(num, sizeof num, "\": %d", id));
    }
    buf_put(&v, "}", 1);
    buf_put(&m, "#version: 0.2\n", 14);
    for (int r = 0; r < bp->n_merges; r++) {
        put_token(bp, t, bp->merge_a[r], 0, &m);
        buf_put(&m, " ", 1);
        put_token(bp, t, bp->merge_b[r], 0, &m);
        buf_put(&m, "\n", 1);
    }
    *a = v.s;
    *alen = v.n;
    *b = m.s;
    *blen = m.n;
    return 0;
}

static const TokenizerOps BPE_OPS = {
    .encode = bpe_encode,
    .decode = NULL,
    .export_texts = bpe_export,
    .free_impl = bpe_free_impl,
};

/* ---- loading ---- */

/* Decodes a vocab.json / merges.txt spelling (UTF-8 over the byte alphabet) into bytes.
 * out needs room for len bytes.  Returns the byte count, or -1 with *bad set to the first
 * code point outside the alphabet (UINT32_MAX for malformed UTF-8). */
static long spelling_to_bytes(const Bpe *b, const char *s, size_t len, char *out, uint32_t *bad)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = tokenizer_utf8_decode(s + i, len - i, &cp);
        if (!k) {
            *bad = UINT32_MAX;
            return -1;
        }
        if (cp >= BPE_DEC_SIZE || b->byte_dec[cp] < 0) {
            *bad = cp;
            return -1;
        }
        out[o++] = (char)b->byte_dec[cp];
        i += k;
    }
    return (long)o;
}

static int load_vocab(Tokenizer *t, Bpe *b, const char *text, size_t len, const char *origin)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ERR(ERR_FORMAT, "%s: malformed JSON at line %d column %d: %s", origin, je.line,
                   je.column, je.text);
    int rc = 0;
    size_t n = json_is_object(root) ? json_object_size(root) : 0;
    char **bytes = NULL;
    size_t *lens = NULL;
    if (!json_is_object(root)) {
        rc = ERR(ERR_FORMAT, "%s: not a JSON object of token -> id", origin);
        goto done;
    }
    if (n == 0 || n > INT_MAX) {
        rc = ERR(ERR_FORMAT, "%s: %zu tokens (need 1..%d)", origin, n, INT_MAX);
        goto done;
    }
    bytes = xcalloc(n, sizeof *bytes);
    lens = xcalloc(n, sizeof *lens);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        size_t klen = strlen(key); /* JSON without JSON_ALLOW_NUL: keys hold no NUL */
        char *q = tokenizer_quote(key, klen);
        if (!json_is_integer(val)) {
            rc = ERR(ERR_FORMAT, "%s: token \"%s\": id is not an integer", origin, q);
        } else if (json_integer_value(val) < 0 || (size_t)json_integer_value(val) >= n) {
            rc = ERR(ERR_FORMAT, "%s: token \"%s\": id %lld outside 0..%zu (ids must number the %zu tokens)",
                     origin, q, (long long)json_integer_value(val), n - 1, n);
        } else if (bytes[json_integer_value(val)]) {
            rc = ERR(ERR_FORMAT, "%s: token \"%s\": id %lld is used twice", origin, q,
                     (long long)json_integer_value(val));
        } else if (klen == 0) {
            rc = ERR(ERR_FORMAT, "%s: empty token (id %lld)", origin,
                     (long long)json_integer_value(val));
        } else {
            size_t id = (size_t)json_integer_value(val);
            uint32_t bad = 0;
            bytes[id] = xmalloc(klen);
            long k = spelling_to_bytes(b, key, klen, bytes[id], &bad);
            if (k < 0)
                rc = ERR(ERR_FORMAT, "%s: token \"%s\" has U+%04X, outside GPT-2's byte alphabet",
                         origin, q, (unsigned)bad);
            lens[id] = (size_t)(k < 0 ? 0 : k);
        }
        free(q);
        if (rc) goto done;
    }
    tokenizer_set_vocab(t, (int)n, (const char *const *)bytes, lens);
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        b->byte_id[c] = tokenizer_lookup(t, &ch, 1);
        if (b->byte_id[c] < 0) {
            rc = ERR(ERR_FORMAT, "%s: no token for byte 0x%02x (byte-level BPE needs all 256)",
                     origin, c);
            goto done;
        }
    }
    t->eot = tokenizer_lookup(t, "<|endoftext|>", 13);
done:
    if (bytes)
        for (size_t i = 0; i < n; i++) free(bytes[i]);
    free(bytes);
    free(lens);
    json_decref(root);
    return rc;
}

/* The id spelled by s[0..len) on merges.txt line `line`, or a negative ERR_FORMAT. */
static int merge_part(const Tokenizer *t, const Bpe *b, const char *s, size_t len, char *scratch,
                      const char *origin, long line)
{
    uint32_t bad = 0;
    long k = spelling_to_bytes(b, s, len, scratch, &bad);
    char *q = tokenizer_quote(s, len);
    int rc;
    if (k < 0 && bad == UINT32_MAX)
        rc = ERR(ERR_FORMAT, "%s: line %ld: \"%s\" is not valid UTF-8", origin, line, q);
    else if (k < 0)
        rc = ERR(ERR_FORMAT, "%s: line %ld: \"%s\" has U+%04X, outside GPT-2's byte alphabet",
                 origin, line, q, (unsigned)bad);
    else if ((rc = tokenizer_lookup(t, scratch, (size_t)k)) < 0)
        rc = ERR(ERR_FORMAT, "%s: line %ld: \"%s\" is not in the vocabulary", origin, line, q);
    free(q);
    return rc;
}

static int load_merges(Tokenizer *t, Bpe *b, const char *text, size_t len, const char *origin)
{
    char *scratch = NULL, *joined = NULL;
    size_t scratch_cap = 0;
    int rc = 0, cap = 0;
    long line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - s) : len - pos;
        pos += ll + (nl ? 1 : 0);
        line++;
        if (ll && s[ll - 1] == '\r') ll--;
        if (line == 1 && ll >= 8 && memcmp(s, "#version", 8) == 0) continue;
        if (ll == 0) {
            size_t r = pos;
            while (r < len && (text[r] == '\n' || text[r] == '\r')) r++;
            if (r == len) break; /* blank lines at the end are harmless */
        }
        const char *sp = memchr(s, ' ', ll);
        if (!sp || sp == s || sp == s + ll - 1 || memchr(sp + 1, ' ', ll - (size_t)(sp - s) - 1)) {
            char *q = tokenizer_quote(s, ll);
            rc = ERR(ERR_FORMAT, "%s: line %ld: \"%s\" is not two tokens separated by a space",
                     origin, line, q);
            free(q);
            break;
        }
        if (ll > scratch_cap) {
            scratch_cap = ll;
            scratch = xrealloc(scratch, scratch_cap);
            joined = xrealloc(joined, scratch_cap);
        }
        size_t la = (size_t)(sp - s), lb = ll - la - 1;
        int x = merge_part(t, b, s, la, scratch, origin, line);
        if (x < 0) { rc = x; break; }
        int y = merge_part(t, b, sp + 1, lb, scratch, origin, line);
        if (y < 0) { rc = y; break; }
        size_t xl, yl;
        const char *xb = tokenizer_token_bytes(t, x, &xl), *yb = tokenizer_token_bytes(t, y, &yl);
        memcpy(joined, xb, xl); /* xl + yl <= la + lb: bytes are never longer than spellings */
        memcpy(joined + xl, yb, yl);
        int m = tokenizer_lookup(t, joined, xl + yl);
        if (m < 0) {
            char *q = tokenizer_quote(s, ll);
            rc = ERR(ERR_FORMAT, "%s: line %ld: the merge of \"%s\" is not in the vocabulary",
                     origin, line, q);
            free(q);
            break;
        }
        uint64_t key = ((uint64_t)(uint32_t)x << 32) | (uint32_t)y;
        int64_t old;
        if (tokenizer_intmap_get(&b->pairs, key, &old)) {
            rc = ERR(ERR_FORMAT, "%s: line %ld: repeats the merge of an earlier line", origin, line);
            break;
        }
        if (b->n_merges == INT_MAX) {
            rc = ERR(ERR_FORMAT, "%s: too many merges", origin);
            break;
        }
        if (b->n_merges == cap) {
            cap = cap ? (cap > INT_MAX / 2 ? INT_MAX : cap * 2) : 1024;
            b->merge_a = xrealloc(b->merge_a, (size_t)cap * sizeof *b->merge_a);
            b->merge_b = xrealloc(b->merge_b, (size_t)cap * sizeof *b->merge_b);
        }
        b->merge_a[b->n_merges] = x;
        b->merge_b[b->n_merges] = y;
        tokenizer_intmap_put(&b->pairs, key, (int64_t)(((uint64_t)(uint32_t)b->n_merges << 32) | (uint32_t)m));
        b->n_merges++;
    }
    free(scratch);
    free(joined);
    return rc;
}

static int pretok_compile(pcre2_code **re, pcre2_match_data **md)
{
    int code;
    PCRE2_SIZE at;
    /* ANCHORED at compile time (JIT keeps working, unlike a match-time ANCHORED): every match
     * starts where the previous one ended, as in a findall over the whole text. */
    *re = pcre2_compile((PCRE2_SPTR)BPE_PATTERN, PCRE2_ZERO_TERMINATED,
                        PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &code, &at, NULL);
    if (!*re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return ERR(ERR_UNSUPPORTED, "pre-tokenizer: PCRE2 cannot compile GPT-2's pattern: %s",
                   (const char *)msg);
    }
    (void)pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE); /* without JIT: slower, same result */
    *md = pcre2_match_data_create_from_pattern(*re, NULL);
    return 0;
}

static int compile_pattern(Bpe *b) { return pretok_compile(&b->re, &b->md); }

int bpe_pretokenize(const char *text, size_t len, BpePieceFn fn, void *ctx)
{
    pcre2_code *re;
    pcre2_match_data *md;
    int rc = pretok_compile(&re, &md);
    if (rc) return rc;
    rc = pretok_text(re, md, text, len, fn, ctx);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc;
}

int bpe_new(Tokenizer **out, const char *vocab_json, size_t vocab_len, const char *vocab_origin,
            const char *merges, size_t merges_len, const char *merges_origin)
{
    *out = NULL;
    if ((!vocab_json && vocab_len) || (!merges && merges_len))
        return ERR(ERR_ARG, "GPT-2 tokenizer: NULL text");
    Bpe *b = xcalloc(1, sizeof *b);
    tokenizer_intmap_init(&b->pairs);
    tokenizer_strmap_init(&b->cache);
    byte_tables(b);
    Tokenizer *t = tokenizer_alloc(TOK_GPT2_BPE, &BPE_OPS, b);
    int rc = load_vocab(t, b, vocab_json ? vocab_json : "", vocab_len, vocab_origin);
    if (rc == 0) rc = load_merges(t, b, merges ? merges : "", merges_len, merges_origin);
    if (rc == 0) rc = compile_pattern(b);
    if (rc < 0) {
        tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
