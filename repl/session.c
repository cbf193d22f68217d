/* session — parsing and running command lines against one Session; output sinks, the
 * replay log and the text escapes the commands share.
 *
 * Owns: the command-line syntax (words, quotes, escapes), error reporting (one line per
 * failed command, never ending the session), JSON-mode result objects, `save session`.
 * Does not own: what each command does (commands.c), the terminal (line.c, screen.c).
 * The design follows sqlite's shell.c and lua.c: one table of commands, a failed command
 * reports and returns, script mode reads the same lines as the prompt.
 */
#include "repl/session.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "repl/cmd_attention.h"
#include "repl/cmd_lesson.h"
#include "repl/commands.h"

volatile sig_atomic_t session_interrupt;

Session *session_alloc(FILE *out, FILE *err)
{
    Session *s = xcalloc(1, sizeof *s);
    s->params = SAMPLER_DEFAULTS;
    s->initial = s->params;
    s->out = out ? out : stdout;
    s->err = err ? err : stderr;
    s->width = 80;
    s->step_k = 5;
    return s;
}

void session_free(Session *s)
{
    if (!s) return;
    gen_free(s->gen);
    model_free(s->model);
    cmd_attention_forget(s);
    cmd_lesson_forget(s);
    for (int i = 0; i < s->n_log; i++) free(s->log[i]);
    free(s->log);
    free(s->tokenizer_path);
    free(s);
}

/* ---- output ---- */

void session_printf(Session *s, const char *fmt, ...)
{
    if (s->json) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(s->out, fmt, ap);
    va_end(ap);
}

void session_puts(Session *s, const char *text)
{
    if (s->json || !text) return;
    fputs(text, s->out);
}

void session_log(Session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) < 0) {
        va_end(ap);
        fprintf(stderr, "lectern: out of memory\n");
        abort();
    }
    va_end(ap);
    if (s->n_log == s->cap_log) {
        s->cap_log = s->cap_log ? 2 * s->cap_log : 16;
        s->log = xrealloc(s->log, (size_t)s->cap_log * sizeof *s->log);
    }
    s->log[s->n_log++] = line;
}

int session_save(const Session *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return ERR(ERR_IO, "%s: %s", path, strerror(errno));
    const SamplerParams *p = &s->initial;
    char t[32], tp[32];
    fprintf(f, "# lectern %s session; replay with: lectern FILE  (or -c, or pipe it in)\n",
            LECTERN_VERSION);
    fprintf(f, "set seed %lu\nset temperature %s\nset top_k %d\nset top_p %s\n", p->seed,
            session_format_float(t, sizeof t, p->temperature), p->top_k,
            session_format_float(tp, sizeof tp, p->top_p));
    for (int i = 0; i < s->n_log; i++) fprintf(f, "%s\n", s->log[i]);
    if (ferror(f) | (fclose(f) != 0)) return ERR(ERR_IO, "%s: write failed", path);
    return 0;
}

char *session_format_float(char *buf, size_t size, float f)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return buf;
}

/* ---- bytes, escapes, JSON strings ---- */

/* Length of the valid UTF-8 sequence starting at p (n bytes available), or 0 when the
 * bytes there are not one (overlong forms, surrogates and > U+10FFFF count as invalid). */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min, cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

typedef struct {
    char *b;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 64;
        b->b = xrealloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
    b->b[b->n] = 0;
}

static void buf_addc(Buf *b, char c) { buf_add(b, &c, 1); }

/* Double-quoted, escaped; also_semicolon escapes ';' for -c lines. */
static char *quote_bytes(const char *b, size_t n, int also_semicolon)
{
    Buf o = {0};
    buf_addc(&o, '"');
    const unsigned char *p = (const unsigned char *)b;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        char tmp[8];
        if (c == '\n') buf_add(&o, "\\n", 2);
        else if (c == '\t') buf_add(&o, "\\t", 2);
        else if (c == '\r') buf_add(&o, "\\r", 2);
        else if (c == '\\') buf_add(&o, "\\\\", 2);
        else if (c == '"') buf_add(&o, "\\\"", 2);
        else if (c == ';' && also_semicolon) buf_add(&o, "\\;", 2);
        else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            buf_add(&o, tmp, 4);
        } else {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l == 0) {
                snprintf(tmp, sizeof tmp, "\\x%02x", c);
                buf_add(&o, tmp, 4);
                i++;
            } else {
                buf_add(&o, p + i, l);
                i += l;
            }
            continue;
        }
        i++;
    }
    buf_addc(&o, '"');
    return o.b;
}

char *session_quote_bytes(const char *b, size_t n) { return quote_bytes(b, n, 0); }
char *session_escape(const char *b, size_t n) { return quote_bytes(b, n, 1); }

