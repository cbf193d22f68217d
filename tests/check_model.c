/* Tests for the forward pass: ops against their naive twins, both attention paths, and
 * the GPT-2 engine against nanoGPT's outputs on the tiny model in ../shared. */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/attention.h"
#include "engine/effattn.h"
#include "engine/err.h"
#include "engine/pattern.h"
#include "engine/gen.h"
#include "engine/model.h"
#include "engine/model_io.h"
#include "engine/ops.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "tests/util/oracle.h"
#include "tests/util/testutil.h"

static void fill(gsl_rng *r, float *x, size_t n, double sd)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian(r, sd);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

START_TEST(test_matmul_layouts_against_naive)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2385);
    const int in = 37, out = 23, pad = 5;
    for (int layout = 0; layout < 2; layout++)
        for (int N = 1; N <= 9; N += 4) {
            int ld = (layout == W_OUT_IN ? in : out) + pad;
            int rows = layout == W_OUT_IN ? out : in;
            float *w = malloc(sizeof(float) * (size_t)rows * ld), *b = malloc(sizeof(float) * out);
            float *x = malloc(sizeof(float) * (size_t)N * in);
            float *y1 = malloc(sizeof(float) * (size_t)N * out), *y2 = malloc(sizeof(float) * (size_t)N * out);
            fill(r, w, (size_t)rows * ld, 0.3);
            fill(r, b, out, 0.1);
            fill(r, x, (size_t)N * in, 1.0);
            Linear lin = {.w = w, .b = (N & 1) ? b : NULL, .in = in, .out = out, .ld = ld, .layout = (WeightLayout)layout};
            matmul_forward(y1, x, &lin, N);
            matmul_forward_naive(y2, x, &lin, N);
            ck_assert_msg(max_abs_diff(y1, y2, (size_t)N * out) < 1e-5, "layout %d N %d", layout, N);
            free(w); free(b); free(x); free(y1); free(y2);
        }
    gsl_rng_free(r);
}
END_TEST

START_TEST(test_attention_paths_against_naive)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    const int NH = 4, NKV = 2, HS = 8, C = NH * HS, kv = NKV * HS, pos0 = 5;
    for (int mask = 0; mask < 2; mask++)
        for (int T = 1; T <= 13; T += 4) {  /* T < 8 takes the loop path, T >= 8 the BLAS path */
            const int nt = pos0 + T;
            float *q = malloc(sizeof(float) * (size_t)T * C), *kc = malloc(sizeof(float) * (size_t)nt * kv);
            float *vc = malloc(sizeof(float) * (size_t)nt * kv);
            float *o1 = malloc(sizeof(float) * (size_t)T * C), *o2 = malloc(sizeof(float) * (size_t)T * C);
            float *scratch = malloc(sizeof(float) * (size_t)(T > NH ? T : NH) * nt);
            float *cap = malloc(sizeof(float) * (size_t)NH * T * nt);
            fill(r, q, (size_t)T * C, 1.5);
            fill(r, kc, (size_t)nt * kv, 1.0);
            fill(r, vc, (size_t)nt * kv, 1.0);
            AttnSpec spec = {(MaskKind)mask, NULL, NULL};
            attention_forward(o1, q, kc, vc, T, pos0, NH, NKV, HS, &spec, scratch, NULL, cap, T, 0, nt);
            attention_forward_naive(o2, q, kc, vc, T, pos0, NH, NKV, HS, (MaskKind)mask);
            ck_assert_msg(max_abs_diff(o1, o2, (size_t)T * C) < 2e-6, "mask %d T %d diff %g", mask, T,
                          max_abs_diff(o1, o2, (size_t)T * C));
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++) {
                    double s = 0;
                    int nk = mask == MASK_CAUSAL ? pos0 + t + 1 : nt;
                    for (int j = 0; j < nt; j++) {
                        float a = cap[((size_t)h * T + t) * nt + j];
                        if (j >= nk) ck_assert_float_eq(a, 0.0f);
                        s += a;
                    }
                    ck_assert_double_eq_tol(s, 1.0, 1e-5);
                }
            free(q); free(kc); free(vc); free(o1); free(o2); free(scratch); free(cap);
        }
    gsl_rng_free(r);
}
END_TEST

