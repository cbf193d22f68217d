/* cmd_attention — `pattern`, `kernel`, `compare` and `svd`: switching sparse patterns and
 * efficient-attention kernels into a loaded model, looking at them, and measuring both sides
 * of the trade (quality against exact attention, and cost).
 *
 * Owns: the AttnState (the Pattern and Effattn objects Model.attn[] borrows), the text these
 * commands print, and the per-layer bookkeeping.  Does not own the computations: patterns
 * and their graph facts are engine/pattern.c, the kernels engine/effattn.c, the model's use
 * of them engine/attention.c.  A change is built completely (every layer) before anything
 * is swapped in, and the context is re-run afterwards; if that re-run fails, the previous
 * objects go back into force, so a failed command leaves the session as it was.
 *
 * Choices made here (and told in the help texts):
 *   - patterns are built for n = n_ctx with the layer's mask direction; a ':'-list value
 *     (window w=2:4:8) gives layer l its l-th value, counted from layer 0 of the model;
 *   - `lsh` hashes each position's key vector of that layer (all heads concatenated), as
 *     the model computes it on the current context with the lower layers' new patterns in
 *     force, so it is built for the context's n tokens; later tokens fall back to the plain
 *     mask (attention.c) until `pattern lsh ...` is given again;
 *   - pattern and kernel exclude each other per layer: setting one clears the other;
 *   - kernel parameters are drawn from seed 0 + layer unless seed=S is given (then S for all);
 *   - compare's attention-output error is the relative Frobenius error of each layer's
 *     attention output (before the output projection), with both attentions fed the exact
 *     run's input to that layer, so each layer's own approximation shows; the logits' error
 *     end to end is printed beside it.
 * References: ../shared/research/attention.md; the anchors named in engine/pattern.h and
 * engine/effattn.h.
 */
#include "repl/cmd_attention.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/attention.h"
#include "engine/effattn.h"
#include "engine/err.h"
#include "engine/ops.h"
#include "engine/pattern.h"
#include "engine/tokenizer.h"
#include "viz/views.h"

#define ATTN_DEFAULT_SEED 0UL
#define ATTN_TOPK 10          /* compare: top-k overlap */
#define ATTN_CHUNK 32         /* compare: rows per forward call */
#define ATTN_LOSS_ROWS 40     /* compare: per-token losses listed at most */
#define ATTN_LABEL_W 12       /* pattern show: token label columns */

struct AttnState {
    int n_layer;
    Pattern **pattern;   /* [L] owned; NULL: none */
    Effattn **kernel;    /* [L] owned; NULL: exact softmax */
};

const char *const cmd_attention_pattern_words[] = {
    "show", "off", "reach", "path", "full", "window", "dilated", "global", "random", "bigbird",
    "combined", "block", "longformer", "deepspeed", "lsh", NULL
};
const char *const cmd_attention_kernel_words[] = {
    "exact", "linformer", "performer", "linear", "synthesizer", NULL
};

/* ---- helpers ---- */

static void jset(Session *s, const char *key, json_t *v)
{
    if (s->result) json_object_set_new(s->result, key, v);
    else json_decref(v);
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static int need_model(const Session *s)
{
    if (!s->model)
        return ERR(ERR_STATE, "no model loaded (load PATH [TOKENIZER] first; see help load)");
    return 0;
}

static int need_context(const Session *s)
{
    int rc = need_model(s);
    if (rc < 0) return rc;
    if (gen_trace(s->gen)->n == 0) return ERR(ERR_STATE, "no context yet (prompt TEXT first)");
    return 0;
}

static int parse_index(const char *w, const char *what, long lo, long hi, long *out)
{
    *out = 0;  /* callers check the status; this keeps -O3's flow analysis quiet */
    char *end;
    errno = 0;
    long v = strtol(w, &end, 10);
    if (!*w || *end || errno || v < lo || v > hi)
        return ERR(ERR_ARG, "%s must be an integer from %ld to %ld, got '%s'", what, lo, hi, w);
    *out = v;
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static struct AttnState *state(Session *s)
{
    if (!s->attn) {
        struct AttnState *st = xcalloc(1, sizeof *st);
        st->n_layer = s->model->cfg.n_layer;
        st->pattern = xcalloc((size_t)st->n_layer, sizeof *st->pattern);
        st->kernel = xcalloc((size_t)st->n_layer, sizeof *st->kernel);
        s->attn = st;
    }
    return s->attn;
}

void cmd_attention_forget(Session *s)
{
    struct AttnState *st = s->attn;
    if (!st) return;
    for (int l = 0; l < st->n_layer; l++) {
        pattern_free(st->pattern[l]);
        effattn_free(st->kernel[l]);
    }
    free(st->pattern);
    free(st->kernel);
    free(st);
    s->attn = NULL;
}

static int layer_causal(const Model *m, int l) { return m->attn[l].mask == MASK_CAUSAL; }

/* What layer l runs, in words. */
static char *layer_desc(const Model *m, int l)
{
    const AttnSpec *a = &m->attn[l];
    const char *dir = a->mask == MASK_CAUSAL ? "causal" : "bidirectional";
    if (a->kernel) return xasprintf("kernel %s (%s)", a->kernel->name, dir);
    if (a->pattern) return xasprintf("pattern %s", pattern_name(a->pattern));
    return xasprintf("exact softmax (%s)", dir);
}

/* Characters of UTF-8 text (what a terminal shows for token labels, wide glyphs aside). */
static size_t u8_cols(const char *p)
{
    size_t n = 0;
    for (; *p; p++) n += ((unsigned char)*p & 0xc0) != 0x80;
    return n;
}

/* The label cut to w columns and padded with spaces to exactly w. Allocated. */
static char *fit_label(const char *label, int w)
{
    size_t len = strlen(label), cut = len, cols = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)label[i] & 0xc0) == 0x80) continue;
        if ((int)cols == w) { cut = i; break; }
        cols++;
    }
    char *o = xmalloc(cut + (size_t)w + 1);
    memcpy(o, label, cut);
    size_t c = u8_cols(label) < (size_t)w ? u8_cols(label) : (size_t)w;
    memset(o + cut, ' ', (size_t)w - c);
    o[cut + (size_t)w - c] = 0;
    return o;
}

/* "0..3, 5, 7..9" for the set bits of m (n). */
static char *ranges_text(const unsigned char *m, int n)
{
    char *s = xstrdup("");
    for (int i = 0; i < n;) {
        if (!m[i]) { i++; continue; }
        int j = i;
        while (j + 1 < n && m[j + 1]) j++;
        char *t = j > i ? xasprintf("%s%s%d..%d", s, *s ? ", " : "", i, j)
                        : xasprintf("%s%s%d", s, *s ? ", " : "", i);
        free(s);
        s = t;
        i = j + 1;
    }
    return s;
}

