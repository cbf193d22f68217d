/* deepspeed — DeepSpeed's block-sparse attention layouts, reproduced block for block.
 *
 * Owns the six SparsityConfig classes of deepspeed/ops/sparse_attention/sparsity_config.py
 * (parameters, defaults, the checks of their constructors and make_layout) as layouts of
 * 0/1 blocks; pattern.c expands a layout to tokens.  Python slice semantics (negative starts,
 * clipping) are kept where a parameter can reach them.  Random blocks use gsl_rng, not
 * Python's random.sample.  Reference: DeepSpeed sparsity_config.py (read at 38327e0);
 * ../shared/research/attention.md section 2 (and its pitfalls, reproduced on purpose).
 */
#include "engine/deepspeed.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsl/gsl_rng.h>

#include "engine/err.h"

static const char *const CLASS_NAMES[] = {"Dense", "Fixed", "Variable", "BigBird",
                                          "BSLongformer", "LocalSlidingWindow"};

const char *deepspeed_class_name(DeepspeedClass c)
{
    return c >= DS_DENSE && c <= DS_LOCAL ? CLASS_NAMES[c] : "?";
}

static int *int_list(int n, const int *v)
{
    int *p = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) p[i] = v[i];
    return p;
}

int deepspeed_config_init(DeepspeedConfig *c, const char *class_name)
{
    memset(c, 0, sizeof *c);
    if (!class_name) return ERR(ERR_ARG, "deepspeed: no class given");
    size_t len = strlen(class_name);
    const char *suffix = "SparsityConfig";
    if (len > strlen(suffix) && !strcasecmp(class_name + len - strlen(suffix), suffix))
        len -= strlen(suffix);
    int cls = -1;
    for (int i = 0; i <= DS_LOCAL; i++)
        if (strlen(CLASS_NAMES[i]) == len && !strncasecmp(class_name, CLASS_NAMES[i], len)) cls = i;
    if (len == 5 && !strncasecmp(class_name, "local", 5)) cls = DS_LOCAL;
    if (cls < 0)
        return ERR(ERR_ARG, "deepspeed: unknown class '%s' (known: Dense, Fixed, Variable, "
                   "BigBird, BSLongformer, LocalSlidingWindow)", class_name);
    c->cls = (DeepspeedClass)cls;
    c->num_heads = 1;
    c->block = 16;
    c->num_different_global_patterns = 1;
    static const int zero[] = {0}, four[] = {4};
    switch (c->cls) {
    case DS_DENSE: break;
    case DS_FIXED:
        c->num_local_blocks = 4;
        c->num_global_blocks = 1;
        break;
    case DS_VARIABLE:
        c->local_window_blocks = int_list(1, four);
        c->n_local_window_blocks = 1;
        c->global_block_indices = int_list(1, zero);
        c->n_global_block_indices = 1;
        break;
    case DS_BIGBIRD:
        c->num_random_blocks = 1;
        c->num_sliding_window_blocks = 3;
        c->num_global_blocks = 1;
        break;
    case DS_BSLONGFORMER:
        c->num_sliding_window_blocks = 3;
        c->global_block_indices = int_list(1, zero);
        c->n_global_block_indices = 1;
        break;
    case DS_LOCAL:
        c->num_sliding_window_blocks = 3;
        c->unidirectional = 1;   /* LocalSlidingWindow alone defaults to unidirectional */
        break;
    }
    return 0;
}

void deepspeed_config_done(DeepspeedConfig *c)
{
    free(c->local_window_blocks);
    free(c->global_block_indices);
    free(c->global_block_end_indices);
    c->local_window_blocks = c->global_block_indices = c->global_block_end_indices = NULL;
}

static int parse_long(const char *s, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < INT_MIN || v > INT_MAX) return -1;
    *out = v;
    return 0;
}