json_t *session_json_bytes(const char *b, size_t n)
{
    Buf o = {0};
    buf_add(&o, "", 0);
    const unsigned char *p = (const unsigned char *)b;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(p + i, n - i);
        if (l == 0) {
            buf_add(&o, "\xef\xbf\xbd", 3);  /* U+FFFD REPLACEMENT CHARACTER */
            i++;
        } else {
            buf_add(&o, p + i, l);
            i += l;
        }
    }
    json_t *j = json_stringn(o.b, o.n);
    free(o.b);
    return j;
}

json_t *session_json_token(const Session *s, int id)
{
    size_t len = 0;
    const char *b = (s->model && s->model->tok) ? tokenizer_token_bytes(s->model->tok, id, &len)
                                                : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "text", b ? session_json_bytes(b, len) : json_null());
    return o;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the escape whose backslash is at *pp; advances *pp past it and stores the byte. */
static int read_escape(const char **pp, char *out)
{
    const char *p = *pp + 1;
    switch (*p) {
    case 'n': *out = '\n'; break;
    case 't': *out = '\t'; break;
    case 'r': *out = '\r'; break;
    case '0': *out = '\0'; break;
    case '\\': case '"': case '\'': case ';': case ' ': case '#': *out = *p; break;
    case 'x': {
        int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
        if (h < 0 || l < 0) return ERR(ERR_ARG, "\\x needs two hex digits");
        *out = (char)(h * 16 + l);
        p += 2;
        break;
    }
    case '\0': return ERR(ERR_ARG, "a lone backslash ends the line");
    default: return ERR(ERR_ARG, "unknown escape \\%c (known: \\n \\t \\r \\0 \\\\ \\\" \\' \\; \\xHH, "
                        "backslash-space)", *p);
    }
    *pp = p + 1;
    return 0;
}

