/* loaders — checkpoint formats beside safetensors, internal to engine/ (model.c dispatches).
 *
 * model_load() reads the first LOADER_PROBE_BYTES of a file (fewer if the file is shorter),
 * asks each *_probe whether the bytes look like its format (by content, never by file
 * name), and calls the *_load of the most confident one:
 *   llama2c_probe  2 = "ak42" magic (versioned export), 1 = a plausible legacy header, 0 = no
 *   llmc_probe     2 = llm.c GPT-2 checkpoint magic 20240326, 0 = no
 * A *_load validates the whole header against the file size (overflow-checked) before it
 * points a single weight into the mapping; on failure *out is untouched and the message
 * names the file and the problem (ERR_IO, ERR_FORMAT, ERR_UNSUPPORTED).
 *
 * The loaded Model (built with model_new, freed with model_free) owns its `store`: the
 * mapping and any converted buffers, released by loaders_store_free.
 */
#ifndef LECTERN_LOADERS_H
#define LECTERN_LOADERS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"

#define LOADER_PROBE_BYTES 1024  /* model_io_load_other reads this many for the probes */

/* ---- llama2.c (engine/llama2c.c) ---------------------------------------------------- */

int llama2c_probe(const void *head, size_t n);

/* Loads a llama2.c checkpoint: legacy (version 0, 7 int32 header), export version 1 (fp32)
 * or version 2 (int8 Q8_0).  tokenizer_path: a llama2.c tokenizer.bin; NULL looks for
 * tokenizer.bin beside the checkpoint (absent: m->tok stays NULL). */
int llama2c_load(Model **out, const char *path, const char *tokenizer_path);

/* The same validation and model over a buffer the caller keeps alive for the model's
 * lifetime (tests, fuzzing); buf must be 4-byte aligned.  No tokenizer; `name` is used in
 * messages.  Weight pointers point into buf except for converted tensors. */
int llama2c_parse(Model **out, const void *buf, size_t len, const char *name);

/* Writers and run.c's generation loop: engine/llama2c.h. */

/* ---- llm.c (engine/llmc.c) ---------------------------------------------------------- */

int llmc_probe(const void *head, size_t n);

/* Loads an llm.c GPT-2 checkpoint (version 3 fp32, version 5 bf16 converted to fp32).
 * tokenizer_path: llm.c's gpt2_tokenizer.bin (decode only), a vocab.json, or a directory
 * with vocab.json + merges.txt (GPT-2 BPE, encodes).  NULL looks beside the checkpoint for
 * vocab.json + merges.txt, then gpt2_tokenizer.bin; none: m->tok stays NULL. */
int llmc_load(Model **out, const char *path, const char *tokenizer_path);
int llmc_parse(Model **out, const void *buf, size_t len, const char *name);

/* llm.c's gpt2_tokenizer.bin as a TOK_LLMC_TABLE tokenizer (decode only). */
int llmc_tokenizer_load(Tokenizer **out, const char *path);
int llmc_tokenizer_parse(Tokenizer **out, const void *buf, size_t len, const char *name);
/* From the text tokenizer_export() makes for this kind (safetensors metadata kind "llmc"). */
int llmc_tokenizer_from_text(Tokenizer **out, const char *text, size_t len, const char *origin);
/* 1 when head (n bytes) starts with the gpt2_tokenizer.bin magic. */
int llmc_tokenizer_probe(const void *head, size_t n);

/* ---- shared helpers (engine/loaders.c) ---------------------------------------------- */

/* A read-only mapping of a whole file (len 0: map NULL). */
typedef struct {
    void *map;
    size_t len;
} LoaderMap;

int loaders_map_file(const char *path, LoaderMap *m);  /* ERR_IO with the path */
void loaders_unmap(LoaderMap *m);

/* What a loaded Model's `store` points to: a mapping plus owned buffers. */
typedef struct {
    LoaderMap map;
    void **owned;      /* [n_owned] xmalloc'd buffers (converted tensors) */
    int n_owned;
} LoaderStore;

LoaderStore *loaders_store_new(void);
void *loaders_store_alloc(LoaderStore *s, size_t bytes);  /* owned, 64-byte aligned */
void loaders_store_free(void *store);                      /* the Model's store_free */

/* dir-of(path) + "/" + name, allocated. */
char *loaders_sibling(const char *path, const char *name);
int loaders_is_file(const char *path);
int loaders_is_dir(const char *path);

#endif
