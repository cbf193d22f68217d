/* cmd_lesson — the `lesson` command (see cmd_lesson.h): where lessons are, which language,
 * and which part of the lesson in progress comes next.
 *
 * Owns: the search path and name matching, the language choice, the Session's lesson
 * state (the lesson in progress, the next part, the last lesson finished), the lines
 * between parts.  Does not own: the format and playing a part (lesson.c), reading keys
 * (an empty line becomes `lesson next` in line.c and screen.c).
 */
#include "repl/cmd_lesson.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/err.h"
#include "repl/lesson.h"

typedef struct LessonState {
    char *lang;        /* "en", "ru", ... */
    Lesson *cur;       /* the lesson in progress (interactive), or NULL */
    int next;          /* its next part to show */
    int shown;         /* the part shown last (-1: none yet) */
    char *last;        /* the name of the last lesson that ended, for `lesson next` */
    int playing;       /* a lesson's commands are running: they may not start lessons */
} LessonState;

static char *lang_from_env(void)
{
    static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return xstrdup(strncmp(v, "ru", 2) == 0 ? "ru" : "en");
    }
    return xstrdup("en");
}

static LessonState *state(Session *s)
{
    if (!s->lesson) {
        s->lesson = xcalloc(1, sizeof *s->lesson);
        s->lesson->lang = lang_from_env();
        s->lesson->shown = -1;
    }
    return s->lesson;
}

void cmd_lesson_forget(Session *s)
{
    if (!s || !s->lesson) return;
    lesson_free(s->lesson->cur);
    free(s->lesson->lang);
    free(s->lesson->last);
    free(s->lesson);
    s->lesson = NULL;
}

int cmd_lesson_set_lang(Session *s, const char *lang)
{
    size_t n = strlen(lang);
    int ok = n >= 2 && n <= 8;
    for (size_t i = 0; i < n; i++) ok &= islower((unsigned char)lang[i]) != 0;
    if (!ok) return ERR(ERR_ARG, "language '%s': give a code such as en or ru", lang);
    LessonState *st = state(s);
    free(st->lang);
    st->lang = xstrdup(lang);
    return 0;
}

int cmd_lesson_waiting(const Session *s)
{
    return s->lesson && s->lesson->cur;
}

/* ---- where lessons are ---- */

typedef struct {
    char **v;
    int n, cap;
} Strs;

static void strs_add(Strs *l, char *owned)
{
    if (l->n + 2 > l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = owned;
    l->v[l->n] = NULL;
}

static void strs_free(Strs *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The lesson roots that exist, without repeats (./lessons and bin/../lessons are one
 * directory when lectern runs from its source tree). */
static Strs roots(void)
{
    Strs cand = {0}, out = {0}, real = {0};
    strs_add(&cand, xstrdup("lessons"));
    char *exe = realpath("/proc/self/exe", NULL);
    if (exe) {
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            strs_add(&cand, xasprintf("%s/../share/lectern/lessons", exe));
            strs_add(&cand, xasprintf("%s/../lessons", exe));
        }
        free(exe);
    }
#ifdef LECTERN_LESSONS_DIR
    strs_add(&cand, xstrdup(LECTERN_LESSONS_DIR));
#endif
    for (int i = 0; i < cand.n; i++) {
        char *r = realpath(cand.v[i], NULL);
        if (!r || !is_dir(r)) {
            free(r);
            continue;
        }
        int seen = 0;
        for (int j = 0; j < real.n; j++) seen |= !strcmp(real.v[j], r);
        if (seen) {
            free(r);
            continue;
        }
        strs_add(&real, r);
        strs_add(&out, xstrdup(cand.v[i]));
    }
    strs_free(&cand);
    strs_free(&real);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lesson names (file names without .lesson) in dir, sorted. */
static Strs names_in(const char *dir)
{
    Strs l = {0};
    DIR *d = opendir(dir);
    if (!d) return l;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= 7 || strcmp(e->d_name + n - 7, ".lesson") != 0) continue;
        strs_add(&l, xstrndup(e->d_name, n - 7));
    }
    closedir(d);
    if (l.n) qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_str);
    return l;
}

/* Whether a lesson file name ("01-generation") answers to what the user typed: the whole
 * name, its number (01 or 1) or its slug (generation). */
static int name_matches(const char *base, const char *want)
{
    if (!strcmp(base, want)) return 1;
    size_t digits = strspn(base, "0123456789");
    if (digits == 0) return 0;
    if (strspn(want, "0123456789") == strlen(want) && *want)
        return atol(want) == atol(base) && (base[digits] == '-' || !base[digits]);
    return base[digits] == '-' && !strcmp(base + digits + 1, want);
}

/* Finds lesson want in language lang: 1 and *path (allocated), 0 when none, or ERR_ARG
 * when it is ambiguous in one directory. */
