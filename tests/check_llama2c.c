/* Tests for the llama2.c formats: the checkpoint loader (legacy, export v1, v2 Q8_0), the
 * writers, the Q8_0 kernels, and the tokenizer.bin encoder/decoder — against run.c's own
 * outputs on the real stories260K model in ../shared (README there), a quadratic
 * transcription of run.c's encode() as the tokenizer's naive twin, and corrupted files. */
#include <check.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/llama2c.h"
#include "engine/loaders.h"
#include "engine/model.h"
#include "engine/ops.h"
#include "engine/q8.h"
#include "engine/sptok.h"
#include "engine/tokenizer.h"
#include "tests/util/oracle.h"
#include "tests/util/testutil.h"

#define MODEL_REL "models/llama2c/stories260K.bin"
#define TOK_REL "models/llama2c/tok512.bin"
#define LOGITS_REL "oracles/llama2c/logits_once_upon_a_time_girl.txt"

static Model *load_260k(void)
{
    const char *mp = shared_path(MODEL_REL, "stories260K model");
    const char *tp = shared_path(TOK_REL, "tok512 tokenizer");
    if (!mp || !tp) return NULL;
    Model *m = NULL;
    int rc = model_load(&m, mp, tp);
    ck_assert_msg(rc == 0, "load: %s", err_msg());
    return m;
}

static Tokenizer *load_tok512(void)
{
    const char *tp = shared_path(TOK_REL, "tok512 tokenizer");
    if (!tp) return NULL;
    Tokenizer *t = NULL;
    ck_assert_msg(sptok_load(&t, tp, 512) == 0, "%s", err_msg());
    return t;
}

/* A copy of a file in a 16-byte aligned buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    char *d = read_file(path, len);
    ck_assert_ptr_nonnull(d);
    unsigned char *a = NULL;
    ck_assert_int_eq(posix_memalign((void **)&a, 16, *len + 1), 0);
    memcpy(a, d, *len);
    free(d);
    return a;
}

static void put_i32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
}

static char *tmp_path(const char *suffix)
{
    char *p = write_temp("", 0, suffix);
    ck_assert_ptr_nonnull(p);
    return p;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* ---- loading -------------------------------------------------------------------------- */

START_TEST(test_load_stories260k_config)
{
    Model *m = load_260k();
    if (!m) return;
    const ModelConfig *c = &m->cfg;
    ck_assert_int_eq(c->arch, ARCH_LLAMA);
    ck_assert_int_eq(c->n_embd, 64);
    ck_assert_int_eq(c->n_hidden, 172);
    ck_assert_int_eq(c->n_layer, 5);
    ck_assert_int_eq(c->n_head, 8);
    ck_assert_int_eq(c->n_kv_head, 4);
    ck_assert_int_eq(c->vocab_size, 512);
    ck_assert_int_eq(c->padded_vocab, 512);
    ck_assert_int_eq(c->n_ctx, 512);
    ck_assert_int_eq(c->tied_head, 1);
    ck_assert_int_eq(c->norm, NORM_RMS);
    ck_assert_int_eq(c->pos, POS_ROPE);
    ck_assert_int_eq(c->ffn, FFN_SWIGLU);
    ck_assert_int_eq(c->bias, 0);
    ck_assert_float_eq(c->norm_eps, 1e-5f);
    ck_assert_float_eq(c->rope_theta, 10000.0f);
    ck_assert_str_eq(m->format, "llama2.c legacy (version 0)");
    /* 264128 floats minus the two RoPE tables (2 * 512 * 4) */
    ck_assert_uint_eq(m->n_params, 264128 - 4096);
    ck_assert_uint_eq(m->weight_bytes, (264128 - 4096) * 4);
    ck_assert_ptr_eq(m->w.head.w, m->w.wte);
    ck_assert_int_eq(m->w.layer[2].k.out, 32);
    ck_assert_int_eq(m->w.layer[2].proj.in, 172);
    ck_assert_ptr_nonnull(m->tok);
    ck_assert_int_eq(tokenizer_kind(m->tok), TOK_LLAMA2C);
    ck_assert_int_eq(tokenizer_vocab_size(m->tok), 512);
    ck_assert_int_eq(tokenizer_eot(m->tok), 1);
    /* the first weights, read from the file by hand: token_embedding_table[0][0] is at 28 */
    size_t len;
    unsigned char *raw = slurp(m->path, &len);
    float w0, wq_last;
    memcpy(&w0, raw + 28, 4);
    ck_assert_float_eq(m->w.wte[0], w0);
    /* wq of layer 4, last element: after emb (32768) + rms_att (320) + 5 * 4096 - 1 */
    memcpy(&wq_last, raw + 28 + 4 * (32768 + 320 + 5 * 4096 - 1), 4);
    ck_assert_float_eq(m->w.layer[4].q.w[4095], wq_last);
    free(raw);
    model_free(m);
}
END_TEST

START_TEST(test_probe)
{
    const char *mp = shared_path(MODEL_REL, "stories260K model");
    if (!mp) return;
    size_t len;
    unsigned char *raw = slurp(mp, &len);
    ck_assert_int_eq(llama2c_probe(raw, 28), 1);
    ck_assert_int_eq(llama2c_probe(raw, 27), 0);
    ck_assert_int_eq(llmc_probe(raw, 28), 0);
    unsigned char ak[8] = {'2', '4', 'k', 'a', 1, 0, 0, 0};
    ck_assert_int_eq(llama2c_probe(ak, 8), 2);
    put_i32(raw + 12, 7);  /* n_heads 7 does not divide dim 64 */
    ck_assert_int_eq(llama2c_probe(raw, 28), 0);
    free(raw);
}
END_TEST

/* The tokenizer beside the checkpoint is used when none is given. */
START_TEST(test_tokenizer_beside_checkpoint)
{
    const char *mp = shared_path(MODEL_REL, "stories260K model");
    const char *tp = shared_path(TOK_REL, "tok512 tokenizer");
    if (!mp || !tp) return;
    char dir[] = "/tmp/lectern-l2dir-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *m2 = xasprintf("%s/model.bin", dir), *t2 = xasprintf("%s/tokenizer.bin", dir);
    char *abs_m = realpath(mp, NULL), *abs_t = realpath(tp, NULL);
    ck_assert_int_eq(symlink(abs_m, m2), 0);
    Model *m = NULL;
    ck_assert_int_eq(model_load(&m, m2, NULL), 0);
    ck_assert_ptr_null(m->tok);  /* no tokenizer.bin yet: ids only */
    model_free(m);
    ck_assert_int_eq(symlink(abs_t, t2), 0);
    ck_assert_int_eq(model_load(&m, m2, NULL), 0);
    ck_assert_ptr_nonnull(m->tok);
    ck_assert_int_eq(tokenizer_kind(m->tok), TOK_LLAMA2C);
    model_free(m);
    /* a bad tokenizer fails the load, naming the tokenizer */
    unlink(t2);
    FILE *f = fopen(t2, "wb");
    fputs("garbage", f);
    fclose(f);
    m = NULL;
    ck_assert_int_eq(model_load(&m, m2, NULL), ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err_msg(), t2));
    unlink(t2);
    unlink(m2);
    rmdir(dir);
    free(m2); free(t2); free(abs_m); free(abs_t);
}
END_TEST