/* "layers A..B" or "layers A" as the last two words: sets *lo, *hi and *nwords (the words
 * before it); all layers otherwise.  *given tells whether it was there. */
static int parse_layers(const Session *s, const CmdArgs *a, int first, int *nwords, int *lo,
                        int *hi, int *given)
{
    const int L = s->model->cfg.n_layer;
    *lo = 0;
    *hi = L - 1;
    *nwords = a->argc;
    *given = 0;
    for (int i = first; i < a->argc; i++) {
        if (strcmp(a->argv[i].s, "layers") != 0) continue;
        if (i != a->argc - 2)
            return ERR(ERR_ARG, "'layers L..M' goes last, with one range (e.g. layers 0..1)");
        const char *r = a->argv[i + 1].s, *dots = strstr(r, "..");
        long x, y;
        char *left = dots ? xstrndup(r, (size_t)(dots - r)) : xstrdup(r);
        int rc = parse_index(left, "layers: first layer", 0, L - 1, &x);
        free(left);
        if (rc < 0) return rc;
        y = x;
        if (dots && (rc = parse_index(dots + 2, "layers: last layer", x, L - 1, &y)) < 0) return rc;
        *lo = (int)x;
        *hi = (int)y;
        *nwords = i;
        *given = 1;
    }
    return 0;
}

static char *join_words(const CmdArgs *a, int from, int to)
{
    char *s = xstrdup("");
    for (int i = from; i < to; i++) {
        char *t = xasprintf("%s%s%s", s, i > from ? " " : "", a->argv[i].s);
        free(s);
        s = t;
    }
    return s;
}

static char *layers_suffix(int given, int lo, int hi)
{
    if (!given) return xstrdup("");
    return lo == hi ? xasprintf(" layers %d", lo) : xasprintf(" layers %d..%d", lo, hi);
}

/* Re-runs the context under the attention now in force, so the trace shows it. */
static int rerun(Session *s)
{
    const Trace *t = gen_trace(s->gen);
    if (t->n == 0) return 0;
    int n = t->n;
    int *ids = xmalloc(sizeof(int) * (size_t)n);
    memcpy(ids, t->tokens, sizeof(int) * (size_t)n);
    int rc = gen_prompt(s->gen, ids, n);
    free(ids);
    return rc;
}

/* Puts np[l], nk[l] (l in lo..hi; ownership passes here in every case) into force and
 * re-runs the context.  When that fails, the previous objects are put back. */
static int install(Session *s, int lo, int hi, Pattern **np, Effattn **nk)
{
    struct AttnState *st = state(s);
    Model *m = s->model;
    const int cnt = hi - lo + 1;
    Pattern **op = xcalloc((size_t)cnt, sizeof *op);
    Effattn **ok = xcalloc((size_t)cnt, sizeof *ok);
    for (int l = lo; l <= hi; l++) {
        op[l - lo] = st->pattern[l];
        ok[l - lo] = st->kernel[l];
        st->pattern[l] = np[l];
        st->kernel[l] = nk[l];
        m->attn[l].pattern = np[l];
        m->attn[l].kernel = nk[l];
    }
    gen_attn_changed(s->gen);
    int rc = rerun(s);
    Pattern **freep = op;
    Effattn **freek = ok;
    if (rc < 0) {
        char *msg = xstrdup(err_msg());
        for (int l = lo; l <= hi; l++) {
            st->pattern[l] = op[l - lo];
            st->kernel[l] = ok[l - lo];
            m->attn[l].pattern = op[l - lo];
            m->attn[l].kernel = ok[l - lo];
            op[l - lo] = np[l];
            ok[l - lo] = nk[l];
        }
        gen_attn_changed(s->gen);
        rerun(s);
        rc = ERR(rc, "%s (the previous attention stays in force)", msg);
        free(msg);
    }
    for (int l = lo; l <= hi; l++) {
        /* an object kept in force (the same pointer before and after) is not freed */
        if (freep[l - lo] != st->pattern[l]) pattern_free(freep[l - lo]);
        if (freek[l - lo] != st->kernel[l]) effattn_free(freek[l - lo]);
    }
    free(op);
    free(ok);
    return rc;
}

/* Cells query q may use when the model runs n positions (mirrors attention.c's sparse rows:
 * a row past the pattern's length falls back to the mask). */
static long row_cells(const Model *m, int l, int q, int n)
{
    const AttnSpec *a = &m->attn[l];
    const int limit = a->mask == MASK_CAUSAL ? q + 1 : n;
    if (!a->kernel && a->pattern && q < a->pattern->n) {
        const Pattern *p = a->pattern;
        int lim = limit < p->n ? limit : p->n;
        return pattern_row_cells(p, q, lim);
    }
    return limit;
}

static int cell_on(const Model *m, int l, int q, int k, int n)
{
    const AttnSpec *a = &m->attn[l];
    const int limit = a->mask == MASK_CAUSAL ? q + 1 : n;
    if (k >= limit) return 0;
    if (!a->kernel && a->pattern && q < a->pattern->n)
        return k < a->pattern->n && pattern_allows(a->pattern, q, k);
    return 1;
}

/* Layer l's "attends to" graph over the first n positions: the pattern itself when it was
 * built for n, else a fresh one (*owned set). */
static const Pattern *layer_graph(const Model *m, int l, int n, Pattern **owned)
{
    const AttnSpec *a = &m->attn[l];
    *owned = NULL;
    if (!a->kernel && a->pattern && a->pattern->n == n) return a->pattern;
    if (a->kernel || !a->pattern) {
        pattern_alloc_full(owned, n, a->mask == MASK_CAUSAL);
        return *owned;
    }
    unsigned char *d = xmalloc((size_t)n * (size_t)n);
    for (int q = 0; q < n; q++)
        for (int k = 0; k < n; k++) d[(size_t)q * n + k] = (unsigned char)cell_on(m, l, q, k, n);
    pattern_alloc_dense(owned, d, n, a->mask == MASK_CAUSAL, pattern_name(a->pattern));
    free(d);
    return *owned;
}

static char *token_label(const Session *s, int id)
{
    return tokens_escape(gen_trace(s->gen), id);
}

/* ---- status ---- */

