/* Tests for BPE training: hand-worked merges and the tie rule, the incremental trainer
 * against a naive one that recounts every pair at every merge, files the GPT-2 tokenizer
 * loads with exact round trips, determinism, and bad input. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/bpe_train.h"
#include "engine/err.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer_impl.h"
#include "tests/util/testutil.h"

static Tokenizer *load(const BpeTrainResult *r)
{
    Tokenizer *t = NULL;
    ck_assert_msg(tokenizer_gpt2_from_text(&t, r->vocab_json, r->vocab_len, r->merges, r->merges_len, "trained") == 0,
                  "%s", err_msg());
    return t;
}

START_TEST(test_hand_worked_merges)
{
    const char *text = "ab ab ab abc";
    BpeTrainResult r;
    ck_assert_int_eq(bpe_train(text, strlen(text), 300, &r), 0);
    ck_assert_str_eq(r.merges, "#version: 0.2\na b\n\xc4\xa0 ab\n");   /* Ġ = the space byte */
    ck_assert_int_eq(r.n_merges, 2);
    ck_assert_int_eq(r.vocab_size, 259);   /* (ab c) occurs once: training stops early */
    ck_assert_ptr_nonnull(strstr(r.vocab_json, "\"ab\": 256"));
    ck_assert_ptr_nonnull(strstr(r.vocab_json, "\"\\u0120ab\": 257"));
    ck_assert_ptr_nonnull(strstr(r.vocab_json, "\"<|endoftext|>\": 258"));
    ck_assert_ptr_nonnull(strstr(r.vocab_json, "\"!\": 0"));     /* GPT-2's byte ids */
    ck_assert_ptr_nonnull(strstr(r.vocab_json, "\"\\u0120\": 220"));
    Tokenizer *t = load(&r);
    ck_assert_int_eq(tokenizer_vocab_size(t), 259);
    ck_assert_int_eq(tokenizer_eot(t), 258);
    int *ids;
    size_t n;
    ck_assert_int_eq(tokenizer_encode(t, text, strlen(text), &ids, &n), 0);
    int want[] = {256, 257, 257, 257, 'c' - '!'};
    ck_assert_uint_eq(n, 5);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(ids[i], want[i]);
    free(ids);
    tokenizer_free(t);
    bpe_train_result_done(&r);
}
END_TEST

START_TEST(test_tie_rule)
{
    /* (x,y), (z,w) and (space,z) all occur twice: the smaller left id goes first
     * (x = 87 < z = 89 < space = 220), and (space, zw) then beats the single (space, xy) */
    const char *text = "xy xy zw zw";
    BpeTrainResult r;
    ck_assert_int_eq(bpe_train(text, strlen(text), 300, &r), 0);
    ck_assert_str_eq(r.merges, "#version: 0.2\nx y\nz w\n\xc4\xa0 zw\n");
    bpe_train_result_done(&r);
}
END_TEST

/* ---- a naive trainer: recount every pair at every merge ---- */

typedef struct {
    char **w;
    size_t *len;
    int n, cap;
} Pieces;

static int collect(void *ctx, const char *s, size_t n)
{
    Pieces *p = ctx;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->w = realloc(p->w, sizeof(char *) * p->cap);
        p->len = realloc(p->len, sizeof(size_t) * p->cap);
    }
    p->w[p->n] = malloc(n);
    memcpy(p->w[p->n], s, n);
    p->len[p->n++] = n;
    return 0;
}

