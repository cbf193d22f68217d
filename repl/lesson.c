/* lesson — the lesson file format (see lesson.h for the syntax), its parser and the runner
 * that plays sections of a lesson into a Session, checking what the commands print.
 *
 * Owns: turning a file into items and sections, reflowing narration, capturing command
 * output (a tee stream in front of s->out and s->err, so the class still sees the output
 * as it comes while the checks get a copy), and the checks themselves.
 * Does not own: where lessons are found, the language, pausing between sections and the
 * `lesson` command (cmd_lesson.c); what a command does (session_exec).
 * Reference: sqlite's shell.c, .testcase and .check (a script that checks its own output).
 */
#include "repl/lesson.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/err.h"

/* ---- a growing byte buffer ---- */

typedef struct {
    char *b;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 256;
        b->b = xrealloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
    b->b[b->n] = 0;
}

static void buf_adds(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* ---- parsing ---- */

static int is_check(LessonKind k)
{
    return k == LESSON_EXPECT_CONTAINS || k == LESSON_EXPECT_LACKS || k == LESSON_EXPECT_MATCH ||
           k == LESSON_EXPECT_ERROR || k == LESSON_SAVE_OUTPUT || k == LESSON_EXPECT_SAME ||
           k == LESSON_EXPECT_DIFFERENT;
}

static const struct {
    const char *word;
    LessonKind kind;
} check_words[] = {
    { "expect-contains", LESSON_EXPECT_CONTAINS },
    { "expect-lacks", LESSON_EXPECT_LACKS },
    { "expect-match", LESSON_EXPECT_MATCH },
    { "expect-error", LESSON_EXPECT_ERROR },
    { "save-output", LESSON_SAVE_OUTPUT },
    { "expect-same", LESSON_EXPECT_SAME },
    { "expect-different", LESSON_EXPECT_DIFFERENT },
};

/* 1 when the n bytes at p are well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], len, min, cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; cp = c & 0x07; }
        else return 0;
        if (n - i < len) return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

typedef struct {
    Lesson *l;
    int cap;
    Buf para;          /* the narration paragraph being gathered */
    int para_line;
    int after_command; /* the last item was a command or a check: a check may follow */
    int section_empty; /* nothing since the last pause */
    int seen_content;  /* narration, a command or require: title may no longer come */
    int seen_model;    /* require model came: require layers may */
} Parser;