/* ---- corrupt and truncated files ------------------------------------------------------- */

static void expect_parse_error(const unsigned char *buf, size_t len, int code, const char *what)
{
    Model *m = NULL;
    err_clear();
    int rc = llama2c_parse(&m, buf, len, "corrupt.bin");
    ck_assert_msg(rc == code, "%s: rc %d (%s), want %d", what, rc, err_msg(), code);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err_msg(), "corrupt.bin") != NULL, "%s: message '%s' lacks the name", what, err_msg());
}

START_TEST(test_corrupt_headers)
{
    const char *mp = shared_path(MODEL_REL, "stories260K model");
    if (!mp) return;
    size_t len;
    unsigned char *orig = slurp(mp, &len);
    unsigned char *b = NULL;
    ck_assert_int_eq(posix_memalign((void **)&b, 16, len + 64), 0);
    struct { int field; int32_t value; const char *what; } cases[] = {
        {0, 0, "dim 0"},          {0, -64, "negative dim"},      {1, 0, "hidden 0"},
        {2, 0, "zero layers"},    {2, -5, "negative layers"},    {3, 0, "zero heads"},
        {3, 7, "n_heads does not divide dim"}, {4, 3, "n_kv_heads does not divide n_heads"},
        {4, 16, "more kv heads than heads"},   {5, 0, "vocab 0"}, {5, INT32_MIN, "vocab INT_MIN"},
        {6, 0, "seq_len 0"},      {6, -1, "negative seq_len"},   {2, 6, "header claims a sixth layer"},
        {1, 173, "header claims a wider hidden layer"},          {5, 513, "header claims one more token"},
        {5, -512, "unshared classifier missing"},                {0, INT32_MAX, "huge dim"},
        {2, INT32_MAX, "huge layer count"},                      {6, 1 << 30, "huge seq_len"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, orig, len);
        put_i32(b + 4 * cases[i].field, cases[i].value);
        expect_parse_error(b, len, ERR_FORMAT, cases[i].what);
    }
    /* all dimensions huge: the size computation overflows and says so */
    memcpy(b, orig, len);
    for (int f = 0; f < 7; f++) put_i32(b + 4 * f, f == 3 || f == 4 ? 1 : f == 0 ? INT32_MAX - 1 : INT32_MAX);
    expect_parse_error(b, len, ERR_FORMAT, "overflow");
    /* odd head size: valid numbers, unsupported model */
    memcpy(b, orig, len);
    put_i32(b + 12, 64);
    put_i32(b + 16, 64);
    expect_parse_error(b, len, ERR_UNSUPPORTED, "odd head size");
    /* one byte too many */
    memcpy(b, orig, len);
    b[len] = 0;
    expect_parse_error(b, len + 1, ERR_FORMAT, "trailing byte");
    free(b);
    free(orig);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
    const char *mp = shared_path(MODEL_REL, "stories260K model");
    if (!mp) return;
    size_t len;
    unsigned char *orig = slurp(mp, &len);
    size_t fixed[] = {0, 1, 3, 4, 7, 8, 27, 28, 29, 32, 255, 256, 257, 1000, len / 2, len - 4097, len - 4096,
                      len - 4, len - 1};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu", fixed[i]);
        expect_parse_error(orig, fixed[i], ERR_FORMAT, what);
    }
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2385);
    for (int k = 0; k < 300; k++) {
        size_t n = gsl_rng_uniform_int(r, len);
        expect_parse_error(orig, n, ERR_FORMAT, "random truncation");
    }
    gsl_rng_free(r);
    free(orig);
}
END_TEST

START_TEST(test_corrupt_exports)
{
    Model *m = load_260k();
    if (!m) return;
    char *p1 = tmp_path(".bin");
    ck_assert_int_eq(llama2c_write(m, p1, 1), 0);
    size_t len;
    unsigned char *v1 = slurp(p1, &len);
    ck_assert_uint_eq(len, 256 + (264128 - 4096) * 4);
    unsigned char *b = malloc(len + 16);
    /* bad version */
    memcpy(b, v1, len);
    put_i32(b + 4, 7);
    expect_parse_error(b, len, ERR_FORMAT, "version 7");
    put_i32(b + 4, 0);
    expect_parse_error(b, len, ERR_FORMAT, "version 0 with a magic");
    /* shared flag neither 0 nor 1 */
    memcpy(b, v1, len);
    b[36] = 2;
    expect_parse_error(b, len, ERR_FORMAT, "shared flag 2");
    /* unshared: the classifier is missing */
    b[36] = 0;
    expect_parse_error(b, len, ERR_FORMAT, "classifier missing");
    /* vocab negative is not allowed in exports */
    memcpy(b, v1, len);
    put_i32(b + 8 + 20, -512);
    expect_parse_error(b, len, ERR_FORMAT, "negative vocab in v1");
    /* truncated headers and bodies */
    size_t cuts[] = {4, 5, 8, 36, 37, 40, 255, 256, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) expect_parse_error(v1, cuts[i], ERR_FORMAT, "cut v1");
    /* version 2: group size 0, a group size that does not divide the tensors */
    char *p2 = tmp_path(".bin");
    ck_assert_int_eq(llama2c_write(m, p2, 2), 0);
    size_t len2;
    unsigned char *v2 = slurp(p2, &len2);
    unsigned char *b2 = malloc(len2);
    memcpy(b2, v2, len2);
    put_i32(b2 + 37, 0);
    expect_parse_error(b2, len2, ERR_FORMAT, "group 0");
    memcpy(b2, v2, len2);
    put_i32(b2 + 37, 3);
    expect_parse_error(b2, len2, ERR_FORMAT, "group 3");
    memcpy(b2, v2, len2);
    put_i32(b2 + 37, 32);  /* valid divisor, but the sizes no longer add up */
    expect_parse_error(b2, len2, ERR_FORMAT, "group 32 for a group-64 file");
    memcpy(b2, v2, len2);
    put_i32(b2 + 8 + 8, 1398756428);  /* a layer count from the file must not drive a loop */
    expect_parse_error(b2, len2, ERR_FORMAT, "v2 with 1.4e9 layers");
    for (size_t cut = 0; cut < len2; cut += len2 / 97 + 1) expect_parse_error(v2, cut, ERR_FORMAT, "cut v2");
    /* through model_load, the message names the file */
    FILE *f = fopen(p1, "wb");
    fwrite(v1, 1, len - 10, f);
    fclose(f);
    Model *bad = NULL;
    ck_assert_int_eq(model_load(&bad, p1, NULL), ERR_FORMAT);
    ck_assert_ptr_null(bad);
    ck_assert_ptr_nonnull(strstr(err_msg(), p1));
    unlink(p1);
    unlink(p2);
    free(p1); free(p2); free(v1); free(v2); free(b); free(b2);
    model_free(m);
}
END_TEST

/* ---- the tokenizer ---------------------------------------------------------------------- */

