/* Tests for engine/tokenizer.c, engine/bpe.c and engine/chartok.c.
 *
 * GPT-2 BPE against ../shared/oracles/gpt2-bpe (tiktoken / encoder.py ids), a naive
 * quadratic merge twin for long words, invalid UTF-8, every loader error, export round trips,
 * and the character tokenizer. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/tokenizer.h"
#include "tests/util/testutil.h"

static Tokenizer *gpt2;          /* loaded once in main (NULL when the files are absent) */
static const char *gpt2_dir;

#define NEED_GPT2() \
    do { if (!gpt2) { printf("SKIP: %s needs ../shared/tokenizers/gpt2\n", __func__); return; } } while (0)

/* ---- helpers ---- */

/* encoder.py's bytes_to_unicode, rewritten here so tests do not trust bpe.c's table. */
static uint32_t byte_cp(int c)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        if (b == c) return printable ? (uint32_t)b : (uint32_t)(256 + n);
        if (!printable) n++;
    }
    return 0;
}

static size_t put_utf8(uint32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

typedef struct { char *s; size_t n, cap; } Str;

static void str_put(Str *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void str_puts(Str *b, const char *s) { str_put(b, s, strlen(s)); }

/* Spelling of bytes in the byte alphabet (raw UTF-8, for merges.txt and for JSON keys:
 * the alphabet has no '"' escaping problem except '"' and '\\' themselves). */
static void spell(Str *b, const char *bytes, size_t n, int json)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = byte_cp((unsigned char)bytes[i]);
        char tmp[4];
        if (json && (cp == '"' || cp == '\\')) str_put(b, "\\", 1);
        str_put(b, tmp, put_utf8(cp, tmp));
    }
}

/* A tiny vocab.json: the 256 bytes (id = byte value), then extra tokens (ASCII), then
 * "<|endoftext|>". */
static char *tiny_vocab(const char *const *extra, int n_extra, size_t *len)
{
    Str b = {0};
    str_puts(&b, "{");
    char num[32];
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        str_puts(&b, c ? ", \"" : "\"");
        spell(&b, &ch, 1, 1);
        snprintf(num, sizeof num, "\": %d", c);
        str_puts(&b, num);
    }
    for (int i = 0; i < n_extra; i++) {
        str_puts(&b, ", \"");
        spell(&b, extra[i], strlen(extra[i]), 1);
        snprintf(num, sizeof num, "\": %d", 256 + i);
        str_puts(&b, num);
    }
    snprintf(num, sizeof num, ", \"<|endoftext|>\": %d}", 256 + n_extra);
    str_puts(&b, num);
    *len = b.n;
    return b.s;
}

static const char *const TINY_EXTRA[] = {"ab", "abc", " a", "bc"};
static const char TINY_MERGES[] = "#version: 0.2\na b\nab c\nĠ a\nb c\n";

static Tokenizer *tiny_tokenizer(void)
{
    size_t vl;
    char *v = tiny_vocab(TINY_EXTRA, 4, &vl);
    Tokenizer *t = NULL;
    int rc = tokenizer_gpt2_from_text(&t, v, vl, TINY_MERGES, strlen(TINY_MERGES), "tiny");
    free(v);
    ck_assert_msg(rc == 0, "tiny tokenizer: %s", err_msg());
    return t;
}

static void expect_roundtrip(Tokenizer *t, const char *s, size_t n)
{
    int *ids;
    size_t k;
    ck_assert_int_eq(tokenizer_encode(t, s, n, &ids, &k), 0);
    size_t dl;
    char *d = tokenizer_decode(t, ids, k, &dl);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(dl, n);
    ck_assert_msg(memcmp(d, s, n) == 0, "decode(encode(x)) != x");
    free(d);
    free(ids);
}

