/* bpe_train — learning a byte-level BPE with GPT-2's pre-tokenizer (see bpe_train.h).
 *
 * Owns: word counting, the merge loop and writing vocab.json / merges.txt.  Does not own:
 * the pre-tokenizer (bpe.c, through bpe_pretokenize) or loading the result (bpe.c).
 *
 * The merge loop is the usual incremental one (Sennrich et al. 2016; Hugging Face
 * tokenizers' BpeTrainer): distinct words with their counts, pair counts weighted by them,
 * for each pair the list of words it occurs in, and a max-heap of (count, pair) whose
 * stale entries are re-checked when they surface.  A merge rewrites only the words that
 * contain the pair.  Reference for the byte alphabet: openai/gpt-2 encoder.py
 * bytes_to_unicode.
 */
#include "engine/bpe_train.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/err.h"
#include "engine/tokenizer_impl.h"

typedef struct {
    int *sym;      /* current symbols (token ids) */
    int n;
    int64_t count; /* occurrences of the word in the text */
    int stamp;     /* last merge that rewrote it */
} Word;

typedef struct {
    int64_t count;
    int a, b;
    int *words;    /* words it occurs in (may repeat; checked on use) */
    int n_words, cap_words;
    int pushed;    /* 1 + the merge after which it was last pushed */
} Pair;

typedef struct {
    int64_t count;
    int pair;
} HeapEnt;

typedef struct {
    TokStrMap word_index;   /* word bytes -> index */
    Word *w;
    int n_w, cap_w;
    TokIntMap pair_index;   /* (a << 32 | b) -> index into p */
    Pair *p;
    int n_p, cap_p;
    HeapEnt *heap;
    size_t n_heap, cap_heap;
    char **tok;             /* token bytes by id */
    size_t *tok_len;
    int n_tok;
    TokStrMap tok_index;    /* token bytes -> id (a merge may rebuild an existing string) */
    int *merge_a, *merge_b;
    int n_merges;
} Trainer;

static int add_word(void *ctx, const char *s, size_t n)
{
    Trainer *t = ctx;
    int64_t idx;
    if (tokenizer_strmap_get(&t->word_index, s, n, &idx)) {
        t->w[idx].count++;
        return 0;
    }
    if (n > (size_t)INT32_MAX) return ERR(ERR_RANGE, "tokenizer train: a pre-token of %zu bytes", n);
    if (t->n_w == t->cap_w) {
        t->cap_w = t->cap_w ? 2 * t->cap_w : 1024;
        t->w = xrealloc(t->w, sizeof(Word) * (size_t)t->cap_w);
    }
    Word *w = &t->w[t->n_w];
    w->n = (int)n;
    w->sym = xmalloc(sizeof(int) * n);
    w->count = 1;
    w->stamp = -1;
    /* symbols start as byte ids; byte_id is filled before counting */
    for (size_t i = 0; i < n; i++) w->sym[i] = (int)(unsigned char)s[i];
    tokenizer_strmap_put(&t->word_index, s, n, t->n_w);
    t->n_w++;
    return 0;
}

static int heap_before(const HeapEnt *x, const HeapEnt *y, const Pair *p)
{
    if (x->count != y->count) return x->count > y->count;
    const Pair *a = &p[x->pair], *b = &p[y->pair];
    if (a->a != b->a) return a->a < b->a;
    return a->b < b->b;
}

static void heap_push(Trainer *t, int pair)
{
    if (t->n_heap == t->cap_heap) {
        t->cap_heap = t->cap_heap ? 2 * t->cap_heap : 4096;
        t->heap = xrealloc(t->heap, sizeof(HeapEnt) * t->cap_heap);
    }
    size_t i = t->n_heap++;
    t->heap[i] = (HeapEnt){t->p[pair].count, pair};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!heap_before(&t->heap[i], &t->heap[up], t->p)) break;
        HeapEnt tmp = t->heap[i]; t->heap[i] = t->heap[up]; t->heap[up] = tmp;
        i = up;
    }
}