/* run.c's encode() as written there: quadratic rescans, lookups by exact bytes (lowest id),
 * the naive twin of the heap-based encoder. */
static size_t ref_encode(const Tokenizer *t, const char *text, size_t len, int bos, int eos, int *out)
{
    size_t n = 0;
    int V = tokenizer_vocab_size(t);
    if (bos) out[n++] = 1;
    if (len) {
        int d = tokenizer_lookup(t, " ", 1);
        if (d >= 0) out[n++] = d;
    }
    char buf[8];
    size_t bl = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c & 0xC0) != 0x80) bl = 0;
        buf[bl++] = (char)c;
        if (i + 1 < len && (((unsigned char)text[i + 1]) & 0xC0) == 0x80 && bl < 4) continue;
        int id = tokenizer_lookup(t, buf, bl);
        if (id >= 0) out[n++] = id;
        else
            for (size_t k = 0; k < bl; k++) out[n++] = (unsigned char)buf[k] + 3 < V ? (unsigned char)buf[k] + 3 : 0;
        bl = 0;
    }
    char *cat = malloc(4096);
    for (;;) {
        float best = -1e10f;
        int best_id = -1, best_i = -1;
        for (size_t i = 0; i + 1 < n; i++) {
            size_t la, lb;
            const char *a = tokenizer_token_bytes(t, out[i], &la), *b = tokenizer_token_bytes(t, out[i + 1], &lb);
            if (la + lb >= 4096) ck_abort_msg("pieces too long for the reference");
            memcpy(cat, a, la);
            memcpy(cat + la, b, lb);
            int id = tokenizer_lookup(t, cat, la + lb);
            if (id >= 0 && sptok_score(t, id) > best) {
                best = sptok_score(t, id);
                best_id = id;
                best_i = (int)i;
            }
        }
        if (best_i < 0) break;
        out[best_i] = best_id;
        memmove(out + best_i + 1, out + best_i + 2, (n - (size_t)best_i - 2) * sizeof(int));
        n--;
    }
    free(cat);
    if (eos) out[n++] = 2;
    return n;
}

static void check_encode(Tokenizer *t, const char *text, size_t len, int bos, int eos)
{
    int *ids;
    size_t n;
    ck_assert_int_eq(sptok_encode_llama2c(t, text, len, bos, eos, &ids, &n), 0);
    int *ref = malloc((len + 3) * sizeof(int));
    size_t rn = ref_encode(t, text, len, bos, eos, ref);
    ck_assert_msg(n == rn, "length %zu vs reference %zu for '%.*s'", n, rn, (int)len, text);
    ck_assert_msg(memcmp(ids, ref, n * sizeof(int)) == 0, "ids differ from the reference for '%.*s'", (int)len, text);
    free(ref);
    free(ids);
}

static json_t *load_json(const char *rel)
{
    const char *p = shared_path(rel, "llama2.c generation oracle");
    if (!p) return NULL;
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", p, e.text);
    return j;
}

START_TEST(test_prompt_ids_match_run_c)
{
    Tokenizer *t = load_tok512();
    if (!t) return;
    const char *gens[] = {"oracles/llama2c/gen_once_upon_a_time.json", "oracles/llama2c/gen_the_cat.json"};
    for (int g = 0; g < 2; g++) {
        json_t *j = load_json(gens[g]);
        if (!j) continue;
        const char *prompt = json_string_value(json_object_get(j, "prompt"));
        json_t *want = json_object_get(j, "prompt_token_ids");
        json_t *pieces = json_object_get(j, "prompt_pieces");
        int *ids;
        size_t n;
        ck_assert_int_eq(sptok_encode_llama2c(t, prompt, strlen(prompt), 1, 0, &ids, &n), 0);
        ck_assert_uint_eq(n, json_array_size(want));
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(ids[i], (int)json_integer_value(json_array_get(want, i)));
            size_t pl;
            const char *p = tokenizer_token_bytes(t, ids[i], &pl);
            const char *wp = json_string_value(json_array_get(pieces, i));
            ck_assert_uint_eq(pl, strlen(wp));
            ck_assert(memcmp(p, wp, pl) == 0);
        }
        /* the generic interface: the same without BOS */
        int *g2;
        size_t n2;
        ck_assert_int_eq(tokenizer_encode(t, prompt, strlen(prompt), &g2, &n2), 0);
        ck_assert_uint_eq(n2, n - 1);
        ck_assert(memcmp(g2, ids + 1, n2 * sizeof(int)) == 0);
        free(g2);
        free(ids);
        json_decref(j);
    }
    /* the logits oracle's prompt and ids */
    const char *lp = shared_path(LOGITS_REL, "llama2.c logits oracle");
    if (lp) {
        int r, c;
        double *o = oracle_read_matrix(lp, &r, &c);
        ck_assert_ptr_nonnull(o);
        const char *prompt = "Once upon a time, there was a little girl";
        int *ids;
        size_t n;
        ck_assert_int_eq(sptok_encode_llama2c(t, prompt, strlen(prompt), 1, 0, &ids, &n), 0);
        ck_assert_uint_eq(n, (size_t)r);
        for (int k = 0; k < r; k++) ck_assert_int_eq(ids[k], (int)o[(size_t)k * c + 1]);
        free(ids);
        free(o);
    }
    tokenizer_free(t);
}
END_TEST