/* ---- the tiny GPT-2 against nanoGPT --------------------------------------------- */

static Model *load_tiny(void)
{
    const char *dir = shared_path("models/gpt2-tiny", "tiny GPT-2 oracle tests");
    if (!dir) return NULL;
    Model *m = NULL;
    int rc = model_load(&m, dir, NULL);
    ck_assert_msg(rc == 0, "load: %s", err_msg());
    return m;
}

static void check_logits(const char *seq)
{
    Model *m = load_tiny();
    if (!m) return;
    char rel[128];
    snprintf(rel, sizeof rel, "oracles/gpt2-tiny/%s.ids", seq);
    const char *ids_path = shared_path(rel, "oracle ids");
    snprintf(rel, sizeof rel, "oracles/gpt2-tiny/logits_%s.txt", seq);
    const char *lg_path = shared_path(rel, "oracle logits");
    if (!ids_path || !lg_path) { model_free(m); return; }
    int n, rows, cols;
    int *ids = oracle_read_ids(ids_path, &n);
    double *want = oracle_read_matrix(lg_path, &rows, &cols);
    ck_assert_ptr_nonnull(ids);
    ck_assert_ptr_nonnull(want);
    ck_assert_int_eq(rows, n);
    ck_assert_int_eq(cols, m->cfg.vocab_size);
    const int Vp = m->cfg.padded_vocab, V = m->cfg.vocab_size;

    /* one prefill over the whole sequence */
    RunState s;
    ck_assert_int_eq(runstate_init(&s, &m->cfg, 0, 16), 0);
    float *lg = malloc(sizeof(float) * (size_t)n * Vp);
    ck_assert_int_eq(model_forward(m, &s, ids, n, 0, lg, 1, NULL), 0);
    double worst = 0;
    for (int t = 0; t < n; t++)
        for (int v = 0; v < V; v++) {
            double d = fabs(lg[(size_t)t * Vp + v] - want[(size_t)t * V + v]);
            if (d > worst) worst = d;
        }
    ck_assert_msg(worst < 1e-4, "%s: prefill logits differ from nanoGPT by %g", seq, worst);

    /* the same sequence one token at a time over the KV cache */
    RunState s1;
    ck_assert_int_eq(runstate_init(&s1, &m->cfg, 0, 1), 0);
    float *step = malloc(sizeof(float) * (size_t)Vp);
    double worst_step = 0;
    for (int t = 0; t < n; t++) {
        ck_assert_int_eq(model_forward(m, &s1, ids + t, 1, t, step, 0, NULL), 0);
        double d = max_abs_diff(step, lg + (size_t)t * Vp, (size_t)V);
        if (d > worst_step) worst_step = d;
    }
    ck_assert_msg(worst_step < 2e-5, "%s: stepping differs from prefill by %g", seq, worst_step);
    runstate_done(&s);
    runstate_done(&s1);
    free(lg); free(step); free(ids); free(want);
    model_free(m);
}

/* The Conv1D weights are transposed at load both from the mapped file (F32: its pages are
 * then dropped) and from an owned conversion (F16: the conversion is replaced).  The same
 * values stored both ways must give bit-identical logits, and close to the F32 original. */
static char *write_variant(const char *dir, const char *cfg_json, size_t cfg_len, const SafeTensors *st,
                           int as_f16)
{
    char *out = malloc(strlen(dir) + 64);
    sprintf(out, "%s/%s", dir, as_f16 ? "f16" : "f32");
    ck_assert_int_eq(mkdir(out, 0755), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", out);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(cfg_json, 1, cfg_len, f), cfg_len);
    fclose(f);
    const int n = safetensors_count(st);
    Tensor *ts = calloc((size_t)n, sizeof *ts);
    void **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        ts[i] = *safetensors_get(st, i);
        ck_assert_int_eq(ts[i].dtype, DT_F32);
        const size_t cnt = ts[i].nbytes / 4;
        const float *src = ts[i].data;
        if (as_f16) {
            uint16_t *h = malloc(cnt * 2);
            for (size_t k = 0; k < cnt; k++) h[k] = float_to_half(src[k]);
            ts[i].dtype = DT_F16;
            ts[i].nbytes = cnt * 2;
            bufs[i] = h;
        } else {
            float *g = malloc(cnt * 4);
            for (size_t k = 0; k < cnt; k++) g[k] = half_to_float(float_to_half(src[k]));
            bufs[i] = g;
        }
        ts[i].data = bufs[i];
    }
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    ck_assert_msg(safetensors_write(path, ts, n, NULL, NULL, 0) == 0, "%s", err_msg());
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(ts);
    return out;
}

