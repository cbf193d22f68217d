/* tokenizer — one interface over every tokenizer Lectern knows:
 *   - GPT-2 byte-level BPE (bpe.c): vocab.json + merges.txt, PCRE2 pre-tokenizer, exact
 *     against tiktoken's `gpt2` encoding;
 *   - character-level (chartok.c): one token per Unicode code point of a given alphabet;
 *   - llama2.c's sentencepiece-style tokenizer.bin (sptok.c, engine/sptok.h);
 *   - llm.c's gpt2_tokenizer.bin, decode only (llmc.c).
 * Texts are (pointer, length) byte strings: they may contain NUL and invalid UTF-8.
 */
#ifndef LECTERN_TOKENIZER_H
#define LECTERN_TOKENIZER_H

#include <stddef.h>

typedef struct Tokenizer Tokenizer;

/* TOK_LLMC_TABLE: llm.c's gpt2_tokenizer.bin, a table of GPT-2 token bytes that decodes
 * only (encode fails with ERR_UNSUPPORTED; GPT-2 BPE from vocab.json + merges.txt encodes). */
typedef enum { TOK_GPT2_BPE = 1, TOK_CHAR = 2, TOK_LLAMA2C = 3, TOK_LLMC_TABLE = 4 } TokenizerKind;

/* GPT-2 BPE from files.  Errors name the file and the problem (malformed JSON, a merges
 * line that is not two tokens known to the vocabulary, a missing file, ...). */
int tokenizer_load_gpt2(Tokenizer **out, const char *vocab_json_path, const char *merges_path);
/* GPT-2 BPE from in-memory texts (e.g. a model's safetensors metadata); `origin` names
 * where they came from in messages. */
int tokenizer_gpt2_from_text(Tokenizer **out, const char *vocab_json, size_t vocab_len,
                             const char *merges, size_t merges_len, const char *origin);
/* Looks for vocab.json + merges.txt in dir. */
int tokenizer_load_dir(Tokenizer **out, const char *dir);

/* Character tokenizer over the code points of alphabet (UTF-8); token i = i-th code point. */
int tokenizer_char_new(Tokenizer **out, const char *alphabet, size_t len);

void tokenizer_free(Tokenizer *t);  /* NULL is a no-op */

TokenizerKind tokenizer_kind(const Tokenizer *t);
int tokenizer_vocab_size(const Tokenizer *t);
/* The end-of-text / BOS id (GPT-2: 50256 "<|endoftext|>"), or -1 when none. */
int tokenizer_eot(const Tokenizer *t);

/* Encodes text[0..len).  *ids is allocated (xmalloc) and owned by the caller; *n set.
 * Never fails on odd bytes: invalid UTF-8 is encoded byte by byte (see README). */
int tokenizer_encode(Tokenizer *t, const char *text, size_t len, int **ids, size_t *n);

/* The raw bytes of token id (not NUL-terminated; *len set); NULL for an invalid id. */
const char *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len);

/* Decodes ids into a newly allocated byte string (NUL-terminated for convenience; *len
 * excludes it).  Exact inverse of encode for byte-level BPE. */
char *tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, size_t *len);

/* Finds the id whose bytes are exactly s[0..len), or -1 (for `force TOKEN`). */
int tokenizer_lookup(const Tokenizer *t, const char *s, size_t len);

/* Serialises the tokenizer's defining files as texts (GPT-2: vocab.json and merges.txt;
 * char: the alphabet) so a model file can carry them in its metadata.  Returned strings are
 * allocated; *b may be NULL when the kind has only one part. */
int tokenizer_export(const Tokenizer *t, char **a, size_t *alen, char **b, size_t *blen);

#endif
