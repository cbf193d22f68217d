/* fuzz_sptok — libFuzzer target for llama2.c's tokenizer.bin reader and run.c's encoding.
 * The input is split at its first byte's position: a tokenizer.bin part (every token it
 * holds) and a text part.  When the tokenizer loads, the text must encode to valid ids,
 * the same ids as a quadratic transcription of run.c's encode() (the naive twin), decode
 * without error, and survive the export/import round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/sptok.h"
#include "engine/tokenizer.h"

static size_t ref_encode(const Tokenizer *t, const char *text, size_t len, int *out)
{
    size_t n = 0;
    int V = tokenizer_vocab_size(t);
    out[n++] = 1;
    if (len) {
        int d = tokenizer_lookup(t, " ", 1);
        if (d >= 0) out[n++] = d;
    }
    char buf[4];
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
    for (;;) {
        float best = -1e10f;
        int best_id = -1, best_i = -1;
        for (size_t i = 0; i + 1 < n; i++) {
            size_t la, lb;
            const char *a = tokenizer_token_bytes(t, out[i], &la), *b = tokenizer_token_bytes(t, out[i + 1], &lb);
            char *cat = malloc(la + lb + 1);
            memcpy(cat, a, la);
            memcpy(cat + la, b, lb);
            int id = tokenizer_lookup(t, cat, la + lb);
            free(cat);
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
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t split = 1 + (size_t)data[0] * size / 256;
    if (split > size) split = size;
    Tokenizer *t = NULL;
    if (sptok_parse(&t, data + 1, split - 1, 0, "fuzz.bin") != 0) {
        if (err_msg()[0] == 0) abort();
        err_clear();
        return 0;
    }
    const char *text = (const char *)data + split;
    size_t len = size - split;
    int *ids;
    size_t n;
    if (sptok_encode_llama2c(t, text, len, 1, 0, &ids, &n) != 0) abort();
    int V = tokenizer_vocab_size(t);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) abort();
    int *ref = malloc((len + 3) * sizeof(int));
    size_t rn = ref_encode(t, text, len, ref);
    if (rn != n || memcmp(ref, ids, n * sizeof(int)) != 0) abort();
    free(ref);
    size_t dl;
    char *d = tokenizer_decode(t, ids, n, &dl);
    if (!d) abort();
    free(d);
    for (size_t i = 1; i < n; i++) {
        size_t pl;
        if (!sptok_print_llama2c(t, ids[i - 1], ids[i], &pl)) abort();
    }
    char *a, *b;
    size_t al, bl;
    if (tokenizer_export(t, &a, &al, &b, &bl) != 0) abort();
    Tokenizer *u = NULL;
    if (sptok_from_text(&u, a, al, "export") != 0) abort();
    int *ids2;
    size_t n2;
    if (sptok_encode_llama2c(u, text, len, 1, 0, &ids2, &n2) != 0 || n2 != n || memcmp(ids, ids2, n * sizeof(int)))
        abort();
    free(ids2);
    free(a);
    tokenizer_free(u);
    free(ids);
    tokenizer_free(t);
    return 0;
}