static float *tiny_logits(const char *dir, const int *ids, int n)
{
    Model *m = NULL;
    ck_assert_msg(model_load(&m, dir, NULL) == 0, "%s", err_msg());
    RunState s;
    ck_assert_int_eq(runstate_init(&s, &m->cfg, 0, n), 0);
    const size_t Vp = (size_t)m->cfg.padded_vocab;
    float *lg = malloc(sizeof(float) * (size_t)n * Vp);
    ck_assert_int_eq(model_forward(m, &s, ids, n, 0, lg, 1, NULL), 0);
    /* and a decode step over the cache, the path that reads the transposed rows one by one */
    float *step = malloc(sizeof(float) * Vp);
    ck_assert_int_eq(model_forward(m, &s, ids + n - 1, 1, n - 1, step, 0, NULL), 0);
    ck_assert_msg(max_abs_diff(step, lg + (size_t)(n - 1) * Vp, Vp) < 2e-5, "decode differs from prefill");
    free(step);
    runstate_done(&s);
    model_free(m);
    return lg;
}

START_TEST(test_tiny_f16_and_f32_load_alike)
{
    const char *dir = shared_path("models/gpt2-tiny", "tiny GPT-2 load variants");
    const char *ip = shared_path("oracles/gpt2-tiny/hello.ids", "oracle ids");
    if (!dir || !ip) return;
    char src[512];
    snprintf(src, sizeof src, "%s/model.safetensors", dir);
    SafeTensors *st = NULL;
    ck_assert_msg(safetensors_open(&st, src) == 0, "%s", err_msg());
    snprintf(src, sizeof src, "%s/config.json", dir);
    size_t cfg_len = 0;
    char *cfg = read_file(src, &cfg_len);
    ck_assert_ptr_nonnull(cfg);
    char tmpl[] = "/tmp/lectern-f16-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char *d16 = write_variant(tmpl, cfg, cfg_len, st, 1), *d32 = write_variant(tmpl, cfg, cfg_len, st, 0);
    int n;
    int *ids = oracle_read_ids(ip, &n);
    ck_assert_ptr_nonnull(ids);
    float *l16 = tiny_logits(d16, ids, n), *l32 = tiny_logits(d32, ids, n), *l0 = tiny_logits(dir, ids, n);
    Model *m = NULL;
    ck_assert_int_eq(model_load(&m, dir, NULL), 0);
    const size_t cnt = (size_t)n * (size_t)m->cfg.padded_vocab;
    model_free(m);
    ck_assert_msg(memcmp(l16, l32, sizeof(float) * cnt) == 0, "F16 and rounded F32 files give different logits");
    const double d = max_abs_diff(l16, l0, cnt);
    ck_assert_msg(d > 0 && d < 0.05, "F16 rounding moved the logits by %g", d);
    free(l16); free(l32); free(l0); free(ids); free(cfg);
    safetensors_free(st);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    ck_assert_int_eq(system(cmd), 0);
    free(d16); free(d32);
}
END_TEST

static void check_greedy(const char *seq);

/* LECTERN_ZERO_COPY=1: the Conv1D weights stay (in, out) views into the file; the oracle
 * logits (prefill and step) still hold, and agree with the transposed load's. */
