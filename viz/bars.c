/* bars — the next-token distribution as bars, and the one-line step summary.
 *
 * Owns: top-k selection for display, entropy, the probability bars (model distribution
 * beside the distribution actually sampled from, after temperature/top-k/top-p) and the
 * marks for cut and chosen tokens.
 * Does not own: sampling (engine/sampler.c computed both distributions; this file only
 * reads StepDist.probs and StepDist.filtered).
 * Bars are on an absolute 0..1 scale so the two columns and successive steps compare.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "viz/views.h"

double bars_entropy_bits(const float *p, int V)
{
    double h = 0;
    for (int i = 0; i < V; i++)
        if (p[i] > 0.0f) h -= (double)p[i] * log2((double)p[i]);
    return h;
}

int bars_topk(const float *p, int V, int k, int *idx)
{
    if (k > V) k = V;
    if (k <= 0) return 0;
    int cnt = 0;
    /* insertion into a sorted list of k: O(V k), and k is a screen's height */
    for (int i = 0; i < V; i++) {
        float v = p[i];
        if (cnt == k && !(v > p[idx[cnt - 1]])) continue;
        int j = cnt < k ? cnt++ : k - 1;
        while (j > 0 && v > p[idx[j - 1]]) { idx[j] = idx[j - 1]; j--; }
        idx[j] = i;
    }
    return cnt;
}

static const StepDist *dist_at(const Trace *t, int *pos)
{
    if (*pos < 0 || *pos > t->n) *pos = t->n;
    if (!t->dist) return NULL;
    return t->dist[*pos];
}

/* A bar of p in [0, 1] over w cells, in eighths of a cell. */
static void put_bar(Canvas *c, const Rect *clip, int x, int y, float p, int w, int role)
{
    static const char *const eighth[8] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    if (!(p > 0.0f) || w <= 0) return;
    if (p > 1.0f) p = 1.0f;
    int e = (int)lroundf(p * (float)w * 8.0f);
    if (e == 0) e = 1;          /* present but tiny: a sliver, never nothing */
    int i = 0;
    for (; i < e / 8; i++) canvas_put(c, clip, x + i, y, "█", role, 0);
    if (e % 8) canvas_put(c, clip, x + i, y, eighth[e % 8], role, 0);
}

static int digits(int v)
{
    int d = 1;
    while (v >= 10) { v /= 10; d++; }
    return d;
}