static HeapEnt heap_pop(Trainer *t)
{
    HeapEnt top = t->heap[0];
    t->heap[0] = t->heap[--t->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < t->n_heap && heap_before(&t->heap[l], &t->heap[best], t->p)) best = l;
        if (r < t->n_heap && heap_before(&t->heap[r], &t->heap[best], t->p)) best = r;
        if (best == i) break;
        HeapEnt tmp = t->heap[i]; t->heap[i] = t->heap[best]; t->heap[best] = tmp;
        i = best;
    }
    return top;
}

static int pair_of(Trainer *t, int a, int b)
{
    const uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    int64_t idx;
    if (tokenizer_intmap_get(&t->pair_index, key, &idx)) return (int)idx;
    if (t->n_p == t->cap_p) {
        t->cap_p = t->cap_p ? 2 * t->cap_p : 4096;
        t->p = xrealloc(t->p, sizeof(Pair) * (size_t)t->cap_p);
    }
    t->p[t->n_p] = (Pair){.a = a, .b = b};
    tokenizer_intmap_put(&t->pair_index, key, t->n_p);
    return t->n_p++;
}

static void pair_add_word(Pair *p, int w)
{
    if (p->n_words && p->words[p->n_words - 1] == w) return;
    if (p->n_words == p->cap_words) {
        p->cap_words = p->cap_words ? 2 * p->cap_words : 4;
        p->words = xrealloc(p->words, sizeof(int) * (size_t)p->cap_words);
    }
    p->words[p->n_words++] = w;
}

/* Adds sign * count of every adjacent pair of word wi; with sign > 0 also records the
 * word in each pair's list. */
static void count_word(Trainer *t, int wi, int sign)
{
    Word *w = &t->w[wi];
    for (int i = 0; i + 1 < w->n; i++) {
        int pi = pair_of(t, w->sym[i], w->sym[i + 1]);
        Pair *p = &t->p[pi];
        p->count += sign * w->count;
        if (sign > 0) pair_add_word(p, wi);
    }
}

static int add_token(Trainer *t, const char *bytes, size_t len)
{
    int64_t id;
    if (tokenizer_strmap_get(&t->tok_index, bytes, len, &id)) return (int)id;
    t->tok = xrealloc(t->tok, sizeof(char *) * (size_t)(t->n_tok + 1));
    t->tok_len = xrealloc(t->tok_len, sizeof(size_t) * (size_t)(t->n_tok + 1));
    t->tok[t->n_tok] = xmalloc(len ? len : 1);
    memcpy(t->tok[t->n_tok], bytes, len);
    t->tok_len[t->n_tok] = len;
    tokenizer_strmap_put(&t->tok_index, bytes, len, t->n_tok);
    return t->n_tok++;
}

/* GPT-2's byte order: printable Latin-1 bytes first, in byte order, then the rest. */
static int printable_byte(int c) { return (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || c >= 0xae; }

static void byte_tables(uint32_t *byte_cp, int *byte_id)
{
    int n = 0, id = 0;
    for (int c = 0; c < 256; c++) if (printable_byte(c)) byte_id[c] = id++;
    for (int c = 0; c < 256; c++) if (!printable_byte(c)) byte_id[c] = id++;
    for (int c = 0; c < 256; c++) byte_cp[c] = printable_byte(c) ? (uint32_t)c : (uint32_t)(256 + n++);
}

typedef struct { char *s; size_t n, cap; } Buf;

static void put(Buf *b, const char *s, size_t n)
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

/* A token's GPT-2 spelling: each byte as its code point; JSON-escaped when json. */
static void put_spelling(Buf *b, const uint32_t *byte_cp, const char *s, size_t len, int json)
{
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = byte_cp[(unsigned char)s[i]];
        char tmp[8];
        size_t k;
        if (json && (cp == '"' || cp == '\\')) { tmp[0] = '\\'; tmp[1] = (char)cp; k = 2; }
        else if (json && cp >= 0x80) k = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
        else k = tokenizer_utf8_encode(cp, tmp);
        put(b, tmp, k);
    }
}

