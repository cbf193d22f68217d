/* layout — the workbench's model, placement, keys and `view` commands (see layout.h).
 *
 * Owns: pane placement for a terminal size (two columns on wide terminals, one on narrow
 * ones, fewer and bigger panes in presenter mode, a message below the minimum size), the
 * focus, the view options, the output pane's lines, the status and key-help lines, the
 * help overlay, and the meaning of every pane key and its `view` command twin.
 * Does not own: the terminal (crt.c), readline and the session (repl/screen.c), or the
 * pictures inside panes (heatmap.c, bars.c, tokens.c, lensview.c).
 * Reference: htop's split of updating the model from drawing it; key handlers return
 * flags instead of acting on the terminal.
 */
#include "viz/layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "viz/crt.h"

#define OUT_MAX_LINES 2000

static const char *const pane_names[PANE_COUNT] = {"tokens", "attn", "probs", "lens", "output"};

const char *layout_pane_name(int pane)
{
    return pane >= 0 && pane < PANE_COUNT ? pane_names[pane] : "?";
}

int layout_pane_by_name(const char *name)
{
    for (int i = 0; i < PANE_COUNT; i++)
        if (!strcmp(name, pane_names[i])) return i;
    if (!strcmp(name, "attention")) return PANE_ATTN;
    if (!strcmp(name, "model")) return PANE_ATTN;
    if (!strcmp(name, "probabilities")) return PANE_PROBS;
    if (!strcmp(name, "logit-lens")) return PANE_LENS;
    return -1;
}

Workbench *layout_alloc(void)
{
    Workbench *wb = xcalloc(1, sizeof *wb);
    viz_opts_default(&wb->o);
    wb->focus_repl = 1;
    wb->focus = PANE_ATTN;
    wb->prompt = "";
    wb->line = "";
    layout_place(wb, 80, 24);
    return wb;
}

void layout_free(Workbench *wb)
{
    if (!wb) return;
    for (int i = 0; i < wb->out_n; i++) free(wb->out[i]);
    free(wb->out);
    free(wb->status_extra);
    free(wb->flash);
    free(wb);
}

void layout_place(Workbench *wb, int cols, int rows)
{
    wb->cols = cols < 1 ? 1 : cols;
    wb->rows = rows < 1 ? 1 : rows;
    memset(wb->pane, 0, sizeof wb->pane);
    wb->too_small = cols < LAYOUT_MIN_COLS || rows < LAYOUT_MIN_ROWS;
    if (wb->too_small) {
        /* the message takes the top; what is left shows command output */
        int top = 4;
        if (rows - 1 - top >= 2) wb->pane[PANE_OUTPUT] = (Rect){0, top, cols, rows - 1 - top};
        return;
    }
    int pres = wb->o.presenter;
    int oh = rows / 7;
    if (oh < 3) oh = 3;
    if (oh > 6) oh = 6;
    if (pres) oh = 3;
    int bottom = rows - 2 - oh;                    /* output rows: [bottom, rows - 2) */
    wb->pane[PANE_OUTPUT] = (Rect){0, bottom, cols, oh};
    int th = 3;
    wb->pane[PANE_TOKENS] = (Rect){0, 1, cols, th};
    int y = 1 + th, h = bottom - y;
    int two = cols >= (pres ? 120 : 100);
    if (two) {
        int lw = cols * 11 / 20;
        int rx = lw + 1, rw = cols - rx;
        wb->pane[PANE_ATTN] = (Rect){0, y, lw, h};
        if (pres || h < 12) {
            wb->pane[PANE_PROBS] = (Rect){rx, y, rw, h};
        } else {
            int ph = h / 2;
            if (ph < 9) ph = 9;
            wb->pane[PANE_PROBS] = (Rect){rx, y, rw, ph};
            wb->pane[PANE_LENS] = (Rect){rx, y + ph + 1, rw, h - ph - 1};
        }
    } else {
        int ah = h * 3 / 5;
        wb->pane[PANE_ATTN] = (Rect){0, y, cols, ah};
        wb->pane[PANE_PROBS] = (Rect){0, y + ah + 1, cols, h - ah - 1};
    }
    if (!wb->focus_repl && wb->pane[wb->focus].w == 0) wb->focus = PANE_ATTN;
}

/* ---- output pane ---- */

static void out_push(Workbench *wb, char *line)
{
    if (wb->out_n == OUT_MAX_LINES) {
        free(wb->out[0]);
        memmove(wb->out, wb->out + 1, (size_t)(wb->out_n - 1) * sizeof(char *));
        wb->out_n--;
    }
    if (wb->out_n == wb->out_cap) {
        wb->out_cap = wb->out_cap ? wb->out_cap * 2 : 64;
        wb->out = xrealloc(wb->out, (size_t)wb->out_cap * sizeof(char *));
    }
    wb->out[wb->out_n++] = line;
}

void layout_output_break(Workbench *wb)
{
    wb->out_open = 0;
}

void layout_output(Workbench *wb, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t cap = 64, n = 0;
        char *line;
        if (wb->out_open && wb->out_n > 0) {
            /* continue the line the last output left open (streamed tokens) */
            line = wb->out[--wb->out_n];
            n = strlen(line);
            cap = n + 64;
            line = xrealloc(line, cap);
        } else {
            line = xmalloc(cap);
        }
        wb->out_open = 0;
        while (i < len && text[i] != '\n') {
            uint32_t cp;
            int l = utf8_decode(text + i, len - i, &cp);
            char esc[8];
            const char *add = text + i;
            size_t addn = (size_t)l;
            if (l == 0 || cp < 0x20 || cp == 0x7F) {
                if (l == 0) l = 1;
                if (cp == '\t' && l == 1 && text[i] == '\t') { add = "    "; addn = 4; }
                else if (text[i] == '\r') {
                    /* a progress bar redraws its line after \r, as on a terminal; a \r before
                     * the newline or at the end of the text is dropped */
                    if (i + 1 < len && text[i + 1] != '\n' && text[i + 1] != '\r') n = 0;
                    add = ""; addn = 0;
                }
                else { snprintf(esc, sizeof esc, "\\x%02X", (unsigned char)text[i]); add = esc; addn = 4; }
            }
            if (n + addn + 1 > cap) {
                while (n + addn + 1 > cap) cap *= 2;
                line = xrealloc(line, cap);
            }
            memcpy(line + n, add, addn);
            n += addn;
            i += (size_t)l;
        }
        line[n] = 0;
        out_push(wb, line);
        if (i < len) i++;   /* the newline */
        else wb->out_open = 1;
    }
    wb->out_scroll = 0;
}

