/* train — training a GPT-2 model in place: forward with saved activations over (B, T)
 * batches, backward through every operation, AdamW, gradient clipping, a warm-up + cosine
 * learning-rate schedule, gradient accumulation, and checkpoints that resume bit for bit.
 *
 * A Trainer owns one float buffer of parameters laid out exactly as a Hugging Face GPT-2
 * file (Conv1D weights (in, out), the fused c_attn (C, 3C) whose q, k, v are column blocks
 * of row stride 3C), and mirror buffers of the same layout for gradients and the two AdamW
 * moments.  Its Model (trainer_model) is a set of views into that buffer, so the ordinary
 * forward pass, generation and model_save work on the weights being trained.
 * Only the GPT-2 architecture trains (LayerNorm, learned positions, GELU, MHA).
 *
 * Reference: llm.c train_gpt2.c (gpt2_forward/backward/update), nanoGPT train.py
 * (get_lr, weight decay on matrices only, clip_grad_norm_), Loshchilov & Hutter 2019
 * (AdamW).  Engine code: nothing here prints or exits.
 */
#ifndef LECTERN_TRAIN_H
#define LECTERN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"

typedef struct {
    int B, T;             /* a micro-batch: B sequences of T tokens */
    int accum;            /* micro-batches per optimizer step (gradient accumulation) */
    int max_steps;        /* length of the schedule: the cosine reaches min_lr here */
    int warmup;           /* linear warm-up steps */
    float lr, min_lr;     /* peak and final learning rate */
    float beta1, beta2, eps;
    float weight_decay;   /* applied to matrices (2-D tensors) only */
    float grad_clip;      /* global L2 norm limit; 0 turns clipping off */
    float val_frac;       /* share of the token stream held out for validation */
    unsigned long seed;   /* batches are drawn from mt19937(seed) */
} TrainConfig;

TrainConfig train_config_default(void);

/* Threads for BLAS and the OpenMP kernels, process-wide (omp_set_num_threads and
 * openblas_set_num_threads).  A small model trains faster on one thread, and on a shared
 * machine two pools of spinning threads slow each other down. */
void train_set_threads(int n);
/* ERR_ARG with a message naming the bad field. */
int train_config_check(const TrainConfig *tc);

/* One parameter tensor, named with its Hugging Face GPT-2 key. */
typedef struct {
    const char *name;
    float *p, *g;         /* (n) value and gradient */
    size_t n;
    int ndim;
    int64_t shape[2];
    int decay;            /* weight decay applies (matrices) */
} TrainParam;

/* A token stream split into a training part and a validation tail. */
typedef struct {
    int *tokens;          /* (n) */
    size_t n;
    size_t n_train;       /* tokens[0..n_train) train, tokens[n_train..n) validate */
    uint64_t hash;        /* FNV-1a of the tokens: a checkpoint refuses other data */
} TrainData;

/* Copies ids (n) and splits off the last val_frac (at least T + 1 tokens each side when
 * possible).  ERR_ARG when there are fewer than T + 2 tokens. */
int traindata_init(TrainData *d, const int *ids, size_t n, float val_frac, int T);
void traindata_done(TrainData *d);

typedef struct Trainer Trainer;

/* A trainer whose weights are a copy of src (any GPT-2 model: loaded and mmapped, or
 * random); src is not used afterwards.  ERR_UNSUPPORTED for other architectures. */
int trainer_alloc(Trainer **out, const Model *src, const TrainConfig *tc);
/* A trainer with fresh weights: the same draws as model_random(cfg, seed), written
 * directly into the trainer's buffer (no second copy of the model). */
int trainer_alloc_random(Trainer **out, const ModelConfig *cfg, unsigned long seed,
                         const TrainConfig *tc);
void trainer_free(Trainer *tr);   /* NULL is a no-op; frees the model and its tokenizer */

/* The model being trained: views into the trainer's parameters, valid until
 * trainer_free.  Its tokenizer (may be NULL) is owned by the model. */
Model *trainer_model(Trainer *tr);
/* Gives tok to the model (the old one is freed).  ERR_ARG if tok has more tokens than
 * the model's vocabulary. */
int trainer_set_tokenizer(Trainer *tr, Tokenizer *tok);

const TrainConfig *trainer_config(const Trainer *tr);
int trainer_set_config(Trainer *tr, const TrainConfig *tc);   /* checked */
long trainer_step_count(const Trainer *tr);                   /* optimizer steps taken */
int trainer_n_tensors(const Trainer *tr);
const TrainParam *trainer_tensor(const Trainer *tr, int i);   /* HF order */
size_t trainer_n_params(const Trainer *tr);                  /* floats in the buffer */
/* Bytes of parameters, gradients, AdamW moments and activations (for B*T rows) that a
 * run holds: the memory a training run cannot do without. */
