/* export — figures through cairo and data files with the exact numbers (see export.h).
 *
 * Owns: figure geometry, the title and colour bar, the PNG/SVG/PDF surfaces, CSV and JSON
 * writing.  Does not own: the numbers (HeatMatrix from heatmap.c, the trace's StepDist)
 * or the colour ramp (ramp.c, the same viridis the terminal approximates).
 * Text uses cairo's "toy" font API with the family "DejaVu Sans" (fontconfig finds it;
 * fonts-dejavu-core is a dependency), which has Latin, Cyrillic and the visible-whitespace
 * symbols the views use.  Figures are sized in whole pixels so PNG cells are crisp.
 */
#include "viz/export.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/err.h"
#include "viz/ramp.h"

#define FONT "DejaVu Sans"
#define MARGIN 16.0
#define TITLE_FS 15.0
#define LABEL_FS 11.0
#define TICK_FS 10.0

/* LeakSanitizer reads this hook (when the program is built with -fsanitize=address) to
 * learn about leaks that are not ours: fontconfig, which cairo's toy font API starts,
 * keeps allocations it never frees.  Only that library's frames are suppressed. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

int export_format(const char *path, ExportFormat *fmt)
{
    const char *dot = strrchr(path, '.');
    static const struct { const char *ext; ExportFormat f; } tab[] = {
        {"png", EXPORT_PNG}, {"svg", EXPORT_SVG}, {"pdf", EXPORT_PDF},
        {"csv", EXPORT_CSV}, {"json", EXPORT_JSON},
    };
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
            if (!strcasecmp(dot + 1, tab[i].ext)) { *fmt = tab[i].f; return 0; }
    return ERR(ERR_ARG, "%s: unknown file type (use .png, .svg, .pdf, .csv or .json)", path);
}

void export_cell_rgb(int state, float w, VizScale scale, double rgb[3])
{
    if (state == HEAT_IN || state == HEAT_BELOW) {
        ramp_rgb(heatmap_level(w, scale), rgb);
        if (state == HEAT_BELOW)   /* faded toward white: not among the row's largest */
            for (int c = 0; c < 3; c++) rgb[c] = 0.35 * rgb[c] + 0.65;
        return;
    }
    if (state == HEAT_HIDDEN) { rgb[0] = 0.96; rgb[1] = 0.85; rgb[2] = 0.85; return; }
    /* outside the sparse pattern: a mid blue-grey, far from every ramp colour, so a pruned
     * cell never reads as a weight near zero (the ramp's dark violet) */
    if (state == HEAT_PRUNED) { rgb[0] = 0.62; rgb[1] = 0.66; rgb[2] = 0.74; return; }
    rgb[0] = rgb[1] = rgb[2] = 0.90;   /* outside the causal mask */
}

/* ---- text helpers ---- */

/* Bytes as UTF-8 for data files and titles: invalid bytes become the text \xNN. */
static char *bytes_data(const char *s, size_t n)
{
    size_t len = 0;
    char *out = xmalloc(n * 4 + 1);
    while (n) {
        uint32_t cp;
        int l = utf8_decode(s, n, &cp);
        if (l == 0) {
            len += (size_t)sprintf(out + len, "\\x%02X", (unsigned char)*s);
            l = 1;
        } else {
            memcpy(out + len, s, (size_t)l);
            len += (size_t)l;
        }
        s += l;
        n -= (size_t)l;
    }
    out[len] = 0;
    return out;
}

static char *token_data(const Trace *t, int id)
{
    if (!t->vocab || !t->vocab_len || id < 0 || id >= t->n_vocab || !t->vocab[id]) return xasprintf("#%d", id);
    return bytes_data(t->vocab[id], t->vocab_len[id]);
}

/* The prompt as one line for a title, at most max display columns.  Token bytes are
 * joined before decoding, so a letter split across two byte-level tokens reads whole. */
static char *prompt_line(const Trace *t, int max)
{
    size_t cap = 64, len = 0;
    char *raw = xmalloc(cap);
    int np = t->n_prompt > 0 ? t->n_prompt : t->n;
    for (int i = 0; i < np && i < t->n; i++) {
        int id = t->tokens[i];
        const char *b;
        size_t m;
        char num[24];
        if (t->vocab && t->vocab_len && id >= 0 && id < t->n_vocab && t->vocab[id]) {
            b = t->vocab[id];
            m = t->vocab_len[id];
        } else {
            m = (size_t)snprintf(num, sizeof num, "#%d", id);
            b = num;
        }
        if (len + m + 1 > cap) {
            while (len + m + 1 > cap) cap *= 2;
            raw = xrealloc(raw, cap);
        }
        memcpy(raw + len, b, m);
        len += m;
    }
    for (size_t i = 0; i < len; i++)
        if (raw[i] == '\n' || raw[i] == '\r' || raw[i] == '\t' || raw[i] == 0) raw[i] = ' ';
    char *out = bytes_data(raw, len);
    free(raw);
    if (utf8_width(out) > max) {
        /* cut at a code point boundary */
        size_t i = 0;
        int w = 0;
        while (out[i]) {
            uint32_t cp;
            int l = utf8_decode(out + i, strlen(out + i), &cp);
            if (l == 0) l = 1;
            if (w + 1 > max - 1) break;
            w++;
            i += (size_t)l;
        }
        out = xrealloc(out, i + 4);
        memcpy(out + i, "…", 4);
    }
    return out;
}