static void print_status(Session *s, const char *what)
{
    const Model *m = s->model;
    const int L = m->cfg.n_layer, n = m->cfg.n_ctx;
    json_t *arr = json_array();
    for (int l = 0; l < L; l++) {
        char *d = layer_desc(m, l);
        long cells = 0;
        for (int q = 0; q < n; q++) cells += row_cells(m, l, q, n);
        if (m->attn[l].kernel)
            session_printf(s, "layer %d: %s; weighs every key the mask allows\n", l, d);
        else
            session_printf(s, "layer %d: %s; %ld of %ld cells at n_ctx %d\n", l, d, cells,
                           (long)n * n, n);
        json_t *o = json_object();
        json_object_set_new(o, "layer", json_integer(l));
        json_object_set_new(o, "attention", json_string(d));
        json_object_set_new(o, "cells", json_integer(cells));
        json_array_append_new(arr, o);
        free(d);
    }
    jset(s, what, arr);
}

/* ---- pattern ---- */

/* Builds LSH patterns for layers lo..hi from the keys of the current context, lowest layer
 * first, each from a forward pass with the layers below already switched. */
static int build_lsh(Session *s, const PatternSpec *spec, int lo, int hi, Pattern **np)
{
    Model *m = s->model;
    const Trace *t = gen_trace(s->gen);
    const int n = t->n, L = m->cfg.n_layer, kvdim = model_kv_dim(&m->cfg);
    RunState rs;
    int rc = runstate_init(&rs, &m->cfg, n, 64);
    if (rc < 0) return rc;
    AttnSpec *saved = m->attn, *tmp = xmalloc(sizeof(AttnSpec) * (size_t)L);
    memcpy(tmp, saved, sizeof(AttnSpec) * (size_t)L);
    for (int l = lo; l <= hi && rc == 0; l++) {
        m->attn = tmp;
        rc = model_forward(m, &rs, t->tokens, n, 0, rs.logits, 0, NULL);
        m->attn = saved;
        if (rc < 0) break;
        const float *x = rs.key_cache + (size_t)l * rs.max_T * kvdim;   /* (n, kvdim) */
        rc = pattern_spec_build(spec, l, n, layer_causal(m, l), ATTN_DEFAULT_SEED, x, kvdim, &np[l]);
        if (rc == 0) {
            tmp[l].pattern = np[l];
            tmp[l].kernel = NULL;
        }
    }
    free(tmp);
    runstate_done(&rs);
    return rc;
}

static int pattern_set(Session *s, const CmdArgs *a)
{
    const Model *m = s->model;
    const int L = m->cfg.n_layer, n = m->cfg.n_ctx;
    int nw, lo, hi, given;
    int rc = parse_layers(s, a, 0, &nw, &lo, &hi, &given);
    if (rc < 0) return rc;
    if (nw == 0) return ERR(ERR_ARG, "usage: pattern NAME [params] [layers L..M]");
    char *text = join_words(a, 0, nw);
    PatternSpec *spec = NULL;
    rc = pattern_spec_parse(text, &spec);
    free(text);
    if (rc < 0) return rc;
    Pattern **np = xcalloc((size_t)L, sizeof *np);
    Effattn **nk = xcalloc((size_t)L, sizeof *nk);
    if (pattern_spec_needs_vectors(spec)) {
        if (gen_trace(s->gen)->n == 0)
            rc = ERR(ERR_STATE, "lsh hashes the keys of the current context: prompt TEXT first");
        else rc = build_lsh(s, spec, lo, hi, np);
    } else {
        for (int l = lo; l <= hi && rc == 0; l++)
            rc = pattern_spec_build(spec, l, n, layer_causal(m, l), ATTN_DEFAULT_SEED, NULL, 0, &np[l]);
    }
    int had_kernel = 0;
    for (int l = lo; l <= hi; l++) had_kernel |= m->attn[l].kernel != NULL;
    if (rc == 0) rc = install(s, lo, hi, np, nk);
    else
        for (int l = lo; l <= hi; l++) pattern_free(np[l]);
    free(np);
    free(nk);
    if (rc < 0) {
        pattern_spec_free(spec);
        return rc;
    }
    char *suffix = layers_suffix(given, lo, hi);
    session_log(s, "pattern %s%s", pattern_spec_text(spec), suffix);
    free(suffix);
    json_t *arr = json_array();
    for (int l = lo; l <= hi; l++) {
        const Pattern *p = m->attn[l].pattern;
        long cells = 0;
        for (int q = 0; q < p->n; q++) cells += pattern_row_cells(p, q, p->n);
        session_printf(s, "layer %d: %s; %ld of %ld cells active (n = %d)\n", l, pattern_name(p),
                       cells, (long)p->n * p->n, p->n);
        json_t *o = json_object();
        json_object_set_new(o, "layer", json_integer(l));
        json_object_set_new(o, "name", json_string(pattern_name(p)));
        json_object_set_new(o, "n", json_integer(p->n));
        json_object_set_new(o, "cells", json_integer(cells));
        json_array_append_new(arr, o);
        if (pattern_spec_needs_vectors(spec))
            session_printf(s, "  hashed from the keys of the %d context tokens; tokens after "
                              "them use the plain mask until you give the pattern again\n", p->n);
    }
    jset(s, "layers", arr);
    if (had_kernel) session_printf(s, "(the kernel on these layers is replaced by the pattern)\n");
    if (gen_trace(s->gen)->n)
        session_printf(s, "context re-run: %d tokens under the new attention\n", gen_trace(s->gen)->n);
    pattern_spec_free(spec);
    return 0;
}

static int pattern_off(Session *s, const CmdArgs *a)
{
    const int L = s->model->cfg.n_layer;
    int nw, lo, hi, given;
    int rc = parse_layers(s, a, 1, &nw, &lo, &hi, &given);
    if (rc < 0) return rc;
    if (nw != 1) return ERR(ERR_ARG, "usage: pattern off [layers L..M]");
    struct AttnState *st = state(s);
    Pattern **np = xcalloc((size_t)L, sizeof *np);
    Effattn **nk = xcalloc((size_t)L, sizeof *nk);
    for (int l = lo; l <= hi; l++) nk[l] = st->kernel[l];   /* kernels stay */
    rc = install(s, lo, hi, np, nk);
    free(np);
    free(nk);
    if (rc < 0) return rc;
    char *suffix = layers_suffix(given, lo, hi);
    session_log(s, "pattern off%s", suffix);
    free(suffix);
    session_printf(s, "no pattern on layers %d..%d: every key the mask allows\n", lo, hi);
    return 0;
}

