/* train — GPT-2 training in place (see train.h).
 *
 * Owns: the parameter / gradient / AdamW buffers in Hugging Face GPT-2 layout, the saved
 * activations of one (B, T) micro-batch, the forward and backward passes over them, the
 * optimizer, the schedule, batch sampling, the loss curve and checkpoints.
 * Does not own: the kernels (ops.c for the forwards, ops_backward.c for the backwards), the
 * inference forward (model.c, used for sampling), the file format (safetensors.c).
 *
 * The layer loop reads like llm.c's gpt2_forward / gpt2_backward; the difference is that
 * weights stay in HF's Conv1D layout and every matrix product is a BLAS call on a Linear
 * view (layout + row stride), so a model loaded from an HF file trains unchanged.
 * References: llm.c train_gpt2.c, nanoGPT model.py/train.py, PyTorch AdamW.
 */
#include "engine/train.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "engine/err.h"
#include "engine/model_io.h"
#include "engine/ops.h"
#include "engine/ops_backward.h"
#include "engine/safetensors.h"
#include "engine/sampler.h"

TrainConfig train_config_default(void)
{
    return (TrainConfig){
        .B = 4, .T = 64, .accum = 1, .max_steps = 1000, .warmup = 100,
        .lr = 1e-3f, .min_lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
        .weight_decay = 0.1f, .grad_clip = 1.0f, .val_frac = 0.05f, .seed = 1337,
    };
}

/* OpenBLAS's own calls (its cblas.h is not the one GSL's headers use). */
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

int openblas_get_parallel(void);

/* Inside the trainer OpenBLAS runs single-threaded and the products are split across
 * OpenMP's threads instead (ops_backward.c): one pool of threads, not two spinning against
 * each other.  The caller's setting comes back afterwards (inference keeps its threads).
 * OpenBLAS's OpenMP build (the one the Makefile links) already runs single-threaded inside
 * an OpenMP region, and there openblas_set_num_threads(1) would set OpenMP's own thread
 * count to 1 and serialise the whole trainer (it did: 2.1x llm.c instead of 3.6x). */
static int blas_single(void)
{
    if (openblas_get_parallel() == 2) return 0;  /* 2: the OpenMP build */
    const int n = openblas_get_num_threads();
    if (n != 1) openblas_set_num_threads(1);
    return n;
}

static void blas_restore(int n)
{
    if (n > 1) openblas_set_num_threads(n);
}

void train_set_threads(int n)
{
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int train_config_check(const TrainConfig *tc)
{
#define BAD(...) return ERR(ERR_ARG, __VA_ARGS__)
    if (tc->B < 1 || tc->B > 65536) BAD("train: batch size B=%d out of range", tc->B);
    if (tc->T < 1 || tc->T > (1 << 20)) BAD("train: sequence length T=%d out of range", tc->T);
    if (tc->accum < 1 || tc->accum > 65536) BAD("train: accumulation %d out of range", tc->accum);
    if (tc->max_steps < 1) BAD("train: max_steps %d must be positive", tc->max_steps);
    if (tc->warmup < 0) BAD("train: warmup %d is negative", tc->warmup);
    if (!(tc->lr > 0 && tc->lr < 10)) BAD("train: learning rate %g out of range", (double)tc->lr);
    if (!(tc->min_lr >= 0 && tc->min_lr <= tc->lr)) BAD("train: min_lr %g must lie in [0, lr]", (double)tc->min_lr);
    if (!(tc->beta1 >= 0 && tc->beta1 < 1) || !(tc->beta2 >= 0 && tc->beta2 < 1))
        BAD("train: AdamW betas must lie in [0, 1)");
    if (!(tc->eps > 0 && tc->eps < 1)) BAD("train: AdamW eps %g out of range", (double)tc->eps);
    if (!(tc->weight_decay >= 0 && tc->weight_decay < 10)) BAD("train: weight decay %g out of range", (double)tc->weight_decay);
    if (!(tc->grad_clip >= 0 && isfinite(tc->grad_clip))) BAD("train: grad clip %g out of range", (double)tc->grad_clip);
    if (!(tc->val_frac >= 0 && tc->val_frac < 1)) BAD("train: validation share %g must lie in [0, 1)", (double)tc->val_frac);
    return 0;
#undef BAD
}

/* ---- data ------------------------------------------------------------------------- */

static uint64_t fnv1a(const int *v, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)v[i];
        for (int k = 0; k < 4; k++) {
            h ^= (x >> (8 * k)) & 0xff;
            h *= 1099511628211ull;
        }
    }
    return h;
}

int traindata_init(TrainData *d, const int *ids, size_t n, float val_frac, int T)
{
    memset(d, 0, sizeof *d);
    if (T < 1) return ERR(ERR_ARG, "train data: T=%d must be positive", T);
    if (n < (size_t)T + 2)
        return ERR(ERR_ARG, "train data: %zu tokens, a sequence of T=%d needs at least %d", n, T, T + 2);
    size_t nval = (size_t)((double)n * (double)val_frac);
    if (val_frac > 0 && nval < (size_t)T + 1) nval = (size_t)T + 1;
    if (n - nval < (size_t)T + 1) nval = 0;   /* too short to hold both: train on all */
    d->tokens = xmalloc(n * sizeof(int));
    memcpy(d->tokens, ids, n * sizeof(int));
    d->n = n;
    d->n_train = n - nval;
    d->hash = fnv1a(ids, n);
    return 0;
}

void traindata_done(TrainData *d)
{
    if (!d) return;
    free(d->tokens);
    memset(d, 0, sizeof *d);
}

/* ---- the trainer ------------------------------------------------------------------ */

typedef struct {
    float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
    float *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} LayerParams;

/* Saved activations of one micro-batch; shapes with BT = B*T. */
typedef struct {
    float *res;        /* (L+1, BT, C) residual stream entering each layer, then lnf's input */
    float *ln1;        /* (L, BT, C) */
    float *ln1_mean, *ln1_rstd;  /* (L, BT) */
    float *qkv;        /* (L, BT, 3C) */
    float *att;        /* (L, B, NH, T, T) attention probabilities */
    float *atty;       /* (L, BT, C) attention output before its projection */
    float *res2;       /* (L, BT, C) residual after the attention branch */
    float *ln2;        /* (L, BT, C) */
    float *ln2_mean, *ln2_rstd;  /* (L, BT) */
    float *fch;        /* (L, BT, H) */
    float *fch_gelu;   /* (L, BT, H) */
    float *fch_th;     /* (L, BT, H) the tanh inside GELU, for its backward */
    float *lnf;        /* (BT, C) */
    float *lnf_mean, *lnf_rstd;  /* (BT) */
    float *logits;     /* (BT, Vl): logits, then probabilities, then dlogits (in place) */
    float *losses;     /* (BT) */
    /* backward scratch */
    float *dres;       /* (BT, C) gradient of the residual stream */
    float *dln;        /* (BT, C) */
    float *datty;      /* (BT, C) */
    float *dqkv;       /* (BT, 3C) */
    float *dfch;       /* (BT, H) */
    float *tmp;        /* (BT, C) branch outputs in the forward */
    float *datt;       /* (T, T) attention backward scratch */
} Acts;

