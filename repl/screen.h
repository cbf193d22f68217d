/* screen — the workbench screen: panes drawn by viz/ around a readline command line.
 *
 * screen_run() takes over the terminal (through viz/crt.c), feeds readline's callback
 * interface from the screen's key loop, draws readline's line on the bottom row, runs
 * each entered line with session_exec() and shows its output in the output pane.
 * `view ...` and `presenter on|off` (screen_cmd_view, screen_cmd_presenter) change what the
 * panes show; they also work without the screen (plain and batch mode), where they set
 * the view options that viz_attn_text_opts and the next screen use.
 */
#ifndef LECTERN_SCREEN_H
#define LECTERN_SCREEN_H

#include "repl/commands.h"
#include "repl/session.h"
#include "viz/views.h"

/* Runs the screen until `quit` or Ctrl-D.  Returns 0, or -1 without touching the
 * terminal when it cannot host the screen (not a terminal, unknown TERM): the caller then
 * runs the plain prompt (line_run). */
int screen_run(Session *s);

/* Command handlers for the table in commands.c:
 *   { "view", "WHAT VALUE", ..., 1, 3, 0, COMPLETE_NONE, screen_cmd_view }
 *   { "presenter", "on|off", ..., 1, 1, 0, COMPLETE_NONE, screen_cmd_presenter }
 * Both print one line saying what changed, or fail with ERR_ARG and a message. */
int screen_cmd_view(Session *s, const CmdArgs *a);
int screen_cmd_presenter(Session *s, const CmdArgs *a);
/*   { "export", "WHAT ... FILE", ..., 2, 4, 0, COMPLETE_FILE, screen_cmd_export }
 * export attn L H|mean|max|rollout FILE, export probs [K] FILE, export model FILE,
 * export pattern [L] FILE; the format from FILE's extension (png svg pdf csv json). */
int screen_cmd_export(Session *s, const CmdArgs *a);

/* The view options in force (layer, head, aggregate, pooling, ...), for commands that draw
 * a view in plain mode.  Valid until the next view command. */
const VizOpts *screen_view_opts(void);

/* `attn L H [OPTION ...]`: the view options in force with the command's own applied
 * (layout_attn_opts); a->argv[1..] are H and the options.  Returns 0, or ERR_ARG with a
 * message; *note (malloc'd or NULL) is a line to print under the view. */
int screen_attn_opts(const Session *s, const CmdArgs *a, int layer, VizOpts *o, char **note);

/* Branching from a scrubbed step.  While the screen runs and its token strip is scrubbed
 * back to position P (0..n-1), commands that add or remove tokens act at P instead of at
 * the end of the context: screen_branch_pos returns P (else -1, always in plain and batch
 * mode), and screen_branch rewinds the context to P tokens (gen_back, logged as `back K` so
 * `save session` replays it), says so on the output, and lets the strip follow the latest
 * step again.  screen_branch returns 0 (also when not scrubbed), or ERR_STATE at position 0,
 * where nothing precedes the token to branch from. */
int screen_branch_pos(const Session *s);
int screen_branch(Session *s);

#endif