static int pattern_show(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    const Model *m = s->model;
    const Trace *t = gen_trace(s->gen);
    const int n = t->n, L = m->cfg.n_layer;
    long l = 0;
    if (a->argc > 2) return ERR(ERR_ARG, "usage: pattern show [L]");
    if (a->argc == 2 && (rc = parse_index(a->argv[1].s, "layer", 0, L - 1, &l)) < 0) return rc;
    unsigned char *d = xmalloc((size_t)n * (size_t)n);
    long cells = 0;
    for (int q = 0; q < n; q++)
        for (int k = 0; k < n; k++) cells += d[(size_t)q * n + k] = (unsigned char)cell_on(m, (int)l, q, k, n);
    char *desc = layer_desc(m, (int)l);
    const int causal = layer_causal(m, (int)l);
    long causal_cells = (long)n * (n + 1) / 2;
    session_printf(s, "layer %ld: %s\n", l, desc);
    session_printf(s, "%d tokens: %ld of %ld cells active (n\xc2\xb2 = %ld", n, cells, (long)n * n,
                   (long)n * n);
    if (causal) session_printf(s, "; a causal mask alone keeps %ld", causal_cells);
    session_printf(s, "); rows = queries, columns = keys\n");
    if (m->attn[l].kernel)
        session_printf(s, "(a kernel method weighs every key the mask allows: its matrix is dense)\n");
    int lw = 1;
    char **lab = xcalloc((size_t)n, sizeof *lab);
    for (int q = 0; q < n; q++) {
        lab[q] = token_label(s, t->tokens[q]);
        int c = (int)u8_cols(lab[q]);
        if (c > lw) lw = c;
    }
    if (lw > ATTN_LABEL_W) lw = ATTN_LABEL_W;
    /* column headers: the key position written downwards, tens over units */
    const int pad = 4 + lw + 1;
    if (!s->json) {
        for (int digit = n > 100 ? 100 : n > 10 ? 10 : 1; digit >= 1; digit /= 10) {
            session_printf(s, "%*s", pad, "");
            for (int k = 0; k < n; k++)
                session_printf(s, "%c", (k >= digit || digit == 1) ? '0' + (k / digit) % 10 : ' ');
            session_printf(s, "\n");
        }
        for (int q = 0; q < n; q++) {
            char *f = fit_label(lab[q], lw);
            session_printf(s, "%3d %s ", q, f);
            free(f);
            for (int k = 0; k < n; k++) session_printf(s, "%c", d[(size_t)q * n + k] ? '1' : '0');
            session_printf(s, "\n");
        }
    }
    jset(s, "layer", json_integer(l));
    jset(s, "attention", json_string(desc));
    jset(s, "n", json_integer(n));
    jset(s, "cells", json_integer(cells));
    char *txt = pattern_matrix_text(d, n, n);
    jset(s, "matrix", json_string(txt));
    free(txt);
    for (int q = 0; q < n; q++) free(lab[q]);
    free(lab);
    free(desc);
    free(d);
    return 0;
}

/* Every layer's graph over the context (or n_ctx without one). */
static const Pattern **graphs(const Session *s, int *n, Pattern ***owned)
{
    const Model *m = s->model;
    const int L = m->cfg.n_layer;
    *n = gen_trace(s->gen)->n ? gen_trace(s->gen)->n : m->cfg.n_ctx;
    const Pattern **g = xcalloc((size_t)L, sizeof *g);
    *owned = xcalloc((size_t)L, sizeof **owned);
    for (int l = 0; l < L; l++) g[l] = layer_graph(m, l, *n, &(*owned)[l]);
    return g;
}

static void graphs_free(const Pattern **g, Pattern **owned, int L)
{
    for (int l = 0; l < L; l++) pattern_free(owned[l]);
    free(owned);
    free(g);
}

static int pattern_reach_cmd(Session *s, const CmdArgs *a)
{
    const Model *m = s->model;
    const int L = m->cfg.n_layer;
    int n, rc;
    Pattern **owned;
    long pos, k = L;
    if (a->argc != 2 && !(a->argc == 4 && !strcmp(a->argv[2].s, "layers")))
        return ERR(ERR_ARG, "usage: pattern reach POS [layers K]");
    const Pattern **g = graphs(s, &n, &owned);
    if ((rc = parse_index(a->argv[1].s, "POS", 0, n - 1, &pos)) < 0 ||
        (a->argc == 4 && (rc = parse_index(a->argv[3].s, "layers K", 1, L, &k)) < 0)) {
        graphs_free(g, owned, L);
        return rc;
    }
    unsigned char *reach = xmalloc((size_t)n);
    session_printf(s, "inputs output position %ld can depend on (residual stream included), over "
                      "%d positions:\n", pos, n);
    json_t *arr = json_array();
    for (int depth = 1; depth <= k; depth++) {
        int cnt = pattern_reach((const Pattern *const *)g, depth, (int)pos, 1, reach);
        if (cnt < 0) { rc = cnt; break; }
        char *r = ranges_text(reach, n);
        session_printf(s, "  after %d layer%s: %d of %d (%s)\n", depth, depth == 1 ? "" : "s", cnt,
                       n, r);
        json_t *o = json_object();
        json_object_set_new(o, "layers", json_integer(depth));
        json_object_set_new(o, "count", json_integer(cnt));
        json_object_set_new(o, "inputs", json_string(r));
        json_array_append_new(arr, o);
        free(r);
    }
    jset(s, "pos", json_integer(pos));
    jset(s, "n", json_integer(n));
    jset(s, "reach", arr);
    free(reach);
    graphs_free(g, owned, L);
    return rc;
}

static int pattern_path_cmd(Session *s, const CmdArgs *a)
{
    const Model *m = s->model;
    const int L = m->cfg.n_layer;
    if (a->argc != 3) return ERR(ERR_ARG, "usage: pattern path A B");
    int n, rc, len = 0;
    Pattern **owned;
    long from, to;
    const Pattern **g = graphs(s, &n, &owned);
    if ((rc = parse_index(a->argv[1].s, "A", 0, n - 1, &from)) < 0 ||
        (rc = parse_index(a->argv[2].s, "B", 0, n - 1, &to)) < 0) {
        graphs_free(g, owned, L);
        return rc;
    }
    int *path = xmalloc(sizeof(int) * (size_t)n);
    rc = pattern_path((const Pattern *const *)g, L, (int)from, (int)to, path, &len);
    if (rc == 0) {
        json_t *arr = json_array();
        if (len == 0) {
            session_printf(s, "no path: position %ld never sees position %ld through these "
                              "patterns\n", from, to);
        } else {
            const Trace *t = gen_trace(s->gen);
            for (int i = 0; i < len; i++) {
                session_printf(s, "%s%d", i ? " \xe2\x86\x92 " : "", path[i]);
                if (path[i] < t->n) {
                    char *lb = token_label(s, t->tokens[path[i]]);
                    session_printf(s, " %s", lb);
                    free(lb);
                }
                json_array_append_new(arr, json_integer(path[i]));
            }
            const int hops = len - 1;
            session_printf(s, "\n%d hop%s (each hop is one layer's attention; the model has %d "
                              "layer%s: %s)\n", hops, hops == 1 ? "" : "s", L, L == 1 ? "" : "s",
                           hops <= L ? "the dependency is there in one pass"
                                     : "too few layers for this path");
        }
        jset(s, "path", arr);
        jset(s, "hops", len ? json_integer(len - 1) : json_null());
    }
    free(path);
    graphs_free(g, owned, L);
    return rc;
}

