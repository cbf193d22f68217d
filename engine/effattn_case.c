/* effattn_case — read one case of an attention-kernel oracle file and run a method on it.
 *
 * Owns the line-oriented reader of kernel_attention_small.txt (and files in its format) and
 * the table mapping method names to effattn.c kernels with the conventions the file was
 * generated with.  Not here: the kernels (effattn.c), printing (the REPL prints the text).
 * Reference: ../shared/oracles/attention/README.md, ../shared/research/attention.md section 0.
 */
#include "engine/effattn_case.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/effattn.h"
#include "engine/err.h"

void effattn_case_free(EffattnCase *c)
{
    if (!c) return;
    for (int i = 0; i < c->nmat; i++) {
        free(c->mat[i].name);
        free(c->mat[i].v);
    }
    free(c->mat);
    free(c->name);
    free(c);
}

const EffattnMatrix *effattn_case_matrix(const EffattnCase *c, const char *name)
{
    for (int i = 0; i < c->nmat; i++)
        if (!strcmp(c->mat[i].name, name)) return &c->mat[i];
    return NULL;
}

/* Splits line (modified in place) into at most max words; returns the count (max + 1 when
 * there are more). */
static int split(char *line, char **w, int max)
{
    int k = 0;
    for (char *p = line;;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        if (k == max) return max + 1;
        w[k++] = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (*p) *p++ = 0;
    }
    return k;
}