void layout_set_status(Workbench *wb, const char *extra)
{
    free(wb->status_extra);
    wb->status_extra = extra ? xstrdup(extra) : NULL;
}

void layout_flash(Workbench *wb, const char *msg)
{
    free(wb->flash);
    wb->flash = msg ? xstrdup(msg) : NULL;
}

/* ---- drawing ---- */

static const char *agg_label(VizAgg a)
{
    switch (a) {
    case VIZ_AGG_MEAN: return "mean of heads";
    case VIZ_AGG_MAX: return "max of heads";
    case VIZ_AGG_ROLLOUT: return "rollout";
    default: return "one head";
    }
}

/* Options that only make sense for the trace at hand are clamped before drawing. */
static void clamp_opts(VizOpts *o, const Trace *t)
{
    if (t->n_layer > 0) {
        if (o->layer >= t->n_layer) o->layer = t->n_layer - 1;
        if (o->layer < 0) o->layer = 0;
    }
    if (t->n_head > 0) {
        if (o->head >= t->n_head) o->head = t->n_head - 1;
        if (o->head < 0) o->head = 0;
    }
    if (o->step > t->n) o->step = -1;
    if (o->cur_q >= t->n) o->cur_q = t->n - 1;
    if (o->cur_k >= t->n) o->cur_k = t->n - 1;
    /* a causal row ends at the diagonal: the cursor stays on keys the row has */
    if (o->cur_q >= 0 && o->cur_k >= 0 && t->attn_nkeys && t->attn_row && t->attn_row[o->cur_q] &&
        o->cur_k >= t->attn_nkeys[o->cur_q])
        o->cur_k = t->attn_nkeys[o->cur_q] - 1;
    if (o->lens_layer > t->n_layer) o->lens_layer = t->n_layer;
    if (o->zoom < 0) o->zoom = 0;
    if (o->row0 < 0 || t->n <= 0) o->row0 = 0;
    if (o->col0 < 0 || t->n <= 0) o->col0 = 0;
    if (o->row0 >= t->n && t->n > 0) o->row0 = t->n - 1;
    if (o->col0 >= t->n && t->n > 0) o->col0 = t->n - 1;
}

int layout_scrubbed(const Workbench *wb, const Trace *t)
{
    return wb->o.step >= 0 && wb->o.step < t->n ? wb->o.step : -1;
}

static void draw_status(Workbench *wb, Canvas *c, const Trace *t)
{
    Rect r = {0, 0, wb->cols, 1};
    canvas_paint(c, &r, ROLE_STATUS, 0);
    int step = wb->o.step < 0 ? t->n : wb->o.step;
    /* the mask and the engine function of the layer on screen */
    char *s = xasprintf(" %s · %s mask · %s · layer %d/%d head %d/%d · %s · position %d/%d%s%s%s",
                        t->model_name ? t->model_name : "no model",
                        viz_mask_name(t, wb->o.layer), viz_kernel_name(t, wb->o.layer),
                        wb->o.layer, t->n_layer > 0 ? t->n_layer - 1 : 0,
                        wb->o.head, t->n_head > 0 ? t->n_head - 1 : 0,
                        agg_label(wb->o.agg), step, t->n,
                        wb->o.presenter ? " · presenter" : "",
                        wb->status_extra ? " · " : "", wb->status_extra ? wb->status_extra : "");
    canvas_put_fit(c, &r, 0, 0, s, wb->cols, ROLE_STATUS, 0);
    canvas_paint(c, &r, ROLE_STATUS, 0);
    free(s);
}

static void draw_output(Workbench *wb, Canvas *c, Rect r)
{
    if (r.w <= 0 || r.h <= 0) return;
    Rect rule = {r.x, r.y, r.w, 1};
    for (int x = 0; x < r.w; x++) canvas_put(c, &rule, r.x + x, r.y, "─", ROLE_BORDER, 0);
    canvas_put(c, &rule, r.x + 2, r.y, " output ", ROLE_BORDER, 0);
    Rect body = {r.x, r.y + 1, r.w, r.h - 1};
    if (body.h <= 0) return;
    int end = wb->out_n - wb->out_scroll;
    if (end < 0) end = 0;
    int start = end - body.h;
    if (start < 0) start = 0;
    for (int i = start; i < end; i++)
        canvas_put_fit(c, &body, body.x, body.y + (i - start), wb->out[i], body.w, ROLE_DEFAULT, 0);
    if (wb->out_scroll > 0)
        canvas_printf(c, &rule, r.x + r.w - 16, r.y, ROLE_BORDER, 0, " scrolled %d ", wb->out_scroll);
}

static const char *const help_lines[] = {
    "Keys while a pane has focus (typing always goes to the command line)",
    "",
    "Esc / F6  back to the command line   Tab, S-Tab  next / previous pane",
    "[  ]      layer down / up            {  }        head down / up",
    "arrows    move the heatmap cursor    Enter       lock readout / open head",
    "+ -  z    zoom in / out / whole      PgUp PgDn   scroll rows (S-↑ S-↓ one)",
    "< >       scroll keys (S-← S-→ one)  Home End    first key / diagonal",
    "m / F9    model view: all heads      s / F5      step one token",
    "a         head, mean, max, rollout   p           pool blocks: max / mean",
    "l         linear / log scale         f           hide first token",
    "t         mass threshold 100-50%     i           token ids on chips",
    "← → on tokens/probs: scrub steps     ↑ ↓ Enter on probs: force a candidate",
    "b         back: with the strip scrubbed, back/force/step branch there",
    "↑ ↓ on lens: layer scrubber          F7 / F8  next layer / head anywhere",
    "",
    "Every key has a command: view layer N, view head N, view pane NAME,",
    "view agg mean, view pool mean, view scale log, view hide-first on,",
    "view mass 0.9, view zoom N|fit, view scroll Q K, view step N, view",
    "cand N, view model on, presenter on; back, force TOKEN, step.",
    "",
    "Any key closes this help.",
};

