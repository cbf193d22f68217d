/* Tests for llm.c's formats: the GPT-2 checkpoint (version 3 fp32, version 5 bf16) against
 * the same weights in Hugging Face safetensors and the nanoGPT oracle in ../shared, its
 * corruptions, and gpt2_tokenizer.bin (decode only). */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/loaders.h"
#include "engine/model.h"
#include "engine/tensor.h"
#include "engine/tokenizer.h"
#include "tests/util/oracle.h"
#include "tests/util/testutil.h"

#define LLMC_REL "models/gpt2-tiny/model_llmc.bin"
#define ST_REL "models/gpt2-tiny/model.safetensors"
#define V 50257
#define VP 50304

static unsigned char *slurp(const char *path, size_t *len)
{
    char *d = read_file(path, len);
    ck_assert_ptr_nonnull(d);
    unsigned char *a = NULL;
    ck_assert_int_eq(posix_memalign((void **)&a, 16, *len + 16), 0);
    memcpy(a, d, *len);
    free(d);
    return a;
}

static void put_i32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
}

static Model *load_llmc(void)
{
    const char *p = shared_path(LLMC_REL, "llm.c tiny GPT-2");
    if (!p) return NULL;
    Model *m = NULL;
    ck_assert_msg(model_load(&m, p, NULL) == 0, "%s", err_msg());
    return m;
}

/* logits (n, Vp) of ids[0..n) */
static float *logits_of(const Model *m, const int *ids, int n)
{
    RunState s;
    ck_assert_int_eq(runstate_init(&s, &m->cfg, n, n), 0);
    float *lg = malloc(sizeof(float) * (size_t)n * (size_t)m->cfg.padded_vocab);
    ck_assert_msg(model_forward(m, &s, ids, n, 0, lg, 1, NULL) == 0, "%s", err_msg());
    runstate_done(&s);
    return lg;
}

START_TEST(test_load_config)
{
    Model *m = load_llmc();
    if (!m) return;
    const ModelConfig *c = &m->cfg;
    ck_assert_int_eq(c->arch, ARCH_GPT2);
    ck_assert_int_eq(c->n_layer, 2);
    ck_assert_int_eq(c->n_head, 4);
    ck_assert_int_eq(c->n_kv_head, 4);
    ck_assert_int_eq(c->n_embd, 64);
    ck_assert_int_eq(c->n_ctx, 64);
    ck_assert_int_eq(c->vocab_size, V);
    ck_assert_int_eq(c->padded_vocab, VP);
    ck_assert_int_eq(c->n_hidden, 256);
    ck_assert_int_eq(c->norm, NORM_LAYER);
    ck_assert_int_eq(c->pos, POS_LEARNED);
    ck_assert_int_eq(c->ffn, FFN_GELU_TANH);
    ck_assert_int_eq(c->bias, 1);
    ck_assert_int_eq(c->tied_head, 1);
    ck_assert_str_eq(m->format, "llm.c GPT-2 checkpoint (version 3, fp32)");
    ck_assert_uint_eq(m->n_params, 3320640);
    ck_assert_uint_eq(m->weight_bytes, 13295616 - 1024);
    /* q, k, v are row blocks of the fused qkvw */
    ck_assert_ptr_eq(m->w.layer[1].k.w, m->w.layer[1].q.w + 64 * 64);
    ck_assert_ptr_eq(m->w.layer[1].v.b, m->w.layer[1].q.b + 128);
    /* the padding rows of wte are zero */
    int nonzero = 0;
    for (int i = V * 64; i < VP * 64; i++) nonzero += m->w.wte[i] != 0.0f;
    ck_assert_int_eq(nonzero, 0);
    ck_assert_ptr_null(m->tok);
    model_free(m);
}
END_TEST

/* The same weights in llm.c and Hugging Face files give the same logits (the layouts differ:
 * (out, in) rows here, Conv1D (in, out) there), and both match nanoGPT. */
