/* hfconfig — a Hugging Face GPT-2 config.json read into the few numbers the engine needs.
 *
 * Keys absent from the file take the defaults of transformers' GPT2Config
 * (models/gpt2/configuration_gpt2.py), which are GPT-2 small's.  Values of the wrong JSON type,
 * out of range or inconsistent (n_embd not a multiple of n_head) are errors, as are settings
 * that change the mathematics in ways Lectern's GPT-2 does not implement (an activation other
 * than the tanh GELU, scale_attn_weights false, scale_attn_by_inverse_layer_idx true,
 * add_cross_attention true, a model_type other than gpt2).
 */
#ifndef LECTERN_HFCONFIG_H
#define LECTERN_HFCONFIG_H

#include <stddef.h>

typedef struct {
    int n_layer;              /* L, transformer blocks (HF default 12) */
    int n_head;               /* NH, attention heads (12); n_embd % n_head == 0 */
    int n_embd;               /* C, residual width (768) */
    int n_positions;          /* maxT, rows of wpe (1024) */
    int vocab_size;           /* V, rows of wte (50257) */
    int n_inner;              /* MLP hidden width; 4 * n_embd when the file says null or nothing */
    float layer_norm_epsilon; /* (1e-5) */
    char activation[32];      /* "gelu_new" or "gelu_pytorch_tanh": both the tanh GELU */
    int tie_word_embeddings;  /* 1 when lm_head shares wte (PretrainedConfig default: true) */
} HfGpt2Config;

/* GPT2Config's defaults. */
void hfconfig_defaults(HfGpt2Config *c);

/* Reads path.  Returns 0, or ERR_IO / ERR_FORMAT / ERR_RANGE / ERR_UNSUPPORTED with a message
 * naming path and the key; *out is untouched on error. */
int hfconfig_load(HfGpt2Config *out, const char *path);

/* The same over len bytes of JSON text; name is used in messages. */
int hfconfig_parse(HfGpt2Config *out, const char *json, size_t len, const char *name);

#endif