static void draw_help(Workbench *wb, Canvas *c)
{
    int n = (int)(sizeof help_lines / sizeof help_lines[0]);
    int w = 78, h = n + 2;
    if (w > wb->cols) w = wb->cols;
    if (h > wb->rows) h = wb->rows;
    Rect r = {(wb->cols - w) / 2, (wb->rows - h) / 2, w, h};
    canvas_fill(c, &r);
    for (int x = 1; x < w - 1; x++) {
        canvas_put(c, &r, r.x + x, r.y, "─", ROLE_BORDER, 0);
        canvas_put(c, &r, r.x + x, r.y + h - 1, "─", ROLE_BORDER, 0);
    }
    for (int y = 1; y < h - 1; y++) {
        canvas_put(c, &r, r.x, r.y + y, "│", ROLE_BORDER, 0);
        canvas_put(c, &r, r.x + w - 1, r.y + y, "│", ROLE_BORDER, 0);
    }
    canvas_put(c, &r, r.x, r.y, "┌", ROLE_BORDER, 0);
    canvas_put(c, &r, r.x + w - 1, r.y, "┐", ROLE_BORDER, 0);
    canvas_put(c, &r, r.x, r.y + h - 1, "└", ROLE_BORDER, 0);
    canvas_put(c, &r, r.x + w - 1, r.y + h - 1, "┘", ROLE_BORDER, 0);
    canvas_put(c, &r, r.x + 2, r.y, " help ", ROLE_TITLE, CANVAS_BOLD);
    Rect in = {r.x + 2, r.y + 1, w - 4, h - 2};
    for (int i = 0; i < n && i < in.h; i++)
        canvas_put_fit(c, &in, in.x, in.y + i, help_lines[i], in.w, i == 0 ? ROLE_TITLE : ROLE_DEFAULT, 0);
}

static void draw_keys(Workbench *wb, Canvas *c, int y)
{
    Rect r = {0, y, wb->cols, 1};
    if (wb->flash) {
        canvas_put_fit(c, &r, 0, y, wb->flash, wb->cols, ROLE_WARN, 0);
        return;
    }
    const char *keys;
    if (wb->focus_repl)
        keys = "Esc/F6 panes · F5 step · F7/F8 layer/head · F9 model view · F1 help · Tab completes";
    else if (wb->focus == PANE_ATTN && wb->model_view)
        keys = "model view · arrows pick layer/head · Enter opens it · m back · Esc command line · ? help";
    else if (wb->focus == PANE_ATTN)
        keys = "arrows cursor · + - z zoom · PgUp PgDn < > scroll · Enter lock · [ ] layer · { } head · "
               "a p l f t options · m model · Esc command line";
    else if (wb->focus == PANE_PROBS)
        keys = "← → scrub steps · End latest · ↑ ↓ pick · Enter force it · b back · s step · Esc command line";
    else if (wb->focus == PANE_TOKENS)
        keys = "← → scrub steps · End latest · b back · s step · i ids · Tab next pane · Esc command line";
    else if (wb->focus == PANE_LENS)
        keys = "↑ ↓ layer scrubber · Tab next pane · Esc command line · ? help";
    else
        keys = "↑ ↓ PgUp PgDn scroll · Tab next pane · Esc command line · ? help";
    canvas_put_fit(c, &r, 0, y, keys, wb->cols, ROLE_KEY, 0);
}

/* Returns the command line's cursor column. */
static int draw_cmdline(Workbench *wb, Canvas *c, int y)
{
    Rect r = {0, y, wb->cols, 1};
    const char *line = wb->line ? wb->line : "";
    int point = wb->point;
    if (point < 0) point = 0;
    if ((size_t)point > strlen(line)) point = (int)strlen(line);
    char *before = xstrndup(line, (size_t)point);
    int pw = utf8_width(wb->prompt ? wb->prompt : "");
    int cur = pw + utf8_width(before);
    free(before);
    int shift = cur >= wb->cols ? cur - wb->cols + 1 : 0;
    int x = -shift;
    x += canvas_put(c, &r, x, y, wb->prompt ? wb->prompt : "", wb->focus_repl ? ROLE_TITLE : ROLE_DIM,
                    wb->focus_repl ? CANVAS_BOLD : 0);
    canvas_put(c, &r, x, y, line, ROLE_DEFAULT, 0);
    return cur - shift;
}

