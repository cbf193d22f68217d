/* canvas — a grid of terminal cells that every view draws into.
 *
 * A Cell holds one glyph as UTF-8 with its display width (wcwidth: 1, 2, or 0 for the
 * right half of a wide glyph), a semantic colour role (looked up in a scheme by whoever
 * shows the canvas: crt.c on a terminal, canvas_to_text for plain text), an optional heat
 * value for ramp-coloured cells, an optional explicit 256-colour index, and attributes.
 * Views never know whether they end on a terminal, in a test or in a pipe (htop's split of
 * Meter.updateValues from draw: the data is computed first, the canvas only records looks).
 *
 * The canvas knows nothing of curses.  Plain text is what the cells' glyphs spell.
 */
#ifndef LECTERN_VIZ_CANVAS_H
#define LECTERN_VIZ_CANVAS_H

#include <stddef.h>
#include <stdint.h>

/* Semantic colour roles; the scheme table (crt.c, export.c) maps them to colours. */
typedef enum {
    ROLE_DEFAULT = 0,
    ROLE_TITLE,       /* pane titles */
    ROLE_LABEL,       /* token labels on axes */
    ROLE_AXIS,        /* axis names, indices, legends */
    ROLE_DIM,         /* secondary text */
    ROLE_HEAT,        /* a heatmap cell: colour from the ramp at Cell.heat */
    ROLE_MASKED,      /* a cell outside the causal mask (a later key) */
    ROLE_PRUNED,      /* a cell the mask allows but the layer's sparse pattern leaves out */
    ROLE_HIDDEN,      /* a cell hidden by an option (first token hidden, below mass threshold) */
    ROLE_CURSOR,      /* the heatmap cursor */
    ROLE_BAR_RAW,     /* probability bar, model distribution */
    ROLE_BAR_FILTERED,/* probability bar, after temperature/top-k/top-p */
    ROLE_CUT,         /* a token cut by top-k/top-p */
    ROLE_SAMPLED,     /* the sampled/chosen token */
    ROLE_CHIP_PROMPT, /* a token chip from the prompt */
    ROLE_CHIP_GEN,    /* a generated token chip */
    ROLE_CHIP_CURRENT,/* the current step's chip */
    ROLE_SPECIAL,     /* visible whitespace/control escapes inside a token (␣ ↵ \xNN) */
    ROLE_STATUS,      /* the status line */
    ROLE_KEY,         /* key names in help lines */
    ROLE_WARN,        /* warnings and errors */
    ROLE_FOCUS,       /* border/title of the focused pane */
    ROLE_BORDER,      /* pane borders */
    ROLE_COUNT
} CanvasRole;

enum {
    CANVAS_BOLD = 1,
    CANVAS_REVERSE = 2,
    CANVAS_UNDERLINE = 4,
    CANVAS_DIM = 8,
    CANVAS_SHADE = 16,   /* the glyph is a monochrome stand-in for the heat colour */
};

#define CANVAS_GLYPH_MAX 16   /* bytes of one glyph incl. combining marks and the NUL */

typedef struct {
    char glyph[CANVAS_GLYPH_MAX]; /* UTF-8, NUL-terminated; "" for a wide glyph's right half */
    uint8_t width;      /* display columns: 1, 2, or 0 for the continuation cell */
    uint8_t role;       /* CanvasRole */
    uint8_t attr;       /* CANVAS_* bits */
    int16_t color;      /* explicit xterm-256 foreground index, -1 = by role */
    float heat;         /* ROLE_HEAT cells: position on the colour ramp in [0, 1]; else -1 */
} Cell;

typedef struct {
    int w, h;           /* columns, rows */
    int grow;           /* rows are added on demand when drawing below h (plain text) */
    Cell *cells;        /* (h, w) */
} Canvas;

/* A rectangle on a canvas that a view may draw into; views clip to it. */
typedef struct {
    int x, y, w, h;
} Rect;

/* Allocates a w x h canvas of blank cells (w, h >= 0).  grow: see Canvas.grow.
 * canvas_free(NULL) is a no-op. */
Canvas *canvas_alloc(int w, int h, int grow);
void canvas_free(Canvas *c);
/* Resizes to w x h and blanks every cell. */
void canvas_resize(Canvas *c, int w, int h);
void canvas_clear(Canvas *c);
Cell *canvas_cell(Canvas *c, int x, int y);          /* NULL outside (after growing) */
const Cell *canvas_cell_const(const Canvas *c, int x, int y);

/* Writes UTF-8 text at (x, y) clipped to clip (NULL = the canvas), one glyph per cell,
 * wide glyphs taking two cells; a wide glyph that would straddle the clip edge becomes a
 * space.  Control characters and invalid bytes must already be escaped (tokens_escape);
 * any that arrive are drawn as U+FFFD.  Returns the columns advanced. */
int canvas_put(Canvas *c, const Rect *clip, int x, int y, const char *s, int role, int attr);
/* The same with at most maxw columns; when s is wider, ends it with "…". */
int canvas_put_fit(Canvas *c, const Rect *clip, int x, int y, const char *s, int maxw,
                   int role, int attr);
/* printf-style canvas_put. */
int canvas_printf(Canvas *c, const Rect *clip, int x, int y, int role, int attr,
                  const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* One heat cell: glyph (a shade character), heat value and role ROLE_HEAT. */
void canvas_heat(Canvas *c, const Rect *clip, int x, int y, const char *glyph, float heat, int attr);
/* Writes the parts in order separated by sep, starting a new line of r whenever the next
 * part would pass r's right edge (a part wider than r is cut with "…").  NULL or empty
 * parts are skipped.  Returns the lines used (0 when nothing was written). */
int canvas_put_parts(Canvas *c, Rect r, int y, const char *const *parts, int nparts,
                     const char *sep, int role, int attr);
/* The lines canvas_put_parts would use in a rectangle w columns wide. */
int canvas_parts_lines(int w, const char *const *parts, int nparts, const char *sep);
/* Sets role/attr bits of the cells in r (attr bits are OR-ed in). */
void canvas_paint(Canvas *c, const Rect *r, int role, int attr);
/* Fills r with spaces of the default role. */
void canvas_fill(Canvas *c, const Rect *r);

/* The canvas as plain UTF-8 text: one line per row, trailing spaces trimmed, trailing
 * empty lines dropped, each line ending in '\n'.  Caller frees. */
char *canvas_to_text(const Canvas *c);

/* UTF-8 helpers (locale independent decoding; widths from wcwidth with a UTF-8 locale's
 * fallback table when the C library cannot tell). */
/* Decodes one code point at s (n bytes available): returns its length 1..4 and sets *cp,
 * or returns 0 when s does not start a valid, shortest-form scalar value. */
int utf8_decode(const char *s, size_t n, uint32_t *cp);
int utf8_encode(uint32_t cp, char *out);     /* writes 1..4 bytes, returns the count */
int utf8_cpwidth(uint32_t cp);               /* display width: 0, 1, 2; -1 for controls */
int utf8_width(const char *s);               /* display width of valid UTF-8 text */

#endif