START_TEST(test_logits_match_safetensors_and_nanogpt)
{
    Model *m = load_llmc();
    const char *sp = shared_path(ST_REL, "tiny GPT-2 safetensors");
    const char *ip = shared_path("oracles/gpt2-tiny/rand40.ids", "rand40 ids");
    const char *hp = shared_path("oracles/gpt2-tiny/hello.ids", "hello ids");
    const char *op = shared_path("oracles/gpt2-tiny/logits_hello.txt", "nanoGPT logits");
    if (!m || !sp || !ip || !hp || !op) {
        model_free(m);
        return;
    }
    Model *h = NULL;
    ck_assert_msg(model_load(&h, sp, NULL) == 0, "%s", err_msg());
    const char *seqs[] = {hp, ip};
    for (int q = 0; q < 2; q++) {
        int n;
        int *ids = oracle_read_ids(seqs[q], &n);
        ck_assert_ptr_nonnull(ids);
        float *a = logits_of(m, ids, n), *b = logits_of(h, ids, n);
        double worst = 0;
        for (int t = 0; t < n; t++)
            for (int j = 0; j < V; j++) {
                double d = fabs((double)a[(size_t)t * VP + j] - b[(size_t)t * h->cfg.padded_vocab + j]);
                if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
            }
        ck_assert_msg(worst <= 1e-6, "sequence %d: llm.c vs safetensors max |diff| %g", q, worst);
        if (q == 0) {
            int r, c;
            double *o = oracle_read_matrix(op, &r, &c);
            ck_assert_ptr_nonnull(o);
            ck_assert_int_eq(r, n);
            ck_assert_int_eq(c, V);
            double w2 = 0;
            for (int t = 0; t < n; t++)
                for (int j = 0; j < V; j++) w2 = fmax(w2, fabs(o[(size_t)t * V + j] - a[(size_t)t * VP + j]));
            ck_assert_msg(w2 <= 1e-4, "llm.c vs nanoGPT max |diff| %g", w2);
            free(o);
        }
        free(a); free(b); free(ids);
    }
    model_free(h);
    model_free(m);
}
END_TEST

/* Version 5: the same file with every parameter rounded to bf16. */
START_TEST(test_bf16_version5)
{
    const char *p = shared_path(LLMC_REL, "llm.c tiny GPT-2");
    if (!p) return;
    size_t len;
    unsigned char *raw = slurp(p, &len);
    size_t numel = (len - 1024) / 4;
    unsigned char *b = NULL;
    ck_assert_int_eq(posix_memalign((void **)&b, 16, 1024 + numel * 2), 0);
    memcpy(b, raw, 1024);
    put_i32(b + 4, 5);
    for (size_t i = 0; i < numel; i++) {
        float f;
        memcpy(&f, raw + 1024 + 4 * i, 4);
        uint16_t h = float_to_bf16(f);
        memcpy(b + 1024 + 2 * i, &h, 2);
    }
    Model *m = NULL;
    ck_assert_msg(llmc_parse(&m, b, 1024 + numel * 2, "bf16.bin") == 0, "%s", err_msg());
    ck_assert_str_eq(m->format, "llm.c GPT-2 checkpoint (version 5, bf16)");
    ck_assert_uint_eq(m->weight_bytes, numel * 2);
    /* the converted weights do not point into the caller's buffer */
    ck_assert((const unsigned char *)m->w.wte < b || (const unsigned char *)m->w.wte >= b + 1024 + numel * 2);
    float f;
    memcpy(&f, raw + 1024 + 4 * (size_t)(VP * 64 + 64 * 64 + 5), 4);  /* an ln1w value */
    ck_assert_float_eq(m->w.layer[0].ln1_w[5], bf16_to_float(float_to_bf16(f)));
    memcpy(&f, raw + len - 4, 4);  /* the last lnfb */
    ck_assert_float_eq(m->w.lnf_b[63], bf16_to_float(float_to_bf16(f)));
    /* logits stay close to the fp32 model's */
    const int ids[] = {15496, 11, 616, 3290, 318, 13779, 290};
    Model *m32 = NULL;
    ck_assert_int_eq(llmc_parse(&m32, raw, len, "fp32.bin"), 0);
    float *a = logits_of(m, ids, 7), *c = logits_of(m32, ids, 7);
    double worst = 0;
    for (size_t i = 0; i < 7 * (size_t)VP; i++) worst = fmax(worst, fabs((double)a[i] - c[i]));
    ck_assert_msg(worst < 0.25, "bf16 logits drift %g", worst);
    ck_assert_msg(worst > 0, "bf16 rounding should change something");
    free(a); free(c);
    model_free(m32);
    model_free(m);
    /* truncated bf16 files */
    for (size_t cut = 0; cut < 1024 + numel * 2; cut += (1024 + numel * 2) / 61 + 1) {
        Model *x = NULL;
        ck_assert_int_eq(llmc_parse(&x, b, cut, "bf16.bin"), ERR_FORMAT);
        ck_assert_ptr_null(x);
    }
    free(b);
    free(raw);
}
END_TEST