static void expect_ids(Tokenizer *t, const char *s, size_t n, const int *want, size_t nwant)
{
    int *ids;
    size_t k;
    ck_assert_int_eq(tokenizer_encode(t, s, n, &ids, &k), 0);
    int same = k == nwant;
    for (size_t i = 0; same && i < k; i++) same = ids[i] == want[i];
    if (!same) {
        fprintf(stderr, "text %.*s\n got:", (int)n, s);
        for (size_t i = 0; i < k; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\nwant:");
        for (size_t i = 0; i < nwant; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
    ck_assert_msg(same, "ids differ for a text of %zu bytes", n);
}

static int *json_ids(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    int *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int)json_integer_value(json_array_get(arr, i));
    return v;
}

/* Calls fn(text, len, ids, n, ctx) for each line of a JSONL oracle; returns the count. */
typedef void (*CaseFn)(json_t *obj, const char *text, size_t len, void *ctx);
static int for_each_case(const char *path, CaseFn fn, void *ctx)
{
    size_t len;
    char *data = read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    int count = 0;
    for (char *line = data; line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        if (ll) {
            json_error_t je;
            json_t *o = json_loadb(line, ll, JSON_ALLOW_NUL, &je);
            ck_assert_msg(o != NULL, "%s: %s", path, je.text);
            json_t *text = json_object_get(o, "text");
            fn(o, json_string_value(text), json_string_length(text), ctx);
            json_decref(o);
            count++;
        }
        line += ll + 1;
    }
    free(data);
    return count;
}

/* ---- GPT-2 against the oracles ---- */

static void check_case(json_t *o, const char *text, size_t len, void *ctx)
{
    (void)ctx;
    size_t n;
    int *want = json_ids(json_object_get(o, "ids"), &n);
    expect_ids(gpt2, text, len, want, n);
    expect_roundtrip(gpt2, text, len);
    free(want);
}

START_TEST(test_gpt2_oracle_cases)
{
    NEED_GPT2();
    const char *p = shared_path("oracles/gpt2-bpe/cases.jsonl", "GPT-2 BPE oracle");
    if (!p) return;
    ck_assert_int_eq(for_each_case(p, check_case, NULL), 100);
}
END_TEST

static void check_disagreement(json_t *o, const char *text, size_t len, void *ctx)
{
    (void)ctx;
    size_t n, n2;
    int *want = json_ids(json_object_get(o, "ids_openai"), &n);
    int *tk = json_ids(json_object_get(o, "ids_tiktoken"), &n2);
    ck_assert_uint_eq(n, n2); /* the oracle's two references agree */
    ck_assert_int_eq(memcmp(want, tk, n * sizeof *want), 0);
    expect_ids(gpt2, text, len, want, n);
    expect_roundtrip(gpt2, text, len);
    free(want);
    free(tk);
}

START_TEST(test_gpt2_disagreements_follow_encoder_py)
{
    NEED_GPT2();
    const char *p = shared_path("oracles/gpt2-bpe/disagreements.jsonl", "GPT-2 BPE oracle");
    if (!p) return;
    ck_assert_int_eq(for_each_case(p, check_disagreement, NULL), 5);
}
END_TEST

START_TEST(test_gpt2_basics_and_endoftext)
{
    NEED_GPT2();
    ck_assert_int_eq(tokenizer_kind(gpt2), TOK_GPT2_BPE);
    ck_assert_int_eq(tokenizer_vocab_size(gpt2), 50257);
    ck_assert_int_eq(tokenizer_eot(gpt2), 50256);
    const int eot_plain[] = {27, 91, 437, 1659, 5239, 91, 29};
    expect_ids(gpt2, "<|endoftext|>", 13, eot_plain, 7);
    ck_assert_int_eq(tokenizer_lookup(gpt2, "<|endoftext|>", 13), 50256);
    ck_assert_int_eq(tokenizer_lookup(gpt2, " the", 4), 262);
    ck_assert_int_eq(tokenizer_lookup(gpt2, "no such token here", 18), -1);
    size_t l;
    const char *b = tokenizer_token_bytes(gpt2, 50256, &l);
    ck_assert_uint_eq(l, 13);
    ck_assert_int_eq(memcmp(b, "<|endoftext|>", 13), 0);
    b = tokenizer_token_bytes(gpt2, 220, &l); /* "Ġ" is the space byte */
    ck_assert_uint_eq(l, 1);
    ck_assert_int_eq(b[0], ' ');
    ck_assert_ptr_null(tokenizer_token_bytes(gpt2, 50257, &l));
    ck_assert_uint_eq(l, 0);
    ck_assert_ptr_null(tokenizer_token_bytes(gpt2, -1, NULL));
    const int hello[] = {15496, 11, 616, 3290, 318, 13779, 290};
    expect_ids(gpt2, "Hello, my dog is cute and", 25, hello, 7);
    /* U+180E is not White_Space: "a \u180ex" is "a" + " \u180e" + "x" (PCRE2's own \s
     * would split it "a" + " " + "\u180e" + "x") */
    int *ids, *sp;
    size_t n, nsp;
    ck_assert_int_eq(tokenizer_encode(gpt2, "a \xe1\xa0\x8e" "x", 6, &ids, &n), 0);
    ck_assert_int_eq(tokenizer_encode(gpt2, " \xe1\xa0\x8e", 4, &sp, &nsp), 0);
    ck_assert_uint_eq(n, nsp + 2);
    ck_assert_int_eq(ids[0], 64);
    ck_assert_int_eq(memcmp(ids + 1, sp, nsp * sizeof *sp), 0);
    ck_assert_int_eq(ids[n - 1], 87);
    free(ids);
    free(sp);
}
END_TEST

START_TEST(test_gpt2_empty_text)
{
    NEED_GPT2();
    int *ids = NULL;
    size_t n = 99;
    ck_assert_int_eq(tokenizer_encode(gpt2, "", 0, &ids, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(ids);
    free(ids);
    ck_assert_int_eq(tokenizer_encode(gpt2, NULL, 0, &ids, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(ids);
    ck_assert_int_eq(tokenizer_encode(gpt2, NULL, 3, &ids, &n), ERR_ARG);
    size_t dl = 7;
    char *d = tokenizer_decode(gpt2, NULL, 0, &dl);
    ck_assert_str_eq(d, "");
    ck_assert_uint_eq(dl, 0);
    free(d);
}
END_TEST

START_TEST(test_gpt2_invalid_utf8)
{
    NEED_GPT2();
    static const char *const bad[] = {
        "\x80", "\xbf\xbf", "abc\x80" "def", "\xff", "x\xfe\xffy", "\xe2\x82", "\xe2\x82 a",
        "\xf0\x9f\x98", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "caf\xc3", " \xc3 \xa9 ",
        "\xe4\xb8\xad\xe6", "hello \xff\xfe world\x00\x01", "\n\n\x85\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        if (i == sizeof bad / sizeof bad[0] - 2) n += 2; /* keep the NUL and 0x01 */
        expect_roundtrip(gpt2, bad[i], n);
    }
    /* each invalid byte is the byte's own token; valid runs around it encode on their own */
    int id80 = tokenizer_lookup(gpt2, "\x80", 1), idff = tokenizer_lookup(gpt2, "\xff", 1);
    ck_assert_int_ge(id80, 0);
    ck_assert_int_ge(idff, 0);
    const int want1[] = {64, id80, 65};
    expect_ids(gpt2, "a\x80" "b", 3, want1, 3);
    const int want2[] = {idff, idff};
    expect_ids(gpt2, "\xff\xff", 2, want2, 2);
    /* "\xe2\x82" truncated: two byte tokens, then " a" as usual */
    int ide2 = tokenizer_lookup(gpt2, "\xe2", 1), id82 = tokenizer_lookup(gpt2, "\x82", 1);
    const int want3[] = {ide2, id82, 257};
    expect_ids(gpt2, "\xe2\x82 a", 4, want3, 3);
    /* the run before an invalid byte ends there: "hello  " + 0xff keeps "  " whole */
    int *a, *b;
    size_t na, nb;
    ck_assert_int_eq(tokenizer_encode(gpt2, "hello  \xff", 8, &a, &na), 0);
    ck_assert_int_eq(tokenizer_encode(gpt2, "hello  ", 7, &b, &nb), 0);
    ck_assert_uint_eq(na, nb + 1);
    ck_assert_int_eq(memcmp(a, b, nb * sizeof *a), 0);
    ck_assert_int_eq(a[nb], idff);
    free(a);
    free(b);
    /* every byte value alone and in pairs */
    char buf[2];
    for (int x = 0; x < 256; x++) {
        buf[0] = (char)x;
        expect_roundtrip(gpt2, buf, 1);
        for (int y = 0x78; y < 0xc8; y += 7) {
            buf[1] = (char)y;
            expect_roundtrip(gpt2, buf, 2);
        }
    }
}
END_TEST

/* Unicode White_Space, as the pre-tokenizer defines \s. */
static int is_ws(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

static uint32_t first_cp(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (!n) return 0x20;
    if (u[0] < 0x80) return u[0];
    if (u[0] < 0xe0) return ((u[0] & 0x1fu) << 6) | (u[1] & 0x3fu);
    if (u[0] < 0xf0) return ((u[0] & 0x0fu) << 12) | ((u[1] & 0x3fu) << 6) | (u[2] & 0x3fu);
    return 0x10000;
}

static uint32_t last_cp(const char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) i--;
    return i ? first_cp(s + i - 1, n - i + 1) : 0x20;
}

typedef struct { Str text; int *ids; size_t n, cap; } Joined;

static void join_case(json_t *o, const char *text, size_t len, void *ctx)
{
    Joined *j = ctx;
    if (!len || is_ws(first_cp(text, len)) || is_ws(last_cp(text, len))) return;
    size_t n;
    int *want = json_ids(json_object_get(o, "ids"), &n);
    if (j->n + n + 1 > j->cap) {
        j->cap = (j->n + n + 1) * 2;
        j->ids = realloc(j->ids, j->cap * sizeof *j->ids);
    }
    if (j->text.n) {
        str_put(&j->text, "\n", 1);
        j->ids[j->n++] = 198;
    }
    str_put(&j->text, text, len);
    memcpy(j->ids + j->n, want, n * sizeof *want);
    j->n += n;
    free(want);
}

/* ~100 KB: oracle texts that start and end with a non-space, joined by "\n".  A lone "\n"
 * between two non-spaces is its own pre-token, so the expected ids are the oracle's ids
 * joined by 198 — a real oracle for a long text. */
START_TEST(test_gpt2_100kb_text)
{
    NEED_GPT2();
    const char *p = shared_path("oracles/gpt2-bpe/cases.jsonl", "GPT-2 BPE oracle");
    if (!p) return;
    Joined j = {0};
    while (j.text.n < 100 * 1024) for_each_case(p, join_case, &j);
    expect_ids(gpt2, j.text.s, j.text.n, j.ids, j.n);
    expect_roundtrip(gpt2, j.text.s, j.text.n);
    free(j.text.s);
    free(j.ids);
}
END_TEST

/* ---- a naive twin of the merge loop ---- */

typedef struct { int a, b, rank; } Merge;

static int merge_cmp(const void *x, const void *y)
{
    const Merge *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

static int cp_byte(uint32_t cp)
{
    for (int c = 0; c < 256; c++)
        if (byte_cp(c) == cp) return c;
    return -1;
}

/* merges.txt parsed here from the file, independently of bpe.c. */
static Merge *read_merges(const char *path, size_t *n)
{
    size_t len;
    char *data = read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    size_t cap = 1024;
    Merge *m = malloc(cap * sizeof *m);
    *n = 0;
    char *save = NULL;
    int rank = 0;
    int dec[0x144];
    for (uint32_t c = 0; c < 0x144; c++) dec[c] = cp_byte(c);
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line == data && line[0] == '#') continue; /* only line 1: tokens may start with # */
        char *sp = strchr(line, ' ');
        ck_assert_ptr_nonnull(sp);
        *sp = 0;
        int ids[2];
        const char *parts[2] = {line, sp + 1};
        for (int k = 0; k < 2; k++) {
            char bytes[256];
            size_t nb = 0;
            for (const unsigned char *u = (const unsigned char *)parts[k]; *u;) {
                uint32_t cp = first_cp((const char *)u, 4);
                u += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
                bytes[nb++] = (char)dec[cp];
            }
            ids[k] = tokenizer_lookup(gpt2, bytes, nb);
            ck_assert_int_ge(ids[k], 0);
        }
        if (*n == cap) m = realloc(m, (cap *= 2) * sizeof *m);
        m[*n].a = ids[0];
        m[*n].b = ids[1];
        m[*n].rank = rank++;
        (*n)++;
    }
    free(data);
    qsort(m, *n, sizeof *m, merge_cmp);
    return m;
}

/* tiktoken's byte_pair_merge, quadratic: merge the lowest-ranked pair, leftmost first. */
static size_t naive_bpe(const Merge *m, size_t nm, const char *s, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++) out[i] = tokenizer_lookup(gpt2, s + i, 1);
    size_t k = n;
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            Merge key = {out[i], out[i + 1], 0};
            const Merge *f = bsearch(&key, m, nm, sizeof *m, merge_cmp);
            if (f && (best < 0 || f->rank < best)) {
                best = f->rank;
                at = i;
            }
        }
        if (best < 0) return k;
        size_t la, lb;
        const char *a = tokenizer_token_bytes(gpt2, out[at], &la);
        const char *b = tokenizer_token_bytes(gpt2, out[at + 1], &lb);
        char *cat = malloc(la + lb);
        memcpy(cat, a, la);
        memcpy(cat + la, b, lb);
        out[at] = tokenizer_lookup(gpt2, cat, la + lb);
        free(cat);
        ck_assert_int_ge(out[at], 0);
        memmove(out + at + 1, out + at + 2, (k - at - 2) * sizeof *out);
        k--;
    }
}

START_TEST(test_gpt2_merge_matches_naive_twin)
{
    NEED_GPT2();
    char *mp = xasprintf("%s/merges.txt", gpt2_dir);
    size_t nm;
    Merge *m = read_merges(mp, &nm);
    free(mp);
    ck_assert_uint_eq(nm, 50000);
    /* one-pre-token words: letters only (ASCII, Latin-1, Cyrillic, CJK) */
    static const char *const pieces[] = {"a", "b", "e", "t", "h", "in", "er", "the", "ing",
                                         "\xc3\xa9", "\xd0\xb6", "\xd0\xb0", "\xe4\xb8\xad",
                                         "q", "z", "Th", "on", "re", "aa", "ll"};
    unsigned seed = 2385;
    char word[4096];
    int *want = malloc(sizeof word * sizeof *want);
    for (int trial = 0; trial < 120; trial++) {
        size_t n = 0, target = 2 + (size_t)(trial * 31 % 1500);
        while (n < target) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
            memcpy(word + n, p, strlen(p));
            n += strlen(p);
        }
        size_t k = naive_bpe(m, nm, word, n, want);
        expect_ids(gpt2, word, n, want, k);
    }
    /* a 100 KB single word goes through the heap without trouble */
    size_t big = 100 * 1024;
    char *w = malloc(big);
    for (size_t i = 0; i < big; i++) w[i] = "ab"[i % 7 == 3];
    expect_roundtrip(gpt2, w, big);
    memset(w, ' ', big); /* a 100 KB whitespace run */
    expect_roundtrip(gpt2, w, big);
    free(w);
    free(want);
    free(m);
}
END_TEST

START_TEST(test_gpt2_cache_reset_keeps_results)
{
    NEED_GPT2();
    const char *probe = "The quick brown fox jumps over the lazy dog, twice.";
    int *a, *b;
    size_t na, nb;
    ck_assert_int_eq(tokenizer_encode(gpt2, probe, strlen(probe), &a, &na), 0);
    /* 70,000 distinct words: more than the cache holds, so it is emptied on the way */
    Str s = {0};
    char w[16];
    for (int i = 0; i < 70000; i++) {
        int x = i;
        size_t k = 0;
        w[k++] = ' ';
        do { w[k++] = (char)('a' + x % 26); x /= 26; } while (x);
        str_put(&s, w, k);
    }
    expect_roundtrip(gpt2, s.s, s.n);
    ck_assert_int_eq(tokenizer_encode(gpt2, probe, strlen(probe), &b, &nb), 0);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na * sizeof *a), 0);
    free(a);
    free(b);
    free(s.s);
}
END_TEST