static double text_w(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static void text_at(cairo_t *cr, double x, double y, const char *s)
{
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static void rgb(cairo_t *cr, const double c[3])
{
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

/* ---- surfaces ---- */

static cairo_t *measure_ctx(cairo_surface_t **surf)
{
    *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    return cairo_create(*surf);
}

static cairo_surface_t *open_surface(ExportFormat f, const char *path, int w, int h)
{
    switch (f) {
    case EXPORT_SVG: return cairo_svg_surface_create(path, w, h);
    case EXPORT_PDF: return cairo_pdf_surface_create(path, w, h);
    default: return cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    }
}

static int close_surface(cairo_surface_t *s, cairo_t *cr, ExportFormat f, const char *path)
{
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && f == EXPORT_PNG) st = cairo_surface_write_to_png(s, path);
    cairo_surface_finish(s);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return ERR(ERR_IO, "%s: cannot write the figure (%s)", path, cairo_status_to_string(st));
    return 0;
}

static void title_lines(cairo_t *cr, double x, double y, const char *l1, const char *l2)
{
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    font(cr, TITLE_FS, 1);
    text_at(cr, x, y + TITLE_FS, l1);
    font(cr, LABEL_FS, 0);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text_at(cr, x, y + TITLE_FS + 6 + LABEL_FS, l2);
}
#define TITLE_H (TITLE_FS + 6 + LABEL_FS + 12)

/* Swatches under the colour bar besides "outside the causal mask". */
enum { SW_HIDDEN = 1, SW_PRUNED = 2 };

/* The colour bar: height h at (x, y), ticks with values, and swatches for the cells that
 * are not weights (sw: SW_* bits).  Returns the width it takes. */
static double colour_bar(cairo_t *cr, double x, double y, double h, VizScale scale, int draw, int sw)
{
    const double bw = 16;
    font(cr, TICK_FS, 0);
    const char *ticks_lin[] = {"0", "0.25", "0.5", "0.75", "1"};
    const char *ticks_log[] = {"1e-4", "1e-3", "0.01", "0.1", "1"};
    const char *const *ticks = scale == VIZ_SCALE_LOG ? ticks_log : ticks_lin;
    double tw = 0;
    for (int i = 0; i < 5; i++) if (text_w(cr, ticks[i]) > tw) tw = text_w(cr, ticks[i]);
    const char *names[3] = {"outside the causal mask", "outside the sparse pattern", "hidden (first token)"};
    int states[3] = {HEAT_MASKED, HEAT_PRUNED, HEAT_HIDDEN};
    int shown[3] = {1, (sw & SW_PRUNED) != 0, (sw & SW_HIDDEN) != 0};
    double sww = 0;
    for (int i = 0; i < 3; i++)
        if (shown[i] && 16 + text_w(cr, names[i]) > sww) sww = 16 + text_w(cr, names[i]);
    double wtot = bw + 6 + tw;
    if (sww > wtot) wtot = sww;
    if (!draw) return wtot;
    int steps = (int)h;
    for (int i = 0; i < steps; i++) {
        double c[3];
        ramp_rgb(1.0f - (float)i / (float)(steps > 1 ? steps - 1 : 1), c);
        rgb(cr, c);
        cairo_rectangle(cr, x, y + i, bw, 1.0);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, x + 0.5, y + 0.5, bw - 1, h - 1);
    cairo_stroke(cr);
    for (int i = 0; i < 5; i++) {
        double ty = y + h - (h - 1) * i / 4.0;
        cairo_move_to(cr, x + bw, ty);
        cairo_line_to(cr, x + bw + 3, ty);
        cairo_stroke(cr);
        text_at(cr, x + bw + 6, ty + TICK_FS / 2 - 1, ticks[i]);
    }
    double sy = y + h + 14;
    for (int i = 0; i < 3; i++) {
        if (!shown[i]) continue;
        double c[3];
        export_cell_rgb(states[i], 0, scale, c);
        rgb(cr, c);
        cairo_rectangle(cr, x, sy, 12, 12);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text_at(cr, x + 16, sy + 10, names[i]);
        sy += 16;
    }
    return wtot;
}

/* ---- the attention / pattern figure ---- */

typedef struct {
    const HeatMatrix *m;
    char **labels;          /* [n] "pos token" */
    char *title, *subtitle;
    VizScale scale;
    int pattern;            /* draw in/out of the mask only */
    int swatches;           /* SW_* swatches under the colour bar */
} MatrixFig;

static void matrix_layout(const MatrixFig *fig, ExportLayout *L, double *lab_fs, int *every, double *barw)
{
    cairo_surface_t *ms;
    cairo_t *cr = measure_ctx(&ms);
    int n = fig->m->n;
    double cell = floor(560.0 / (n > 0 ? n : 1));
    if (cell > 36) cell = 36;
    if (cell < 3) cell = 3;
    double fs = cell * 0.85 < LABEL_FS ? cell * 0.85 : LABEL_FS;
    if (fs < 7) fs = 7;
    int ev = (int)ceil((fs + 2) / cell);
    font(cr, fs, 0);
    double lw = 0;
    for (int i = 0; i < n; i++) if (text_w(cr, fig->labels[i]) > lw) lw = text_w(cr, fig->labels[i]);
    double bw = fig->pattern ? 0 : colour_bar(cr, 0, 0, 100, fig->scale, 0, fig->swatches);
    font(cr, TITLE_FS, 1);
    double tw = text_w(cr, fig->title);
    font(cr, LABEL_FS, 0);
    double stw = text_w(cr, fig->subtitle);
    cairo_destroy(cr);
    cairo_surface_destroy(ms);
    L->n = n;
    L->cell = cell;
    L->x0 = floor(MARGIN + 16 + lw + 6);
    L->y0 = floor(MARGIN + TITLE_H + 16 + lw + 6);
    double grid = n * cell;
    double barh = grid > 160 ? grid : 160;
    double right = L->x0 + grid + (fig->pattern ? 0 : 24 + bw);
    if (fig->pattern) {
        cairo_surface_t *s2;
        cairo_t *c2 = measure_ctx(&s2);
        font(c2, TICK_FS, 0);
        double legend = 16 + text_w(c2, "outside the sparse pattern");
        cairo_destroy(c2);
        cairo_surface_destroy(s2);
        right += 24 + legend;
    }
    double w = right + MARGIN;
    if (MARGIN + tw + MARGIN > w) w = MARGIN + tw + MARGIN;
    if (MARGIN + stw + MARGIN > w) w = MARGIN + stw + MARGIN;
    double bottom = L->y0 + (fig->pattern ? grid : (barh > grid ? barh : grid) + 48);
    L->width = (int)ceil(w);
    L->height = (int)ceil(bottom + 24 + MARGIN);
    *lab_fs = fs;
    *every = ev;
    *barw = barh;
}

static void matrix_draw(cairo_t *cr, const MatrixFig *fig, const ExportLayout *L, double fs, int every, double barh)
{
    const HeatMatrix *m = fig->m;
    int n = m->n;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    title_lines(cr, MARGIN, MARGIN, fig->title, fig->subtitle);
    /* cells */
    for (int q = 0; q < n; q++)
        for (int k = 0; k < n; k++) {
            int st = m->state[(size_t)q * n + k];
            double c[3];
            if (fig->pattern) {
                if (st == HEAT_MASKED || st == HEAT_PRUNED) export_cell_rgb(st, 0, fig->scale, c);
                else ramp_rgb(0.3f, c);
            } else {
                export_cell_rgb(st, m->w[(size_t)q * n + k], fig->scale, c);
            }
            rgb(cr, c);
            cairo_rectangle(cr, L->x0 + k * L->cell, L->y0 + q * L->cell, L->cell, L->cell);
            cairo_fill(cr);
        }
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, L->x0 - 0.5, L->y0 - 0.5, n * L->cell + 1, n * L->cell + 1);
    cairo_stroke(cr);
    /* labels: queries left of the rows, keys rotated above the columns */
    font(cr, fs, 0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    for (int i = 0; i < n; i += every) {
        double w = text_w(cr, fig->labels[i]);
        text_at(cr, L->x0 - 6 - w, L->y0 + i * L->cell + L->cell / 2 + fs * 0.35, fig->labels[i]);
        cairo_save(cr);
        cairo_translate(cr, L->x0 + i * L->cell + L->cell / 2 + fs * 0.35, L->y0 - 6);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, fig->labels[i]);
        cairo_restore(cr);
    }
    /* axis names */
    font(cr, LABEL_FS, 1);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text_at(cr, L->x0, MARGIN + TITLE_H + LABEL_FS - 2, "keys →");
    cairo_save(cr);
    cairo_translate(cr, MARGIN + LABEL_FS, L->y0 + text_w(cr, "queries →"));
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, "queries →");
    cairo_restore(cr);
    font(cr, TICK_FS, 0);
    double by = L->y0 + n * L->cell + 20;
    if (!fig->pattern && barh > n * L->cell) by = L->y0 + barh + 48 + 4;
    text_at(cr, L->x0, by + TICK_FS, "rows = queries, columns = keys");
    double bx = L->x0 + n * L->cell + 24;
    if (fig->pattern) {
        double c[3];
        ramp_rgb(0.3f, c);
        rgb(cr, c);
        cairo_rectangle(cr, bx, L->y0, 12, 12);
        cairo_fill(cr);
        export_cell_rgb(HEAT_MASKED, 0, fig->scale, c);
        rgb(cr, c);
        cairo_rectangle(cr, bx, L->y0 + 18, 12, 12);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text_at(cr, bx + 16, L->y0 + 10, "query sees key");
        text_at(cr, bx + 16, L->y0 + 28, "outside the causal mask");
        if (m->has_pruned) {
            export_cell_rgb(HEAT_PRUNED, 0, fig->scale, c);
            rgb(cr, c);
            cairo_rectangle(cr, bx, L->y0 + 36, 12, 12);
            cairo_fill(cr);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            text_at(cr, bx + 16, L->y0 + 46, "outside the sparse pattern");
        }
    } else {
        colour_bar(cr, bx, L->y0, barh, fig->scale, 1, fig->swatches);
    }
}