void layout_draw(Workbench *wb, Canvas *c, const Trace *t, const LensTable *lt, int *cx, int *cy)
{
    if (c->w != wb->cols || c->h != wb->rows) canvas_resize(c, wb->cols, wb->rows);
    else canvas_clear(c);
    clamp_opts(&wb->o, t);
    *cx = *cy = -1;
    int rows = wb->rows;
    if (wb->too_small) {
        char *msg = xasprintf("The terminal is %d×%d; the workbench needs at least %d×%d. "
                              "Enlarge the window (or run lectern --plain). "
                              "The command line below still works.",
                              wb->cols, wb->rows, LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
        /* word-wrap the message into the top rows */
        Rect r = {0, 0, wb->cols, rows > 4 ? 4 : rows - 1};
        const char *words[64];
        int nw = 0;
        char *dup = xstrdup(msg), *save = NULL;
        for (char *w = strtok_r(dup, " ", &save); w && nw < 64; w = strtok_r(NULL, " ", &save)) words[nw++] = w;
        canvas_put_parts(c, r, 0, words, nw, " ", ROLE_WARN, CANVAS_BOLD);
        free(dup);
        free(msg);
        draw_output(wb, c, wb->pane[PANE_OUTPUT]);
        int x = draw_cmdline(wb, c, rows - 1);
        *cx = x;
        *cy = rows - 1;
        return;
    }
    draw_status(wb, c, t);
    int step = wb->o.step < 0 ? t->n : wb->o.step;
    int scrubbed = layout_scrubbed(wb, t);
    char *note = scrubbed < 0 ? NULL
        : xasprintf("scrubbed back to position %d of %d · back, force, step, gen branch here · End: latest",
                    scrubbed, t->n);
    tokens_draw(c, wb->pane[PANE_TOKENS], t, step < t->n ? step : -1, wb->o.show_ids, note);
    free(note);

    Rect a = wb->pane[PANE_ATTN];
    VizOpts o = wb->o;
    if (wb->model_view) heatmap_draw_model(c, a, t, &o);
    else {
        heatmap_draw_geo(c, a, t, &o, &wb->geo);
        /* the window as drawn (clamped, following the cursor) is where scrolling continues */
        if (wb->o.zoom > 0 && wb->geo.nb > 0) {
            wb->o.row0 = wb->geo.r0 * wb->geo.bs;
            wb->o.col0 = wb->geo.c0 * wb->geo.bs;
        }
    }

    Rect p = wb->pane[PANE_PROBS];
    if (p.w > 0) {
        int k = p.h - 5;
        if (k > (o.presenter ? 8 : 20)) k = o.presenter ? 8 : 20;
        if (k < 1) k = 1;
        wb->probs_k = k;
        if (wb->o.cand >= k) wb->o.cand = k - 1;
        o.cand = wb->o.cand;
        bars_draw_probs(c, p, t, step, k, &o);
    }
    if (wb->pane[PANE_LENS].w > 0) lensview_draw(c, wb->pane[PANE_LENS], t, lt, o.lens_layer);

    /* separators between panes */
    for (int i = PANE_ATTN; i <= PANE_LENS; i++) {
        Rect q = wb->pane[i];
        if (q.w == 0) continue;
        if (q.x > 0)
            for (int y = q.y; y < q.y + q.h; y++) canvas_put(c, NULL, q.x - 1, y, "│", ROLE_BORDER, 0);
        if (q.y > wb->pane[PANE_TOKENS].y + wb->pane[PANE_TOKENS].h && i != PANE_ATTN)
            for (int x = q.x; x < q.x + q.w; x++) canvas_put(c, NULL, x, q.y - 1, "─", ROLE_BORDER, 0);
    }
    draw_output(wb, c, wb->pane[PANE_OUTPUT]);
    if (!wb->focus_repl && wb->pane[wb->focus].w > 0) {
        Rect f = wb->pane[wb->focus];
        if (wb->focus == PANE_OUTPUT) f.h = 1;
        else f.h = 1;
        canvas_paint(c, &f, ROLE_FOCUS, 0);
    }
    draw_keys(wb, c, rows - 2);
    int x = draw_cmdline(wb, c, rows - 1);
    if (wb->help) draw_help(wb, c);
    else if (wb->focus_repl) { *cx = x; *cy = rows - 1; }
}

/* ---- keys ---- */

static void move_layer(Workbench *wb, const Trace *t, int d)
{
    int L = t->n_layer > 0 ? t->n_layer : 1;
    wb->o.layer = ((wb->o.layer + d) % L + L) % L;
}

static void move_head(Workbench *wb, const Trace *t, int d)
{
    int H = t->n_head > 0 ? t->n_head : 1;
    wb->o.head = ((wb->o.head + d) % H + H) % H;
}

static void scrub(Workbench *wb, const Trace *t, int d)
{
    int s = wb->o.step < 0 ? t->n : wb->o.step;
    s += d;
    if (s < 0) s = 0;
    if (s >= t->n) s = -1;    /* past the last token: follow the pending distribution */
    wb->o.step = s;
    wb->o.cand = -1;
    if (t->n > 0) {
        wb->o.cur_q = s < 0 ? t->n - 1 : s;
        if (wb->o.cur_k < 0 || wb->o.cur_k > wb->o.cur_q) wb->o.cur_k = wb->o.cur_q;
    }
}

static void focus_pane(Workbench *wb, const Trace *t, int pane)
{
    wb->focus_repl = 0;
    wb->focus = pane;
    if (pane == PANE_ATTN && wb->o.cur_q < 0 && t->n > 0) {
        wb->o.cur_q = t->n - 1;
        wb->o.cur_k = 0;
    }
}

static void cycle_focus(Workbench *wb, const Trace *t, int d)
{
    int p = wb->focus;
    for (int i = 0; i < PANE_COUNT; i++) {
        p = ((p + d) % PANE_COUNT + PANE_COUNT) % PANE_COUNT;
        if (wb->pane[p].w > 0) break;
    }
    focus_pane(wb, t, p);
}

static void move_cursor(Workbench *wb, const Trace *t, int dq, int dk)
{
    int n = t->n;
    if (n <= 0) return;
    int bs = wb->geo.bs > 0 ? wb->geo.bs : 1;
    VizOpts *o = &wb->o;
    if (o->cur_q < 0) { o->cur_q = n - 1; o->cur_k = 0; }
    o->cur_q += dq * bs;
    o->cur_k += dk * bs;
    if (o->cur_q < 0) o->cur_q = 0;
    if (o->cur_q >= n) o->cur_q = n - 1;
    if (o->cur_k < 0) o->cur_k = 0;
    if (o->cur_k >= n) o->cur_k = n - 1;
}

/* Zooms the attention pane in (halving the tokens per cell) or out (doubling them; back to
 * the whole matrix once it fits), keeping the cursor in the middle of the window. */
static void zoom_step(Workbench *wb, const Trace *t, int in)
{
    VizOpts *o = &wb->o;
    int n = t->n;
    if (n <= 0) return;
    int cur = o->zoom > 0 ? o->zoom : wb->geo.bs > 0 ? wb->geo.bs : 1;
    int nz;
    if (in) {
        nz = o->zoom > 0 ? cur / 2 : cur / 2 > 0 ? cur / 2 : 1;
        if (nz < 1) nz = 1;
        if (o->zoom == 1) { layout_flash(wb, "zoom: already one token per cell"); return; }
    } else {
        if (o->zoom <= 0) { layout_flash(wb, "zoom: the whole matrix is shown"); return; }
        nz = cur * 2;
        int nbz = (n + nz - 1) / nz;
        if (nz >= n || (nbz <= wb->geo.cap_r && nbz * 2 <= wb->geo.cap_c * wb->geo.cw)) {
            o->zoom = 0;
            o->row0 = o->col0 = 0;
            return;
        }
    }
    o->zoom = nz;
    int q = o->cur_q >= 0 ? o->cur_q : n - 1, k = o->cur_k >= 0 ? o->cur_k : 0;
    int cr = wb->geo.cap_r > 0 ? wb->geo.cap_r : 1, cc = wb->geo.cap_c > 0 ? wb->geo.cap_c : 1;
    o->row0 = q - cr * nz / 2 > 0 ? q - cr * nz / 2 : 0;
    o->col0 = k - cc * nz / 2 > 0 ? k - cc * nz / 2 : 0;
}

/* Scrolls the zoomed window by rows/cols blocks; the cursor comes along when it would
 * leave the window (the drawing keeps the cursor in view). */
static void scroll_step(Workbench *wb, const Trace *t, int rows, int cols)
{
    VizOpts *o = &wb->o;
    const HeatGeo *g = &wb->geo;
    int n = t->n;
    if (n <= 0) return;
    if (o->zoom <= 0 || g->nb <= 0) {
        layout_flash(wb, "scroll: the whole matrix is shown (+ zooms in)");
        return;
    }
    int bs = g->bs;
    int r0 = g->r0 + rows, c0 = g->c0 + cols;
    if (r0 > g->nb - g->vr) r0 = g->nb - g->vr;
    if (c0 > g->nb - g->vc) c0 = g->nb - g->vc;
    if (r0 < 0) r0 = 0;
    if (c0 < 0) c0 = 0;
    o->row0 = r0 * bs;
    o->col0 = c0 * bs;
    int qlo = r0 * bs, qhi = (r0 + g->vr) * bs - 1, klo = c0 * bs, khi = (c0 + g->vc) * bs - 1;
    if (qhi > n - 1) qhi = n - 1;
    if (khi > n - 1) khi = n - 1;
    if (o->cur_q >= 0) {
        if (o->cur_q < qlo) o->cur_q = qlo;
        if (o->cur_q > qhi) o->cur_q = qhi;
        if (o->cur_k < klo) o->cur_k = klo;
        if (o->cur_k > khi) o->cur_k = khi;
    }
}

/* The id of the highlighted candidate of the distribution on screen, or -1. */
static int candidate_id(const Workbench *wb, const Trace *t)
{
    int pos = wb->o.step < 0 ? t->n : wb->o.step;
    if (wb->o.cand < 0 || !t->dist || pos > t->n || !t->dist[pos] || !t->dist[pos]->probs) return -1;
    int k = wb->o.cand + 1;
    int *idx = xmalloc((size_t)k * sizeof(int));
    int cnt = bars_topk(t->dist[pos]->probs, t->n_vocab, k, idx);
    int id = cnt == k ? idx[k - 1] : -1;
    free(idx);
    return id;
}

static const float mass_steps[] = {1.0f, 0.9f, 0.8f, 0.5f};

int layout_key(Workbench *wb, const Trace *t, int key)
{
    if (key == CRT_KEY_NONE) return 0;
    int had_flash = wb->flash != NULL;
    layout_flash(wb, NULL);
    int fl = had_flash ? LAYOUT_REDRAW : 0;
    if (wb->help) { wb->help = 0; return fl | LAYOUT_REDRAW; }
    switch (key) {
    case CRT_KEY_F(1): wb->help = 1; return fl | LAYOUT_REDRAW;
    case CRT_KEY_F(5): return fl | LAYOUT_STEP | LAYOUT_REDRAW;
    case CRT_KEY_F(6):
        if (wb->focus_repl) focus_pane(wb, t, wb->pane[wb->focus].w ? wb->focus : PANE_ATTN);
        else wb->focus_repl = 1;
        return fl | LAYOUT_REDRAW | (wb->focus_repl ? LAYOUT_TO_REPL : 0);
    case CRT_KEY_F(7): move_layer(wb, t, 1); return fl | LAYOUT_REDRAW;
    case CRT_KEY_F(8): move_head(wb, t, 1); return fl | LAYOUT_REDRAW;
    case CRT_KEY_F(9): wb->model_view = !wb->model_view; return fl | LAYOUT_REDRAW;
    case CRT_KEY_RESIZE: return fl | LAYOUT_REDRAW;
    default: break;
    }
    if (wb->focus_repl) {
        if (key == CRT_KEY_ESC) { focus_pane(wb, t, wb->pane[wb->focus].w ? wb->focus : PANE_ATTN); return fl | LAYOUT_REDRAW; }
        return fl | LAYOUT_UNUSED;
    }
    VizOpts *o = &wb->o;
    switch (key) {
    case CRT_KEY_ESC: wb->focus_repl = 1; return fl | LAYOUT_REDRAW | LAYOUT_TO_REPL;
    case '\t': cycle_focus(wb, t, 1); return fl | LAYOUT_REDRAW;
    case CRT_KEY_BTAB: cycle_focus(wb, t, -1); return fl | LAYOUT_REDRAW;
    case '[': move_layer(wb, t, -1); return fl | LAYOUT_REDRAW;
    case ']': move_layer(wb, t, 1); return fl | LAYOUT_REDRAW;
    case '{': move_head(wb, t, -1); return fl | LAYOUT_REDRAW;
    case '}': move_head(wb, t, 1); return fl | LAYOUT_REDRAW;
    case 'm': wb->model_view = !wb->model_view; if (wb->model_view) focus_pane(wb, t, PANE_ATTN); return fl | LAYOUT_REDRAW;
    case 's': return fl | LAYOUT_STEP | LAYOUT_REDRAW;
    case 'b': return fl | LAYOUT_BACK | LAYOUT_REDRAW;
    case '?': wb->help = 1; return fl | LAYOUT_REDRAW;
    case 'a': o->agg = (VizAgg)((o->agg + 1) % VIZ_AGG_COUNT); return fl | LAYOUT_REDRAW;
    case 'p': o->pool = o->pool == VIZ_POOL_MAX ? VIZ_POOL_MEAN : VIZ_POOL_MAX; return fl | LAYOUT_REDRAW;
    case 'l': o->scale = o->scale == VIZ_SCALE_LOG ? VIZ_SCALE_LINEAR : VIZ_SCALE_LOG; return fl | LAYOUT_REDRAW;
    case 'f': o->hide_first = !o->hide_first; return fl | LAYOUT_REDRAW;
    case 'i': o->show_ids = !o->show_ids; return fl | LAYOUT_REDRAW;
    case 't': {
        int i = 0, n = (int)(sizeof mass_steps / sizeof mass_steps[0]);
        while (i < n && mass_steps[i] != o->mass) i++;
        o->mass = mass_steps[(i + 1) % n];
        return fl | LAYOUT_REDRAW;
    }
    default: break;
    }
    int enter = key == '\r' || key == '\n' || key == CRT_KEY_ENTER;
    switch (wb->focus) {
    case PANE_ATTN:
        if (wb->model_view) {
            if (key == CRT_KEY_UP) move_layer(wb, t, -1);
            else if (key == CRT_KEY_DOWN) move_layer(wb, t, 1);
            else if (key == CRT_KEY_LEFT) move_head(wb, t, -1);
            else if (key == CRT_KEY_RIGHT) move_head(wb, t, 1);
            else if (enter) { wb->model_view = 0; o->agg = VIZ_AGG_HEAD; }
            else return fl | LAYOUT_UNUSED;
            return fl | LAYOUT_REDRAW;
        }
        if (key == CRT_KEY_UP) move_cursor(wb, t, -1, 0);
        else if (key == CRT_KEY_DOWN) move_cursor(wb, t, 1, 0);
        else if (key == CRT_KEY_LEFT) move_cursor(wb, t, 0, -1);
        else if (key == CRT_KEY_RIGHT) move_cursor(wb, t, 0, 1);
        else if (key == CRT_KEY_HOME) { o->cur_k = 0; }
        else if (key == CRT_KEY_END) { o->cur_k = o->cur_q; }
        else if (key == '+' || key == '=') zoom_step(wb, t, 1);
        else if (key == '-' || key == '_') zoom_step(wb, t, 0);
        else if (key == 'z') { o->zoom = 0; o->row0 = o->col0 = 0; }
        else if (key == CRT_KEY_PGUP) scroll_step(wb, t, -(wb->geo.vr > 1 ? wb->geo.vr : 1), 0);
        else if (key == CRT_KEY_PGDN) scroll_step(wb, t, wb->geo.vr > 1 ? wb->geo.vr : 1, 0);
        else if (key == CRT_KEY_SUP) scroll_step(wb, t, -1, 0);
        else if (key == CRT_KEY_SDOWN) scroll_step(wb, t, 1, 0);
        else if (key == '<') scroll_step(wb, t, 0, -(wb->geo.vc > 1 ? wb->geo.vc : 1));
        else if (key == '>') scroll_step(wb, t, 0, wb->geo.vc > 1 ? wb->geo.vc : 1);
        else if (key == CRT_KEY_SLEFT) scroll_step(wb, t, 0, -1);
        else if (key == CRT_KEY_SRIGHT) scroll_step(wb, t, 0, 1);
        else if (enter) o->locked = !o->locked;
        else return fl | LAYOUT_UNUSED;
        return fl | LAYOUT_REDRAW;
    case PANE_TOKENS:
    case PANE_PROBS:
        if (key == CRT_KEY_LEFT) scrub(wb, t, -1);
        else if (key == CRT_KEY_RIGHT) scrub(wb, t, 1);
        else if (key == CRT_KEY_HOME) { o->step = 0; scrub(wb, t, 0); }
        else if (key == CRT_KEY_END) { o->step = -1; o->cand = -1; }
        else if (wb->focus == PANE_PROBS && key == CRT_KEY_UP)
            o->cand = o->cand <= 0 ? 0 : o->cand - 1;
        else if (wb->focus == PANE_PROBS && key == CRT_KEY_DOWN) {
            int k = wb->probs_k > 0 ? wb->probs_k : 1;
            o->cand = o->cand + 1 < k ? o->cand + 1 : k - 1;
        } else if (wb->focus == PANE_PROBS && enter) {
            int id = candidate_id(wb, t);
            if (id < 0) { layout_flash(wb, "↑ ↓ pick a candidate first, then Enter forces it"); return fl | LAYOUT_REDRAW; }
            wb->force_id = id;
            o->cand = -1;
            return fl | LAYOUT_FORCE | LAYOUT_REDRAW;
        }
        else return fl | LAYOUT_UNUSED;
        return fl | LAYOUT_REDRAW;
    case PANE_LENS:
        if (key == CRT_KEY_UP) o->lens_layer = o->lens_layer <= 0 ? 0 : o->lens_layer - 1;
        else if (key == CRT_KEY_DOWN) o->lens_layer = o->lens_layer < t->n_layer ? o->lens_layer + 1 : t->n_layer;
        else return fl | LAYOUT_UNUSED;
        return fl | LAYOUT_REDRAW;
    case PANE_OUTPUT: {
        int page = wb->pane[PANE_OUTPUT].h - 1 > 1 ? wb->pane[PANE_OUTPUT].h - 1 : 1;
        if (key == CRT_KEY_UP) wb->out_scroll++;
        else if (key == CRT_KEY_DOWN) wb->out_scroll--;
        else if (key == CRT_KEY_PGUP) wb->out_scroll += page;
        else if (key == CRT_KEY_PGDN) wb->out_scroll -= page;
        else if (key == CRT_KEY_END) wb->out_scroll = 0;
        else return fl | LAYOUT_UNUSED;
        if (wb->out_scroll > wb->out_n - 1) wb->out_scroll = wb->out_n > 0 ? wb->out_n - 1 : 0;
        if (wb->out_scroll < 0) wb->out_scroll = 0;
        return fl | LAYOUT_REDRAW;
    }
    default:
        return fl | LAYOUT_UNUSED;
    }
}

/* ---- commands ---- */

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -1000000 || v > 1000000) return -1;
    *out = (int)v;
    return 0;
}