int bars_draw_probs(Canvas *c, Rect r, const Trace *t, int pos, int k, const VizOpts *o)
{
    int y = r.y;
    const StepDist *d = dist_at(t, &pos);
    if (!d || !d->probs) {
        char *msg = pos == t->n
            ? xstrdup("probabilities: no next-token distribution yet (type a prompt)")
            : xasprintf("probabilities: position %d came from the prompt; no distribution kept", pos);
        canvas_put_fit(c, &r, r.x, y, msg, r.w, ROLE_WARN, 0);
        free(msg);
        return 1;
    }
    int V = t->n_vocab;
    char *title;
    if (d->chosen < 0) title = xasprintf("next token · position %d", pos);
    else {
        char *s = tokens_escape(t, d->chosen);
        title = xasprintf("position %d · %s %s", pos, d->forced ? "forced" : "sampled", s);
        free(s);
    }
    const SamplerParams *sp = &d->params;
    char *temp = sp->temperature == 0.0f ? xstrdup("greedy (temperature 0)")
                                         : xasprintf("temperature %g", (double)sp->temperature);
    char *topk = sp->top_k > 0 ? xasprintf("top-k %d", sp->top_k) : xstrdup("top-k off");
    char *topp = sp->top_p < 1.0f ? xasprintf("top-p %g", (double)sp->top_p) : xstrdup("top-p off");
    char *seed = xasprintf("seed %lu", sp->seed);
    char *ent = xasprintf("entropy %.2f bits model", bars_entropy_bits(d->probs, V));
    char *ent2 = d->filtered ? xasprintf("%.2f bits after filtering", bars_entropy_bits(d->filtered, V)) : NULL;
    const char *tparts[] = {title, temp, topk, topp, seed, ent, ent2};
    y += canvas_put_parts(c, r, y, tparts, 1, " · ", ROLE_TITLE, CANVAS_BOLD);
    if (y < r.y + r.h) y += canvas_put_parts(c, r, y, tparts + 1, 4, " · ", ROLE_DIM, 0);
    if (y < r.y + r.h) y += canvas_put_parts(c, r, y, tparts + 5, 2, ", ", ROLE_DIM, 0);
    free(title);
    free(temp);
    free(topk);
    free(topp);
    free(seed);
    free(ent);
    free(ent2);

    if (k < 1) k = 1;
    int *idx = xmalloc((size_t)k * sizeof(int));
    int cnt = bars_topk(d->probs, V, k, idx);
    int chosen_rank = 0;   /* rank of the chosen token when it is not among the shown */
    if (d->chosen >= 0 && d->chosen < V) {
        int in = 0;
        for (int i = 0; i < cnt; i++) if (idx[i] == d->chosen) in = 1;
        if (!in) {
            chosen_rank = 1;
            float pc = d->probs[d->chosen];
            for (int i = 0; i < V; i++)
                if (d->probs[i] > pc || (d->probs[i] == pc && i < d->chosen)) chosen_rank++;
        }
    }
    int maxlw = 5;
    char **lab = xcalloc((size_t)cnt + 1, sizeof(char *));
    for (int i = 0; i <= cnt; i++) {
        int id = i < cnt ? idx[i] : d->chosen;
        if (i == cnt && !chosen_rank) break;
        lab[i] = tokens_escape(t, id);
        int w = utf8_width(lab[i]);
        if (w > maxlw) maxlw = w;
    }
    int cap = o && o->presenter ? 16 : 12;
    int tokw = maxlw < cap ? maxlw : cap;
    int rankw = digits(chosen_rank > cnt ? chosen_rank : cnt);
    /* narrow panes keep the bars and shorten the mark */
    int narrow = r.w < 64;
    const char *mark_s = narrow ? "◀" : d->forced ? "◀ forced" : "◀ sampled";
    int markw = utf8_width(mark_s);
    /* "rank token p bar  p bar  mark" */
    int fixed = rankw + 1 + tokw + 1 + 7 + 7 + 1 + markw;
    int barw = (r.w - fixed) / 2 - 1;
    int barcap = o && o->presenter ? 60 : 30;
    if (barw > barcap) barw = barcap;
    if (barw < 3) barw = 3;
    int xp = r.x + rankw + 1 + tokw + 1;      /* model p */
    int xb = xp + 7;                          /* its bar */
    int xf = xb + barw + 1;                   /* filtered p */
    int xfb = xf + 7;
    int xm = xfb + barw + 1;
    if (y < r.y + r.h) {
        canvas_put(c, &r, r.x + rankw - 1, y, "#", ROLE_AXIS, 0);
        canvas_put(c, &r, r.x + rankw + 1, y, "token", ROLE_AXIS, 0);
        canvas_put(c, &r, xp, y, "model p", ROLE_AXIS, 0);
        canvas_put(c, &r, xf, y, !d->filtered ? "" : narrow ? "sampled p" : "after temperature/top-k/top-p",
                   ROLE_AXIS, 0);
        y++;
    }
    for (int i = 0; i <= cnt && y < r.y + r.h; i++) {
        if (i == cnt && !chosen_rank) break;
        int id = i < cnt ? idx[i] : d->chosen;
        if (i == cnt) {
            canvas_put(c, &r, r.x + rankw - 1, y, "…", ROLE_DIM, 0);
            if (++y >= r.y + r.h) break;
        }
        int chosen = id == d->chosen;
        int attr = chosen ? CANVAS_BOLD : 0;
        int picked = o && i < cnt && i == o->cand;   /* the candidate Enter would force */
        canvas_printf(c, &r, r.x, y, ROLE_AXIS, attr, "%*d", rankw, i < cnt ? i + 1 : chosen_rank);
        canvas_put_fit(c, &r, r.x + rankw + 1, y, lab[i], tokw, chosen ? ROLE_SAMPLED : ROLE_LABEL,
                       attr | (picked ? CANVAS_REVERSE | CANVAS_BOLD : 0));
        if (picked) canvas_put(c, &r, r.x + rankw, y, "▸", ROLE_KEY, CANVAS_BOLD);
        float p = d->probs[id];
        canvas_printf(c, &r, xp, y, ROLE_DEFAULT, attr, "%.4f", (double)p);
        put_bar(c, &r, xb, y, p, barw, ROLE_BAR_RAW);
        if (d->filtered) {
            float f = d->filtered[id];
            if (f == 0.0f && p > 0.0f) canvas_put(c, &r, xf, y, "cut", ROLE_CUT, 0);
            else {
                canvas_printf(c, &r, xf, y, ROLE_DEFAULT, attr, "%.4f", (double)f);
                put_bar(c, &r, xfb, y, f, barw, ROLE_BAR_FILTERED);
            }
        }
        if (chosen) canvas_put(c, &r, xm, y, mark_s, ROLE_SAMPLED, CANVAS_BOLD);
        y++;
    }
    for (int i = 0; i <= cnt; i++) free(lab[i]);
    free(lab);
    free(idx);
    return y - r.y;
}

