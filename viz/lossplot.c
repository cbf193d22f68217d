/* lossplot — loss curves as text and as PNG (see lossplot.h).
 *
 * Owns: scaling the curve to a box, the character plot, the cairo drawing and a 5x7 pixel
 * font for axis numbers and labels.  Does not own: where the numbers come from (the
 * trainer's history) or printing (the caller).
 * Cairo's text API is not used on purpose: it starts fontconfig, which keeps memory for
 * the life of the process; the pixel font keeps the figure self-contained.
 */
#include "viz/lossplot.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"

/* ---- scaling ------------------------------------------------------------------------ */

typedef struct {
    double x0, x1, y0, y1;
} Range;

static int curve_range(const LossCurve *c, Range *r)
{
    if (c->n <= 0) return -1;
    r->x0 = (double)c->step[0];
    r->x1 = (double)c->step[c->n - 1];
    if (r->x1 <= r->x0) r->x1 = r->x0 + 1;
    r->y0 = INFINITY;
    r->y1 = -INFINITY;
    for (int i = 0; i < c->n; i++) {
        const float v[2] = {c->train[i], c->val ? c->val[i] : NAN};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) {
                if (v[k] < r->y0) r->y0 = v[k];
                if (v[k] > r->y1) r->y1 = v[k];
            }
    }
    if (!isfinite(r->y0)) return -1;
    if (r->y1 - r->y0 < 1e-6) { r->y0 -= 0.5; r->y1 += 0.5; }
    const double pad = 0.05 * (r->y1 - r->y0);
    r->y0 -= pad;
    r->y1 += pad;
    if (r->y0 < 0 && r->y1 > 0 && r->y0 > -pad * 1.01) r->y0 = 0;
    return 0;
}

/* ---- text --------------------------------------------------------------------------- */

char *lossplot_text(const LossCurve *c, int width, int height)
{
    Range r;
    if (width < 30 || height < 6 || curve_range(c, &r)) return NULL;
    const int lab = 8;                  /* "%7.3f|" */
    const int pw = width - lab, ph = height - 2;
    char *grid = xmalloc((size_t)pw * ph);
    memset(grid, ' ', (size_t)pw * ph);
    for (int pass = 0; pass < 2; pass++)     /* validation drawn over training */
        for (int i = 0; i < c->n; i++) {
            const float v = pass ? (c->val ? c->val[i] : NAN) : c->train[i];
            if (!isfinite(v)) continue;
            int x = (int)lround((double)(c->step[i] - r.x0) / (r.x1 - r.x0) * (pw - 1));
            int y = (int)lround((r.y1 - v) / (r.y1 - r.y0) * (ph - 1));
            if (x < 0) x = 0;
            if (x >= pw) x = pw - 1;
            if (y < 0) y = 0;
            if (y >= ph) y = ph - 1;
            grid[(size_t)y * pw + x] = pass ? 'o' : '*';
        }
    size_t cap = (size_t)(width + 2) * (height + 1) + 64, n = 0;
    char *out = xmalloc(cap);
    for (int y = 0; y < ph; y++) {
        if (y == 0 || y == ph - 1 || y == ph / 2) {
            const double v = r.y1 - (r.y1 - r.y0) * y / (ph - 1);
            n += (size_t)snprintf(out + n, cap - n, "%7.3f|", v);
        } else {
            n += (size_t)snprintf(out + n, cap - n, "       |");
        }
        memcpy(out + n, grid + (size_t)y * pw, (size_t)pw);
        n += (size_t)pw;
        out[n++] = '\n';
    }
    n += (size_t)snprintf(out + n, cap - n, "       +");
    for (int x = 0; x < pw; x++) out[n++] = '-';
    out[n++] = '\n';
    char left[32], right[32];
    snprintf(left, sizeof left, "%ld", c->step[0]);
    snprintf(right, sizeof right, "%ld", c->step[c->n - 1]);
    n += (size_t)snprintf(out + n, cap - n, "        %s", left);
    int gap = pw - (int)strlen(left) - (int)strlen(right);
    const char *mid = "step  (* train, o val)";
    int ml = (int)strlen(mid);
    if (gap > ml + 2) {
        int before = (gap - ml) / 2;
        n += (size_t)snprintf(out + n, cap - n, "%*s%s%*s", before, "", mid, gap - before - ml, "");
    } else if (gap > 0) {
        n += (size_t)snprintf(out + n, cap - n, "%*s", gap, "");
    }
    n += (size_t)snprintf(out + n, cap - n, "%s\n", right);
    out[n] = 0;
    free(grid);
    return out;
}

/* ---- PNG ---------------------------------------------------------------------------- */

/* 5x7 glyphs, one byte per row, bit 4 = leftmost column. */
static const struct { char ch; unsigned char row[7]; } GLYPHS[] = {
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}}, {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}}, {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}}, {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}}, {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}}, {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}}, {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'a', {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}}, {'e', {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}},
    {'i', {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}}, {'l', {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}}, {'o', {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}},
    {'p', {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}}, {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}}, {'t', {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}},
    {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}}, {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}},
    {'m', {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}}, {' ', {0, 0, 0, 0, 0, 0, 0}},
};