START_TEST(test_tiny_zero_copy_load)
{
    const char *dir = shared_path("models/gpt2-tiny", "tiny GPT-2 zero-copy load");
    const char *ip = shared_path("oracles/gpt2-tiny/hello.ids", "oracle ids");
    if (!dir || !ip) return;
    int n;
    int *ids = oracle_read_ids(ip, &n);
    ck_assert_ptr_nonnull(ids);
    float *lt = tiny_logits(dir, ids, n);
    ck_assert_int_eq(setenv("LECTERN_ZERO_COPY", "1", 1), 0);
    Model *m = NULL;
    ck_assert_int_eq(model_load(&m, dir, NULL), 0);
    for (int l = 0; l < m->cfg.n_layer; l++) {
        ck_assert_int_eq(m->w.layer[l].q.layout, W_IN_OUT);
        ck_assert_int_eq(m->w.layer[l].q.ld, 3 * m->cfg.n_embd);
        ck_assert_int_eq(m->w.layer[l].proj.layout, W_IN_OUT);
    }
    const size_t cnt = (size_t)n * (size_t)m->cfg.padded_vocab;
    model_free(m);
    float *lz = tiny_logits(dir, ids, n);
    check_logits("hello");
    check_greedy("hello");
    ck_assert_int_eq(unsetenv("LECTERN_ZERO_COPY"), 0);
    const double d = max_abs_diff(lt, lz, cnt);
    ck_assert_msg(d < 1e-5, "zero-copy and transposed loads differ by %g", d);
    free(lt); free(lz); free(ids);
}
END_TEST

START_TEST(test_tiny_logits_hello) { check_logits("hello"); }
END_TEST
START_TEST(test_tiny_logits_rand40) { check_logits("rand40"); }
END_TEST

static void check_greedy(const char *seq)
{
    Model *m = load_tiny();
    if (!m) return;
    char rel[128];
    snprintf(rel, sizeof rel, "oracles/gpt2-tiny/greedy_%s.txt", seq);
    const char *p = shared_path(rel, "oracle greedy continuation");
    if (!p) { model_free(m); return; }
    int np, ng;
    int *prompt = oracle_read_keyed_ids(p, "prompt", &np);
    int *greedy = oracle_read_keyed_ids(p, "greedy", &ng);
    ck_assert_int_eq(ng, 20);
    Gen *g;
    ck_assert_int_eq(gen_alloc(&g, m, 0, 0), 0);
    SamplerParams sp = gen_params(g);
    sp.temperature = 0.0f;
    ck_assert_int_eq(gen_set_params(g, sp), 0);
    ck_assert_int_eq(gen_prompt(g, prompt, np), 0);
    for (int i = 0; i < ng; i++) {
        int tok;
        ck_assert_int_eq(gen_step(g, -1, &tok), 0);
        ck_assert_msg(tok == greedy[i], "%s step %d: got %d, nanoGPT %d", seq, i, tok, greedy[i]);
    }
    gen_free(g);
    free(prompt); free(greedy);
    model_free(m);
}

START_TEST(test_tiny_greedy_hello) { check_greedy("hello"); }
END_TEST
START_TEST(test_tiny_greedy_rand40) { check_greedy("rand40"); }
END_TEST

START_TEST(test_tiny_attention_all_heads)
{
    Model *m = load_tiny();
    if (!m) return;
    const char *ap = shared_path("oracles/gpt2-tiny/attn_all_hello.txt", "oracle attention");
    const char *ip = shared_path("oracles/gpt2-tiny/hello.ids", "oracle ids");
    const char *l0 = shared_path("oracles/gpt2-tiny/attn_l0h0_hello.txt", "oracle attention l0h0");
    if (!ap || !ip || !l0) { model_free(m); return; }
    int n, rows, cols, r0, c0;
    int *ids = oracle_read_ids(ip, &n);
    double *want = oracle_read_matrix(ap, &rows, &cols);
    double *want0 = oracle_read_matrix(l0, &r0, &c0);
    ck_assert_int_eq(rows, m->cfg.n_layer * m->cfg.n_head * n);
    ck_assert_int_eq(cols, n);
    Gen *g;
    ck_assert_int_eq(gen_alloc(&g, m, 1, 0), 0);
    /* the prompt in two parts: a prefill of 4, then steps, so both paths fill the rows */
    ck_assert_int_eq(gen_prompt(g, ids, 4), 0);
    for (int t = 4; t < n; t++) ck_assert_int_eq(gen_step(g, ids[t], NULL), 0);
    const Trace *tr = gen_trace(g);
    ck_assert_int_eq(tr->n, n);
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int h = 0; h < m->cfg.n_head; h++)
            for (int q = 0; q < n; q++)
                for (int k = 0; k < n; k++) {
                    double w = want[(((size_t)l * m->cfg.n_head + h) * n + q) * n + k];
                    ck_assert_msg(fabs(trace_attn(tr, l, h, q, k) - w) < 1e-5, "l%d h%d q%d k%d", l, h, q, k);
                }
    for (int q = 0; q < n; q++)
        for (int k = 0; k < n; k++)
            ck_assert(fabs(trace_attn(tr, 0, 0, q, k) - want0[q * n + k]) < 1e-5);
    gen_free(g);
    free(ids); free(want); free(want0);
    model_free(m);
}
END_TEST