/* A probability in a few characters: fixed point while it says something, else
 * scientific, so a tiny model's 0.00002 does not read as 0. */
static void fmt_p(char *buf, size_t n, float p, int decimals)
{
    if (p >= 0.001f || p == 0.0f) snprintf(buf, n, "%.*f", decimals, (double)p);
    else snprintf(buf, n, "%.1e", (double)p);
}

int bars_draw_step(Canvas *c, Rect r, const Trace *t, int pos, int k)
{
    char pb[32];
    const StepDist *d = dist_at(t, &pos);
    int x = 0;
    char *head;
    if (pos < t->n) {
        char *s = tokens_escape(t, t->tokens[pos]);
        if (!d || !d->probs) head = xasprintf("step %d ▸ %s (prompt)", pos, s);
        else {
            fmt_p(pb, sizeof pb, d->probs[t->tokens[pos]], 4);
            head = xasprintf("step %d ▸ %s p=%s (%s)", pos, s, pb, d->forced ? "forced" : "sampled");
        }
        free(s);
    } else {
        head = xasprintf("next %d ▸ ?", pos);
    }
    x += canvas_put_fit(c, &r, r.x, r.y, head, r.w, ROLE_SAMPLED, CANVAS_BOLD);
    free(head);
    if (!d || !d->probs || k <= 0) return 1;
    int *idx = xmalloc((size_t)k * sizeof(int));
    int cnt = bars_topk(d->probs, t->n_vocab, k, idx);
    const char *lead = " · top:";
    int x_lead = x, placed = 0;
    if (x + utf8_width(lead) < r.w) x += canvas_put(c, &r, r.x + x, r.y, lead, ROLE_DIM, 0);
    for (int i = 0; i < cnt; i++, placed++) {
        char *s = tokens_escape(t, idx[i]);
        int chosen = pos < t->n && idx[i] == t->tokens[pos];
        fmt_p(pb, sizeof pb, d->probs[idx[i]], 3);
        char *cand = xasprintf("%s %s %s%s", i ? "," : "", s, pb, chosen ? "✓" : "");
        free(s);
        if (x + utf8_width(cand) > r.w) { free(cand); break; }
        x += canvas_put(c, &r, r.x + x, r.y, cand, chosen ? ROLE_SAMPLED : ROLE_DEFAULT, 0);
        free(cand);
    }
    if (!placed) canvas_fill(c, &(Rect){r.x + x_lead, r.y, r.w - x_lead, 1});
    free(idx);
    return 1;
}
