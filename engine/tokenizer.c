/* tokenizer — the public tokenizer interface (tokenizer.h) and what every kind shares.
 *
 * Owns: dispatch to a kind's TokenizerOps, the id -> bytes table and the bytes -> id index
 * (so token_bytes, lookup and decode are written once), file reading for the loaders, and the
 * small containers the kinds use (id arrays, string and integer hash maps, UTF-8 decoding).
 * Does not own: any kind's encoding rules — GPT-2 byte-level BPE is bpe.c, the character
 * tokenizer chartok.c.  engine/tokenizer_impl.h explains how to add a kind.
 *
 * decode() with an id outside [0, vocab_size) returns NULL and sets ERR_ARG: a bad id is a
 * caller's bug, and silently dropping it would hide that.
 */
#include "engine/tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/err.h"
#include "engine/tokenizer_impl.h"

/* ---- id arrays ---- */

static void ids_reserve(TokIds *ids, size_t extra)
{
    size_t need;
    if (size_add(ids->n, extra, &need) != 0) need = SIZE_MAX; /* xrealloc will abort */
    if (need <= ids->cap) return;
    size_t cap = ids->cap ? ids->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    size_t bytes;
    if (size_mul(cap, sizeof *ids->v, &bytes) != 0) bytes = SIZE_MAX;
    ids->v = xrealloc(ids->v, bytes);
    ids->cap = cap;
}

void tokenizer_ids_push(TokIds *ids, int id)
{
    if (ids->n == ids->cap) ids_reserve(ids, 1);
    ids->v[ids->n++] = id;
}

void tokenizer_ids_append(TokIds *ids, const int *src, size_t n)
{
    ids_reserve(ids, n);
    memcpy(ids->v + ids->n, src, n * sizeof *src);
    ids->n += n;
}

/* ---- hashing ---- */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finaliser: every input bit reaches every output bit */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    if (n > i) memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0x100000001b3ull;
    return mix64(h);
}

/* ---- string map ---- */

void tokenizer_strmap_init(TokStrMap *m) { memset(m, 0, sizeof *m); }

void tokenizer_strmap_done(TokStrMap *m)
{
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void tokenizer_strmap_clear(TokStrMap *m)
{
    for (size_t i = 0; i < m->cap; i++) m->slots[i].off = SIZE_MAX;
    m->count = 0;
    m->arena_len = 0;
}

static size_t strmap_find(const TokStrMap *m, uint64_t h, const char *key, size_t len)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const TokStrSlot *s = &m->slots[i];
        if (s->off == SIZE_MAX) return i;
        if (s->hash == h && s->len == len && (len == 0 || memcmp(m->arena + s->off, key, len) == 0))
            return i;
    }
}

static void strmap_grow(TokStrMap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    TokStrSlot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = xmalloc(cap * sizeof *m->slots);
    for (size_t i = 0; i < cap; i++) m->slots[i].off = SIZE_MAX;
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].off == SIZE_MAX) continue;
        size_t mask = cap - 1, j = old[i].hash & mask;
        while (m->slots[j].off != SIZE_MAX) j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

int tokenizer_strmap_get(const TokStrMap *m, const char *key, size_t len, int64_t *val)
{
    if (!m->count) return 0;
    const TokStrSlot *s = &m->slots[strmap_find(m, hash_bytes(key, len), key, len)];
    if (s->off == SIZE_MAX) return 0;
    *val = s->val;
    return 1;
}

int tokenizer_strmap_put(TokStrMap *m, const char *key, size_t len, int64_t val)
{
    if ((m->count + 1) * 4 > m->cap * 3) strmap_grow(m); /* load <= 3/4 */
    uint64_t h = hash_bytes(key, len);
    TokStrSlot *s = &m->slots[strmap_find(m, h, key, len)];
    if (s->off != SIZE_MAX) return 1;
    size_t need;
    if (size_add(m->arena_len, len, &need) != 0) need = SIZE_MAX;
    if (need > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 1024;
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        m->arena = xrealloc(m->arena, cap);
        m->arena_cap = cap;
    }
    if (len) memcpy(m->arena + m->arena_len, key, len);
    s->hash = h;
    s->off = m->arena_len;
    s->len = len;
    s->val = val;
    m->arena_len += len;
    m->count++;
    return 0;
}

