/* llama2c — the llama2.c things the REPL uses directly: writing checkpoints (`lectern
 * convert`) and run.c's generation loop for `lectern generate --compat llama2c`.
 * Loading goes through model_load (format detected by content); the tokenizer's run.c
 * entry points are in engine/sptok.h.
 */
#ifndef LECTERN_LLAMA2C_H
#define LECTERN_LLAMA2C_H

#include <stddef.h>

#include "engine/model.h"

/* Writes m as llama2.c version 0 (legacy), 1 (fp32 export) or 2 (Q8_0 export, group size
 * as export.py picks it: 64 halved until it divides dim).  m must be a Llama config
 * (RMSNorm eps 1e-5, RoPE theta 10000, SwiGLU, no biases); GPT-2 gives ERR_UNSUPPORTED.
 * Weights may be fp32 in either layout or Q8_0.  Atomic (temporary file + rename). */
int llama2c_write(const Model *m, const char *path, int version);
/* Version 2 with a chosen group size (> 0); every tensor size must be a multiple of it. */
int llama2c_write_q8(const Model *m, const char *path, int group);

/* Picks the next token from logits (vocab values); NULL means argmax (temperature 0, the
 * first maximum as run.c's sample_argmax). */
typedef int (*Llama2cPick)(const float *logits, int vocab, void *ctx);
/* Receives what run.c prints, piece by piece (bytes, not NUL-terminated). */
typedef void (*Llama2cEmit)(const char *bytes, size_t len, void *ctx);

/* run.c's generate(): encodes prompt (BOS, dummy prefix, merges), then runs one forward
 * pass per position, `steps` passes in all counting the prompt (steps <= 0 or past the
 * context: the model's context, as run.c's main does).  While the prompt lasts the next
 * token is the prompt's; after it, pick().  A next token equal to BOS (1) ends generation
 * unprinted; every other one is emitted as run.c prints it (sptok_print_llama2c), and a
 * final "\n" closes the output.  *passes (may be NULL) receives the forward passes run;
 * ids/n_ids (may be NULL) the whole sequence: BOS, prompt, generated (allocated).
 * Needs m->tok of kind TOK_LLAMA2C (ERR_STATE otherwise). */
int llama2c_generate(const Model *m, const char *prompt, size_t len, int steps,
                     Llama2cPick pick, void *pick_ctx, Llama2cEmit emit, void *emit_ctx,
                     int *passes, int **ids, size_t *n_ids);

#endif