static char **pos_labels(const Trace *t, int n)
{
    char **lab = xcalloc((size_t)n, sizeof(char *));
    for (int i = 0; i < n; i++) {
        char *s = tokens_escape(t, t->tokens[i]);
        lab[i] = xasprintf("%d %s", i, s);
        free(s);
    }
    return lab;
}

static void free_labels(char **lab, int n)
{
    for (int i = 0; i < n; i++) free(lab[i]);
    free(lab);
}

static int write_matrix_fig(const MatrixFig *fig, ExportFormat f, const char *path, ExportLayout *out)
{
    ExportLayout L;
    double fs, barh;
    int every;
    matrix_layout(fig, &L, &fs, &every, &barh);
    if (out) *out = L;
    cairo_surface_t *s = open_surface(f, path, L.width, L.height);
    cairo_t *cr = cairo_create(s);
    matrix_draw(cr, fig, &L, fs, every, barh);
    return close_surface(s, cr, f, path);
}

/* ---- data files ---- */

static FILE *open_data(const char *path, int *rc)
{
    FILE *f = fopen(path, "w");
    if (!f) *rc = ERR(ERR_IO, "%s: %s", path, strerror(errno));
    return f;
}

static int close_data(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return ERR(ERR_IO, "%s: write failed", path);
    return 0;
}