int cmd_pattern(Session *s, const CmdArgs *a)
{
    int rc = need_model(s);
    if (rc < 0) return rc;
    if (a->argc == 0) {
        print_status(s, "layers");
        return 0;
    }
    const char *w = a->argv[0].s;
    if (!strcmp(w, "show")) return pattern_show(s, a);
    if (!strcmp(w, "off")) return pattern_off(s, a);
    if (!strcmp(w, "reach")) return pattern_reach_cmd(s, a);
    if (!strcmp(w, "path")) return pattern_path_cmd(s, a);
    return pattern_set(s, a);
}

/* ---- kernel ---- */

int cmd_kernel(Session *s, const CmdArgs *a)
{
    int rc = need_model(s);
    if (rc < 0) return rc;
    if (a->argc == 0) {
        print_status(s, "layers");
        return 0;
    }
    Model *m = s->model;
    const int L = m->cfg.n_layer, HS = model_head_size(&m->cfg), n = m->cfg.n_ctx;
    int nw, lo, hi, given;
    if ((rc = parse_layers(s, a, 0, &nw, &lo, &hi, &given)) < 0) return rc;
    if (nw == 0) return ERR(ERR_ARG, "usage: kernel NAME [params] [layers L..M]");
    if (!strcasecmp(a->argv[0].s, "sparse"))
        return ERR(ERR_ARG, "kernel: sparse attention is chosen with pattern NAME (see help pattern)");
    struct AttnState *st = state(s);
    Pattern **np = xcalloc((size_t)L, sizeof *np);
    Effattn **nk = xcalloc((size_t)L, sizeof *nk);
    const int exact = !strcasecmp(a->argv[0].s, "exact");
    char *text = join_words(a, 0, nw);
    int had_pattern = 0;
    if (exact) {
        if (nw != 1) rc = ERR(ERR_ARG, "kernel: exact takes no parameters");
        for (int l = lo; l <= hi; l++) np[l] = st->pattern[l];   /* patterns stay */
    } else {
        for (int l = lo; l <= hi && rc == 0; l++) {
            rc = effattn_parse(text, HS, n, ATTN_DEFAULT_SEED + (unsigned long)l, &nk[l]);
            had_pattern |= m->attn[l].pattern != NULL;
        }
    }
    if (rc == 0) rc = install(s, lo, hi, np, nk);
    else
        for (int l = lo; l <= hi; l++) effattn_free(nk[l]);
    free(np);
    free(nk);
    if (rc < 0) {
        free(text);
        return rc;
    }
    char *suffix = layers_suffix(given, lo, hi);
    session_log(s, "kernel %s%s", text, suffix);
    free(suffix);
    free(text);
    json_t *arr = json_array();
    for (int l = lo; l <= hi; l++) {
        char *d = layer_desc(m, l);
        session_printf(s, "layer %d: %s\n", l, d);
        json_array_append_new(arr, json_string(d));
        free(d);
    }
    jset(s, "layers", arr);
    if (had_pattern) session_printf(s, "(the pattern on these layers is replaced by the kernel)\n");
    if (!exact)
        session_printf(s, "the model runs it through its implied weights (one row at a time, so "
                          "the views can show them); compare measures quality and cost\n");
    if (gen_trace(s->gen)->n)
        session_printf(s, "context re-run: %d tokens under the new attention\n", gen_trace(s->gen)->n);
    return 0;
}

/* ---- compare ---- */

typedef struct {
    double cells, flops, bytes;
} Cost;

/* The method's own cost for one layer over n positions (all heads): cells of the score
 * matrix it computes, FLOPs (a multiply-add counts 2), and the working memory of one head
 * beyond Q, K, V and the output. */
static Cost layer_cost(const Model *m, const AttnSpec *a, int l, int n)
{
    const int NH = m->cfg.n_head, d = model_head_size(&m->cfg);
    const int causal = a->mask == MASK_CAUSAL;
    const double tri = causal ? (double)n * (n + 1) / 2 : (double)n * n;
    Cost c = {0, 0, 0};
    const Effattn *e = a->kernel;
    if (e) {
        switch (e->kind) {
        case EFFATTN_LINFORMER:
            c.cells = (double)n * e->k;
            c.flops = 8.0 * n * e->k * d;   /* E K, F V, the scores, the output */
            c.bytes = 4.0 * (double)effattn_linformer_scratch(e->k, d, d);
            break;
        case EFFATTN_PERFORMER:
            c.cells = (double)n * e->m;
            c.flops = 8.0 * n * e->m * d;   /* features of Q and K, S = phi_K^T V, the output */
            c.bytes = 4.0 * (double)effattn_favor_scratch(n, e->m, d);
            break;
        case EFFATTN_LINEAR:
            c.cells = (double)n * d;
            c.flops = 4.0 * n * d * d;
            c.bytes = 4.0 * (double)effattn_elu_scratch(n, d, d);
            break;
        case EFFATTN_SYNTH_DENSE:
            c.cells = tri;
            c.flops = 2.0 * n * ((double)e->synth.h * e->synth.dx + (double)n * e->synth.h) + 2.0 * tri * d;
            c.bytes = 4.0 * ((double)e->synth.h + e->synth.l);
            break;
        case EFFATTN_SYNTH_RANDOM:
            c.cells = tri;
            c.flops = 2.0 * tri * d;
            c.bytes = 4.0 * n;
            break;
        default:
            c.cells = tri;
            c.flops = 4.0 * tri * d;
            c.bytes = 4.0 * n;
        }
    } else if (a->pattern) {
        for (int q = 0; q < n; q++) {
            const int limit = causal ? q + 1 : n;
            if (q < a->pattern->n) {
                int lim = limit < a->pattern->n ? limit : a->pattern->n;
                c.cells += pattern_row_cells(a->pattern, q, lim);
            } else {
                c.cells += limit;
            }
        }
        c.flops = 4.0 * c.cells * d;
        c.bytes = 4.0 * a->pattern->max_row;
    } else {
        c.cells = tri;
        c.flops = 4.0 * tri * d;
        c.bytes = 4.0 * (double)n * n;   /* the prefill's (n, n) score matrix of a head */
    }
    (void)l;
    c.cells *= NH;
    c.flops *= NH;
    return c;
}

static void log_softmax_stats(const float *row, int V, double *lse)
{
    float mx = row[0];
    for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    double s = 0;
    for (int v = 0; v < V; v++) s += exp((double)row[v] - mx);
    *lse = mx + log(s);
}