START_TEST(test_gen_back_and_force)
{
    Model *m = load_tiny();
    if (!m) return;
    const int prompt[] = {15496, 11, 616, 3290, 318, 13779, 290};
    Gen *g;
    ck_assert_int_eq(gen_alloc(&g, m, 1, 1), 0);
    SamplerParams sp = gen_params(g);
    sp.seed = 2385;
    ck_assert_int_eq(gen_set_params(g, sp), 0);
    ck_assert_int_eq(gen_prompt(g, prompt, 7), 0);
    const Trace *tr = gen_trace(g);
    float first[8];
    memcpy(first, trace_next(tr)->logits, sizeof first);
    int a[5];
    for (int i = 0; i < 5; i++) ck_assert_int_eq(gen_step(g, -1, &a[i]), 0);
    ck_assert_int_eq(tr->n, 12);
    /* rewind all generated tokens: the pending distribution is the prompt's again */
    ck_assert_int_eq(gen_back(g, 5), 0);
    ck_assert_int_eq(tr->n, 7);
    ck_assert(max_abs_diff(first, trace_next(tr)->logits, 8) == 0.0);
    /* force a token and continue: the KV cache past the rewind point is overwritten */
    ck_assert_int_eq(gen_step(g, 42, NULL), 0);
    ck_assert_int_eq(tr->tokens[7], 42);
    ck_assert(trace_next(tr) != NULL);
    /* compare with a fresh prefill of the same 8 tokens */
    int ctx[8];
    memcpy(ctx, prompt, sizeof prompt);
    ctx[7] = 42;
    Gen *g2;
    ck_assert_int_eq(gen_alloc(&g2, m, 0, 0), 0);
    ck_assert_int_eq(gen_prompt(g2, ctx, 8), 0);
    ck_assert(max_abs_diff(trace_next(tr)->logits, trace_next(gen_trace(g2))->logits, (size_t)m->cfg.vocab_size) < 2e-5);
    /* rewinding into the prompt recomputes the pending distribution */
    ck_assert_int_eq(gen_back(g, 3), 0);
    ck_assert_int_eq(gen_prompt(g2, ctx, 5), 0);
    ck_assert(max_abs_diff(trace_next(tr)->logits, trace_next(gen_trace(g2))->logits, (size_t)m->cfg.vocab_size) < 2e-5);
    ck_assert_int_eq(gen_back(g, 5), ERR_ARG);  /* one token must stay */
    ck_assert_int_eq(gen_step(g, 50257, NULL), ERR_ARG);
    /* logit lens: the last layer's top token equals the argmax of the real logits */
    int id;
    float p;
    ck_assert_int_eq(gen_lens(g, m->cfg.n_layer, tr->n - 1, 1, &id, &p), 0);
    ck_assert_int_eq(id, sampler_argmax(trace_next(tr)->logits, m->cfg.vocab_size));
    gen_free(g);
    gen_free(g2);
    model_free(m);
}
END_TEST

START_TEST(test_same_seed_same_tokens)
{
    Model *m = load_tiny();
    if (!m) return;
    const int prompt[] = {15496, 11, 616};
    int out[2][30];
    for (int run = 0; run < 2; run++) {
        Gen *g;
        ck_assert_int_eq(gen_alloc(&g, m, 0, 0), 0);
        SamplerParams sp = {.temperature = 0.9f, .top_k = 50, .top_p = 0.95f, .seed = 1234};
        ck_assert_int_eq(gen_set_params(g, sp), 0);
        ck_assert_int_eq(gen_prompt(g, prompt, 3), 0);
        for (int i = 0; i < 30; i++) ck_assert_int_eq(gen_step(g, -1, &out[run][i]), 0);
        gen_free(g);
    }
    ck_assert_mem_eq(out[0], out[1], sizeof out[0]);
    model_free(m);
}
END_TEST