struct Trainer {
    ModelConfig cfg;
    TrainConfig tc;
    Model *model;            /* views into params */
    int Vl;                  /* logit columns: Vp (tied head) or V */
    float *params, *grads;   /* (P) each, HF layout */
    float *m, *v;            /* (P) AdamW moments; NULL until the first update */
    size_t P;
    TrainParam *t;           /* (n_t) tensors in HF order */
    char **names;            /* (n_t) their names, owned */
    int n_t;
    float *wte, *wpe, *lnfw, *lnfb, *lmhead;  /* lmhead NULL when tied */
    LayerParams *lp;         /* (L) */
    Linear *lin;             /* (L, 4): qkv, attproj, fc, fcproj per layer */
    Linear head;
    Acts a;
    float *act_mem;
    size_t act_cap;          /* floats in act_mem */
    int B, T;                /* shape of the activations in use */
    int act_threads;         /* threads the attention scratch was sized for */
    int *inputs, *targets;   /* (B, T) copies of the last forward's */
    int have_targets;        /* a forward with targets awaits its backward */
    int n_valid;             /* targets >= 0 in the last forward */
    long step;
    gsl_rng *rng;
    uint64_t data_hash;      /* of the data a resumed checkpoint was trained on */
    size_t data_n;
    int have_data_hash;
    TrainPoint *hist;
    int n_hist, cap_hist;
};

#define G(tr, p) ((tr)->grads + ((p) - (tr)->params))

static int check_trainable(const ModelConfig *c, const char *origin)
{
    int rc = model_config_check(c, origin);
    if (rc) return rc;
    if (c->arch != ARCH_GPT2 || c->norm != NORM_LAYER || c->pos != POS_LEARNED ||
        c->ffn != FFN_GELU_TANH || c->n_kv_head != c->n_head)
        return ERR(ERR_UNSUPPORTED, "%s: only the GPT-2 architecture trains (LayerNorm, learned "
                   "positions, GELU, one key/value head per head)", origin);
    return 0;
}

/* Appends a tensor of shape (d0) or (d0, d1); its pointers are set once the buffer exists. */
static void add_tensor(Trainer *tr, size_t *off, const char *name, int d0, int d1)
{
    const int k = tr->n_t++;
    TrainParam *p = &tr->t[k];
    tr->names[k] = xstrdup(name);
    p->name = tr->names[k];
    p->ndim = d1 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    p->decay = d1 != 0;
    *off += p->n;
}

/* Lays the tensors out (HF order), allocates the buffers and points everything at them. */
static Trainer *trainer_new(const ModelConfig *cfg, const TrainConfig *tc)
{
    Trainer *tr = xcalloc(1, sizeof *tr);
    tr->cfg = *cfg;
    tr->cfg.bias = 1;
    tr->tc = *tc;
    const ModelConfig *c = &tr->cfg;
    const int L = c->n_layer, C = c->n_embd, H = c->n_hidden, Vp = c->padded_vocab;
    const int cap = 3 + 12 * L + 3;
    tr->t = xcalloc((size_t)cap, sizeof(TrainParam));
    tr->names = xcalloc((size_t)cap, sizeof(char *));
    size_t off = 0;
    char name[96];
    add_tensor(tr, &off, "wte.weight", Vp, C);
    add_tensor(tr, &off, "wpe.weight", c->n_ctx, C);
    for (int l = 0; l < L; l++) {
#define N(s) (snprintf(name, sizeof name, "h.%d.%s", l, s), name)
        add_tensor(tr, &off, N("ln_1.weight"), C, 0);
        add_tensor(tr, &off, N("ln_1.bias"), C, 0);
        add_tensor(tr, &off, N("attn.c_attn.weight"), C, 3 * C);
        add_tensor(tr, &off, N("attn.c_attn.bias"), 3 * C, 0);
        add_tensor(tr, &off, N("attn.c_proj.weight"), C, C);
        add_tensor(tr, &off, N("attn.c_proj.bias"), C, 0);
        add_tensor(tr, &off, N("ln_2.weight"), C, 0);
        add_tensor(tr, &off, N("ln_2.bias"), C, 0);
        add_tensor(tr, &off, N("mlp.c_fc.weight"), C, H);
        add_tensor(tr, &off, N("mlp.c_fc.bias"), H, 0);
        add_tensor(tr, &off, N("mlp.c_proj.weight"), H, C);
        add_tensor(tr, &off, N("mlp.c_proj.bias"), C, 0);
#undef N
    }
    add_tensor(tr, &off, "ln_f.weight", C, 0);
    add_tensor(tr, &off, "ln_f.bias", C, 0);
    if (!c->tied_head) add_tensor(tr, &off, "lm_head.weight", c->vocab_size, C);
    tr->P = off;
    tr->params = xcalloc(off, sizeof(float));
    tr->grads = xcalloc(off, sizeof(float));
    off = 0;
    for (int i = 0; i < tr->n_t; i++) {
        tr->t[i].p = tr->params + off;
        tr->t[i].g = tr->grads + off;
        off += tr->t[i].n;
    }

    int k = 0;
    tr->wte = tr->t[k++].p;
    tr->wpe = tr->t[k++].p;
    tr->lp = xcalloc((size_t)L, sizeof(LayerParams));
    tr->lin = xcalloc((size_t)L * 4, sizeof(Linear));
    Model *m = model_new(c, "(training)", "training (Lectern)");
    for (int l = 0; l < L; l++) {
        LayerParams *p = &tr->lp[l];
        p->ln1w = tr->t[k++].p; p->ln1b = tr->t[k++].p;
        p->qkvw = tr->t[k++].p; p->qkvb = tr->t[k++].p;
        p->attprojw = tr->t[k++].p; p->attprojb = tr->t[k++].p;
        p->ln2w = tr->t[k++].p; p->ln2b = tr->t[k++].p;
        p->fcw = tr->t[k++].p; p->fcb = tr->t[k++].p;
        p->fcprojw = tr->t[k++].p; p->fcprojb = tr->t[k++].p;
        Linear *ln = tr->lin + 4 * l;
        ln[0] = (Linear){.w = p->qkvw, .b = p->qkvb, .in = C, .out = 3 * C, .ld = 3 * C, .layout = W_IN_OUT};
        ln[1] = (Linear){.w = p->attprojw, .b = p->attprojb, .in = C, .out = C, .ld = C, .layout = W_IN_OUT};
        ln[2] = (Linear){.w = p->fcw, .b = p->fcb, .in = C, .out = H, .ld = H, .layout = W_IN_OUT};
        ln[3] = (Linear){.w = p->fcprojw, .b = p->fcprojb, .in = H, .out = C, .ld = C, .layout = W_IN_OUT};
        /* the model's views: q, k, v are column blocks of the fused matrix (as HF files) */
        LayerWeights *w = &m->w.layer[l];
        w->ln1_w = p->ln1w; w->ln1_b = p->ln1b;
        w->ln2_w = p->ln2w; w->ln2_b = p->ln2b;
        w->q = (Linear){.w = p->qkvw, .b = p->qkvb, .in = C, .out = C, .ld = 3 * C, .layout = W_IN_OUT};
        w->k = (Linear){.w = p->qkvw + C, .b = p->qkvb + C, .in = C, .out = C, .ld = 3 * C, .layout = W_IN_OUT};
        w->v = (Linear){.w = p->qkvw + 2 * C, .b = p->qkvb + 2 * C, .in = C, .out = C, .ld = 3 * C, .layout = W_IN_OUT};
        w->o = ln[1];
        w->fc = ln[2];
        w->proj = ln[3];
    }
    tr->lnfw = tr->t[k++].p;
    tr->lnfb = tr->t[k++].p;
    tr->lmhead = c->tied_head ? NULL : tr->t[k++].p;
    if (c->tied_head) {
        tr->head = (Linear){.w = tr->wte, .b = NULL, .in = C, .out = Vp, .ld = C, .layout = W_OUT_IN};
        tr->Vl = Vp;
    } else {
        tr->head = (Linear){.w = tr->lmhead, .b = NULL, .in = C, .out = c->vocab_size, .ld = C, .layout = W_OUT_IN};
        tr->Vl = c->vocab_size;
    }
    m->w.wte = tr->wte;
    m->w.wpe = tr->wpe;
    m->w.lnf_w = tr->lnfw;
    m->w.lnf_b = tr->lnfb;
    m->w.head = tr->head;
    m->weight_bytes = tr->P * sizeof(float);
    model_count_params(m);
    tr->model = m;
    tr->rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(tr->rng, tc->seed);
    return tr;
}

