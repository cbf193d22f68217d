/* probe — attention from pronouns to their antecedents (see probe.h).
 *
 * Owns: mapping byte spans of mentions to token positions, running the model with
 * attention capture, and the averages.  Does not own: the annotation (corpus.c knows which
 * character each pronoun means because it chose the pronoun) or the forward pass (model.c).
 * A head that tracks coreference puts its weight, at a pronoun, on the earlier mentions of
 * the character the pronoun means, and little on the other character's; `wins` counts how
 * often the antecedent gets more than the distractor.
 */
#include "engine/probe.h"

#include <stdlib.h>
#include <string.h>

#include "engine/err.h"

/* The token that contains byte off: tokens' byte spans are ends[i-1] .. ends[i]. */
static int token_at(const size_t *ends, int n, size_t off)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (ends[mid] <= off) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Adds att[q, tokens of the mention] to *mass; marks counted tokens in seen (a token is
 * counted once even if two mentions share it). */
static double span_mass(const float *row, const size_t *ends, int n, const CorpusMention *mn,
                        size_t base, int q, char *seen)
{
    double s = 0;
    const int t0 = token_at(ends, n, mn->off - base), t1 = token_at(ends, n, mn->off - base + mn->len - 1);
    for (int t = t0; t <= t1 && t < q; t++)
        if (!seen[t]) { seen[t] = 1; s += row[t]; }
    return s;
}

int probe_coref(const Model *m, const char *text, size_t len, const CorpusMention *mentions,
                int n_mentions, ProbeQuery query, CorefProbe *out)
{
    memset(out, 0, sizeof *out);
    if (!m->tok) return ERR(ERR_STATE, "coreference probe: the model has no tokenizer");
    const ModelConfig *c = &m->cfg;
    const int L = c->n_layer, NH = c->n_head, T = c->n_ctx;
    out->L = L;
    out->NH = NH;
    out->ante = xcalloc((size_t)L * NH, sizeof(double));
    out->other = xcalloc((size_t)L * NH, sizeof(double));
    out->wins = xcalloc((size_t)L * NH, sizeof(double));
    RunState rs;
    int rc = runstate_init(&rs, c, T, 64);
    if (rc) { probe_coref_done(out); return rc; }
    float *attn = xmalloc(sizeof(float) * (size_t)L * NH * T * T);
    float *logits = xmalloc(sizeof(float) * (size_t)c->padded_vocab);
    size_t *ends = xmalloc(sizeof(size_t) * (size_t)T);
    char *seen_a = xmalloc((size_t)T), *seen_o = xmalloc((size_t)T);
    int k = 0;   /* next mention */
    size_t s0 = 0;
    while (s0 < len && !rc) {
        /* the story [s0, s1) */
        size_t s1 = s0;
        while (s1 < len && !(text[s1] == '\n' && (s1 + 1 >= len || text[s1 + 1] == '\n'))) s1++;
        int *ids;
        size_t nt;
        if ((rc = tokenizer_encode(m->tok, text + s0, s1 - s0, &ids, &nt))) break;
        int n = nt > (size_t)T ? T : (int)nt;
        size_t acc = 0;
        for (int i = 0; i < n; i++) {
            size_t bl;
            tokenizer_token_bytes(m->tok, ids[i], &bl);
            acc += bl;
            ends[i] = acc;
        }
        const int first = k;
        while (k < n_mentions && mentions[k].off < s1) k++;
        if (n >= 2 && k > first) {
            Capture cap = {.attn = attn, .resid = NULL};
            rc = model_forward(m, &rs, ids, n, 0, logits, 0, &cap);
            for (int i = first; i < k && !rc; i++) {
                const CorpusMention *p = &mentions[i];
                if (p->pronoun != (query != PROBE_NEXT_NAME) || p->off - s0 >= ends[n - 1]) continue;
                const int tok = token_at(ends, n, p->off - s0);
                /* the pronoun itself, or the position that predicts the pronoun or the name */
                const int q = query == PROBE_PRONOUN ? tok : tok - 1;
                if (q < 0) continue;
                int has_a = 0, has_o = 0;
                for (int j = first; j < i; j++)
                    if (!mentions[j].pronoun) {
                        has_a |= mentions[j].person == p->person;
                        has_o |= mentions[j].person == (p->person ^ 1);
                    }
                if (!has_a || !has_o || q <= 0) continue;
                for (int lh = 0; lh < L * NH; lh++) {
                    const float *row = attn + ((size_t)lh * n + q) * n;
                    double a = 0, o = 0;
                    memset(seen_a, 0, (size_t)n);
                    memset(seen_o, 0, (size_t)n);
                    for (int j = first; j < i; j++) {
                        if (mentions[j].pronoun) continue;
                        if (mentions[j].person == p->person) a += span_mass(row, ends, n, &mentions[j], s0, q, seen_a);
                        else if (mentions[j].person == (p->person ^ 1)) o += span_mass(row, ends, n, &mentions[j], s0, q, seen_o);
                    }
                    out->ante[lh] += a;
                    out->other[lh] += o;
                    out->wins[lh] += a > o;
                }
                out->n_pronouns++;
            }
        }
        free(ids);
        s0 = s1;
        while (s0 < len && text[s0] == '\n') s0++;
    }
    free(attn); free(logits); free(ends); free(seen_a); free(seen_o);
    runstate_done(&rs);
    if (!rc && out->n_pronouns == 0) rc = ERR(ERR_ARG, "coreference probe: no mention with both characters named before it");
    if (rc) { probe_coref_done(out); return rc; }
    for (int lh = 0; lh < L * NH; lh++) {
        out->ante[lh] /= out->n_pronouns;
        out->other[lh] /= out->n_pronouns;
        out->wins[lh] /= out->n_pronouns;
    }
    return 0;
}

void probe_coref_done(CorefProbe *p)
{
    if (!p) return;
    free(p->ante);
    free(p->other);
    free(p->wins);
    memset(p, 0, sizeof *p);
}
