/* heatmap — the attention matrix as numbers to show (HeatMatrix), and its two views: the
 * attention pane (one layer/head or an aggregate, labelled with tokens) and the model view
 * (every layer x head as a thumbnail, bertviz's "model view" in a terminal).
 *
 * Owns: aggregation over heads, attention rollout, first-token hiding with renormalisation,
 * the per-row cumulative-mass threshold, which cells the causal mask and the layer's sparse
 * pattern (Trace.patterns, read as data) leave out, pooling into blocks, zoom and scroll
 * windows, the shade ramp.
 * Does not own: colours (CanvasRole + heat value; crt.c and export.c pick colours) or
 * the attention itself (the trace's rows, written by the engine's attention_forward).
 * Rows = queries, columns = keys, always; the mask is named on the pane.
 * References: Abnar & Zuidema, "Quantifying Attention Flow in Transformers" (2020), eq. for
 * rollout with the residual as 0.5 A + 0.5 I; Vig, bertviz (model view).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/pattern.h"
#include "viz/views.h"

void viz_opts_default(VizOpts *o)
{
    memset(o, 0, sizeof *o);
    o->agg = VIZ_AGG_HEAD;
    o->pool = VIZ_POOL_MAX;
    o->scale = VIZ_SCALE_LINEAR;
    o->mass = 1.0f;
    o->cur_q = o->cur_k = -1;
    o->step = -1;
    o->lens_layer = -1;
    o->cand = -1;
}

/* The trace's row for query q of (l, h), or NULL when not captured. */
static const float *row_of(const Trace *t, int l, int h, int q, int *nk)
{
    if (!t->have_attn || !t->attn_row || !t->attn_nkeys || q < 0 || q >= t->n || !t->attn_row[q])
        return NULL;
    *nk = t->attn_nkeys[q];
    return t->attn_row[q] + ((size_t)l * (size_t)t->n_head + (size_t)h) * (size_t)*nk;
}

const char *viz_mask_name(const Trace *t, int layer)
{
    if (t->mask_names && layer >= 0 && layer < t->n_layer && t->mask_names[layer])
        return t->mask_names[layer];
    return t->mask_name ? t->mask_name : "causal";
}

const char *viz_kernel_name(const Trace *t, int layer)
{
    if (t->kernel_names && layer >= 0 && layer < t->n_layer && t->kernel_names[layer])
        return t->kernel_names[layer];
    return t->kernel_name ? t->kernel_name : "attention_forward (engine/attention.c)";
}

static const Pattern *layer_pattern(const Trace *t, int l)
{
    return t->patterns && l >= 0 && l < t->n_layer ? t->patterns[l] : NULL;
}

/* States of row q's first nk keys in layer l: HEAT_IN where the layer's pattern lets query
 * q see the key, HEAT_PRUNED where it does not.  A row past the pattern's length runs
 * under the plain mask (as engine/attention.c's sparse path does).  Keys past nk are the
 * causal mask's and stay as they are. */
static void row_states(const Trace *t, int l, int q, int nk, uint8_t *st)
{
    const Pattern *p = layer_pattern(t, l);
    if (!p || q >= p->n) {
        memset(st, HEAT_IN, (size_t)nk);
        return;
    }
    memset(st, HEAT_PRUNED, (size_t)nk);
    const int *rg;
    int nr = pattern_row(p, q, &rg);
    for (int r = 0; r < nr; r++)
        for (int k = rg[2 * r]; k < rg[2 * r + 1] && k < nk; k++) st[k] = HEAT_IN;
}

void heatmap_matrix_done(HeatMatrix *m)
{
    free(m->w);
    free(m->state);
    m->w = NULL;
    m->state = NULL;
    m->n = 0;
}

/* Head mean (or max) of layer l into w/state (n x n).  The pattern is per layer, so every
 * head of it shares the states. */