/* "[0,6]", "0,6", "[ 0, 6 ]", "[]" -> list; -1 when malformed. */
static int parse_list(const char *v, int **out, int *n)
{
    size_t len = strlen(v);
    char *s = xstrdup(v), *p = s;
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s[len - 1] = 0;
        p = s + 1;
    }
    int cap = 4, k = 0;
    int *list = xmalloc((size_t)cap * sizeof(int));
    int ok = 1;
    while (isspace((unsigned char)*p)) p++;
    if (*p) {
        for (char *tok = p;;) {
            char *comma = strchr(tok, ',');
            if (comma) *comma = 0;
            while (isspace((unsigned char)*tok)) tok++;
            char *end = tok + strlen(tok);
            while (end > tok && isspace((unsigned char)end[-1])) *--end = 0;
            long x;
            if (parse_long(tok, &x)) { ok = 0; break; }
            if (k == cap) list = xrealloc(list, (size_t)(cap *= 2) * sizeof(int));
            list[k++] = (int)x;
            if (!comma) break;
            tok = comma + 1;
        }
    }
    free(s);
    if (!ok) {
        free(list);
        return -1;
    }
    *out = list;
    *n = k;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1")) *out = 1;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0")) *out = 0;
    else return -1;
    return 0;
}

/* Which constructor parameters each class takes (DeepSpeed raises TypeError otherwise). */
static int takes(DeepspeedClass c, const char *name)
{
    static const struct { const char *name; unsigned classes; } T[] = {
        {"num_heads", 0x3f}, {"block", 0x3f},
        {"different_layout_per_head", (1u << DS_DENSE) | (1u << DS_FIXED) | (1u << DS_VARIABLE) |
                                      (1u << DS_BIGBIRD) | (1u << DS_BSLONGFORMER)},
        {"num_local_blocks", 1u << DS_FIXED},
        {"num_global_blocks", (1u << DS_FIXED) | (1u << DS_BIGBIRD)},
        {"attention", 0x3f & ~(1u << DS_DENSE)},
        {"horizontal_global_attention", (1u << DS_FIXED) | (1u << DS_VARIABLE)},
        {"num_different_global_patterns", 1u << DS_FIXED},
        {"num_random_blocks", (1u << DS_VARIABLE) | (1u << DS_BIGBIRD)},
        {"num_sliding_window_blocks", (1u << DS_BIGBIRD) | (1u << DS_BSLONGFORMER) | (1u << DS_LOCAL)},
        {"local_window_blocks", 1u << DS_VARIABLE},
        {"global_block_indices", (1u << DS_VARIABLE) | (1u << DS_BSLONGFORMER)},
        {"global_block_end_indices", (1u << DS_VARIABLE) | (1u << DS_BSLONGFORMER)},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(T[i].name, name)) return (T[i].classes >> c) & 1;
    return 0;
}