/* Indices of the k largest entries of p (V), largest first. */
static int topk(const float *p, int V, int k, int *idx)
{
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (n == k && !(p[i] > p[idx[n - 1]])) continue;
        int j = n < k ? n++ : n - 1;
        while (j > 0 && p[i] > p[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return n;
}

static int overlap(const int *a, const int *b, int k)
{
    int c = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) c += a[i] == b[j];
    return c;
}

static void fmt_si(char *buf, size_t n, double v)
{
    const char *u[] = {"", "k", "M", "G", "T"};
    int i = 0;
    while (v >= 1000 && i < 4) { v /= 1000; i++; }
    snprintf(buf, n, i ? "%.3g%s" : "%.0f%s", v, u[i]);
}

static void fmt_bytes(char *buf, size_t n, double v)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) { v /= 1024; i++; }
    snprintf(buf, n, i ? "%.3g %s" : "%.0f %s", v, u[i]);
}

static void print_attn_names(Session *s)
{
    const Model *m = s->model;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        char *d = layer_desc(m, l);
        session_printf(s, "  layer %d: %s\n", l, d);
        free(d);
    }
}

/* The tokens compare runs: TEXT, or the current context. */
static int compare_tokens(Session *s, const CmdArgs *a, int **ids, int *n)
{
    const Model *m = s->model;
    if (a->rest && *a->rest) {
        if (!m->tok) return ERR(ERR_STATE, "%s has no tokenizer: compare without TEXT uses the context", m->path);
        size_t len = 0, cnt = 0;
        char *text = session_unescape(a->rest, &len);
        if (!text) return err_code();
        int rc = tokenizer_encode(m->tok, text, len, ids, &cnt);
        free(text);
        if (rc < 0) return rc;
        if (cnt == 0) {
            free(*ids);
            return ERR(ERR_ARG, "compare: TEXT has no tokens");
        }
        if (cnt > (size_t)m->cfg.n_ctx) {
            free(*ids);
            return ERR(ERR_RANGE, "compare: the text is %zu tokens; the model's context holds %d",
                       cnt, m->cfg.n_ctx);
        }
        *n = (int)cnt;
        return 0;
    }
    int rc = need_context(s);
    if (rc < 0) return rc;
    const Trace *t = gen_trace(s->gen);
    *n = t->n;
    *ids = xmalloc(sizeof(int) * (size_t)t->n);
    memcpy(*ids, t->tokens, sizeof(int) * (size_t)t->n);
    return 0;
}

/* Each layer's attention output under exact attention and under the spec in force, both
 * from the exact run's input to that layer (resid (L+1, N, C)) and its KV cache. */
static void attn_output_errors(const Model *m, const RunState *re, const float *resid, int N,
                               const AttnSpec *exact, const AttnSpec *approx, double *err)
{
    const ModelConfig *c = &m->cfg;
    const int C = c->n_embd, NH = c->n_head, NKV = c->n_kv_head, HS = model_head_size(c);
    const int kvdim = model_kv_dim(c);
    float *xb = xmalloc(sizeof(float) * (size_t)N * C), *q = xmalloc(sizeof(float) * (size_t)N * C);
    float *oe = xmalloc(sizeof(float) * (size_t)N * C), *oa = xmalloc(sizeof(float) * (size_t)N * C);
    float *att = xmalloc(sizeof(float) * (size_t)(N > NH ? N : NH) * N);
    for (int l = 0; l < c->n_layer; l++) {
        const LayerWeights *w = &m->w.layer[l];
        const float *x = resid + (size_t)l * N * C;
        if (c->norm == NORM_RMS) rmsnorm_forward(xb, NULL, x, w->ln1_w, N, C, c->norm_eps);
        else layernorm_forward(xb, NULL, NULL, x, w->ln1_w, w->ln1_b, N, C, c->norm_eps);
        matmul_forward(q, xb, &w->q, N);
        if (c->pos == POS_ROPE) rope_forward(q, N, NH, HS, 0, c->rope_theta);
        const float *kc = re->key_cache + (size_t)l * re->max_T * kvdim;
        const float *vc = re->value_cache + (size_t)l * re->max_T * kvdim;
        size_t ks_n = attention_kernel_scratch(&approx[l], N, HS);
        float *ks = ks_n ? xmalloc(sizeof(float) * ks_n) : NULL;
        attention_forward(oe, q, kc, vc, N, 0, NH, NKV, HS, &exact[l], att, NULL, NULL, 0, 0, 0);
        attention_forward(oa, q, kc, vc, N, 0, NH, NKV, HS, &approx[l], att, ks, NULL, 0, 0, 0);
        double num = 0, den = 0;
        for (size_t i = 0; i < (size_t)N * C; i++) {
            double dd = (double)oa[i] - oe[i];
            num += dd * dd;
            den += (double)oe[i] * oe[i];
        }
        err[l] = den > 0 ? sqrt(num / den) : 0;
        free(ks);
    }
    free(xb);
    free(q);
    free(oe);
    free(oa);
    free(att);
}

