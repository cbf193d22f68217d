/* heatmap — the attention matrix as numbers to show (HeatMatrix), and its two views: the
 * attention pane (one layer/head or an aggregate, labelled with tokens) and the model view
 * (every layer x head as a thumbnail, bertviz's "model view" in a terminal).
 *
 * Owns: aggregation over heads, attention rollout, first-token hiding with renormalisation,
 * the per-row cumulative-mass threshold, pooling into blocks, the shade ramp.
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
}

/* The trace's row for query q of (l, h), or NULL when not captured. */
static const float *row_of(const Trace *t, int l, int h, int q, int *nk)
{
    if (!t->have_attn || !t->attn_row || !t->attn_nkeys || q < 0 || q >= t->n || !t->attn_row[q])
        return NULL;
    *nk = t->attn_nkeys[q];
    return t->attn_row[q] + ((size_t)l * (size_t)t->n_head + (size_t)h) * (size_t)*nk;
}

/* Under a sparse pattern the kernel never scores keys outside it and stores an exact 0;
 * softmax of a scored key is exactly 0 only on underflow, which a causal or dense mask
 * does not turn into "outside the mask". */
static int is_pattern(const Trace *t)
{
    return t->mask_name && strcmp(t->mask_name, "causal") != 0 &&
           strcmp(t->mask_name, "bidirectional") != 0;
}

void heatmap_matrix_done(HeatMatrix *m)
{
    free(m->w);
    free(m->state);
    m->w = NULL;
    m->state = NULL;
    m->n = 0;
}