static float lin_at(const Linear *l, int i, int o)   /* weight from input i to output o */
{
    return l->layout == W_OUT_IN ? l->w[(size_t)o * l->ld + i] : l->w[(size_t)i * l->ld + o];
}

static void copy_vec(float *dst, const float *src, size_t n)
{
    if (src) memcpy(dst, src, n * sizeof(float));
    else memset(dst, 0, n * sizeof(float));
}

/* dst (in, ld) <- the (in, out) matrix of l, in columns col0 .. col0 + out */
static void copy_linear(float *dst, int ld, int col0, const Linear *l)
{
    #pragma omp parallel for if ((size_t)l->in * l->out > 65536)
    for (int i = 0; i < l->in; i++)
        for (int o = 0; o < l->out; o++)
            dst[(size_t)i * ld + col0 + o] = lin_at(l, i, o);
}

int trainer_alloc(Trainer **out, const Model *src, const TrainConfig *tc)
{
    TrainConfig def = train_config_default();
    if (!tc) tc = &def;
    int rc = train_config_check(tc);
    if (!rc) rc = check_trainable(&src->cfg, src->path ? src->path : "model");
    if (rc) return rc;
    if (!src->w.wpe) return ERR(ERR_UNSUPPORTED, "%s: GPT-2 model without position embeddings", src->path);
    ModelConfig cfg = src->cfg;
    Trainer *tr = trainer_new(&cfg, tc);
    const int C = cfg.n_embd, H = cfg.n_hidden;
    copy_vec(tr->wte, src->w.wte, (size_t)cfg.padded_vocab * C);
    copy_vec(tr->wpe, src->w.wpe, (size_t)cfg.n_ctx * C);
    for (int l = 0; l < cfg.n_layer; l++) {
        const LayerWeights *w = &src->w.layer[l];
        LayerParams *p = &tr->lp[l];
        copy_vec(p->ln1w, w->ln1_w, C); copy_vec(p->ln1b, w->ln1_b, C);
        copy_vec(p->ln2w, w->ln2_w, C); copy_vec(p->ln2b, w->ln2_b, C);
        copy_linear(p->qkvw, 3 * C, 0, &w->q);
        copy_linear(p->qkvw, 3 * C, C, &w->k);
        copy_linear(p->qkvw, 3 * C, 2 * C, &w->v);
        copy_vec(p->qkvb, w->q.b, C); copy_vec(p->qkvb + C, w->k.b, C); copy_vec(p->qkvb + 2 * C, w->v.b, C);
        copy_linear(p->attprojw, C, 0, &w->o); copy_vec(p->attprojb, w->o.b, C);
        copy_linear(p->fcw, H, 0, &w->fc); copy_vec(p->fcb, w->fc.b, H);
        copy_linear(p->fcprojw, C, 0, &w->proj); copy_vec(p->fcprojb, w->proj.b, C);
    }
    copy_vec(tr->lnfw, src->w.lnf_w, C);
    copy_vec(tr->lnfb, src->w.lnf_b, C);
    if (tr->lmhead) {
        /* lm_head (V, C) is nn.Linear's (out, in) */
        const Linear *h = &src->w.head;
        for (int o = 0; o < cfg.vocab_size; o++)
            for (int i = 0; i < C; i++) tr->lmhead[(size_t)o * C + i] = lin_at(h, i, o);
    }
    if (src->path) {
        free(tr->model->path);
        tr->model->path = xstrdup(src->path);
    }
    *out = tr;
    return 0;
}

static void gauss(gsl_rng *r, float *x, size_t n, double sd)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian_ziggurat(r, sd);
}

/* n_out x n_in draws in nn.Linear order (out, in), stored (in, ld) at column col0 */
static void gauss_transposed(gsl_rng *r, float *dst, int ld, int col0, int n_out, int n_in, double sd)
{
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < n_in; i++)
            dst[(size_t)i * ld + col0 + o] = (float)gsl_ran_gaussian_ziggurat(r, sd);
}

int trainer_alloc_random(Trainer **out, const ModelConfig *cfg, unsigned long seed,
                         const TrainConfig *tc)
{
    TrainConfig def = train_config_default();
    if (!tc) tc = &def;
    int rc = train_config_check(tc);
    if (!rc) rc = check_trainable(cfg, "init");
    if (rc) return rc;
    Trainer *tr = trainer_new(cfg, tc);
    const int L = cfg->n_layer, C = cfg->n_embd, H = cfg->n_hidden;
    /* model_random's draws in model_random's order (engine/model_save.c), so the same seed
     * gives the same network whichever way it is built */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    const double sd = 0.02, sd_res = 0.02 / sqrt(2.0 * (double)L);
    gauss(r, tr->wte, (size_t)cfg->vocab_size * C, sd);
    gauss(r, tr->wpe, (size_t)cfg->n_ctx * C, 0.01);
    for (int l = 0; l < L; l++) {
        LayerParams *p = &tr->lp[l];
        for (int i = 0; i < C; i++) p->ln1w[i] = p->ln2w[i] = 1.0f;
        gauss_transposed(r, p->qkvw, 3 * C, 0, C, C, sd);
        gauss_transposed(r, p->qkvw, 3 * C, C, C, C, sd);
        gauss_transposed(r, p->qkvw, 3 * C, 2 * C, C, C, sd);
        gauss_transposed(r, p->attprojw, C, 0, C, C, sd_res);
        gauss_transposed(r, p->fcw, H, 0, H, C, sd);
        gauss_transposed(r, p->fcprojw, C, 0, C, H, sd_res);
    }
    for (int i = 0; i < C; i++) tr->lnfw[i] = 1.0f;
    if (tr->lmhead) gauss(r, tr->lmhead, (size_t)cfg->vocab_size * C, sd);
    gsl_rng_free(r);
    *out = tr;
    return 0;
}

void trainer_free(Trainer *tr)
{
    if (!tr) return;
    model_free(tr->model);
    for (int i = 0; i < tr->n_t; i++) free(tr->names[i]);
    free(tr->names);
    free(tr->t);
    free(tr->params); free(tr->grads); free(tr->m); free(tr->v);
    free(tr->lp); free(tr->lin);
    free(tr->act_mem);
    free(tr->inputs); free(tr->targets);
    gsl_rng_free(tr->rng);
    free(tr->hist);
    free(tr);
}

Model *trainer_model(Trainer *tr) { return tr->model; }

int trainer_set_tokenizer(Trainer *tr, Tokenizer *tok)
{
    if (tok && tokenizer_vocab_size(tok) > tr->cfg.vocab_size)
        return ERR(ERR_ARG, "tokenizer has %d tokens but the model only %d",
                   tokenizer_vocab_size(tok), tr->cfg.vocab_size);
    tokenizer_free(tr->model->tok);
    tr->model->tok = tok;
    return 0;
}

const TrainConfig *trainer_config(const Trainer *tr) { return &tr->tc; }

