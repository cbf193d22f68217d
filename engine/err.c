/* err — see err.h.  Owns the per-thread error message and the checked allocators. */
#include "engine/err.h"

#include <gsl/gsl_errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char *err_text;
static _Thread_local char err_loc[256];
static _Thread_local int err_last;

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        fputs("lectern: out of memory formatting an error message\n", stderr);
        abort();
    }
    return s;
}

int err_set(int code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    free(err_text);
    err_text = s;
    err_last = code;
    snprintf(err_loc, sizeof err_loc, "%s:%d", file ? file : "?", line);
    return code;
}

int err_prefix(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = vformat(fmt, ap);
    va_end(ap);
    char *s = xasprintf("%s: %s", p, err_text ? err_text : "error");
    free(p);
    free(err_text);
    err_text = s;
    return err_last;
}

const char *err_msg(void) { return err_text ? err_text : ""; }
const char *err_where(void) { return err_loc; }
int err_code(void) { return err_last; }

void err_clear(void)
{
    free(err_text);
    err_text = NULL;
    err_last = 0;
    err_loc[0] = 0;
}

const char *err_name(int code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_IO: return "i/o error";
    case ERR_FORMAT: return "bad format";
    case ERR_ARG: return "bad argument";
    case ERR_UNSUPPORTED: return "unsupported";
    case ERR_STATE: return "bad state";
    case ERR_RANGE: return "out of range";
    case ERR_INTERRUPTED: return "interrupted";
    default: return "error";
    }
}

static void gsl_handler(const char *reason, const char *file, int line, int gsl_errno)
{
    err_set(ERR_ARG, file, line, "GSL: %s (%s)", reason, gsl_strerror(gsl_errno));
}

void err_install_gsl_handler(void) { gsl_set_error_handler(gsl_handler); }

static void oom(size_t n)
{
    fprintf(stderr, "lectern: out of memory (asked for %zu bytes)\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

int size_mul(size_t a, size_t b, size_t *out)
{
    if (__builtin_mul_overflow(a, b, out)) return -1;
    return 0;
}

int size_add(size_t a, size_t b, size_t *out)
{
    if (__builtin_add_overflow(a, b, out)) return -1;
    return 0;
}
