/* canvas — the cell grid views draw into, and its plain-text form.
 *
 * Owns: cell storage, UTF-8 decoding and display widths, clipping, text conversion.
 * Does not own: colours (roles are resolved by crt.c or export.c), terminals.
 * UTF-8 decoding is done here rather than with mbrtowc so that the plain text of a view
 * does not depend on the caller's locale; widths come from wcwidth when the locale knows
 * the character, else from a small table of the wide and combining ranges (Unicode
 * EastAsianWidth W/F and general category Mn), enough for token strings.
 */
#include "viz/canvas.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "engine/err.h"

int utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) return 0;
    unsigned char b = u[0];
    if (b < 0x80) { *cp = b; return 1; }
    int len;
    uint32_t v, min;
    if (b >= 0xC2 && b <= 0xDF) { len = 2; v = b & 0x1F; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; v = b & 0x0F; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; v = b & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int in_ranges(uint32_t cp, const uint32_t (*r)[2], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i][0] && cp <= r[i][1]) return 1;
    return 0;
}

int utf8_cpwidth(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return -1;
    if (cp < 0x7F) return 1;
    int w = wcwidth((wchar_t)cp);
    if (w >= 0) return w;
    /* The locale does not know it (C locale, or an unassigned code point). */
    static const uint32_t zero[][2] = {
        {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
        {0x064B, 0x065F}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x200B, 0x200F},
        {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
    };
    static const uint32_t wide[][2] = {
        {0x1100, 0x115F}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF}, {0xA000, 0xA4CF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
    };
    if (in_ranges(cp, zero, sizeof zero / sizeof zero[0])) return 0;
    if (in_ranges(cp, wide, sizeof wide / sizeof wide[0])) return 2;
    return 1;
}

int utf8_width(const char *s)
{
    size_t n = strlen(s);
    int w = 0;
    while (n) {
        uint32_t cp;
        int len = utf8_decode(s, n, &cp);
        if (len == 0) { w++; s++; n--; continue; }   /* drawn as U+FFFD */
        int cw = utf8_cpwidth(cp);
        w += cw < 0 ? 1 : cw;
        s += len;
        n -= (size_t)len;
    }
    return w;
}

static void cell_blank(Cell *c)
{
    memset(c, 0, sizeof *c);
    c->glyph[0] = ' ';
    c->width = 1;
    c->color = -1;
    c->heat = -1.0f;
}

Canvas *canvas_alloc(int w, int h, int grow)
{
    Canvas *c = xcalloc(1, sizeof *c);
    c->grow = grow;
    canvas_resize(c, w, h);
    return c;
}

void canvas_free(Canvas *c)
{
    if (!c) return;
    free(c->cells);
    free(c);
}

void canvas_resize(Canvas *c, int w, int h)
{
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    size_t n;
    if (size_mul((size_t)w, (size_t)h, &n) || size_mul(n, sizeof(Cell), &n))
        n = 0, w = h = 0;
    free(c->cells);
    c->cells = n ? xmalloc(n) : NULL;
    c->w = w;
    c->h = h;
    canvas_clear(c);
}

void canvas_clear(Canvas *c)
{
    for (int i = 0; i < c->w * c->h; i++) cell_blank(&c->cells[i]);
}

static void grow_to(Canvas *c, int rows)
{
    if (rows <= c->h || !c->grow || c->w == 0) return;
    int nh = c->h ? c->h : 8;
    while (nh < rows) nh *= 2;
    c->cells = xrealloc(c->cells, (size_t)nh * (size_t)c->w * sizeof(Cell));
    for (int i = c->h * c->w; i < nh * c->w; i++) cell_blank(&c->cells[i]);
    c->h = nh;
}

Cell *canvas_cell(Canvas *c, int x, int y)
{
    if (x < 0 || y < 0 || x >= c->w) return NULL;
    if (y >= c->h) grow_to(c, y + 1);
    if (y >= c->h) return NULL;
    return &c->cells[(size_t)y * (size_t)c->w + (size_t)x];
}

const Cell *canvas_cell_const(const Canvas *c, int x, int y)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return NULL;
    return &c->cells[(size_t)y * (size_t)c->w + (size_t)x];
}