static void trainer_done(Trainer *t)
{
    tokenizer_strmap_done(&t->word_index);
    for (int i = 0; i < t->n_w; i++) free(t->w[i].sym);
    free(t->w);
    tokenizer_intmap_done(&t->pair_index);
    for (int i = 0; i < t->n_p; i++) free(t->p[i].words);
    free(t->p);
    free(t->heap);
    for (int i = 0; i < t->n_tok; i++) free(t->tok[i]);
    free(t->tok);
    free(t->tok_len);
    tokenizer_strmap_done(&t->tok_index);
    free(t->merge_a);
    free(t->merge_b);
}

/* Rewrites word wi with every non-overlapping (a, b) -> n, left to right. */
static void merge_word(Word *w, int a, int b, int n)
{
    int o = 0;
    for (int i = 0; i < w->n; i++) {
        if (i + 1 < w->n && w->sym[i] == a && w->sym[i + 1] == b) {
            w->sym[o++] = n;
            i++;
        } else {
            w->sym[o++] = w->sym[i];
        }
    }
    w->n = o;
}

int bpe_train(const char *text, size_t len, int vocab_size, BpeTrainResult *out)
{
    memset(out, 0, sizeof *out);
    if (vocab_size < 258 || vocab_size > (1 << 20))
        return ERR(ERR_ARG, "tokenizer train: vocabulary size %d out of range (258..%d)", vocab_size, 1 << 20);
    if (len == 0) return ERR(ERR_ARG, "tokenizer train: empty text");
    Trainer t;
    memset(&t, 0, sizeof t);
    tokenizer_strmap_init(&t.word_index);
    tokenizer_intmap_init(&t.pair_index);
    tokenizer_strmap_init(&t.tok_index);
    int rc = bpe_pretokenize(text, len, add_word, &t);
    if (rc) { trainer_done(&t); return rc; }

    uint32_t byte_cp[256];
    int byte_id[256];
    byte_tables(byte_cp, byte_id);
    int id_byte[256];
    for (int c = 0; c < 256; c++) id_byte[byte_id[c]] = c;
    for (int id = 0; id < 256; id++) {
        char ch = (char)id_byte[id];
        add_token(&t, &ch, 1);
    }
    for (int i = 0; i < t.n_w; i++)
        for (int k = 0; k < t.w[i].n; k++) t.w[i].sym[k] = byte_id[t.w[i].sym[k]];
    for (int i = 0; i < t.n_w; i++) count_word(&t, i, +1);
    for (int i = 0; i < t.n_p; i++) if (t.p[i].count > 0) heap_push(&t, i);

    const int max_merges = vocab_size - 257;
    t.merge_a = xmalloc(sizeof(int) * (size_t)max_merges);
    t.merge_b = xmalloc(sizeof(int) * (size_t)max_merges);
    int *touched = NULL, n_touched = 0, cap_touched = 0;
    while (t.n_merges < max_merges && t.n_heap > 0) {
        HeapEnt e = heap_pop(&t);
        Pair *p = &t.p[e.pair];
        if (e.count != p->count) {           /* stale: counts only fall for old pairs */
            if (p->count > 0) heap_push(&t, e.pair);
            continue;
        }
        if (p->count < 2) break;
        const int a = p->a, b = p->b;
        /* the merged token's bytes */
        size_t la = t.tok_len[a], lb = t.tok_len[b];
        char *joined = xmalloc(la + lb);
        memcpy(joined, t.tok[a], la);
        memcpy(joined + la, t.tok[b], lb);
        const int n = add_token(&t, joined, la + lb);
        free(joined);
        const int m = t.n_merges++;
        t.merge_a[m] = a;
        t.merge_b[m] = b;
        /* rewrite the words that hold (a, b); p may move as pairs are added: copy the list */
        const int nw = t.p[e.pair].n_words;
        int *list = xmalloc(sizeof(int) * (size_t)(nw ? nw : 1));
        memcpy(list, t.p[e.pair].words, sizeof(int) * (size_t)nw);
        n_touched = 0;
        for (int k = 0; k < nw; k++) {
            Word *w = &t.w[list[k]];
            if (w->stamp == m) continue;
            w->stamp = m;
            int has = 0;
            for (int i = 0; i + 1 < w->n && !has; i++) has = w->sym[i] == a && w->sym[i + 1] == b;
            if (!has) continue;
            count_word(&t, list[k], -1);
            merge_word(w, a, b, n);
            count_word(&t, list[k], +1);
            if (n_touched == cap_touched) {
                cap_touched = cap_touched ? 2 * cap_touched : 256;
                touched = xrealloc(touched, sizeof(int) * (size_t)cap_touched);
            }
            touched[n_touched++] = list[k];
        }
        free(list);
        /* only pairs holding the new token can have grown: push their current counts */
        for (int k = 0; k < n_touched; k++) {
            Word *w = &t.w[touched[k]];
            for (int i = 0; i + 1 < w->n; i++)
                if (w->sym[i] == n || w->sym[i + 1] == n) {
                    int pi = pair_of(&t, w->sym[i], w->sym[i + 1]);
                    if (t.p[pi].pushed != m + 1) {
                        t.p[pi].pushed = m + 1;
                        heap_push(&t, pi);
                    }
                }
        }
    }
    free(touched);

    /* vocab.json and merges.txt */
    Buf v = {0}, g = {0};
    put(&v, "{", 1);
    for (int id = 0; id < t.n_tok; id++) {
        char num[32];
        put(&v, id ? ", \"" : "\"", id ? 3 : 1);
        put_spelling(&v, byte_cp, t.tok[id], t.tok_len[id], 1);
        put(&v, num, (size_t)snprintf(num, sizeof num, "\": %d", id));
    }
    char num[48];
    put(&v, num, (size_t)snprintf(num, sizeof num, "%s\"<|endoftext|>\": %d}", t.n_tok ? ", " : "", t.n_tok));
    put(&g, "#version: 0.2\n", 14);
    for (int k = 0; k < t.n_merges; k++) {
        put_spelling(&g, byte_cp, t.tok[t.merge_a[k]], t.tok_len[t.merge_a[k]], 0);
        put(&g, " ", 1);
        put_spelling(&g, byte_cp, t.tok[t.merge_b[k]], t.tok_len[t.merge_b[k]], 0);
        put(&g, "\n", 1);
    }
    out->vocab_json = v.s;
    out->vocab_len = v.n;
    out->merges = g.s;
    out->merges_len = g.n;
    out->vocab_size = t.n_tok + 1;
    out->n_merges = t.n_merges;
    trainer_done(&t);
    return 0;
}

