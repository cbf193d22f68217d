/* sptok — llama2.c's sentencepiece-style tokenizer (tokenizer.bin) as the TOK_LLAMA2C kind
 * behind engine/tokenizer.h, plus the run.c-compatible entry points `--compat llama2c` needs.
 *
 * tokenizer.bin: int32 max_token_length, then per token: float32 score, int32 byte length,
 * the bytes.  The number of tokens is not in the file: it is the model's vocab_size.
 * Ids 0 <unk>, 1 BOS, 2 EOS; 3..258 the byte tokens "<0x00>".."<0xFF>" (id = byte + 3).
 *
 * Through the generic interface: tokenizer_encode() is run.c's encode(text, bos=0, eos=0)
 * (dummy-prefix " " for non-empty text, code points looked up, byte fallback, merges by
 * score), tokenizer_decode() concatenates run.c's decode() of each id given the one before
 * (a piece after BOS loses its leading space; "<0xNN>" pieces become the raw byte),
 * tokenizer_eot() is BOS (1).
 */
#ifndef LECTERN_SPTOK_H
#define LECTERN_SPTOK_H

#include <stddef.h>

#include "engine/tokenizer.h"

/* Reads tokenizer.bin with vocab_size tokens (0: as many as the file holds).  Errors
 * (ERR_IO, ERR_FORMAT) name the file: truncated entries, negative lengths, a token longer
 * than max_token_length, fewer tokens than vocab_size. */
int sptok_load(Tokenizer **out, const char *path, int vocab_size);
/* The same from a buffer (copied); `name` is used in messages. */
int sptok_parse(Tokenizer **out, const void *buf, size_t len, int vocab_size, const char *name);

/* Rebuilds a tokenizer from the text tokenizer_export() makes for this kind (safetensors
 * metadata kind "llama2c"). */
int sptok_from_text(Tokenizer **out, const char *text, size_t len, const char *origin);

/* run.c's encode(): BOS (1) first when bos, EOS (2) last when eos.  *ids allocated. */
int sptok_encode_llama2c(Tokenizer *t, const char *text, size_t len, int bos, int eos,
                         int **ids, size_t *n);

/* run.c's decode(prev_token, token): the piece's bytes (*len set), the leading space
 * dropped after BOS, a "<0xNN>" piece turned into its byte.  NULL for an invalid id.
 * Valid while t lives. */
const char *sptok_decode_llama2c(const Tokenizer *t, int prev, int id, size_t *len);

/* What run.c's generate() prints for that step (decode, then safe_printf): like
 * sptok_decode_llama2c, but cut at the first NUL (printf "%s") and empty for a one-byte piece
 * that is neither printable nor whitespace in the C locale. */
const char *sptok_print_llama2c(const Tokenizer *t, int prev, int id, size_t *len);

/* The piece's score (merge priority), or NAN for an invalid id. */
float sptok_score(const Tokenizer *t, int id);

#endif