static void expect_error(const unsigned char *buf, size_t len, int code, const char *what)
{
    Model *m = NULL;
    err_clear();
    int rc = llmc_parse(&m, buf, len, "bad_llmc.bin");
    ck_assert_msg(rc == code, "%s: rc %d (%s), want %d", what, rc, err_msg(), code);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err_msg(), "bad_llmc.bin") != NULL, "%s: '%s' lacks the name", what, err_msg());
}

START_TEST(test_corrupt_checkpoints)
{
    const char *p = shared_path(LLMC_REL, "llm.c tiny GPT-2");
    if (!p) return;
    size_t len;
    unsigned char *orig = slurp(p, &len);
    unsigned char *b = NULL;
    ck_assert_int_eq(posix_memalign((void **)&b, 16, len + 16), 0);
    struct { int field; int32_t value; const char *what; } cases[] = {
        {0, 20240327, "bad magic"}, {1, 4, "version 4"},    {1, 0, "version 0"},   {2, 0, "maxT 0"},
        {2, 65, "maxT claims more"}, {3, 0, "V 0"},         {3, 50305, "V > Vp"},  {4, 0, "zero layers"},
        {4, 3, "three layers claimed"}, {5, 3, "NH does not divide C"}, {5, 0, "NH 0"}, {6, -64, "negative C"},
        {7, 50176, "Vp < V"},        {7, 50432, "Vp claims more rows"}, {6, INT32_MAX, "huge C"},
        {2, INT32_MAX, "huge maxT"}, {4, INT32_MAX, "huge L"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, orig, len);
        put_i32(b + 4 * cases[i].field, cases[i].value);
        expect_error(b, len, ERR_FORMAT, cases[i].what);
    }
    memcpy(b, orig, len);
    b[len] = 7;
    expect_error(b, len + 1, ERR_FORMAT, "trailing byte");
    size_t cuts[] = {0, 3, 4, 8, 1023, 1024, 1025, len / 3, len - 4, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) expect_error(orig, cuts[i], ERR_FORMAT, "cut");
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2385);
    for (int k = 0; k < 200; k++) expect_error(orig, gsl_rng_uniform_int(r, len), ERR_FORMAT, "random cut");
    gsl_rng_free(r);
    /* through model_load: bad magic is an unknown format, a short file is truncated; both
     * name the file */
    char *tp = write_temp(orig, 1000, ".bin");
    Model *m = NULL;
    ck_assert_int_eq(model_load(&m, tp, NULL), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), tp));
    unlink(tp);
    free(tp);
    memcpy(b, orig, 2048);
    put_i32(b, 12345);
    tp = write_temp(b, 2048, ".bin");
    ck_assert_int_eq(model_load(&m, tp, NULL), ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err_msg(), tp));
    unlink(tp);
    free(tp);
    free(b);
    free(orig);
}
END_TEST

/* ---- gpt2_tokenizer.bin --------------------------------------------------------------- */

/* gpt2_tokenizer.bin bytes (version 1 or 2) from a tokenizer's token table. */
static unsigned char *make_table(const Tokenizer *t, int version, int n, int eot, size_t *len)
{
    size_t total = 1024;
    for (int i = 0; i < n; i++) {
        size_t l;
        tokenizer_token_bytes(t, i, &l);
        total += 1 + l;
    }
    unsigned char *b = calloc(1, total), *p = b + 1024;
    put_i32(b, 20240328);
    put_i32(b + 4, version);
    put_i32(b + 8, n);
    if (version == 2) put_i32(b + 12, eot);
    for (int i = 0; i < n; i++) {
        size_t l;
        const char *s = tokenizer_token_bytes(t, i, &l);
        *p++ = (unsigned char)l;
        memcpy(p, s, l);
        p += l;
    }
    *len = total;
    return b;
}

static Tokenizer *load_bpe(void)
{
    const char *d = shared_path("tokenizers/gpt2", "GPT-2 vocab.json and merges.txt");
    if (!d) return NULL;
    Tokenizer *t = NULL;
    ck_assert_msg(tokenizer_load_dir(&t, d) == 0, "%s", err_msg());
    return t;
}