static int clip_has(const Canvas *c, const Rect *clip, int x, int y)
{
    if (x < 0 || y < 0 || x >= c->w) return 0;
    if (!clip) return c->grow || y < c->h;
    return x >= clip->x && x < clip->x + clip->w && y >= clip->y && y < clip->y + clip->h;
}

/* Overwriting half of a wide glyph leaves its other half meaningless: blank it. */
static void unpair(Canvas *c, int x, int y)
{
    Cell *cell = canvas_cell(c, x, y);
    if (!cell) return;
    if (cell->width == 0) {
        Cell *left = canvas_cell(c, x - 1, y);
        if (left && left->width == 2) { left->glyph[0] = ' '; left->glyph[1] = 0; left->width = 1; }
    } else if (cell->width == 2) {
        Cell *right = canvas_cell(c, x + 1, y);
        if (right && right->width == 0) cell_blank(right);
    }
}

static void set_cell(Canvas *c, int x, int y, const char *g, size_t glen, int width,
                     int role, int attr)
{
    unpair(c, x, y);
    if (width == 2) unpair(c, x + 1, y);
    Cell *cell = canvas_cell(c, x, y);
    if (!cell) return;
    if (glen >= CANVAS_GLYPH_MAX) glen = CANVAS_GLYPH_MAX - 1;
    memcpy(cell->glyph, g, glen);
    cell->glyph[glen] = 0;
    cell->width = (uint8_t)width;
    cell->role = (uint8_t)role;
    cell->attr = (uint8_t)attr;
    cell->color = -1;
    cell->heat = -1.0f;
    if (width == 2) {
        Cell *right = canvas_cell(c, x + 1, y);
        if (right) {
            cell_blank(right);
            right->glyph[0] = 0;
            right->width = 0;
            right->role = (uint8_t)role;
            right->attr = (uint8_t)attr;
        }
    }
}

static int put_n(Canvas *c, const Rect *clip, int x, int y, const char *s, int maxw,
                 int role, int attr)
{
    size_t n = strlen(s);
    int col = 0;
    int last_x = -1;    /* cell of the previous glyph, for combining marks */
    while (n && col < maxw) {
        uint32_t cp;
        int len = utf8_decode(s, n, &cp);
        const char *g = s;
        size_t glen = (size_t)len;
        int w;
        if (len == 0) { g = "\xEF\xBF\xBD"; glen = 3; w = 1; len = 1; }
        else {
            w = utf8_cpwidth(cp);
            if (w < 0) { g = "\xEF\xBF\xBD"; glen = 3; w = 1; }
        }
        if (w == 0) {
            /* combining mark: append to the previous glyph when it fits */
            Cell *prev = last_x >= 0 ? canvas_cell(c, last_x, y) : NULL;
            if (prev) {
                size_t have = strlen(prev->glyph);
                if (have + glen < CANVAS_GLYPH_MAX) {
                    memcpy(prev->glyph + have, g, glen);
                    prev->glyph[have + glen] = 0;
                }
            }
        } else if (col + w > maxw) {
            break;
        } else {
            int inside = clip_has(c, clip, x + col, y) && (w == 1 || clip_has(c, clip, x + col + 1, y));
            if (inside) {
                set_cell(c, x + col, y, g, glen, w, role, attr);
                last_x = x + col;
            } else if (w == 2 && clip_has(c, clip, x + col, y)) {
                set_cell(c, x + col, y, " ", 1, 1, role, attr);
                last_x = -1;
            } else {
                last_x = -1;
            }
            col += w;
        }
        s += len;
        n -= (size_t)len;
    }
    return col;
}

int canvas_put(Canvas *c, const Rect *clip, int x, int y, const char *s, int role, int attr)
{
    return put_n(c, clip, x, y, s, 1 << 30, role, attr);
}