START_TEST(test_context_overflow_is_an_error)
{
    Model *m = load_tiny();
    if (!m) return;
    int ids[65];
    for (int i = 0; i < 65; i++) ids[i] = 100 + i;
    Gen *g;
    ck_assert_int_eq(gen_alloc(&g, m, 1, 0), 0);
    ck_assert_int_eq(gen_prompt(g, ids, 65), ERR_RANGE);
    ck_assert_int_eq(gen_prompt(g, ids, 63), 0);
    ck_assert_int_eq(gen_step(g, -1, NULL), 0);
    ck_assert_int_eq(gen_step(g, -1, NULL), ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err_msg(), "context full"));
    ck_assert_int_eq(gen_trace(g)->n, 64);
    ck_assert_int_eq(gen_back(g, 1), 0);
    ck_assert_int_eq(gen_step(g, -1, NULL), 0);  /* still usable */
    gen_free(g);
    model_free(m);
}
END_TEST

START_TEST(test_patterns_and_kernels_in_the_model)
{
    Model *m = load_tiny();
    if (!m) return;
    const int ids[] = {15496, 11, 616, 3290, 318, 13779, 290, 262, 1266, 286};
    const int n = 10, V = m->cfg.vocab_size, L = m->cfg.n_layer;
    Gen *g;
    ck_assert_int_eq(gen_alloc(&g, m, 1, 0), 0);
    ck_assert_int_eq(gen_prompt(g, ids, n), 0);
    float *exact = malloc(sizeof(float) * (size_t)V);
    memcpy(exact, trace_next(gen_trace(g))->logits, sizeof(float) * (size_t)V);

    /* the full pattern through the sparse path is exact attention */
    Pattern *full, *win;
    ck_assert_int_eq(pattern_parse("full", m->cfg.n_ctx, 1, 1, &full), 0);
    for (int l = 0; l < L; l++) m->attn[l].pattern = full;
    gen_attn_changed(g);
    ck_assert_int_eq(gen_prompt(g, ids, n), 0);
    ck_assert(max_abs_diff(exact, trace_next(gen_trace(g))->logits, (size_t)V) < 1e-5);
    ck_assert_ptr_nonnull(strstr(gen_trace(g)->kernel_name, "attention_sparse"));

    /* a window: weights only inside the last 3 keys, rows still distributions */
    ck_assert_int_eq(pattern_parse("window w=3", m->cfg.n_ctx, 1, 1, &win), 0);
    for (int l = 0; l < L; l++) m->attn[l].pattern = win;
    gen_attn_changed(g);
    ck_assert_int_eq(gen_prompt(g, ids, n - 1), 0);
    ck_assert_int_eq(gen_step(g, ids[n - 1], NULL), 0);  /* the decode path too */
    const Trace *tr = gen_trace(g);
    for (int l = 0; l < L; l++)
        for (int q = 0; q < n; q++) {
            double sum = 0;
            for (int k = 0; k <= q; k++) {
                float a = trace_attn(tr, l, 1, q, k);
                if (k < q - 2) ck_assert_float_eq(a, 0.0f);
                sum += a;
            }
            ck_assert_double_eq_tol(sum, 1.0, 1e-5);
        }
    ck_assert(max_abs_diff(exact, trace_next(tr)->logits, (size_t)V) > 1e-3);
    /* the trace names each layer's pattern, and points at it for the views */
    for (int l = 0; l < L; l++) {
        ck_assert_ptr_eq(tr->patterns[l], win);
        ck_assert_str_eq(tr->mask_names[l], pattern_name(win));
        ck_assert_ptr_nonnull(strstr(tr->kernel_names[l], "attention_sparse"));
    }
    m->attn[0].pattern = NULL;                            /* per layer, not layer 0's for all */
    gen_attn_changed(g);
    ck_assert_ptr_null(tr->patterns[0]);
    ck_assert_str_eq(tr->mask_names[0], "causal");
    ck_assert_ptr_eq(tr->patterns[L - 1], win);
    ck_assert_str_eq(tr->mask_name, "causal");

    /* a kernel method: implied weights are recorded and the logits are finite */
    Effattn *lin;
    ck_assert_int_eq(effattn_parse("linear", model_head_size(&m->cfg), m->cfg.n_ctx, 1, &lin), 0);
    for (int l = 0; l < L; l++) { m->attn[l].pattern = NULL; m->attn[l].kernel = lin; }
    gen_attn_changed(g);
    ck_assert_int_eq(gen_prompt(g, ids, n), 0);
    for (int v = 0; v < V; v++) ck_assert(isfinite(trace_next(tr)->logits[v]));
    double sum = 0;
    for (int k = 0; k < n; k++) sum += trace_attn(tr, 0, 0, n - 1, k);
    ck_assert_double_eq_tol(sum, 1.0, 1e-4);
    ck_assert_ptr_nonnull(strstr(tr->kernel_name, "effattn"));
    ck_assert_ptr_null(tr->patterns[L - 1]);              /* a kernel's rows are dense */
    for (int l = 0; l < L; l++) m->attn[l].kernel = NULL;
    gen_free(g);
    pattern_free(full);
    pattern_free(win);
    effattn_free(lin);
    free(exact);
    model_free(m);
}
END_TEST

