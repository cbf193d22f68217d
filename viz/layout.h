/* layout — the workbench screen as a model: which panes exist, where they go on a
 * terminal of a given size, which has focus, the view options, the output pane's lines,
 * and what keys and `view` commands do to all that.
 *
 * Nothing here touches the terminal or readline: layout_draw renders the whole screen
 * (status line, panes, output, key help, the command line given by the caller) into a
 * Canvas, and layout_key/layout_command change the model and return flags saying what
 * the caller should do (redraw, run a step, give focus back to the command line).
 * crt.c shows the canvas; repl/screen.c wires keys, readline and the session.
 */
#ifndef LECTERN_VIZ_LAYOUT_H
#define LECTERN_VIZ_LAYOUT_H

#include "viz/canvas.h"
#include "viz/views.h"

typedef enum {
    PANE_TOKENS = 0,
    PANE_ATTN,      /* attention heatmap, or the model view when Workbench.model_view */
    PANE_PROBS,
    PANE_LENS,
    PANE_OUTPUT,    /* command output */
    PANE_COUNT
} PaneId;

/* Smallest terminal the workbench lays out; below it a message says so. */
#define LAYOUT_MIN_COLS 60
#define LAYOUT_MIN_ROWS 18

typedef struct {
    VizOpts o;
    int focus_repl;          /* 1: typing goes to the command line */
    int focus;               /* PaneId with focus when !focus_repl */
    int model_view;          /* the attention pane shows all layers x heads */
    int help;                /* the help overlay is open */
    int cols, rows;          /* size of the last layout */
    int too_small;
    Rect pane[PANE_COUNT];   /* w == 0: not shown in this layout */
    HeatGeo geo;             /* where the last attention cells went */
    int probs_k;             /* candidates the probabilities pane showed last */
    int force_id;            /* the token to force after LAYOUT_FORCE */
    char **out;              /* output lines (escaped, no newline) */
    int out_n, out_cap;
    int out_scroll;          /* lines scrolled back from the end */
    int out_open;            /* the last line continues with the next output */
    char *status_extra;      /* e.g. cost counters from the session; may be NULL */
    char *flash;             /* one-line message on the help line until the next key */
    /* the command line, set by the caller before layout_draw */
    const char *prompt;
    const char *line;
    int point;               /* byte offset of the cursor in line */
} Workbench;

/* Flags returned by layout_key. */
enum {
    LAYOUT_REDRAW = 1,       /* the model changed: draw again */
    LAYOUT_TO_REPL = 2,      /* focus went to the command line */
    LAYOUT_STEP = 4,         /* run one generation step */
    LAYOUT_UNUSED = 8,       /* the key means nothing here; the caller may pass it on */
    LAYOUT_BACK = 16,        /* run `back` (from the scrubbed step when the strip is scrubbed) */
    LAYOUT_FORCE = 32,       /* run `force` with Workbench.force_id (the highlighted candidate) */
};

/* The position the token strip is scrubbed back to (0..n-1), or -1 when it follows the
 * latest step.  `back`, `force`, `step` and `gen` branch from there on the screen. */
int layout_scrubbed(const Workbench *wb, const Trace *t);

Workbench *layout_alloc(void);
void layout_free(Workbench *wb);          /* NULL is a no-op */

/* Lays the panes out for cols x rows (sets too_small when below the minimum). */
void layout_place(Workbench *wb, int cols, int rows);

/* Draws the whole screen into c (resized to cols x rows of the last layout_place).
 * lt may be NULL (the lens pane then says there is no table).  *cx and *cy receive where the
 * terminal cursor belongs (on the command line when it has focus, else -1). */
void layout_draw(Workbench *wb, Canvas *c, const Trace *t, const LensTable *lt, int *cx, int *cy);

/* Handles a key (a code point or CRT_KEY_*) for the panes; keys that work from anywhere
 * (F1 help, F5 step, F6 focus, F7 layer, F8 head, F9 model view) are handled whatever the
 * focus.  Returns LAYOUT_* flags. */
int layout_key(Workbench *wb, const Trace *t, int key);

/* `view ...` and `presenter ...` as argv (argv[0] is "view" or "presenter").  Returns 0, or
 * -1 with *msg (malloc'd) saying what was wrong; on success *msg (malloc'd, may be NULL)
 * says what changed. */
int layout_command(Workbench *wb, const Trace *t, int argc, const char *const *argv, char **msg);

/* The options of `attn L H [OPTION ...]` applied to o (which starts as the view options in
 * force): argv[0] is H, a head number or mean|max|rollout; then any of head|mean|max|rollout,
 * log|linear, hide-first|show-first, mass P, pool max|mean, zoom N|fit.  Sets o->layer to
 * layer.  Returns 0 (*note, malloc'd or NULL, says when the view's aggregate replaces the head
 * given), or -1 with *msg (malloc'd) saying what was wrong. */
int layout_attn_opts(VizOpts *o, const Trace *t, int layer, int argc, const char *const *argv,
                     char **note, char **msg);

/* Appends text (may hold several lines, invalid bytes are escaped) to the output pane.
 * Text that does not end in a newline leaves its line open: the next call continues it
 * (tokens streamed by `gen`) until layout_output_break. */
void layout_output(Workbench *wb, const char *text, size_t len);
void layout_output_break(Workbench *wb);
void layout_set_status(Workbench *wb, const char *extra);   /* copies; NULL clears */
void layout_flash(Workbench *wb, const char *msg);          /* copies; NULL clears */

/* The positions the lens pane can show: sets *pos0, *n_pos and returns 1 when the lens
 * pane is visible, else 0 (the caller then need not compute a table). */
int layout_lens_span(const Workbench *wb, const Trace *t, int *pos0, int *n_pos);

const char *layout_pane_name(int pane);
int layout_pane_by_name(const char *name);   /* -1 when unknown */

#endif
