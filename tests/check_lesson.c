/* Tests for lessons: the file format's parser (repl/lesson.c), every way a lesson file can
 * be wrong (one ERR_FORMAT line naming file:line), reflowing narration, the runner's checks
 * (a failing expect fails the replay, an expected error does not count as a failed
 * command, pause is a no-op in batch), and the `lesson` command (repl/cmd_lesson.c): name
 * lookup, languages, list, interactive parts with next/prev/stop, completion, and
 * `require model` with and without a model to find.
 * Most cases need no model: their commands are `set` and `help`.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/err.h"
#include "repl/cmd_lesson.h"
#include "repl/commands.h"
#include "repl/lesson.h"
#include "repl/line.h"
#include "repl/session.h"
#include "tests/util/cap.h"
#include "tests/util/testutil.h"


/* Parses text as a lesson named path; returns the lesson (must succeed). */
static Lesson *parse_ok(const char *path, const char *text)
{
    Lesson *l = NULL;
    int rc = lesson_parse(path, text, strlen(text), &l);
    ck_assert_msg(rc == 0, "'%s' did not parse: %s", text, err_msg());
    ck_assert_ptr_nonnull(l);
    return l;
}

/* Parses text (len bytes) and expects ERR_FORMAT whose one-line message starts with want. */
static void parse_bad_n(const char *text, size_t len, const char *want)
{
    Lesson *l = (Lesson *)1;
    int rc = lesson_parse("t.lesson", text, len, &l);
    ck_assert_msg(rc == ERR_FORMAT, "'%s' should fail to parse", text);
    ck_assert_ptr_null(l);
    ck_assert_msg(strncmp(err_msg(), want, strlen(want)) == 0, "'%s' gave '%s', wanted '%s'", text,
                  err_msg(), want);
    ck_assert_msg(strchr(err_msg(), '\n') == NULL, "more than one line: %s", err_msg());
}
static void parse_bad(const char *text, const char *want) { parse_bad_n(text, strlen(text), want); }