static int parse_onoff(const char *s, int *out)
{
    if (!strcmp(s, "on") || !strcmp(s, "1") || !strcmp(s, "yes")) { *out = 1; return 0; }
    if (!strcmp(s, "off") || !strcmp(s, "0") || !strcmp(s, "no")) { *out = 0; return 0; }
    return -1;
}

static const char *view_usage =
    "usage: view layer N | head N | pane tokens|attn|probs|lens|output | model on|off |"
    " agg head|mean|max|rollout | pool max|mean | scale linear|log | hide-first on|off |"
    " mass P | zoom N|fit|in|out | scroll Q K | ids on|off | step N|latest | cursor Q K |"
    " lock on|off | cand N|none | lens-layer N";

int layout_command(Workbench *wb, const Trace *t, int argc, const char *const *argv, char **msg)
{
    *msg = NULL;
    VizOpts *o = &wb->o;
    if (argc >= 1 && !strcmp(argv[0], "presenter")) {
        int on;
        if (argc != 2 || parse_onoff(argv[1], &on)) { *msg = xstrdup("usage: presenter on|off"); return -1; }
        o->presenter = on;
        layout_place(wb, wb->cols, wb->rows);
        *msg = xasprintf("presenter %s", on ? "on: fewer panes, bigger cells and bars" : "off");
        return 0;
    }
    if (argc < 3 && !(argc == 2 && !strcmp(argv[1], "latest"))) {
        if (argc == 2 && !strcmp(argv[1], "help")) { *msg = xstrdup(view_usage); return 0; }
        *msg = xstrdup(view_usage);
        return -1;
    }
    const char *what = argv[1], *arg = argv[2];
    int v;
    if (!strcmp(what, "layer") || !strcmp(what, "head") || !strcmp(what, "lens-layer")) {
        int lim = !strcmp(what, "head") ? t->n_head : !strcmp(what, "layer") ? t->n_layer : t->n_layer + 1;
        if (parse_int(arg, &v) || v < 0 || (lim > 0 && v >= lim)) {
            *msg = lim > 0 ? xasprintf("view %s: expected 0..%d, got '%s'", what, lim - 1, arg)
                           : xasprintf("view %s: expected a number >= 0, got '%s'", what, arg);
            return -1;
        }
        if (!strcmp(what, "layer")) o->layer = v;
        else if (!strcmp(what, "head")) { o->head = v; o->agg = VIZ_AGG_HEAD; }
        else o->lens_layer = v;
        *msg = xasprintf("view: %s %d", what, v);
        return 0;
    }
    if (!strcmp(what, "pane")) {
        int p = layout_pane_by_name(arg);
        if (p < 0) { *msg = xasprintf("view pane: unknown pane '%s' (tokens, attn, probs, lens, output)", arg); return -1; }
        if (!strcmp(arg, "model")) wb->model_view = 1;
        else if (p == PANE_ATTN) wb->model_view = 0;
        if (wb->pane[p].w == 0 && !wb->too_small) {
            *msg = xasprintf("view pane: '%s' is not shown at this terminal size", arg);
            return -1;
        }
        focus_pane(wb, t, p);
        *msg = xasprintf("view: pane %s has focus (Esc returns to the command line)", layout_pane_name(p));
        return 0;
    }
    if (!strcmp(what, "model")) {
        if (parse_onoff(arg, &v)) { *msg = xstrdup("view model: on or off"); return -1; }
        wb->model_view = v;
        *msg = xasprintf("view: model view %s", v ? "on" : "off");
        return 0;
    }
    if (!strcmp(what, "agg")) {
        static const char *const names[VIZ_AGG_COUNT] = {"head", "mean", "max", "rollout"};
        for (int i = 0; i < VIZ_AGG_COUNT; i++)
            if (!strcmp(arg, names[i])) { o->agg = (VizAgg)i; *msg = xasprintf("view: aggregate %s", arg); return 0; }
        *msg = xasprintf("view agg: head, mean, max or rollout, not '%s'", arg);
        return -1;
    }
    if (!strcmp(what, "pool")) {
        if (!strcmp(arg, "max")) o->pool = VIZ_POOL_MAX;
        else if (!strcmp(arg, "mean")) o->pool = VIZ_POOL_MEAN;
        else { *msg = xasprintf("view pool: max or mean, not '%s'", arg); return -1; }
        *msg = xasprintf("view: blocks pooled by %s", arg);
        return 0;
    }
    if (!strcmp(what, "scale")) {
        if (!strcmp(arg, "linear")) o->scale = VIZ_SCALE_LINEAR;
        else if (!strcmp(arg, "log")) o->scale = VIZ_SCALE_LOG;
        else { *msg = xasprintf("view scale: linear or log, not '%s'", arg); return -1; }
        *msg = xasprintf("view: %s colour scale", arg);
        return 0;
    }
    if (!strcmp(what, "hide-first") || !strcmp(what, "ids") || !strcmp(what, "lock")) {
        if (parse_onoff(arg, &v)) { *msg = xasprintf("view %s: on or off", what); return -1; }
        if (!strcmp(what, "hide-first")) o->hide_first = v;
        else if (!strcmp(what, "ids")) o->show_ids = v;
        else o->locked = v;
        *msg = xasprintf("view: %s %s", what, v ? "on" : "off");
        return 0;
    }
    if (!strcmp(what, "mass")) {
        char *end;
        double p = strtod(arg, &end);
        if (end == arg || *end == '%') { if (*end == '%') { p /= 100.0; end++; } }
        if (end == arg || *end || !(p > 0.0) || p > 100.0) {
            *msg = xasprintf("view mass: a fraction in (0, 1] or a percentage, not '%s'", arg);
            return -1;
        }
        if (p > 1.0) p /= 100.0;
        o->mass = (float)p;
        *msg = xasprintf("view: rows show their largest weights up to %g%% of the mass", p * 100.0);
        return 0;
    }
    if (!strcmp(what, "step")) {
        if (!strcmp(arg, "latest")) { o->step = -1; *msg = xstrdup("view: following the latest step"); return 0; }
        if (parse_int(arg, &v) || v < 0 || v > t->n) {
            *msg = xasprintf("view step: expected 0..%d or latest, got '%s'", t->n, arg);
            return -1;
        }
        o->step = v == t->n ? -1 : v;
        if (t->n > 0) scrub(wb, t, 0);
        *msg = xasprintf("view: step %d", v);
        return 0;
    }
    if (!strcmp(what, "zoom")) {
        if (!strcmp(arg, "fit")) {
            o->zoom = 0;
            o->row0 = o->col0 = 0;
            *msg = xstrdup("view: zoom fit (the whole matrix, pooled into blocks when it does not fit)");
            return 0;
        }
        if (!strcmp(arg, "in") || !strcmp(arg, "out")) {
            layout_flash(wb, NULL);
            zoom_step(wb, t, !strcmp(arg, "in"));
            if (wb->flash) { *msg = xstrdup(wb->flash); layout_flash(wb, NULL); return 0; }
        } else if (parse_int(arg, &v) || v < 1) {
            *msg = xasprintf("view zoom: tokens per cell (1 = each its own cell), fit, in or out; not '%s'", arg);
            return -1;
        } else {
            o->zoom = v;
        }
        *msg = o->zoom <= 0 ? xstrdup("view: zoom fit (the whole matrix)")
             : o->zoom == 1 ? xstrdup("view: zoom 1, a token per cell; view scroll Q K or PgUp PgDn < > move the window")
                            : xasprintf("view: zoom %d, blocks of %d×%d tokens; view scroll Q K moves the window",
                                        o->zoom, o->zoom, o->zoom);
        return 0;
    }
    if (!strcmp(what, "scroll")) {
        int q, k;
        if (argc != 4 || parse_int(argv[2], &q) || parse_int(argv[3], &k) || q < 0 || k < 0 ||
            (t->n > 0 && (q >= t->n || k >= t->n))) {
            *msg = t->n > 0 ? xasprintf("view scroll: expected QUERY KEY in 0..%d (the window's top-left cell)", t->n - 1)
                            : xstrdup("view scroll: expected QUERY KEY (the window's top-left cell)");
            return -1;
        }
        o->row0 = q;
        o->col0 = k;
        /* the cursor comes along when it would fall outside the window */
        if (o->cur_q >= 0) {
            const HeatGeo *g = &wb->geo;
            int bs = g->bs > 0 ? g->bs : 1;
            int hq = g->vr > 0 ? q + g->vr * bs : q + 1, hk = g->vc > 0 ? k + g->vc * bs : k + 1;
            if (o->cur_q < q || o->cur_q >= hq) o->cur_q = q;
            if (o->cur_k < k || o->cur_k >= hk) o->cur_k = k;
        }
        *msg = o->zoom > 0 ? xasprintf("view: window from query %d, key %d", q, k)
                           : xasprintf("view: window from query %d, key %d (it moves once zoomed in: view zoom N)", q, k);
        return 0;
    }
    if (!strcmp(what, "cand")) {
        if (!strcmp(arg, "none")) { o->cand = -1; *msg = xstrdup("view: no candidate highlighted"); return 0; }
        if (parse_int(arg, &v) || v < 1 || v > 1000) {
            *msg = xasprintf("view cand: a rank from 1 (the most probable) or none, not '%s'", arg);
            return -1;
        }
        o->cand = v - 1;
        *msg = xasprintf("view: candidate %d highlighted (force it with Enter on the probabilities pane)", v);
        return 0;
    }
    if (!strcmp(what, "cursor")) {
        int q, k;
        if (argc != 4 || parse_int(argv[2], &q) || parse_int(argv[3], &k) || q < 0 || k < 0 ||
            q >= t->n || k >= t->n) {
            *msg = xasprintf("view cursor: expected QUERY KEY in 0..%d", t->n - 1);
            return -1;
        }
        o->cur_q = q;
        o->cur_k = k;
        *msg = xasprintf("view: cursor at query %d, key %d", q, k);
        return 0;
    }
    *msg = xasprintf("view: unknown setting '%s'; %s", what, view_usage);
    return -1;
}