int deepspeed_config_set(DeepspeedConfig *c, const char *name, const char *value)
{
    const char *cls = deepspeed_class_name(c->cls);
    if (!takes(c->cls, name))
        return ERR(ERR_ARG, "deepspeed: %s takes no parameter '%s'", cls, name);
    long x;
    int b;
    struct { const char *name; int *field; } ints[] = {
        {"num_heads", &c->num_heads}, {"block", &c->block},
        {"num_local_blocks", &c->num_local_blocks}, {"num_global_blocks", &c->num_global_blocks},
        {"num_different_global_patterns", &c->num_different_global_patterns},
        {"num_random_blocks", &c->num_random_blocks},
        {"num_sliding_window_blocks", &c->num_sliding_window_blocks},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcmp(ints[i].name, name)) continue;
        if (parse_long(value, &x)) return ERR(ERR_ARG, "deepspeed: %s=%s: expected an integer", name, value);
        *ints[i].field = (int)x;
        return 0;
    }
    if (!strcmp(name, "different_layout_per_head") || !strcmp(name, "horizontal_global_attention")) {
        if (parse_bool(value, &b)) return ERR(ERR_ARG, "deepspeed: %s=%s: expected True or False", name, value);
        if (name[0] == 'd') c->different_layout_per_head = b;
        else c->horizontal_global_attention = b;
        return 0;
    }
    if (!strcmp(name, "attention")) {
        if (!strcmp(value, "bidirectional")) c->unidirectional = 0;
        else if (!strcmp(value, "unidirectional")) c->unidirectional = 1;
        else return ERR(ERR_ARG, "deepspeed: attention=%s: only uni/bi-directional attentions are "
                        "supported", value);
        return 0;
    }
    int **field = !strcmp(name, "local_window_blocks") ? &c->local_window_blocks
                : !strcmp(name, "global_block_indices") ? &c->global_block_indices
                : &c->global_block_end_indices;
    int *count = field == &c->local_window_blocks ? &c->n_local_window_blocks
               : &c->n_global_block_indices;
    if (field == &c->global_block_end_indices && !strcmp(value, "None")) {
        free(c->global_block_end_indices);
        c->global_block_end_indices = NULL;
        c->n_global_block_end_indices = 0;
        return 0;
    }
    int *list, n;
    if (parse_list(value, &list, &n))
        return ERR(ERR_ARG, "deepspeed: %s=%s: expected a list like [0,6]", name, value);
    if (field == &c->global_block_end_indices) {
        /* its length is checked against global_block_indices in deepspeed_config_check */
        free(c->global_block_end_indices);
        c->global_block_end_indices = list;
        c->n_global_block_end_indices = n;
        return 0;
    }
    free(*field);
    *field = list;
    *count = n;
    return 0;
}

int deepspeed_config_check(const DeepspeedConfig *c)
{
    const char *cls = deepspeed_class_name(c->cls);
    if (c->num_heads < 1) return ERR(ERR_ARG, "deepspeed: %s num_heads=%d must be >= 1", cls, c->num_heads);
    if (c->block < 1) return ERR(ERR_ARG, "deepspeed: %s block=%d must be >= 1", cls, c->block);
    if (c->num_random_blocks < 0 || c->num_sliding_window_blocks < 0 || c->num_global_blocks < 0)
        return ERR(ERR_ARG, "deepspeed: %s block counts must be >= 0", cls);
    if (c->horizontal_global_attention && c->unidirectional)
        return ERR(ERR_ARG, "deepspeed: %s: only bi-directional attentions can support horizontal "
                   "global attention", cls);
    if (c->cls == DS_FIXED) {
        if (c->num_local_blocks < 1 || c->num_global_blocks < 1)
            return ERR(ERR_ARG, "deepspeed: Fixed num_local_blocks=%d, num_global_blocks=%d must "
                       "be >= 1", c->num_local_blocks, c->num_global_blocks);
        if (c->num_local_blocks % c->num_global_blocks)
            return ERR(ERR_ARG, "deepspeed: Fixed: number of blocks in a local window, %d, must be "
                       "dividable by number of global blocks, %d", c->num_local_blocks,
                       c->num_global_blocks);
        if (c->num_different_global_patterns < 1)
            return ERR(ERR_ARG, "deepspeed: Fixed num_different_global_patterns=%d must be >= 1",
                       c->num_different_global_patterns);
        if (c->num_different_global_patterns > 1 && !c->different_layout_per_head)
            return ERR(ERR_ARG, "deepspeed: Fixed: number of different layouts cannot be more than "
                       "one when you have set a single layout for all heads (set "
                       "different_layout_per_head=True)");
        if (c->num_different_global_patterns > c->num_local_blocks / c->num_global_blocks)
            return ERR(ERR_ARG, "deepspeed: Fixed: num_different_global_patterns=%d cannot be "
                       "larger than num_local_blocks / num_global_blocks = %d",
                       c->num_different_global_patterns, c->num_local_blocks / c->num_global_blocks);
    }
    if (c->cls == DS_VARIABLE) {
        if (c->n_local_window_blocks < 1)
            return ERR(ERR_ARG, "deepspeed: Variable local_window_blocks is empty");
        for (int i = 0; i < c->n_local_window_blocks; i++)
            if (c->local_window_blocks[i] < 1)
                return ERR(ERR_ARG, "deepspeed: Variable local_window_blocks[%d]=%d must be >= 1",
                           i, c->local_window_blocks[i]);
    }
    if (c->cls == DS_VARIABLE || c->cls == DS_BSLONGFORMER) {
        for (int i = 0; i < c->n_global_block_indices; i++)
            if (c->global_block_indices[i] < 0)
                return ERR(ERR_ARG, "deepspeed: %s global_block_indices[%d]=%d must be >= 0", cls,
                           i, c->global_block_indices[i]);
        if (c->global_block_end_indices) {
            if (c->n_global_block_end_indices != c->n_global_block_indices)
                return ERR(ERR_ARG, "deepspeed: %s: global block start indices length, %d, must "
                           "be same as global block end indices length, %d", cls,
                           c->n_global_block_indices, c->n_global_block_end_indices);
            for (int i = 0; i < c->n_global_block_indices; i++)
                if (c->global_block_indices[i] >= c->global_block_end_indices[i])
                    return ERR(ERR_ARG, "deepspeed: %s: global block start index, %d, must be "
                               "smaller than global block end index, %d", cls,
                               c->global_block_indices[i], c->global_block_end_indices[i]);
        }
    }
    return 0;
}

