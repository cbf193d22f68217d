/* model_io — what the checkpoint loaders share (internal to engine/): building a Model,
 * Lectern's config JSON, and the dispatch to loaders of non-safetensors formats
 * (llama2.c, llm.c), which are recognised by content, never by file name. */
#ifndef LECTERN_MODEL_IO_H
#define LECTERN_MODEL_IO_H

#include <stddef.h>

#include "engine/model.h"

/* Defaults of an architecture (norm, positions, feed-forward, eps, theta). */
ModelConfig model_config_default(ModelArch arch);
int model_config_from_json(ModelConfig *out, const char *text, size_t len, const char *origin);
char *model_config_to_json(const ModelConfig *c);  /* allocated */

/* A Model with cfg, empty weights ([L] layers allocated), exact causal attention. */
Model *model_new(const ModelConfig *c, const char *path, const char *format);


/* Loads a file that is not safetensors; head holds its first n bytes. */
int model_io_load_other(Model **out, const char *path, const unsigned char *head, size_t n,
                        const char *tokenizer_path);
/* A tokenizer stored in one file (not vocab.json/merges.txt). */
int model_io_load_tokenizer_file(Tokenizer **out, const char *path);

#endif