/* Draws s with its top-left at (x, y), each font pixel px x px; returns the width. */
static double draw_text(cairo_t *cr, double x, double y, double px, const char *s)
{
    double cx = x;
    for (const char *p = s; *p; p++) {
        for (size_t g = 0; g < sizeof GLYPHS / sizeof GLYPHS[0]; g++) {
            if (GLYPHS[g].ch != *p) continue;
            for (int row = 0; row < 7; row++)
                for (int col = 0; col < 5; col++)
                    if (GLYPHS[g].row[row] & (0x10 >> col))
                        cairo_rectangle(cr, cx + col * px, y + row * px, px, px);
            break;
        }
        cx += 6 * px;
    }
    cairo_fill(cr);
    return cx - x;
}

static double text_width(double px, const char *s) { return 6 * px * (double)strlen(s); }

static void fmt_num(char *buf, size_t n, double v)
{
    if (fabs(v) >= 1000 || v == floor(v)) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.2f", v);
}

int lossplot_png(const LossCurve *c, const char *path, int width, int height)
{
    Range r;
    if (width < 200 || height < 120 || width > 8192 || height > 8192)
        return ERR(ERR_ARG, "%s: plot size %dx%d out of range (200x120 .. 8192x8192)", path, width, height);
    if (curve_range(c, &r)) return ERR(ERR_ARG, "%s: no finite loss values to plot", path);
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(sf);
    const double px = 2, ml = 70, mr = 20, mt = 34, mb = 44;
    const double pw = width - ml - mr, ph = height - mt - mb;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* grid and tick labels: 5 horizontal lines */
    cairo_set_line_width(cr, 1);
    for (int i = 0; i <= 4; i++) {
        const double v = r.y0 + (r.y1 - r.y0) * i / 4.0, y = mt + ph - ph * i / 4.0;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, ml, floor(y) + 0.5);
        cairo_line_to(cr, ml + pw, floor(y) + 0.5);
        cairo_stroke(cr);
        char b[32];
        fmt_num(b, sizeof b, v);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        draw_text(cr, ml - 8 - text_width(px, b), y - 7, px, b);
    }
    for (int i = 0; i <= 4; i++) {
        const double v = r.x0 + (r.x1 - r.x0) * i / 4.0, x = ml + pw * i / 4.0;
        char b[32];
        snprintf(b, sizeof b, "%.0f", v);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        draw_text(cr, x - text_width(px, b) / 2, mt + ph + 8, px, b);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, ml + 0.5, mt + 0.5, pw, ph);
    cairo_stroke(cr);
    draw_text(cr, ml + pw / 2 - text_width(px, "step") / 2, height - 18, px, "step");
    draw_text(cr, 8, 8, px, "loss");
    /* the curves: training in blue, validation in orange with dots */
    for (int pass = 0; pass < 2; pass++) {
        const float *v = pass ? c->val : c->train;
        if (!v) continue;
        if (pass) cairo_set_source_rgb(cr, 0.90, 0.45, 0.05);
        else cairo_set_source_rgb(cr, 0.12, 0.35, 0.75);
        cairo_set_line_width(cr, pass ? 2.0 : 1.5);
        int pen = 0;
        for (int i = 0; i < c->n; i++) {
            if (!isfinite(v[i])) continue;
            const double x = ml + (double)(c->step[i] - r.x0) / (r.x1 - r.x0) * pw;
            const double y = mt + (r.y1 - v[i]) / (r.y1 - r.y0) * ph;
            if (pen) cairo_line_to(cr, x, y);
            else cairo_move_to(cr, x, y);
            pen = 1;
        }
        cairo_stroke(cr);
        if (pass)
            for (int i = 0; i < c->n; i++) {
                if (!isfinite(v[i])) continue;
                const double x = ml + (double)(c->step[i] - r.x0) / (r.x1 - r.x0) * pw;
                const double y = mt + (r.y1 - v[i]) / (r.y1 - r.y0) * ph;
                cairo_arc(cr, x, y, 3, 0, 2 * M_PI);
                cairo_fill(cr);
            }
        /* legend */
        const double lx = ml + pw - 170, ly = 10;
        cairo_rectangle(cr, lx + pass * 90, ly + 3, 14, 4);
        cairo_fill(cr);
        draw_text(cr, lx + pass * 90 + 18, ly, px, pass ? "val" : "train");
    }
    cairo_destroy(cr);
    cairo_surface_flush(sf);
    cairo_status_t st = cairo_surface_write_to_png(sf, path);
    cairo_surface_destroy(sf);
    if (st != CAIRO_STATUS_SUCCESS)
        return ERR(ERR_IO, "%s: cannot write PNG (%s)", path, cairo_status_to_string(st));
    return 0;
}