static LessonItem *add_item(Parser *p, LessonKind kind, int line, const char *text, size_t len)
{
    Lesson *l = p->l;
    if (l->n_items == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 32;
        l->items = xrealloc(l->items, (size_t)p->cap * sizeof *l->items);
    }
    LessonItem *it = &l->items[l->n_items++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->line = line;
    if (text) {
        it->text = xmalloc(len + 1);
        memcpy(it->text, text, len);
        it->text[len] = 0;
        it->len = len;
    }
    p->section_empty = 0;
    return it;
}

static void end_paragraph(Parser *p)
{
    if (p->para.n == 0) return;
    add_item(p, LESSON_NARRATION, p->para_line, p->para.b, p->para.n);
    p->para.n = 0;
    p->para.b[0] = 0;
}

static void add_section(Lesson *l, int first_item)
{
    l->section = xrealloc(l->section, (size_t)(l->n_sections + 2) * sizeof *l->section);
    l->section[l->n_sections++] = first_item;
}

/* The text after a directive word: blanks skipped, trailing blanks dropped. */
static const char *arg_after(const char *line, size_t word_len)
{
    const char *a = line + word_len;
    while (*a == ' ' || *a == '\t') a++;
    return a;
}

static char *trimmed(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return xstrndup(s, n);
}

/* One line (NUL-terminated, no newline).  Returns 0 or an ERR_FORMAT "path:N: ..." */
static int parse_line(Parser *p, const char *path, int ln, const char *line)
{
    Lesson *l = p->l;
    const char *first = line;
    while (*first == ' ' || *first == '\t') first++;
    if (!*first) {                       /* blank: ends a paragraph */
        end_paragraph(p);
        return 0;
    }
    if (line[0] == '#') return 0;        /* an author's comment */

    size_t wl = strcspn(line, " \t");
    if (line[0] == '>') {
        end_paragraph(p);
        char *cmd = trimmed(arg_after(line, 1));
        int empty = !*cmd;
        if (!empty) add_item(p, LESSON_COMMAND, ln, cmd, strlen(cmd));
        free(cmd);
        if (empty) return ERR(ERR_FORMAT, "%s:%d: '>' needs a command after it", path, ln);
        p->after_command = 1;
        p->seen_content = 1;
        return 0;
    }
    if (wl == 5 && !strncmp(line, "title", 5)) {
        char *t = trimmed(arg_after(line, wl));
        int rc = 0;
        if (!*t) rc = ERR(ERR_FORMAT, "%s:%d: title needs a text", path, ln);
        else if (l->title) rc = ERR(ERR_FORMAT, "%s:%d: a second title", path, ln);
        else if (p->seen_content)
            rc = ERR(ERR_FORMAT, "%s:%d: title must come before the narration and commands", path, ln);
        if (rc < 0) {
            free(t);
            return rc;
        }
        l->title = t;
        return 0;
    }
    if (wl == 7 && !strncmp(line, "require", 7)) {
        end_paragraph(p);
        char *what = trimmed(arg_after(line, wl));
        size_t ww = strcspn(what, " \t");
        if (ww == 6 && !strncmp(what, "layers", 6)) {
            /* require layers N [TEXT]: N in item->len, TEXT (may be empty) in item->text */
            const char *num = arg_after(what, ww);
            char *end;
            errno = 0;
            long n = strtol(num, &end, 10);
            int rc = 0;
            if (end == num || errno || n < 1 || n > 100000 || (*end && *end != ' ' && *end != '\t'))
                rc = ERR(ERR_FORMAT, "%s:%d: require layers needs a number of layers (1 or more), got '%s'",
                         path, ln, num);
            else if (!p->seen_model)
                rc = ERR(ERR_FORMAT, "%s:%d: require layers must come after require model", path, ln);
            if (rc == 0) {
                const char *text = arg_after(end, 0);
                add_item(p, LESSON_REQUIRE_LAYERS, ln, text, strlen(text))->len = (size_t)n;
            }
            free(what);
            p->after_command = 0;
            p->seen_content = 1;
            return rc;
        }
        int ok = !strcmp(what, "model");
        if (!ok) {
            int rc = ERR(ERR_FORMAT, "%s:%d: require what? ('%s'; known: require model, require layers N)",
                         path, ln, what);
            free(what);
            return rc;
        }
        free(what);
        add_item(p, LESSON_REQUIRE_MODEL, ln, NULL, 0);
        p->after_command = 0;
        p->seen_content = 1;
        p->seen_model = 1;
        return 0;
    }
    if (wl == 5 && !strncmp(line, "pause", 5)) {
        if (*arg_after(line, wl))
            return ERR(ERR_FORMAT, "%s:%d: pause takes nothing after it (narration that starts with "
                       "'pause' needs a backslash: \\pause)", path, ln);
        end_paragraph(p);
        if (p->section_empty)
            return ERR(ERR_FORMAT, "%s:%d: pause with nothing before it since the %s", path, ln,
                       l->n_sections > 1 ? "last pause" : "start");
        add_section(l, l->n_items);
        p->section_empty = 1;
        p->after_command = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof check_words / sizeof check_words[0]; i++) {
        if (strlen(check_words[i].word) != wl || strncmp(line, check_words[i].word, wl) != 0) continue;
        LessonKind kind = check_words[i].kind;
        const char *word = check_words[i].word;
        end_paragraph(p);
        if (!p->after_command)
            return ERR(ERR_FORMAT, "%s:%d: %s must follow a command (> COMMAND) or another check",
                       path, ln, word);
        char *arg = trimmed(arg_after(line, wl));
        if (!*arg && kind != LESSON_EXPECT_ERROR) {
            free(arg);
            return ERR(ERR_FORMAT, "%s:%d: %s needs %s", path, ln, word,
                       kind == LESSON_EXPECT_MATCH ? "a REGEX"
                       : (kind == LESSON_SAVE_OUTPUT || kind == LESSON_EXPECT_SAME ||
                          kind == LESSON_EXPECT_DIFFERENT) ? "a NAME" : "a TEXT");
        }
        int rc = 0;
        if (kind == LESSON_EXPECT_CONTAINS || kind == LESSON_EXPECT_LACKS ||
            (kind == LESSON_EXPECT_ERROR && *arg)) {
            size_t len;
            char *u = session_unescape(arg, &len);
            if (!u) rc = ERR(ERR_FORMAT, "%s:%d: %s: %s", path, ln, word, err_msg());
            else if (len == 0) rc = ERR(ERR_FORMAT, "%s:%d: %s needs a TEXT that is not empty", path, ln, word);
            else add_item(p, kind, ln, u, len);
            free(u);
        } else if (kind == LESSON_EXPECT_ERROR) {
            add_item(p, kind, ln, NULL, 0);
        } else if (kind == LESSON_EXPECT_MATCH) {
            regex_t *re = xmalloc(sizeof *re);
            int e = regcomp(re, arg, REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
            if (e != 0) {
                char msg[256];
                regerror(e, re, msg, sizeof msg);
                free(re);
                rc = ERR(ERR_FORMAT, "%s:%d: expect-match: bad regex '%s': %s", path, ln, arg, msg);
            } else {
                add_item(p, kind, ln, arg, strlen(arg))->re = re;
            }
        } else {   /* a NAME: one word */
            int found = 0;
            for (int i2 = 0; i2 < l->n_items; i2++)
                found |= l->items[i2].kind == LESSON_SAVE_OUTPUT && !strcmp(l->items[i2].text, arg);
            if (strcspn(arg, " \t") != strlen(arg))
                rc = ERR(ERR_FORMAT, "%s:%d: %s takes one NAME, got '%s'", path, ln, word, arg);
            else if (kind == LESSON_SAVE_OUTPUT && found)
                rc = ERR(ERR_FORMAT, "%s:%d: save-output %s: that name is taken", path, ln, arg);
            else if (kind != LESSON_SAVE_OUTPUT && !found)
                rc = ERR(ERR_FORMAT, "%s:%d: %s %s: no save-output %s before it", path, ln, word, arg, arg);
            else add_item(p, kind, ln, arg, strlen(arg));
        }
        free(arg);
        if (rc == 0 && kind != LESSON_SAVE_OUTPUT) l->n_checks++;
        return rc;
    }
    if (!strncmp(line, "expect-", 7))
        return ERR(ERR_FORMAT, "%s:%d: unknown check '%.*s' (known: expect-contains expect-lacks "
                   "expect-match expect-error expect-same expect-different, save-output)",
                   path, ln, (int)wl, line);

    /* narration; a backslash at the start only protects what follows */
    if (line[0] == '\\') line++;
    if (p->para.n == 0) p->para_line = ln;
    else buf_add(&p->para, "\n", 1);
    buf_adds(&p->para, line);
    p->after_command = 0;
    p->seen_content = 1;
    return 0;
}

static char *name_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 7 && !strcmp(base + n - 7, ".lesson")) n -= 7;
    return xstrndup(base, n);
}