int trainer_set_config(Trainer *tr, const TrainConfig *tc)
{
    int rc = train_config_check(tc);
    if (rc) return rc;
    tr->tc = *tc;
    return 0;
}

long trainer_step_count(const Trainer *tr) { return tr->step; }
int trainer_n_tensors(const Trainer *tr) { return tr->n_t; }
const TrainParam *trainer_tensor(const Trainer *tr, int i)
{
    return i >= 0 && i < tr->n_t ? &tr->t[i] : NULL;
}
size_t trainer_n_params(const Trainer *tr) { return tr->P; }

/* ---- activations ------------------------------------------------------------------ */

static size_t acts_floats(const Trainer *tr, int B, int T)
{
    const size_t L = (size_t)tr->cfg.n_layer, C = (size_t)tr->cfg.n_embd, H = (size_t)tr->cfg.n_hidden;
    const size_t NH = (size_t)tr->cfg.n_head, BT = (size_t)B * T, Vl = (size_t)tr->Vl;
    return (L + 1) * BT * C + L * BT * C + 2 * L * BT + L * BT * 3 * C
         + L * (size_t)B * NH * T * T + L * BT * C * 3 + 2 * L * BT + 3 * L * BT * H
         + BT * C + 2 * BT + BT * Vl + BT
         + BT * C * 4 + BT * 3 * C + BT * H + (size_t)omp_get_max_threads() * T * T;
}

size_t trainer_memory_bytes(const Trainer *tr, int B, int T)
{
    return (4 * tr->P + acts_floats(tr, B, T)) * sizeof(float);
}

static void acts_setup(Trainer *tr, int B, int T)
{
    if (tr->B == B && tr->T == T && tr->act_threads == omp_get_max_threads()) return;
    tr->act_threads = omp_get_max_threads();
    size_t need = acts_floats(tr, B, T);
    if (need > tr->act_cap) {
        free(tr->act_mem);
        tr->act_mem = xmalloc(need * sizeof(float));
        tr->act_cap = need;
    }
    const size_t L = (size_t)tr->cfg.n_layer, C = (size_t)tr->cfg.n_embd, H = (size_t)tr->cfg.n_hidden;
    const size_t NH = (size_t)tr->cfg.n_head, BT = (size_t)B * T, Vl = (size_t)tr->Vl;
    float *p = tr->act_mem;
#define TAKE(field, n) (tr->a.field = p, p += (n))
    TAKE(res, (L + 1) * BT * C);
    TAKE(ln1, L * BT * C);
    TAKE(ln1_mean, L * BT); TAKE(ln1_rstd, L * BT);
    TAKE(qkv, L * BT * 3 * C);
    TAKE(att, L * (size_t)B * NH * T * T);
    TAKE(atty, L * BT * C);
    TAKE(res2, L * BT * C);
    TAKE(ln2, L * BT * C);
    TAKE(ln2_mean, L * BT); TAKE(ln2_rstd, L * BT);
    TAKE(fch, L * BT * H);
    TAKE(fch_gelu, L * BT * H);
    TAKE(fch_th, L * BT * H);
    TAKE(lnf, BT * C);
    TAKE(lnf_mean, BT); TAKE(lnf_rstd, BT);
    TAKE(logits, BT * Vl);
    TAKE(losses, BT);
    TAKE(dres, BT * C);
    TAKE(dln, BT * C);
    TAKE(datty, BT * C);
    TAKE(tmp, BT * C);
    TAKE(dqkv, BT * 3 * C);
    TAKE(dfch, BT * H);
    TAKE(datt, (size_t)omp_get_max_threads() * T * T);
#undef TAKE
    tr->inputs = xrealloc(tr->inputs, BT * sizeof(int));
    tr->targets = xrealloc(tr->targets, BT * sizeof(int));
    tr->B = B;
    tr->T = T;
}

/* ---- forward and backward --------------------------------------------------------- */

static int forward(Trainer *tr, const int *inputs, const int *targets, int B, int T, float *loss)
{
    const ModelConfig *c = &tr->cfg;
    const int L = c->n_layer, C = c->n_embd, H = c->n_hidden, NH = c->n_head, V = c->vocab_size;
    if (B < 1 || T < 1) return ERR(ERR_ARG, "train: empty batch (B=%d, T=%d)", B, T);
    if (T > c->n_ctx) return ERR(ERR_RANGE, "train: sequence length %d exceeds the model's context %d", T, c->n_ctx);
    const size_t BT = (size_t)B * T;
    for (size_t i = 0; i < BT; i++) {
        if (inputs[i] < 0 || inputs[i] >= V)
            return ERR(ERR_ARG, "train: token id %d outside the vocabulary (0..%d)", inputs[i], V - 1);
        if (targets && (targets[i] < -1 || targets[i] >= V))
            return ERR(ERR_ARG, "train: target id %d outside the vocabulary (0..%d, -1 = ignore)", targets[i], V - 1);
    }
    acts_setup(tr, B, T);
    Acts *a = &tr->a;
    memcpy(tr->inputs, inputs, BT * sizeof(int));
    if (targets) memcpy(tr->targets, targets, BT * sizeof(int));

    for (int b = 0; b < B; b++)
        encoder_forward(a->res + (size_t)b * T * C, inputs + (size_t)b * T, tr->wte, tr->wpe, T, C, 0);
    for (int l = 0; l < L; l++) {
        const LayerParams *p = &tr->lp[l];
        const Linear *ln = tr->lin + 4 * l;
        float *res = a->res + (size_t)l * BT * C;
        float *ln1 = a->ln1 + (size_t)l * BT * C, *qkv = a->qkv + (size_t)l * BT * 3 * C;
        float *att = a->att + (size_t)l * B * NH * T * T, *atty = a->atty + (size_t)l * BT * C;
        float *res2 = a->res2 + (size_t)l * BT * C, *ln2 = a->ln2 + (size_t)l * BT * C;
        float *fch = a->fch + (size_t)l * BT * H, *fch_gelu = a->fch_gelu + (size_t)l * BT * H;
        float *fch_th = a->fch_th + (size_t)l * BT * H;
        float *res3 = a->res + (size_t)(l + 1) * BT * C;
        /* x + attn(ln_1(x)) */
        layernorm_forward(ln1, a->ln1_mean + (size_t)l * BT, a->ln1_rstd + (size_t)l * BT, res,
                          p->ln1w, p->ln1b, (int)BT, C, c->norm_eps);
        matmul_forward_train(qkv, ln1, &ln[0], (int)BT);
        attention_forward_train(atty, att, qkv, B, T, C, NH);
        matmul_forward_train(a->tmp, atty, &ln[1], (int)BT);
        residual_forward(res2, res, a->tmp, BT * C);
        /* x + mlp(ln_2(x)) */
        layernorm_forward(ln2, a->ln2_mean + (size_t)l * BT, a->ln2_rstd + (size_t)l * BT, res2,
                          p->ln2w, p->ln2b, (int)BT, C, c->norm_eps);
        matmul_forward_train(fch, ln2, &ln[2], (int)BT);
        gelu_forward_train(fch_gelu, fch_th, fch, BT * H);
        matmul_forward_train(a->tmp, fch_gelu, &ln[3], (int)BT);
        residual_forward(res3, res2, a->tmp, BT * C);
    }
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->res + (size_t)L * BT * C,
                      tr->lnfw, tr->lnfb, (int)BT, C, c->norm_eps);
    matmul_forward_train(a->logits, a->lnf, &tr->head, (int)BT);

    tr->have_targets = 0;
    if (!targets) return 0;
    crossentropy_forward(a->logits, a->losses, tr->targets, (int)BT, V, tr->Vl);
    double sum = 0.0;
    int nv = 0;
    for (size_t i = 0; i < BT; i++)
        if (tr->targets[i] >= 0) { sum += a->losses[i]; nv++; }
    tr->n_valid = nv;
    tr->have_targets = 1;
    if (loss) *loss = nv ? (float)(sum / nv) : 0.0f;
    return 0;
}

