/* fuzz_llama2c — libFuzzer target: any bytes given to the llama2.c loader either load into
 * a model whose every weight pointer lies inside the input or converted storage, or fail
 * with a message; never a crash, never a read past the buffer (ASan).
 * A model that loads is also run for two positions (when every Linear has float weights;
 * a Q8_0 one also goes through matmul_q8_forward directly) and written back out, which must
 * reload to the same config.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/llama2c.h"
#include "engine/loaders.h"
#include "engine/model.h"
#include "engine/q8.h"

/* 1 when some Linear is Q8_0 only (no float copy): the forward pass reads Linear.w. */
static int has_q8(const Model *m)
{
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const LayerWeights *w = &m->w.layer[l];
        if (!w->q.w || !w->k.w || !w->v.w || !w->o.w || !w->fc.w || !w->fc_gate.w || !w->proj.w) return 1;
    }
    return m->w.head.w == NULL;
}

static void exercise(const Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Linear *lin = &m->w.layer[0].q;
    if (lin->wq8) {
        float *x = calloc((size_t)lin->in, sizeof(float)), *y = malloc(sizeof(float) * (size_t)lin->out);
        int8_t *xq = malloc((size_t)lin->in);
        float *xs = malloc(sizeof(float) * (size_t)(lin->in / lin->q8_group));
        for (int i = 0; i < lin->in; i++) x[i] = (float)(i % 5) - 2.0f;
        quantize_q8_forward(xq, xs, x, 1, lin->in, lin->q8_group);
        matmul_q8_forward(y, xq, xs, lin, 1);
        free(x); free(y); free(xq); free(xs);
    }
    if (has_q8(m)) return;
    RunState s;
    if (runstate_init(&s, c, 2, 2)) return;
    int toks[2] = {0, c->vocab_size - 1};
    float *lg = malloc(sizeof(float) * 2 * (size_t)c->padded_vocab);
    model_forward(m, &s, toks, 2, 0, lg, 1, NULL);
    free(lg);
    runstate_done(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the loader wants 4-byte alignment, as a mapping gives */
    void *buf = NULL;
    if (posix_memalign(&buf, 64, size ? size : 1)) return 0;
    memcpy(buf, data, size);
    llama2c_probe(buf, size);
    Model *m = NULL;
    if (llama2c_parse(&m, buf, size, "fuzz.bin") == 0) {
        /* small models only: the input bounds every tensor but not seq_len */
        if ((size_t)m->cfg.n_layer * (size_t)m->cfg.n_embd < 4096) exercise(m);
        char path[] = "/tmp/fuzz-l2-XXXXXX";
        int fd = m->cfg.n_ctx <= 4096 ? mkstemp(path) : -1;  /* legacy files hold n_ctx-long tables */
        if (fd >= 0) {
            close(fd);
            for (int v = 0; v <= 1; v++) {
                if (llama2c_write(m, path, v) == 0) {
                    Model *r = NULL;
                    if (model_load(&r, path, NULL) != 0) abort();
                    if (memcmp(&r->cfg, &m->cfg, sizeof m->cfg) != 0) abort();
                    model_free(r);
                }
            }
            unlink(path);
        }
        model_free(m);
    } else if (err_msg()[0] == 0) {
        abort();  /* every failure must say why */
    }
    free(buf);
    err_clear();
    return 0;
}
