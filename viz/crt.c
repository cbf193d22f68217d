/* crt — the only curses user (see crt.h).
 *
 * Owns: curses start and stop, the colour mode, the scheme table (semantic roles to
 * colours for 256 colours, 8 colours and monochrome), colour-pair allocation, drawing a
 * Canvas, reading keys.  Does not own: what is drawn (layout.c and the views) or the
 * command line (repl/screen.c feeds readline from crt_read).
 * curses draws through its own buffers and sends only changed cells, so redrawing the
 * whole canvas on every change costs little on the wire.
 */
#include "viz/crt.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "viz/ramp.h"
/* curses has its own ERR (-1); this file needs only err.h's allocators */
#undef ERR
#define NCURSES_WIDECHAR 1
#include <curses.h>

/* Scheme table: one row per CanvasRole.  256-colour fg/bg, 8-colour fg/bg, extra CANVAS_*
 * attributes in colour modes, attributes in monochrome.  -1 = terminal default. */
typedef struct {
    int fg256, bg256, fg8, bg8, attr, mono;
} SchemeRow;

static const SchemeRow scheme[ROLE_COUNT] = {
    [ROLE_DEFAULT] = {-1, -1, -1, -1, 0, 0},
    [ROLE_TITLE] = {117, -1, 6, -1, CANVAS_BOLD, CANVAS_BOLD},
    [ROLE_LABEL] = {252, -1, 7, -1, 0, 0},
    [ROLE_AXIS] = {245, -1, 7, -1, 0, CANVAS_DIM},
    [ROLE_DIM] = {245, -1, 7, -1, 0, CANVAS_DIM},
    [ROLE_HEAT] = {-1, -1, -1, -1, 0, 0},
    [ROLE_MASKED] = {240, -1, 4, -1, 0, CANVAS_DIM},
    /* grey texture on a dark grey ground: unlike any ramp colour, so a pruned cell never
     * reads as a small weight */
    [ROLE_PRUNED] = {244, 236, 7, 0, 0, 0},
    [ROLE_HIDDEN] = {131, -1, 1, -1, 0, CANVAS_DIM},
    [ROLE_CURSOR] = {-1, -1, -1, -1, CANVAS_REVERSE, CANVAS_REVERSE},
    [ROLE_BAR_RAW] = {110, -1, 4, -1, 0, 0},
    [ROLE_BAR_FILTERED] = {179, -1, 3, -1, 0, 0},
    [ROLE_CUT] = {167, -1, 1, -1, 0, CANVAS_DIM},
    [ROLE_SAMPLED] = {114, -1, 2, -1, CANVAS_BOLD, CANVAS_BOLD},
    [ROLE_CHIP_PROMPT] = {252, 237, 7, 4, 0, 0},
    [ROLE_CHIP_GEN] = {16, 151, 0, 2, 0, CANVAS_UNDERLINE},
    [ROLE_CHIP_CURRENT] = {16, 221, 0, 3, CANVAS_BOLD, CANVAS_REVERSE},
    [ROLE_SPECIAL] = {180, -1, 5, -1, 0, 0},
    [ROLE_STATUS] = {16, 110, 0, 6, 0, CANVAS_REVERSE},
    [ROLE_KEY] = {222, -1, 3, -1, CANVAS_BOLD, CANVAS_BOLD},
    [ROLE_WARN] = {203, -1, 1, -1, CANVAS_BOLD, CANVAS_BOLD},
    [ROLE_FOCUS] = {16, 117, 0, 6, CANVAS_BOLD, CANVAS_REVERSE | CANVAS_BOLD},
    [ROLE_BORDER] = {240, -1, 7, -1, 0, CANVAS_DIM},
};

/* Heat in 256 colours is quantised to this many steps, to bound the colour pairs used. */
#define HEAT_STEPS 32