/* ---- bad checkpoints --------------------------------------------------------------- */

static char *tmpdir_with(const char *config_src, const void *st, size_t st_len)
{
    char tmpl[] = "/tmp/lectern-model-XXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    d = strdup(d);
    char path[512];
    if (config_src) {
        snprintf(path, sizeof path, "%s/config.json", d);
        FILE *f = fopen(path, "w");
        fputs(config_src, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    FILE *f = fopen(path, "wb");
    fwrite(st, 1, st_len, f);
    fclose(f);
    return d;
}

static void rm_dir(char *d)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    free(d);
}

START_TEST(test_bad_checkpoints)
{
    const char *dir = shared_path("models/gpt2-tiny", "bad-checkpoint tests");
    if (!dir) return;
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t len;
    char *bytes = read_file(p, &len);
    snprintf(p, sizeof p, "%s/config.json", dir);
    char *cfg = read_file(p, NULL);
    ck_assert_ptr_nonnull(bytes);

    Model *m = NULL;
    /* truncated: the header promises more data than there is */
    char *d = tmpdir_with(cfg, bytes, len / 2);
    ck_assert_int_lt(model_load(&m, d, NULL), 0);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err_msg(), "model.safetensors"));
    rm_dir(d);

    /* a config whose shapes disagree with the tensors */
    char *bad = strdup(cfg);
    char *e = strstr(bad, "\"n_embd\": 64");
    if (e) memcpy(e, "\"n_embd\": 32", 12);
    d = tmpdir_with(bad, bytes, len);
    ck_assert_int_eq(model_load(&m, d, NULL), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "has shape"));
    rm_dir(d);
    free(bad);

    /* no config.json at all */
    d = tmpdir_with(NULL, bytes, len);
    ck_assert_int_eq(model_load(&m, d, NULL), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "config.json"));
    rm_dir(d);

    /* not a model at all */
    char junk[64];
    memset(junk, 'x', sizeof junk);
    char *f = write_temp(junk, sizeof junk, ".bin");
    ck_assert_int_eq(model_load(&m, f, NULL), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), f));
    unlink(f);
    free(f);
    ck_assert_int_eq(model_load(&m, "/nonexistent/model.bin", NULL), ERR_IO);
    ck_assert_ptr_null(m);
    free(bytes);
    free(cfg);
}
END_TEST

int main(void)
{
    err_install_gsl_handler();
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_matmul_layouts_against_naive);
    tcase_add_test(tc, test_attention_paths_against_naive);
    suite_add_tcase(s, tc);
    tc = tcase_create("gpt2-tiny");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tiny_logits_hello);
    tcase_add_test(tc, test_tiny_zero_copy_load);
    tcase_add_test(tc, test_tiny_f16_and_f32_load_alike);
    tcase_add_test(tc, test_tiny_logits_rand40);
    tcase_add_test(tc, test_tiny_greedy_hello);
    tcase_add_test(tc, test_tiny_greedy_rand40);
    tcase_add_test(tc, test_tiny_attention_all_heads);
    tcase_add_test(tc, test_gen_back_and_force);
    tcase_add_test(tc, test_same_seed_same_tokens);
    tcase_add_test(tc, test_context_overflow_is_an_error);
    tcase_add_test(tc, test_bad_checkpoints);
    tcase_add_test(tc, test_patterns_and_kernels_in_the_model);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
