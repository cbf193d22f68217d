/* fuzz_bpe — libFuzzer target: GPT-2 BPE must encode any bytes and decode them back exactly.
 *
 * Loads the GPT-2 tokenizer once from $LECTERN_SHARED or ../shared/tokenizers/gpt2; when it is
 * absent, builds a tiny byte-level tokenizer from in-memory texts instead.  Also checks that
 * the engine's UTF-8 validator agrees with PCRE2's own check, since bpe.c passes
 * PCRE2_NO_UTF_CHECK on the strength of it.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer_impl.h"

static Tokenizer *tok;
static pcre2_code *any_re;
static pcre2_match_data *any_md;

static void put_cp(char **p, uint32_t cp)
{
    *p += tokenizer_utf8_encode(cp, *p);
}

/* 256 byte tokens (spelled as encoder.py's bytes_to_unicode does) plus a few merges. */
static Tokenizer *tiny(void)
{
    char *v = xmalloc(16384), *p = v;
    p += sprintf(p, "{");
    int extra = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || c >= 0xae;
        uint32_t cp = printable ? (uint32_t)c : (uint32_t)(256 + extra++);
        p += sprintf(p, "%s\"%s", c ? ", " : "", cp == '"' || cp == '\\' ? "\\" : "");
        put_cp(&p, cp);
        p += sprintf(p, "\": %d", c);
    }
    p += sprintf(p, ", \"th\": 256, \"the\": 257, \"\xc4\xa0the\": 258, \"in\": 259}");
    static const char merges[] = "#version: 0.2\nt h\nth e\n\xc4\xa0 the\ni n\n";
    Tokenizer *t = NULL;
    if (tokenizer_gpt2_from_text(&t, v, (size_t)(p - v), merges, strlen(merges), "fuzz") != 0) {
        fprintf(stderr, "fuzz_bpe: %s\n", err_msg());
        abort();
    }
    free(v);
    return t;
}

static void setup(void)
{
    const char *root = getenv("LECTERN_SHARED");
    char *dir = xasprintf("%s/tokenizers/gpt2", root && *root ? root : "../shared");
    if (tokenizer_load_dir(&tok, dir) != 0) tok = tiny();
    free(dir);
    int code;
    PCRE2_SIZE at;
    any_re = pcre2_compile((PCRE2_SPTR) "x", 1, PCRE2_UTF, &code, &at, NULL);
    any_md = pcre2_match_data_create_from_pattern(any_re, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok) setup();
    const char *s = (const char *)data;

    /* the validator and PCRE2 agree on whether the whole input is UTF-8 */
    size_t i = 0;
    uint32_t cp;
    while (i < size) {
        size_t k = tokenizer_utf8_decode(s + i, size - i, &cp);
        if (!k) break;
        i += k;
    }
    int rc = pcre2_match(any_re, (PCRE2_SPTR)s, size, 0, 0, any_md, NULL);
    int pcre_invalid = rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21;
    if ((i == size) == pcre_invalid) {
        fprintf(stderr, "UTF-8 validity disagrees with PCRE2 (rc %d, valid prefix %zu of %zu)\n",
                rc, i, size);
        abort();
    }

    int *ids;
    size_t n;
    if (tokenizer_encode(tok, s, size, &ids, &n) != 0) {
        fprintf(stderr, "encode failed: %s\n", err_msg());
        abort();
    }
    size_t len;
    char *back = tokenizer_decode(tok, ids, n, &len);
    if (!back || len != size || (size && memcmp(back, data, size) != 0)) {
        fprintf(stderr, "decode(encode(x)) != x for %zu bytes\n", size);
        abort();
    }
    free(back);
    free(ids);
    return 0;
}
