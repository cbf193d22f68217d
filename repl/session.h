/* session — one REPL session: the loaded model, its generator, the sampler settings, the
 * log of commands that changed state, and where output goes.
 *
 * session_exec() parses and runs one command line (the table is in commands.c).  A failed
 * command prints one line (`error: ...`, or a JSON object with "ok": false) and leaves the
 * session as it was: the model stays loaded, the context stays.  Output goes to s->out
 * (plain text, or one JSON object per command in JSON mode) and errors to s->err, so the
 * screen and the tests can redirect both.
 * The interactive loop is in line.c; argument handling and batch mode in main.c.
 */
#ifndef LECTERN_SESSION_H
#define LECTERN_SESSION_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "engine/gen.h"
#include "engine/model.h"
#include "engine/sampler.h"

typedef struct Session {
    Model *model;            /* owned; NULL until `load` succeeds */
    Gen *gen;                /* owned; bound to model; NULL without a model */
    SamplerParams params;    /* the settings; kept across loads and applied to every Gen */
    SamplerParams initial;   /* settings when the log started: the head of `save session` */
    char *tokenizer_path;    /* used by `load` without a TOKENIZER argument; may be NULL */
    struct AttnState *attn;  /* patterns and kernels the model borrows (cmd_attention.c); owned */
    struct LessonState *lesson; /* language and the lesson in progress (cmd_lesson.c); owned */
    int interactive;         /* a person at the prompt: lessons stop at each pause */

    FILE *out;               /* results (not owned) */
    FILE *err;               /* error lines in plain mode (not owned; may equal out) */
    int json;                /* one JSON object per command on out */
    int width;               /* columns the text views may use */
    int step_k;              /* candidates shown per step */

    int quit;                /* set by `quit` */
    int n_failed;            /* commands that failed so far */

    char **log;              /* [n_log] canonical commands that changed state, for replay */
    int n_log, cap_log;

    /* While a command runs: */
    const char *cmd_name;    /* its name (for JSON and messages) */
    json_t *result;          /* JSON mode: the object the handler fills */
} Session;

/* Set by the SIGINT handler (line.c, main.c); `gen` and `step` stop between tokens when it
 * is set.  Whoever runs commands clears it: the prompt before each command (Ctrl-C stops
 * one command), batch mode never (Ctrl-C stops the script). */
extern volatile sig_atomic_t session_interrupt;

/* A session with no model, default settings, writing to out and err. */
Session *session_alloc(FILE *out, FILE *err);
void session_free(Session *s);   /* NULL is a no-op; frees the model */

/* Runs one command line.  Empty lines and lines starting with '#' do nothing.
 * Returns 0, or a negative ERR_* code after printing the error (the session is intact). */
int session_exec(Session *s, const char *line);

/* The text to show when an interactive session starts: the version, how to get help, and
 * when no model is loaded, how to load one.  Allocated; lines end in '\n'. */
char *session_greeting(const Session *s);

/* Runs each line of f until EOF or `quit`; echo prints "lectern> LINE" before each.
 * Returns the number of failed commands; stops early (returning it) on SIGINT. */
int session_run_file(Session *s, FILE *f, int echo);

/* Splits text into command lines at newlines and at ';' outside double quotes (for
 * `lectern -c "cmd; cmd"`); "\;" keeps a ';'.
 * Returns a NULL-terminated array of allocated strings; free with session_free_lines. */
char **session_split_commands(const char *text);
void session_free_lines(char **lines);

/* Writes the replayable script (the settings at the start of the log, then the logged
 * commands) to path.  Returns 0 or ERR_IO. */
int session_save(const Session *s, const char *path);

/* --- for the command handlers (commands.c) --- */

/* Appends a canonical command line to the replay log. */
void session_log(Session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Plain-mode output; does nothing in JSON mode. */
void session_printf(Session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void session_puts(Session *s, const char *text);

/* The shortest decimal that reads back as exactly f (for settings in logs and output);
 * writes into buf (32 bytes is enough) and returns it. */
char *session_format_float(char *buf, size_t size, float f);

/* Token text for plain output: quoted, with control bytes, '"', '\\' and invalid UTF-8
 * escaped (\n, \t, \xNN).  Allocated. */
char *session_quote_bytes(const char *b, size_t n);
/* A JSON string of bytes that may not be valid UTF-8 (invalid bytes become U+FFFD). */
json_t *session_json_bytes(const char *b, size_t n);
/* {"id": id, "text": token text} */
json_t *session_json_token(const Session *s, int id);

/* Reads an escaped text (prompt syntax: \n \t \r \0 \\ \" \; \xHH, "\ " a space; a text
 * wholly inside double quotes loses them).  Returns an allocated buffer, *len its length
 * (it may hold NUL), or NULL with an ERR_ARG message. */
char *session_unescape(const char *text, size_t *len);
/* The inverse, producing a double-quoted string session_unescape reads back. */
char *session_escape(const char *b, size_t n);

#endif
