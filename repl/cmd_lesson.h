/* cmd_lesson — the `lesson` command: finding lessons by name and language, and stepping
 * through one (lesson.c parses and plays them).
 *
 * Lessons live in LANG/NN-slug.lesson under, in this order: ./lessons, the executable's
 * ../share/lectern/lessons (where make install puts them), the executable's ../lessons (a
 * source tree's bin/lectern), and LECTERN_LESSONS_DIR when the build defines it.  The
 * language comes from --lang, `lesson lang`, or LC_ALL / LC_MESSAGES / LANG (ru when the
 * value starts with "ru"); en otherwise, and en when a lesson has no version in the
 * language asked for.
 *
 * With s->interactive set, `lesson NAME` shows the first part and stops at each pause;
 * Enter on an empty line (line.c, screen.c ask cmd_lesson_waiting) or `lesson next` goes
 * on.  Otherwise (batch) the lesson runs straight through, checking its expectations,
 * and the command fails when a check failed.
 */
#ifndef LECTERN_CMD_LESSON_H
#define LECTERN_CMD_LESSON_H

#include "repl/commands.h"
#include "repl/session.h"

/* The handler for the table in commands.c:
 *   lesson [NAME | list | next | prev | stop | lang [L]] */
int cmd_lesson(Session *s, const CmdArgs *a);

/* 1 when a lesson is in progress, waiting at a pause (Enter continues it). */
int cmd_lesson_waiting(const Session *s);

/* Loads lesson NAME (a name, number or path) and waits before its first part, showing
 * nothing: for `lectern --lesson NAME` on a terminal.  0 or ERR_ARG / ERR_FORMAT / ERR_IO. */
int cmd_lesson_begin(Session *s, const char *name);

/* A line for the greeting when a lesson waits to begin ("Lesson ... press Enter"), or NULL.
 * Allocated. */
char *cmd_lesson_greeting(const Session *s);

/* Sets the lessons' language ("en", "ru": 2 to 8 letters).  0 or ERR_ARG. */
int cmd_lesson_set_lang(Session *s, const char *lang);

/* Frees the lesson state (session_free).  NULL state is a no-op. */
void cmd_lesson_forget(Session *s);

/* Completion words for `lesson`: the subcommands and every lesson name found, in any
 * language.  NULL-terminated, allocated (free each string and the array). */
char **cmd_lesson_words(void);

#endif