static void csv_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int dump_json(json_t *root, const char *path)
{
    int r = json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(9));
    json_decref(root);
    if (r != 0) return ERR(ERR_IO, "%s: cannot write JSON", path);
    return 0;
}

static json_t *json_tokens(const Trace *t)
{
    json_t *a = json_array();
    for (int i = 0; i < t->n; i++) {
        char *s = token_data(t, t->tokens[i]);
        json_array_append_new(a, json_pack("{s:i, s:i, s:s}", "pos", i, "id", t->tokens[i], "text", s));
        free(s);
    }
    return a;
}

/* layer: whose mask and kernel are named (-1: layer 0's, for views of every layer). */
static json_t *json_meta(const Trace *t, const char *kind, int layer)
{
    char *p = prompt_line(t, 1 << 20);
    int l = layer >= 0 ? layer : 0;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "kind", kind,
                          "model", t->model_name ? t->model_name : "",
                          "mask", viz_mask_name(t, l),
                          "kernel", viz_kernel_name(t, l),
                          "prompt", p, "n", t->n, "n_layer", t->n_layer, "n_head", t->n_head);
    free(p);
    return o;
}

/* What each cell is, for data files: a weight ("in", "below" the mass threshold) or why not. */
static const char *cell_state_name(int st)
{
    switch (st) {
    case HEAT_IN: return "in";
    case HEAT_BELOW: return "below";
    case HEAT_HIDDEN: return "hidden";
    case HEAT_PRUNED: return "pattern";
    default: return "mask";
    }
}

static json_t *json_states(const HeatMatrix *m)
{
    json_t *rows = json_array();
    for (int q = 0; q < m->n; q++) {
        json_t *row = json_array();
        for (int k = 0; k < m->n; k++)
            json_array_append_new(row, json_string(cell_state_name(m->state[(size_t)q * m->n + k])));
        json_array_append_new(rows, row);
    }
    return rows;
}

/* The weight as written: exact for cells shown, null/empty otherwise. */
static int cell_has_value(int st)
{
    return st == HEAT_IN || st == HEAT_BELOW;
}

static json_t *json_matrix(const HeatMatrix *m)
{
    json_t *rows = json_array();
    for (int q = 0; q < m->n; q++) {
        json_t *row = json_array();
        for (int k = 0; k < m->n; k++) {
            int st = m->state[(size_t)q * m->n + k];
            json_array_append_new(row, cell_has_value(st) ? json_real(m->w[(size_t)q * m->n + k]) : json_null());
        }
        json_array_append_new(rows, row);
    }
    return rows;
}

static const char *agg_key(VizAgg a)
{
    static const char *const names[VIZ_AGG_COUNT] = {"head", "mean", "max", "rollout"};
    return a >= 0 && a < VIZ_AGG_COUNT ? names[a] : "head";
}