int cmd_compare(Session *s, const CmdArgs *a)
{
    int rc = need_model(s);
    if (rc < 0) return rc;
    Model *m = s->model;
    const ModelConfig *c = &m->cfg;
    const int L = c->n_layer, C = c->n_embd, V = c->vocab_size, Vp = c->padded_vocab;
    int *ids = NULL, N = 0;
    if ((rc = compare_tokens(s, a, &ids, &N)) < 0) return rc;

    AttnSpec *approx = m->attn, *exact = xmalloc(sizeof(AttnSpec) * (size_t)L);
    int any = 0;
    for (int l = 0; l < L; l++) {
        exact[l] = (AttnSpec){approx[l].mask, NULL, NULL};
        any |= approx[l].pattern || approx[l].kernel;
    }
    RunState re, ra;
    if ((rc = runstate_init(&re, c, N, ATTN_CHUNK)) < 0) {
        free(ids);
        free(exact);
        return rc;
    }
    if ((rc = runstate_init(&ra, c, N, ATTN_CHUNK)) < 0) {
        runstate_done(&re);
        free(ids);
        free(exact);
        return rc;
    }
    float *le = xmalloc(sizeof(float) * (size_t)ATTN_CHUNK * Vp);
    float *la = xmalloc(sizeof(float) * (size_t)ATTN_CHUNK * Vp);
    float *rchunk = xmalloc(sizeof(float) * (size_t)(L + 1) * ATTN_CHUNK * C);
    float *resid = xmalloc(sizeof(float) * (size_t)(L + 1) * N * C);
    float *pe = xmalloc(sizeof(float) * (size_t)V), *pa = xmalloc(sizeof(float) * (size_t)V);
    double *loss_e = xcalloc((size_t)N, sizeof(double)), *loss_a = xcalloc((size_t)N, sizeof(double));
    int te_idx[ATTN_TOPK], ta_idx[ATTN_TOPK];
    double te = 0, ta = 0, kl_sum = 0, ov_sum = 0, kl_last = 0, d2 = 0, e2 = 0;
    int ov_last = 0;
    for (int p = 0; p < N && rc == 0; p += ATTN_CHUNK) {
        const int T = N - p < ATTN_CHUNK ? N - p : ATTN_CHUNK;
        Capture cap = {.attn = NULL, .resid = rchunk};
        double t0 = now_seconds();
        m->attn = exact;
        rc = model_forward(m, &re, ids + p, T, p, le, 1, &cap);
        m->attn = approx;
        double t1 = now_seconds();
        if (rc == 0) rc = model_forward(m, &ra, ids + p, T, p, la, 1, NULL);
        double t2 = now_seconds();
        te += t1 - t0;
        ta += t2 - t1;
        if (rc < 0) break;
        for (int l = 0; l <= L; l++)
            memcpy(resid + ((size_t)l * N + p) * C, rchunk + (size_t)l * T * C, sizeof(float) * (size_t)T * C);
        for (int t = 0; t < T; t++) {
            const float *re_row = le + (size_t)t * Vp, *ra_row = la + (size_t)t * Vp;
            double lse_e, lse_a, kl = 0;
            log_softmax_stats(re_row, V, &lse_e);
            log_softmax_stats(ra_row, V, &lse_a);
            for (int v = 0; v < V; v++) {
                double lpe = re_row[v] - lse_e, lpa = ra_row[v] - lse_a;
                pe[v] = (float)exp(lpe);
                pa[v] = (float)exp(lpa);
                kl += pe[v] * (lpe - lpa);
                double dd = (double)ra_row[v] - re_row[v];
                d2 += dd * dd;
                e2 += (double)re_row[v] * re_row[v];
            }
            const int k = topk(pe, V, ATTN_TOPK, te_idx);
            topk(pa, V, ATTN_TOPK, ta_idx);
            const int ov = overlap(te_idx, ta_idx, k);
            kl_sum += kl;
            ov_sum += ov;
            const int pos = p + t;
            if (pos + 1 < N) {
                loss_e[pos] = lse_e - re_row[ids[pos + 1]];
                loss_a[pos] = lse_a - ra_row[ids[pos + 1]];
            }
            if (pos == N - 1) {
                kl_last = kl;
                ov_last = ov;
            }
        }
    }
    m->attn = approx;
    if (rc < 0) goto done;

    /* the last position's distributions are in pe, pa */
    session_printf(s, "compare over %d tokens: exact softmax attention vs the attention in force%s\n",
                   N, any ? ":" : " (exact on every layer: nothing differs; pattern NAME or kernel NAME first)");
    if (any) print_attn_names(s);
    int ke[5], ka[5];
    const int k5 = topk(pe, V, 5, ke);
    topk(pa, V, 5, ka);
    char *hdr = xasprintf("next token (after position %d)", N - 1);
    session_printf(s, "\n%-32s %-20s %s\n", hdr, "exact", "approx");
    free(hdr);
    json_t *jtop = json_array();
    for (int i = 0; i < k5; i++) {
        char *le_lab = token_label(s, ke[i]), *la_lab = token_label(s, ka[i]);
        char *fe = fit_label(le_lab, 12), *fa = fit_label(la_lab, 12);
        session_printf(s, "  #%-29d %s %.4f  %s %.4f\n", i + 1, fe, (double)pe[ke[i]], fa,
                       (double)pa[ka[i]]);
        json_t *o = json_object();
        json_object_set_new(o, "exact_id", json_integer(ke[i]));
        json_object_set_new(o, "exact_p", jnum(pe[ke[i]]));
        json_object_set_new(o, "approx_id", json_integer(ka[i]));
        json_object_set_new(o, "approx_p", jnum(pa[ka[i]]));
        json_array_append_new(jtop, o);
        free(le_lab);
        free(la_lab);
        free(fe);
        free(fa);
    }
    session_printf(s, "  KL(exact || approx) %.6g nats; top-%d overlap %d/%d\n", kl_last, ATTN_TOPK,
                   ov_last, ATTN_TOPK);
    session_printf(s, "  mean over all %d positions: KL %.6g nats, top-%d overlap %.2f/%d\n", N,
                   kl_sum / N, ATTN_TOPK, ov_sum / N, ATTN_TOPK);

    double se = 0, sa = 0;
    const int npred = N - 1;
    for (int i = 0; i < npred; i++) {
        se += loss_e[i];
        sa += loss_a[i];
    }
    if (npred > 0) {
        char *lhdr = xasprintf("loss over the text (%d predictions)", npred);
        session_printf(s, "\n%-35s %9s   %9s\n", lhdr, "exact", "approx");
        free(lhdr);
        session_printf(s, "  %-33s %9.4f   %9.4f\n", "mean loss (nats/token)", se / npred, sa / npred);
        session_printf(s, "  %-33s %9.3f   %9.3f\n", "perplexity", exp(se / npred), exp(sa / npred));
        session_printf(s, "  pos  next token\n");
        for (int i = 0; i < npred; i++) {
            if (npred > ATTN_LOSS_ROWS && i == ATTN_LOSS_ROWS / 2) {
                session_printf(s, "  ... %d positions ...\n", npred - ATTN_LOSS_ROWS);
                i = npred - ATTN_LOSS_ROWS / 2;
            }
            char *lab = token_label(s, ids[i + 1]), *f = fit_label(lab, 28);
            session_printf(s, "  %3d  %s %9.4f   %9.4f\n", i, f, loss_e[i], loss_a[i]);
            free(lab);
            free(f);
        }
    } else {
        session_printf(s, "\n(one token: no next-token loss inside the text)\n");
    }

    double *aerr = xcalloc((size_t)L, sizeof(double));
    attn_output_errors(m, &re, resid, N, exact, approx, aerr);
    const double lerr = e2 > 0 ? sqrt(d2 / e2) : 0;
    session_printf(s, "\nerror (relative Frobenius, ||approx - exact|| / ||exact||)\n");
    session_printf(s, "  logits, all positions (end to end)   %.6g\n", lerr);
    session_printf(s, "  attention output per layer (before the output projection; both fed the "
                      "exact run's input to the layer):\n");
    json_t *jerr = json_array();
    for (int l = 0; l < L; l++) {
        session_printf(s, "    layer %d  %.6g\n", l, aerr[l]);
        json_array_append_new(jerr, jnum(aerr[l]));
    }

    session_printf(s, "\ncost per layer at n = %d (%d heads of %d; the method's own counts: "
                      "score cells, FLOPs, working memory per head)\n", N, c->n_head,
                   model_head_size(c));
    session_printf(s, "  layer  %-34s %10s %10s %11s\n", "attention", "cells", "FLOPs", "memory");
    Cost tot_e = {0, 0, 0}, tot_a = {0, 0, 0};
    json_t *jcost = json_array();
    for (int l = 0; l < L; l++) {
        Cost ce = layer_cost(m, &exact[l], l, N), ca = layer_cost(m, &approx[l], l, N);
        tot_e.cells += ce.cells;
        tot_e.flops += ce.flops;
        tot_a.cells += ca.cells;
        tot_a.flops += ca.flops;
        tot_e.bytes = ce.bytes > tot_e.bytes ? ce.bytes : tot_e.bytes;
        tot_a.bytes = ca.bytes > tot_a.bytes ? ca.bytes : tot_a.bytes;
        const AttnSpec *ap = &approx[l];
        char b1[32], b2[32], b3[32];
        char *d = xstrdup(ap->kernel ? ap->kernel->name : ap->pattern ? pattern_name(ap->pattern)
                                                                      : "exact softmax");
        char *f = fit_label(d, 34);
        fmt_si(b1, sizeof b1, ce.cells);
        fmt_si(b2, sizeof b2, ce.flops);
        fmt_bytes(b3, sizeof b3, ce.bytes);
        session_printf(s, "  %-5d  %-34s %10s %10s %11s\n", l, "exact softmax", b1, b2, b3);
        fmt_si(b1, sizeof b1, ca.cells);
        fmt_si(b2, sizeof b2, ca.flops);
        fmt_bytes(b3, sizeof b3, ca.bytes);
        session_printf(s, "  %-5s  %s %10s %10s %11s\n", "", f, b1, b2, b3);
        json_t *o = json_object();
        json_object_set_new(o, "layer", json_integer(l));
        json_object_set_new(o, "exact_cells", jnum(ce.cells));
        json_object_set_new(o, "exact_flops", jnum(ce.flops));
        json_object_set_new(o, "exact_bytes", jnum(ce.bytes));
        json_object_set_new(o, "cells", jnum(ca.cells));
        json_object_set_new(o, "flops", jnum(ca.flops));
        json_object_set_new(o, "bytes", jnum(ca.bytes));
        json_array_append_new(jcost, o);
        free(d);
        free(f);
    }
    {
        char b1[32], b2[32];
        fmt_si(b1, sizeof b1, tot_e.cells);
        fmt_si(b2, sizeof b2, tot_e.flops);
        session_printf(s, "  all layers: exact %s cells, %s FLOPs; ", b1, b2);
        fmt_si(b1, sizeof b1, tot_a.cells);
        fmt_si(b2, sizeof b2, tot_a.flops);
        session_printf(s, "in force %s cells, %s FLOPs (%.3gx the FLOPs)\n", b1, b2,
                       tot_e.flops > 0 ? tot_a.flops / tot_e.flops : 0.0);
    }
    session_printf(s, "  time, whole model forward over the %d tokens: exact %.3f ms, in force %.3f ms\n"
                      "  (kernel methods run here through their implied weights, row by row, so "
                      "this time is not their O(n) cost: see make bench)\n", N, 1e3 * te, 1e3 * ta);

    jset(s, "n", json_integer(N));
    jset(s, "top", jtop);
    jset(s, "kl_next", jnum(kl_last));
    jset(s, "overlap_next", json_integer(ov_last));
    jset(s, "kl_mean", jnum(kl_sum / N));
    jset(s, "overlap_mean", jnum(ov_sum / N));
    jset(s, "loss_exact", npred ? jnum(se / npred) : json_null());
    jset(s, "loss_approx", npred ? jnum(sa / npred) : json_null());
    jset(s, "ppl_exact", npred ? jnum(exp(se / npred)) : json_null());
    jset(s, "ppl_approx", npred ? jnum(exp(sa / npred)) : json_null());
    jset(s, "logits_rel_error", jnum(lerr));
    jset(s, "attn_output_rel_error", jerr);
    jset(s, "cost", jcost);
    jset(s, "time_exact_s", jnum(te));
    jset(s, "time_approx_s", jnum(ta));
    free(aerr);
done:
    runstate_done(&re);
    runstate_done(&ra);
    free(le);
    free(la);
    free(rchunk);
    free(resid);
    free(pe);
    free(pa);
    free(loss_e);
    free(loss_a);
    free(exact);
    free(ids);
    return rc;
}