/* Writes text to dir/rel (making dir/rel's directories); returns the allocated path. */
static char *put(const char *dir, const char *rel, const char *text)
{
    char *path = xasprintf("%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static char *temp_dir(void)
{
    const char *t = getenv("TMPDIR");
    char *d = xasprintf("%s/lectern-lesson-XXXXXX", t && *t ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void rm_rf(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

static char *run_ok_cap(Cap *c, const char *line)
{
    int rc = session_exec(c->s, line);
    char *e = take_err(c);
    ck_assert_msg(rc == 0, "'%s' failed: %s", line, e);
    free(e);
    return take_out(c);
}

/* ---- the parser ---- */

START_TEST(test_parse_structure)
{
    const char *text =
        "# a comment, never shown\r\n"
        "title  A title with  spaces  \r\n"
        "require model\n"
        "\n"
        "First paragraph,\n"
        "two lines.\n"
        "\n"
        "Second paragraph.\n"
        "> set top_k 3\n"
        "\n"
        "expect-contains top_k 3\n"
        "# comments may sit between a command and its checks\n"
        "expect-lacks \"top_p\"\n"
        "expect-match ^top_k [0-9]+$\n"
        "save-output k3\n"
        "pause\n"
        ">   help quit   \n"
        "expect-different k3\n"
        "\\pause is narration here, and so is\n"
        "\\# this\n"
        "> set frob 1\n"
        "expect-error\n"
        "> set frob 2\n"
        "expect-error unknown setting\n";
    Lesson *l = parse_ok("some/dir/05-things.lesson", text);
    ck_assert_str_eq(l->name, "05-things");
    ck_assert_str_eq(l->path, "some/dir/05-things.lesson");
    ck_assert_str_eq(l->title, "A title with  spaces");
    ck_assert_int_eq(l->n_sections, 2);
    ck_assert_int_eq(l->n_checks, 6);
    LessonKind want[] = { LESSON_REQUIRE_MODEL, LESSON_NARRATION, LESSON_NARRATION, LESSON_COMMAND,
                          LESSON_EXPECT_CONTAINS, LESSON_EXPECT_LACKS, LESSON_EXPECT_MATCH,
                          LESSON_SAVE_OUTPUT, LESSON_COMMAND, LESSON_EXPECT_DIFFERENT,
                          LESSON_NARRATION, LESSON_COMMAND, LESSON_EXPECT_ERROR, LESSON_COMMAND,
                          LESSON_EXPECT_ERROR };
    int n = (int)(sizeof want / sizeof want[0]);
    ck_assert_int_eq(l->n_items, n);
    for (int i = 0; i < n; i++) ck_assert_msg(l->items[i].kind == want[i], "item %d is %d", i, l->items[i].kind);
    ck_assert_str_eq(l->items[1].text, "First paragraph,\ntwo lines.");
    ck_assert_int_eq(l->items[1].line, 5);
    ck_assert_str_eq(l->items[3].text, "set top_k 3");
    ck_assert_int_eq(l->items[3].line, 9);
    ck_assert_str_eq(l->items[4].text, "top_k 3");
    ck_assert_str_eq(l->items[5].text, "top_p");    /* quotes removed */
    ck_assert_str_eq(l->items[8].text, "help quit");
    ck_assert_str_eq(l->items[10].text, "pause is narration here, and so is\n# this");
    ck_assert_ptr_null(l->items[12].text);
    ck_assert_str_eq(l->items[14].text, "unknown setting");
    ck_assert_int_eq(l->section[0], 0);
    ck_assert_int_eq(l->section[1], 8);
    ck_assert_int_eq(l->section[2], n);
    lesson_free(l);
    lesson_free(NULL);

    /* escapes in checks: a NUL and a newline survive */
    l = parse_ok("x.lesson", "> help\nexpect-contains \"a\\x00b\\n\"\n");
    ck_assert_int_eq(l->items[1].len, 4);
    ck_assert(memcmp(l->items[1].text, "a\0b\n", 4) == 0);
    lesson_free(l);
    /* no title: fine; a file without a trailing newline: fine */
    l = parse_ok("x.lesson", "Only narration");
    ck_assert_ptr_null(l->title);
    ck_assert_int_eq(l->n_items, 1);
    lesson_free(l);
}
END_TEST

START_TEST(test_parse_errors)
{
    parse_bad("", "t.lesson: no narration and no commands");
    parse_bad("# only a comment\n\ntitle T\n", "t.lesson: no narration and no commands");
    parse_bad("Text\nexpect-contains x\n", "t.lesson:2: expect-contains must follow a command");
    parse_bad("> help\nText\nexpect-contains x\n", "t.lesson:3: expect-contains must follow a command");
    parse_bad("> help\npause\nexpect-error\n", "t.lesson:3: expect-error must follow a command");
    parse_bad("> help\nexpect-frob x\n", "t.lesson:2: unknown check 'expect-frob'");
    parse_bad("> help\nexpect-contains\n", "t.lesson:2: expect-contains needs a TEXT");
    parse_bad("> help\nexpect-contains \"\"\n", "t.lesson:2: expect-contains needs a TEXT that is not empty");
    parse_bad("> help\nexpect-contains a\\q\n", "t.lesson:2: expect-contains: unknown escape");
    parse_bad("> help\nexpect-match (unclosed\n", "t.lesson:2: expect-match: bad regex '(unclosed'");
    parse_bad("> help\nexpect-match\n", "t.lesson:2: expect-match needs a REGEX");
    parse_bad("> help\nsave-output a b\n", "t.lesson:2: save-output takes one NAME");
    parse_bad("> help\nsave-output a\n> help\nsave-output a\n", "t.lesson:4: save-output a: that name is taken");
    parse_bad("> help\nexpect-same a\n", "t.lesson:2: expect-same a: no save-output a before it");
    parse_bad("> help\nexpect-different\n", "t.lesson:2: expect-different needs a NAME");
    parse_bad("pause\nText\n", "t.lesson:1: pause with nothing before it since the start");
    parse_bad("Text\npause\n\npause\nMore\n", "t.lesson:4: pause with nothing before it since the last pause");
    parse_bad("Text\npause\n", "t.lesson:2: pause at the end of the lesson");
    parse_bad("Text\npause now\n", "t.lesson:2: pause takes nothing after it");
    parse_bad("title A\ntitle B\nText\n", "t.lesson:2: a second title");
    parse_bad("Text\ntitle Late\n", "t.lesson:2: title must come before");
    parse_bad("title\nText\n", "t.lesson:1: title needs a text");
    parse_bad("require a tokenizer\n", "t.lesson:1: require what? ('a tokenizer'");
    parse_bad("require model\nrequire layers\n", "t.lesson:2: require layers needs a number of layers");
    parse_bad("require model\nrequire layers x\n", "t.lesson:2: require layers needs a number of layers");
    parse_bad("require model\nrequire layers 0\n", "t.lesson:2: require layers needs a number of layers");
    parse_bad("require model\nrequire layers 3x\n", "t.lesson:2: require layers needs a number of layers");
    parse_bad("Text\nrequire layers 3\n", "t.lesson:2: require layers must come after require model");
    parse_bad("Text\n>   \n", "t.lesson:2: '>' needs a command");
    parse_bad("Text\nbad \xff byte\n", "t.lesson:2: not valid UTF-8");
    parse_bad("Text\n\xd0\n", "t.lesson:2: not valid UTF-8");   /* a cut-off sequence */
    parse_bad_n("Text\nnul\0here\n", 14, "t.lesson:2: a NUL byte");

    Lesson *l = (Lesson *)1;
    ck_assert_int_eq(lesson_load("/nonexistent/dir/x.lesson", &l), ERR_IO);
    ck_assert_ptr_null(l);
    ck_assert(strstr(err_msg(), "/nonexistent/dir/x.lesson") != NULL);
}
END_TEST

/* ---- narration ---- */

START_TEST(test_reflow)
{
    char *r = lesson_reflow("one two three\nfour five six seven", 20);
    ck_assert_str_eq(r, "one two three four\nfive six seven\n");
    free(r);
    /* widths count code points, not bytes: 4 Cyrillic words of 5 letters fit in 23 */
    r = lesson_reflow("слово слово слово слово слово", 23);
    ck_assert_str_eq(r, "слово слово слово слово\nслово\n");
    free(r);
    r = lesson_reflow("Intro line\n- first item that wraps around\n  still the first\n- second\n"
                      "    continues the second", 22);
    ck_assert_str_eq(r, "Intro line\n- first item that\n  wraps around still\n  the first\n- second continues the\n"
                        "  second\n");
    free(r);
    r = lesson_reflow("Text before\n  kept   as is\nafter", 40);
    ck_assert_str_eq(r, "Text before\n  kept   as is\nafter\n");
    free(r);
    /* a word longer than the width stands on its own line; the width never drops below 20 */
    r = lesson_reflow("a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb c", 5);
    ck_assert_str_eq(r, "a\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nc\n");
    free(r);
}
END_TEST

/* ---- playing, without a model ---- */

static const char *const k_checks =
    "title Checks\n"
    "Narration that is shown.\n"
    "> set top_k 3\n"
    "expect-contains top_k 3\n"
    "expect-lacks top_p\n"
    "expect-match ^top_k [0-9]$\n"
    "save-output three\n"
    "pause\n"
    "> set top_k 3\n"
    "expect-same three\n"
    "> set top_k 4\n"
    "expect-different three\n"
    "> set frob 1\n"
    "expect-error unknown setting 'frob'\n";

START_TEST(test_play_passes)
{
    Cap c;
    cap_open(&c);
    Lesson *l = parse_ok("checks.lesson", k_checks);
    LessonResult r;
    ck_assert_int_eq(lesson_play(c.s, l, 0, l->n_sections, (LessonPlay){ .checks = 1 }, &r), 0);
    char *o = take_out(&c), *e = take_err(&c);
    ck_assert_int_eq(r.n_checks, 6);
    ck_assert_msg(r.n_failed == 0, "failed: %s", e);
    ck_assert(!r.skipped && !r.stopped);
    ck_assert_msg(strstr(o, "Narration that is shown.\n") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "lectern> set top_k 3\ntop_k 3\n") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "lectern> set frob 1\n") != NULL, "%s", o);
    /* the expected error is shown to the class, and is not a failed command */
    ck_assert_msg(strstr(e, "error: unknown setting 'frob'") != NULL, "%s", e);
    ck_assert_int_eq(c.s->n_failed, 0);
    ck_assert_int_eq(c.s->params.top_k, 4);
    free(o);
    free(e);

    /* quiet: the commands run, nothing is shown */
    ck_assert_int_eq(lesson_play(c.s, l, 0, 1, (LessonPlay){ .quiet = 1 }, &r), 0);
    o = take_out(&c);
    e = take_err(&c);
    ck_assert_str_eq(o, "");
    ck_assert_str_eq(e, "");
    ck_assert_int_eq(c.s->params.top_k, 3);
    free(o);
    free(e);
    lesson_free(l);
    cap_close(&c);
}
END_TEST

START_TEST(test_play_failures)
{
    Cap c;
    cap_open(&c);
    Lesson *l = parse_ok("dir/bad.lesson",
                         "> set top_k 3\n"
                         "expect-contains top_k 4\n"       /* 2: wrong */
                         "expect-lacks top_k\n"            /* 3: wrong */
                         "expect-match ^top_p\n"           /* 4: wrong */
                         "save-output a\n"
                         "> set top_k 3\n"
                         "expect-different a\n"            /* 7: wrong */
                         "expect-error\n"                  /* 8: wrong: it succeeded */
                         "> set top_k 5\n"
                         "expect-same a\n"                 /* 10: wrong */
                         "> set frob 2\n"
                         "expect-error no such thing\n"    /* 12: fails otherwise */
                         "> set frob 1\n"                  /* 13: fails, nothing expected it */
                         "expect-contains top_k\n"         /* not evaluated: the lesson stopped */
                         "> set top_k 9\n");               /* not run */
    LessonResult r;
    lesson_play(c.s, l, 0, l->n_sections, (LessonPlay){ .checks = 1 }, &r);
    char *e = take_err(&c), *o = take_out(&c);
    ck_assert_int_eq(r.n_failed, 8);
    ck_assert_int_eq(r.n_checks, 8);   /* 7 expects and the unexpected failure */
    const char *lines[] = {
        "FAIL dir/bad.lesson:2: expect-contains \"top_k 4\": not in the output of 'set top_k 3' (top_k 3)\n",
        "FAIL dir/bad.lesson:3: expect-lacks \"top_k\": the output of 'set top_k 3' has it\n",
        "FAIL dir/bad.lesson:4: expect-match ^top_p: no line of the output of 'set top_k 3' matches",
        "FAIL dir/bad.lesson:7: expect-different a: the output of 'set top_k 3' is the same\n",
        "FAIL dir/bad.lesson:8: expect-error: 'set top_k 3' succeeded\n",
        "FAIL dir/bad.lesson:10: expect-same a: the output of 'set top_k 5' differs from it\n",
        "FAIL dir/bad.lesson:12: expect-error \"no such thing\": 'set frob 2' failed otherwise",
        "FAIL dir/bad.lesson:13: 'set frob 1' failed: unknown setting 'frob' (temperature, top_k, top_p, "
        "seed) (the lesson stops here)\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(strstr(e, lines[i]) != NULL, "missing '%s' in:\n%s", lines[i], e);
    /* the run went on after each failed check, and stopped at the failed command */
    ck_assert(strstr(o, "lectern> set frob 2") != NULL);
    ck_assert(strstr(o, "lectern> set frob 1") != NULL);
    ck_assert(strstr(o, "set top_k 9") == NULL);
    ck_assert(r.stopped);
    ck_assert_int_eq(c.s->params.top_k, 5);
    /* the unexpected failure counts as a failed command; the expected one does not */
    ck_assert_int_eq(c.s->n_failed, 1);
    free(e);
    free(o);
    lesson_free(l);
    cap_close(&c);
}
END_TEST

START_TEST(test_batch_command)
{
    char *dir = temp_dir();
    char *good = put(dir, "good.lesson", k_checks);
    char *bad = put(dir, "bad.lesson", "> set top_k 3\nexpect-contains top_k 9\n");
    char *broken = put(dir, "broken.lesson", "Text\nexpect-lacks x\n");
    char *loop = put(dir, "loop.lesson", "Again and again.\n> lesson loop.lesson\n");
    Cap c;
    cap_open(&c);
    /* batch: pause is a no-op, the whole lesson runs, a summary line ends it */
    char *line = xasprintf("lesson %s", good);
    ck_assert_int_eq(session_exec(c.s, line), 0);
    free(line);
    char *o = take_out(&c), *e = take_err(&c);
    ck_assert_msg(strncmp(o, "══ good · Checks ══\n", strlen("══ good · Checks ══\n")) == 0, "%s", o);
    ck_assert(strstr(o, "lectern> set top_k 4") != NULL);   /* past the pause */
    ck_assert(strstr(o, "── end of lesson good ──\n(6 checks passed)\n") != NULL);
    ck_assert(!cmd_lesson_waiting(c.s));
    ck_assert_int_eq(c.s->n_failed, 0);
    free(o);
    free(e);
    /* a failing check fails the command with one summary line */
    line = xasprintf("lesson %s", bad);
    ck_assert_int_lt(session_exec(c.s, line), 0);
    free(line);
    e = take_err(&c);
    o = take_out(&c);
    ck_assert_msg(strstr(e, "FAIL ") && strstr(e, "bad.lesson:2: expect-contains") , "%s", e);
    ck_assert_msg(strstr(e, "error: lesson bad: 1 of 1 checks failed (the FAIL lines say where)\n"), "%s", e);
    ck_assert_int_eq(c.s->n_failed, 1);
    free(o);
    free(e);
    /* a broken file: one error line with file:line */
    line = xasprintf("lesson %s", broken);
    ck_assert_int_lt(session_exec(c.s, line), 0);
    free(line);
    e = take_err(&c);
    char *want = xasprintf("error: %s:2: expect-lacks must follow a command (> COMMAND) or another check\n", broken);
    ck_assert_str_eq(e, want);
    free(want);
    free(e);
    free(take_out(&c));
    /* a lesson cannot start lessons (no recursion), and says so as a failed check */
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_lt(session_exec(c.s, "lesson loop.lesson"), 0);
    e = take_err(&c);
    ck_assert_msg(strstr(e, "FAIL loop.lesson:2: 'lesson loop.lesson' failed: a lesson cannot run the lesson "
                            "command (the lesson stops here)\n") && strstr(e, "1 of 1 checks failed"), "%s", e);
    free(e);
    free(take_out(&c));
    /* JSON: narration as objects, the command's own result last */
    c.s->json = 1;
    line = xasprintf("lesson %s", good);
    ck_assert_int_eq(session_exec(c.s, line), 0);
    free(line);
    o = take_out(&c);
    free(take_err(&c));
    int n_narr = 0, n_lines = 0;
    json_t *last = NULL;
    for (char *p = o, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        json_t *j = json_loads(p, 0, NULL);
        ck_assert_msg(j != NULL, "not JSON: %s", p);
        n_lines++;
        if (json_object_get(j, "narration")) n_narr++;
        json_decref(last);
        last = j;
    }
    ck_assert_int_eq(n_narr, 1);
    ck_assert_int_ge(n_lines, 6);
    ck_assert_str_eq(json_string_value(json_object_get(last, "cmd")), "lesson");
    ck_assert(json_is_true(json_object_get(last, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(last, "checks")), 1);   /* expect-error only */
    ck_assert_int_eq(json_integer_value(json_object_get(last, "failed")), 0);
    json_decref(last);
    free(o);
    cap_close(&c);
    free(good);
    free(bad);
    free(broken);
    free(loop);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ---- finding lessons, languages, interactive parts ---- */

static const char *const k_three =
    "title Three parts\n"
    "Part one.\n> set top_k 1\nexpect-contains top_k 1\npause\n"
    "Part two.\n> set top_k 2\npause\n"
    "Part three.\n> set top_k 3\n";

/* A lesson tree in a new temporary directory, made the working directory. */
static char *lesson_tree(void)
{
    char *dir = temp_dir();
    free(put(dir, "lessons/en/01-alpha.lesson", k_three));
    free(put(dir, "lessons/ru/01-alpha.lesson", "title Три части\nЧасть.\n> set top_k 7\n"));
    free(put(dir, "lessons/en/02-beta.lesson", "title Beta\nBeta text.\n> set top_k 8\n"));
    free(put(dir, "lessons/en/10-gamma-ray.lesson", "title Gamma\nGamma text.\n"));
    free(put(dir, "lessons/en/20-x.lesson", "Twenty.\n"));
    free(put(dir, "lessons/en/20-y.lesson", "Twenty again.\n"));
    free(put(dir, "lessons/en/30-broken.lesson", "pause\n"));
    ck_assert_int_eq(chdir(dir), 0);
    return dir;
}

static char *run(Cap *c, const char *line, int want_rc)
{
    int rc = session_exec(c->s, line);
    char *e = take_err(c);
    ck_assert_msg((rc == 0) == (want_rc == 0), "'%s' gave %d: %s", line, rc, e);
    free(e);
    return take_out(c);
}

static char *run_err(Cap *c, const char *line)
{
    ck_assert_msg(session_exec(c->s, line) < 0, "'%s' should fail", line);
    free(take_out(c));
    return take_err(c);
}

START_TEST(test_lookup_and_list)
{
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    setenv("LANG", "en_US.UTF-8", 1);
    char *dir = lesson_tree();
    Cap c;
    cap_open(&c);
    const char *names[] = { "1", "01", "alpha", "01-alpha", "lessons/en/01-alpha.lesson" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *line = xasprintf("lesson %s", names[i]);
        char *o = run(&c, line, 0);
        ck_assert_msg(strstr(o, "══ 01-alpha · Three parts ══") != NULL, "%s: %s", line, o);
        free(o);
        free(line);
    }
    char *o = run(&c, "lesson gamma-ray", 0);
    ck_assert(strstr(o, "Gamma text.") != NULL);
    free(o);
    char *e = run_err(&c, "lesson 20");
    ck_assert_msg(strstr(e, "lesson '20' is ambiguous in lessons/en: 20-x or 20-y"), "%s", e);
    free(e);
    e = run_err(&c, "lesson nothing");
    ck_assert_str_eq(e, "error: no lesson 'nothing' in en (lesson list shows them)\n");
    free(e);
    e = run_err(&c, "lesson 30");
    ck_assert_str_eq(e, "error: lessons/en/30-broken.lesson:1: pause with nothing before it since the start\n");
    free(e);
    e = run_err(&c, "lesson a b");
    ck_assert(strstr(e, "usage: lesson"));
    free(e);

    o = run(&c, "lesson list", 0);
    ck_assert_msg(strstr(o, "lessons (en);") == o, "%s", o);
    ck_assert(strstr(o, "\n  01-alpha               Three parts\n"));
    ck_assert(strstr(o, "\n  02-beta                Beta\n"));
    ck_assert(strstr(o, "\n  30-broken              (broken) lessons/en/30-broken.lesson:1: pause"));
    ck_assert(strstr(o, "01-alpha") < strstr(o, "02-beta") && strstr(o, "02-beta") < strstr(o, "10-gamma"));
    free(o);
    o = run(&c, "lesson", 0);   /* no lesson in progress: the list */
    ck_assert(strstr(o, "lessons (en);") == o);
    free(o);

    /* Russian: the Russian version where there is one, English otherwise (said so) */
    o = run(&c, "lesson lang ru", 0);
    ck_assert_str_eq(o, "lesson language ru\n");
    free(o);
    o = run(&c, "lesson 1", 0);
    ck_assert_msg(strstr(o, "══ 01-alpha · Три части ══") && strstr(o, "(проверок пройдено: 0)"), "%s", o);
    free(o);
    o = run(&c, "lesson beta", 0);
    ck_assert_msg(strstr(o, "(no ru version of 02-beta; here it is in English)\n") == o, "%s", o);
    free(o);
    o = run(&c, "lesson list", 0);
    ck_assert(strstr(o, "lessons (ru);") == o && strstr(o, "Три части") && !strstr(o, "Beta"));
    free(o);
    e = run_err(&c, "lesson lang RU");
    ck_assert(strstr(e, "language 'RU'"));
    free(e);
    ck_assert_int_lt(cmd_lesson_set_lang(c.s, "r"), 0);
    ck_assert_int_lt(cmd_lesson_set_lang(c.s, "../ru"), 0);
    ck_assert_int_eq(cmd_lesson_set_lang(c.s, "en"), 0);

    /* completion: the subcommands and the names */
    char **m = line_complete("lesson ", "", 7);
    int n = 0, has_list = 0, has_alpha = 0;
    for (char **w = m; w && *w; w++, n++) {
        has_list |= !strcmp(*w, "list");
        has_alpha |= !strcmp(*w, "01-alpha");
        free(*w);
    }
    free(m);
    ck_assert(has_list && has_alpha);
    ck_assert_int_ge(n, 5 + 6);
    m = line_complete("lesson 0", "0", 7);
    n = 0;
    for (char **w = m; w && *w; w++, n++) free(*w);
    free(m);
    ck_assert_int_eq(n, 2);   /* 01-alpha, 02-beta */
    cap_close(&c);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_lang_from_env)
{
    char *dir = lesson_tree();
    const struct { const char *all, *messages, *lang, *want; } cases[] = {
        { NULL, NULL, "ru_RU.UTF-8", "ru" },
        { NULL, NULL, "de_DE.UTF-8", "en" },
        { "ru_RU.UTF-8", NULL, "en_US.UTF-8", "ru" },   /* LC_ALL first */
        { "", "ru_UA", "en_US", "ru" },                 /* empty counts as unset */
        { "C", NULL, "ru_RU", "en" },
        { NULL, NULL, NULL, "en" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].all) setenv("LC_ALL", cases[i].all, 1); else unsetenv("LC_ALL");
        if (cases[i].messages) setenv("LC_MESSAGES", cases[i].messages, 1); else unsetenv("LC_MESSAGES");
        if (cases[i].lang) setenv("LANG", cases[i].lang, 1); else unsetenv("LANG");
        Cap c;
        cap_open(&c);
        char *o = run(&c, "lesson lang", 0);
        char *want = xasprintf("lesson language %s\n", cases[i].want);
        ck_assert_msg(!strcmp(o, want), "case %zu: %s", i, o);
        free(want);
        free(o);
        cap_close(&c);
    }
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_interactive_parts)
{
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    setenv("LANG", "C", 1);
    char *dir = lesson_tree();
    Cap c;
    cap_open(&c);
    c.s->interactive = 1;
    char *e = run_err(&c, "lesson next");
    ck_assert(strstr(e, "no lesson in progress"));
    free(e);
    e = run_err(&c, "lesson prev");
    ck_assert(strstr(e, "no lesson in progress"));
    free(e);
    e = run_err(&c, "lesson stop");
    ck_assert(strstr(e, "no lesson in progress"));
    free(e);

    char *o = run(&c, "lesson alpha", 0);
    ck_assert_msg(strstr(o, "Part one.") && !strstr(o, "Part two."), "%s", o);
    ck_assert(strstr(o, "── part 1 of 3 · Enter goes on · lesson prev goes back · lesson stop leaves ──\n"));
    ck_assert(cmd_lesson_waiting(c.s));
    ck_assert_int_eq(c.s->params.top_k, 1);
    free(o);
    e = run_err(&c, "lesson prev");
    ck_assert(strstr(e, "this is the first part"));
    free(e);
    o = run(&c, "lesson", 0);
    ck_assert_str_eq(o, "lesson 01-alpha: part 2 of 3 next (Enter or lesson next; lesson prev, lesson stop)\n");
    free(o);
    o = run(&c, "set top_k 40", 0);   /* the teacher explores between parts */
    free(o);
    o = run(&c, "lesson next", 0);
    ck_assert_msg(strstr(o, "Part two.") && !strstr(o, "Part one.") && strstr(o, "part 2 of 3"), "%s", o);
    ck_assert_int_eq(c.s->params.top_k, 2);
    free(o);
    /* prev: part one again, its state rebuilt */
    o = run(&c, "lesson prev", 0);
    ck_assert_msg(strstr(o, "Part one.") && !strstr(o, "Part two.") && strstr(o, "part 1 of 3"), "%s", o);
    ck_assert_int_eq(c.s->params.top_k, 1);
    free(o);
    o = run(&c, "lesson next", 0);
    free(o);
    o = run(&c, "lesson next", 0);
    ck_assert_msg(strstr(o, "Part three.") && strstr(o, "── end of lesson 01-alpha · lesson next starts 02-beta ──"),
                  "%s", o);
    ck_assert(!cmd_lesson_waiting(c.s));
    free(o);
    /* after the end, next starts the next lesson */
    o = run(&c, "lesson next", 0);
    ck_assert_msg(strstr(o, "══ 02-beta · Beta ══") && strstr(o, "── end of lesson 02-beta"), "%s", o);
    free(o);
    /* stop in the middle */
    o = run(&c, "lesson 1", 0);
    free(o);
    o = run(&c, "lesson stop", 0);
    ck_assert_str_eq(o, "stopped lesson 01-alpha before part 2 of 3\n");
    ck_assert(!cmd_lesson_waiting(c.s));
    free(o);

    /* begin (lectern --lesson on a terminal): nothing shown, the greeting says Enter */
    ck_assert_int_eq(cmd_lesson_begin(c.s, "alpha"), 0);
    ck_assert(cmd_lesson_waiting(c.s));
    o = take_out(&c);
    ck_assert_str_eq(o, "");
    free(o);
    char *g = session_greeting(c.s);
    ck_assert_msg(strstr(g, "Lesson 01-alpha · Three parts.\nPress Enter to begin"), "%s", g);
    free(g);
    o = run(&c, "lesson next", 0);
    ck_assert_msg(strstr(o, "══ 01-alpha") && strstr(o, "Part one."), "%s", o);
    free(o);
    g = session_greeting(c.s);   /* begun: the greeting no longer offers it */
    ck_assert(!strstr(g, "Press Enter"));
    free(g);
    ck_assert_int_lt(cmd_lesson_begin(c.s, "nothing"), 0);

    /* a failing check in a part fails that command, and the lesson goes on */
    char *bad = put(dir, "bad.lesson", "> set top_k 1\nexpect-contains top_k 2\npause\nNext.\n");
    char *line = xasprintf("lesson %s", bad);
    ck_assert_int_lt(session_exec(c.s, line), 0);
    free(line);
    e = take_err(&c);
    free(take_out(&c));
    ck_assert_msg(strstr(e, "bad.lesson:2: expect-contains") && strstr(e, "error: lesson bad: 1 of 1"), "%s", e);
    ck_assert(cmd_lesson_waiting(c.s));
    free(e);
    free(bad);
    cap_close(&c);   /* frees the lesson in progress */

    /* Russian footers */
    setenv("LANG", "ru_RU.UTF-8", 1);
    cap_open(&c);
    c.s->interactive = 1;
    free(put(dir, "lessons/ru/05-two.lesson", "Раз.\npause\nДва.\n"));
    o = run(&c, "lesson two", 0);
    ck_assert_msg(strstr(o, "── часть 1 из 2 · Enter — дальше"), "%s", o);
    free(o);
    o = run(&c, "lesson next", 0);
    ck_assert_msg(strstr(o, "── конец урока 05-two ──"), "%s", o);
    free(o);
    cap_close(&c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ---- require model ---- */

START_TEST(test_require_model_none)
{
    char *dir = temp_dir();
    ck_assert_int_eq(chdir(dir), 0);   /* no models/default.safetensors here */
    setenv("LECTERN_SHARED", "/nonexistent-shared", 1);
    char *m, *t;
    ck_assert_int_eq(lesson_find_model(&m, &t), 0);
    ck_assert_ptr_null(m);
    char *path = put(dir, "needs.lesson", "Before.\nrequire model\nAfter.\n> set top_k 2\n");
    Cap c;
    cap_open(&c);
    char *line = xasprintf("lesson %s", path);
    ck_assert_int_eq(session_exec(c.s, line), 0);   /* a skip is not a failure */
    free(line);
    char *o = take_out(&c);
    ck_assert_msg(strstr(o, "Before.") && !strstr(o, "After."), "%s", o);
    ck_assert_msg(strstr(o, "SKIP: lesson needs needs a model and found none (looked for "
                            "models/default.safetensors and /nonexistent-shared/models/gpt2-tiny)"), "%s", o);
    ck_assert_int_eq(c.s->params.top_k, 0);
    free(o);
    cap_close(&c);
    free(path);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_require_model_found)
{
    const char *model = shared_path("models/gpt2-tiny/model.safetensors", "require model loading the tiny GPT-2");
    const char *tok = shared_path("tokenizers/gpt2", "require model loading the tiny GPT-2");
    if (!model || !tok) return;
    char *shared = realpath(getenv("LECTERN_SHARED") && *getenv("LECTERN_SHARED") ? getenv("LECTERN_SHARED")
                                                                                    : "../shared", NULL);
    ck_assert_ptr_nonnull(shared);
    char *dir = temp_dir();
    ck_assert_int_eq(chdir(dir), 0);
    setenv("LECTERN_SHARED", shared, 1);
    char *path = put(dir, "needs.lesson", "require model\n> prompt The cat\nexpect-contains [␣cat 3797]\n"
                                          "> attn 0 0\nexpect-contains causal mask\n");
    Cap c;
    cap_open(&c);
    char *line = xasprintf("lesson %s", path);
    ck_assert_int_eq(session_exec(c.s, line), 0);
    free(line);
    char *o = take_out(&c), *e = take_err(&c);
    char *want = xasprintf("lectern> load \"%s/models/gpt2-tiny\" \"%s/tokenizers/gpt2\"\n", shared, shared);
    ck_assert_msg(strstr(o, want), "%s\n%s", o, e);
    ck_assert_msg(strstr(o, "(2 checks passed)"), "%s\n%s", o, e);
    ck_assert_ptr_nonnull(c.s->model);
    free(want);
    free(o);
    free(e);
    /* with a model loaded, require model loads nothing */
    line = xasprintf("lesson %s", path);
    ck_assert_int_eq(session_exec(c.s, line), 0);
    free(line);
    o = take_out(&c);
    ck_assert(!strstr(o, "lectern> load"));
    free(o);
    free(take_err(&c));
    /* models/default.safetensors comes first */
    mkdir("models", 0700);
    FILE *f = fopen("models/default.safetensors", "w");
    fputs("not a model", f);
    fclose(f);
    char *m, *t;
    ck_assert_int_eq(lesson_find_model(&m, &t), 1);
    ck_assert_str_eq(m, "models/default.safetensors");
    ck_assert_ptr_null(t);
    free(m);
    cap_close(&c);
    /* a model that does not load stops the lesson with a failed check */
    cap_open(&c);
    line = xasprintf("lesson %s", path);
    ck_assert_int_lt(session_exec(c.s, line), 0);
    free(line);
    e = take_err(&c);
    ck_assert_msg(strstr(e, "FAIL ") && strstr(e, "needs.lesson:1: 'load \"models/default.safetensors\"' failed"),
                  "%s", e);
    ck_assert(!strstr(e, "needs.lesson:3"));   /* stopped: the prompt's check never ran */
    free(e);
    free(take_out(&c));
    cap_close(&c);
    free(path);
    free(shared);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* require layers N: with fewer layers the rest of the part is skipped and its note shown;
 * with enough, nothing is shown and the part runs. */
START_TEST(test_require_layers)
{
    const char *model = shared_path("models/gpt2-tiny/model.safetensors", "require layers on the tiny GPT-2");
    const char *tok = shared_path("tokenizers/gpt2", "require layers on the tiny GPT-2");
    if (!model || !tok) return;
    char *dir = temp_dir();
    char *path = put(dir, "layers.lesson",
                     "require model\n> set top_k 2\nrequire layers 2\n> set top_k 3\nexpect-contains top_k 3\npause\n"
                     "Part two.\nrequire layers 3 Нужна модель поглубже: эта часть пропущена.\n> set top_k 4\n"
                     "expect-contains top_k 4\nNot shown.\npause\nPart three.\nrequire layers 9\n> set top_k 5\n"
                     "pause\n> set top_p 0.5\nexpect-contains top_p 0.5\n");
    Cap c;
    cap_open(&c);
    char *line = xasprintf("load %s %s", model, tok);
    free(run_ok_cap(&c, line));
    free(line);
    line = xasprintf("lesson %s", path);
    ck_assert_int_eq(session_exec(c.s, line), 0);
    free(line);
    char *o = take_out(&c), *e = take_err(&c);
    ck_assert_msg(strstr(o, "top_k 3") && strstr(o, "Part two.") && strstr(o, "Part three."), "%s\n%s", o, e);
    ck_assert_msg(strstr(o, "\nНужна модель поглубже: эта часть пропущена.\n"), "%s", o);
    ck_assert_msg(strstr(o, "(This part needs a model with at least 9 layers; the loaded one has 2"), "%s", o);
    ck_assert_msg(!strstr(o, "top_k 4") && !strstr(o, "Not shown") && !strstr(o, "top_k 5"), "%s", o);
    ck_assert_msg(strstr(o, "(2 checks passed)"), "%s\n%s", o, e);   /* the skipped check is not counted */
    ck_assert_int_eq(c.s->params.top_k, 3);
    ck_assert_float_eq(c.s->params.top_p, 0.5f);
    free(o);
    free(e);
    cap_close(&c);
    free(path);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* The lessons of the project: each parses, exists in every language, and the versions
 * run the same commands with the same checks (only the narration differs). */
START_TEST(test_project_lessons_parallel)
{
    const char *langs[] = { "en", "ru" };
    const char *names[] = { "01-generation", "02-attention", "03-sparse", "04-lowrank" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        Lesson *l[2];
        for (int k = 0; k < 2; k++) {
            char *p = xasprintf("lessons/%s/%s.lesson", langs[k], names[i]);
            ck_assert_msg(lesson_load(p, &l[k]) == 0, "%s", err_msg());
            ck_assert_ptr_nonnull(l[k]->title);
            ck_assert_int_ge(l[k]->n_checks, 10);
            ck_assert_int_ge(l[k]->n_sections, 4);
            free(p);
        }
        ck_assert_int_eq(l[0]->n_sections, l[1]->n_sections);
        int a = 0, b = 0;
        for (;;) {
            while (a < l[0]->n_items && l[0]->items[a].kind == LESSON_NARRATION) a++;
            while (b < l[1]->n_items && l[1]->items[b].kind == LESSON_NARRATION) b++;
            if (a == l[0]->n_items || b == l[1]->n_items) break;
            const LessonItem *x = &l[0]->items[a], *y = &l[1]->items[b];
            ck_assert_msg(x->kind == y->kind, "%s: en line %d and ru line %d differ", names[i], x->line, y->line);
            if (x->kind == LESSON_REQUIRE_LAYERS) {   /* the same N; the note is in each language */
                ck_assert_msg(x->len == y->len, "%s: en line %d and ru line %d differ", names[i], x->line, y->line);
                a++;
                b++;
                continue;
            }
            ck_assert_msg(x->len == y->len && (!x->len || !memcmp(x->text, y->text, x->len)),
                          "%s: en line %d '%s' and ru line %d '%s' differ", names[i], x->line,
                          x->text ? x->text : "", y->line, y->text ? y->text : "");
            a++;
            b++;
        }
        ck_assert_msg(a == l[0]->n_items && b == l[1]->n_items, "%s: one version has more commands", names[i]);
        lesson_free(l[0]);
        lesson_free(l[1]);
    }
}
END_TEST

static Suite *lesson_suite(void)
{
    Suite *s = suite_create("lesson");
    TCase *tp = tcase_create("parse");
    tcase_add_test(tp, test_parse_structure);
    tcase_add_test(tp, test_parse_errors);
    tcase_add_test(tp, test_reflow);
    tcase_add_test(tp, test_project_lessons_parallel);
    suite_add_tcase(s, tp);
    TCase *tr = tcase_create("run");
    tcase_add_test(tr, test_play_passes);
    tcase_add_test(tr, test_play_failures);
    tcase_add_test(tr, test_batch_command);
    tcase_add_test(tr, test_lookup_and_list);
    tcase_add_test(tr, test_lang_from_env);
    tcase_add_test(tr, test_interactive_parts);
    tcase_add_test(tr, test_require_model_none);
    suite_add_tcase(s, tr);
    TCase *tm = tcase_create("model");
    tcase_set_timeout(tm, 120);
    tcase_add_test(tm, test_require_model_found);
    tcase_add_test(tm, test_require_layers);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    err_install_gsl_handler();
    return run_suite(lesson_suite());
}