static int find_in_lang(const char *want, const char *lang, char **path)
{
    *path = NULL;
    Strs r = roots();
    int rc = 0;
    for (int i = 0; i < r.n && rc == 0; i++) {
        char *dir = xasprintf("%s/%s", r.v[i], lang);
        Strs names = names_in(dir);
        const char *hit = NULL;
        for (int j = 0; j < names.n && rc == 0; j++) {
            if (!name_matches(names.v[j], want)) continue;
            if (hit && strcmp(hit, names.v[j]) != 0)
                rc = ERR(ERR_ARG, "lesson '%s' is ambiguous in %s: %s or %s", want, dir, hit, names.v[j]);
            hit = names.v[j];
        }
        if (rc == 0 && hit) {
            *path = xasprintf("%s/%s.lesson", dir, hit);
            rc = 1;
        }
        strs_free(&names);
        free(dir);
    }
    strs_free(&r);
    return rc;
}

/* Loads lesson want: a path, or a name looked up in the session's language, then in en. */
static int find_lesson(Session *s, const char *want, Lesson **out, int *fell_back)
{
    *out = NULL;
    *fell_back = 0;
    size_t n = strlen(want);
    if (strchr(want, '/') || (n > 7 && !strcmp(want + n - 7, ".lesson"))) return lesson_load(want, out);
    const char *lang = state(s)->lang;
    char *path = NULL;
    int rc = find_in_lang(want, lang, &path);
    if (rc == 0 && strcmp(lang, "en") != 0) {
        rc = find_in_lang(want, "en", &path);
        *fell_back = rc > 0;
    }
    if (rc < 0) return rc;
    if (rc == 0) return ERR(ERR_ARG, "no lesson '%s' in %s (lesson list shows them)", want, lang);
    rc = lesson_load(path, out);
    free(path);
    return rc;
}

/* Every lesson of the language: names (first root wins) with their paths, sorted. */
static void all_lessons(const char *lang, Strs *names, Strs *paths)
{
    Strs r = roots();
    for (int i = 0; i < r.n; i++) {
        char *dir = xasprintf("%s/%s", r.v[i], lang);
        Strs found = names_in(dir);
        for (int j = 0; j < found.n; j++) {
            int seen = 0;
            for (int k = 0; k < names->n; k++) seen |= !strcmp(names->v[k], found.v[j]);
            if (seen) continue;
            strs_add(names, xstrdup(found.v[j]));
            strs_add(paths, xasprintf("%s/%s.lesson", dir, found.v[j]));
        }
        strs_free(&found);
        free(dir);
    }
    strs_free(&r);
    /* sort both by name */
    for (int i = 1; i < names->n; i++)
        for (int j = i; j > 0 && strcmp(names->v[j - 1], names->v[j]) > 0; j--) {
            char *t = names->v[j]; names->v[j] = names->v[j - 1]; names->v[j - 1] = t;
            t = paths->v[j]; paths->v[j] = paths->v[j - 1]; paths->v[j - 1] = t;
        }
}

char **cmd_lesson_words(void)
{
    static const char *const sub[] = { "list", "next", "prev", "stop", "lang" };
    Strs w = {0};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) strs_add(&w, xstrdup(sub[i]));
    Strs r = roots();
    for (int i = 0; i < r.n; i++) {
        DIR *d = opendir(r.v[i]);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char *dir = xasprintf("%s/%s", r.v[i], e->d_name);
            Strs names = names_in(dir);
            for (int j = 0; j < names.n; j++) {
                int seen = 0;
                for (int k = 0; k < w.n; k++) seen |= !strcmp(w.v[k], names.v[j]);
                if (!seen) strs_add(&w, xstrdup(names.v[j]));
            }
            strs_free(&names);
            free(dir);
        }
        if (d) closedir(d);
    }
    strs_free(&r);
    return w.v;
}

/* ---- the words between parts, in the lesson's language ---- */

static int is_ru(const Session *s) { return s->lesson && !strcmp(s->lesson->lang, "ru"); }

static void json_put(Session *s, const char *key, json_t *v)
{
    if (s->json && s->result) json_object_set_new(s->result, key, v);
    else json_decref(v);
}

static void banner(Session *s, const Lesson *l)
{
    if (l->title) session_printf(s, "══ %s · %s ══\n\n", l->name, l->title);
    else session_printf(s, "══ %s ══\n\n", l->name);
    json_put(s, "lesson", json_string(l->name));
    if (l->title) json_put(s, "title", json_string(l->title));
}

