/* commands — the REPL's one command table: name, argument synopsis, help text, how its
 * arguments complete, and the handler.  `help`, tab completion and the tests all read this
 * table, so a command exists in exactly one place.
 */
#ifndef LECTERN_COMMANDS_H
#define LECTERN_COMMANDS_H

#include <stddef.h>

#include "repl/session.h"

/* How the arguments of a command complete on TAB (line.c). */
typedef enum {
    COMPLETE_NONE = 0,
    COMPLETE_FILE,       /* every argument is a path (load) */
    COMPLETE_COMMAND,    /* a command name (help) */
    COMPLETE_SET_KEY,    /* a setting name, then nothing (set) */
    COMPLETE_SAVE,       /* what to save, then a path (save) */
    COMPLETE_VIEW,       /* a view option, then its values: pane names, on/off, ... (view) */
    COMPLETE_ONOFF,      /* on or off (presenter) */
    COMPLETE_PATTERN,    /* a pattern name or show/off/reach/path (pattern) */
    COMPLETE_KERNEL,     /* a kernel name (kernel) */
    COMPLETE_LESSON,     /* a lesson name or list/next/prev/stop/lang (lesson) */
    COMPLETE_TRAIN,      /* an option, or the value after it: a file, a config (train) */
} CompleteKind;

/* One argument word after quote removal.  Quoted words keep quoted = 1 so `force "13"`
 * (the token whose text is 13) differs from `force 13` (token id 13). */
typedef struct {
    char *s;         /* NUL-terminated; may hold NUL inside, see len */
    size_t len;
    int quoted;
} CmdArg;

typedef struct {
    int argc;
    CmdArg *argv;
    const char *rest;   /* the raw text after the command name (commands with CMD_REST) */
} CmdArgs;

enum {
    CMD_REST = 1 << 0,   /* the handler takes the rest of the line as text (prompt) */
    CMD_ALIAS = 1 << 1,  /* listed under another name in `help` */
};

typedef struct {
    const char *name;
    const char *args;       /* synopsis, e.g. "[N]" */
    const char *summary;    /* one line for `help` */
    const char *help;       /* the full text for `help CMD` */
    int min_args, max_args; /* counted words (ignored for CMD_REST) */
    int flags;
    CompleteKind complete;
    int (*fn)(Session *s, const CmdArgs *a);  /* 0 or a negative ERR_* (message set) */
} Command;

extern const Command commands_table[];
extern const int commands_count;

/* The keys `set` accepts, NULL-terminated (completion reads it). */
extern const char *const commands_set_keys[];
/* The things `save` can write, NULL-terminated. */
extern const char *const commands_save_kinds[];

const Command *commands_find(const char *name);

/* `load PATH [TOKENIZER]` (tok NULL: the tokenizer beside or inside the model): loads into a
 * new Model and swaps it in only when everything succeeded, logs the load for replay and
 * prints the loaded line.  0 or a negative ERR_* (the session keeps its model). */
int commands_load(Session *s, const char *path, const char *tok);

#endif