int deepspeed_config_parse(DeepspeedConfig *c, const char *class_name, const char *params)
{
    int rc = deepspeed_config_init(c, class_name);
    if (rc) return rc;
    const char *p = params ? params : "";
    while (!rc) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *e = p;
        while (*e && !isspace((unsigned char)*e)) e++;
        char *tok = xstrndup(p, (size_t)(e - p));
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) {
            rc = ERR(ERR_ARG, "deepspeed: '%s': expected name=value", tok);
        } else {
            *eq = 0;
            rc = deepspeed_config_set(c, tok, eq + 1);
        }
        free(tok);
        p = e;
    }
    if (!rc) rc = deepspeed_config_check(c);
    if (rc) deepspeed_config_done(c);
    return rc;
}

/* ---- layouts ---- */

typedef struct {
    unsigned char *m;   /* (nb, nb) */
    int nb;
} Layout;

/* Python slice a[lo:hi] of a length-nb axis -> [*lo, *hi) */
static void py_slice(long *lo, long *hi, int nb)
{
    if (*lo < 0) *lo += nb;
    if (*lo < 0) *lo = 0;
    if (*lo > nb) *lo = nb;
    if (*hi < 0) *hi += nb;
    if (*hi < 0) *hi = 0;
    if (*hi > nb) *hi = nb;
}

/* layout[r0:r1, c0:c1] = 1 with Python slice semantics */
static void set_box(Layout *L, long r0, long r1, long c0, long c1)
{
    py_slice(&r0, &r1, L->nb);
    py_slice(&c0, &c1, L->nb);
    for (long r = r0; r < r1; r++)
        for (long c = c0; c < c1; c++) L->m[r * L->nb + c] = 1;
}

static void tril(Layout *L)
{
    for (int r = 0; r < L->nb; r++)
        for (int c = r + 1; c < L->nb; c++) L->m[(size_t)r * L->nb + c] = 0;
}

/* Python random.sample(range(m), r) in spirit: r distinct values, Floyd's algorithm. */
static void sample(gsl_rng *rng, int m, int r, int *out)
{
    int k = 0;
    for (int j = m - r; j < m; j++) {
        int t = (int)gsl_rng_uniform_int(rng, (unsigned long)j + 1), seen = 0;
        for (int i = 0; i < k && !seen; i++) seen = out[i] == t;
        out[k++] = seen ? j : t;
    }
}