int lesson_parse(const char *path, const char *text, size_t len, Lesson **out)
{
    *out = NULL;
    Lesson *l = xcalloc(1, sizeof *l);
    l->path = xstrdup(path);
    l->name = name_of(path);
    Parser p = { .l = l, .section_empty = 1 };
    add_section(l, 0);
    int rc = 0, ln = 0;
    size_t pos = 0;
    Buf line = {0};
    while (rc == 0 && pos < len) {
        ln++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        if (n > 0 && text[pos + n - 1] == '\r') n--;
        if (memchr(text + pos, '\0', n))
            rc = ERR(ERR_FORMAT, "%s:%d: a NUL byte (a lesson is a text file)", path, ln);
        else if (!utf8_valid((const unsigned char *)text + pos, n))
            rc = ERR(ERR_FORMAT, "%s:%d: not valid UTF-8 (lessons are UTF-8 text)", path, ln);
        else {
            line.n = 0;
            buf_add(&line, text + pos, n);
            rc = parse_line(&p, path, ln, line.b);
        }
        pos = end + 1;
    }
    if (rc == 0) end_paragraph(&p);
    if (rc == 0 && l->n_items == 0)
        rc = ERR(ERR_FORMAT, "%s: no narration and no commands", path);
    if (rc == 0 && p.section_empty)
        rc = ERR(ERR_FORMAT, "%s:%d: pause at the end of the lesson (nothing comes after it)", path, ln);
    free(line.b);
    free(p.para.b);
    if (rc < 0) {
        lesson_free(l);
        return rc;
    }
    add_section(l, l->n_items);      /* the sentinel: section[n_sections] = n_items */
    l->n_sections--;
    *out = l;
    return 0;
}