START_TEST(test_decode_rejects_bad_ids)
{
    Tokenizer *t = tiny_tokenizer();
    const int ids[] = {97, 261, 5};
    size_t l = 9;
    err_clear();
    ck_assert_ptr_null(tokenizer_decode(t, ids, 3, &l));
    ck_assert_int_eq(err_code(), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "261"));
    ck_assert_uint_eq(l, 0);
    const int neg[] = {-1};
    ck_assert_ptr_null(tokenizer_decode(t, neg, 1, NULL));
    tokenizer_free(t);
    tokenizer_free(NULL);
}
END_TEST

/* ---- export / import ---- */

START_TEST(test_gpt2_export_is_the_original_files)
{
    NEED_GPT2();
    char *a, *b;
    size_t al, bl;
    ck_assert_int_eq(tokenizer_export(gpt2, &a, &al, &b, &bl), 0);
    char *vp = xasprintf("%s/vocab.json", gpt2_dir), *mp = xasprintf("%s/merges.txt", gpt2_dir);
    size_t vl, ml;
    char *v = read_file(vp, &vl), *m = read_file(mp, &ml);
    /* byte for byte: the same files tiktoken pins by sha256 */
    ck_assert_uint_eq(al, vl);
    ck_assert_int_eq(memcmp(a, v, vl), 0);
    ck_assert_uint_eq(bl, ml);
    ck_assert_int_eq(memcmp(b, m, ml), 0);
    Tokenizer *t2 = NULL;
    ck_assert_int_eq(tokenizer_gpt2_from_text(&t2, a, al, b, bl, "export"), 0);
    ck_assert_int_eq(tokenizer_vocab_size(t2), 50257);
    ck_assert_int_eq(tokenizer_eot(t2), 50256);
    const char *txt = "Round trip: naïve café, 1234 日本語 \xff ok";
    int *x, *y;
    size_t nx, ny;
    ck_assert_int_eq(tokenizer_encode(gpt2, txt, strlen(txt), &x, &nx), 0);
    ck_assert_int_eq(tokenizer_encode(t2, txt, strlen(txt), &y, &ny), 0);
    ck_assert_uint_eq(nx, ny);
    ck_assert_int_eq(memcmp(x, y, nx * sizeof *x), 0);
    free(x);
    free(y);
    tokenizer_free(t2);
    free(a);
    free(b);
    free(v);
    free(m);
    free(vp);
    free(mp);
}
END_TEST