static int parse_agg(const char *s, VizAgg *out)
{
    static const char *const names[VIZ_AGG_COUNT] = {"head", "mean", "max", "rollout"};
    for (int i = 0; i < VIZ_AGG_COUNT; i++)
        if (!strcmp(s, names[i])) { *out = (VizAgg)i; return 0; }
    return -1;
}

int layout_attn_opts(VizOpts *o, const Trace *t, int layer, int argc, const char *const *argv,
                     char **note, char **msg)
{
    static const char *const agg_names[VIZ_AGG_COUNT] = {"head", "mean", "max", "rollout"};
    *note = *msg = NULL;
    if (argc < 1) { *msg = xstrdup("attn: expected L H (H a head number, or mean, max, rollout)"); return -1; }
    o->layer = layer;
    o->presenter = 0;             /* plain text is never drawn for a projector */
    int v, head_given = 0;
    VizAgg agg;
    if (parse_agg(argv[0], &agg) == 0 && agg != VIZ_AGG_HEAD) {
        o->agg = agg;
    } else if (parse_int(argv[0], &v) == 0 && v >= 0 && (t->n_head <= 0 || v < t->n_head)) {
        o->head = v;
        head_given = 1;
    } else {
        *msg = xasprintf("head H must be an integer from 0 to %d (or mean, max, rollout), got '%s'",
                         t->n_head > 0 ? t->n_head - 1 : 0, argv[0]);
        return -1;
    }
    int agg_given = !head_given;
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (parse_agg(w, &agg) == 0) { o->agg = agg; agg_given = 1; }
        else if (!strcmp(w, "log")) o->scale = VIZ_SCALE_LOG;
        else if (!strcmp(w, "linear")) o->scale = VIZ_SCALE_LINEAR;
        else if (!strcmp(w, "hide-first") || !strcmp(w, "hidefirst")) o->hide_first = 1;
        else if (!strcmp(w, "show-first")) o->hide_first = 0;
        else if (!strcmp(w, "mass") && next) {
            char *end;
            double p = strtod(next, &end);
            if (*end == '%') { p /= 100.0; end++; }
            else if (p > 1.0) p /= 100.0;
            if (end == next || *end || !(p > 0.0) || p > 1.0) {
                *msg = xasprintf("attn: mass takes a fraction in (0, 1] or a percentage, not '%s'", next);
                return -1;
            }
            o->mass = (float)p;
            i++;
        } else if (!strcmp(w, "pool") && next && (!strcmp(next, "max") || !strcmp(next, "mean"))) {
            o->pool = !strcmp(next, "max") ? VIZ_POOL_MAX : VIZ_POOL_MEAN;
            i++;
        } else if (!strcmp(w, "zoom") && next) {
            if (!strcmp(next, "fit")) o->zoom = 0;
            else if (parse_int(next, &v) == 0 && v >= 1) o->zoom = v;
            else { *msg = xasprintf("attn: zoom takes tokens per cell (1, 2, ...) or fit, not '%s'", next); return -1; }
            i++;
        } else {
            *msg = xasprintf("attn: unknown option '%s' (head, mean, max, rollout, log, linear, hide-first, "
                             "show-first, mass P, pool max|mean, zoom N|fit)", w);
            return -1;
        }
    }
    if (head_given && !agg_given && o->agg != VIZ_AGG_HEAD)
        *note = xasprintf("(view agg %s is in force, so head %d is not used alone: add 'head' for one head)",
                          agg_names[o->agg], o->head);
    return 0;
}

int layout_lens_span(const Workbench *wb, const Trace *t, int *pos0, int *n_pos)
{
    Rect r = wb->pane[PANE_LENS];
    if (wb->too_small || r.w <= 0 || t->n <= 0) return 0;
    int fit = (r.w - 7) / 8;      /* lensview's narrowest column */
    if (fit < 1) fit = 1;
    int want = (r.w - 7) / 10;    /* a comfortable column */
    if (want > fit) want = fit;
    if (want < 1) want = 1;
    if (want > t->n) want = t->n;
    *n_pos = want;
    *pos0 = t->n - want;
    return 1;
}