static void layer_agg(const Trace *t, int l, int use_max, float *w, uint8_t *state)
{
    int n = t->n, NH = t->n_head;
    for (int q = 0; q < n; q++) {
        int nk = 0;
        if (!row_of(t, l, 0, q, &nk)) continue;
        if (nk > n) nk = n;
        row_states(t, l, q, nk, state + (size_t)q * n);
        for (int k = 0; k < nk; k++) {
            float acc = 0.0f;
            for (int h = 0; h < NH; h++) {
                int nk2;
                float v = row_of(t, l, h, q, &nk2)[k];
                if (use_max) { if (v > acc) acc = v; }
                else acc += v;
            }
            w[(size_t)q * n + k] = use_max ? acc : acc / (float)NH;
        }
    }
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

int heatmap_matrix(HeatMatrix *m, const Trace *t, const VizOpts *o)
{
    memset(m, 0, sizeof *m);
    int n = t->n;
    if (!t->have_attn || n <= 0 || o->layer < 0 || o->layer >= t->n_layer ||
        o->head < 0 || o->head >= t->n_head) {
        snprintf(m->what, sizeof m->what, "no attention captured");
        return -1;
    }
    size_t nn = (size_t)n * (size_t)n;
    m->n = n;
    m->w = xcalloc(nn, sizeof(float));
    m->state = xmalloc(nn);
    memset(m->state, HEAT_MASKED, nn);
    m->layer = o->layer;
    m->agg = o->agg;

    switch (o->agg) {
    case VIZ_AGG_HEAD:
    default:
        snprintf(m->what, sizeof m->what, "layer %d head %d", o->layer, o->head);
        for (int q = 0; q < n; q++) {
            int nk = 0;
            const float *row = row_of(t, o->layer, o->head, q, &nk);
            if (!row) continue;
            if (nk > n) nk = n;
            memcpy(m->w + (size_t)q * n, row, (size_t)nk * sizeof(float));
            row_states(t, o->layer, q, nk, m->state + (size_t)q * n);
        }
        break;
    case VIZ_AGG_MEAN:
    case VIZ_AGG_MAX:
        snprintf(m->what, sizeof m->what, "%s over the %d heads of layer %d",
                 o->agg == VIZ_AGG_MAX ? "max" : "mean", t->n_head, o->layer);
        layer_agg(t, o->layer, o->agg == VIZ_AGG_MAX, m->w, m->state);
        break;
    case VIZ_AGG_ROLLOUT: {
        /* R = Â_l ... Â_0 with Â = (mean_h A + I) / 2, rows renormalised. */
        snprintf(m->what, sizeof m->what, "rollout through layers 0-%d (head mean, (A+I)/2)",
                 o->layer);
        float *a = xcalloc(nn, sizeof(float));
        float *r = xcalloc(nn, sizeof(float));
        float *tmp = xcalloc(nn, sizeof(float));
        uint8_t *st = xmalloc(nn);
        int any_pattern = 0;
        for (int l = 0; l <= o->layer; l++) {
            any_pattern |= layer_pattern(t, l) != NULL;
            memset(a, 0, nn * sizeof(float));
            memset(st, HEAT_MASKED, nn);
            layer_agg(t, l, 0, a, st);
            for (int q = 0; q < n; q++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    float v = 0.5f * a[(size_t)q * n + k] + (k == q ? 0.5f : 0.0f);
                    a[(size_t)q * n + k] = v;
                    s += v;
                }
                if (s > 0)
                    for (int k = 0; k < n; k++) a[(size_t)q * n + k] = (float)(a[(size_t)q * n + k] / s);
            }
            if (l == 0) {
                memcpy(r, a, nn * sizeof(float));
            } else {
                for (int q = 0; q < n; q++)
                    for (int k = 0; k < n; k++) {
                        double s = 0;
                        for (int j = 0; j < n; j++) s += (double)a[(size_t)q * n + j] * r[(size_t)j * n + k];
                        tmp[(size_t)q * n + k] = (float)s;
                    }
                memcpy(r, tmp, nn * sizeof(float));
            }
        }
        /* The causal mask is the selected layer's; under sparse patterns, rollout reaches
         * further than one layer's pattern (chains of allowed cells), so a cell is pruned
         * exactly when no chain leads there: its flow is 0. */
        for (size_t i = 0; i < nn; i++) {
            m->w[i] = r[i];
            m->state[i] = st[i] == HEAT_MASKED ? HEAT_MASKED
                        : (r[i] != 0.0f || !any_pattern) ? HEAT_IN : HEAT_PRUNED;
        }
        free(a);
        free(r);
        free(tmp);
        free(st);
        break;
    }
    }

    if (o->hide_first) {
        for (int q = 0; q < n; q++) {
            float *w = m->w + (size_t)q * n;
            uint8_t *s = m->state + (size_t)q * n;
            if (s[0] == HEAT_IN) s[0] = HEAT_HIDDEN;
            double sum = 0;
            for (int k = 0; k < n; k++) if (s[k] == HEAT_IN) sum += w[k];
            if (sum > 0)
                for (int k = 0; k < n; k++) if (s[k] == HEAT_IN) w[k] = (float)(w[k] / sum);
        }
    }

    if (o->mass > 0.0f && o->mass < 1.0f) {
        float *buf = xmalloc((size_t)n * sizeof(float));
        for (int q = 0; q < n; q++) {
            float *w = m->w + (size_t)q * n;
            uint8_t *s = m->state + (size_t)q * n;
            int cnt = 0;
            double total = 0;
            for (int k = 0; k < n; k++) if (s[k] == HEAT_IN) { buf[cnt++] = w[k]; total += w[k]; }
            if (cnt == 0) continue;
            qsort(buf, (size_t)cnt, sizeof(float), cmp_desc);
            /* smallest weight still kept: the one whose addition reaches mass * total */
            double cum = 0;
            float cut = buf[cnt - 1];
            for (int i = 0; i < cnt; i++) {
                cum += buf[i];
                if (cum >= (double)o->mass * total) { cut = buf[i]; break; }
            }
            for (int k = 0; k < n; k++) if (s[k] == HEAT_IN && w[k] < cut) s[k] = HEAT_BELOW;
        }
        free(buf);
    }
    for (size_t i = 0; i < nn; i++) {
        if (m->state[i] == HEAT_MASKED) m->has_masked = 1;
        else if (m->state[i] == HEAT_PRUNED) m->has_pruned = 1;
    }
    return 0;
}