START_TEST(test_encode_rules)
{
    Tokenizer *t = load_tok512();
    if (!t) return;
    int *ids;
    size_t n;
    /* empty text: no dummy prefix; BOS and EOS only when asked */
    ck_assert_int_eq(sptok_encode_llama2c(t, "", 0, 1, 1, &ids, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 2);
    free(ids);
    ck_assert_int_eq(sptok_encode_llama2c(t, "", 0, 0, 0, &ids, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(ids);
    /* "Ω" (CE A9) is not a piece: byte fallback, id = byte + 3, after the dummy prefix */
    ck_assert_int_eq(sptok_encode_llama2c(t, "\xce\xa9", 2, 0, 0, &ids, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[0], 410);
    ck_assert_int_eq(ids[1], 0xce + 3);
    ck_assert_int_eq(ids[2], 0xa9 + 3);
    free(ids);
    /* against the quadratic transcription of run.c on many texts */
    const char *samples[] = {
        "Once upon a time", "The cat sat on the mat.", "  two  spaces ", "\n\nnewlines\n", "a",
        "Tim and Lily went to the park. They played with a big red ball!", "\xff\xfe stray bytes \x80\x80\x80\x80\x80",
        "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 emoji", "tab\there", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "\xc3", "\x80", "\xf0\x9f\x98", "ends with lead \xe4",
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        for (int be = 0; be < 4; be++) check_encode(t, samples[i], strlen(samples[i]), be & 1, be >> 1);
    /* NUL inside the text is a byte like any other */
    check_encode(t, "a\0b", 3, 1, 0);
    /* random texts built from the vocabulary's own pieces and random bytes */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2385);
    char buf[600];
    for (int k = 0; k < 300; k++) {
        size_t len = 0, want = gsl_rng_uniform_int(r, 400);
        while (len < want) {
            unsigned long pick = gsl_rng_uniform_int(r, 10);
            if (pick < 7) {
                size_t pl;
                const char *p = tokenizer_token_bytes(t, 259 + (int)gsl_rng_uniform_int(r, 253), &pl);
                if (len + pl > sizeof buf) break;
                memcpy(buf + len, p, pl);
                len += pl;
            } else {
                buf[len++] = (char)gsl_rng_uniform_int(r, 256);
            }
        }
        check_encode(t, buf, len, (int)(k & 1), 0);
    }
    gsl_rng_free(r);
    tokenizer_free(t);
}
END_TEST

/* A tokenizer.bin from (score, piece) pairs. */
static unsigned char *make_tok(int max_len, int n, const float *scores, const char *const *pieces, size_t *len)
{
    size_t total = 4;
    for (int i = 0; i < n; i++) total += 8 + strlen(pieces[i]);
    unsigned char *b = malloc(total), *p = b;
    put_i32(p, max_len);
    p += 4;
    for (int i = 0; i < n; i++) {
        memcpy(p, &scores[i], 4);
        put_i32(p + 4, (int32_t)strlen(pieces[i]));
        memcpy(p + 8, pieces[i], strlen(pieces[i]));
        p += 8 + strlen(pieces[i]);
    }
    *len = total;
    return b;
}

/* Equal scores merge leftmost first; scores at or below -1e10 never merge; a small vocabulary
 * (no byte tokens) falls back to <unk>; no " " piece means no dummy prefix. */
START_TEST(test_encode_ties_and_small_vocab)
{
    const char *pieces[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "ba", "c", "cc"};
    float scores[] = {0, 0, 0, 0, 0, -1.0f, -1.0f, 0, -1e10f};
    size_t len;
    unsigned char *b = make_tok(5, 9, scores, pieces, &len);
    Tokenizer *t;
    ck_assert_int_eq(sptok_parse(&t, b, len, 9, "tiny.bin"), 0);
    int *ids;
    size_t n;
    /* "aba": "ab" and "ba" tie at -1: the left pair wins -> [ab, a] */
    ck_assert_int_eq(sptok_encode_llama2c(t, "aba", 3, 0, 0, &ids, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], 5);
    ck_assert_int_eq(ids[1], 3);
    free(ids);
    check_encode(t, "aba", 3, 0, 0);
    check_encode(t, "babab", 5, 1, 1);
    /* "cc" scores -1e10: never merged */
    ck_assert_int_eq(sptok_encode_llama2c(t, "cc", 2, 0, 0, &ids, &n), 0);
    ck_assert_uint_eq(n, 2);
    free(ids);
    /* "z" is not a piece and byte tokens do not exist: <unk> */
    ck_assert_int_eq(sptok_encode_llama2c(t, "z", 1, 0, 0, &ids, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], 0);
    free(ids);
    tokenizer_free(t);
    free(b);
}
END_TEST

START_TEST(test_decode_matches_run_c_stdout)
{
    Tokenizer *t = load_tok512();
    if (!t) return;
    const char *gens[] = {"oracles/llama2c/gen_once_upon_a_time.json", "oracles/llama2c/gen_the_cat.json"};
    for (int g = 0; g < 2; g++) {
        json_t *j = load_json(gens[g]);
        if (!j) continue;
        json_t *ids = json_object_get(j, "token_ids");
        const char *want = json_string_value(json_object_get(j, "stdout"));
        size_t n = json_array_size(ids), cap = 16 * n + 2, o = 0;
        char *out = malloc(cap);
        for (size_t i = 1; i < n; i++) {
            size_t l;
            const char *p = sptok_print_llama2c(t, (int)json_integer_value(json_array_get(ids, i - 1)),
                                                (int)json_integer_value(json_array_get(ids, i)), &l);
            ck_assert_ptr_nonnull(p);
            memcpy(out + o, p, l);
            o += l;
        }
        out[o++] = '\n';
        out[o] = 0;
        ck_assert_str_eq(out, want);
        free(out);
        json_decref(j);
    }
    size_t l;
    /* after BOS the leading space goes; elsewhere it stays */
    const char *p = sptok_decode_llama2c(t, 1, 403, &l);
    ck_assert_uint_eq(l, 4);
    ck_assert(memcmp(p, "Once", 4) == 0);
    p = sptok_decode_llama2c(t, 5, 403, &l);
    ck_assert_uint_eq(l, 5);
    ck_assert(memcmp(p, " Once", 5) == 0);
    /* byte tokens become raw bytes; a lone non-printable byte is not printed */
    p = sptok_decode_llama2c(t, 5, 0x41 + 3, &l);
    ck_assert_uint_eq(l, 1);
    ck_assert_int_eq(p[0], 'A');
    p = sptok_decode_llama2c(t, 5, 0xce + 3, &l);
    ck_assert_uint_eq(l, 1);
    ck_assert_int_eq((unsigned char)p[0], 0xce);
    p = sptok_print_llama2c(t, 5, 0xce + 3, &l);
    ck_assert_uint_eq(l, 0);
    p = sptok_print_llama2c(t, 5, 0x0a + 3, &l);  /* newline: whitespace, printed */
    ck_assert_uint_eq(l, 1);
    p = sptok_print_llama2c(t, 5, 0x00 + 3, &l);  /* NUL: printf prints nothing */
    ck_assert_uint_eq(l, 0);
    p = sptok_print_llama2c(t, 1, 410, &l);       /* " " after BOS: empty */
    ck_assert_uint_eq(l, 0);
    ck_assert_ptr_null(sptok_decode_llama2c(t, 1, 512, &l));
    ck_assert_ptr_null(sptok_decode_llama2c(t, 1, -1, &l));
    /* the generic decode inverts the generic encode (no BOS: the dummy space stays) */
    const char *text = "Hello \xce\xa9 world";
    int *ids;
    size_t n;
    ck_assert_int_eq(tokenizer_encode(t, text, strlen(text), &ids, &n), 0);
    char *s = tokenizer_decode(t, ids, n, &l);
    ck_assert_uint_eq(l, strlen(text) + 1);
    ck_assert_int_eq(s[0], ' ');
    ck_assert(memcmp(s + 1, text, strlen(text)) == 0);
    free(s);
    free(ids);
    tokenizer_free(t);
}
END_TEST

START_TEST(test_tokenizer_export_round_trip)
{
    Tokenizer *t = load_tok512();
    if (!t) return;
    char *a, *b;
    size_t al, bl;
    ck_assert_int_eq(tokenizer_export(t, &a, &al, &b, &bl), 0);
    ck_assert_ptr_null(b);
    Tokenizer *u;
    ck_assert_int_eq(sptok_from_text(&u, a, al, "meta"), 0);
    ck_assert_int_eq(tokenizer_vocab_size(u), 512);
    for (int i = 0; i < 512; i++) {
        size_t l1, l2;
        const char *p1 = tokenizer_token_bytes(t, i, &l1), *p2 = tokenizer_token_bytes(u, i, &l2);
        ck_assert_uint_eq(l1, l2);
        ck_assert(memcmp(p1, p2, l1) == 0);
        ck_assert(sptok_score(t, i) == sptok_score(u, i));
    }
    const char *text = "The little dog ran fast.";
    int *i1, *i2;
    size_t n1, n2;
    ck_assert_int_eq(tokenizer_encode(t, text, strlen(text), &i1, &n1), 0);
    ck_assert_int_eq(tokenizer_encode(u, text, strlen(text), &i2, &n2), 0);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(i1, i2, n1 * sizeof(int)) == 0);
    free(i1); free(i2);
    /* damaged texts are refused */
    Tokenizer *w = NULL;
    ck_assert_int_eq(sptok_from_text(&w, "llama2c-tokenizer v1 2 7\n", 25, "meta"), ERR_FORMAT);
    a[30] = 'z';
    ck_assert_int_eq(sptok_from_text(&w, a, al, "meta"), ERR_FORMAT);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(sptok_from_text(&w, a, 10, "meta"), ERR_FORMAT);
    free(a);
    tokenizer_free(u);
    tokenizer_free(t);
}
END_TEST

START_TEST(test_tokenizer_corrupt)
{
    const char *tp = shared_path(TOK_REL, "tok512 tokenizer");
    if (!tp) return;
    size_t len;
    unsigned char *orig = slurp(tp, &len);
    Tokenizer *t = NULL;
    /* every truncation fails (the model needs 512 tokens) */
    for (size_t cut = 0; cut < len; cut++) {
        err_clear();
        ck_assert_int_eq(sptok_parse(&t, orig, cut, 512, "tok.bin"), ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err_msg(), "tok.bin"));
    }
    ck_assert_ptr_null(t);
    ck_assert_int_eq(sptok_parse(&t, orig, len, 513, "tok.bin"), ERR_FORMAT);  /* fewer than the model */
    ck_assert_int_eq(sptok_parse(&t, orig, len, -1, "tok.bin"), ERR_ARG);
    unsigned char *b = malloc(len);
    memcpy(b, orig, len);
    put_i32(b, -1);
    ck_assert_int_eq(sptok_parse(&t, b, len, 512, "tok.bin"), ERR_FORMAT);      /* negative max length */
    memcpy(b, orig, len);
    put_i32(b, 6);
    ck_assert_int_eq(sptok_parse(&t, b, len, 512, "tok.bin"), ERR_FORMAT);      /* a 7-byte piece */
    memcpy(b, orig, len);
    put_i32(b + 8, -3);
    ck_assert_int_eq(sptok_parse(&t, b, len, 512, "tok.bin"), ERR_FORMAT);      /* negative length */
    memcpy(b, orig, len);
    put_i32(b + 8, 1 << 30);
    ck_assert_int_eq(sptok_parse(&t, b, len, 512, "tok.bin"), ERR_FORMAT);      /* huge length */
    ck_assert_ptr_null(t);
    /* fewer than 3 tokens cannot hold BOS and EOS */
    ck_assert_int_eq(sptok_parse(&t, orig, 4 + 8 + 5 + 8 + 5, 0, "tok.bin"), ERR_FORMAT);
    ck_assert_ptr_null(t);
    /* vocab_size 0 reads all 512; a file path that does not exist is ERR_IO */
    ck_assert_int_eq(sptok_parse(&t, orig, len, 0, "tok.bin"), 0);
    ck_assert_int_eq(tokenizer_vocab_size(t), 512);
    tokenizer_free(t);
    ck_assert_int_eq(sptok_load(&t, "/nonexistent/tok.bin", 512), ERR_IO);
    free(b);
    free(orig);
}
END_TEST

/* ---- the forward pass against run.c ------------------------------------------------------ */

START_TEST(test_logits_match_run_c)
{
    Model *m = load_260k();
    const char *lp = shared_path(LOGITS_REL, "llama2.c logits oracle");
    if (!m || !lp) {
        model_free(m);
        return;
    }
    int r, c;
    double *o = oracle_read_matrix(lp, &r, &c);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(c, 2 + 512);
    int *ids = malloc(sizeof(int) * (size_t)r);
    for (int k = 0; k < r; k++) ids[k] = (int)o[(size_t)k * c + 1];
    /* once as a prefill (all rows at once), once one token at a time as run.c does */
    for (int mode = 0; mode < 2; mode++) {
        RunState s;
        ck_assert_int_eq(runstate_init(&s, &m->cfg, 64, mode == 0 ? 16 : 1), 0);
        float *lg = malloc(sizeof(float) * (size_t)r * 512);
        if (mode == 0) {
            ck_assert_int_eq(model_forward(m, &s, ids, r, 0, lg, 1, NULL), 0);
        } else {
            for (int k = 0; k < r; k++) ck_assert_int_eq(model_forward(m, &s, ids + k, 1, k, lg + (size_t)k * 512, 0, NULL), 0);
        }
        double worst = 0;
        for (int k = 0; k < r; k++) {
            int want_arg = 0;
            for (int j = 0; j < 512; j++) {
                double d = fabs(o[(size_t)k * c + 2 + j] - lg[(size_t)k * 512 + j]);
                if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
                if (o[(size_t)k * c + 2 + j] > o[(size_t)k * c + 2 + want_arg]) want_arg = j;
            }
            ck_assert_int_eq(argmax(lg + (size_t)k * 512, 512), want_arg);
        }
        ck_assert_msg(worst <= 2e-4, "mode %d: max |diff| %g", mode, worst);
        free(lg);
        runstate_done(&s);
    }
    free(ids);
    free(o);
    model_free(m);
}
END_TEST

typedef struct {
    char *buf;
    size_t n;
} Out;

static int pick_the(const float *logits, int vocab, void *ctx)
{
    (void)logits;
    (void)vocab;
    ++*(int *)ctx;
    return 265;  /* " the" */
}

static void collect(const char *b, size_t l, void *ctx)
{
    Out *o = ctx;
    memcpy(o->buf + o->n, b, l);
    o->n += l;
    o->buf[o->n] = 0;
}

START_TEST(test_greedy_matches_run_c)
{
    Model *m = load_260k();
    if (!m) return;
    const char *gens[] = {"oracles/llama2c/gen_once_upon_a_time.json", "oracles/llama2c/gen_the_cat.json"};
    for (int g = 0; g < 2; g++) {
        json_t *j = load_json(gens[g]);
        if (!j) continue;
        const char *prompt = json_string_value(json_object_get(j, "prompt"));
        int steps = (int)json_integer_value(json_object_get(j, "steps"));
        json_t *want = json_object_get(j, "token_ids");
        Out o = {malloc(16 * (size_t)steps + 2), 0};
        int *seq;
        size_t nseq;
        int passes;
        ck_assert_msg(llama2c_generate(m, prompt, strlen(prompt), steps, NULL, NULL, collect, &o, &passes, &seq,
                                       &nseq) == 0, "%s", err_msg());
        ck_assert_uint_eq(nseq, json_array_size(want));
        for (size_t i = 0; i < nseq; i++)
            ck_assert_msg(seq[i] == (int)json_integer_value(json_array_get(want, i)), "%s: token %zu", prompt, i);
        ck_assert_int_eq(passes, (int)json_integer_value(json_object_get(j, "forward_passes")));
        ck_assert_str_eq(o.buf, json_string_value(json_object_get(j, "stdout")));
        free(seq);
        free(o.buf);
        json_decref(j);
    }
    /* steps cut the prompt short; a pick callback takes over after the prompt */
    Out o = {malloc(256), 0};
    int passes, calls = 0;
    ck_assert_int_eq(llama2c_generate(m, "Once upon a time", 16, 3, NULL, NULL, collect, &o, &passes, NULL, NULL), 0);
    ck_assert_int_eq(passes, 3);
    ck_assert_str_eq(o.buf, "Once upon a\n");
    o.n = 0;
    ck_assert_int_eq(llama2c_generate(m, "Once", 4, 5, pick_the, &calls, collect, &o, &passes, NULL, NULL), 0);
    ck_assert_int_eq(calls, 4);  /* passes 1..4 predict after the one-token prompt */
    ck_assert_str_eq(o.buf, "Once the the the the\n");
    free(o.buf);
    /* a model without a llama2.c tokenizer cannot run run.c's loop */
    Tokenizer *keep = m->tok;
    m->tok = NULL;
    ck_assert_int_eq(llama2c_generate(m, "x", 1, 4, NULL, NULL, NULL, NULL, NULL, NULL, NULL), ERR_STATE);
    m->tok = keep;
    model_free(m);
}
END_TEST

/* ---- writers --------------------------------------------------------------------------- */

static float *all_logits(const Model *m, const int *ids, int n)
{
    RunState s;
    ck_assert_int_eq(runstate_init(&s, &m->cfg, 64, 16), 0);
    float *lg = malloc(sizeof(float) * (size_t)n * (size_t)m->cfg.padded_vocab);
    ck_assert_int_eq(model_forward(m, &s, ids, n, 0, lg, 1, NULL), 0);
    runstate_done(&s);
    return lg;
}

START_TEST(test_export_v1_and_legacy_give_identical_logits)
{
    Model *m = load_260k();
    if (!m) return;
    const int ids[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421};
    const int n = 13;
    float *ref = all_logits(m, ids, n);
    char *p0 = tmp_path(".bin"), *p1 = tmp_path(".bin");
    ck_assert_int_eq(llama2c_write(m, p1, 1), 0);
    Model *m1 = NULL;
    ck_assert_int_eq(model_load(&m1, p1, NULL), 0);
    ck_assert_str_eq(m1->format, "llama2.c export (version 1, fp32)");
    ck_assert_uint_eq(m1->n_params, m->n_params);
    /* v1 -> legacy: the weights come back byte for byte (the RoPE tables are recomputed) */
    ck_assert_int_eq(llama2c_write(m1, p0, 0), 0);
    Model *m0 = NULL;
    ck_assert_int_eq(model_load(&m0, p0, NULL), 0);
    ck_assert_str_eq(m0->format, "llama2.c legacy (version 0)");
    size_t la, lb;
    unsigned char *a = slurp(m->path, &la), *b = slurp(p0, &lb);
    ck_assert_uint_eq(la, lb);
    size_t tables = 28 + 4 * (size_t)(264128 - 4096);
    ck_assert(memcmp(a, b, tables) == 0);
    /* the tables as model.py makes them, within float rounding */
    float tmax = 0;
    for (size_t i = tables; i < la; i += 4) {
        float x, y;
        memcpy(&x, a + i, 4);
        memcpy(&y, b + i, 4);
        tmax = fmaxf(tmax, fabsf(x - y));
    }
    ck_assert_msg(tmax < 1e-3f, "RoPE tables differ by %g", tmax);
    float *l1 = all_logits(m1, ids, n), *l0 = all_logits(m0, ids, n);
    ck_assert(memcmp(ref, l1, sizeof(float) * (size_t)n * 512) == 0);
    ck_assert(memcmp(ref, l0, sizeof(float) * (size_t)n * 512) == 0);
    unlink(p0);
    unlink(p1);
    free(a); free(b); free(ref); free(l1); free(l0); free(p0); free(p1);
    model_free(m0);
    model_free(m1);
    model_free(m);
}
END_TEST

/* `lectern convert`: llama2.c -> Lectern safetensors (weights, config and tokenizer in one
 * file) -> llama2.c legacy gives the original weights back, byte for byte. */
START_TEST(test_convert_through_safetensors)
{
    Model *m = load_260k();
    if (!m) return;
    const int ids[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421};
    float *ref = all_logits(m, ids, 13);
    char *st = tmp_path(".safetensors"), *back = tmp_path(".bin");
    ck_assert_msg(model_save(m, st) == 0, "%s", err_msg());
    Model *s = NULL;
    ck_assert_msg(model_load(&s, st, NULL) == 0, "%s", err_msg());
    ck_assert_str_eq(s->format, "safetensors (Lectern)");
    ck_assert_ptr_nonnull(s->tok);
    ck_assert_int_eq(tokenizer_kind(s->tok), TOK_LLAMA2C);
    int *t1, *t2;
    size_t n1, n2;
    const char *text = "Once upon a time, a cat \xce\xa9";
    ck_assert_int_eq(sptok_encode_llama2c(m->tok, text, strlen(text), 1, 0, &t1, &n1), 0);
    ck_assert_int_eq(sptok_encode_llama2c(s->tok, text, strlen(text), 1, 0, &t2, &n2), 0);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(t1, t2, n1 * sizeof(int)) == 0);
    free(t1); free(t2);
    float *l2 = all_logits(s, ids, 13);
    ck_assert(memcmp(ref, l2, sizeof(float) * 13 * 512) == 0);
    ck_assert_int_eq(llama2c_write(s, back, 0), 0);
    size_t la, lb;
    unsigned char *a = slurp(m->path, &la), *b = slurp(back, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(a, b, 28 + 4 * (size_t)(264128 - 4096)) == 0);
    /* a Q8_0 model converts too (dequantised to F32) */
    char *q8 = tmp_path(".bin"), *st2 = tmp_path(".safetensors");
    ck_assert_int_eq(llama2c_write(m, q8, 2), 0);
    Model *q = NULL, *qs = NULL;
    ck_assert_int_eq(model_load(&q, q8, NULL), 0);
    ck_assert_msg(model_save(q, st2) == 0, "%s", err_msg());
    ck_assert_msg(model_load(&qs, st2, NULL) == 0, "%s", err_msg());
    float emax = 0;
    for (int i = 0; i < 64 * 64; i++) emax = fmaxf(emax, fabsf(qs->w.layer[2].q.w[i] - m->w.layer[2].q.w[i]));
    ck_assert_msg(emax > 0 && emax < 0.05f, "Q8_0 -> F32 error %g", emax);
    model_free(qs);
    model_free(q);
    unlink(st); unlink(back); unlink(q8); unlink(st2);
    free(st); free(back); free(q8); free(st2); free(a); free(b); free(ref); free(l2);
    model_free(s);
    model_free(m);
}
END_TEST

/* An unshared classifier round-trips through both formats (legacy: negative vocab). */
START_TEST(test_unshared_classifier)
{
    Model *m = load_260k();
    if (!m) return;
    float *wcls = malloc(sizeof(float) * 512 * 64);
    for (int i = 0; i < 512 * 64; i++) wcls[i] = m->w.wte[i] * 0.5f + 0.001f * (float)(i % 7);
    m->cfg.tied_head = 0;
    m->w.head.w = wcls;
    for (int v = 0; v <= 1; v++) {
        char *p = tmp_path(".bin");
        ck_assert_int_eq(llama2c_write(m, p, v), 0);
        size_t len;
        unsigned char *raw = slurp(p, &len);
        ck_assert_uint_eq(len, (v ? 256 : 28) + 4 * (size_t)(264128 - (v ? 4096 : 0) + 512 * 64));
        if (v == 0) {
            int32_t vocab;
            memcpy(&vocab, raw + 20, 4);
            ck_assert_int_eq(vocab, -512);
        } else {
            ck_assert_int_eq(raw[36], 0);
        }
        Model *u = NULL;
        ck_assert_int_eq(model_load(&u, p, NULL), 0);
        ck_assert_int_eq(u->cfg.tied_head, 0);
        ck_assert_int_eq(u->cfg.vocab_size, 512);
        ck_assert(memcmp(u->w.head.w, wcls, sizeof(float) * 512 * 64) == 0);
        ck_assert(memcmp(u->w.wte, m->w.wte, sizeof(float) * 512 * 64) == 0);
        ck_assert_uint_eq(u->n_params, m->n_params + 512 * 64);
        model_free(u);
        unlink(p);
        free(p);
        free(raw);
    }
    m->w.head.w = m->w.wte;
    m->cfg.tied_head = 1;
    free(wcls);
    model_free(m);
}
END_TEST

START_TEST(test_write_refuses_gpt2)
{
    Model *m = load_260k();
    if (!m) return;
    char *p = tmp_path(".bin");
    m->cfg.norm = NORM_LAYER;
    ck_assert_int_eq(llama2c_write(m, p, 0), ERR_UNSUPPORTED);
    m->cfg.norm = NORM_RMS;
    m->cfg.rope_theta = 500000.0f;
    ck_assert_int_eq(llama2c_write(m, p, 1), ERR_UNSUPPORTED);
    m->cfg.rope_theta = 10000.0f;
    ck_assert_int_eq(llama2c_write(m, p, 3), ERR_ARG);
    ck_assert_int_eq(llama2c_write(m, "/nonexistent-dir/x.bin", 1), ERR_IO);
    ck_assert_int_eq(llama2c_write_q8(m, p, 0), ERR_ARG);
    ck_assert_int_eq(llama2c_write_q8(m, p, 5), ERR_UNSUPPORTED);  /* 64*64 % 5 != 0 */
    unlink(p);
    free(p);
    model_free(m);
}
END_TEST

/* ---- Q8_0 ------------------------------------------------------------------------------- */

START_TEST(test_q8_kernel_against_naive)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2385);
    const int shapes[][3] = {{64, 48, 64}, {96, 7, 32}, {40, 33, 8}, {256, 130, 64}, {24, 5, 12},
                             {1024, 19, 64}, {768, 9, 128}, {512, 3, 32}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int in = shapes[si][0], out = shapes[si][1], gs = shapes[si][2];
        for (int N = 1; N <= 5; N += 4) {
            size_t nw = (size_t)in * out;
            float *w = malloc(sizeof(float) * nw), *x = malloc(sizeof(float) * (size_t)N * in);
            float *b = malloc(sizeof(float) * out);
            for (size_t i = 0; i < nw; i++) w[i] = (float)gsl_ran_gaussian(r, 0.3);
            for (int i = 0; i < N * in; i++) x[i] = (float)gsl_ran_gaussian(r, 1.0);
            for (int i = 0; i < out; i++) b[i] = (float)gsl_ran_gaussian(r, 0.1);
            int8_t *wq = malloc(nw), *xq = malloc((size_t)N * in);
            float *ws = malloc(sizeof(float) * nw / gs), *xs = malloc(sizeof(float) * (size_t)N * in / gs);
            float err = q8_quantize_weights(wq, ws, w, nw, gs);
            ck_assert(err <= 0.5f * 4.0f / 127.0f);  /* half a step of the largest scale */
            quantize_q8_forward(xq, xs, x, N, in, gs);
            Linear lin = {.b = (N & 1) ? b : NULL, .in = in, .out = out, .ld = in, .layout = W_OUT_IN,
                          .wq8 = wq, .wq8_scale = ws, .q8_group = gs};
            float *y1 = malloc(sizeof(float) * (size_t)N * out), *y2 = malloc(sizeof(float) * (size_t)N * out);
            float *y3 = malloc(sizeof(float) * (size_t)N * out);
            matmul_q8_forward_naive(y2, xq, xs, &lin, N);
            /* every kernel the CPU runs: integer sums are exact and the float terms are added
             * in the same order, so all give the naive loop's bits */
            int kernels = 0;
            for (int k = Q8_KERNEL_GENERIC; k <= Q8_KERNEL_AVX512VNNI; k++) {
                if (q8_kernel_select(k) != 0) continue;
                kernels++;
                memset(y1, 0, sizeof(float) * (size_t)N * out);
                matmul_q8_forward(y1, xq, xs, &lin, N);
                ck_assert_msg(memcmp(y1, y2, sizeof(float) * (size_t)N * out) == 0, "kernel %s, shape %zu",
                              q8_kernel_name(), si);
            }
            ck_assert_int_eq(q8_kernel_select(Q8_KERNEL_AUTO), 0);
            ck_assert_int_ge(kernels, 1);
            matmul_q8_forward(y1, xq, xs, &lin, N);
            /* and both approximate the float product */
            Linear lf = {.w = w, .b = lin.b, .in = in, .out = out, .ld = in, .layout = W_OUT_IN};
            matmul_forward_naive(y3, x, &lf, N);
            for (int i = 0; i < N * out; i++)
                ck_assert_msg(fabsf(y1[i] - y3[i]) < 0.02f * sqrtf((float)in), "shape %zu: %g vs %g", si, y1[i], y3[i]);
            free(w); free(x); free(b); free(wq); free(xq); free(ws); free(xs); free(y1); free(y2); free(y3);
        }
    }
    /* an all-zero group quantises to zeros with scale 0, not NaN */
    float z[8] = {0};
    int8_t q[8];
    float s;
    quantize_q8_forward(q, &s, z, 1, 8, 8);
    ck_assert_float_eq(s, 0.0f);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(q[i], 0);
    gsl_rng_free(r);
}
END_TEST

