/* chartok — the character-level tokenizer: token i is the i-th code point of an alphabet.
 *
 * Owns: building the tokenizer from a UTF-8 alphabet, encoding text to code-point ids and
 * exporting the alphabet.  Does not own: decode, token bytes and lookup (tokenizer.c).
 * Reference: the char-level models of karpathy's nanoGPT (data/shakespeare_char/prepare.py,
 * stoi/itos over the sorted set of characters); here the alphabet's order is the caller's.
 *
 * The alphabet must be non-empty, well-formed UTF-8, with no code point twice (ERR_ARG).
 * Characters outside the alphabet: when the alphabet contains U+FFFD (the replacement
 * character), every such character — and every byte of malformed UTF-8 — is encoded as
 * U+FFFD's id, so encoding never fails but decoding is then lossy.  Without U+FFFD, encode
 * fails with ERR_ARG naming the first such character and its byte offset: a char model cannot
 * see a letter it was never given, and saying so beats dropping it silently.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer_impl.h"

typedef struct {
    int ascii[128];    /* code point -> id for the common case, -1 when absent */
    TokIntMap others;  /* code point >= 128 -> id */
    int unk;           /* id of U+FFFD, or -1 */
} CharTok;

static void chartok_free_impl(void *impl)
{
    CharTok *c = impl;
    if (!c) return;
    tokenizer_intmap_done(&c->others);
    free(c);
}

static int char_id(const CharTok *c, uint32_t cp)
{
    if (cp < 128) return c->ascii[cp];
    int64_t v;
    return tokenizer_intmap_get(&c->others, cp, &v) ? (int)v : -1;
}

static int chartok_encode(Tokenizer *t, const char *text, size_t len, TokIds *out)
{
    const CharTok *c = t->impl;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = tokenizer_utf8_decode(text + i, len - i, &cp);
        int id = k ? char_id(c, cp) : -1;
        if (id < 0) id = c->unk;
        if (id < 0) {
            if (!k)
                return ERR(ERR_ARG, "text: byte %zu (0x%02x) is not valid UTF-8 and the "
                                    "alphabet has no U+FFFD to stand for it",
                           i, (unsigned char)text[i]);
            char *q = tokenizer_quote(text + i, k);
            int rc = ERR(ERR_ARG, "text: character \"%s\" (U+%04X) at byte %zu is not in the "
                                  "tokenizer's alphabet", q, (unsigned)cp, i);
            free(q);
            return rc;
        }
        tokenizer_ids_push(out, id);
        i += k ? k : 1;
    }
    return 0;
}

static int chartok_export(const Tokenizer *t, char **a, size_t *alen, char **b, size_t *blen)
{
    size_t n = t->tok_off[t->vocab_size];
    *a = xmalloc(n + 1);
    memcpy(*a, t->tok_blob, n);
    (*a)[n] = 0;
    *alen = n;
    *b = NULL;
    *blen = 0;
    return 0;
}

static const TokenizerOps CHARTOK_OPS = {
    .encode = chartok_encode,
    .decode = NULL,
    .export_texts = chartok_export,
    .free_impl = chartok_free_impl,
};

int chartok_new(Tokenizer **out, const char *alphabet, size_t len)
{
    *out = NULL;
    CharTok *c = xcalloc(1, sizeof *c);
    for (int i = 0; i < 128; i++) c->ascii[i] = -1;
    c->unk = -1;
    tokenizer_intmap_init(&c->others);
    Tokenizer *t = tokenizer_alloc(TOK_CHAR, &CHARTOK_OPS, c);
    /* At most len code points: one pointer/length per code point into the alphabet. */
    const char **bytes = xmalloc((len ? len : 1) * sizeof *bytes);
    size_t *lens = xmalloc((len ? len : 1) * sizeof *lens);
    int n = 0, rc = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = tokenizer_utf8_decode(alphabet + i, len - i, &cp);
        if (!k) {
            rc = ERR(ERR_ARG, "alphabet: byte %zu (0x%02x) is not valid UTF-8", i,
                     (unsigned char)alphabet[i]);
            break;
        }
        if (char_id(c, cp) >= 0) {
            char *q = tokenizer_quote(alphabet + i, k);
            rc = ERR(ERR_ARG, "alphabet: character \"%s\" (U+%04X) at byte %zu appears twice", q,
                     (unsigned)cp, i);
            free(q);
            break;
        }
        if (n == INT32_MAX) {
            rc = ERR(ERR_ARG, "alphabet: too many characters");
            break;
        }
        if (cp < 128) c->ascii[cp] = n;
        else tokenizer_intmap_put(&c->others, cp, n);
        if (cp == 0xfffd) c->unk = n;
        bytes[n] = alphabet + i;
        lens[n] = k;
        n++;
        i += k;
    }
    if (rc == 0 && n == 0) rc = ERR(ERR_ARG, "alphabet: empty");
    if (rc == 0) tokenizer_set_vocab(t, n, bytes, lens);
    free(bytes);
    free(lens);
    if (rc < 0) {
        tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