char *session_unescape(const char *text, size_t *len)
{
    size_t n = strlen(text);
    /* Trailing blanks are dropped unless escaped: an odd run of backslashes before them. */
    while (n > 0 && isspace((unsigned char)text[n - 1])) {
        size_t bs = 0;
        while (bs + 1 < n && text[n - 2 - bs] == '\\') bs++;
        if (bs % 2) break;
        n--;
    }
    char *out = xmalloc(n + 1);
    size_t o = 0;
    const char *p = text, *end = text + n;
    int quoted = 0;
    if (n >= 2 && text[0] == '"') {
        /* A text wholly inside double quotes loses them. */
        const char *q = text + 1;
        while (q < end && *q != '"') q += (*q == '\\' && q + 1 < end) ? 2 : 1;
        if (q == end - 1) {
            quoted = 1;
            p = text + 1;
            end = q;
        }
    }
    while (p < end) {
        if (*p == '\\') {
            if (p + 1 >= end && !quoted) {
                free(out);
                ERR(ERR_ARG, "a lone backslash ends the text");
                return NULL;
            }
            if (read_escape(&p, &out[o]) < 0) {
                free(out);
                return NULL;
            }
            o++;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    *len = o;
    return out;
}

/* ---- parsing and running ---- */

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void free_args(CmdArgs *a)
{
    for (int i = 0; i < a->argc; i++) free(a->argv[i].s);
    free(a->argv);
    a->argv = NULL;
    a->argc = 0;
}

/* Splits p into words: blanks separate; "..." allows escapes, '...' is literal, a backslash
 * outside quotes escapes too. */
static int split_words(const char *p, CmdArgs *a)
{
    int cap = 0;
    for (;;) {
        while (is_blank((unsigned char)*p)) p++;
        if (!*p) return 0;
        char *w = xmalloc(strlen(p) + 1);  /* escapes only shrink a word */
        size_t n = 0;
        int quoted = 0;
        while (*p && !is_blank((unsigned char)*p)) {
            if (*p == '"' || *p == '\'') {
                char q = *p++;
                quoted = 1;
                while (*p && *p != q) {
                    if (q == '"' && *p == '\\') {
                        if (read_escape(&p, &w[n]) < 0) { free(w); return ERR_ARG; }
                        n++;
                    } else {
                        w[n++] = *p++;
                    }
                }
                if (!*p) {
                    free(w);
                    return ERR(ERR_ARG, "unterminated %c quote", q);
                }
                p++;
            } else if (*p == '\\') {
                if (read_escape(&p, &w[n]) < 0) { free(w); return ERR_ARG; }
                n++;
            } else {
                w[n++] = *p++;
            }
        }
        w[n] = 0;
        if (a->argc == cap) {
            cap = cap ? 2 * cap : 4;
            a->argv = xrealloc(a->argv, (size_t)cap * sizeof *a->argv);
        }
        a->argv[a->argc++] = (CmdArg){ .s = w, .len = n, .quoted = quoted };
    }
}

static void emit_json(Session *s, json_t *o)
{
    char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(7));
    if (txt) {
        fprintf(s->out, "%s\n", txt);
        free(txt);
    }
}

/* Prints the current error as one line; the session stays as it is. */
static void report_error(Session *s, const char *name, int rc)
{
    s->n_failed++;
    const char *msg = err_msg();
    char *line = xstrdup(*msg ? msg : err_name(rc));
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    if (s->json) {
        json_t *o = s->result ? s->result : json_object();
        s->result = NULL;
        if (!json_object_get(o, "cmd"))
            json_object_set_new(o, "cmd", name ? json_string(name) : json_null());
        json_object_set_new(o, "ok", json_false());
        json_object_set_new(o, "error", session_json_bytes(line, strlen(line)));
        emit_json(s, o);
        json_decref(o);
    } else {
        fflush(s->out);  /* keep the order when out and err go to one place */
        fprintf(s->err, "error: %s\n", line);
        fflush(s->err);
    }
    free(line);
}

int session_exec(Session *s, const char *line)
{
    const char *p = line;
    while (is_blank((unsigned char)*p)) p++;
    if (!*p || *p == '#') return 0;
    const char *name_end = p;
    while (*name_end && !is_blank((unsigned char)*name_end)) name_end++;
    char *name = xstrndup(p, (size_t)(name_end - p));
    const char *rest = name_end;
    while (is_blank((unsigned char)*rest)) rest++;

    err_clear();
    int rc = 0;
    CmdArgs a = { 0, NULL, rest };
    const Command *c = commands_find(name);
    if (!c) {
        rc = ERR(ERR_ARG, "unknown command '%s' (type help for the list)", name);
    } else if (!(c->flags & CMD_REST)) {
        rc = split_words(rest, &a);
        if (rc == 0 && (a.argc < c->min_args || a.argc > c->max_args))
            rc = ERR(ERR_ARG, "usage: %s%s%s", c->name, *c->args ? " " : "", c->args);
        if (rc < 0 && !*err_msg()) rc = ERR(ERR_ARG, "%s: bad arguments", c->name);
    }
    if (rc == 0) {
        if (s->json) {
            s->result = json_object();
            json_object_set_new(s->result, "cmd", json_string(c->name));
        }
        s->cmd_name = c->name;
        rc = c->fn(s, &a);
        s->cmd_name = NULL;
    }
    if (rc < 0) {
        report_error(s, c ? c->name : name, rc);
    } else if (s->json && s->result) {
        json_object_set_new(s->result, "ok", json_true());
        emit_json(s, s->result);
    }
    if (s->result) json_decref(s->result);
    s->result = NULL;
    free_args(&a);
    free(name);
    fflush(s->out);
    return rc < 0 ? rc : 0;
}

char *session_greeting(const Session *s)
{
    const char *hello = "lectern " LECTERN_VERSION " — type help for the commands, quit or Ctrl-D to leave.\n";
    char *lesson = cmd_lesson_greeting(s), *g;
    if (s->model || lesson) g = xasprintf("%s%s", hello, lesson ? lesson : "");
    else g = xasprintf("%sNo model loaded.  Load one with:  load PATH [TOKENIZER]\n"
                       "  PATH: a .safetensors file or a Hugging Face GPT-2 directory, e.g.\n"
                       "  load ../shared/models/gpt2-tiny ../shared/tokenizers/gpt2\n", hello);
    free(lesson);
    return g;
}

int session_run_file(Session *s, FILE *f, int echo)
{
    int failed0 = s->n_failed;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!s->quit && (n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (echo && !s->json) fprintf(s->out, "lectern> %s\n", line);
        session_exec(s, line);
        if (session_interrupt) break;
    }
    free(line);
    return s->n_failed - failed0;
}

char **session_split_commands(const char *text)
{
    size_t cap = 4, n = 0;
    char **lines = xmalloc(cap * sizeof *lines);
    const char *start = text, *p = text;
    int quote = 0;
    for (;; p++) {
        if (*p == '\\' && p[1]) { p++; continue; }
        /* Only double quotes protect a ';': apostrophes are common in prompt text. */
        if (*p == '"') quote = !quote;
        if (!*p || *p == '\n' || (*p == ';' && !quote)) {
            quote = 0;
            if (n + 2 > cap) {
                cap *= 2;
                lines = xrealloc(lines, cap * sizeof *lines);
            }
            lines[n++] = xstrndup(start, (size_t)(p - start));
            if (!*p) break;
            start = p + 1;
        }
    }
    lines[n] = NULL;
    return lines;
}

void session_free_lines(char **lines)
{
    if (!lines) return;
    for (char **l = lines; *l; l++) free(*l);
    free(lines);
}