int lesson_load(const char *path, Lesson **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ERR(ERR_IO, "%s: %s", path, strerror(errno));
    Buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_add(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b.b);
        return ERR(ERR_IO, "%s: read failed", path);
    }
    int rc = lesson_parse(path, b.b ? b.b : "", b.n, out);
    free(b.b);
    return rc;
}

void lesson_free(Lesson *l)
{
    if (!l) return;
    for (int i = 0; i < l->n_items; i++) {
        free(l->items[i].text);
        if (l->items[i].re) {
            regfree(l->items[i].re);
            free(l->items[i].re);
        }
    }
    for (int i = 0; l->saved && i < l->n_items; i++) free(l->saved[i]);
    free(l->saved);
    free(l->items);
    free(l->section);
    free(l->path);
    free(l->name);
    free(l->title);
    free(l);
}

/* ---- narration ---- */

/* Columns of n bytes of UTF-8: one per code point (the lessons' scripts are all narrow). */
static int columns(const char *p, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)p[i] & 0xc0) != 0x80;
    return c;
}

/* Greedy fill of the words in text[0..n) after first (on the first line) and indent (on
 * the others). */
static void fill(Buf *o, const char *text, size_t n, const char *first, const char *indent, int width)
{
    buf_adds(o, first);
    int col = columns(first, strlen(first)), words = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) i++;
        if (i >= n) break;
        size_t w0 = i;
        while (i < n && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') i++;
        int wc = columns(text + w0, i - w0);
        if (words > 0 && col + 1 + wc > width) {
            buf_adds(o, "\n");
            buf_adds(o, indent);
            col = columns(indent, strlen(indent));
            words = 0;
        }
        if (words > 0) {
            buf_adds(o, " ");
            col++;
        }
        buf_add(o, text + w0, i - w0);
        col += wc;
        words++;
    }
    buf_adds(o, "\n");
}

char *lesson_reflow(const char *text, int width)
{
    if (width < 20) width = 20;
    Buf o = {0};
    buf_add(&o, "", 0);
    Buf flow = {0};
    const char *first = "", *indent = "";
    const char *p = text;
    int in_item = 0;   /* indented lines continue a list item; elsewhere they are verbatim */
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int verbatim = n > 0 && (p[0] == ' ' || p[0] == '\t') && !in_item;
        int item = n >= 2 && p[0] == '-' && p[1] == ' ';
        in_item = item || (in_item && n > 0 && (p[0] == ' ' || p[0] == '\t'));
        if ((verbatim || item) && flow.n) {
            fill(&o, flow.b, flow.n, first, indent, width);
            flow.n = 0;
        }
        if (verbatim) {
            buf_add(&o, p, n);
            buf_adds(&o, "\n");
        } else if (item) {
            first = "- ";
            indent = "  ";
            buf_add(&flow, p + 2, n - 2);
        } else {
            if (flow.n == 0) first = indent = "";
            if (flow.n) buf_adds(&flow, " ");
            buf_add(&flow, p, n);
        }
        if (!nl) break;
        p = nl + 1;
    }
    if (flow.n) fill(&o, flow.b, flow.n, first, indent, width);
    free(flow.b);
    return o.b;
}