static void fixed_layout(const DeepspeedConfig *c, int h, Layout *L)
{
    int nb = L->nb, nl = c->num_local_blocks, ng = c->num_global_blocks, uni = c->unidirectional;
    for (int i = 0; i < nb; i += nl) {
        int end = i + nl < nb ? i + nl : nb;
        for (int row = i; row < end; row++)
            for (int col = i; col < (uni ? row + 1 : end); col++) L->m[(size_t)row * nb + col] = 1;
    }
    int first = nl - (1 + h % c->num_different_global_patterns) * ng;
    int end = nb - nb % nl;
    for (int i = first; i < end; i += nl) {
        set_box(L, uni ? i : 0, nb, i, (long)i + ng);
        if (c->horizontal_global_attention) set_box(L, i, (long)i + ng, 0, nb);
    }
    if (end < nb) {
        /* the short last window: its global blocks are pulled back inside the sequence */
        long start = end + first < nb - ng ? end + first : nb - ng;
        long stop = start + ng;
        set_box(L, uni ? start : 0, nb, start, stop);
        if (c->horizontal_global_attention) set_box(L, start, stop, 0, nb);
    }
}

static void variable_local(const DeepspeedConfig *c, Layout *L)
{
    int nb = L->nb, uni = c->unidirectional;
    long start = 0, end = 0;
    int bs = 0;
    for (int k = 0; k < c->n_local_window_blocks; k++) {
        bs = c->local_window_blocks[k];
        end += bs;
        if (end > nb) end = nb;
        for (long row = start; row < end; row++)
            for (long col = start; col < (uni ? row + 1 : end); col++) L->m[row * nb + col] = 1;
        start += bs;
    }
    /* the last window size repeats over what is left */
    for (long i = start; i < nb; i += bs) {
        long e = i + bs < nb ? i + bs : nb;
        for (long row = i; row < e; row++)
            for (long col = i; col < (uni ? row + 1 : e); col++) L->m[row * nb + col] = 1;
    }
}

static void global_indices(const DeepspeedConfig *c, Layout *L, int rows_too, int column_from_idx)
{
    int nb = L->nb;
    for (int k = 0; k < c->n_global_block_indices; k++) {
        long s = c->global_block_indices[k];
        if (s >= nb) continue;
        long e = c->global_block_end_indices ? c->global_block_end_indices[k] : s + 1;
        if (e > nb) e = nb;
        if (rows_too) set_box(L, s, e, 0, nb);
        set_box(L, column_from_idx ? s : 0, nb, s, e);
    }
}

static void sliding(Layout *L, int nsw, int uni_cut)
{
    int nb = L->nb, w = nsw / 2;
    for (int row = 0; row < nb; row++) {
        int start = row - w > 0 ? row - w : 0;
        int end = uni_cut ? row + 1 : (row + w + 1 < nb ? row + w + 1 : nb);
        for (int col = start; col < end; col++) L->m[(size_t)row * nb + col] = 1;
    }
}