int canvas_put_fit(Canvas *c, const Rect *clip, int x, int y, const char *s, int maxw,
                   int role, int attr)
{
    if (maxw <= 0) return 0;
    if (utf8_width(s) <= maxw) return put_n(c, clip, x, y, s, maxw, role, attr);
    int col = put_n(c, clip, x, y, s, maxw - 1, role, attr);
    col += put_n(c, clip, x + col, y, "…", 1, role, attr);
    return col;
}

int canvas_printf(Canvas *c, const Rect *clip, int x, int y, int role, int attr,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    if (!s) return 0;
    int col = canvas_put(c, clip, x, y, s, role, attr);
    free(s);
    return col;
}

void canvas_heat(Canvas *c, const Rect *clip, int x, int y, const char *glyph, float heat, int attr)
{
    if (!clip_has(c, clip, x, y)) return;
    put_n(c, clip, x, y, glyph, 1, ROLE_HEAT, attr);
    Cell *cell = canvas_cell(c, x, y);
    if (cell) cell->heat = heat < 0 ? 0 : heat > 1 ? 1 : heat;
}

void canvas_paint(Canvas *c, const Rect *r, int role, int attr)
{
    for (int y = r->y; y < r->y + r->h; y++)
        for (int x = r->x; x < r->x + r->w; x++) {
            Cell *cell = canvas_cell(c, x, y);
            if (!cell) continue;
            if (role >= 0 && cell->role != ROLE_HEAT) cell->role = (uint8_t)role;
            cell->attr |= (uint8_t)attr;
        }
}

void canvas_fill(Canvas *c, const Rect *r)
{
    for (int y = r->y; y < r->y + r->h; y++)
        for (int x = r->x; x < r->x + r->w; x++) {
            Cell *cell = canvas_cell(c, x, y);
            if (cell) cell_blank(cell);
        }
}

char *canvas_to_text(const Canvas *c)
{
    size_t cap = 64, len = 0;
    char *out = xmalloc(cap);
    size_t keep = 0;    /* length up to the last non-empty line */
    for (int y = 0; y < c->h; y++) {
        size_t line_start = len, line_end = len;
        for (int x = 0; x < c->w; x++) {
            const Cell *cell = &c->cells[(size_t)y * (size_t)c->w + (size_t)x];
            size_t g = strlen(cell->glyph);
            if (len + g + 2 > cap) {
                while (len + g + 2 > cap) cap *= 2;
                out = xrealloc(out, cap);
            }
            memcpy(out + len, cell->glyph, g);
            len += g;
            if (!(g == 1 && cell->glyph[0] == ' ') && g > 0) line_end = len;
        }
        len = line_end;
        out[len++] = '\n';
        if (line_end > line_start) keep = len;
    }
    out[keep] = 0;
    return out;
}

int canvas_put_parts(Canvas *c, Rect r, int y, const char *const *parts, int nparts,
                     const char *sep, int role, int attr)
{
    int x = 0, lines = 0;
    int sw = utf8_width(sep);
    for (int i = 0; i < nparts; i++) {
        if (!parts[i] || !parts[i][0]) continue;
        int pw = utf8_width(parts[i]);
        if (lines == 0) lines = 1;
        else if (x + sw + pw > r.w) { lines++; x = 0; }
        else x += canvas_put(c, &r, r.x + x, y + lines - 1, sep, role, attr);
        if (y + lines - 1 >= r.y + r.h) return lines - 1;
        x += canvas_put_fit(c, &r, r.x + x, y + lines - 1, parts[i], r.w - x, role, attr);
    }
    return lines;
}

int canvas_parts_lines(int w, const char *const *parts, int nparts, const char *sep)
{
    int x = 0, lines = 0;
    int sw = utf8_width(sep);
    for (int i = 0; i < nparts; i++) {
        if (!parts[i] || !parts[i][0]) continue;
        int pw = utf8_width(parts[i]);
        if (pw > w) pw = w;
        if (lines == 0) lines = 1;
        else if (x + sw + pw > w) { lines++; x = 0; }
        else x += sw;
        x += pw;
    }
    return lines;
}
