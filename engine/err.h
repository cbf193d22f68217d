/* err — the engine's one error channel and its checked allocators.
 *
 * Engine functions never print and never exit.  They return 0 on success or a negative
 * ERR_* code, and record a one-line message (naming the file and the problem) through
 * err_set(), which is the single place to put a breakpoint.  The REPL prints err_msg()
 * and carries on.  Messages are per thread.
 *
 * Allocation failure is the one exception: xmalloc() and friends abort with a message,
 * since no caller can do anything useful without memory (STYLE.md, "Errors and memory").
 */
#ifndef LECTERN_ERR_H
#define LECTERN_ERR_H

#include <stddef.h>
#include <stdint.h>

enum {
    ERR_OK = 0,
    ERR_IO = -1,          /* open/read/mmap failed */
    ERR_FORMAT = -2,      /* a file's content is malformed or truncated */
    ERR_ARG = -3,         /* a caller's argument is out of range or malformed */
    ERR_UNSUPPORTED = -4, /* valid, but not something Lectern handles */
    ERR_STATE = -5,       /* the operation needs state that is not there (no model, ...) */
    ERR_RANGE = -6,       /* a size or index read from data is out of range */
    ERR_INTERRUPTED = -7, /* stopped by the user */
};

/* Records "msg" (printf-style) as the current error and returns code, so callers write
 * `return ERR(ERR_FORMAT, "%s: header length past end of file", path);`.
 * file/line are kept for err_where(), not put in the user-facing message. */
int err_set(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ERR(code, ...) err_set((code), __FILE__, __LINE__, __VA_ARGS__)

/* Prefixes the current message with "prefix: " (for adding context such as a file name
 * on the way up).  Returns the current code. */
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *err_msg(void);    /* the last message; "" when none.  Valid until the next err_*. */
const char *err_where(void);  /* "file.c:123" of the last err_set */
int err_code(void);
void err_clear(void);
const char *err_name(int code);

/* Installs a GSL error handler that records the error instead of aborting. */
void err_install_gsl_handler(void);

/* Checked allocators: abort with a message on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Overflow-checked size arithmetic: return 0 and set *out, or -1 on overflow. */
int size_mul(size_t a, size_t b, size_t *out);
int size_add(size_t a, size_t b, size_t *out);

#endif