void bpe_train_result_done(BpeTrainResult *r)
{
    if (!r) return;
    free(r->vocab_json);
    free(r->merges);
    memset(r, 0, sizeof *r);
}

static int write_all(const char *path, const char *s, size_t n)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = ERR(ERR_IO, "%s: cannot create (%s)", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    int bad = fwrite(s, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return ERR(ERR_IO, "%s: write failed", path);
    }
    free(tmp);
    return 0;
}

int bpe_train_files(const char *data_path, int vocab_size, const char *out_dir,
                    BpeTrainResult *info)
{
    char *text;
    size_t len;
    int rc = tokenizer_read_file(data_path, &text, &len);
    if (rc) return rc;
    BpeTrainResult r;
    rc = bpe_train(text, len, vocab_size, &r);
    free(text);
    if (rc) return err_prefix("%s", data_path);
    struct stat st;
    if (stat(out_dir, &st) != 0 && mkdir(out_dir, 0777) != 0)
        rc = ERR(ERR_IO, "%s: cannot create directory (%s)", out_dir, strerror(errno));
    else if (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = ERR(ERR_IO, "%s: not a directory", out_dir);
    if (!rc) {
        char *vp = xasprintf("%s/vocab.json", out_dir), *mp = xasprintf("%s/merges.txt", out_dir);
        rc = write_all(vp, r.vocab_json, r.vocab_len);
        if (!rc) rc = write_all(mp, r.merges, r.merges_len);
        free(vp);
        free(mp);
    }
    if (!rc && info) *info = r;
    else bpe_train_result_done(&r);
    return rc;
}
