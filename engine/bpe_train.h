/* bpe_train — learning a GPT-2-style byte-level BPE from text (`lectern tokenizer train`).
 *
 * The text is cut by GPT-2's own pre-tokenizer (bpe_pretokenize, the split encoding uses);
 * merges never cross a pre-token.  The vocabulary is the 256 byte tokens (ids 0..255 in
 * GPT-2's byte order, so they equal GPT-2's first 256 ids), then one token per merge in the
 * order learned, then "<|endoftext|>" last.  Each step merges the most frequent adjacent
 * pair; ties go to the pair whose left token has the smaller id, then the smaller right id
 * (earlier-learned tokens first), so the result depends on the text alone.  Training stops
 * at vocab_size tokens or when no pair occurs twice.
 * The output is a vocab.json and a merges.txt that tokenizer_load_gpt2 reads unchanged.
 */
#ifndef LECTERN_BPE_TRAIN_H
#define LECTERN_BPE_TRAIN_H

#include <stddef.h>

typedef struct {
    char *vocab_json;     /* {"token": id, ...} in GPT-2's spelling */
    size_t vocab_len;
    char *merges;         /* "#version: 0.2\n" + one "a b" line per merge */
    size_t merges_len;
    int vocab_size;       /* tokens in vocab_json (may be below the request) */
    int n_merges;
} BpeTrainResult;

/* Learns up to vocab_size tokens (258 .. 1<<20: the bytes, at least one merge, the end of
 * text token) from text[0..len).  ERR_ARG for a size out of range or an empty text. */
int bpe_train(const char *text, size_t len, int vocab_size, BpeTrainResult *out);
void bpe_train_result_done(BpeTrainResult *r);   /* NULL-safe */

/* Reads data_path, trains, and writes out_dir/vocab.json and out_dir/merges.txt (the
 * directory is created if missing).  Errors name the file. */
int bpe_train_files(const char *data_path, int vocab_size, const char *out_dir,
                    BpeTrainResult *info);

#endif