static int parse_dim(const char *s, int *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < 1 || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

/* Next line of text (NUL-terminated in place); NULL at the end. */
static char *next_line(char **cur)
{
    char *p = *cur;
    if (!p || !*p) return NULL;
    char *e = strchr(p, '\n');
    if (e) {
        *e = 0;
        *cur = e + 1;
    } else {
        *cur = p + strlen(p);
    }
    size_t len = strlen(p);
    if (len && p[len - 1] == '\r') p[len - 1] = 0;
    return p;
}

int effattn_case_load(const char *path, const char *name, EffattnCase **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ERR(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *text = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) text = xrealloc(text, (cap *= 2) + 1);
        size_t r = fread(text + len, 1, cap - len, f);
        if (r == 0) break;
        len += r;
    }
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err) {
        free(text);
        return ERR(ERR_IO, "%s: read failed", path);
    }
    text[len] = 0;
    if (memchr(text, 0, len)) {
        free(text);
        return ERR(ERR_FORMAT, "%s: not a text file", path);
    }

    char *cur = text, *line, *w[4];
    int lineno = 0, rc = 0, in_case = 0, found = 0;
    char *seen = xstrdup("");
    EffattnCase *c = NULL;
    while (!rc && !found && (line = next_line(&cur))) {
        lineno++;
        if (line[0] == '#') continue;
        int nw = split(line, w, 3);
        if (nw == 0) continue;
        if (!in_case) {
            if (nw == 2 && !strcmp(w[0], "case")) {
                in_case = 1;
                char *t = xasprintf("%s%s%s", seen, *seen ? " " : "", w[1]);
                free(seen);
                seen = t;
                if (!strcmp(w[1], name)) {
                    c = xcalloc(1, sizeof *c);
                    c->name = xstrdup(w[1]);
                }
            } else {
                rc = ERR(ERR_FORMAT, "%s:%d: expected 'case NAME'", path, lineno);
            }
            continue;
        }
        if (nw == 1 && !strcmp(w[0], "end")) {
            in_case = 0;
            if (c) found = 1;
            continue;
        }
        if (nw == 2) {
            int v;
            if (parse_dim(w[1], &v)) {
                rc = ERR(ERR_FORMAT, "%s:%d: %s: expected a positive integer", path, lineno, w[0]);
                break;
            }
            if (c) {
                if (!strcmp(w[0], "n")) c->n = v;
                else if (!strcmp(w[0], "d")) c->d = v;
                else if (!strcmp(w[0], "dv")) c->dv = v;
                else if (!strcmp(w[0], "m")) c->m = v;
                else if (!strcmp(w[0], "k")) c->k = v;
            }
            continue;
        }
        int rows, cols;
        if (nw != 3 || parse_dim(w[1], &rows) || parse_dim(w[2], &cols)) {
            rc = ERR(ERR_FORMAT, "%s:%d: expected 'NAME ROWS COLS', 'key value' or 'end'", path, lineno);
            break;
        }
        size_t cells;
        if (size_mul((size_t)rows, (size_t)cols, &cells) || cells > len) {
            /* every number takes at least two bytes: larger matrices cannot be in the file */
            rc = ERR(ERR_FORMAT, "%s:%d: %s is %dx%d, more numbers than the file holds", path,
                     lineno, w[0], rows, cols);
            break;
        }
        EffattnMatrix *m = NULL;
        if (c) {
            if (effattn_case_matrix(c, w[0])) {
                rc = ERR(ERR_FORMAT, "%s:%d: matrix %s given twice", path, lineno, w[0]);
                break;
            }
            c->mat = xrealloc(c->mat, (size_t)(c->nmat + 1) * sizeof *c->mat);
            m = &c->mat[c->nmat++];
            m->name = xstrdup(w[0]);
            m->rows = rows;
            m->cols = cols;
            m->v = xmalloc(cells * sizeof(double));
        }
        const char *mname = m ? m->name : "matrix";
        for (int r = 0; r < rows && !rc; r++) {
            line = next_line(&cur);
            lineno++;
            if (!line) {
                rc = ERR(ERR_FORMAT, "%s:%d: %s ends after %d of %d rows", path, lineno, mname, r, rows);
                break;
            }
            char *p = line;
            for (int j = 0; j < cols; j++) {
                char *e;
                errno = 0;
                double x = strtod(p, &e);
                if (e == p || errno == ERANGE || !isfinite(x)) {
                    rc = ERR(ERR_FORMAT, "%s:%d: %s row %d: expected %d numbers", path, lineno,
                             mname, r, cols);
                    break;
                }
                if (m) m->v[(size_t)r * cols + j] = x;
                p = e;
            }
            while (!rc && isspace((unsigned char)*p)) p++;
            if (!rc && *p)
                rc = ERR(ERR_FORMAT, "%s:%d: %s row %d: more than %d numbers", path, lineno, mname, r, cols);
        }
    }
    if (!rc && in_case && !found) rc = ERR(ERR_FORMAT, "%s: case without 'end'", path);
    if (!rc && !found)
        rc = ERR(ERR_ARG, "%s: no case '%s' (cases: %s)", path, name, *seen ? seen : "none");
    free(seen);
    free(text);
    if (rc) {
        effattn_case_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The case's matrix `name` as float, checked to be (rows, cols); rows/cols < 0 = any. */
static int get(const EffattnCase *c, const char *name, int rows, int cols, float **out,
               int *r_out, int *c_out)
{
    const EffattnMatrix *m = effattn_case_matrix(c, name);
    if (!m) return ERR(ERR_ARG, "case %s: no matrix %s", c->name, name);
    if ((rows >= 0 && m->rows != rows) || (cols >= 0 && m->cols != cols))
        return ERR(ERR_ARG, "case %s: %s is %dx%d, expected %dx%d", c->name, name, m->rows,
                   m->cols, rows, cols);
    size_t cells = (size_t)m->rows * m->cols;
    float *v = xmalloc(cells * sizeof(float));
    for (size_t i = 0; i < cells; i++) v[i] = (float)m->v[i];
    *out = v;
    if (r_out) *r_out = m->rows;
    if (c_out) *c_out = m->cols;
    return 0;
}

static const char METHODS[] = "exact_bi exact_causal favor_bi favor_causal elu_bi elu_causal "
                              "linformer_bi linformer_causal phi_q phi_k";

const char *effattn_case_methods(void) { return METHODS; }

int effattn_case_run(const EffattnCase *c, const char *method, float **out, int *rows, int *cols)
{
    float *Q = NULL, *K = NULL, *V = NULL, *W = NULL, *E = NULL, *F = NULL, *o = NULL, *s = NULL;
    int n, d, n2, d2, dv, m = 0, k = 0, rc;
    rc = get(c, "Q", -1, -1, &Q, &n, &d);
    if (!rc) rc = get(c, "K", n, d, &K, &n2, &d2);
    if (!rc) rc = get(c, "V", n, -1, &V, &n2, &dv);
    if (rc) goto done;
    int causal = strstr(method, "_causal") != NULL;
    const char *known = NULL;
    for (const char *p = METHODS; *p;) {
        size_t l = strcspn(p, " ");
        if (strlen(method) == l && !strncmp(p, method, l)) known = p;
        p += l;
        while (*p == ' ') p++;
    }
    if (!known) {
        rc = ERR(ERR_ARG, "kernel: unknown method '%s' (methods: %s)", method, METHODS);
        goto done;
    }
    float scale = (float)(1.0 / sqrt((double)d));
    *rows = n;
    *cols = dv;
    if (!strncmp(method, "exact", 5)) {
        o = xmalloc((size_t)n * dv * sizeof(float));
        s = xmalloc((size_t)n * sizeof(float));
        effattn_exact(Q, K, V, n, d, dv, scale, causal, o, s);
    } else if (!strncmp(method, "favor", 5) || !strncmp(method, "phi", 3)) {
        rc = get(c, "W", -1, d, &W, &m, NULL);
        if (rc) goto done;
        if (!strncmp(method, "phi", 3)) {
            o = xmalloc((size_t)n * m * sizeof(float));
            effattn_favor_features(method[4] == 'q' ? Q : K, n, d, W, m, method[4] == 'q',
                                   EFFATTN_FAVOR_FEATURE_EPS, o);
            *cols = m;
        } else {
            o = xmalloc((size_t)n * dv * sizeof(float));
            s = xmalloc(effattn_favor_scratch(n, m, dv) * sizeof(float));
            effattn_favor(Q, K, V, W, n, d, dv, m, causal, EFFATTN_FAVOR_FEATURE_EPS,
                          EFFATTN_FAVOR_CAUSAL_EPS, o, s);
        }
    } else if (!strncmp(method, "elu", 3)) {
        o = xmalloc((size_t)n * dv * sizeof(float));
        s = xmalloc(effattn_elu_scratch(n, d, dv) * sizeof(float));
        effattn_elu(Q, K, V, n, d, dv, causal, EFFATTN_LINEAR_EPS, o, s);
    } else {
        rc = get(c, "E", -1, n, &E, &k, NULL);
        if (!rc) rc = get(c, "F", k, n, &F, NULL, NULL);
        if (rc) goto done;
        o = xmalloc((size_t)n * dv * sizeof(float));
        s = xmalloc(effattn_linformer_scratch(k, d, dv) * sizeof(float));
        rc = effattn_linformer(Q, K, V, E, F, n, n, d, dv, k, scale, causal, o, s);
    }
done:
    free(Q);
    free(K);
    free(V);
    free(W);
    free(E);
    free(F);
    free(s);
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

char *effattn_case_matrix_text(const float *m, int rows, int cols)
{
    size_t cap = 64, len = 0;
    char *s = xmalloc(cap);
    s[0] = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            char num[48];
            int w = snprintf(num, sizeof num, "%.9g%c", m[(size_t)i * cols + j],
                             j + 1 < cols ? ' ' : '\n');
            while (len + (size_t)w + 1 > cap) s = xrealloc(s, cap *= 2);
            memcpy(s + len, num, (size_t)w + 1);
            len += (size_t)w;
        }
    return s;
}