int trainer_forward(Trainer *tr, const int *inputs, const int *targets, int B, int T,
                    float *loss)
{
    const int saved = blas_single();
    const int rc = forward(tr, inputs, targets, B, T, loss);
    blas_restore(saved);
    return rc;
}

const float *trainer_probs(const Trainer *tr) { return tr->have_targets ? tr->a.logits : NULL; }

static int backward(Trainer *tr, float loss_scale)
{
    if (!tr->have_targets) return ERR(ERR_STATE, "train: backward needs a forward with targets first");
    tr->have_targets = 0;
    const ModelConfig *c = &tr->cfg;
    const int L = c->n_layer, C = c->n_embd, H = c->n_hidden, NH = c->n_head;
    const int B = tr->B, T = tr->T;
    const size_t BT = (size_t)B * T;
    Acts *a = &tr->a;
    if (tr->n_valid == 0) return 0;

    /* loss = mean over valid positions: dloss = scale / count, then back through softmax */
    crossentropy_backward(a->logits, tr->targets, loss_scale / (float)tr->n_valid, (int)BT,
                          c->vocab_size, tr->Vl);
    matmul_backward(a->dln, G(tr, tr->head.w), NULL, a->logits, a->lnf, &tr->head, (int)BT);
    memset(a->dres, 0, BT * C * sizeof(float));
    layernorm_backward(a->dres, G(tr, tr->lnfw), G(tr, tr->lnfb), a->dln, a->res + (size_t)L * BT * C,
                       tr->lnfw, a->lnf_mean, a->lnf_rstd, (int)BT, C);

    for (int l = L - 1; l >= 0; l--) {
        const LayerParams *p = &tr->lp[l];
        const Linear *ln = tr->lin + 4 * l;
        const float *res = a->res + (size_t)l * BT * C;
        const float *ln1 = a->ln1 + (size_t)l * BT * C, *qkv = a->qkv + (size_t)l * BT * 3 * C;
        const float *att = a->att + (size_t)l * B * NH * T * T, *atty = a->atty + (size_t)l * BT * C;
        const float *res2 = a->res2 + (size_t)l * BT * C, *ln2 = a->ln2 + (size_t)l * BT * C;
        const float *fch = a->fch + (size_t)l * BT * H, *fch_gelu = a->fch_gelu + (size_t)l * BT * H;
        const float *fch_th = a->fch_th + (size_t)l * BT * H;
        /* dres is d(res3); res3 = res2 + mlp: the MLP branch gets dres too */
        matmul_backward(a->dfch, G(tr, p->fcprojw), G(tr, p->fcprojb), a->dres, fch_gelu, &ln[3], (int)BT);
        gelu_backward(a->dfch, fch, fch_th, a->dfch, BT * H);
        matmul_backward(a->dln, G(tr, p->fcw), G(tr, p->fcb), a->dfch, ln2, &ln[2], (int)BT);
        layernorm_backward(a->dres, G(tr, p->ln2w), G(tr, p->ln2b), a->dln, res2, p->ln2w,
                           a->ln2_mean + (size_t)l * BT, a->ln2_rstd + (size_t)l * BT, (int)BT, C);
        /* dres is now d(res2); res2 = res + attn */
        matmul_backward(a->datty, G(tr, p->attprojw), G(tr, p->attprojb), a->dres, atty, &ln[1], (int)BT);
        attention_backward(a->dqkv, a->datty, qkv, att, a->datt, B, T, C, NH);
        matmul_backward(a->dln, G(tr, p->qkvw), G(tr, p->qkvb), a->dqkv, ln1, &ln[0], (int)BT);
        layernorm_backward(a->dres, G(tr, p->ln1w), G(tr, p->ln1b), a->dln, res, p->ln1w,
                           a->ln1_mean + (size_t)l * BT, a->ln1_rstd + (size_t)l * BT, (int)BT, C);
    }
    encoder_backward(G(tr, tr->wte), G(tr, tr->wpe), a->dres, tr->inputs, B, T, C);
    return 0;
}

int trainer_backward(Trainer *tr, float loss_scale)
{
    const int saved = blas_single();
    const int rc = backward(tr, loss_scale);
    blas_restore(saved);
    return rc;
}

void trainer_zero_grad(Trainer *tr) { memset(tr->grads, 0, tr->P * sizeof(float)); }

/* Sum of squares in double, in fixed chunks summed in order: the same bits on any thread
 * count. */
static double sumsq(const float *g, size_t n)
{
    enum { CHUNK = 1 << 15 };
    const size_t nch = (n + CHUNK - 1) / CHUNK;
    if (nch <= 1) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
        return s;
    }
    double *part = xmalloc(nch * sizeof(double));
    #pragma omp parallel for
    for (size_t k = 0; k < nch; k++) {
        const size_t i0 = k * CHUNK, i1 = i0 + CHUNK < n ? i0 + CHUNK : n;
        double s = 0.0;
        for (size_t i = i0; i < i1; i++) s += (double)g[i] * g[i];
        part[k] = s;
    }
    double s = 0.0;
    for (size_t k = 0; k < nch; k++) s += part[k];
    free(part);
    return s;
}

double trainer_grad_norm(const Trainer *tr) { return sqrt(sumsq(tr->grads, tr->P)); }

void trainer_grad_norms(const Trainer *tr, double *norms)
{
    for (int i = 0; i < tr->n_t; i++) norms[i] = sqrt(sumsq(tr->t[i].g, tr->t[i].n));
}

/* ---- the optimizer ---------------------------------------------------------------- */

float trainer_lr(const Trainer *tr, long step)
{
    const TrainConfig *c = &tr->tc;
    if (step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    if (step >= c->max_steps) return c->min_lr;
    const double span = (double)(c->max_steps - c->warmup);
    const double progress = span > 0 ? (double)(step - c->warmup) / span : 1.0;
    return (float)(c->min_lr + 0.5 * (c->lr - c->min_lr) * (1.0 + cos(M_PI * progress)));
}

/* One AdamW step over n values.  The SSE path does four at a time with the same IEEE
 * operations in the same order as the scalar loop (sqrt and division are correctly
 * rounded in both), so either path gives the same bits; the compiler would not vectorise
 * the scalar loop because sqrtf may set errno. */
static void adamw_run(float *restrict p, float *restrict g, float *restrict m, float *restrict v,
                      size_t n, float lr, float wd, float clip, float b1, float b2, float bc1,
                      float bc2, float eps)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128 vclip = _mm_set1_ps(clip), vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2);
    const __m128 vc1 = _mm_set1_ps(1.0f - b1), vc2 = _mm_set1_ps(1.0f - b2);
    const __m128 vbc1 = _mm_set1_ps(bc1), vbc2 = _mm_set1_ps(bc2), veps = _mm_set1_ps(eps);
    const __m128 vlr = _mm_set1_ps(lr), vwd = _mm_set1_ps(wd), zero = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) {
        const __m128 gi = _mm_mul_ps(_mm_loadu_ps(g + i), vclip);
        const __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vc1, gi));
        const __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(vc2, gi), gi));
        const __m128 mhat = _mm_div_ps(mi, vbc1), vhat = _mm_div_ps(vi, vbc2);
        const __m128 pi = _mm_loadu_ps(p + i);
        const __m128 upd = _mm_add_ps(_mm_div_ps(mhat, _mm_add_ps(_mm_sqrt_ps(vhat), veps)), _mm_mul_ps(vwd, pi));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        _mm_storeu_ps(p + i, _mm_sub_ps(pi, _mm_mul_ps(vlr, upd)));
        _mm_storeu_ps(g + i, zero);
    }