START_TEST(test_tiny_export_round_trip_and_merges)
{
    Tokenizer *t = tiny_tokenizer();
    ck_assert_int_eq(tokenizer_vocab_size(t), 261);
    ck_assert_int_eq(tokenizer_eot(t), 260);
    /* "abc" -> ab, then ab+c; " a" -> " a" (258); "bc" alone merges too */
    expect_ids(t, "abc a bc\na", 10, (const int[]){257, 258, 32, 259, 10, 97}, 6);
    char *a, *b;
    size_t al, bl;
    ck_assert_int_eq(tokenizer_export(t, &a, &al, &b, &bl), 0);
    ck_assert_str_eq(b, TINY_MERGES);
    Tokenizer *t2 = NULL;
    ck_assert_int_eq(tokenizer_gpt2_from_text(&t2, a, al, b, bl, "tiny export"), 0);
    ck_assert_int_eq(tokenizer_vocab_size(t2), 261);
    for (int id = 0; id < 261; id++) {
        size_t l1, l2;
        const char *p1 = tokenizer_token_bytes(t, id, &l1), *p2 = tokenizer_token_bytes(t2, id, &l2);
        ck_assert_uint_eq(l1, l2);
        ck_assert_int_eq(memcmp(p1, p2, l1), 0);
    }
    expect_ids(t2, "abc a bc\na", 10, (const int[]){257, 258, 32, 259, 10, 97}, 6);
    char *a2, *b2;
    size_t al2, bl2;
    ck_assert_int_eq(tokenizer_export(t2, &a2, &al2, &b2, &bl2), 0);
    ck_assert_uint_eq(al, al2);
    ck_assert_int_eq(memcmp(a, a2, al), 0);
    ck_assert_str_eq(b, b2);
    free(a);
    free(b);
    free(a2);
    free(b2);
    tokenizer_free(t);
    tokenizer_free(t2);
}
END_TEST