static int head_layout(const DeepspeedConfig *c, int h, gsl_rng *rng, Layout *L)
{
    int nb = L->nb;
    const char *cls = deepspeed_class_name(c->cls);
    memset(L->m, 0, (size_t)nb * nb);
    int *pick = NULL;
    if (c->num_random_blocks > 0) pick = xmalloc((size_t)c->num_random_blocks * sizeof(int));
    int rc = 0;
    switch (c->cls) {
    case DS_DENSE: memset(L->m, 1, (size_t)nb * nb); break;
    case DS_FIXED: fixed_layout(c, h, L); break;
    case DS_VARIABLE:
        if (nb < c->num_random_blocks) {
            rc = ERR(ERR_ARG, "deepspeed: Variable: number of random blocks, %d, must be smaller "
                     "than overall number of blocks in a row, %d", c->num_random_blocks, nb);
            break;
        }
        for (int row = 0; row < nb && c->num_random_blocks > 0; row++) {
            sample(rng, nb, c->num_random_blocks, pick);
            for (int i = 0; i < c->num_random_blocks; i++) L->m[(size_t)row * nb + pick[i]] = 1;
        }
        variable_local(c, L);
        global_indices(c, L, c->horizontal_global_attention, c->unidirectional);
        break;
    case DS_BIGBIRD:
        if (nb < c->num_random_blocks) {
            rc = ERR(ERR_ARG, "deepspeed: BigBird: number of random blocks, %d, must be smaller "
                     "than overall number of blocks in a row, %d", c->num_random_blocks, nb);
            break;
        }
        for (int row = 0; row < nb && c->num_random_blocks > 0; row++) {
            int range = c->unidirectional ? row + 1 : nb;
            if (c->num_random_blocks > range) {
                rc = ERR(ERR_ARG, "deepspeed: BigBird unidirectional: row %d samples %d random "
                         "blocks from %d (Python: sample larger than population)", row,
                         c->num_random_blocks, range);
                break;
            }
            sample(rng, range, c->num_random_blocks, pick);
            for (int i = 0; i < c->num_random_blocks; i++) L->m[(size_t)row * nb + pick[i]] = 1;
        }
        if (rc) break;
        if (nb < c->num_sliding_window_blocks) goto too_few_window;
        sliding(L, c->num_sliding_window_blocks, 0);
        if (nb < c->num_global_blocks) {
            rc = ERR(ERR_ARG, "deepspeed: BigBird: number of global blocks, %d, must be smaller "
                     "than overall number of blocks in a row, %d", c->num_global_blocks, nb);
            break;
        }
        set_box(L, 0, c->num_global_blocks, 0, nb);
        set_box(L, 0, nb, 0, c->num_global_blocks);
        if (c->unidirectional) tril(L);
        break;
    case DS_BSLONGFORMER:
        if (nb < c->num_sliding_window_blocks) goto too_few_window;
        sliding(L, c->num_sliding_window_blocks, 0);
        global_indices(c, L, 1, 0);
        if (c->unidirectional) tril(L);
        break;
    case DS_LOCAL:
        if (nb < c->num_sliding_window_blocks) goto too_few_window;
        sliding(L, c->num_sliding_window_blocks, c->unidirectional);
        break;
    }
    free(pick);
    return rc;
too_few_window:
    free(pick);
    return ERR(ERR_ARG, "deepspeed: %s: number of sliding window blocks, %d, must be smaller than "
               "overall number of blocks in a row, %d", cls, c->num_sliding_window_blocks, nb);
}

int deepspeed_layout(const DeepspeedConfig *c, int seq_len, int head, unsigned long seed,
                     unsigned char **layout, int *nb)
{
    int rc = deepspeed_config_check(c);
    if (rc) return rc;
    if (seq_len < 1) return ERR(ERR_ARG, "deepspeed: seq_len=%d must be >= 1", seq_len);
    if (seq_len % c->block)
        return ERR(ERR_ARG, "deepspeed: sequence length, %d, needs to be dividable by block size %d",
                   seq_len, c->block);
    if (head < 0 || head >= c->num_heads)
        return ERR(ERR_ARG, "deepspeed: head %d outside 0..%d", head, c->num_heads - 1);
    Layout L = {.nb = seq_len / c->block};
    size_t cells;
    if (size_mul((size_t)L.nb, (size_t)L.nb, &cells))
        return ERR(ERR_ARG, "deepspeed: %d blocks is too many", L.nb);
    L.m = xmalloc(cells);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    /* heads share head 0's layout unless different_layout_per_head; random draws come from
     * one stream, head after head, as DeepSpeed's loop over heads does */
    int last = c->different_layout_per_head ? head : 0;
    for (int h = 0; h <= last && !rc; h++) rc = head_layout(c, h, rng, &L);
    gsl_rng_free(rng);
    if (rc) {
        free(L.m);
        return rc;
    }
    *layout = L.m;
    *nb = L.nb;
    return 0;
}