/* Head mean (or max) of layer l into w/state (n x n). */
static void layer_agg(const Trace *t, int l, int use_max, float *w, uint8_t *state)
{
    int n = t->n, NH = t->n_head, pat = is_pattern(t);
    for (int q = 0; q < n; q++) {
        int nk = 0;
        if (!row_of(t, l, 0, q, &nk)) continue;
        if (nk > n) nk = n;
        for (int k = 0; k < nk; k++) {
            float acc = use_max ? 0.0f : 0.0f;
            int any = 0;
            for (int h = 0; h < NH; h++) {
                int nk2;
                float v = row_of(t, l, h, q, &nk2)[k];
                if (!pat || v != 0.0f) any = 1;
                if (use_max) { if (v > acc) acc = v; }
                else acc += v;
            }
            w[(size_t)q * n + k] = use_max ? acc : acc / (float)NH;
            state[(size_t)q * n + k] = any ? HEAT_IN : HEAT_MASKED;
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
    int pat = is_pattern(t);

    switch (o->agg) {
    case VIZ_AGG_HEAD:
    default:
        snprintf(m->what, sizeof m->what, "layer %d head %d", o->layer, o->head);
        for (int q = 0; q < n; q++) {
            int nk = 0;
            const float *row = row_of(t, o->layer, o->head, q, &nk);
            if (!row) continue;
            if (nk > n) nk = n;
            for (int k = 0; k < nk; k++) {
                m->w[(size_t)q * n + k] = row[k];
                m->state[(size_t)q * n + k] = (pat && row[k] == 0.0f) ? HEAT_MASKED : HEAT_IN;
            }
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
        for (int l = 0; l <= o->layer; l++) {
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
        /* A cell is in the mask when the selected layer's mask allows it; rollout can
         * reach further only through a pattern, where a nonzero flow is shown as in. */
        for (size_t i = 0; i < nn; i++) {
            m->w[i] = r[i];
            m->state[i] = (st[i] == HEAT_IN || (pat && r[i] != 0.0f)) ? HEAT_IN : HEAT_MASKED;
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
    int n = m->n, cnt = 0, hidden = 0, below = 0;
    double acc = 0;
    float mx = 0;
    for (int q = q0; q < q0 + bq && q < n; q++)
        for (int k = k0; k < k0 + bk && k < n; k++) {
            int s = m->state[(size_t)q * n + k];
            float w = m->w[(size_t)q * n + k];
            if (s == HEAT_IN) { cnt++; acc += w; if (w > mx) mx = w; }
            else if (s == HEAT_HIDDEN) hidden++;
            else if (s == HEAT_BELOW) below++;
        }
    *val = 0;
    if (cnt) { *val = pool == VIZ_POOL_MEAN ? (float)(acc / cnt) : mx; return HEAT_IN; }
    if (hidden) return HEAT_HIDDEN;
    if (below) return HEAT_BELOW;
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
        out = xasprintf("query %d %s → key %d %s: outside the %s mask", q, qs, k, ks,
                        t->mask_name ? t->mask_name : "attention");
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

int heatmap_draw_geo(Canvas *c, Rect r, const Trace *t, const VizOpts *o, HeatGeo *geo)
{
    int y = r.y;
    if (geo) *geo = (HeatGeo){1, 0, r.x, r.y, 1, 1};
    HeatMatrix m;
    if (heatmap_matrix(&m, t, o) != 0) {
        canvas_put_fit(c, &r, r.x, y, "attention: nothing yet (load a model, then type a prompt)",
                       r.w, ROLE_WARN, 0);
        heatmap_matrix_done(&m);
        return 1;
    }
    int n = m.n;
    const char *mask = t->mask_name ? t->mask_name : "causal";
    char *title = xasprintf("attention · %s", m.what);
    char *maskp = xasprintf("%s mask", mask);
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
     * legend is measured as it reads when pooled, its longest form. */
    char *scale = o->scale == VIZ_SCALE_LOG
        ? xasprintf("log scale 1e%d [%s] 1", VIZ_LOG_FLOOR, HEATMAP_SHADES)
        : xasprintf("linear scale 0 [%s] 1", HEATMAP_SHADES);
    char *masked = xasprintf("%s = outside %s mask", HEATMAP_MASKED_GLYPH, mask);
    char *hidden = o->hide_first ? xasprintf("%s = first token hidden, rows renormalised",
                                             HEATMAP_HIDDEN_GLYPH) : NULL;
    char *below = (o->mass > 0 && o->mass < 1) ? xasprintf("%s = below %g%% of row mass", HEATMAP_BELOW_GLYPH,
                                                           (double)o->mass * 100.0) : NULL;
    const char *lparts[] = {scale, masked, "blocks 99×99, mean of unmasked", hidden, below};
    int has_cursor = o->cur_q >= 0 && o->cur_k >= 0 && o->cur_q < n && o->cur_k < n;
    int legend_pooled = canvas_parts_lines(r.w, lparts, 5, "; ");
    int reserve_bottom = legend_pooled + has_cursor;
    int avail_h = r.h >= VIZ_UNLIMITED ? VIZ_UNLIMITED : r.h - (y - r.y) - reserve_bottom;
    int rl_w = idxw + 1 + LW;     /* row label: "12 ␣cat      " */
    int bs = heatmap_block(n, r.w - rl_w - 1);
    int bs_h = heatmap_block(n, avail_h - 1);
    if (bs_h > bs) bs = bs_h;
    if (bs > 1) {                 /* pooled rows are labelled "lo-hi" */
        rl_w = 2 * idxw + 1;
        bs = heatmap_block(n, r.w - rl_w - 1);
        if (bs_h > bs) bs = bs_h;
    }
    int nb = (n + bs - 1) / bs;
    int cw = o->presenter ? 3 : 2;
    while (cw > 1 && cw * nb > r.w - rl_w - 1) cw--;
    int x0 = r.x + rl_w + 1;
    /* presenter mode: cells two rows tall when they fit, square on a projector */
    int rh = o->presenter && bs == 1 && 2 * nb + 5 <= avail_h ? 2 : 1;

    /* column labels */
    int LH = 1;
    if (bs == 1) {
        LH = maxlw < (o->presenter ? 8 : 5) ? maxlw : (o->presenter ? 8 : 5);
        if (avail_h < VIZ_UNLIMITED && nb + LH > avail_h) LH = avail_h - nb > 1 ? avail_h - nb : 1;
        if (rl_w >= 6) canvas_put(c, &r, r.x, y + LH - 1, "keys →", ROLE_AXIS, 0);
        for (int k = 0; k < n; k++) {
            int attr = (o->cur_k == k) ? CANVAS_BOLD | CANVAS_REVERSE : 0;
            put_vertical(c, &r, x0 + k * cw, y, LH, lab[k], ROLE_LABEL, attr);
        }
    } else {
        if (rl_w >= 6) canvas_put(c, &r, r.x, y, "keys →", ROLE_AXIS, 0);
        int next_free = 0;
        for (int b = 0; b < nb; b++) {
            int x = b * cw;
            if (x < next_free) continue;
            char num[16];
            snprintf(num, sizeof num, "%d", b * bs);
            if (x + (int)strlen(num) > nb * cw) break;
            canvas_put(c, &r, x0 + x, y, num, ROLE_AXIS, 0);
            next_free = x + (int)strlen(num) + 2;
        }
    }
    y += LH;
    if (geo) *geo = (HeatGeo){bs, nb, x0, y, cw, rh};

    /* rows */
    int cq = o->cur_q >= 0 && o->cur_q < n ? o->cur_q / bs : -1;
    int ck = o->cur_k >= 0 && o->cur_k < n ? o->cur_k / bs : -1;
    for (int rb = 0; rb < nb && y < r.y + r.h; rb++, y++) {
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
            for (int cb = 0; cb < nb; cb++) {
                float v;
                int s = pool_block(&m, rb * bs, cb * bs, bs, bs, o->pool, &v);
                int attr = (rb == cq && cb == ck) ? CANVAS_REVERSE | CANVAS_BOLD : 0;
                draw_cell(c, &r, x0 + cb * cw, y, cw, s, v, o->scale, attr);
            }
        }
    }

    /* legend */
    char *pooled = bs > 1 ? xasprintf("blocks %d×%d, %s", bs, bs,
                                      o->pool == VIZ_POOL_MEAN ? "mean of unmasked" : "max") : NULL;
    lparts[2] = pooled;
    if (y < r.y + r.h) y += canvas_put_parts(c, r, y, lparts, 5, "; ", ROLE_DIM, 0);
    free(scale);
    free(masked);
    free(pooled);
    free(hidden);
    free(below);

    /* readout */
    if (has_cursor && y < r.y + r.h) {
        char *ro = heatmap_readout(&m, t, o->cur_q, o->cur_k);
        if (bs > 1) {
            float v;
            int s = pool_block(&m, cq * bs, ck * bs, bs, bs, o->pool, &v);
            char *blk = s == HEAT_IN
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
    char *maskp = xasprintf("%s mask", t->mask_name ? t->mask_name : "causal");
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