/* The lesson after name in the list of the session's language, or NULL.  Allocated. */
static char *lesson_after(Session *s, const char *name)
{
    Strs names = {0}, paths = {0};
    all_lessons(state(s)->lang, &names, &paths);
    char *after = NULL;
    for (int i = 0; i + 1 < names.n && !after; i++)
        if (!strcmp(names.v[i], name)) after = xstrdup(names.v[i + 1]);
    strs_free(&names);
    strs_free(&paths);
    return after;
}

/* The lesson ended: remember it, say what comes next. */
static void finish(Session *s, Lesson *l, const LessonResult *r)
{
    LessonState *st = state(s);
    free(st->last);
    st->last = xstrdup(l->name);
    char *after = lesson_after(s, l->name);
    if (r->skipped) {
        /* lesson.c has said why */
    } else if (is_ru(s)) {
        session_printf(s, "\n── конец урока %s", l->name);
        if (after) session_printf(s, " · lesson next — урок %s", after);
        session_printf(s, " ──\n");
    } else {
        session_printf(s, "\n── end of lesson %s", l->name);
        if (after) session_printf(s, " · lesson next starts %s", after);
        session_printf(s, " ──\n");
    }
    json_put(s, "ended", json_true());
    if (after) json_put(s, "next_lesson", json_string(after));
    free(after);
}

static int check_failures(Session *s, const Lesson *l, const LessonResult *r)
{
    json_put(s, "checks", json_integer(r->n_checks));
    json_put(s, "failed", json_integer(r->n_failed));
    json_put(s, "skipped", json_boolean(r->skipped));
    if (r->n_failed)
        return ERR(ERR_STATE, "lesson %s: %d of %d checks failed (the FAIL lines say where)", l->name,
                   r->n_failed, r->n_checks);
    if (session_interrupt) return ERR(ERR_INTERRUPTED, "lesson %s: interrupted", l->name);
    return 0;
}

/* Plays sections [from, to) with the guard against a lesson running `lesson`. */
static void play(Session *s, Lesson *l, int from, int to, LessonPlay how, LessonResult *r)
{
    LessonState *st = state(s);
    st->playing = 1;
    lesson_play(s, l, from, to, how, r);
    st->playing = 0;
}

/* Batch: the whole lesson, straight through. */
static int run_through(Session *s, Lesson *l)
{
    banner(s, l);
    LessonResult r;
    play(s, l, 0, l->n_sections, (LessonPlay){ .quiet = 0, .checks = 1 }, &r);
    if (!r.stopped) finish(s, l, &r);
    if (!r.skipped && !r.stopped && !r.n_failed) {
        if (is_ru(s)) session_printf(s, "(проверок пройдено: %d)\n", r.n_checks);
        else session_printf(s, "(%d checks passed)\n", r.n_checks);
    }
    return check_failures(s, l, &r);
}

/* Interactive: part k of the lesson in progress, then the line saying how to go on. */
static int show_part(Session *s, int k)
{
    LessonState *st = state(s);
    Lesson *l = st->cur;
    if (k == 0) banner(s, l);
    else json_put(s, "lesson", json_string(l->name));
    LessonResult r;
    play(s, l, k, k + 1, (LessonPlay){ .quiet = 0, .checks = 1 }, &r);
    st->shown = k;
    st->next = k + 1;
    json_put(s, "part", json_integer(k + 1));
    json_put(s, "parts", json_integer(l->n_sections));
    if (r.skipped || st->next >= l->n_sections) {
        finish(s, l, &r);
        st->cur = NULL;
        int rc = check_failures(s, l, &r);
        lesson_free(l);
        return rc;
    }
    if (is_ru(s))
        session_printf(s, "\n── часть %d из %d · Enter — дальше · lesson prev — назад · lesson stop — "
                       "выйти ──\n", k + 1, l->n_sections);
    else
        session_printf(s, "\n── part %d of %d · Enter goes on · lesson prev goes back · lesson stop "
                       "leaves ──\n", k + 1, l->n_sections);
    return check_failures(s, l, &r);
}

static int start(Session *s, const char *want)
{
    Lesson *l;
    int fell_back;
    int rc = find_lesson(s, want, &l, &fell_back);
    if (rc < 0) return rc;
    LessonState *st = state(s);
    if (fell_back)
        session_printf(s, "(no %s version of %s; here it is in English)\n", st->lang, l->name);
    if (!s->interactive) {
        rc = run_through(s, l);
        lesson_free(l);
        return rc;
    }
    lesson_free(st->cur);
    st->cur = l;
    return show_part(s, 0);
}

int cmd_lesson_begin(Session *s, const char *name)
{
    Lesson *l;
    int fell_back;
    int rc = find_lesson(s, name, &l, &fell_back);
    if (rc < 0) return rc;
    LessonState *st = state(s);
    lesson_free(st->cur);
    st->cur = l;
    st->next = 0;
    st->shown = -1;
    return 0;
}