float heatmap_level(float w, VizScale scale)
{
    if (!(w > 0.0f)) return 0.0f;   /* also NaN */
    float v;
    if (scale == VIZ_SCALE_LOG) v = (log10f(w) - (float)VIZ_LOG_FLOOR) / (float)-VIZ_LOG_FLOOR;
    else v = w;
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

const char *heatmap_shade(float level)
{
    static const char *const shades[10] = {" ", ".", ":", "-", "=", "+", "*", "#", "%", "@"};
    int i = (int)(level * 10.0f);
    if (i < 0) i = 0;
    if (i > 9) i = 9;
    return shades[i];
}

int heatmap_block(int n, int space)
{
    if (space <= 0) return n > 0 ? n : 1;
    if (n <= space) return 1;
    return (n + space - 1) / space;
}

/* Pools the block [q0, q0+bq) x [k0, k0+bk); returns its state, *val the pooled weight
 * over the in-mask cells (max or mean). */
static int pool_block(const HeatMatrix *m, int q0, int k0, int bq, int bk, VizPool pool, float *val)
{
    int n = m->n, cnt = 0, hidden = 0, below = 0, pruned = 0;
    double acc = 0;
    float mx = 0;
    for (int q = q0; q < q0 + bq && q < n; q++)
        for (int k = k0; k < k0 + bk && k < n; k++) {
            int s = m->state[(size_t)q * n + k];
            float w = m->w[(size_t)q * n + k];
            if (s == HEAT_IN) { cnt++; acc += w; if (w > mx) mx = w; }
            else if (s == HEAT_HIDDEN) hidden++;
            else if (s == HEAT_BELOW) below++;
            else if (s == HEAT_PRUNED) pruned++;
        }
    *val = 0;
    if (cnt) { *val = pool == VIZ_POOL_MEAN ? (float)(acc / cnt) : mx; return HEAT_IN; }
    if (hidden) return HEAT_HIDDEN;
    if (below) return HEAT_BELOW;
    if (pruned) return HEAT_PRUNED;
    return HEAT_MASKED;
}

static void draw_cell(Canvas *c, const Rect *clip, int x, int y, int cw, int state, float v,
                      VizScale scale, int attr)
{
    for (int i = 0; i < cw; i++) {
        switch (state) {
        case HEAT_IN: {
            float lv = heatmap_level(v, scale);
            canvas_heat(c, clip, x + i, y, heatmap_shade(lv), lv, attr | CANVAS_SHADE);
            break;
        }
        case HEAT_MASKED:
            canvas_put(c, clip, x + i, y, i == 0 ? HEATMAP_MASKED_GLYPH : " ", ROLE_MASKED, attr);
            break;
        case HEAT_HIDDEN:
            canvas_put(c, clip, x + i, y, i == 0 ? HEATMAP_HIDDEN_GLYPH : " ", ROLE_HIDDEN, attr);
            break;
        case HEAT_PRUNED:   /* the whole cell textured: the pattern reads as a shape */
            canvas_put(c, clip, x + i, y, HEATMAP_PRUNED_GLYPH, ROLE_PRUNED, attr);
            break;
        default:
            canvas_put(c, clip, x + i, y, i == 0 ? HEATMAP_BELOW_GLYPH : " ", ROLE_HIDDEN, attr);
            break;
        }
    }
}

static int digits(int v)
{
    int d = 1;
    while (v >= 10) { v /= 10; d++; }
    return d;
}

char *heatmap_readout(const HeatMatrix *m, const Trace *t, int q, int k)
{
    if (!m->w || q < 0 || k < 0 || q >= m->n || k >= m->n) return xstrdup("");
    char *qs = tokens_escape(t, t->tokens[q]);
    char *ks = tokens_escape(t, t->tokens[k]);
    int s = m->state[(size_t)q * m->n + k];
    float w = m->w[(size_t)q * m->n + k];
    char *out;
    if (s == HEAT_MASKED)
        out = xasprintf("query %d %s → key %d %s: outside the causal mask", q, qs, k, ks);
    else if (s == HEAT_PRUNED && m->agg == VIZ_AGG_ROLLOUT)
        out = xasprintf("query %d %s → key %d %s: no path through the patterns of layers 0-%d",
                        q, qs, k, ks, m->layer);
    else if (s == HEAT_PRUNED)
        out = xasprintf("query %d %s → key %d %s: outside the pattern (%s)", q, qs, k, ks,
                        viz_mask_name(t, m->layer));
    else if (s == HEAT_HIDDEN)
        out = xasprintf("query %d %s → key %d %s: hidden (first token)", q, qs, k, ks);
    else
        /* %.9g prints a float so that it reads back to the same float */
        out = xasprintf("query %d %s → key %d %s: weight %.9g%s", q, qs, k, ks, (double)w,
                        s == HEAT_BELOW ? " (below the mass threshold)" : "");
    free(qs);
    free(ks);
    return out;
}

/* Draws the glyphs of s one under another from (x, y), at most h of them. */
static void put_vertical(Canvas *c, const Rect *clip, int x, int y, int h, const char *s, int role, int attr)
{
    size_t n = strlen(s);
    for (int i = 0; i < h && n; i++) {
        uint32_t cp;
        int len = utf8_decode(s, n, &cp);
        if (len == 0) len = 1;
        char g[8];
        memcpy(g, s, (size_t)len);
        g[len] = 0;
        canvas_put(c, clip, x, y + i, g, role, attr);
        s += len;
        n -= (size_t)len;
    }
}

int heatmap_draw(Canvas *c, Rect r, const Trace *t, const VizOpts *o)
{
    return heatmap_draw_geo(c, r, t, o, NULL);
}

/* "sliding window w=4 causal" names a pattern on the pane; masks read "causal mask". */
static char *mask_phrase(const Trace *t, int layer)
{
    const char *name = viz_mask_name(t, layer);
    return layer_pattern(t, layer) ? xasprintf("pattern %s", name) : xasprintf("%s mask", name);
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* What the window shows, when it is not simply the whole matrix one token per cell:
 * *extent the rows and columns ("rows 20-33, cols 10-28 of 40", NULL when all are shown
 * unzoomed), *how the cells ("zoom 1: a token per cell", "blocks 2×2, max", or NULL). */
static void window_text(const VizOpts *o, int n, int bs, int r0, int vr, int c0, int vc, int nb,
                        char **extent, char **how)
{
    const char *pool = o->pool == VIZ_POOL_MEAN ? "mean of unmasked" : "max";
    *extent = *how = NULL;
    if (o->zoom <= 0 && vr == nb && vc == nb) {
        if (bs > 1) *how = xasprintf("blocks %d×%d, %s", bs, bs, pool);
        return;
    }
    int rlo = r0 * bs, rhi = (r0 + vr) * bs - 1, clo = c0 * bs, chi = (c0 + vc) * bs - 1;
    if (rhi > n - 1) rhi = n - 1;
    if (chi > n - 1) chi = n - 1;
    *extent = xasprintf("rows %d-%d, cols %d-%d of %d", rlo, rhi, clo, chi, n);
    *how = o->zoom <= 0 ? xasprintf("fit, blocks %d×%d, %s", bs, bs, pool)
         : bs == 1 ? xstrdup("zoom 1: a token per cell")
                   : xasprintf("zoom %d: blocks %d×%d, %s", bs, bs, bs, pool);
}

int heatmap_draw_geo(Canvas *c, Rect r, const Trace *t, const VizOpts *o, HeatGeo *geo)
{
    int y = r.y;
    if (geo) *geo = (HeatGeo){1, 0, r.x, r.y, 1, 1, 0, 0, 0, 0, 0, 0};
    HeatMatrix m;
    if (heatmap_matrix(&m, t, o) != 0) {
        canvas_put_fit(c, &r, r.x, y, "attention: nothing yet (load a model, then type a prompt)",
                       r.w, ROLE_WARN, 0);
        heatmap_matrix_done(&m);
        return 1;
    }
    int n = m.n;
    char *title = xasprintf("attention · %s", m.what);
    char *maskp = mask_phrase(t, o->layer);
    const char *tparts[] = {title, maskp, "rows = queries, cols = keys"};
    y += canvas_put_parts(c, r, y, tparts, 3, " · ", ROLE_TITLE, CANVAS_BOLD);
    free(title);
    free(maskp);

    char **lab = xcalloc((size_t)n, sizeof(char *));
    int maxlw = 1;
    for (int i = 0; i < n; i++) {
        lab[i] = tokens_escape(t, t->tokens[i]);
        int w = utf8_width(lab[i]);
        if (w > maxlw) maxlw = w;
    }
    int lw_cap = o->presenter ? 14 : 10;
    int LW = maxlw < lw_cap ? maxlw : lw_cap;
    int idxw = digits(n > 0 ? n - 1 : 0);

    /* Space for cells: below them the legend and, with a cursor, the readout line.  The
     * legend is measured as it reads in its longest form (a zoomed, scrolled window). */
    char *scale = o->scale == VIZ_SCALE_LOG
        ? xasprintf("log scale 1e%d [%s] 1", VIZ_LOG_FLOOR, HEATMAP_SHADES)
        : xasprintf("linear scale 0 [%s] 1", HEATMAP_SHADES);
    char *masked = m.has_masked ? xasprintf("%s = outside causal mask", HEATMAP_MASKED_GLYPH) : NULL;
    char *pruned = !m.has_pruned ? NULL
        : m.agg == VIZ_AGG_ROLLOUT ? xasprintf("%s = no path through the patterns", HEATMAP_PRUNED_GLYPH)
                                   : xasprintf("%s = outside the sparse pattern", HEATMAP_PRUNED_GLYPH);
    char *hidden = o->hide_first ? xasprintf("%s = first token hidden, rows renormalised",
                                             HEATMAP_HIDDEN_GLYPH) : NULL;
    char *below = (o->mass > 0 && o->mass < 1) ? xasprintf("%s = below %g%% of row mass", HEATMAP_BELOW_GLYPH,
                                                           (double)o->mass * 100.0) : NULL;
    char *longest1 = xasprintf("rows %d-%d, cols %d-%d of %d", n, n, n, n, n);
    char *longest2 = xasprintf("zoom %d: blocks %d×%d, mean of unmasked", n, n, n);
    const char *lparts[] = {scale, masked, pruned, longest1, longest2, hidden, below};
    enum { NLPARTS = 7 };
    int has_cursor = o->cur_q >= 0 && o->cur_k >= 0 && o->cur_q < n && o->cur_k < n;
    int legend_max = canvas_parts_lines(r.w, lparts, NLPARTS, "; ");
    int reserve_bottom = legend_max + has_cursor;
    int unlimited = r.h >= VIZ_UNLIMITED;
    int avail_h = unlimited ? VIZ_UNLIMITED : r.h - (y - r.y) - reserve_bottom;
    int cw_max = o->presenter ? 3 : 2;
    int bs, rl_w, cw;
    if (o->zoom <= 0) {
        /* fit: the whole matrix, pooled into blocks when it does not fit cell by cell */
        rl_w = idxw + 1 + LW;     /* row label: "12 ␣cat      " */
        bs = heatmap_block(n, r.w - rl_w - 1);
        int bs_h = heatmap_block(n, avail_h - 1);
        if (bs_h > bs) bs = bs_h;
        if (bs > 1) {             /* pooled rows are labelled "lo-hi" */
            rl_w = 2 * idxw + 1;
            bs = heatmap_block(n, r.w - rl_w - 1);
            if (bs_h > bs) bs = bs_h;
        }
        int nbf = (n + bs - 1) / bs;
        cw = cw_max;
        while (cw > 1 && cw * nbf > r.w - rl_w - 1) cw--;
    } else {
        /* zoomed: zoom tokens per cell at full cell width; the window scrolls */
        bs = clampi(o->zoom, 1, n);
        rl_w = bs == 1 ? idxw + 1 + LW : 2 * idxw + 1;
        cw = cw_max;
    }
    int nb = (n + bs - 1) / bs;
    int x0 = r.x + rl_w + 1;
    int cap_c = (r.w - rl_w - 1) / cw;
    if (cap_c < 1) cap_c = 1;

    /* column labels: token strings written downwards when a column is one token */
    int LH = 1;
    if (bs == 1) {
        LH = maxlw < (o->presenter ? 8 : 5) ? maxlw : (o->presenter ? 8 : 5);
        /* fit: all rows must fit, so labels shorten; zoomed: rows scroll, and the labels
         * take at most a third of the height */
        if (o->zoom <= 0) {
            if (!unlimited && nb + LH > avail_h) LH = avail_h - nb > 1 ? avail_h - nb : 1;
        } else if (!unlimited && LH > avail_h / 3) {
            LH = avail_h / 3 > 1 ? avail_h / 3 : 1;
        }
    }
    int cap_r = unlimited ? nb : avail_h - LH;
    if (cap_r < 1) cap_r = 1;
    /* presenter mode: cells two rows tall when they all fit, square on a projector */
    int rh = o->presenter && bs == 1 && 2 * nb + 5 <= avail_h ? 2 : 1;
    int vr = nb < cap_r ? nb : cap_r;
    int vc = nb < cap_c ? nb : cap_c;

    /* the window: from row0/col0, moved as little as needed to keep the cursor in view */
    int r0 = o->zoom > 0 ? o->row0 / bs : 0, c0 = o->zoom > 0 ? o->col0 / bs : 0;
    int cq = o->cur_q >= 0 && o->cur_q < n ? o->cur_q / bs : -1;
    int ck = o->cur_k >= 0 && o->cur_k < n ? o->cur_k / bs : -1;
    if (cq >= 0) {
        if (cq < r0) r0 = cq;
        if (cq >= r0 + vr) r0 = cq - vr + 1;
    }
    if (ck >= 0) {
        if (ck < c0) c0 = ck;
        if (ck >= c0 + vc) c0 = ck - vc + 1;
    }
    r0 = clampi(r0, 0, nb - vr);
    c0 = clampi(c0, 0, nb - vc);

    if (bs == 1) {
        if (rl_w >= 6) canvas_put(c, &r, r.x, y + LH - 1, "keys →", ROLE_AXIS, 0);
        for (int k = c0; k < c0 + vc; k++) {
            int attr = (o->cur_k == k) ? CANVAS_BOLD | CANVAS_REVERSE : 0;
            put_vertical(c, &r, x0 + (k - c0) * cw, y, LH, lab[k], ROLE_LABEL, attr);
        }
    } else {
        if (rl_w >= 6) canvas_put(c, &r, r.x, y, "keys →", ROLE_AXIS, 0);
        int next_free = 0;
        for (int b = c0; b < c0 + vc; b++) {
            int x = (b - c0) * cw;
            if (x < next_free) continue;
            char num[16];
            snprintf(num, sizeof num, "%d", b * bs);
            if (x + (int)strlen(num) > vc * cw) break;
            canvas_put(c, &r, x0 + x, y, num, ROLE_AXIS, 0);
            next_free = x + (int)strlen(num) + 2;
        }
    }
    y += LH;
    if (geo) *geo = (HeatGeo){bs, nb, x0, y, cw, rh, r0, c0, vr, vc, cap_r, cap_c};

    /* rows */
    for (int rb = r0; rb < r0 + vr && y < r.y + r.h; rb++, y++) {
        int rattr = rb == cq ? CANVAS_BOLD : 0;
        if (bs == 1) {
            canvas_printf(c, &r, r.x, y, ROLE_AXIS, rattr, "%*d", idxw, rb);
            canvas_put_fit(c, &r, r.x + idxw + 1, y, lab[rb], LW, ROLE_LABEL, rattr);
        } else {
            int hi = (rb + 1) * bs - 1 < n - 1 ? (rb + 1) * bs - 1 : n - 1;
            char *rng = xasprintf("%*d-%d", idxw, rb * bs, hi);
            canvas_put_fit(c, &r, r.x, y, rng, rl_w, ROLE_AXIS, rattr);
            free(rng);
        }
        for (int sub = 0; sub < rh && y < r.y + r.h; sub++, y += sub < rh) {
            canvas_put(c, &r, x0 - 1, y, "│", ROLE_BORDER, 0);
            for (int cb = c0; cb < c0 + vc; cb++) {
                float v;
                int st = pool_block(&m, rb * bs, cb * bs, bs, bs, o->pool, &v);
                int attr = (rb == cq && cb == ck) ? CANVAS_REVERSE | CANVAS_BOLD : 0;
                draw_cell(c, &r, x0 + (cb - c0) * cw, y, cw, st, v, o->scale, attr);
            }
        }
    }

    /* legend, with what the window shows */
    char *extent, *how;
    window_text(o, n, bs, r0, vr, c0, vc, nb, &extent, &how);
    lparts[3] = extent;
    lparts[4] = how;
    if (y < r.y + r.h) y += canvas_put_parts(c, r, y, lparts, NLPARTS, "; ", ROLE_DIM, 0);
    free(scale);
    free(masked);
    free(pruned);
    free(longest1);
    free(longest2);
    free(extent);
    free(how);
    free(hidden);
    free(below);

    /* readout: the exact weight of the cursor's cell, whatever the pooling */
    if (has_cursor && y < r.y + r.h) {
        char *ro = heatmap_readout(&m, t, o->cur_q, o->cur_k);
        if (bs > 1) {
            float v;
            int st = pool_block(&m, cq * bs, ck * bs, bs, bs, o->pool, &v);
            char *blk = st == HEAT_IN
                ? xasprintf(" · block %s %.4f", o->pool == VIZ_POOL_MEAN ? "mean" : "max", (double)v)
                : xstrdup("");
            char *both = xasprintf("%s%s%s", o->locked ? "locked: " : "", ro, blk);
            free(ro);
            free(blk);
            ro = both;
        } else if (o->locked) {
            char *both = xasprintf("locked: %s", ro);
            free(ro);
            ro = both;
        }
        canvas_put_fit(c, &r, r.x, y, ro, r.w, ROLE_DEFAULT, CANVAS_BOLD);
        free(ro);
        y++;
    }
    for (int i = 0; i < n; i++) free(lab[i]);
    free(lab);
    heatmap_matrix_done(&m);
    return y - r.y;
}

int heatmap_draw_model(Canvas *c, Rect r, const Trace *t, const VizOpts *o)
{
    int y = r.y;
    int L = t->n_layer, NH = t->n_head, n = t->n;
    if (!t->have_attn || n <= 0 || L <= 0 || NH <= 0) {
        canvas_put_fit(c, &r, r.x, y, "model view: no attention captured", r.w, ROLE_WARN, 0);
        return 1;
    }
    char *title = xasprintf("model view · %d layers × %d heads", L, NH);
    /* one mask for all layers, or each layer's when they differ */
    char *maskp = mask_phrase(t, 0);
    for (int l = 1; l < L; l++)
        if (strcmp(viz_mask_name(t, l), viz_mask_name(t, 0)) != 0) {
            free(maskp);
            maskp = xstrdup("per layer:");
            for (int j = 0; j < L; j++) {
                char *ph = mask_phrase(t, j);
                char *nx = xasprintf("%s%s L%d %s", maskp, j ? "," : "", j, ph);
                free(ph);
                free(maskp);
                maskp = nx;
            }
            break;
        }
    const char *tparts[] = {title, maskp, "rows = queries, cols = keys"};
    y += canvas_put_parts(c, r, y, tparts, 3, " · ", ROLE_TITLE, CANVAS_BOLD);
    free(title);
    free(maskp);

    int lblw = 1 + digits(L - 1) + 1;          /* "L12 " */
    int avail_w = r.w - lblw;
    int avail_h = (r.h >= VIZ_UNLIMITED ? 8 * L + 1 : r.h - (y - r.y)) - 1;   /* minus head labels */
    int gap_y = avail_h >= 3 * L ? 1 : 0;
    int tw = avail_w / NH - 1;                 /* one column gap between thumbs */
    int th = avail_h / L - gap_y;
    int cap_w = o->presenter ? 32 : 16, cap_h = o->presenter ? 16 : 8;
    if (tw > cap_w) tw = cap_w;
    if (th > cap_h) th = cap_h;
    if (tw > 2 * n) tw = 2 * n;
    if (th > n) th = n;
    if (tw < 1 || th < 1) {
        canvas_put_fit(c, &r, r.x, y, "model view: too small for all heads; enlarge the terminal",
                       r.w, ROLE_WARN, 0);
        return y - r.y + 1;
    }
    int bs = heatmap_block(n, th);
    int bsw = heatmap_block(n, tw);
    if (bsw > bs) bs = bsw;
    int nb = (n + bs - 1) / bs;
    int cw = tw / nb;
    if (cw > 2) cw = 2;
    if (cw < 1) cw = 1;

    for (int h = 0; h < NH; h++) {
        int sel = h == o->head;
        canvas_printf(c, &r, r.x + lblw + h * (tw + 1), y, sel ? ROLE_FOCUS : ROLE_AXIS,
                      sel ? CANVAS_BOLD : 0, "H%d", h);
    }
    y++;
    VizOpts one = *o;
    one.agg = VIZ_AGG_HEAD;
    for (int l = 0; l < L; l++) {
        int sel_l = l == o->layer;
        canvas_printf(c, &r, r.x, y, sel_l ? ROLE_FOCUS : ROLE_AXIS, sel_l ? CANVAS_BOLD : 0, "L%d", l);
        for (int h = 0; h < NH; h++) {
            HeatMatrix m;
            one.layer = l;
            one.head = h;
            if (heatmap_matrix(&m, t, &one) != 0) { heatmap_matrix_done(&m); continue; }
            int sel = sel_l && h == o->head;
            int x = r.x + lblw + h * (tw + 1);
            for (int rb = 0; rb < nb && rb < th; rb++)
                for (int cb = 0; cb < nb; cb++) {
                    float v;
                    int s = pool_block(&m, rb * bs, cb * bs, bs, bs, o->pool, &v);
                    draw_cell(c, &r, x + cb * cw, y + rb, cw, s, v, o->scale, 0);
                }
            if (sel) {
                Rect sr = {x, y, nb * cw, nb < th ? nb : th};
                canvas_paint(c, &sr, -1, CANVAS_UNDERLINE);
            }
            heatmap_matrix_done(&m);
        }
        y += th + gap_y;
    }
    if (bs > 1 && y < r.y + r.h) {
        canvas_printf(c, &r, r.x, y, ROLE_DIM, 0, "blocks %d×%d, %s", bs, bs,
                      o->pool == VIZ_POOL_MEAN ? "mean of unmasked" : "max");
        y++;
    }
    return y - r.y;
}