static int write_matrix_csv(const Trace *t, const HeatMatrix *m, const char *path, int pattern)
{
    int rc = 0;
    FILE *f = open_data(path, &rc);
    if (!f) return rc;
    fputs("query,query_token", f);
    for (int k = 0; k < m->n; k++) fprintf(f, ",%d", k);
    fputc('\n', f);
    for (int q = 0; q < m->n; q++) {
        char *s = token_data(t, t->tokens[q]);
        fprintf(f, "%d,", q);
        csv_str(f, s);
        free(s);
        for (int k = 0; k < m->n; k++) {
            int st = m->state[(size_t)q * m->n + k];
            fputc(',', f);
            if (pattern) fputc(st == HEAT_MASKED || st == HEAT_PRUNED ? '0' : '1', f);
            else if (cell_has_value(st)) fprintf(f, "%.9g", (double)m->w[(size_t)q * m->n + k]);
        }
        fputc('\n', f);
    }
    return close_data(f, path);
}

/* layer: whose mask or pattern the title names (-1: every layer's when they agree). */
static char *title_for(const Trace *t, const char *what, int layer)
{
    int l = layer >= 0 ? layer : 0;
    int same = 1;
    for (int j = 1; layer < 0 && t->mask_names && j < t->n_layer; j++)
        if (strcmp(viz_mask_name(t, j), viz_mask_name(t, 0)) != 0) same = 0;
    const char *name = same ? viz_mask_name(t, l) : "per-layer";
    int pat = t->patterns && t->patterns[l] && same;
    return xasprintf("%s · %s · %s%s%s", t->model_name ? t->model_name : "model", what,
                     pat ? "pattern " : "", name, pat ? "" : same ? " mask" : " masks");
}

static char *subtitle_for(const Trace *t)
{
    char *p = prompt_line(t, 90);
    char *s = xasprintf("prompt: %s", p);
    free(p);
    return s;
}

int export_attn(const Trace *t, const VizOpts *o, const char *path, ExportLayout *layout)
{
    ExportFormat f;
    int rc = export_format(path, &f);
    if (rc) return rc;
    HeatMatrix m;
    if (heatmap_matrix(&m, t, o) != 0) {
        heatmap_matrix_done(&m);
        return ERR(ERR_STATE, "%s: no attention to export (layer %d head %d; capture on, and a prompt?)",
                   path, o->layer, o->head);
    }
    if (f == EXPORT_CSV) rc = write_matrix_csv(t, &m, path, 0);
    else if (f == EXPORT_JSON) {
        json_t *root = json_meta(t, "attention", o->layer);
        json_object_set_new(root, "layer", json_integer(o->layer));
        json_object_set_new(root, "head", json_integer(o->agg == VIZ_AGG_HEAD ? o->head : -1));
        json_object_set_new(root, "aggregate", json_string(agg_key(o->agg)));
        json_object_set_new(root, "what", json_string(m.what));
        json_object_set_new(root, "hide_first", json_boolean(o->hide_first));
        json_object_set_new(root, "mass", json_real(o->mass));
        json_object_set_new(root, "rows", json_string("queries"));
        json_object_set_new(root, "cols", json_string("keys"));
        json_object_set_new(root, "tokens", json_tokens(t));
        json_object_set_new(root, "weights", json_matrix(&m));
        json_object_set_new(root, "cells", json_states(&m));
        rc = dump_json(root, path);
    } else {
        char *what = xasprintf("%s%s%s", m.what, o->hide_first ? " · first token hidden, renormalised" : "",
                               o->scale == VIZ_SCALE_LOG ? " · log scale" : "");
        MatrixFig fig = {&m, pos_labels(t, m.n), title_for(t, what, o->layer), subtitle_for(t), o->scale, 0,
                         (o->hide_first ? SW_HIDDEN : 0) | (m.has_pruned ? SW_PRUNED : 0)};
        rc = write_matrix_fig(&fig, f, path, layout);
        free_labels(fig.labels, m.n);
        free(fig.title);
        free(fig.subtitle);
        free(what);
    }
    heatmap_matrix_done(&m);
    return rc;
}

int export_pattern(const Trace *t, const VizOpts *o, const char *path, ExportLayout *layout)
{
    ExportFormat f;
    int rc = export_format(path, &f);
    if (rc) return rc;
    VizOpts one = *o;
    one.agg = VIZ_AGG_MEAN;   /* a key is in the pattern when any head may see it */
    one.hide_first = 0;
    one.mass = 1.0f;
    HeatMatrix m;
    if (heatmap_matrix(&m, t, &one) != 0) {
        heatmap_matrix_done(&m);
        return ERR(ERR_STATE, "%s: no attention captured, so no pattern to export", path);
    }
    if (f == EXPORT_CSV) rc = write_matrix_csv(t, &m, path, 1);
    else if (f == EXPORT_JSON) {
        json_t *root = json_meta(t, "pattern", o->layer);
        json_object_set_new(root, "layer", json_integer(o->layer));
        json_t *rows = json_array();
        for (int q = 0; q < m.n; q++) {
            json_t *row = json_array();
            for (int k = 0; k < m.n; k++)
                json_array_append_new(row, json_integer(m.state[(size_t)q * m.n + k] == HEAT_MASKED ||
                                                        m.state[(size_t)q * m.n + k] == HEAT_PRUNED ? 0 : 1));
            json_array_append_new(rows, row);
        }
        json_object_set_new(root, "allowed", rows);
        json_object_set_new(root, "tokens", json_tokens(t));
        rc = dump_json(root, path);
    } else {
        char *what = xasprintf("attention pattern of layer %d", o->layer);
        MatrixFig fig = {&m, pos_labels(t, m.n), title_for(t, what, o->layer), subtitle_for(t), o->scale, 1, 0};
        rc = write_matrix_fig(&fig, f, path, layout);
        free_labels(fig.labels, m.n);
        free(fig.title);
        free(fig.subtitle);
        free(what);
    }
    heatmap_matrix_done(&m);
    return rc;
}

