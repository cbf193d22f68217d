/* cmd_attention — the REPL commands that swap the attention of a loaded model and measure
 * the trade: `pattern`, `kernel`, `compare`, `svd`.
 *
 * The Session owns every Pattern and Effattn it puts into Model.attn[] (those are borrowed
 * pointers there) through its AttnState; they are freed when replaced, when the model is
 * replaced (cmd_attention_forget, called by `load`) and with the session.
 */
#ifndef LECTERN_CMD_ATTENTION_H
#define LECTERN_CMD_ATTENTION_H

#include "repl/commands.h"
#include "repl/session.h"

/* Handlers for the table in commands.c. */
int cmd_pattern(Session *s, const CmdArgs *a);
int cmd_kernel(Session *s, const CmdArgs *a);
int cmd_compare(Session *s, const CmdArgs *a);
int cmd_svd(Session *s, const CmdArgs *a);

/* Drops the patterns and kernels the session owns (the model they were set on is gone or
 * about to be replaced; its AttnSpecs are not touched).  Safe to call at any time. */
void cmd_attention_forget(Session *s);

/* Completion words for the first argument of `pattern` / `kernel` (NULL-terminated). */
extern const char *const cmd_attention_pattern_words[];
extern const char *const cmd_attention_kernel_words[];

#endif