/* ---- loader errors ---- */

static void expect_error(const char *vocab, size_t vl, const char *merges, int code,
                         const char *needle1, const char *needle2)
{
    Tokenizer *t = (Tokenizer *)&t; /* must be reset to NULL */
    err_clear();
    int rc = tokenizer_gpt2_from_text(&t, vocab, vl, merges, strlen(merges), "origin-x");
    ck_assert_msg(rc == code, "rc %d (want %d): %s", rc, code, err_msg());
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err_msg(), "origin-x") != NULL, "no origin in: %s", err_msg());
    ck_assert_msg(strstr(err_msg(), needle1) != NULL, "no '%s' in: %s", needle1, err_msg());
    if (needle2) ck_assert_msg(strstr(err_msg(), needle2) != NULL, "no '%s' in: %s", needle2, err_msg());
    ck_assert_ptr_null(strchr(err_msg(), '\n'));
}

START_TEST(test_vocab_errors)
{
    const char *ok_merges = "#version: 0.2\n";
    expect_error("{", 1, ok_merges, ERR_FORMAT, "vocab.json", "malformed JSON");
    expect_error("", 0, ok_merges, ERR_FORMAT, "vocab.json", "malformed JSON");
    expect_error("[1, 2]", 6, ok_merges, ERR_FORMAT, "vocab.json", "not a JSON object");
    expect_error("{}", 2, ok_merges, ERR_FORMAT, "vocab.json", "0 tokens");
    expect_error("{\"a\": \"x\"}", 10, ok_merges, ERR_FORMAT, "\"a\"", "not an integer");
    expect_error("{\"a\": 1.5}", 10, ok_merges, ERR_FORMAT, "\"a\"", "not an integer");
    expect_error("{\"a\": 0, \"b\": 0}", 16, ok_merges, ERR_FORMAT, "\"b\"", "used twice");
    expect_error("{\"a\": 0, \"b\": 7}", 16, ok_merges, ERR_FORMAT, "id 7", "outside");
    expect_error("{\"a\": -1}", 9, ok_merges, ERR_FORMAT, "id -1", "outside");
    expect_error("{\"a\": 0, \"a\": 1}", 16, ok_merges, ERR_FORMAT, "vocab.json", "duplicate");
    expect_error("{\"\": 0}", 7, ok_merges, ERR_FORMAT, "vocab.json", "empty token");
    expect_error("{\"\\u4e2d\": 0}", 13, ok_merges, ERR_FORMAT, "U+4E2D", "byte alphabet");
    expect_error("{\"a\\u0000\": 0}", 14, ok_merges, ERR_FORMAT, "vocab.json", "malformed");
    expect_error("{\"a\": 0} x", 10, ok_merges, ERR_FORMAT, "vocab.json", "malformed");
    /* every byte needs a token: "b" (0x62) is missing here */
    expect_error("{\"a\": 0}", 8, ok_merges, ERR_FORMAT, "no token for byte 0x00", NULL);
}
END_TEST