static int printable_byte(int c) { return (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || c >= 0xae; }

/* merges as "a b" id pairs, written into ma/mb; returns the count */
static int naive_train(const char *text, size_t len, int max_merges, int *ma, int *mb)
{
    Pieces p = {0};
    ck_assert_int_eq(bpe_pretokenize(text, len, collect, &p), 0);
    int byte_id[256], id = 0;
    for (int c = 0; c < 256; c++) if (printable_byte(c)) byte_id[c] = id++;
    for (int c = 0; c < 256; c++) if (!printable_byte(c)) byte_id[c] = id++;
    /* tokens as byte strings to find a merge that rebuilds an existing string */
    int ntok = 256, captok = 256 + max_merges;
    char **tok = calloc(captok, sizeof(char *));
    size_t *tl = calloc(captok, sizeof(size_t));
    for (int c = 0; c < 256; c++) { tok[byte_id[c]] = malloc(1); tok[byte_id[c]][0] = (char)c; tl[byte_id[c]] = 1; }
    int **sym = malloc(sizeof(int *) * p.n), *ns = malloc(sizeof(int) * p.n);
    for (int i = 0; i < p.n; i++) {
        sym[i] = malloc(sizeof(int) * p.len[i]);
        ns[i] = (int)p.len[i];
        for (size_t k = 0; k < p.len[i]; k++) sym[i][k] = byte_id[(unsigned char)p.w[i][k]];
    }
    int nm = 0;
    long *cnt = malloc(sizeof(long) * (size_t)captok * captok);
    while (nm < max_merges) {
        memset(cnt, 0, sizeof(long) * (size_t)ntok * ntok);
        for (int i = 0; i < p.n; i++)
            for (int k = 0; k + 1 < ns[i]; k++) cnt[(size_t)sym[i][k] * ntok + sym[i][k + 1]]++;
        long best = 1;
        int ba = -1, bb = -1;
        for (int a = 0; a < ntok; a++)
            for (int b = 0; b < ntok; b++)
                if (cnt[(size_t)a * ntok + b] > best) { best = cnt[(size_t)a * ntok + b]; ba = a; bb = b; }
        if (ba < 0) break;
        char buf[512];
        memcpy(buf, tok[ba], tl[ba]);
        memcpy(buf + tl[ba], tok[bb], tl[bb]);
        int nid = -1;
        for (int k = 0; k < ntok; k++) if (tl[k] == tl[ba] + tl[bb] && memcmp(tok[k], buf, tl[k]) == 0) nid = k;
        if (nid < 0) {
            nid = ntok++;
            tok[nid] = malloc(tl[ba] + tl[bb]);
            memcpy(tok[nid], buf, tl[ba] + tl[bb]);
            tl[nid] = tl[ba] + tl[bb];
        }
        ma[nm] = ba; mb[nm] = bb; nm++;
        for (int i = 0; i < p.n; i++) {
            int o = 0;
            for (int k = 0; k < ns[i]; k++) {
                if (k + 1 < ns[i] && sym[i][k] == ba && sym[i][k + 1] == bb) { sym[i][o++] = nid; k++; }
                else sym[i][o++] = sym[i][k];
            }
            ns[i] = o;
        }
        /* the ids of a reused string keep the table square */
        ck_assert(ntok <= captok);
    }
    for (int i = 0; i < p.n; i++) { free(sym[i]); free(p.w[i]); }
    for (int k = 0; k < ntok; k++) free(tok[k]);
    free(sym); free(ns); free(p.w); free(p.len); free(tok); free(tl); free(cnt);
    return nm;
}

static char *varied_text(size_t *len)
{
    static const char *const words[] = {"the", "cat", "sat", "on", "mat", "then", "there",
        "кот", "кошка", "сидел", "сидела", "на", "коврике", "они", "aaaa", "abab", "a", "  ", "\n",
        "1234", "12", "!!", "don't", "I'm"};
    const int nw = sizeof words / sizeof words[0];
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    unsigned long x = 2385;
    for (int i = 0; i < 1500; i++) {
        x = x * 6364136223846793005ul + 1442695040888963407ul;
        const char *w = words[(x >> 33) % nw];
        size_t k = strlen(w);
        if (n + k + 2 > cap) break;
        memcpy(s + n, w, k);
        n += k;
        if ((x >> 20) % 3) s[n++] = ' ';
    }
    s[n] = 0;
    *len = n;
    return s;
}

/* The naive trainer's merges in merges.txt spelling. */
static char *naive_merges_text(const char *text, size_t len, int max_merges)
{
    int *ma = malloc(sizeof(int) * max_merges), *mb = malloc(sizeof(int) * max_merges);
    int nm = naive_train(text, len, max_merges, ma, mb);
    /* rebuild the token table in the same order to spell the ids */
    int byte_id[256], id = 0, n = 0;
    uint32_t cp[256];
    for (int c = 0; c < 256; c++) if (printable_byte(c)) byte_id[c] = id++;
    for (int c = 0; c < 256; c++) if (!printable_byte(c)) byte_id[c] = id++;
    for (int c = 0; c < 256; c++) cp[c] = printable_byte(c) ? (uint32_t)c : (uint32_t)(256 + n++);
    int cap = 256 + nm, ntok = 256;
    char **tok = calloc(cap, sizeof(char *));
    size_t *tl = calloc(cap, sizeof(size_t));
    for (int c = 0; c < 256; c++) { tok[byte_id[c]] = malloc(1); tok[byte_id[c]][0] = (char)c; tl[byte_id[c]] = 1; }
    size_t outcap = 64 + (size_t)nm * 200, on = 0;
    char *out = malloc(outcap);
    on += (size_t)sprintf(out, "#version: 0.2\n");
    for (int k = 0; k < nm; k++) {
        for (int side = 0; side < 2; side++) {
            int t = side ? mb[k] : ma[k];
            for (size_t i = 0; i < tl[t]; i++) on += tokenizer_utf8_encode(cp[(unsigned char)tok[t][i]], out + on);
            out[on++] = side ? '\n' : ' ';
        }
        size_t jl = tl[ma[k]] + tl[mb[k]];
        char *j = malloc(jl);
        memcpy(j, tok[ma[k]], tl[ma[k]]);
        memcpy(j + tl[ma[k]], tok[mb[k]], tl[mb[k]]);
        int found = 0;
        for (int q = 0; q < ntok; q++) found |= tl[q] == jl && memcmp(tok[q], j, jl) == 0;
        if (found) free(j);
        else { tok[ntok] = j; tl[ntok++] = jl; }
    }
    out[on] = 0;
    for (int q = 0; q < ntok; q++) free(tok[q]);
    free(tok); free(tl); free(ma); free(mb);
    return out;
}

START_TEST(test_incremental_matches_naive)
{
    size_t len;
    char *text = varied_text(&len);
    for (int m = 1; m <= 121; m += 60) {
        BpeTrainResult r;
        ck_assert_int_eq(bpe_train(text, len, 257 + m, &r), 0);
        char *want = naive_merges_text(text, len, m);
        ck_assert_str_eq(r.merges, want);
        ck_assert_int_eq(r.n_merges, m);
        free(want);
        /* the files load, and encoding round-trips and compresses */
        Tokenizer *t = load(&r);
        int *ids;
        size_t n, dl;
        ck_assert_int_eq(tokenizer_encode(t, text, len, &ids, &n), 0);
        char *back = tokenizer_decode(t, ids, n, &dl);
        ck_assert_uint_eq(dl, len);
        ck_assert(memcmp(back, text, len) == 0);
        if (m > 100) ck_assert_msg(n < len / 3, "%zu tokens for %zu bytes", n, len);
        free(back);
        free(ids);
        tokenizer_free(t);
        bpe_train_result_done(&r);
    }
    free(text);
}
END_TEST

START_TEST(test_deterministic_and_odd_bytes)
{
    /* invalid UTF-8 and NUL bytes are pieces like any other */
    const char text[] = "ab\xff\xfe ab\x00ab \xd0 ab\xff\xfe ab\xff\xfe";
    const size_t len = sizeof text - 1;
    BpeTrainResult r1, r2;
    ck_assert_int_eq(bpe_train(text, len, 400, &r1), 0);
    ck_assert_int_eq(bpe_train(text, len, 400, &r2), 0);
    ck_assert_uint_eq(r1.vocab_len, r2.vocab_len);
    ck_assert(memcmp(r1.vocab_json, r2.vocab_json, r1.vocab_len) == 0);
    ck_assert_str_eq(r1.merges, r2.merges);
    Tokenizer *t = load(&r1);
    int *ids;
    size_t n, dl;
    ck_assert_int_eq(tokenizer_encode(t, text, len, &ids, &n), 0);
    char *back = tokenizer_decode(t, ids, n, &dl);
    ck_assert_uint_eq(dl, len);
    ck_assert(memcmp(back, text, len) == 0);
    free(back);
    free(ids);
    tokenizer_free(t);
    bpe_train_result_done(&r1);
    bpe_train_result_done(&r2);
}
END_TEST

START_TEST(test_exact_size_and_files)
{
    size_t len;
    char *text = varied_text(&len);
    char *data = write_temp(text, len, ".txt");
    char dir[] = "/tmp/lectern-bpe-train-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *out = malloc(strlen(dir) + 8);
    sprintf(out, "%s/tok", dir);   /* created by the trainer */
    BpeTrainResult info;
    ck_assert_msg(bpe_train_files(data, 300, out, &info) == 0, "%s", err_msg());
    ck_assert_int_eq(info.vocab_size, 300);
    Tokenizer *t;
    ck_assert_msg(tokenizer_load_dir(&t, out) == 0, "%s", err_msg());
    ck_assert_int_eq(tokenizer_vocab_size(t), 300);
    ck_assert_int_eq(tokenizer_eot(t), 299);
    tokenizer_free(t);
    bpe_train_result_done(&info);
    /* errors: no data file, output is a file, a size out of range, empty text */
    ck_assert_int_eq(bpe_train_files("/nonexistent/data.txt", 300, out, NULL), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent/data.txt"));
    ck_assert_int_eq(bpe_train_files(data, 300, data, NULL), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "not a directory"));
    ck_assert_int_eq(bpe_train_files(data, 100, out, NULL), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), data));
    BpeTrainResult r;
    ck_assert_int_eq(bpe_train(text, len, 257, &r), ERR_ARG);
    ck_assert_int_eq(bpe_train(text, len, (1 << 20) + 1, &r), ERR_ARG);
    ck_assert_int_eq(bpe_train("", 0, 300, &r), ERR_ARG);
    char *vp = malloc(strlen(out) + 16), *mp = malloc(strlen(out) + 16);
    sprintf(vp, "%s/vocab.json", out);
    sprintf(mp, "%s/merges.txt", out);
    unlink(vp); unlink(mp); rmdir(out); rmdir(dir); unlink(data);
    free(vp); free(mp); free(out); free(data); free(text);
}
END_TEST

static Suite *bpe_train_suite(void)
{
    Suite *s = suite_create("bpe_train");
    TCase *c = tcase_create("core");
    tcase_set_timeout(c, 60);
    tcase_add_test(c, test_hand_worked_merges);
    tcase_add_test(c, test_tie_rule);
    tcase_add_test(c, test_incremental_matches_naive);
    tcase_add_test(c, test_deterministic_and_odd_bytes);
    tcase_add_test(c, test_exact_size_and_files);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return run_suite(bpe_train_suite());
}
