/* line — the interactive prompt: the only user of readline.  History, tab completion of
 * commands, their arguments and file paths, and Ctrl-C that cancels a line or stops a
 * running `gen` without ending the session.
 */
#ifndef LECTERN_LINE_H
#define LECTERN_LINE_H

#include "repl/session.h"

/* Reads and runs commands until `quit` or end of input.  Returns 0. */
int line_run(Session *s);

/* The history file, $XDG_STATE_HOME/lectern/history (default ~/.local/state/lectern/history),
 * creating its directories.  Allocated; NULL when there is no home to put it in. */
char *line_history_path(void);

/* readline's completion entry for a line buffer: the candidates for the word text, which
 * starts at byte start of line.  NULL-terminated, allocated (free each and the array);
 * NULL when there are none.  Exposed so the screen and the tests share it. */
char **line_complete(const char *line, const char *text, int start);

#endif
