/* effattn_case — named matrices from a kernel_attention_small.txt-style file, and running a
 * kernel method on them: what `lectern kernel METHOD --in FILE --case NAME` calls.
 *
 * File format (../shared/oracles/attention/README.md): `#` comment lines; `case NAME` ...
 * `end` blocks; inside, scalar lines `key value` (n, d, dv, m, k) and matrices `NAME R C`
 * followed by R lines of C numbers.
 */
#ifndef LECTERN_EFFATTN_CASE_H
#define LECTERN_EFFATTN_CASE_H

typedef struct {
    char *name;
    int rows, cols;
    double *v;          /* (rows, cols) as written in the file (float64) */
} EffattnMatrix;

typedef struct {
    char *name;
    int n, d, dv, m, k; /* scalars; 0 when absent */
    int nmat;
    EffattnMatrix *mat; /* [nmat] */
} EffattnCase;

/* Loads case `name` from path.  ERR_IO when unreadable, ERR_FORMAT with path:line for a
 * malformed file, ERR_ARG naming the cases present when `name` is not among them. */
int effattn_case_load(const char *path, const char *name, EffattnCase **out);
void effattn_case_free(EffattnCase *c);   /* NULL is a no-op */
/* The matrix called name, or NULL. */
const EffattnMatrix *effattn_case_matrix(const EffattnCase *c, const char *name);

/* Runs method on the case's Q, K, V (and W, E, F where the method needs them):
 *   exact_bi exact_causal            softmax(Q K^T / sqrt d) V
 *   favor_bi favor_causal            FAVOR+ with the file's W, performer-pytorch eps
 *   elu_bi elu_causal                linear attention, elu(x) + 1, eps 1e-6
 *   linformer_bi linformer_causal    with the file's E, F
 *   phi_q phi_k                      the FAVOR+ features themselves (n, m)
 * *out (rows, cols) float is xmalloc'd.  ERR_ARG for an unknown method or a matrix the case
 * lacks or has the wrong shape for. */
int effattn_case_run(const EffattnCase *c, const char *method, float **out, int *rows, int *cols);
/* The methods above, space separated (for help and completion). */
const char *effattn_case_methods(void);

/* Rows of %.9g numbers separated by spaces, each ended by '\n'; xmalloc'd. */
char *effattn_case_matrix_text(const float *m, int rows, int cols);

#endif