START_TEST(test_tokenizer_table)
{
    Tokenizer *bpe = load_bpe();
    if (!bpe) return;
    size_t len;
    unsigned char *b = make_table(bpe, 2, V, 50256, &len);
    Tokenizer *t = NULL;
    ck_assert_msg(llmc_tokenizer_parse(&t, b, len, "gpt2_tokenizer.bin") == 0, "%s", err_msg());
    ck_assert_int_eq(tokenizer_kind(t), TOK_LLMC_TABLE);
    ck_assert_int_eq(tokenizer_vocab_size(t), V);
    ck_assert_int_eq(tokenizer_eot(t), 50256);
    const char *text = "Hello, my dog is cute and caf\xc3\xa9 \xe4\xb8\xad";
    int *ids;
    size_t n;
    ck_assert_int_eq(tokenizer_encode(bpe, text, strlen(text), &ids, &n), 0);
    size_t l1, l2;
    char *d1 = tokenizer_decode(t, ids, n, &l1), *d2 = tokenizer_decode(bpe, ids, n, &l2);
    ck_assert_uint_eq(l1, strlen(text));
    ck_assert_uint_eq(l1, l2);
    ck_assert(memcmp(d1, text, l1) == 0);
    free(d1); free(d2); free(ids);
    /* it cannot encode, and says what to do */
    int *x;
    ck_assert_int_eq(tokenizer_encode(t, "hi", 2, &x, &n), ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err_msg(), "vocab.json"));
    /* export / import */
    char *a, *bb;
    size_t al, bl;
    ck_assert_int_eq(tokenizer_export(t, &a, &al, &bb, &bl), 0);
    Tokenizer *u = NULL;
    ck_assert_int_eq(llmc_tokenizer_from_text(&u, a, al, "meta"), 0);
    ck_assert_int_eq(tokenizer_vocab_size(u), V);
    ck_assert_int_eq(tokenizer_eot(u), 50256);
    for (int i = 0; i < V; i += 997) {
        const char *p1 = tokenizer_token_bytes(t, i, &l1), *p2 = tokenizer_token_bytes(u, i, &l2);
        ck_assert_uint_eq(l1, l2);
        ck_assert(memcmp(p1, p2, l1) == 0);
    }
    tokenizer_free(u);
    u = NULL;
    a[40] = 'x';
    ck_assert_int_eq(llmc_tokenizer_from_text(&u, a, al, "meta"), ERR_FORMAT);
    ck_assert_int_eq(llmc_tokenizer_from_text(&u, a, 5, "meta"), ERR_FORMAT);
    ck_assert_ptr_null(u);
    free(a);
    tokenizer_free(t);
    /* version 1: 50257 tokens, EOT 50256 implied */
    put_i32(b + 4, 1);
    put_i32(b + 12, 0);
    ck_assert_int_eq(llmc_tokenizer_parse(&t, b, len, "v1.bin"), 0);
    ck_assert_int_eq(tokenizer_eot(t), 50256);
    tokenizer_free(t);
    t = NULL;
    free(b);
    /* corruptions */
    struct { int version, n, eot; const char *what; } bad[] = {
        {1, 1000, 0, "v1 with 1000 tokens"}, {2, 1000, 1000, "EOT past the end"}, {2, 1000, -1, "EOT negative"},
        {3, 1000, 0, "version 3"}, {2, 0, 0, "no tokens"}, {2, -5, 0, "negative count"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = make_table(bpe, bad[i].version, bad[i].n > 0 ? bad[i].n : 10, bad[i].eot, &len);
        put_i32(b + 8, bad[i].n);
        ck_assert_msg(llmc_tokenizer_parse(&t, b, len, "tok.bin") == ERR_FORMAT, "%s", bad[i].what);
        ck_assert_ptr_nonnull(strstr(err_msg(), "tok.bin"));
        free(b);
    }
    b = make_table(bpe, 2, 300, 5, &len);
    for (size_t cut = 0; cut < len; cut += 7) {
        ck_assert_int_eq(llmc_tokenizer_parse(&t, b, cut, "tok.bin"), ERR_FORMAT);
    }
    b[1024 + 2 * 40] = 0;  /* token 40 ("I", one byte, at 1024 + 2*40) gets length 0 */
    ck_assert_int_eq(llmc_tokenizer_parse(&t, b, len, "tok.bin"), ERR_FORMAT);
    b[0] = 'x';
    ck_assert_int_eq(llmc_tokenizer_parse(&t, b, len, "tok.bin"), ERR_FORMAT);
    ck_assert_ptr_null(t);
    free(b);
    tokenizer_free(bpe);
}
END_TEST