#endif
    for (; i < n; i++) {
        const float gi = g[i] * clip;
        const float mi = b1 * m[i] + (1.0f - b1) * gi;
        const float vi = b2 * v[i] + ((1.0f - b2) * gi) * gi;
        const float mhat = mi / bc1, vhat = vi / bc2;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
        g[i] = 0.0f;
    }
}

static void adamw(float *p, float *g, float *m, float *v, size_t n, float lr, float wd, float clip,
                  float b1, float b2, float bc1, float bc2, float eps)
{
    enum { CHUNK = 1 << 14 };
    const size_t nch = (n + CHUNK - 1) / CHUNK;
    #pragma omp parallel for if (nch > 4)
    for (size_t k = 0; k < nch; k++) {
        const size_t i0 = k * CHUNK, len = i0 + CHUNK < n ? CHUNK : n - i0;
        adamw_run(p + i0, g + i0, m + i0, v + i0, len, lr, wd, clip, b1, b2, bc1, bc2, eps);
    }
}

int trainer_update(Trainer *tr, float lr, double *norm_out)
{
    const double norm = trainer_grad_norm(tr);
    if (norm_out) *norm_out = norm;
    if (!isfinite(norm)) {
        trainer_zero_grad(tr);
        return ERR(ERR_RANGE, "train: gradient norm is %g at step %ld; weights left unchanged", norm, tr->step + 1);
    }
    const TrainConfig *c = &tr->tc;
    const float clip = c->grad_clip > 0 && norm > c->grad_clip ? (float)(c->grad_clip / norm) : 1.0f;
    if (!tr->m) {
        tr->m = xcalloc(tr->P, sizeof(float));
        tr->v = xcalloc(tr->P, sizeof(float));
    }
    const long t = tr->step + 1;
    const float bc1 = 1.0f - powf(c->beta1, (float)t), bc2 = 1.0f - powf(c->beta2, (float)t);
    for (int k = 0; k < tr->n_t; k++) {
        const TrainParam *tp = &tr->t[k];
        const size_t off = (size_t)(tp->p - tr->params);
        adamw(tp->p, tp->g, tr->m + off, tr->v + off, tp->n, lr, tp->decay ? c->weight_decay : 0.0f,
              clip, c->beta1, c->beta2, bc1, bc2, c->eps);
    }
    tr->step++;
    return 0;
}

/* ---- steps over data -------------------------------------------------------------- */

int trainer_step(Trainer *tr, const TrainData *d, TrainStepInfo *info)
{
    const TrainConfig *c = &tr->tc;
    const int B = c->B, T = c->T;
    if (d->n_train < (size_t)T + 1)
        return ERR(ERR_ARG, "train: %zu training tokens, T=%d needs at least %d", d->n_train, T, T + 1);
    if (T > tr->cfg.n_ctx)
        return ERR(ERR_RANGE, "train: T=%d exceeds the model's context %d", T, tr->cfg.n_ctx);
    acts_setup(tr, B, T);
    /* batch buffers live after the trainer's own copies: draw first, then forward */
    int *inp = xmalloc(sizeof(int) * (size_t)B * T * 2), *tgt = inp + (size_t)B * T;
    double loss_sum = 0.0;
    int rc = 0;
    const unsigned long span = (unsigned long)(d->n_train - (size_t)T);
    for (int k = 0; k < c->accum && !rc; k++) {
        for (int b = 0; b < B; b++) {
            size_t off = span > 1 ? (size_t)gsl_rng_uniform_int(tr->rng, span) : 0;
            memcpy(inp + (size_t)b * T, d->tokens + off, sizeof(int) * (size_t)T);
            memcpy(tgt + (size_t)b * T, d->tokens + off + 1, sizeof(int) * (size_t)T);
        }
        float loss = 0.0f;
        rc = trainer_forward(tr, inp, tgt, B, T, &loss);
        if (!rc) rc = trainer_backward(tr, 1.0f / (float)c->accum);
        loss_sum += loss;
    }
    free(inp);
    if (rc) return rc;
    const float lr = trainer_lr(tr, tr->step);
    double norm;
    rc = trainer_update(tr, lr, &norm);
    if (info) {
        info->step = tr->step;
        info->loss = (float)(loss_sum / c->accum);
        info->lr = lr;
        info->grad_norm = norm;
        info->tokens = (long)c->accum * B * T;
    }
    return rc;
}

int trainer_eval(Trainer *tr, const TrainData *d, int max_batches, float *loss)
{
    const int B = tr->tc.B, T = tr->tc.T;
    const size_t nval = d->n - d->n_train;
    if (nval < (size_t)T + 1) return ERR(ERR_STATE, "train: no validation data (%zu tokens held out, T=%d)", nval, T);
    const size_t windows = (nval - 1) / (size_t)T;
    int *inp = xmalloc(sizeof(int) * (size_t)B * T * 2), *tgt = inp + (size_t)B * T;
    double sum = 0.0;
    long cnt = 0;
    int rc = 0;
    size_t w = 0;
    for (int k = 0; k < max_batches && w < windows && !rc; k++) {
        int nb = 0;
        for (; nb < B && w < windows; nb++, w++) {
            const size_t off = d->n_train + w * (size_t)T;
            memcpy(inp + (size_t)nb * T, d->tokens + off, sizeof(int) * (size_t)T);
            memcpy(tgt + (size_t)nb * T, d->tokens + off + 1, sizeof(int) * (size_t)T);
        }
        float l = 0.0f;
        rc = trainer_forward(tr, inp, tgt, nb, T, &l);
        sum += (double)l * nb;
        cnt += nb;
    }
    free(inp);
    tr->have_targets = 0;
    if (rc) return rc;
    *loss = (float)(sum / (double)cnt);
    return 0;
}

void trainer_log(Trainer *tr, long step, float train, float val)
{
    if (tr->n_hist == tr->cap_hist) {
        tr->cap_hist = tr->cap_hist ? 2 * tr->cap_hist : 256;
        tr->hist = xrealloc(tr->hist, sizeof(TrainPoint) * (size_t)tr->cap_hist);
    }
    tr->hist[tr->n_hist++] = (TrainPoint){step, train, val};
}

const TrainPoint *trainer_history(const Trainer *tr, int *n)
{
    *n = tr->n_hist;
    return tr->hist;
}

/* ---- checkpoints ------------------------------------------------------------------ */

static char *hex_encode(const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = xmalloc(2 * n + 1);
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = 0;
    return s;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int hex_decode(const char *s, size_t len, void *out, size_t n)
{
    if (len != 2 * n) return -1;
    unsigned char *b = out;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static char *config_json(const TrainConfig *c)
{
    char seed[32];
    snprintf(seed, sizeof seed, "%lu", c->seed);
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:s}",
                          "B", c->B, "T", c->T, "accum", c->accum, "max_steps", c->max_steps,
                          "warmup", c->warmup, "lr", (double)c->lr, "min_lr", (double)c->min_lr,
                          "beta1", (double)c->beta1, "beta2", (double)c->beta2, "eps", (double)c->eps,
                          "weight_decay", (double)c->weight_decay, "grad_clip", (double)c->grad_clip,
                          "val_frac", (double)c->val_frac, "seed", seed);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    char *r = xstrdup(s);
    free(s);
    return r;
}

