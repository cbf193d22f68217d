/* crt — the terminal: the only file that talks to curses (htop's CRT.c).
 *
 * It starts ncursesw in the user's locale, picks the colour mode (256 colours, 8 colours,
 * or monochrome when the terminal has none or NO_COLOR is set), draws a whole Canvas by
 * looking each cell's role up in a scheme table, and reads keys as code points or CRT_KEY_*
 * codes so that nothing else needs curses headers.
 */
#ifndef LECTERN_VIZ_CRT_H
#define LECTERN_VIZ_CRT_H

#include "viz/canvas.h"

typedef enum { CRT_MONO = 0, CRT_COLOR8 = 1, CRT_COLOR256 = 2 } CrtColors;

/* Keys: Unicode code points as themselves, the rest above the Unicode range. */
enum {
    CRT_KEY_NONE = -1,          /* timeout, nothing read */
    CRT_KEY_BASE = 0x110000,
    CRT_KEY_UP, CRT_KEY_DOWN, CRT_KEY_LEFT, CRT_KEY_RIGHT,
    CRT_KEY_HOME, CRT_KEY_END, CRT_KEY_PGUP, CRT_KEY_PGDN,
    CRT_KEY_BACKSPACE, CRT_KEY_DELETE, CRT_KEY_INSERT, CRT_KEY_ENTER,
    CRT_KEY_RESIZE, CRT_KEY_BTAB, CRT_KEY_UNKNOWN,
    CRT_KEY_SUP, CRT_KEY_SDOWN, CRT_KEY_SLEFT, CRT_KEY_SRIGHT,   /* shifted arrows */
    CRT_KEY_F0 = CRT_KEY_BASE + 0x100,   /* CRT_KEY_F(n) = CRT_KEY_F0 + n */
};
#define CRT_KEY_F(n) (CRT_KEY_F0 + (n))
#define CRT_KEY_ESC 27

/* What a cell looks like in a colour mode: colours as xterm/curses numbers (-1 = the
 * terminal's default) and CANVAS_* attribute bits; *blank is set when the glyph is a
 * monochrome stand-in that a colour mode replaces by a blank cell. */
typedef struct {
    int fg, bg;
    int attr;
    int blank;
} CrtStyle;

/* The scheme table lookup: role, heat and attributes of a cell to colours in a mode. */
CrtStyle crt_style(const Cell *cell, CrtColors mode);

/* The colour mode the environment asks for: NO_COLOR set and non-empty -> monochrome;
 * LECTERN_COLORS=mono|8|256 overrides; else what the terminal offers (ncolors). */
CrtColors crt_pick_colors(int ncolors);

/* Starts curses on the controlling terminal (stdin/stdout): locale from the environment,
 * cbreak, no echo, keypad, short ESC delay.  Returns 0, or -1 when stdout is not a
 * terminal or the terminal is unknown (curses is then not started). */
int crt_init(void);
void crt_done(void);            /* restores the terminal; safe to call twice */
int crt_active(void);
void crt_size(int *cols, int *rows);
CrtColors crt_colors(void);

/* Draws every cell of c (sized to the screen) and puts the cursor at (cx, cy), or hides it
 * when cx < 0.  Updates the physical screen. */
void crt_draw(const Canvas *c, int cx, int cy);

/* Reads one key, waiting up to timeout_ms (-1: forever).  Returns a code point, CRT_KEY_*,
 * CRT_KEY_ESC for Esc (always alone: Alt-key gives Esc, then the key), or CRT_KEY_NONE. */
int crt_read(int timeout_ms);

#endif