START_TEST(test_merges_errors)
{
    size_t vl;
    char *v = tiny_vocab(TINY_EXTRA, 4, &vl);
    expect_error(v, vl, "#version: 0.2\na b\nab\n", ERR_FORMAT, "merges.txt", "line 3");
    expect_error(v, vl, "#version: 0.2\na b c\n", ERR_FORMAT, "line 2", "not two tokens");
    expect_error(v, vl, "#version: 0.2\na  b\n", ERR_FORMAT, "line 2", "not two tokens");
    expect_error(v, vl, "#version: 0.2\na \n", ERR_FORMAT, "line 2", "not two tokens");
    expect_error(v, vl, "#version: 0.2\n b\n", ERR_FORMAT, "line 2", "not two tokens");
    expect_error(v, vl, "#version: 0.2\na b\n\nb c\n", ERR_FORMAT, "line 3", "not two tokens");
    expect_error(v, vl, "#version: 0.2\na b\nabcd e\n", ERR_FORMAT, "line 3", "\"abcd\" is not in the vocabulary");
    expect_error(v, vl, "#version: 0.2\nc a\n", ERR_FORMAT, "line 2", "merge of \"c a\" is not in the vocabulary");
    expect_error(v, vl, "#version: 0.2\na b\nb c\na b\n", ERR_FORMAT, "line 4", "repeats");
    expect_error(v, vl, "#version: 0.2\na \xe4\xb8\xad\n", ERR_FORMAT, "line 2", "U+4E2D");
    expect_error(v, vl, "#version: 0.2\na \xff\n", ERR_FORMAT, "line 2", "not valid UTF-8");
    expect_error(v, vl, "a b\nab c\nx\n", ERR_FORMAT, "line 3", "not two tokens"); /* no #version */
    /* only a "#version" first line is a header: "# a" is a merge of "#" and "a" */
    expect_error(v, vl, "# a\n", ERR_FORMAT, "line 1", "merge of \"# a\" is not in the vocabulary");
    /* accepted: CRLF line ends, no final newline, trailing blank lines, no merges at all */
    const char *okm[] = {"#version: 0.2\r\na b\r\nab c\r\n", "#version: 0.2\na b\nab c",
                         "#version: 0.2\na b\n\n\n", "", "#version: 0.2"};
    for (size_t i = 0; i < sizeof okm / sizeof okm[0]; i++) {
        Tokenizer *t = NULL;
        ck_assert_msg(tokenizer_gpt2_from_text(&t, v, vl, okm[i], strlen(okm[i]), "ok") == 0,
                      "%zu: %s", i, err_msg());
        tokenizer_free(t);
    }
    free(v);
}
END_TEST