/* ---- integer map ---- */

void tokenizer_intmap_init(TokIntMap *m) { memset(m, 0, sizeof *m); }

void tokenizer_intmap_done(TokIntMap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t intmap_find(const TokIntMap *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask)
        if (m->keys[i] == key || m->keys[i] == UINT64_MAX) return i;
}

int tokenizer_intmap_get(const TokIntMap *m, uint64_t key, int64_t *val)
{
    if (!m->count) return 0;
    size_t i = intmap_find(m, key);
    if (m->keys[i] != key) return 0;
    *val = m->vals[i];
    return 1;
}

int tokenizer_intmap_put(TokIntMap *m, uint64_t key, int64_t val)
{
    if ((m->count + 1) * 2 > m->cap) { /* load <= 1/2: probes stay short on the hot path */
        uint64_t *ok = m->keys;
        int64_t *ov = m->vals;
        size_t oc = m->cap;
        m->cap = oc ? oc * 2 : 64;
        m->keys = xmalloc(m->cap * sizeof *m->keys);
        m->vals = xmalloc(m->cap * sizeof *m->vals);
        memset(m->keys, 0xff, m->cap * sizeof *m->keys);
        for (size_t i = 0; i < oc; i++) {
            if (ok[i] == UINT64_MAX) continue;
            size_t j = intmap_find(m, ok[i]);
            m->keys[j] = ok[i];
            m->vals[j] = ov[i];
        }
        free(ok);
        free(ov);
    }
    size_t i = intmap_find(m, key);
    if (m->keys[i] == key) return 1;
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
    return 0;
}

/* ---- UTF-8 ---- */

size_t tokenizer_utf8_decode(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; v = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; v = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0; /* continuation byte, overlong lead C0/C1, or F5..FF */
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

size_t tokenizer_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

char *tokenizer_quote(const char *s, size_t len)
{
    enum { MAXSHOW = 40 };
    size_t show = len < MAXSHOW ? len : MAXSHOW;
    char *out = xmalloc(show * 4 + 4);
    size_t o = 0;
    for (size_t i = 0; i < show; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\') o += (size_t)sprintf(out + o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    if (show < len) { memcpy(out + o, "...", 3); o += 3; }
    out[o] = 0;
    return out;
}

int tokenizer_read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ERR(ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ERR(ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size >= (unsigned long long)SIZE_MAX) {
        fclose(f);
        return ERR(ERR_IO, "%s: too large", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = xmalloc(n + 1);
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int bad = got != n || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ERR(ERR_IO, "%s: read failed", path);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

/* ---- the Tokenizer object ---- */

Tokenizer *tokenizer_alloc(TokenizerKind kind, const TokenizerOps *ops, void *impl)
{
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->kind = kind;
    t->ops = ops;
    t->impl = impl;
    t->eot = -1;
    tokenizer_strmap_init(&t->index);
    return t;
}

void tokenizer_set_vocab(Tokenizer *t, int n, const char *const *bytes, const size_t *lens)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (size_add(total, lens[i], &total) != 0) total = SIZE_MAX; /* xmalloc aborts */
    free(t->tok_blob);
    free(t->tok_off);
    tokenizer_strmap_clear(&t->index);
    t->tok_blob = xmalloc(total);
    t->tok_off = xmalloc(((size_t)n + 1) * sizeof *t->tok_off);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        t->tok_off[i] = o;
        if (lens[i]) memcpy(t->tok_blob + o, bytes[i], lens[i]);
        o += lens[i];
        tokenizer_strmap_put(&t->index, bytes[i], lens[i], i); /* keeps the first id */
    }
    t->tok_off[n] = o;
    t->vocab_size = n;
}

void tokenizer_free(Tokenizer *t)
{
    if (!t) return;
    if (t->ops && t->ops->free_impl) t->ops->free_impl(t->impl);
    tokenizer_strmap_done(&t->index);
    free(t->tok_blob);
    free(t->tok_off);
    free(t);
}

TokenizerKind tokenizer_kind(const Tokenizer *t) { return t->kind; }
int tokenizer_vocab_size(const Tokenizer *t) { return t->vocab_size; }
int tokenizer_eot(const Tokenizer *t) { return t->eot; }

int tokenizer_encode(Tokenizer *t, const char *text, size_t len, int **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!text && len) return ERR(ERR_ARG, "encode: NULL text of length %zu", len);
    TokIds out = {0};
    int rc = t->ops->encode(t, text ? text : "", len, &out);
    if (rc < 0) {
        free(out.v);
        return rc;
    }
    if (!out.v) out.v = xmalloc(sizeof *out.v); /* callers always get something to free */
    *ids = out.v;
    *n = out.n;
    return 0;
}

const char *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len)
{
    if (id < 0 || id >= t->vocab_size) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->tok_off[id + 1] - t->tok_off[id];
    return t->tok_blob + t->tok_off[id];
}

char *tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size) {
            if (len) *len = 0;
            ERR(ERR_ARG, "decode: token id %d at position %zu is outside the vocabulary (0..%d)",
                ids[i], i, t->vocab_size - 1);
            return NULL;
        }
        if (size_add(total, t->tok_off[ids[i] + 1] - t->tok_off[ids[i]], &total) != 0) {
            if (len) *len = 0;
            ERR(ERR_RANGE, "decode: the text of %zu tokens is too long", n);
            return NULL;
        }
    }
    if (t->ops->decode) return t->ops->decode(t, ids, n, len);
    char *s = xmalloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = t->tok_off[ids[i]], b = t->tok_off[ids[i] + 1];
        memcpy(s + o, t->tok_blob + a, b - a);
        o += b - a;
    }
    s[o] = 0;
    if (len) *len = o;
    return s;
}

