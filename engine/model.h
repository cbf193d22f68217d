/* model — a transformer as data: a config, weights pointing into a checkpoint, and a run
 * state (KV cache and scratch).  GPT-2 and Llama are two configs of the same blocks, not
 * two code paths: the norm (LayerNorm / RMSNorm), the position scheme (learned / rotary),
 * the feed-forward (GELU / SwiGLU), biases and grouped-query attention are fields.
 *
 * Ownership: a Model owns its weights' storage (an mmapped file, or buffers converted from
 * F16/BF16) through `store`; Linear and the other weight pointers are views into it.
 * Attention per layer is a runtime setting (AttnSpec): the mask and the kernel are
 * parameters of a block, and the trace names the ones used.
 * References: llama2.c run.c (Config / TransformerWeights / RunState), llm.c train_gpt2.c.
 */
#ifndef LECTERN_MODEL_H
#define LECTERN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

typedef enum { ARCH_GPT2 = 0, ARCH_LLAMA = 1 } ModelArch;
typedef enum { NORM_LAYER = 0, NORM_RMS = 1 } NormKind;
typedef enum { POS_LEARNED = 0, POS_ROPE = 1, POS_NONE = 2 } PosKind;
typedef enum { FFN_GELU_TANH = 0, FFN_SWIGLU = 1 } FfnKind;

typedef struct {
    ModelArch arch;
    int n_layer;       /* L */
    int n_head;        /* NH */
    int n_kv_head;     /* key/value heads (== NH unless grouped-query attention) */
    int n_embd;        /* C */
    int n_ctx;         /* maxT: positions the model was built for */
    int vocab_size;    /* V: real tokens */
    int padded_vocab;  /* Vp >= V: rows stored in wte (llm.c pads to 128) */
    int n_hidden;      /* feed-forward width (GPT-2: 4C) */
    NormKind norm;
    PosKind pos;
    FfnKind ffn;
    int bias;          /* linear layers and norms carry biases */
    int tied_head;     /* output head = wte */
    float norm_eps;    /* GPT-2 1e-5, Llama 1e-5 */
    float rope_theta;  /* 10000 */
} ModelConfig;

/* Weight layouts.  W_OUT_IN: (out, in) rows, as nn.Linear, llm.c and llama2.c store it
 * (y = x W^T).  W_IN_OUT: (in, out), as Hugging Face GPT-2's Conv1D (y = x W).  Neither is
 * ever copied or transposed: the BLAS transpose flag picks the layout. */
typedef enum { W_OUT_IN = 0, W_IN_OUT = 1 } WeightLayout;

typedef struct {
    const float *w;    /* (out, in) or (in, out) per layout, row stride ld */
    const float *b;    /* (out), or NULL */
    int in, out;
    int ld;            /* row stride of w in floats (in for W_OUT_IN, out for W_IN_OUT when
                          unfused; 3C for a column block of HF's fused c_attn) */
    WeightLayout layout;
    /* Q8_0 weights (llama2.c export version 2), or NULL: then w is used.  When set, w may be
     * NULL, layout is W_OUT_IN with ld == in, and in % q8_group == 0: row i, group g has
     * int8 values wq8[i*in + g*q8_group ...] and scale wq8_scale[i*in/q8_group + g].
     * matmul_q8_forward (engine/q8.h) computes with them. */
    const int8_t *wq8;       /* (out, in) */
    const float *wq8_scale;  /* (out, in / q8_group) */
    int q8_group;
} Linear;

typedef struct {
    const float *ln1_w, *ln1_b;  /* (C); ln1_b NULL for RMSNorm */
    Linear q, k, v;              /* C -> C, C -> kv_dim, C -> kv_dim */
    Linear o;                    /* C -> C (attention output projection) */
    const float *ln2_w, *ln2_b;  /* (C) */
    Linear fc;                   /* C -> H  (GPT-2 c_fc; Llama w1) */
    Linear fc_gate;              /* C -> H  (Llama w3; unused for GELU) */
    Linear proj;                 /* H -> C  (GPT-2 mlp.c_proj; Llama w2) */
} LayerWeights;

typedef struct {
    const float *wte;            /* (Vp, C) token embeddings */
    const float *wpe;            /* (maxT, C) learned positions, or NULL */
    LayerWeights *layer;         /* [L] */
    const float *lnf_w, *lnf_b;  /* (C) final norm */
    Linear head;                 /* C -> V (tied: wte, W_OUT_IN) */
} ModelWeights;

typedef enum { MASK_CAUSAL = 0, MASK_BIDIRECTIONAL = 1 } MaskKind;

struct Pattern;  /* engine/pattern.h: sparse attention patterns */
struct Effattn;  /* engine/effattn.h: low-rank and kernel attention */

/* How one layer attends.  pattern and kernel are borrowed (the caller keeps them alive
 * while the spec is in force); a pattern must be built for n_ctx positions. */