START_TEST(test_load_files_and_dir)
{
    size_t vl;
    char *v = tiny_vocab(TINY_EXTRA, 4, &vl);
    char *vp = write_temp(v, vl, ".json");
    char *mp = write_temp(TINY_MERGES, strlen(TINY_MERGES), ".txt");
    char *bad = write_temp("#version: 0.2\na b\nzz\n", 21, ".txt");
    Tokenizer *t = NULL;
    ck_assert_int_eq(tokenizer_load_gpt2(&t, vp, mp), 0);
    expect_ids(t, "abc", 3, (const int[]){257}, 1);
    tokenizer_free(t);
    err_clear();
    ck_assert_int_eq(tokenizer_load_gpt2(&t, vp, bad), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), bad));
    ck_assert_ptr_nonnull(strstr(err_msg(), "line 3"));
    ck_assert_ptr_null(t);
    ck_assert_int_eq(tokenizer_load_gpt2(&t, "/nonexistent/vocab.json", mp), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent/vocab.json"));
    ck_assert_int_eq(tokenizer_load_gpt2(&t, vp, "/nonexistent/merges.txt"), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent/merges.txt"));
    ck_assert_int_eq(tokenizer_load_gpt2(&t, "/tmp", mp), ERR_IO); /* a directory */
    /* a directory holding vocab.json + merges.txt */
    char dir[] = "/tmp/lectern-bpe-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *dv = xasprintf("%s/vocab.json", dir), *dm = xasprintf("%s/merges.txt", dir);
    ck_assert_int_eq(tokenizer_load_dir(&t, dir), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), dv));
    ck_assert_int_eq(rename(vp, dv), 0);
    ck_assert_int_eq(tokenizer_load_dir(&t, dir), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), dm));
    ck_assert_int_eq(rename(mp, dm), 0);
    ck_assert_int_eq(tokenizer_load_dir(&t, dir), 0);
    ck_assert_int_eq(tokenizer_vocab_size(t), 261);
    tokenizer_free(t);
    unlink(dv);
    unlink(dm);
    unlink(bad);
    rmdir(dir);
    free(dv);
    free(dm);
    free(v);
    free(vp);
    free(mp);
    free(bad);
}
END_TEST

/* ---- character tokenizer ---- */