/* Which tokenizer a checkpoint gets: --tokenizer (a directory, vocab.json, or a
 * gpt2_tokenizer.bin), else vocab.json + merges.txt beside it, else gpt2_tokenizer.bin. */
START_TEST(test_tokenizer_search)
{
    const char *mp = shared_path(LLMC_REL, "llm.c tiny GPT-2");
    const char *dp = shared_path("tokenizers/gpt2", "GPT-2 vocab.json and merges.txt");
    Tokenizer *bpe = load_bpe();
    if (!mp || !dp || !bpe) {
        tokenizer_free(bpe);
        return;
    }
    char dir[] = "/tmp/lectern-llmc-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *m2 = xasprintf("%s/gpt2_124M.bin", dir), *tb = xasprintf("%s/gpt2_tokenizer.bin", dir);
    char *abs_m = realpath(mp, NULL), *abs_d = realpath(dp, NULL);
    ck_assert_int_eq(symlink(abs_m, m2), 0);
    size_t len;
    unsigned char *b = make_table(bpe, 2, V, 50256, &len);
    FILE *f = fopen(tb, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
    free(b);
    Model *m = NULL;
    ck_assert_msg(model_load(&m, m2, NULL) == 0, "%s", err_msg());
    ck_assert_ptr_nonnull(m->tok);
    ck_assert_int_eq(tokenizer_kind(m->tok), TOK_LLMC_TABLE);
    /* converted to Lectern safetensors, the table travels in the metadata */
    char *st = xasprintf("%s/converted.safetensors", dir);
    ck_assert_msg(model_save(m, st) == 0, "%s", err_msg());
    Model *s = NULL;
    ck_assert_msg(model_load(&s, st, NULL) == 0, "%s", err_msg());
    ck_assert_int_eq(tokenizer_kind(s->tok), TOK_LLMC_TABLE);
    ck_assert_int_eq(tokenizer_eot(s->tok), 50256);
    const int ids3[] = {15496, 11, 616};
    float *la = logits_of(m, ids3, 3), *lb = logits_of(s, ids3, 3);
    float worst = 0;
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < V; j++)
            worst = fmaxf(worst, fabsf(la[(size_t)t * VP + j] - lb[(size_t)t * s->cfg.padded_vocab + j]));
    ck_assert_msg(worst <= 1e-6f, "converted model differs by %g", worst);
    free(la); free(lb);
    model_free(s);
    unlink(st);
    free(st);
    model_free(m);
    ck_assert_int_eq(model_load(&m, m2, abs_d), 0);
    ck_assert_int_eq(tokenizer_kind(m->tok), TOK_GPT2_BPE);
    int *ids;
    size_t n;
    ck_assert_int_eq(tokenizer_encode(m->tok, "Hello, my dog", 13, &ids, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(ids[0], 15496);
    free(ids);
    model_free(m);
    ck_assert_int_eq(model_load(&m, m2, tb), 0);  /* the table named explicitly */
    ck_assert_int_eq(tokenizer_kind(m->tok), TOK_LLMC_TABLE);
    model_free(m);
    /* a broken table beside the checkpoint fails the load and names it */
    f = fopen(tb, "wb");
    fputs("junk", f);
    fclose(f);
    m = NULL;
    ck_assert_int_eq(model_load(&m, m2, NULL), ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err_msg(), tb));
    unlink(tb);
    unlink(m2);
    rmdir(dir);
    free(m2); free(tb); free(abs_m); free(abs_d);
    tokenizer_free(bpe);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("llmc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_load_config);
    tcase_add_test(tc, test_logits_match_safetensors_and_nanogpt);
    tcase_add_test(tc, test_bf16_version5);
    tcase_add_test(tc, test_corrupt_checkpoints);
    tcase_add_test(tc, test_tokenizer_table);
    tcase_add_test(tc, test_tokenizer_search);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