typedef struct {
    MaskKind mask;
    const struct Pattern *pattern;  /* NULL: every key the mask allows */
    const struct Effattn *kernel;   /* NULL: exact softmax attention */
} AttnSpec;

typedef struct Model {
    ModelConfig cfg;
    ModelWeights w;
    AttnSpec *attn;              /* [L] runtime setting, default exact causal */
    Tokenizer *tok;              /* owned; may be NULL (ids only) */
    char *path;                  /* file or directory it was loaded from */
    char *format;                /* "safetensors (Hugging Face GPT-2)", ... */
    size_t weight_bytes;         /* bytes of weights as stored (for info and bandwidth) */
    size_t n_params;             /* parameters, tied head counted once */
    void *store;                 /* storage behind the weight pointers */
    void (*store_free)(void *);
} Model;

/* Scratch and KV cache for running one sequence.  Prefill runs in chunks of `chunk` rows. */
typedef struct {
    int max_T;          /* positions the KV cache holds */
    int chunk;          /* rows the activation buffers hold */
    float *key_cache;   /* (L, max_T, kv_dim) */
    float *value_cache; /* (L, max_T, kv_dim) */
    float *x;           /* (chunk, C) residual stream */
    float *xb;          /* (chunk, C) normed input / attention output */
    float *xb2;         /* (chunk, C) */
    float *q;           /* (chunk, C) */
    float *hb;          /* (chunk, H) */
    float *hb2;         /* (chunk, H) */
    float *att;         /* (max(chunk, NH), max_T) attention scores scratch */
    float *logits;      /* (chunk, Vp) */
    int8_t *xq;         /* (chunk, max(C, H)) an input quantised for Q8_0 weights */
    float *xs;          /* (chunk, max(C, H)) its group scales (at most one per value) */
    float *kscratch;    /* scratch of a non-exact attention kernel, grown on first use */
    size_t kscratch_n;
    int nthreads;
} RunState;

/* What a forward pass may record besides logits; every pointer may be NULL, and capture
 * costs nothing when all are. */
typedef struct {
    float *attn;    /* (L, NH, n, pos0 + n): row i = query pos0+i over keys 0..pos0+n-1 */
    float *resid;   /* (L + 1, n, C): residual stream entering layer 0 and after each layer */
} Capture;

/* Loads a model from a safetensors file, a Hugging Face GPT-2 directory, or any other
 * format a loader recognises by content.  tokenizer_path (file or directory) may be NULL:
 * then the tokenizer comes from the model file's metadata or the files beside it.
 * On failure *out is untouched and the message names the file and the problem. */
int model_load(Model **out, const char *path, const char *tokenizer_path);
void model_free(Model *m);   /* NULL is a no-op */

/* A tokenizer from a path: a directory with vocab.json + merges.txt, vocab.json itself, or
 * a one-file tokenizer some loader recognises by content (llama2.c tokenizer.bin, ...). */
int model_load_tokenizer(Tokenizer **out, const char *tokenizer_path);

/* Named shapes for `lectern init` ("gpt2" = 124M, "gpt2-tiny", "stories15M", ...). */
int model_shape(const char *name, ModelConfig *out);
const char *model_shape_names(void);
/* A model of config cfg with GPT-2-style random weights drawn from mt19937(seed). */
int model_random(Model **out, const ModelConfig *cfg, unsigned long seed);
/* Writes m as Lectern's safetensors (config and tokenizer in the metadata), atomically. */
int model_save(const Model *m, const char *path);

/* Builds a model around cfg with weights resolved by name from a lookup function; used by
 * the loaders.  Validates shapes. */
int model_kv_dim(const ModelConfig *c);
int model_head_size(const ModelConfig *c);
int model_config_check(const ModelConfig *c, const char *origin);
void model_count_params(Model *m);

int runstate_init(RunState *s, const ModelConfig *c, int max_T, int chunk);
void runstate_done(RunState *s);

/* Runs tokens[0..n) at positions pos0..pos0+n-1.  The KV cache must hold positions < pos0
 * (from earlier calls); this call fills pos0..pos0+n-1.  Writes logits (Vp floats per row;
 * only the first V are meaningful) of every position into logits (n, Vp) when all_logits,
 * else of the last position only (Vp).  Returns ERR_RANGE if pos0 + n > s->max_T. */
int model_forward(const Model *m, RunState *s, const int *tokens, int n, int pos0,
                  float *logits, int all_logits, const Capture *cap);

/* Final norm + head applied to one residual vector x (C) -> logits (Vp): the logit lens. */
void model_logits_from_resid(const Model *m, const float *x, float *logits, float *scratch);

/* The engine function and file that compute attention for layer l, for status lines,
 * and a short name of the mask/pattern/kernel in force ("causal", "sliding window w=4"). */
const char *model_attn_kernel_name(const Model *m, int layer);
const char *model_attn_mask_name(const Model *m, int layer);

#endif