CrtStyle crt_style(const Cell *cell, CrtColors mode)
{
    CrtStyle s = {-1, -1, cell->attr & (CANVAS_BOLD | CANVAS_REVERSE | CANVAS_UNDERLINE | CANVAS_DIM), 0};
    int role = cell->role < ROLE_COUNT ? cell->role : ROLE_DEFAULT;
    const SchemeRow *row = &scheme[role];
    if (mode == CRT_MONO) {
        s.attr |= row->mono;
        return s;
    }
    if (role == ROLE_HEAT && cell->heat >= 0.0f) {
        double rgb[3];
        if (mode == CRT_COLOR256) {
            int step = (int)(cell->heat * (HEAT_STEPS - 1) + 0.5f);
            s.bg = ramp_xterm256((float)step / (HEAT_STEPS - 1));
            ramp_xterm_rgb(s.bg, rgb);
            s.fg = ramp_luminance(rgb) > 0.45 ? 16 : 231;
            s.blank = (cell->attr & CANVAS_SHADE) != 0;
        } else {
            s.bg = ramp_basic8(cell->heat);
            ramp_xterm_rgb(s.bg, rgb);
            s.fg = ramp_luminance(rgb) > 0.45 ? 0 : 7;
        }
        return s;
    }
    s.attr |= row->attr;
    if (mode == CRT_COLOR256) {
        s.fg = cell->color >= 0 ? cell->color : row->fg256;
        s.bg = row->bg256;
    } else {
        s.fg = row->fg8;
        s.bg = row->bg8;
    }
    return s;
}

CrtColors crt_pick_colors(int ncolors)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc) return CRT_MONO;
    const char *force = getenv("LECTERN_COLORS");
    if (force && *force) {
        if (!strcmp(force, "mono")) return CRT_MONO;
        if (!strcmp(force, "8")) return ncolors >= 8 ? CRT_COLOR8 : CRT_MONO;
        if (!strcmp(force, "256")) return ncolors >= 256 ? CRT_COLOR256 : ncolors >= 8 ? CRT_COLOR8 : CRT_MONO;
    }
    if (ncolors >= 256) return CRT_COLOR256;
    if (ncolors >= 8) return CRT_COLOR8;
    return CRT_MONO;
}

static struct {
    int active;
    SCREEN *scr;
    CrtColors colors;
    short *pair_of;     /* (257 * 257): pair number for (fg + 1, bg + 1), 0 = not allocated */
    int next_pair;
} crt;

int crt_init(void)
{
    if (crt.active) return 0;
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) return -1;
    setlocale(LC_ALL, "");
    crt.scr = newterm(NULL, stdout, stdin);
    if (!crt.scr) return -1;
    set_term(crt.scr);
    crt.active = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    /* Shifted arrows as xterm and tmux send them, for terminal descriptions that do not
     * list them (TERM=screen): unknown, their Esc would move the focus and the rest would
     * reach the command line as text. */
    static const struct { const char *seq; int code; } shifted[] = {
        {"\033[1;2A", KEY_SR}, {"\033[1;2B", KEY_SF}, {"\033[1;2C", KEY_SRIGHT}, {"\033[1;2D", KEY_SLEFT},
    };
    for (size_t i = 0; i < sizeof shifted / sizeof shifted[0]; i++)
        if (key_defined(shifted[i].seq) == 0) define_key(shifted[i].seq, shifted[i].code);
    leaveok(stdscr, FALSE);
    int ncolors = 0;
    if (has_colors() && start_color() == OK) {
        use_default_colors();
        ncolors = COLORS;
    }
    crt.colors = crt_pick_colors(ncolors);
    free(crt.pair_of);
    crt.pair_of = xcalloc(257 * 257, sizeof(short));
    crt.next_pair = 1;
    return 0;
}

void crt_done(void)
{
    if (!crt.active) return;
    endwin();
    delscreen(crt.scr);
    crt.scr = NULL;
    crt.active = 0;
    free(crt.pair_of);
    crt.pair_of = NULL;
}

int crt_active(void) { return crt.active; }
CrtColors crt_colors(void) { return crt.colors; }

void crt_size(int *cols, int *rows)
{
    if (!crt.active) { *cols = 80; *rows = 24; return; }
    *cols = COLS;
    *rows = LINES;
}