/* ---- finding a model ---- */

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int lesson_find_model(char **model, char **tok)
{
    *model = *tok = NULL;
    if (is_file("models/default.safetensors")) {
        *model = xstrdup("models/default.safetensors");
        return 1;
    }
    const char *shared = getenv("LECTERN_SHARED");
    if (!shared || !*shared) shared = "../shared";
    char *m = xasprintf("%s/models/gpt2-tiny", shared), *t = xasprintf("%s/tokenizers/gpt2", shared);
    char *mf = xasprintf("%s/model.safetensors", m);
    int found = is_file(mf) && is_dir(t);
    free(mf);
    if (!found) {
        free(m);
        free(t);
        return 0;
    }
    *model = m;
    *tok = t;
    return 1;
}

/* ---- playing ---- */

/* Output of a command goes through a tee: to where it went before (unless quiet) and into
 * the capture the checks read. */
typedef struct {
    FILE *orig;   /* NULL: shown nowhere */
    Buf *cap;
} Tee;

static ssize_t tee_write(void *cookie, const char *buf, size_t n)
{
    Tee *t = cookie;
    if (t->orig) fwrite(buf, 1, n, t->orig);
    buf_add(t->cap, buf, n);
    return (ssize_t)n;
}

static FILE *tee_open(Tee *t)
{
    cookie_io_functions_t io = { .write = tee_write };
    FILE *f = fopencookie(t, "w", io);
    if (f) setvbuf(f, NULL, _IONBF, 0);   /* keeps output and error lines in order */
    return f;
}

typedef struct {
    Session *s;
    Lesson *l;
    LessonPlay how;
    LessonResult *r;
    Buf out;             /* the last command's output */
    int have_out;
    const LessonItem *cmd;
    char *cmd_line;      /* the line it ran (require model runs a load of its own) */
    int cmd_rc;
    int shown;           /* something was shown: the next narration starts with a blank line */
    int after_narration; /* the last thing shown was narration: a blank line before a command */
} Play;

static void emit_text(Play *p, const char *text)
{
    Session *s = p->s;
    if (p->how.quiet) return;
    if (s->json) {
        json_t *o = json_object();
        json_object_set_new(o, "cmd", json_string("lesson"));
        json_object_set_new(o, "narration", json_string(text));
        char *txt = json_dumps(o, JSON_COMPACT);
        if (txt) fprintf(s->out, "%s\n", txt);
        free(txt);
        json_decref(o);
    } else {
        fputs(text, s->out);
    }
    fflush(s->out);
    p->shown = 1;
    p->after_narration = 1;
}