char *cmd_lesson_greeting(const Session *s)
{
    if (!cmd_lesson_waiting(s) || s->lesson->shown >= 0) return NULL;
    const Lesson *l = s->lesson->cur;
    if (is_ru(s))
        return xasprintf("Урок %s%s%s.\nНажмите Enter, чтобы начать (lesson stop — выйти).\n",
                         l->name, l->title ? " · " : "", l->title ? l->title : "");
    return xasprintf("Lesson %s%s%s.\nPress Enter to begin (lesson stop leaves it).\n", l->name,
                     l->title ? " · " : "", l->title ? l->title : "");
}

static int list(Session *s)
{
    LessonState *st = state(s);
    Strs names = {0}, paths = {0};
    all_lessons(st->lang, &names, &paths);
    const char *shown_lang = st->lang;
    if (names.n == 0 && strcmp(st->lang, "en") != 0) {
        all_lessons("en", &names, &paths);
        shown_lang = "en";
    }
    if (names.n == 0) {
        strs_free(&names);
        strs_free(&paths);
        return ERR(ERR_STATE, "no lessons found (looked in ./lessons and beside the lectern executable)");
    }
    session_printf(s, "lessons (%s); lesson NAME starts one (the number is enough):\n", shown_lang);
    json_t *arr = json_array();
    for (int i = 0; i < names.n; i++) {
        Lesson *l = NULL;
        int rc = lesson_load(paths.v[i], &l);
        const char *title = rc == 0 ? (l->title ? l->title : "") : err_msg();
        session_printf(s, "  %-22s %s%s\n", names.v[i], rc == 0 ? "" : "(broken) ", title);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(names.v[i]));
        json_object_set_new(o, "path", json_string(paths.v[i]));
        json_object_set_new(o, rc == 0 ? "title" : "error", json_string(title));
        json_array_append_new(arr, o);
        lesson_free(l);
    }
    err_clear();
    json_put(s, "lang", json_string(shown_lang));
    json_put(s, "lessons", arr);
    strs_free(&names);
    strs_free(&paths);
    return 0;
}

int cmd_lesson(Session *s, const CmdArgs *a)
{
    LessonState *st = state(s);
    const char *w = a->argc ? a->argv[0].s : NULL;
    if (st->playing) return ERR(ERR_STATE, "a lesson cannot run the lesson command");
    if (a->argc == 2 && strcmp(w, "lang") != 0)
        return ERR(ERR_ARG, "usage: lesson [NAME|list|next|prev|stop|lang [L]]");
    if (!w) {
        if (!st->cur) return list(s);
        session_printf(s, "lesson %s: part %d of %d next (Enter or lesson next; lesson prev, lesson stop)\n",
                       st->cur->name, st->next + 1, st->cur->n_sections);
        json_put(s, "lesson", json_string(st->cur->name));
        json_put(s, "part", json_integer(st->next + 1));
        json_put(s, "parts", json_integer(st->cur->n_sections));
        return 0;
    }
    if (!strcmp(w, "list")) return list(s);
    if (!strcmp(w, "lang")) {
        if (a->argc == 2) {
            int rc = cmd_lesson_set_lang(s, a->argv[1].s);
            if (rc < 0) return rc;
        }
        session_printf(s, "lesson language %s\n", st->lang);
        json_put(s, "lang", json_string(st->lang));
        return 0;
    }
    if (!strcmp(w, "next")) {
        if (st->cur) return show_part(s, st->next);
        if (!st->last)
            return ERR(ERR_STATE, "no lesson in progress (lesson list shows them; lesson NAME starts one)");
        char *after = lesson_after(s, st->last);
        if (!after) return ERR(ERR_STATE, "%s was the last lesson (lesson list shows them)", st->last);
        int rc = start(s, after);
        free(after);
        return rc;
    }
    if (!strcmp(w, "prev")) {
        if (!st->cur) return ERR(ERR_STATE, "no lesson in progress");
        if (st->shown <= 0) return ERR(ERR_STATE, "lesson %s: this is the first part", st->cur->name);
        /* Rebuild the state the earlier part starts from: its predecessors, run unseen. */
        LessonResult r;
        play(s, st->cur, 0, st->shown - 1, (LessonPlay){ .quiet = 1, .checks = 0 }, &r);
        return show_part(s, st->shown - 1);
    }
    if (!strcmp(w, "stop")) {
        if (!st->cur) return ERR(ERR_STATE, "no lesson in progress");
        session_printf(s, "stopped lesson %s before part %d of %d\n", st->cur->name, st->next + 1,
                       st->cur->n_sections);
        json_put(s, "lesson", json_string(st->cur->name));
        lesson_free(st->cur);
        st->cur = NULL;
        return 0;
    }
    return start(s, w);
}
