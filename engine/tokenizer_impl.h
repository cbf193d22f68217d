/* tokenizer_impl — what the tokenizer kinds share behind engine/tokenizer.h.
 *
 * Not part of the public interface: only engine/tokenizer.c and the files that implement a
 * kind (bpe.c, chartok.c, and later a llama2.c tokenizer) include it.  A new kind:
 *   1. fills a TokenizerOps table (encode is required; decode/export may be NULL);
 *   2. builds its Tokenizer with tokenizer_alloc() + tokenizer_set_vocab();
 *   3. keeps its own state behind Tokenizer.impl, released by ops->free_impl;
 *   4. gets a public constructor declared in tokenizer.h (defined in tokenizer.c or in its
 *      own file).
 * token_bytes, lookup and the default decode (concatenate token bytes) then work unchanged.
 */
#ifndef LECTERN_TOKENIZER_IMPL_H
#define LECTERN_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

/* A growable array of token ids: the output of every encoder. */
typedef struct {
    int *v;
    size_t n, cap;
} TokIds;

void tokenizer_ids_push(TokIds *ids, int id);
void tokenizer_ids_append(TokIds *ids, const int *src, size_t n);

/* Byte-string -> int64 hash map (open addressing).  Keys are copied into the map's own
 * arena, so callers may pass transient buffers. */
typedef struct {
    uint64_t hash;
    size_t off;  /* key bytes at arena + off; SIZE_MAX marks an empty slot */
    size_t len;
    int64_t val;
} TokStrSlot;

typedef struct {
    TokStrSlot *slots; /* (cap) */
    size_t cap, count;
    char *arena;       /* (arena_len) key bytes */
    size_t arena_len, arena_cap;
} TokStrMap;

void tokenizer_strmap_init(TokStrMap *m);
void tokenizer_strmap_done(TokStrMap *m);
void tokenizer_strmap_clear(TokStrMap *m); /* keeps the memory for reuse */
/* Returns 1 and sets *val when key is present, else 0. */
int tokenizer_strmap_get(const TokStrMap *m, const char *key, size_t len, int64_t *val);
/* Inserts key -> val and returns 0; returns 1 (map unchanged) when key is already there. */
int tokenizer_strmap_put(TokStrMap *m, const char *key, size_t len, int64_t val);

/* uint64 -> int64 hash map; the key UINT64_MAX is reserved. */
typedef struct {
    uint64_t *keys; /* (cap) */
    int64_t *vals;  /* (cap) */
    size_t cap, count;
} TokIntMap;

void tokenizer_intmap_init(TokIntMap *m);
void tokenizer_intmap_done(TokIntMap *m);
int tokenizer_intmap_get(const TokIntMap *m, uint64_t key, int64_t *val);
int tokenizer_intmap_put(TokIntMap *m, uint64_t key, int64_t val);

/* Length (1..4) of the well-formed UTF-8 sequence at s[0..n) and its code point in *cp, or 0
 * when s does not start with one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF; the
 * same definition PCRE2 checks, which bpe.c relies on to pass PCRE2_NO_UTF_CHECK). */
size_t tokenizer_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 into out (room for 4) and returns its length. */
size_t tokenizer_utf8_encode(uint32_t cp, char *out);

/* A short, printable rendering of s for one-line error messages (non-printable bytes as
 * \xHH, long strings cut with "..."); allocated, caller frees. */
char *tokenizer_quote(const char *s, size_t len);

/* Reads a whole file into an allocated buffer (NUL-terminated; *len excludes it).  Returns 0,
 * or ERR_IO with a message naming the path. */
int tokenizer_read_file(const char *path, char **data, size_t *len);

typedef struct TokenizerOps {
    /* Appends the ids of text[0..len) to out.  Returns 0 or a negative ERR_* code. */
    int (*encode)(Tokenizer *t, const char *text, size_t len, TokIds *out);
    /* NULL: decode concatenates the token bytes.  Otherwise returns an allocated,
     * NUL-terminated string (NULL on error, with the error set); ids are already checked. */
    char *(*decode)(const Tokenizer *t, const int *ids, size_t n, size_t *len);
    /* As tokenizer_export. */
    int (*export_texts)(const Tokenizer *t, char **a, size_t *alen, char **b, size_t *blen);
    /* Releases t->impl (NULL-safe). */
    void (*free_impl)(void *impl);
} TokenizerOps;

struct Tokenizer {
    TokenizerKind kind;
    const TokenizerOps *ops;
    int vocab_size;
    int eot;           /* end-of-text / BOS id, or -1 */
    char *tok_blob;    /* every token's bytes, back to back */
    size_t *tok_off;   /* (vocab_size + 1): token i = tok_blob[tok_off[i] .. tok_off[i+1]) */
    TokStrMap index;   /* token bytes -> lowest id with those bytes */
    void *impl;        /* the kind's own state */
};

/* A new tokenizer with no vocabulary (eot -1). */
Tokenizer *tokenizer_alloc(TokenizerKind kind, const TokenizerOps *ops, void *impl);
/* Sets the vocabulary: token i has bytes[i][0..lens[i]).  Copies everything.  When two ids
 * share the same bytes, lookup finds the lower one. */
void tokenizer_set_vocab(Tokenizer *t, int n, const char *const *bytes, const size_t *lens);

/* Constructors of the kinds (called by tokenizer.c).  Origins name the texts in messages. */
int bpe_new(Tokenizer **out, const char *vocab_json, size_t vocab_len, const char *vocab_origin,
            const char *merges, size_t merges_len, const char *merges_origin);
int chartok_new(Tokenizer **out, const char *alphabet, size_t len);

/* GPT-2's pre-tokenizer on its own (bpe.c), for training a BPE on the same split that
 * encoding uses: fn(ctx, piece, n) is called for each pre-token of text[0..len) in order
 * (a byte that does not start well-formed UTF-8 is a piece of its own).  Returns 0, the
 * first nonzero value fn returned, or a negative ERR_* from PCRE2. */
typedef int (*BpePieceFn)(void *ctx, const char *s, size_t n);
int bpe_pretokenize(const char *text, size_t len, BpePieceFn fn, void *ctx);

#endif