static void fail_check(Play *p, const LessonItem *it, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_check(Play *p, const LessonItem *it, const char *fmt, ...)
{
    p->r->n_failed++;
    if (!p->how.checks) return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    va_end(ap);
    fflush(p->s->out);
    fprintf(p->s->err, "FAIL %s:%d: %s\n", p->l->path, it->line, msg ? msg : "check failed");
    fflush(p->s->err);
    free(msg);
}

/* Runs one command line with its output captured (and shown unless quiet). */
static int run_command(Play *p, const LessonItem *it, const char *line)
{
    Session *s = p->s;
    if (!p->how.quiet && !s->json) {
        fprintf(s->out, "%slectern> %s\n", p->after_narration ? "\n" : "", line);
        fflush(s->out);
    }
    p->shown = 1;
    p->after_narration = 0;
    p->out.n = 0;
    buf_add(&p->out, "", 0);
    Tee to = { p->how.quiet ? NULL : s->out, &p->out }, te = { p->how.quiet ? NULL : s->err, &p->out };
    FILE *old_out = s->out, *old_err = s->err;
    FILE *tout = tee_open(&to), *terr = s->err == s->out ? tout : tee_open(&te);
    if (tout && terr) {
        s->out = tout;
        s->err = terr;
    }
    /* The lesson command itself is running: its JSON result and name stay ours. */
    json_t *result = s->result;
    const char *name = s->cmd_name;
    s->result = NULL;
    int failed0 = s->n_failed;
    int rc = session_exec(s, line);
    s->result = result;
    s->cmd_name = name;
    s->out = old_out;
    s->err = old_err;
    if (terr && terr != tout) fclose(terr);
    if (tout) fclose(tout);
    fflush(s->out);

    /* Does an expect-error follow?  Then the failure is the lesson's point, not a fault. */
    int expects_error = 0;
    for (const LessonItem *q = it + 1; q < p->l->items + p->l->n_items && is_check(q->kind); q++)
        expects_error |= q->kind == LESSON_EXPECT_ERROR;
    if (rc < 0 && expects_error) s->n_failed = failed0;
    p->cmd = it;
    free(p->cmd_line);
    p->cmd_line = xstrdup(line);
    p->cmd_rc = rc;
    p->have_out = 1;
    if (rc < 0 && !expects_error) {
        /* What follows builds on this command: the lesson stops here, as one failed check. */
        char *text = xstrndup(p->out.b ? p->out.b : "", p->out.n);
        char *e = strstr(text, "error: ");
        char *msg = e ? e + 7 : text;
        msg[strcspn(msg, "\n")] = 0;
        p->r->n_checks++;
        fail_check(p, it, "'%s' failed: %s (the lesson stops here)", line, msg);
        free(text);
        p->r->stopped = 1;
    }
    return rc;
}

static int has_bytes(const Buf *b, const char *t, size_t n)
{
    return b->n >= n && memmem(b->b, b->n, t, n) != NULL;
}

/* The first line of the captured output, shortened, for messages. */
static char *out_excerpt(const Buf *b)
{
    if (!b->n) return xstrdup("(no output)");
    size_t n = strcspn(b->b, "\n");
    if (n > 60) return xasprintf("%.60s...", b->b);
    return xasprintf("%.*s%s", (int)n, b->b, n < b->n - 1 ? " ..." : "");
}

static void check(Play *p, const LessonItem *it)
{
    const Buf *o = &p->out;
    const char *cmd = p->cmd_line ? p->cmd_line : "";
    /* The checks read the plain text the class sees; JSON mode prints something else. */
    if (p->s->json && it->kind != LESSON_EXPECT_ERROR) return;
    if (it->kind != LESSON_SAVE_OUTPUT) p->r->n_checks++;
    switch (it->kind) {
    case LESSON_EXPECT_CONTAINS:
        if (!has_bytes(o, it->text, it->len)) {
            char *q = session_quote_bytes(it->text, it->len), *x = out_excerpt(o);
            fail_check(p, it, "expect-contains %s: not in the output of '%s' (%s)", q, cmd, x);
            free(q);
            free(x);
        }
        break;
    case LESSON_EXPECT_LACKS:
        if (has_bytes(o, it->text, it->len)) {
            char *q = session_quote_bytes(it->text, it->len);
            fail_check(p, it, "expect-lacks %s: the output of '%s' has it", q, cmd);
            free(q);
        }
        break;
    case LESSON_EXPECT_MATCH:
        if (regexec(it->re, o->b ? o->b : "", 0, NULL, 0) != 0) {
            char *x = out_excerpt(o);
            fail_check(p, it, "expect-match %s: no line of the output of '%s' matches (%s)", it->text, cmd, x);
            free(x);
        }
        break;
    case LESSON_EXPECT_ERROR:
        if (p->cmd_rc == 0) {
            fail_check(p, it, "expect-error: '%s' succeeded", cmd);
        } else {
            if (it->text && !has_bytes(o, it->text, it->len)) {
                char *q = session_quote_bytes(it->text, it->len), *x = out_excerpt(o);
                fail_check(p, it, "expect-error %s: '%s' failed otherwise: %s", q, cmd, x);
                free(q);
                free(x);
            }
        }
        break;
    case LESSON_SAVE_OUTPUT:
        free(p->l->saved[it - p->l->items]);
        p->l->saved[it - p->l->items] = xstrndup(o->b ? o->b : "", o->n);
        break;
    case LESSON_EXPECT_SAME:
    case LESSON_EXPECT_DIFFERENT: {
        const char *was = NULL;
        for (int i = (int)(it - p->l->items) - 1; i >= 0 && !was; i--)
            if (p->l->items[i].kind == LESSON_SAVE_OUTPUT && !strcmp(p->l->items[i].text, it->text))
                was = p->l->saved[i];
        if (!was) {
            fail_check(p, it, "%s %s: the output saved under that name was not recorded in this run "
                       "(its part was not played)", it->kind == LESSON_EXPECT_SAME ? "expect-same"
                       : "expect-different", it->text);
            break;
        }
        int same = strlen(was) == o->n && memcmp(was, o->b ? o->b : "", o->n) == 0;
        if (it->kind == LESSON_EXPECT_SAME && !same)
            fail_check(p, it, "expect-same %s: the output of '%s' differs from it", it->text, cmd);
        if (it->kind == LESSON_EXPECT_DIFFERENT && same)
            fail_check(p, it, "expect-different %s: the output of '%s' is the same", it->text, cmd);
        break;
    }
    default:
        break;
    }
}

/* require model: the loaded model, or the first one found; 0 when there is one now. */
static int require_model(Play *p, const LessonItem *it)
{
    Session *s = p->s;
    if (s->model) return 0;
    char *m, *t;
    if (!lesson_find_model(&m, &t)) {
        char *msg = xasprintf("%sSKIP: lesson %s needs a model and found none (looked for "
                              "models/default.safetensors and %s/models/gpt2-tiny); load one, "
                              "then start the lesson again.\n", p->shown ? "\n" : "", p->l->name,
                              getenv("LECTERN_SHARED") && *getenv("LECTERN_SHARED")
                                  ? getenv("LECTERN_SHARED") : "../shared");
        emit_text(p, msg);
        free(msg);
        p->r->skipped = 1;
        return -1;
    }
    char *qm = session_escape(m, strlen(m)), *qt = t ? session_escape(t, strlen(t)) : NULL;
    char *line = xasprintf("load %s%s%s", qm, qt ? " " : "", qt ? qt : "");
    int rc = run_command(p, it, line);
    free(line);
    free(qm);
    free(qt);
    free(m);
    free(t);
    return rc < 0 ? -1 : 0;
}

int lesson_play(Session *s, Lesson *l, int from, int to, LessonPlay how, LessonResult *r)
{
    memset(r, 0, sizeof *r);
    if (from < 0) from = 0;
    if (to > l->n_sections) to = l->n_sections;
    Play p = { .s = s, .l = l, .how = how, .r = r };
    if (!l->saved) l->saved = xcalloc((size_t)l->n_items + 1, sizeof *l->saved);
    for (int i = l->section[from]; from < to && i < l->section[to]; i++) {
        const LessonItem *it = &l->items[i];
        if (it->kind == LESSON_NARRATION) {
            char *text = lesson_reflow(it->text, s->width < 96 ? s->width : 96);
            if (!s->json) {
                char *para = xasprintf("%s%s", p.shown ? "\n" : "", text);
                emit_text(&p, para);
                free(para);
            } else {
                emit_text(&p, text);
            }
            free(text);
        } else if (it->kind == LESSON_COMMAND) {
            run_command(&p, it, it->text);
        } else if (it->kind == LESSON_REQUIRE_MODEL) {
            if (require_model(&p, it) < 0) break;
        } else if (it->kind == LESSON_REQUIRE_LAYERS) {
            int have = s->model ? s->model->cfg.n_layer : 0;
            if (have < (int)it->len) {
                /* the rest of this part is about layers the model lacks: its note instead */
                char *note = *it->text ? xstrdup(it->text)
                                       : xasprintf("(This part needs a model with at least %d layers; the "
                                                   "loaded one has %d, so it is skipped.)", (int)it->len, have);
                char *text = lesson_reflow(note, s->width < 96 ? s->width : 96);
                char *para = xasprintf("%s%s", p.shown && !s->json ? "\n" : "", text);
                emit_text(&p, s->json ? text : para);
                free(para);
                free(text);
                free(note);
                int k = 0;
                while (k + 1 < l->n_sections && l->section[k + 1] <= i) k++;
                i = l->section[k + 1] - 1;
                p.have_out = 0;   /* the checks of the skipped part have nothing to read */
            }
        } else if (p.have_out) {
            check(&p, it);
        }
        if (session_interrupt || s->quit || r->stopped) {
            r->stopped = 1;
            break;
        }
    }
    free(p.cmd_line);
    free(p.out.b);
    return 0;
}