static int config_from_json(TrainConfig *c, const char *text, size_t len, const char *origin)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    int rc = 0;
    if (!o || !json_is_object(o)) {
        rc = ERR(ERR_FORMAT, "%s: lectern.train.config is not a JSON object", origin);
        goto out;
    }
    *c = train_config_default();
    static const char *const ints[] = {"B", "T", "accum", "max_steps", "warmup"};
    int *iv[] = {&c->B, &c->T, &c->accum, &c->max_steps, &c->warmup};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(o, ints[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1 << 30)) {
            rc = ERR(ERR_FORMAT, "%s: train config '%s' missing or out of range", origin, ints[i]);
            goto out;
        }
        *iv[i] = (int)json_integer_value(v);
    }
    static const char *const fl[] = {"lr", "min_lr", "beta1", "beta2", "eps", "weight_decay", "grad_clip", "val_frac"};
    float *fv[] = {&c->lr, &c->min_lr, &c->beta1, &c->beta2, &c->eps, &c->weight_decay, &c->grad_clip, &c->val_frac};
    for (int i = 0; i < 8; i++) {
        json_t *v = json_object_get(o, fl[i]);
        if (!json_is_number(v)) {
            rc = ERR(ERR_FORMAT, "%s: train config '%s' missing or not a number", origin, fl[i]);
            goto out;
        }
        *fv[i] = (float)json_number_value(v);
    }
    const char *seed = json_string_value(json_object_get(o, "seed"));
    char *end;
    if (!seed || !*seed || (c->seed = strtoul(seed, &end, 10), *end)) {
        rc = ERR(ERR_FORMAT, "%s: train config 'seed' missing or malformed", origin);
        goto out;
    }
    rc = train_config_check(c);
    if (rc) err_prefix("%s", origin);
out:
    json_decref(o);
    return rc;
}

static char *history_text(const Trainer *tr)
{
    size_t cap = 64 + (size_t)tr->n_hist * 48, n = 0;
    char *s = xmalloc(cap);
    s[0] = 0;
    for (int i = 0; i < tr->n_hist; i++) {
        const TrainPoint *p = &tr->hist[i];
        char val[32];
        if (isnan(p->val)) snprintf(val, sizeof val, "nan");
        else snprintf(val, sizeof val, "%.9g", (double)p->val);
        n += (size_t)snprintf(s + n, cap - n, "%ld %.9g %s\n", p->step, (double)p->train, val);
    }
    return s;
}

static int history_parse(Trainer *tr, const char *s, size_t len, const char *origin)
{
    char *copy = xstrndup(s, len), *save = NULL;
    int rc = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long step;
        char tv[40], vv[40];
        if (sscanf(line, "%ld %39s %39s", &step, tv, vv) != 3) {
            rc = ERR(ERR_FORMAT, "%s: malformed loss history line '%.40s'", origin, line);
            break;
        }
        trainer_log(tr, step, strtof(tv, NULL), strcmp(vv, "nan") == 0 ? NAN : strtof(vv, NULL));
    }
    free(copy);
    return rc;
}

int trainer_save(const Trainer *tr, const TrainData *d, const char *path)
{
    const int nt = tr->n_t, with_opt = tr->m != NULL;
    const int ntens = nt * (with_opt ? 3 : 1);
    Tensor *ts = xcalloc((size_t)ntens, sizeof(Tensor));
    char **names = xcalloc((size_t)ntens, sizeof(char *));
    for (int k = 0; k < ntens; k++) {
        const TrainParam *p = &tr->t[k % nt];
        const int part = k / nt;
        const float *data = part == 0 ? p->p : (part == 1 ? tr->m : tr->v) + (p->p - tr->params);
        names[k] = part == 0 ? xstrdup(p->name) : xasprintf("optim.%s.%s", part == 1 ? "m" : "v", p->name);
        ts[k] = (Tensor){.name = names[k], .dtype = DT_F32, .ndim = p->ndim,
                         .shape = {p->shape[0], p->shape[1]}, .data = data, .nbytes = p->n * sizeof(float)};
    }
    const char *keys[10];
    const char *vals[10];
    size_t lens[10];
    int nm = 0;
    char *mc = model_config_to_json(&tr->cfg), *tc = config_json(&tr->tc);
    char step[32], datah[64];
    snprintf(step, sizeof step, "%ld", tr->step);
    char *rng = hex_encode(gsl_rng_state(tr->rng), gsl_rng_size(tr->rng));
    char *hist = history_text(tr);
    char *ta = NULL, *tb = NULL;
#define META(k, v, l) (keys[nm] = (k), vals[nm] = (v), lens[nm] = (l), nm++)
    META("lectern.config", mc, strlen(mc));
    META("lectern.train.config", tc, strlen(tc));
    META("lectern.train.step", step, strlen(step));
    META("lectern.train.rng", rng, strlen(rng));
    META("lectern.train.history", hist, strlen(hist));
    if (d) {
        snprintf(datah, sizeof datah, "%016llx %zu", (unsigned long long)d->hash, d->n);
        META("lectern.train.data", datah, strlen(datah));
    }
    const Tokenizer *tok = tr->model->tok;
    if (tok && tokenizer_kind(tok) != TOK_LLAMA2C) {
        size_t al = 0, bl = 0;
        if (tokenizer_export(tok, &ta, &al, &tb, &bl) == 0) {
            META("lectern.tokenizer.kind", tokenizer_kind(tok) == TOK_GPT2_BPE ? "gpt2-bpe" : "char",
                 tokenizer_kind(tok) == TOK_GPT2_BPE ? 8 : 4);
            META("lectern.tokenizer.a", ta, al);
            if (tb) META("lectern.tokenizer.b", tb, bl);
        }
    }
#undef META
    int rc = safetensors_write_lens(path, ts, ntens, keys, vals, lens, nm);
    free(mc); free(tc); free(rng); free(hist); free(ta); free(tb);
    for (int k = 0; k < ntens; k++) free(names[k]);
    free(names);
    free(ts);
    return rc;
}

int trainer_check_data(const Trainer *tr, const TrainData *d)
{
    if (tr->have_data_hash && (tr->data_hash != d->hash || tr->data_n != d->n))
        return ERR(ERR_STATE, "the checkpoint was trained on other data (%zu tokens, hash %016llx; "
                   "these are %zu tokens, hash %016llx)", tr->data_n, (unsigned long long)tr->data_hash,
                   d->n, (unsigned long long)d->hash);
    return 0;
}

static int meta_long(const SafeTensors *st, const char *key, long *out, const char *origin)
{
    size_t len;
    const char *s = safetensors_meta(st, key, &len);
    if (!s || len == 0 || len > 30) return ERR(ERR_FORMAT, "%s: checkpoint lacks %s", origin, key);
    char buf[32], *end;
    memcpy(buf, s, len);
    buf[len] = 0;
    long v = strtol(buf, &end, 10);
    if (*end || v < 0) return ERR(ERR_FORMAT, "%s: %s is not a count", origin, key);
    *out = v;
    return 0;
}

static int load_tensor(const SafeTensors *st, const char *name, const TrainParam *p, float *dst,
                       const char *origin)
{
    const Tensor *t = safetensors_find(st, name);
    if (!t) return ERR(ERR_FORMAT, "%s: tensor '%s' missing", origin, name);
    int same = t->dtype == DT_F32 && t->ndim == p->ndim && t->nbytes == p->n * sizeof(float);
    for (int i = 0; same && i < p->ndim; i++) same = t->shape[i] == p->shape[i];
    if (!same) return ERR(ERR_FORMAT, "%s: tensor '%s' has the wrong dtype or shape", origin, name);
    memcpy(dst, t->data, t->nbytes);
    return 0;
}