int tokenizer_lookup(const Tokenizer *t, const char *s, size_t len)
{
    int64_t v;
    if (!tokenizer_strmap_get(&t->index, s, len, &v)) return -1;
    return (int)v;
}

int tokenizer_export(const Tokenizer *t, char **a, size_t *alen, char **b, size_t *blen)
{
    *a = NULL;
    *b = NULL;
    *alen = *blen = 0;
    if (!t->ops->export_texts)
        return ERR(ERR_UNSUPPORTED, "this tokenizer kind cannot be exported");
    return t->ops->export_texts(t, a, alen, b, blen);
}

/* ---- constructors ---- */

int tokenizer_gpt2_from_text(Tokenizer **out, const char *vocab_json, size_t vocab_len,
                             const char *merges, size_t merges_len, const char *origin)
{
    *out = NULL;
    if (!origin) origin = "tokenizer";
    char *vo = xasprintf("%s (vocab.json)", origin);
    char *mo = xasprintf("%s (merges.txt)", origin);
    int rc = bpe_new(out, vocab_json, vocab_len, vo, merges, merges_len, mo);
    free(vo);
    free(mo);
    return rc;
}

int tokenizer_load_gpt2(Tokenizer **out, const char *vocab_json_path, const char *merges_path)
{
    *out = NULL;
    char *v = NULL, *m = NULL;
    size_t vl = 0, ml = 0;
    int rc = tokenizer_read_file(vocab_json_path, &v, &vl);
    if (rc == 0) rc = tokenizer_read_file(merges_path, &m, &ml);
    if (rc == 0) rc = bpe_new(out, v, vl, vocab_json_path, m, ml, merges_path);
    free(v);
    free(m);
    return rc;
}

int tokenizer_load_dir(Tokenizer **out, const char *dir)
{
    *out = NULL;
    char *v = xasprintf("%s/vocab.json", dir);
    char *m = xasprintf("%s/merges.txt", dir);
    int rc = tokenizer_load_gpt2(out, v, m);
    free(v);
    free(m);
    return rc;
}

int tokenizer_char_new(Tokenizer **out, const char *alphabet, size_t len)
{
    *out = NULL;
    if (!alphabet && len) return ERR(ERR_ARG, "alphabet: NULL pointer with length %zu", len);
    return chartok_new(out, alphabet ? alphabet : "", len);
}