/* Version 2 files: the layout runq.c reads, the quantised Linear views, and products that
 * stay close to the fp32 model's. */
START_TEST(test_q8_export_loads)
{
    Model *m = load_260k();
    if (!m) return;
    for (int pass = 0; pass < 2; pass++) {
        char *p = tmp_path(".bin");
        int group = pass == 0 ? 64 : 4;
        ck_assert_int_eq(pass == 0 ? llama2c_write(m, p, 2) : llama2c_write_q8(m, p, group), 0);
        size_t len;
        unsigned char *raw = slurp(p, &len);
        int32_t g;
        memcpy(&g, raw + 37, 4);
        ck_assert_int_eq(g, group);
        Model *q = NULL;
        ck_assert_msg(model_load(&q, p, NULL) == 0, "%s", err_msg());
        char want[80];
        snprintf(want, sizeof want, "llama2.c export (version 2, int8 Q8_0, group %d)", group);
        ck_assert_str_eq(q->format, want);
        ck_assert_uint_eq(q->n_params, m->n_params);
        /* norms are fp32 and exact; the embedding is dequantised within half a step */
        ck_assert(memcmp(q->w.layer[3].ln2_w, m->w.layer[3].ln2_w, 64 * 4) == 0);
        float emax = 0;
        for (int i = 0; i < 512 * 64; i++) emax = fmaxf(emax, fabsf(q->w.wte[i] - m->w.wte[i]));
        ck_assert_msg(emax < 0.05f, "embedding error %g", emax);
        const LayerWeights *lw = &q->w.layer[1];
        ck_assert_ptr_nonnull(lw->q.wq8);
        ck_assert_int_eq(lw->q.q8_group, group);
        ck_assert_ptr_nonnull(q->w.head.wq8);
        /* w2 rows hold 172 values: whole groups of 4, but not of 64 (dequantised then) */
        if (group == 64) ck_assert_ptr_null(lw->proj.wq8);
        else ck_assert_ptr_nonnull(lw->proj.wq8);
        /* int8 matrices run as int8 (no float copy, so no double memory); only the
         * dequantised ones have float weights */
        if (group == 64) ck_assert_ptr_nonnull(lw->proj.w);
        else ck_assert_ptr_null(lw->proj.w);
        ck_assert_ptr_null(lw->q.w);
        /* the whole model runs, close to the fp32 one: same greedy choices where the fp32
         * model is sure of them */
        {
            const int ids[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421};
            float *lf = all_logits(m, ids, 13), *lq = all_logits(q, ids, 13);
            double worst = 0;
            for (int t = 0; t < 13; t++) {
                const float *a = lf + (size_t)t * 512, *b = lq + (size_t)t * 512;
                for (int j = 0; j < 512; j++) worst = fmax(worst, fabs((double)a[j] - b[j]));
                int am = argmax(a, 512);
                float second = -INFINITY;
                for (int j = 0; j < 512; j++)
                    if (j != am && a[j] > second) second = a[j];
                if (a[am] - second > 0.5f) ck_assert_int_eq(argmax(b, 512), am);
            }
            /* measured with fp32 activations: 0.12 (group 4), 0.29 (group 64); quantised
             * activations (matmul_q8_forward) add to it */
            ck_assert_msg(worst < 1.0, "Q8_0 (group %d) logits differ from fp32 by %g", group, worst);
            ck_assert_msg(worst > 0, "quantisation should change the logits");
            free(lf);
            free(lq);
        }
        /* each quantised layer product against the fp32 weights */
        const Linear *qs[] = {&lw->q, &lw->k, &lw->v, &lw->o, &lw->fc, &lw->fc_gate, &lw->proj, &q->w.head};
        const Linear *fs[] = {&m->w.layer[1].q, &m->w.layer[1].k, &m->w.layer[1].v, &m->w.layer[1].o,
                              &m->w.layer[1].fc, &m->w.layer[1].fc_gate, &m->w.layer[1].proj, &m->w.head};
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 7);
        for (size_t k = 0; k < 8; k++) {
            const Linear *lq = qs[k], *lf = fs[k];
            float *x = malloc(sizeof(float) * lq->in), *y = malloc(sizeof(float) * lq->out);
            float *yr = malloc(sizeof(float) * lq->out);
            for (int i = 0; i < lq->in; i++) x[i] = (float)gsl_ran_gaussian(r, 1.0);
            if (lq->wq8) {
                int8_t *xq = malloc((size_t)lq->in);
                float *xs = malloc(sizeof(float) * (size_t)(lq->in / lq->q8_group));
                quantize_q8_forward(xq, xs, x, 1, lq->in, lq->q8_group);
                matmul_q8_forward(y, xq, xs, lq, 1);
                free(xq);
                free(xs);
            } else {
                matmul_forward_naive(y, x, lq, 1);
            }
            matmul_forward_naive(yr, x, lf, 1);
            double num = 0, den = 0;
            for (int i = 0; i < lq->out; i++) {
                num += (y[i] - yr[i]) * (y[i] - yr[i]);
                den += yr[i] * yr[i];
            }
            ck_assert_msg(sqrt(num / den) < 0.02, "matrix %zu: relative error %g", k, sqrt(num / den));
            free(x); free(y); free(yr);
        }
        gsl_rng_free(r);
        /* v2 -> v1 dequantises: writing any Linear storage works */
        char *p1 = tmp_path(".bin");
        ck_assert_int_eq(llama2c_write(q, p1, 1), 0);
        Model *d = NULL;
        ck_assert_int_eq(model_load(&d, p1, NULL), 0);
        ck_assert(fabsf(d->w.layer[1].q.w[5] - m->w.layer[1].q.w[5]) < 0.05f);
        model_free(d);
        unlink(p1);
        free(p1);
        model_free(q);
        unlink(p);
        free(p);
        free(raw);
    }
    model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("llama2c");
    TCase *tl = tcase_create("load");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, test_load_stories260k_config);
    tcase_add_test(tl, test_probe);
    tcase_add_test(tl, test_tokenizer_beside_checkpoint);
    tcase_add_test(tl, test_corrupt_headers);
    tcase_add_test(tl, test_truncated_everywhere);
    tcase_add_test(tl, test_corrupt_exports);
    suite_add_tcase(s, tl);
    TCase *tt = tcase_create("tokenizer");
    tcase_set_timeout(tt, 120);
    tcase_add_test(tt, test_prompt_ids_match_run_c);
    tcase_add_test(tt, test_encode_rules);
    tcase_add_test(tt, test_encode_ties_and_small_vocab);
    tcase_add_test(tt, test_decode_matches_run_c_stdout);
    tcase_add_test(tt, test_tokenizer_export_round_trip);
    tcase_add_test(tt, test_tokenizer_corrupt);
    suite_add_tcase(s, tt);
    TCase *tf = tcase_create("forward");
    tcase_set_timeout(tf, 300);
    tcase_add_test(tf, test_logits_match_run_c);
    tcase_add_test(tf, test_greedy_matches_run_c);
    tcase_add_test(tf, test_export_v1_and_legacy_give_identical_logits);
    tcase_add_test(tf, test_convert_through_safetensors);
    tcase_add_test(tf, test_unshared_classifier);
    tcase_add_test(tf, test_write_refuses_gpt2);
    tcase_add_test(tf, test_q8_kernel_against_naive);
    tcase_add_test(tf, test_q8_export_loads);
    suite_add_tcase(s, tf);
    return run_suite(s);
}
