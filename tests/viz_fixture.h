/* A hand-built Trace for the view tests: 2 layers, 2 heads, 4 tokens, 8-token vocabulary
 * with Cyrillic, whitespace, a control byte and half of a UTF-8 sequence.  Every weight is
 * written out so the expected pictures can be checked by hand. */
#ifndef LECTERN_TESTS_VIZ_FIXTURE_H
#define LECTERN_TESTS_VIZ_FIXTURE_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/trace.h"

#define FX_L 2
#define FX_NH 2
#define FX_V 9
#define FX_N 4

static const char *const fx_vocab[FX_V] = {
    "The", " cat", "\n", " кот", "\t", "\xD0", "", "сидит", "a\x01",
};
static const size_t fx_vocab_len[FX_V] = {3, 4, 1, 7, 1, 1, 0, 10, 2};

/* (L, NH) rows of the causal matrix, query q has q+1 keys */
static const float fx_attn[FX_L][FX_NH][FX_N][FX_N] = {
    { /* layer 0 */
        {{1, 0, 0, 0}, {0.75f, 0.25f, 0, 0}, {0.5f, 0.3f, 0.2f, 0}, {0.05f, 0.15f, 0.3f, 0.5f}},
        {{1, 0, 0, 0}, {0.125f, 0.875f, 0, 0}, {0.02f, 0.08f, 0.9f, 0}, {0.91f, 0.03f, 0.03f, 0.03f}},
    },
    { /* layer 1 */
        {{1, 0, 0, 0}, {0.4f, 0.6f, 0, 0}, {0.33f, 0.33f, 0.34f, 0}, {0.25f, 0.25f, 0.25f, 0.25f}},
        {{1, 0, 0, 0}, {0.99f, 0.01f, 0, 0}, {0.6f, 0.0005f, 0.3995f, 0}, {0.7f, 0.1f, 0.1f, 0.1f}},
    },
};

typedef struct {
    Trace t;
    int tokens[FX_N];
    float token_prob[FX_N];
    float *rows[FX_N];
    int nkeys[FX_N];
    StepDist *dist[FX_N + 1];
    StepDist pending, at3;
    float p_logits[FX_V], p_probs[FX_V], p_filt[FX_V];
    float q_logits[FX_V], q_probs[FX_V], q_filt[FX_V];
} Fixture;

static void fx_build(Fixture *f)
{
    memset(f, 0, sizeof *f);
    const int toks[FX_N] = {0, 3, 1, 2};   /* The ␣кот ␣cat ↵ */
    memcpy(f->tokens, toks, sizeof toks);
    for (int q = 0; q < FX_N; q++) {
        f->nkeys[q] = q + 1;
        f->rows[q] = calloc((size_t)FX_L * FX_NH * (size_t)(q + 1), sizeof(float));
        for (int l = 0; l < FX_L; l++)
            for (int h = 0; h < FX_NH; h++)
                for (int k = 0; k <= q; k++)
                    f->rows[q][(l * FX_NH + h) * (q + 1) + k] = fx_attn[l][h][q][k];
        f->token_prob[q] = q == 0 ? NAN : 0.1f * (float)q;
    }
    /* pending distribution: probs sorted by hand; top-k 3 at T 0.7 keeps 3 tokens */
    const float probs[FX_V] = {0.05f, 0.40f, 0.02f, 0.25f, 0.01f, 0.005f, 0.005f, 0.22f, 0.04f};
    const float filt[FX_V] = {0, 0.4771f, 0, 0.2702f, 0, 0, 0, 0.2527f, 0};
    memcpy(f->p_probs, probs, sizeof probs);
    memcpy(f->p_filt, filt, sizeof filt);
    f->pending = (StepDist){.pos = FX_N, .logits = f->p_logits, .probs = f->p_probs,
                            .filtered = f->p_filt, .chosen = -1, .forced = 0,
                            .params = {.temperature = 0.7f, .top_k = 3, .top_p = 1.0f, .seed = 7}};
    /* position 3 (the ↵) was sampled with rank 4 under plain sampling */
    const float qp[FX_V] = {0.30f, 0.28f, 0.12f, 0.15f, 0.05f, 0.04f, 0.03f, 0.02f, 0.01f};
    memcpy(f->q_probs, qp, sizeof qp);
    memcpy(f->q_filt, qp, sizeof qp);
    f->at3 = (StepDist){.pos = 3, .logits = f->q_logits, .probs = f->q_probs,
                        .filtered = f->q_filt, .chosen = 2, .forced = 0,
                        .params = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 7}};
    f->dist[3] = &f->at3;
    f->dist[4] = &f->pending;

    Trace *t = &f->t;
    t->n_layer = FX_L;
    t->n_head = FX_NH;
    t->n_embd = 8;
    t->n_vocab = FX_V;
    t->n = FX_N;
    t->n_prompt = 3;
    t->tokens = f->tokens;
    t->token_prob = f->token_prob;
    t->have_attn = 1;
    t->attn_row = f->rows;
    t->attn_nkeys = f->nkeys;
    t->dist = f->dist;
    t->vocab = fx_vocab;
    t->vocab_len = fx_vocab_len;
    t->model_name = "tiny.safetensors";
    t->mask_name = "causal";
    t->kernel_name = "attention_forward (engine/attention.c)";
    t->cap = FX_N;
}

static void fx_free(Fixture *f)
{
    for (int q = 0; q < FX_N; q++) free(f->rows[q]);
}

#endif