/* ---- the model grid ---- */

int export_model(const Trace *t, const VizOpts *o, const char *path)
{
    ExportFormat f;
    int rc = export_format(path, &f);
    if (rc) return rc;
    int L = t->n_layer, NH = t->n_head, n = t->n;
    if (!t->have_attn || n <= 0 || L <= 0 || NH <= 0)
        return ERR(ERR_STATE, "%s: no attention captured, so no model view to export", path);
    VizOpts one = *o;
    one.agg = VIZ_AGG_HEAD;
    HeatMatrix *ms = xcalloc((size_t)L * NH, sizeof(HeatMatrix));
    for (int l = 0; l < L; l++)
        for (int h = 0; h < NH; h++) {
            one.layer = l;
            one.head = h;
            heatmap_matrix(&ms[l * NH + h], t, &one);
        }
    if (f == EXPORT_CSV) {
        FILE *fp = open_data(path, &rc);
        if (fp) {
            fputs("layer,head,query,key,weight\n", fp);
            for (int l = 0; l < L; l++)
                for (int h = 0; h < NH; h++) {
                    const HeatMatrix *m = &ms[l * NH + h];
                    for (int q = 0; q < m->n; q++)
                        for (int k = 0; k < m->n; k++)
                            if (cell_has_value(m->state[(size_t)q * m->n + k]))
                                fprintf(fp, "%d,%d,%d,%d,%.9g\n", l, h, q, k, (double)m->w[(size_t)q * m->n + k]);
                }
            rc = close_data(fp, path);
        }
    } else if (f == EXPORT_JSON) {
        json_t *root = json_meta(t, "model", -1);
        json_t *layers = json_array();
        for (int l = 0; l < L; l++) {
            json_t *heads = json_array();
            for (int h = 0; h < NH; h++) json_array_append_new(heads, json_matrix(&ms[l * NH + h]));
            json_array_append_new(layers, heads);
        }
        json_object_set_new(root, "tokens", json_tokens(t));
        json_object_set_new(root, "weights", layers);
        rc = dump_json(root, path);
    } else {
        double cell = floor(160.0 / n);
        if (cell > 12) cell = 12;
        if (cell < 1) cell = 1;
        double tile = n * cell, gap = 18, lab = 28;
        cairo_surface_t *mss;
        cairo_t *mc = measure_ctx(&mss);
        int sw = o->hide_first ? SW_HIDDEN : 0;
        for (int i = 0; i < L * NH; i++) if (ms[i].has_pruned) sw |= SW_PRUNED;
        double bw = colour_bar(mc, 0, 0, 100, o->scale, 0, sw);
        char *title = title_for(t, "every layer and head", -1);
        char *sub = subtitle_for(t);
        font(mc, TITLE_FS, 1);
        double tw = text_w(mc, title);
        font(mc, LABEL_FS, 0);
        double stw = text_w(mc, sub);
        cairo_destroy(mc);
        cairo_surface_destroy(mss);
        double x0 = MARGIN + lab, y0 = MARGIN + TITLE_H + 16;
        double gw = NH * tile + (NH - 1) * gap, gh = L * tile + (L - 1) * gap;
        double barh = gh > 120 ? gh : 120;
        double w = x0 + gw + 24 + bw + MARGIN;
        if (MARGIN * 2 + tw > w) w = MARGIN * 2 + tw;
        if (MARGIN * 2 + stw > w) w = MARGIN * 2 + stw;
        double h = y0 + (barh > gh ? barh : gh) + 48 + 24 + MARGIN;
        cairo_surface_t *s = open_surface(f, path, (int)ceil(w), (int)ceil(h));
        cairo_t *cr = cairo_create(s);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_paint(cr);
        title_lines(cr, MARGIN, MARGIN, title, sub);
        font(cr, LABEL_FS, 0);
        for (int hh = 0; hh < NH; hh++) {
            char hl[16];
            snprintf(hl, sizeof hl, "H%d", hh);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            text_at(cr, x0 + hh * (tile + gap), y0 - 4, hl);
        }
        for (int l = 0; l < L; l++) {
            char ll[16];
            snprintf(ll, sizeof ll, "L%d", l);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            text_at(cr, MARGIN, y0 + l * (tile + gap) + LABEL_FS, ll);
            for (int hh = 0; hh < NH; hh++) {
                const HeatMatrix *m = &ms[l * NH + hh];
                double tx = x0 + hh * (tile + gap), ty = y0 + l * (tile + gap);
                for (int q = 0; q < m->n; q++)
                    for (int k = 0; k < m->n; k++) {
                        double c[3];
                        export_cell_rgb(m->state[(size_t)q * m->n + k], m->w[(size_t)q * m->n + k], o->scale, c);
                        rgb(cr, c);
                        cairo_rectangle(cr, tx + k * cell, ty + q * cell, cell, cell);
                        cairo_fill(cr);
                    }
                int sel = l == o->layer && hh == o->head;
                cairo_set_source_rgb(cr, sel ? 0.85 : 0.4, sel ? 0.2 : 0.4, sel ? 0.1 : 0.4);
                cairo_set_line_width(cr, sel ? 2.0 : 1.0);
                cairo_rectangle(cr, tx - 0.5, ty - 0.5, tile + 1, tile + 1);
                cairo_stroke(cr);
            }
        }
        font(cr, TICK_FS, 0);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        text_at(cr, x0, y0 + (barh > gh ? barh : gh) + 48 + TICK_FS, "each tile: rows = queries, columns = keys");
        colour_bar(cr, x0 + gw + 24, y0, barh, o->scale, 1, sw);
        rc = close_surface(s, cr, f, path);
        free(title);
        free(sub);
    }
    for (int i = 0; i < L * NH; i++) heatmap_matrix_done(&ms[i]);
    free(ms);
    return rc;
}

