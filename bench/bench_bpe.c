/* bench_bpe — GPT-2 BPE encode throughput on ~1 MB of text.
 *
 * Usage: bench_bpe [TOKENIZER_DIR [TEXT_FILE...]]
 * Defaults: ../shared/tokenizers/gpt2, and the text files of ../shared (course notes in
 * Russian, research notes and style guide in English) repeated to 1 MB.  Also times 1 MB of
 * seeded random words, where the word cache rarely hits.  With BENCH_BPE_DUMP=prefix set,
 * writes the 1 MB text to prefix.txt and its ids to prefix.ids (one per line), for
 * bench/bpe_ref.py, a Python encoder.py-style reference, to time and check against.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "engine/err.h"
#include "engine/tokenizer.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = xmalloc((size_t)n + 1);
    *len = fread(s, 1, (size_t)n, f);
    fclose(f);
    return s;
}

static void time_encode(const char *label, const char *dir, const char *text, size_t n,
                        const char *dump)
{
    Tokenizer *t = NULL;
    if (tokenizer_load_dir(&t, dir) != 0) {
        fprintf(stderr, "bench_bpe: %s\n", err_msg());
        exit(1);
    }
    for (int pass = 0; pass < 3; pass++) {
        int *ids;
        size_t k;
        double t0 = now();
        if (tokenizer_encode(t, text, n, &ids, &k) != 0) {
            fprintf(stderr, "bench_bpe: %s\n", err_msg());
            exit(1);
        }
        double dt = now() - t0;
        printf("%-22s pass %d (%s cache): %8.2f MB/s  %zu bytes -> %zu tokens in %.3f s\n", label,
               pass, pass ? "warm" : "cold", (double)n / dt / 1e6, n, k, dt);
        if (pass == 0 && dump) {
            char *p = xasprintf("%s.ids", dump);
            FILE *f = fopen(p, "w");
            for (size_t i = 0; f && i < k; i++) fprintf(f, "%d\n", ids[i]);
            if (f) fclose(f);
            free(p);
            p = xasprintf("%s.txt", dump);
            f = fopen(p, "wb");
            if (f) fwrite(text, 1, n, f);
            if (f) fclose(f);
            free(p);
        }
        free(ids);
    }
    tokenizer_free(t);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/tokenizers/gpt2";
    static const char *const defaults[] = {"../shared/seed/000_85bd7b243d71a1fb.txt",
                                           "../shared/research/gpt2.md",
                                           "../shared/research/attention.md",
                                           "../shared/STYLE.md"};
    const char *const *files = argc > 2 ? (const char *const *)argv + 2 : defaults;
    int nfiles = argc > 2 ? argc - 2 : 4;
    const size_t target = 1 << 20;
    char *text = xmalloc(target + 1);
    size_t n = 0;
    while (n < target) {
        size_t before = n;
        for (int i = 0; i < nfiles && n < target; i++) {
            size_t len;
            char *s = slurp(files[i], &len);
            if (!s) continue;
            size_t take = len < target - n ? len : target - n;
            memcpy(text + n, s, take);
            n += take;
            free(s);
        }
        if (n == before) {
            fprintf(stderr, "bench_bpe: no readable text files\n");
            return 1;
        }
    }
    while (n > 0 && ((unsigned char)text[n - 1] & 0xc0) == 0x80) n--; /* whole characters */
    if (n > 0 && (unsigned char)text[n - 1] >= 0xc0) n--;
    time_encode("project text 1 MB", dir, text, n, getenv("BENCH_BPE_DUMP"));

    /* random words: syllables drawn from a seeded LCG */
    static const char *const syl[] = {"ka", "lo", "mer", "tis", "an", "dre", "qu", "ix", "om",
                                      "bel", "sto", "un", "ph", "ae", "ny", "zor"};
    unsigned seed = 2385;
    n = 0;
    while (n + 32 < target) {
        seed = seed * 1103515245u + 12345u;
        int k = 1 + (int)((seed >> 16) % 4);
        text[n++] = ' ';
        for (int i = 0; i < k; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *p = syl[(seed >> 16) % 16];
            memcpy(text + n, p, strlen(p));
            n += strlen(p);
        }
        if ((seed >> 8) % 11 == 0) text[n++] = (seed >> 4) % 2 ? '.' : ',';
    }
    time_encode("random words 1 MB", dir, text, n, NULL);
    free(text);
    return 0;
}