size_t trainer_memory_bytes(const Trainer *tr, int B, int T);

/* Forward over inputs (B, T) with activations kept for backward.  targets (B, T) may be
 * NULL (logits only); else *loss (may be NULL) gets the mean cross-entropy (nats).
 * ERR_ARG for a token outside the vocabulary or a target < -1 or >= V (-1 = ignored),
 * ERR_RANGE when T > n_ctx. */
int trainer_forward(Trainer *tr, const int *inputs, const int *targets, int B, int T,
                    float *loss);
/* The per-position probabilities of the last forward (B*T, Vp); NULL before one. */
const float *trainer_probs(const Trainer *tr);
/* Backward of the last forward (which needs targets): gradients of
 * loss_scale * mean cross-entropy are added to the gradient buffer.  ERR_STATE when
 * there was no forward with targets since the last backward. */
int trainer_backward(Trainer *tr, float loss_scale);
void trainer_zero_grad(Trainer *tr);
/* Global L2 norm of the gradient (double accumulation, fixed order). */
double trainer_grad_norm(const Trainer *tr);
/* L2 norm of each tensor's gradient into norms[trainer_n_tensors()]. */
void trainer_grad_norms(const Trainer *tr, double *norms);

/* The schedule's learning rate at optimizer step `step` (0-based). */
float trainer_lr(const Trainer *tr, long step);
/* Clips the gradient to tc.grad_clip (global norm), takes one AdamW step with lr, zeroes
 * the gradient, and counts the step.  *norm_out (may be NULL) gets the norm before
 * clipping.  ERR_RANGE when the norm is not finite (the weights are left untouched). */
int trainer_update(Trainer *tr, float lr, double *norm_out);

typedef struct {
    long step;            /* the step just taken (1-based count after it) */
    float loss;           /* mean training loss over its micro-batches */
    float lr;
    double grad_norm;     /* before clipping */
    long tokens;          /* tokens processed in the step */
} TrainStepInfo;

/* One optimizer step: tc.accum micro-batches drawn at random offsets of the training
 * part of d (from the trainer's generator), forward, backward, update. */
int trainer_step(Trainer *tr, const TrainData *d, TrainStepInfo *info);
/* Mean loss over up to max_batches consecutive (B, T) windows of the validation part
 * (deterministic: no random draws). */
int trainer_eval(Trainer *tr, const TrainData *d, int max_batches, float *loss);

/* A loss curve kept with the trainer (and in its checkpoints). */
typedef struct {
    long step;
    float train, val;     /* val is NAN where none was measured */
} TrainPoint;
void trainer_log(Trainer *tr, long step, float train, float val);
const TrainPoint *trainer_history(const Trainer *tr, int *n);

/* Checkpoint: the model (HF names, loadable by model_load as a model), the AdamW moments
 * (optim.m.<name>, optim.v.<name>), the step, the generator's state, the train config, the
 * data hash and the loss curve, written atomically.  A resumed trainer continues exactly
 * as the uninterrupted one would have. */
int trainer_save(const Trainer *tr, const TrainData *d, const char *path);
/* Reads a checkpoint.  d (may be NULL) must hash as the one saved with it (ERR_STATE
 * otherwise).  The tokenizer comes from the file's metadata. */
int trainer_resume(Trainer **out, const TrainData *d, const char *path);

/* ERR_STATE when tr was resumed from a checkpoint trained on data other than d (after
 * trainer_resume with d == NULL, once the data could be tokenized). */
int trainer_check_data(const Trainer *tr, const TrainData *d);

/* Samples n_new tokens after prompt (n >= 1) from the model being trained; out receives
 * prompt and continuation (n + n_new ids; room needed).  Uses its own KV cache. */
int trainer_sample(Trainer *tr, const int *prompt, int n, int n_new, float temperature,
                   unsigned long seed, int *out);

/* `lectern loss`: the mean next-token cross-entropy of ids (n >= 2) under m (inputs
 * ids[0..n-1), targets ids[1..n)), and when norms is not NULL the gradient's L2 norm per
 * tensor, in HF key order, named by HF keys; release with train_grad_norms_done. */
typedef struct {
    int n;
    char **names;        /* (n) */
    double *norms;       /* (n) */
} TrainGradNorms;
int train_loss(const Model *m, const int *ids, int n, float *loss, TrainGradNorms *norms);
void train_grad_norms_done(TrainGradNorms *g);

#endif