/* ---- probabilities ---- */

int export_probs(const Trace *t, int pos, int k, const char *path)
{
    ExportFormat f;
    int rc = export_format(path, &f);
    if (rc) return rc;
    if (pos < 0 || pos > t->n) pos = t->n;
    const StepDist *d = t->dist ? t->dist[pos] : NULL;
    if (!d || !d->probs) return ERR(ERR_STATE, "%s: no distribution at position %d to export", path, pos);
    if (k < 1) k = 1;
    int V = t->n_vocab;
    int *idx = xmalloc((size_t)k * sizeof(int));
    int cnt = bars_topk(d->probs, V, k, idx);
    double H = bars_entropy_bits(d->probs, V);
    double Hf = d->filtered ? bars_entropy_bits(d->filtered, V) : H;
    if (f == EXPORT_CSV) {
        FILE *fp = open_data(path, &rc);
        if (fp) {
            fputs("rank,id,token,p_model,p_filtered,cut,chosen\n", fp);
            for (int i = 0; i < cnt; i++) {
                int id = idx[i];
                char *s = token_data(t, id);
                fprintf(fp, "%d,%d,", i + 1, id);
                csv_str(fp, s);
                float pf = d->filtered ? d->filtered[id] : d->probs[id];
                fprintf(fp, ",%.9g,%.9g,%d,%d\n", (double)d->probs[id], (double)pf,
                        pf == 0.0f && d->probs[id] > 0.0f, id == d->chosen);
                free(s);
            }
            rc = close_data(fp, path);
        }
    } else if (f == EXPORT_JSON) {
        json_t *root = json_meta(t, "probabilities", -1);
        json_object_set_new(root, "position", json_integer(pos));
        json_object_set_new(root, "temperature", json_real(d->params.temperature));
        json_object_set_new(root, "top_k", json_integer(d->params.top_k));
        json_object_set_new(root, "top_p", json_real(d->params.top_p));
        json_object_set_new(root, "seed", json_integer((json_int_t)d->params.seed));
        json_object_set_new(root, "entropy_bits", json_real(H));
        json_object_set_new(root, "entropy_filtered_bits", json_real(Hf));
        json_object_set_new(root, "chosen", d->chosen >= 0 ? json_integer(d->chosen) : json_null());
        json_object_set_new(root, "forced", json_boolean(d->forced));
        json_t *top = json_array();
        for (int i = 0; i < cnt; i++) {
            int id = idx[i];
            char *s = token_data(t, id);
            float pf = d->filtered ? d->filtered[id] : d->probs[id];
            json_array_append_new(top, json_pack("{s:i, s:i, s:s, s:f, s:f, s:b}", "rank", i + 1, "id", id,
                                                 "text", s, "p", (double)d->probs[id], "p_filtered", (double)pf,
                                                 "cut", pf == 0.0f && d->probs[id] > 0.0f));
            free(s);
        }
        json_object_set_new(root, "top", top);
        rc = dump_json(root, path);
    } else {
        char **lab = xcalloc((size_t)cnt, sizeof(char *));
        for (int i = 0; i < cnt; i++) lab[i] = tokens_escape(t, idx[i]);
        cairo_surface_t *mss;
        cairo_t *mc = measure_ctx(&mss);
        font(mc, LABEL_FS, 0);
        double lw = 0;
        for (int i = 0; i < cnt; i++) if (text_w(mc, lab[i]) > lw) lw = text_w(mc, lab[i]);
        char *what = d->chosen >= 0 ? xasprintf("distribution at position %d", pos)
                                    : xasprintf("next token after position %d", pos - 1);
        char *title = xasprintf("%s · %s", t->model_name ? t->model_name : "model", what);
        char *sub0 = subtitle_for(t);
        char kk[24], pp[24];
        if (d->params.top_k > 0) snprintf(kk, sizeof kk, "top-k %d", d->params.top_k);
        else snprintf(kk, sizeof kk, "top-k off");
        if (d->params.top_p < 1.0f) snprintf(pp, sizeof pp, "top-p %g", (double)d->params.top_p);
        else snprintf(pp, sizeof pp, "top-p off");
        char *sub = xasprintf("%s · temperature %g, %s, %s · entropy %.2f → %.2f bits", sub0,
                              (double)d->params.temperature, kk, pp, H, Hf);
        font(mc, TITLE_FS, 1);
        double tw = text_w(mc, title);
        font(mc, LABEL_FS, 0);
        double stw = text_w(mc, sub);
        cairo_destroy(mc);
        cairo_surface_destroy(mss);
        float pmax = 0;
        for (int i = 0; i < cnt; i++) {
            if (d->probs[idx[i]] > pmax) pmax = d->probs[idx[i]];
            if (d->filtered && d->filtered[idx[i]] > pmax) pmax = d->filtered[idx[i]];
        }
        double axis = ceil(pmax * 10.0) / 10.0;   /* bars to the next tenth, stated on the axis */
        if (axis <= 0) axis = 0.1;
        if (pmax < 0.01) axis = ceil(pmax * 1000.0) / 1000.0;
        if (axis <= 0) axis = 0.001;
        double x0 = MARGIN + lw + 10, y0 = MARGIN + TITLE_H + 24, row = 26, bwid = 420;
        double w = x0 + bwid + 150 + MARGIN;
        if (MARGIN * 2 + tw > w) w = MARGIN * 2 + tw;
        if (MARGIN * 2 + stw > w) w = MARGIN * 2 + stw;
        double h = y0 + cnt * row + 40 + MARGIN;
        cairo_surface_t *s = open_surface(f, path, (int)ceil(w), (int)ceil(h));
        cairo_t *cr = cairo_create(s);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_paint(cr);
        title_lines(cr, MARGIN, MARGIN, title, sub);
        const double cm[3] = {0.30, 0.47, 0.66}, cf[3] = {0.96, 0.52, 0.09};
        font(cr, TICK_FS, 0);
        rgb(cr, cm);
        cairo_rectangle(cr, x0, y0 - 18, 10, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text_at(cr, x0 + 14, y0 - 9, "model p");
        rgb(cr, cf);
        cairo_rectangle(cr, x0 + 80, y0 - 18, 10, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text_at(cr, x0 + 94, y0 - 9, "after temperature / top-k / top-p");
        for (int i = 0; i < cnt; i++) {
            int id = idx[i];
            double y = y0 + i * row;
            font(cr, LABEL_FS, id == d->chosen);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            text_at(cr, x0 - 8 - text_w(cr, lab[i]), y + 13, lab[i]);
            double pm = d->probs[id], pf = d->filtered ? d->filtered[id] : pm;
            rgb(cr, cm);
            cairo_rectangle(cr, x0, y + 2, bwid * pm / axis, 10);
            cairo_fill(cr);
            char val[64];
            font(cr, TICK_FS, 0);
            if (pf == 0.0 && pm > 0.0) {
                cairo_set_source_rgb(cr, 0.8, 0.1, 0.1);
                text_at(cr, x0, y + 22, "cut");
            } else {
                rgb(cr, cf);
                cairo_rectangle(cr, x0, y + 13, bwid * pf / axis, 8);
                cairo_fill(cr);
            }
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            snprintf(val, sizeof val, "%.4f / %.4f%s", pm, pf, id == d->chosen ? (d->forced ? "  ◀ forced" : "  ◀ sampled") : "");
            double vx = x0 + bwid * (pm > pf ? pm : pf) / axis + 6;
            text_at(cr, vx, y + 13, val);
        }
        double ay = y0 + cnt * row + 6;
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        cairo_set_line_width(cr, 1.0);
        cairo_move_to(cr, x0, ay + 0.5);
        cairo_line_to(cr, x0 + bwid, ay + 0.5);
        cairo_stroke(cr);
        font(cr, TICK_FS, 0);
        for (int i = 0; i <= 4; i++) {
            char tk[32];
            snprintf(tk, sizeof tk, "%g", axis * i / 4.0);
            double tx = x0 + bwid * i / 4.0;
            cairo_move_to(cr, tx + 0.5, ay);
            cairo_line_to(cr, tx + 0.5, ay + 4);
            cairo_stroke(cr);
            text_at(cr, tx - text_w(cr, tk) / 2, ay + 16, tk);
        }
        rc = close_surface(s, cr, f, path);
        for (int i = 0; i < cnt; i++) free(lab[i]);
        free(lab);
        free(what);
        free(title);
        free(sub0);
        free(sub);
    }
    free(idx);
    return rc;
}
