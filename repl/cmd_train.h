/* cmd_train — the REPL's `train` command: the same training run as `lectern train`
 * (subcmd_train_train), printed into the session, stopped by the session's Ctrl-C, and with
 * --load to make the trained model the session's model.
 */
#ifndef LECTERN_CMD_TRAIN_H
#define LECTERN_CMD_TRAIN_H

#include "repl/commands.h"
#include "repl/session.h"

/* The handler for the table in commands.c:  train --data FILE|toyworld ... [--load] */
int cmd_train(Session *s, const CmdArgs *a);

/* Completion words: every option (NULL-terminated), and the values of --config. */
extern const char *const cmd_train_options[];
extern const char *const cmd_train_configs[];

#endif