static int pair_for(int fg, int bg)
{
    if (fg == -1 && bg == -1) return 0;
    if (fg < -1 || fg > 255 || bg < -1 || bg > 255) return 0;
    short *slot = &crt.pair_of[(fg + 1) * 257 + (bg + 1)];
    if (*slot) return *slot;
    if (crt.next_pair >= COLOR_PAIRS || crt.next_pair > 32767) return 0;
    if (init_pair((short)crt.next_pair, (short)fg, (short)bg) != OK) return 0;
    *slot = (short)crt.next_pair++;
    return *slot;
}

static attr_t to_attr(int a)
{
    attr_t r = A_NORMAL;
    if (a & CANVAS_BOLD) r |= A_BOLD;
    if (a & CANVAS_REVERSE) r |= A_REVERSE;
    if (a & CANVAS_UNDERLINE) r |= A_UNDERLINE;
    if (a & CANVAS_DIM) r |= A_DIM;
    return r;
}

void crt_draw(const Canvas *c, int cx, int cy)
{
    if (!crt.active) return;
    int rows = c->h < LINES ? c->h : LINES;
    int cols = c->w < COLS ? c->w : COLS;
    for (int y = 0; y < rows; y++) {
        for (int x = 0; x < cols; x++) {
            const Cell *cell = canvas_cell_const(c, x, y);
            if (cell->width == 0) continue;
            if (cell->width == 2 && x + 1 >= cols) {   /* no room for the right half */
                mvaddstr(y, x, " ");
                continue;
            }
            CrtStyle st = crt_style(cell, crt.colors);
            attr_t a = to_attr(st.attr);
            int pair = crt.colors == CRT_MONO ? 0 : pair_for(st.fg, st.bg);
            attr_set(a, (short)pair, NULL);
            mvaddstr(y, x, st.blank ? " " : cell->glyph);
        }
    }
    attr_set(A_NORMAL, 0, NULL);
    if (cx >= 0 && cy >= 0 && cx < COLS && cy < LINES) {
        curs_set(1);
        move(cy, cx);
    } else {
        curs_set(0);
    }
    wnoutrefresh(stdscr);
    doupdate();
}

static int map_key(int k)
{
    if (k >= KEY_F(0) && k <= KEY_F(63)) return CRT_KEY_F(k - KEY_F(0));
    switch (k) {
    case KEY_UP: return CRT_KEY_UP;
    case KEY_DOWN: return CRT_KEY_DOWN;
    case KEY_LEFT: return CRT_KEY_LEFT;
    case KEY_RIGHT: return CRT_KEY_RIGHT;
    case KEY_HOME: return CRT_KEY_HOME;
    case KEY_END: return CRT_KEY_END;
    case KEY_PPAGE: return CRT_KEY_PGUP;
    case KEY_NPAGE: return CRT_KEY_PGDN;
    case KEY_BACKSPACE: return CRT_KEY_BACKSPACE;
    case KEY_DC: return CRT_KEY_DELETE;
    case KEY_IC: return CRT_KEY_INSERT;
    case KEY_ENTER: return CRT_KEY_ENTER;
    case KEY_RESIZE: return CRT_KEY_RESIZE;
    case KEY_BTAB: return CRT_KEY_BTAB;
    case KEY_SR: return CRT_KEY_SUP;
    case KEY_SF: return CRT_KEY_SDOWN;
    case KEY_SLEFT: return CRT_KEY_SLEFT;
    case KEY_SRIGHT: return CRT_KEY_SRIGHT;
    default: return CRT_KEY_UNKNOWN;
    }
}

int crt_read(int timeout_ms)
{
    if (!crt.active) return CRT_KEY_NONE;
    wint_t wc;
    timeout(timeout_ms);
    int r = get_wch(&wc);
    if (r == ERR) return CRT_KEY_NONE;
    if (r == KEY_CODE_YES) return map_key((int)wc);
    /* A lone Esc is the focus key.  Alt-key arrives as Esc + key too, but whether the two
     * came together cannot be told once input queues up behind a slow command, so Esc is
     * never merged with what follows (ncurses has already taken the known sequences). */
    return (int)wc;
}