START_TEST(test_char_encode_decode)
{
    const char alpha[] = "\n abcé中😀";
    Tokenizer *t = NULL;
    ck_assert_int_eq(tokenizer_char_new(&t, alpha, strlen(alpha)), 0);
    ck_assert_int_eq(tokenizer_kind(t), TOK_CHAR);
    ck_assert_int_eq(tokenizer_vocab_size(t), 8);
    ck_assert_int_eq(tokenizer_eot(t), -1);
    const char txt[] = "cab é\n中😀a";
    expect_ids(t, txt, strlen(txt), (const int[]){4, 2, 3, 1, 5, 0, 6, 7, 2}, 9);
    expect_roundtrip(t, txt, strlen(txt));
    ck_assert_int_eq(tokenizer_lookup(t, "中", 3), 6);
    ck_assert_int_eq(tokenizer_lookup(t, "ab", 2), -1);
    size_t l;
    const char *b = tokenizer_token_bytes(t, 7, &l);
    ck_assert_uint_eq(l, 4);
    ck_assert_int_eq(memcmp(b, "😀", 4), 0);
    char *a, *bb;
    size_t al, bl;
    ck_assert_int_eq(tokenizer_export(t, &a, &al, &bb, &bl), 0);
    ck_assert_uint_eq(al, strlen(alpha));
    ck_assert_str_eq(a, alpha);
    ck_assert_ptr_null(bb);
    ck_assert_uint_eq(bl, 0);
    Tokenizer *t2 = NULL;
    ck_assert_int_eq(tokenizer_char_new(&t2, a, al), 0);
    expect_ids(t2, txt, strlen(txt), (const int[]){4, 2, 3, 1, 5, 0, 6, 7, 2}, 9);
    free(a);
    tokenizer_free(t2);
    /* NUL is an ordinary character */
    ck_assert_int_eq(tokenizer_char_new(&t2, "x\0y", 3), 0);
    expect_ids(t2, "y\0x", 3, (const int[]){2, 1, 0}, 3);
    tokenizer_free(t2);
    /* outside the alphabet, and no U+FFFD: an error naming the character and offset */
    int *ids = (int *)&ids;
    size_t n = 5;
    err_clear();
    ck_assert_int_eq(tokenizer_encode(t, "abz", 3, &ids, &n), ERR_ARG);
    ck_assert_ptr_null(ids);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(err_msg(), "U+007A"));
    ck_assert_ptr_nonnull(strstr(err_msg(), "byte 2"));
    ck_assert_int_eq(tokenizer_encode(t, "a\xff", 2, &ids, &n), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "byte 1"));
    ck_assert_ptr_nonnull(strstr(err_msg(), "0xff"));
    tokenizer_free(t);
}
END_TEST

START_TEST(test_char_replacement_character)
{
    const char alpha[] = "ab\xef\xbf\xbd"; /* a b U+FFFD */
    Tokenizer *t = NULL;
    ck_assert_int_eq(tokenizer_char_new(&t, alpha, strlen(alpha)), 0);
    /* unknown characters and each invalid byte become U+FFFD's id */
    expect_ids(t, "azb\xe4\xb8\xad\xff\x80" "a", 9, (const int[]){0, 2, 1, 2, 2, 2, 0}, 7);
    tokenizer_free(t);
}
END_TEST

START_TEST(test_char_alphabet_errors)
{
    Tokenizer *t = (Tokenizer *)&t;
    ck_assert_int_eq(tokenizer_char_new(&t, "", 0), ERR_ARG);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(err_msg(), "empty"));
    ck_assert_int_eq(tokenizer_char_new(&t, "abca", 4), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "twice"));
    ck_assert_ptr_nonnull(strstr(err_msg(), "byte 3"));
    ck_assert_int_eq(tokenizer_char_new(&t, "\xc3\xa9x\xc3\xa9", 5), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "U+00E9"));
    ck_assert_int_eq(tokenizer_char_new(&t, "ab\xc3", 3), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "not valid UTF-8"));
    ck_assert_int_eq(tokenizer_char_new(&t, "a\xed\xa0\x80", 4), ERR_ARG); /* a surrogate */
    ck_assert_int_eq(tokenizer_char_new(&t, NULL, 2), ERR_ARG);
    ck_assert_ptr_null(t);
}
END_TEST

int main(void)
{
    const char *dir = shared_path("tokenizers/gpt2", "GPT-2 tokenizer tests");
    if (dir) {
        gpt2_dir = dir;
        if (tokenizer_load_dir(&gpt2, dir) != 0) {
            fprintf(stderr, "loading %s: %s\n", dir, err_msg());
            return 1;
        }
    }
    Suite *s = suite_create("bpe");
    TCase *tc = tcase_create("gpt2");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gpt2_oracle_cases);
    tcase_add_test(tc, test_gpt2_disagreements_follow_encoder_py);
    tcase_add_test(tc, test_gpt2_basics_and_endoftext);
    tcase_add_test(tc, test_gpt2_empty_text);
    tcase_add_test(tc, test_gpt2_invalid_utf8);
    tcase_add_test(tc, test_gpt2_100kb_text);
    tcase_add_test(tc, test_gpt2_merge_matches_naive_twin);
    tcase_add_test(tc, test_gpt2_cache_reset_keeps_results);
    tcase_add_test(tc, test_gpt2_export_is_the_original_files);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("loading");
    tcase_add_test(tl, test_decode_rejects_bad_ids);
    tcase_add_test(tl, test_tiny_export_round_trip_and_merges);
    tcase_add_test(tl, test_vocab_errors);
    tcase_add_test(tl, test_merges_errors);
    tcase_add_test(tl, test_load_files_and_dir);
    suite_add_tcase(s, tl);
    TCase *tch = tcase_create("char");
    tcase_add_test(tch, test_char_encode_decode);
    tcase_add_test(tch, test_char_replacement_character);
    tcase_add_test(tch, test_char_alphabet_errors);
    suite_add_tcase(s, tch);
    int rc = run_suite(s);
    tokenizer_free(gpt2);
    return rc;
}
