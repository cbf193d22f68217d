/* lesson — lesson scripts: the file format, its parser, and the runner that plays a lesson
 * into a Session.
 *
 * A lesson is a plain UTF-8 text file.  Line by line:
 *
 *   # TEXT                 a comment for the author; never shown
 *   title TEXT             the lesson's title (lesson list); once, before anything else
 *   require model          the lesson needs a model: the loaded one, else the first found
 *                          of models/default.safetensors and ../shared/models/gpt2-tiny
 *                          (with ../shared/tokenizers/gpt2); none found: the lesson is
 *                          skipped with a SKIP: line
 *   require layers N [TEXT] the rest of this part (up to the next pause) needs a model with
 *                          at least N layers; with fewer, TEXT (or a standard note) is shown
 *                          instead and the part's commands and checks are skipped
 *   TEXT                   narration: lines that follow each other form a paragraph, which
 *                          is reflowed to the screen width; a blank line ends it; "- "
 *                          starts a list item (indented lines continue it); elsewhere a
 *                          line starting with a blank is kept as written
 *   \TEXT                  narration that starts with a directive word or # or >
 *   > COMMAND              a command: shown as "lectern> COMMAND", run, its output shown
 *   pause                  interactive: stop until Enter (or lesson next); batch: nothing
 *   expect-contains TEXT   checks on the output (and error line) of the command just run:
 *   expect-lacks TEXT        it contains TEXT / does not contain TEXT /
 *   expect-match REGEX       a line matches the POSIX extended REGEX /
 *   expect-error [TEXT]      the command failed (with TEXT in its message)
 *   save-output NAME         keeps that output under NAME, for
 *   expect-same NAME         the output is the same as NAME's /
 *   expect-different NAME    differs from NAME's
 *
 * Checks follow their command directly (blank and comment lines may come between).  TEXT
 * uses the escapes of `prompt` (\n, \", \xHH, ...; wholly quoted text keeps its blanks).  A
 * command that fails without an expect-error after it is a failed check too, and stops the
 * lesson (what follows builds on it).  In JSON mode
 * only expect-error is checked (the others are about the plain text on screen).  So replaying
 * a lesson in batch mode verifies that what the narration tells the class is on screen.
 *
 * Owns: parsing (a bad file gives one ERR_FORMAT line "FILE:LINE: problem"), reflowing
 * narration, running a span of sections with captured output, evaluating the checks.
 * Does not own: finding lessons, the language, the `lesson` command and its state
 * (cmd_lesson.c).  The check idea follows sqlite's shell.c (.testcase / .check).
 */
#ifndef LECTERN_LESSON_H
#define LECTERN_LESSON_H

#include <stddef.h>

#include "repl/session.h"

typedef enum {
    LESSON_NARRATION,       /* text: the paragraph's lines, '\n'-separated, as written */
    LESSON_COMMAND,         /* text: the command line */
    LESSON_REQUIRE_MODEL,
    LESSON_EXPECT_CONTAINS, /* text (len bytes, may hold NUL) */
    LESSON_EXPECT_LACKS,
    LESSON_EXPECT_MATCH,    /* text: the regex; re: compiled */
    LESSON_EXPECT_ERROR,    /* text: NULL or what the message must contain */
    LESSON_SAVE_OUTPUT,     /* text: the name */
    LESSON_EXPECT_SAME,     /* text: the name */
    LESSON_EXPECT_DIFFERENT,
    LESSON_REQUIRE_LAYERS,  /* len: the number of layers; text: the note shown when skipping */
} LessonKind;

typedef struct {
    LessonKind kind;
    int line;           /* 1-based line in the file */
    char *text;
    size_t len;
    void *re;           /* regex_t * for LESSON_EXPECT_MATCH */
} LessonItem;

typedef struct {
    char *path;         /* as given to lesson_parse */
    char *name;         /* the file name without directory and .lesson: "01-generation" */
    char *title;        /* NULL when the file has no title line */
    LessonItem *items;  /* [n_items] */
    int n_items;
    int *section;       /* [n_sections + 1]: the first item of each section, then n_items */
    int n_sections;     /* pauses + 1 */
    int n_checks;       /* expect-* items */
    char **saved;       /* [n_items] while playing: save-output copies (lesson_play's state) */
} Lesson;

/* Parses a lesson from text (len bytes).  path names it in messages and gives its name.
 * Returns 0 and *out (free with lesson_free), or ERR_FORMAT with "path:line: problem". */
int lesson_parse(const char *path, const char *text, size_t len, Lesson **out);
/* Reads and parses the file at path (ERR_IO when it cannot be read). */
int lesson_load(const char *path, Lesson **out);
void lesson_free(Lesson *l);   /* NULL is a no-op */

/* How a span of sections is played. */
typedef struct {
    int quiet;          /* run the commands but show nothing (rebuilding state for `lesson prev`) */
    int checks;         /* evaluate the checks (reported on s->err as "FAIL path:line: ...") */
} LessonPlay;

typedef struct {
    int n_checks;       /* checks evaluated */
    int n_failed;       /* of those, failed (a command failing unexpectedly counts as one) */
    int skipped;        /* `require model` found none: the rest was not run */
    int stopped;        /* Ctrl-C, `quit` or a command failing unexpectedly stopped the run */
} LessonResult;

/* Plays sections [from, to) of l into s: narration reflowed to s->width on s->out (in
 * JSON mode one {"cmd":"lesson","narration":...} object per paragraph), each command
 * echoed and run through session_exec with its output captured for the checks.
 * Commands the lesson expected to fail do not count in s->n_failed.
 * Returns 0 with *r filled; the caller decides what failed checks mean. */
int lesson_play(Session *s, Lesson *l, int from, int to, LessonPlay how, LessonResult *r);

/* Writes a narration paragraph reflowed to width columns (code points) into an allocated
 * string ending in '\n'. */
char *lesson_reflow(const char *text, int width);

/* The model `require model` loads when none is: fills *model and *tok (allocated; *tok may
 * be NULL) and returns 1, or returns 0 when none is found. */
int lesson_find_model(char **model, char **tok);

#endif