/* ---- svd ---- */

int cmd_svd(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    const Model *m = s->model;
    const Trace *t = gen_trace(s->gen);
    long L, H;
    if ((rc = parse_index(a->argv[0].s, "layer", 0, m->cfg.n_layer - 1, &L)) < 0 ||
        (rc = parse_index(a->argv[1].s, "head", 0, m->cfg.n_head - 1, &H)) < 0)
        return rc;
    if (!t->have_attn) return ERR(ERR_STATE, "svd: the context has no attention recorded");
    const int n = t->n;
    float *A = xmalloc(sizeof(float) * (size_t)n * n);   /* (n, n) row = query */
    for (int q = 0; q < n; q++)
        for (int k = 0; k < n; k++) A[(size_t)q * n + k] = trace_attn(t, (int)L, (int)H, q, k);
    double *sv = xmalloc(sizeof(double) * (size_t)n);
    rc = effattn_singular_values(A, n, n, sv);
    free(A);
    if (rc < 0) {
        free(sv);
        return rc;
    }
    const int r90 = effattn_rank_for_energy(sv, n, 0.90), r99 = effattn_rank_for_energy(sv, n, 0.99);
    char *d = layer_desc(m, (int)L);
    session_printf(s, "layer %ld head %ld over %d tokens (%s):\n", L, H, n, d);
    session_printf(s, "singular values:");
    const int show = n < 16 ? n : 16;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        if (i < show) session_printf(s, " %.4g", sv[i]);
        json_array_append_new(arr, jnum(sv[i]));
    }
    session_printf(s, "%s\n", n > show ? " ..." : "");
    session_printf(s, "effective rank: %d at 90%% of the energy (sum of squares), %d at 99%%; "
                      "full rank would be %d\n", r90, r99, n);
    jset(s, "layer", json_integer(L));
    jset(s, "head", json_integer(H));
    jset(s, "n", json_integer(n));
    jset(s, "singular_values", arr);
    jset(s, "rank90", json_integer(r90));
    jset(s, "rank99", json_integer(r99));
    free(d);
    free(sv);
    return 0;
}