int trainer_resume(Trainer **out, const TrainData *d, const char *path)
{
    SafeTensors *st;
    int rc = safetensors_open(&st, path);
    if (rc) return rc;
    Trainer *tr = NULL;
    Tokenizer *tok = NULL;
    size_t len;
    const char *s = safetensors_meta(st, "lectern.config", &len);
    ModelConfig cfg;
    TrainConfig tc;
    if (!s) { rc = ERR(ERR_FORMAT, "%s: not a Lectern checkpoint (no lectern.config)", path); goto fail; }
    if ((rc = model_config_from_json(&cfg, s, len, path))) goto fail;
    cfg.tied_head = safetensors_find(st, "lm_head.weight") == NULL;
    if ((rc = check_trainable(&cfg, path))) goto fail;
    s = safetensors_meta(st, "lectern.train.config", &len);
    if (!s) { rc = ERR(ERR_FORMAT, "%s: not a training checkpoint (no lectern.train.config)", path); goto fail; }
    if ((rc = config_from_json(&tc, s, len, path))) goto fail;
    tr = trainer_new(&cfg, &tc);
    s = safetensors_meta(st, "lectern.train.data", &len);
    if (s) {
        char buf[64], *end;
        if (len >= sizeof buf) { rc = ERR(ERR_FORMAT, "%s: malformed lectern.train.data", path); goto fail; }
        memcpy(buf, s, len);
        buf[len] = 0;
        tr->data_hash = strtoull(buf, &end, 16);
        tr->data_n = (size_t)strtoull(end, &end, 10);
        if (*end) { rc = ERR(ERR_FORMAT, "%s: malformed lectern.train.data", path); goto fail; }
        tr->have_data_hash = 1;
    }
    if (d && (rc = trainer_check_data(tr, d))) { err_prefix("%s", path); goto fail; }
    for (int k = 0; k < tr->n_t && !rc; k++) rc = load_tensor(st, tr->t[k].name, &tr->t[k], tr->t[k].p, path);
    if (rc) goto fail;
    if (safetensors_find(st, "optim.m.wte.weight")) {
        tr->m = xcalloc(tr->P, sizeof(float));
        tr->v = xcalloc(tr->P, sizeof(float));
        for (int k = 0; k < tr->n_t && !rc; k++) {
            char *nm = xasprintf("optim.m.%s", tr->t[k].name), *nv = xasprintf("optim.v.%s", tr->t[k].name);
            const size_t off = (size_t)(tr->t[k].p - tr->params);
            rc = load_tensor(st, nm, &tr->t[k], tr->m + off, path);
            if (!rc) rc = load_tensor(st, nv, &tr->t[k], tr->v + off, path);
            free(nm); free(nv);
        }
        if (rc) goto fail;
    }
    if ((rc = meta_long(st, "lectern.train.step", &tr->step, path))) goto fail;
    s = safetensors_meta(st, "lectern.train.rng", &len);
    if (!s || hex_decode(s, len, gsl_rng_state(tr->rng), gsl_rng_size(tr->rng))) {
        rc = ERR(ERR_FORMAT, "%s: lectern.train.rng missing or not a mt19937 state", path);
        goto fail;
    }
    s = safetensors_meta(st, "lectern.train.history", &len);
    if (s && (rc = history_parse(tr, s, len, path))) goto fail;
    size_t kl, al, bl;
    const char *kind = safetensors_meta(st, "lectern.tokenizer.kind", &kl);
    if (kind) {
        const char *ta = safetensors_meta(st, "lectern.tokenizer.a", &al);
        const char *tb = safetensors_meta(st, "lectern.tokenizer.b", &bl);
        if (kl == 8 && memcmp(kind, "gpt2-bpe", 8) == 0 && ta && tb)
            rc = tokenizer_gpt2_from_text(&tok, ta, al, tb, bl, path);
        else if (kl == 4 && memcmp(kind, "char", 4) == 0 && ta)
            rc = tokenizer_char_new(&tok, ta, al);
        else
            rc = ERR(ERR_FORMAT, "%s: unknown or incomplete tokenizer in metadata", path);
        if (rc) goto fail;
        if ((rc = trainer_set_tokenizer(tr, tok))) goto fail;
        tok = NULL;
    }
    free(tr->model->path);
    tr->model->path = xstrdup(path);
    safetensors_free(st);
    *out = tr;
    return 0;
fail:
    tokenizer_free(tok);
    trainer_free(tr);
    safetensors_free(st);
    return rc;
}

/* ---- sampling and `lectern loss` --------------------------------------------------- */

int trainer_sample(Trainer *tr, const int *prompt, int n, int n_new, float temperature,
                   unsigned long seed, int *out)
{
    const ModelConfig *c = &tr->cfg;
    if (n < 1 || n_new < 0) return ERR(ERR_ARG, "sample: need a prompt of at least one token");
    if (n + n_new > c->n_ctx)
        return ERR(ERR_RANGE, "sample: %d tokens exceed the model's context %d", n + n_new, c->n_ctx);
    RunState rs;
    int rc = runstate_init(&rs, c, n + n_new, n);
    if (rc) return rc;
    SamplerParams sp = SAMPLER_DEFAULTS;
    sp.temperature = temperature;
    sp.seed = seed;
    Sampler *smp = sampler_alloc(c->vocab_size, sp);
    if ((rc = sampler_set(smp, sp))) goto done;
    float *logits = xmalloc(sizeof(float) * (size_t)c->padded_vocab);
    memcpy(out, prompt, sizeof(int) * (size_t)n);
    rc = model_forward(tr->model, &rs, prompt, n, 0, logits, 0, NULL);
    for (int i = 0; i < n_new && !rc; i++) {
        out[n + i] = sampler_sample(smp, logits, c->vocab_size, NULL, NULL);
        if (i + 1 < n_new) rc = model_forward(tr->model, &rs, out + n + i, 1, n + i, logits, 0, NULL);
    }
    free(logits);
done:
    sampler_free(smp);
    runstate_done(&rs);
    return rc;
}

int train_loss(const Model *m, const int *ids, int n, float *loss, TrainGradNorms *norms)
{
    if (n < 2) return ERR(ERR_ARG, "loss: need at least two tokens (one input, one target)");
    if (n - 1 > m->cfg.n_ctx)
        return ERR(ERR_RANGE, "loss: %d positions exceed the model's context %d", n - 1, m->cfg.n_ctx);
    Trainer *tr;
    int rc = trainer_alloc(&tr, m, NULL);
    if (rc) return rc;
    rc = trainer_forward(tr, ids, ids + 1, 1, n - 1, loss);
    if (!rc && norms) {
        rc = trainer_backward(tr, 1.0f);
        if (!rc) {
            norms->n = tr->n_t;
            norms->names = xcalloc((size_t)tr->n_t, sizeof(char *));
            norms->norms = xcalloc((size_t)tr->n_t, sizeof(double));
            trainer_grad_norms(tr, norms->norms);
            for (int i = 0; i < tr->n_t; i++) norms->names[i] = xstrdup(tr->t[i].name);
        }
    }
    trainer_free(tr);
    return rc;
}

void train_grad_norms_done(TrainGradNorms *g)
{
    if (!g) return;
    for (int i = 0; i < g->n; i++) free(g->names[i]);
    free(g->names);
    free(g->norms);
    memset(g, 0, sizeof *g);
}
