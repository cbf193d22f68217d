/* commands — the REPL commands: the one table (name, synopsis, help, completion, handler)
 * and the cmd_<name> handlers.
 *
 * Owns: what each command does to the session and what it prints.  Plain output of the
 * views comes from viz/plain.h (the text renderers); this file draws nothing itself.  In
 * JSON mode a handler fills s->result with data instead (numbers, ids, token texts).
 * A handler returns 0 or a negative ERR_* with err_msg() set; session_exec prints it.  A
 * handler changes the session only once everything that can fail has succeeded (`load`
 * loads into a new Model and swaps), except where partial progress is real (`gen` and
 * `step` keep the tokens made before an error or Ctrl-C, and log exactly those).
 * Commands that change state append a canonical line to the replay log (session_log).
 */
#include "repl/commands.h"
#include "repl/cmd_attention.h"
#include "repl/cmd_lesson.h"
#include "repl/cmd_train.h"
#include "repl/screen.h"
#include "repl/subcmd_train.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/gemm.h"
#include "engine/tokenizer.h"
#include "viz/plain.h"

/* ---- helpers ---- */

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
    if (gen_trace(s->gen)->n == 0)
        return ERR(ERR_STATE, "no context yet (prompt TEXT first)");
    return 0;
}

static int need_tokenizer(const Session *s)
{
    if (!s->model->tok)
        return ERR(ERR_STATE, "%s has no tokenizer (load it again with one: load PATH TOKENIZER)",
                   s->model->path);
    return 0;
}

/* Parses a whole word as an integer in [lo, hi]. */
static int arg_long(const CmdArg *a, const char *what, long lo, long hi, long *out)
{
    *out = 0;  /* callers check the status; this keeps -O3's flow analysis quiet */
    char *end;
    errno = 0;
    long v = strtol(a->s, &end, 10);
    if (a->len == 0 || *end || errno || v < lo || v > hi) {
        if (hi >= INT_MAX) return ERR(ERR_ARG, "%s must be an integer >= %ld, got '%s'", what, lo, a->s);
        return ERR(ERR_ARG, "%s must be an integer from %ld to %ld, got '%s'", what, lo, hi, a->s);
    }
    *out = v;
    return 0;
}

static int arg_double(const CmdArg *a, const char *what, double *out)
{
    *out = 0;  /* callers check the status; this keeps -O3's flow analysis quiet */
    char *end;
    errno = 0;
    double v = strtod(a->s, &end);
    if (a->len == 0 || *end || errno || !isfinite(v))
        return ERR(ERR_ARG, "%s must be a number, got '%s'", what, a->s);
    *out = v;
    return 0;
}

/* Prints an allocated view text (NULL: nothing) and frees it. */
static void put_view(Session *s, char *text)
{
    if (!text) return;
    session_puts(s, text);
    size_t n = strlen(text);
    if (n && text[n - 1] != '\n') session_puts(s, "\n");
    free(text);
}

/* The k largest entries of p (V), in decreasing order, ties to the lower id.  O(V k)
 * worst case, O(V) in practice: most entries fail the first comparison. */
static int top_indices(const float *p, int V, int k, int *idx)
{
    int n = 0;
    if (k <= 0) return 0;
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

static json_t *json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Top-k of a distribution with raw and filtered probabilities, for JSON. */
static json_t *json_candidates(const Session *s, const StepDist *d, int V, int k)
{
    int *idx = xmalloc((size_t)(k > 0 ? k : 1) * sizeof *idx);
    int n = top_indices(d->probs, V, k, idx);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = session_json_token(s, idx[i]);
        json_object_set_new(o, "p", json_num(d->probs[idx[i]]));
        json_object_set_new(o, "p_filtered", json_num(d->filtered[idx[i]]));
        json_object_set_new(o, "cut", json_boolean(d->filtered[idx[i]] == 0.0f));
        json_array_append_new(arr, o);
    }
    free(idx);
    return arr;
}

static json_t *json_context(const Session *s)
{
    const Trace *t = gen_trace(s->gen);
    json_t *arr = json_array();
    for (int i = 0; i < t->n; i++) {
        json_t *o = session_json_token(s, t->tokens[i]);
        json_object_set_new(o, "pos", json_integer(i));
        json_object_set_new(o, "prompt", json_boolean(i < t->n_prompt));
        json_object_set_new(o, "p", i > 0 ? json_num(t->token_prob[i]) : json_null());
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *json_step(const Session *s, int pos)
{
    const Trace *t = gen_trace(s->gen);
    json_t *o = json_object();
    json_object_set_new(o, "pos", json_integer(pos));
    json_object_set_new(o, "token", session_json_token(s, t->tokens[pos]));
    const StepDist *d = t->dist ? t->dist[pos] : NULL;
    if (d) {
        json_object_set_new(o, "forced", json_boolean(d->forced));
        json_object_set_new(o, "p", json_num(d->probs[t->tokens[pos]]));
        json_object_set_new(o, "p_filtered", json_num(d->filtered[t->tokens[pos]]));
        json_object_set_new(o, "top", json_candidates(s, d, t->n_vocab, s->step_k));
    }
    return o;
}

static void json_set(Session *s, const char *key, json_t *v)
{
    if (s->result) json_object_set_new(s->result, key, v);
    else json_decref(v);
}

static char *token_repr(const Session *s, int id)
{
    size_t len = 0;
    const char *b = s->model->tok ? tokenizer_token_bytes(s->model->tok, id, &len) : NULL;
    return b ? session_quote_bytes(b, len) : xasprintf("#%d", id);
}

/* Replaces the session's generator with a fresh one on model m (context empty, sampler
 * restarted from the seed).  Returns the new Gen in *out without touching the session. */
static int new_gen(Session *s, Model *m, int resid, Gen **out)
{
    Gen *g = NULL;
    int rc = gen_alloc(&g, m, 1, resid);
    if (rc < 0) return rc;
    rc = gen_set_params(g, s->params);
    if (rc < 0) {
        gen_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

static const char *arch_name(ModelArch a) { return a == ARCH_LLAMA ? "Llama" : "GPT-2"; }

static void print_size(Session *s, const char *label, double bytes)
{
    const char *unit[] = { "B", "KB", "MB", "GB", "TB" };
    int u = 0;
    while (bytes >= 1024 && u < 4) { bytes /= 1024; u++; }
    session_printf(s, "%s %.1f %s", label, bytes, unit[u]);
}

/* ---- handlers ---- */

static int cmd_help(Session *s, const CmdArgs *a)
{
    if (a->argc == 1) {
        const Command *c = commands_find(a->argv[0].s);
        if (!c) return ERR(ERR_ARG, "no command '%s' (help lists them)", a->argv[0].s);
        session_printf(s, "%s%s%s\n    %s\n\n%s\n", c->name, *c->args ? " " : "", c->args,
                       c->summary, c->help);
        json_set(s, "name", json_string(c->name));
        json_set(s, "args", json_string(c->args));
        json_set(s, "summary", json_string(c->summary));
        json_set(s, "help", json_string(c->help));
        return 0;
    }
    session_printf(s, "Commands (help CMD for details):\n");
    json_t *arr = json_array();
    for (int i = 0; i < commands_count; i++) {
        const Command *c = &commands_table[i];
        if (c->flags & CMD_ALIAS) continue;
        char *syn = xasprintf("%s%s%s", c->name, *c->args ? " " : "", c->args);
        session_printf(s, "  %-24s %s\n", syn, c->summary);
        free(syn);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(c->name));
        json_object_set_new(o, "args", json_string(c->args));
        json_object_set_new(o, "summary", json_string(c->summary));
        json_array_append_new(arr, o);
    }
    session_printf(s, "Text after prompt may use \\n \\t \\xHH escapes; lines starting "
                      "with # are comments.\n");
    json_set(s, "commands", arr);
    return 0;
}

static int cmd_load(Session *s, const CmdArgs *a)
{
    return commands_load(s, a->argv[0].s, a->argc > 1 ? a->argv[1].s : s->tokenizer_path);
}

int commands_load(Session *s, const char *path, const char *tok)
{
    Model *m = NULL;
    int rc = model_load(&m, path, tok);
    if (rc < 0) return rc;
    Gen *g = NULL;
    rc = new_gen(s, m, 0, &g);
    if (rc < 0) {
        model_free(m);
        return rc;
    }
    cmd_attention_forget(s);   /* the patterns and kernels of the old model go with it */
    gen_free(s->gen);
    model_free(s->model);
    s->model = m;
    s->gen = g;

    char *qp = session_escape(path, strlen(path));
    char *qt = tok ? session_escape(tok, strlen(tok)) : NULL;
    session_log(s, "load %s%s%s", qp, qt ? " " : "", qt ? qt : "");
    free(qp);
    free(qt);

    const ModelConfig *c = &m->cfg;
    session_printf(s, "loaded %s (%s): %s, %d layers, %d heads, n_embd %d, n_ctx %d, vocab %d, "
                      "%.2fM parameters%s\n",
                   m->path ? m->path : path, m->format ? m->format : "?", arch_name(c->arch),
                   c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->vocab_size,
                   (double)m->n_params / 1e6, m->tok ? "" : "; no tokenizer (ids only)");
    json_set(s, "path", json_string(m->path ? m->path : path));
    json_set(s, "format", m->format ? json_string(m->format) : json_null());
    json_set(s, "n_layer", json_integer(c->n_layer));
    json_set(s, "n_head", json_integer(c->n_head));
    json_set(s, "n_embd", json_integer(c->n_embd));
    json_set(s, "n_ctx", json_integer(c->n_ctx));
    json_set(s, "vocab_size", json_integer(c->vocab_size));
    json_set(s, "n_params", json_integer((json_int_t)m->n_params));
    return 0;
}

static size_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, res = 0;
    int ok = fscanf(f, "%lu %lu", &size, &res) == 2;
    fclose(f);
    return ok ? (size_t)res * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* OpenBLAS's own call: which kernel family runs the matrix products (prefill, training) */
char *openblas_get_corename(void);

static int cmd_info(Session *s, const CmdArgs *a)
{
    int rc = need_model(s);
    if (rc < 0) return rc;
    const Model *m = s->model;
    const ModelConfig *c = &m->cfg;
    const Trace *t = gen_trace(s->gen);
    size_t kv = 2 * (size_t)c->n_layer * (size_t)c->n_ctx * (size_t)model_kv_dim(c) * sizeof(float);
    size_t rss = resident_bytes();
    const char *kernel = model_attn_kernel_name(m, 0);
    const char *mask = (m->attn && m->attn[0].mask == MASK_BIDIRECTIONAL) ? "bidirectional" : "causal";

    session_printf(s, "model      %s\n", m->path ? m->path : "?");
    session_printf(s, "format     %s\n", m->format ? m->format : "?");
    session_printf(s, "arch       %s: %d layers, %d heads (%d key/value, head size %d), n_embd %d, "
                      "n_hidden %d, n_ctx %d\n", arch_name(c->arch), c->n_layer, c->n_head,
                   c->n_kv_head, model_head_size(c), c->n_embd, c->n_hidden, c->n_ctx);
    session_printf(s, "blocks     %s (eps %g), %s positions, %s, %s, %s head\n",
                   c->norm == NORM_RMS ? "RMSNorm" : "LayerNorm", (double)c->norm_eps,
                   c->pos == POS_ROPE ? "rotary" : c->pos == POS_NONE ? "no" : "learned",
                   c->ffn == FFN_SWIGLU ? "SwiGLU" : "GELU (tanh)",
                   c->bias ? "biases" : "no biases", c->tied_head ? "tied" : "separate");
    session_printf(s, "attention  %s mask, %s\n", mask, kernel ? kernel : "?");
    session_printf(s, "vocab      %d (%d rows stored)%s\n", c->vocab_size, c->padded_vocab,
                   m->tok ? "" : ", no tokenizer");
    session_printf(s, "params     %zu (%.2fM)\n", m->n_params, (double)m->n_params / 1e6);
    print_size(s, "memory     weights", (double)m->weight_bytes);
    print_size(s, ", KV cache", (double)kv);
    if (rss) print_size(s, ", resident", (double)rss);
    session_printf(s, "\n");
    session_printf(s, "sampler    temperature %g, top_k %d, top_p %g, seed %lu\n",
                   (double)s->params.temperature, s->params.top_k, (double)s->params.top_p,
                   s->params.seed);
    session_printf(s, "context    %d tokens (%d from the prompt)\n", t->n, t->n_prompt);
    /* speeds quoted in a class depend on these: a teacher comparing machines needs them */
    const char *forced = getenv("OPENBLAS_CORETYPE");
    session_printf(s, "compute    %d threads (OpenMP); matrix products in OpenBLAS's %s kernels%s%s%s\n",
                   omp_get_max_threads(), openblas_get_corename(), forced ? " (OPENBLAS_CORETYPE=" : "",
                   forced ? forced : "", forced ? ")" : "");
    if (!strcmp(gemm_impl_name(), "avx512"))
        session_printf(s, "           except a prompt's, on Lectern's AVX-512 kernel (engine/gemm.c)\n");

    json_set(s, "threads", json_integer(omp_get_max_threads()));
    json_set(s, "blas_kernels", json_string(openblas_get_corename()));
    json_set(s, "prompt_products", json_string(gemm_impl_name()));
    json_set(s, "path", m->path ? json_string(m->path) : json_null());
    json_set(s, "format", m->format ? json_string(m->format) : json_null());
    json_t *cfg = json_object();
    json_object_set_new(cfg, "arch", json_string(arch_name(c->arch)));
    json_object_set_new(cfg, "n_layer", json_integer(c->n_layer));
    json_object_set_new(cfg, "n_head", json_integer(c->n_head));
    json_object_set_new(cfg, "n_kv_head", json_integer(c->n_kv_head));
    json_object_set_new(cfg, "n_embd", json_integer(c->n_embd));
    json_object_set_new(cfg, "n_hidden", json_integer(c->n_hidden));
    json_object_set_new(cfg, "n_ctx", json_integer(c->n_ctx));
    json_object_set_new(cfg, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(cfg, "padded_vocab", json_integer(c->padded_vocab));
    json_set(s, "config", cfg);
    json_set(s, "n_params", json_integer((json_int_t)m->n_params));
    json_set(s, "weight_bytes", json_integer((json_int_t)m->weight_bytes));
    json_set(s, "kv_cache_bytes", json_integer((json_int_t)kv));
    json_set(s, "resident_bytes", json_integer((json_int_t)rss));
    json_set(s, "attention_kernel", kernel ? json_string(kernel) : json_null());
    json_set(s, "context_tokens", json_integer(t->n));
    return 0;
}

static int cmd_prompt(Session *s, const CmdArgs *a)
{
    int rc = need_model(s);
    if (rc < 0 || (rc = need_tokenizer(s)) < 0) return rc;
    size_t len = 0;
    char *text = session_unescape(a->rest, &len);
    if (!text) return err_code();
    int *ids = NULL;
    size_t n = 0;
    if (len == 0) {
        /* An empty prompt starts from end-of-text, as GPT-2's unconditional samples do. */
        int eot = tokenizer_eot(s->model->tok);
        if (eot < 0) {
            free(text);
            return ERR(ERR_ARG, "empty prompt, and the tokenizer has no end-of-text token to start from");
        }
        ids = xmalloc(sizeof *ids);
        ids[0] = eot;
        n = 1;
    } else {
        rc = tokenizer_encode(s->model->tok, text, len, &ids, &n);
        if (rc < 0) {
            free(text);
            return rc;
        }
    }
    /* Checked here too so that an over-long prompt leaves the old context in place. */
    if (n > (size_t)s->model->cfg.n_ctx)
        rc = ERR(ERR_RANGE, "the prompt is %zu tokens; the model's context holds %d", n,
                 s->model->cfg.n_ctx);
    else rc = gen_prompt(s->gen, ids, (int)n);
    free(ids);
    if (rc < 0) {
        free(text);
        return rc;
    }
    char *q = session_escape(text, len);
    session_log(s, "prompt %s", q);
    free(q);
    free(text);
    const Trace *t = gen_trace(s->gen);
    put_view(s, viz_tokens_text(t, s->width));
    json_set(s, "tokens", json_context(s));
    return 0;
}

static int cmd_tokens(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    put_view(s, viz_tokens_text(gen_trace(s->gen), s->width));
    json_set(s, "tokens", json_context(s));
    return 0;
}

static int cmd_text(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0 || (rc = need_tokenizer(s)) < 0) return rc;
    const Trace *t = gen_trace(s->gen);
    size_t len = 0;
    char *text = tokenizer_decode(s->model->tok, t->tokens, (size_t)t->n, &len);
    if (!text) return ERR(ERR_STATE, "the context does not decode");
    if (!s->json) {
        fwrite(text, 1, len, s->out);
        fputc('\n', s->out);
    }
    json_set(s, "text", session_json_bytes(text, len));
    free(text);
    return 0;
}

/* One step (drawn, or forced when forced >= 0), reported as the step view. */
static int do_step(Session *s, int forced, json_t *steps)
{
    int rc = gen_step(s->gen, forced, NULL);
    if (rc < 0) return rc;
    const Trace *t = gen_trace(s->gen);
    put_view(s, viz_step_text(t, t->n - 1, s->step_k, s->width));
    if (steps) json_array_append_new(steps, json_step(s, t->n - 1));
    return 0;
}

static int cmd_step(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    long n = 1;
    if (a->argc == 1 && (rc = arg_long(&a->argv[0], "N", 1, INT_MAX, &n)) < 0) return rc;
    if ((rc = screen_branch(s)) < 0) return rc;   /* the screen's scrubbed step: branch there */
    json_t *steps = s->json ? json_array() : NULL;
    long done = 0;
    while (done < n && !session_interrupt) {
        if ((rc = do_step(s, -1, steps)) < 0) break;
        done++;
        fflush(s->out);
    }
    if (done > 0) session_log(s, "step %ld", done);
    if (steps) json_set(s, "steps", steps);
    if (rc == 0 && session_interrupt) {
        session_printf(s, "[interrupted after %ld of %ld steps]\n", done, n);
        json_set(s, "interrupted", json_true());
    }
    return rc;
}

/* Writes token bytes as they come; control bytes other than newline and tab are escaped
 * so a model cannot drive the terminal. */
static void stream_bytes(Session *s, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) fprintf(s->out, "\\x%02x", c);
        else fputc(c, s->out);
    }
}

static int cmd_gen(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    long n;
    if ((rc = arg_long(&a->argv[0], "N", 1, INT_MAX, &n)) < 0) return rc;
    if ((rc = screen_branch(s)) < 0) return rc;   /* the screen's scrubbed step: branch there */
    const Trace *t = gen_trace(s->gen);
    int start = t->n;
    long done = 0;
    while (done < n && !session_interrupt) {
        if ((rc = gen_step(s->gen, -1, NULL)) < 0) break;
        done++;
        t = gen_trace(s->gen);
        if (!s->json) {
            size_t len = 0;
            const char *b = s->model->tok
                ? tokenizer_token_bytes(s->model->tok, t->tokens[t->n - 1], &len) : NULL;
            if (b) stream_bytes(s, b, len);
            else fprintf(s->out, "#%d ", t->tokens[t->n - 1]);
            fflush(s->out);
        }
    }
    int interrupted = rc == 0 && session_interrupt;
    if (done > 0) {
        session_log(s, "gen %ld", done);
        session_printf(s, "\n");
    }
    if (interrupted) session_printf(s, "[interrupted after %ld of %ld tokens]\n", done, n);
    if (s->json) {
        t = gen_trace(s->gen);
        json_t *ids = json_array();
        for (int i = start; i < t->n; i++) json_array_append_new(ids, json_integer(t->tokens[i]));
        json_set(s, "ids", ids);
        if (s->model->tok) {
            size_t len = 0;
            char *text = tokenizer_decode(s->model->tok, t->tokens + start, (size_t)(t->n - start), &len);
            if (text) json_set(s, "text", session_json_bytes(text, len));
            free(text);
        }
        json_set(s, "interrupted", json_boolean(interrupted));
    }
    return rc;
}

static int cmd_probs(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    long k = 10;
    if (a->argc == 1 && (rc = arg_long(&a->argv[0], "K", 1, 1000, &k)) < 0) return rc;
    const Trace *t = gen_trace(s->gen);
    const StepDist *d = trace_next(t);
    if (!d) return ERR(ERR_STATE, "no pending distribution (prompt TEXT first)");
    put_view(s, viz_probs_text(t, (int)k, s->width));
    json_set(s, "pos", json_integer(d->pos));
    json_set(s, "top", json_candidates(s, d, t->n_vocab, (int)k));
    return 0;
}

static int cmd_attn(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    const ModelConfig *c = &s->model->cfg;
    long l, h;
    if ((rc = arg_long(&a->argv[0], "layer L", 0, c->n_layer - 1, &l)) < 0) return rc;
    /* the view options in force (view scale, hide-first, agg, ...) and the command's own */
    VizOpts o;
    char *note = NULL;
    if ((rc = screen_attn_opts(s, a, (int)l, &o, &note)) < 0) return rc;
    h = o.head;
    const Trace *t = gen_trace(s->gen);
    if (!t->have_attn) {
        if ((rc = gen_capture(s->gen, 1, t->have_resid)) < 0) { free(note); return rc; }
        t = gen_trace(s->gen);
    }
    put_view(s, viz_attn_text_opts(t, &o, s->width));
    if (note) session_printf(s, "%s\n", note);
    free(note);
    if (s->json) {
        json_set(s, "layer", json_integer(l));
        json_set(s, "head", json_integer(h));
        json_set(s, "mask", json_string(viz_mask_name(t, (int)l)));
        json_set(s, "tokens", json_context(s));
        json_t *rows = json_array();
        for (int q = 0; q < t->n; q++) {
            int nk = 0;
            const float *r = trace_attn_row(t, (int)l, (int)h, q, &nk);
            json_t *row = json_array();
            for (int k = 0; r && k < nk; k++) json_array_append_new(row, json_num(r[k]));
            json_array_append_new(rows, row);
        }
        json_set(s, "rows", rows);
    }
    return 0;
}

static int cmd_lens(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    const Trace *t = gen_trace(s->gen);
    /* Each position costs a head matmul per layer, so by default only the last few. */
    long n_pos = t->n < 8 ? t->n : 8;
    if (a->argc == 1 && (rc = arg_long(&a->argv[0], "N", 1, t->n, &n_pos)) < 0) return rc;
    if (!t->have_resid) {
        if ((rc = gen_capture(s->gen, t->have_attn, 1)) < 0) return rc;
        t = gen_trace(s->gen);
    }
    LensTable lt = {0};
    const int k = 3;
    int pos0 = t->n - (int)n_pos;
    if ((rc = gen_lens_table(s->gen, pos0, (int)n_pos, k, &lt)) < 0) return rc;
    put_view(s, viz_lens_text(t, &lt, s->width));
    if (s->json) {
        json_set(s, "pos0", json_integer(lt.pos0));
        json_t *layers = json_array();
        for (int l = 0; l < lt.n_layer1; l++) {
            json_t *row = json_array();
            for (int p = 0; p < lt.n_pos; p++) {
                json_t *cands = json_array();
                for (int j = 0; j < lt.k; j++) {
                    size_t at = ((size_t)l * (size_t)lt.n_pos + (size_t)p) * (size_t)lt.k + (size_t)j;
                    json_t *o = session_json_token(s, lt.ids[at]);
                    json_object_set_new(o, "p", json_num(lt.probs[at]));
                    json_array_append_new(cands, o);
                }
                json_array_append_new(row, cands);
            }
            json_array_append_new(layers, row);
        }
        json_set(s, "layers", layers);
    }
    lens_table_free(&lt);
    return 0;
}

static int cmd_back(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    const Trace *t = gen_trace(s->gen);
    long n = 1;
    if (a->argc == 1 && (rc = arg_long(&a->argv[0], "N", 1, INT_MAX, &n)) < 0) return rc;
    /* On the screen with the strip scrubbed back to P, rewinding to P is the first step back. */
    const long asked = n;
    int p = screen_branch_pos(s);
    if (p >= 0 && n > p)
        return ERR(ERR_RANGE, "cannot go back %ld from the scrubbed position %d: at least one token stays", n, p);
    if (p >= 0) {
        if ((rc = screen_branch(s)) < 0) return rc;
        n--;
        t = gen_trace(s->gen);
    }
    if (n >= t->n)
        return ERR(ERR_RANGE, "cannot go back %ld: the context has %d tokens and at least one stays",
                   n, t->n);
    if (n > 0) {
        if ((rc = gen_back(s->gen, (int)n)) < 0) return rc;
        session_log(s, "back %ld", n);
    }
    n = asked;
    t = gen_trace(s->gen);
    char *last = token_repr(s, t->tokens[t->n - 1]);
    session_printf(s, "back %ld: %d tokens, last %s; the next token (position %d) is pending\n",
                   n, t->n, last, t->n);
    free(last);
    json_set(s, "n", json_integer(t->n));
    json_set(s, "last", session_json_token(s, t->tokens[t->n - 1]));
    return 0;
}

/* Resolves TOKEN: an unquoted number is an id, anything else the exact token text. */
static int resolve_token(Session *s, const CmdArg *arg, int *id)
{
    const ModelConfig *c = &s->model->cfg;
    int numeric = !arg->quoted && arg->len > 0;
    for (size_t i = 0; numeric && i < arg->len; i++) numeric = isdigit((unsigned char)arg->s[i]);
    if (numeric) {
        long v;
        int rc = arg_long(arg, "token id", 0, c->vocab_size - 1, &v);
        if (rc < 0) return rc;
        *id = (int)v;
        return 0;
    }
    if (!s->model->tok) return need_tokenizer(s);
    int t = tokenizer_lookup(s->model->tok, arg->s, arg->len);
    if (t >= 0) {
        *id = t;
        return 0;
    }
    /* Say how the text splits, so the user can pick one of the pieces. */
    int *ids = NULL;
    size_t n = 0;
    char *q = session_quote_bytes(arg->s, arg->len);
    char *msg = xasprintf("no single token is %s", q);
    free(q);
    if (tokenizer_encode(s->model->tok, arg->s, arg->len, &ids, &n) == 0 && n > 0) {
        char *m2 = xasprintf("%s; it encodes as %zu tokens:", msg, n);
        free(msg);
        msg = m2;
        for (size_t i = 0; i < n && i < 8; i++) {
            char *r = token_repr(s, ids[i]);
            m2 = xasprintf("%s %d %s", msg, ids[i], r);
            free(r);
            free(msg);
            msg = m2;
        }
        if (n > 8) {
            m2 = xasprintf("%s ...", msg);
            free(msg);
            msg = m2;
        }
    }
    free(ids);
    int rc = ERR(ERR_ARG, "%s", msg);
    free(msg);
    return rc;
}

static int cmd_force(Session *s, const CmdArgs *a)
{
    int rc = need_context(s);
    if (rc < 0) return rc;
    int id = -1;
    if ((rc = resolve_token(s, &a->argv[0], &id)) < 0) return rc;
    if ((rc = screen_branch(s)) < 0) return rc;   /* the screen's scrubbed step: branch there */
    json_t *steps = s->json ? json_array() : NULL;
    rc = do_step(s, id, steps);
    if (rc == 0) session_log(s, "force %d", id);
    if (steps) {
        if (json_array_size(steps)) json_set(s, "step", json_incref(json_array_get(steps, 0)));
        json_decref(steps);
    }
    return rc;
}

const char *const commands_set_keys[] = { "temperature", "top_k", "top_p", "seed", NULL };

static void print_settings(Session *s)
{
    const SamplerParams *p = &s->params;
    session_printf(s, "temperature %g%s\ntop_k %d%s\ntop_p %g%s\nseed %lu\n",
                   (double)p->temperature, p->temperature == 0 ? " (greedy)" : "",
                   p->top_k, p->top_k == 0 ? " (off)" : "",
                   (double)p->top_p, p->top_p >= 1 ? " (off)" : "", p->seed);
    json_set(s, "temperature", json_num(p->temperature));
    json_set(s, "top_k", json_integer(p->top_k));
    json_set(s, "top_p", json_num(p->top_p));
    json_set(s, "seed", json_integer((json_int_t)p->seed));
}

static int cmd_set(Session *s, const CmdArgs *a)
{
    if (a->argc == 0) {
        print_settings(s);
        return 0;
    }
    if (a->argc != 2) return ERR(ERR_ARG, "usage: set [temperature|top_k|top_p|seed VALUE]");
    const char *key = a->argv[0].s;
    const CmdArg *v = &a->argv[1];
    SamplerParams p = s->params;
    int rc = 0, reseed = 0;
    char *canon = NULL, fb[32];
    if (strcmp(key, "temperature") == 0) {
        double x;
        if ((rc = arg_double(v, "temperature", &x)) < 0) return rc;
        if (x < 0 || x > 1e6) return ERR(ERR_ARG, "temperature must be >= 0 (0 = greedy), got %s", v->s);
        p.temperature = (float)x;
        canon = xasprintf("set temperature %s", session_format_float(fb, sizeof fb, p.temperature));
    } else if (strcmp(key, "top_k") == 0) {
        long k;
        if ((rc = arg_long(v, "top_k", 0, INT_MAX, &k)) < 0) return rc;
        p.top_k = (int)k;
        canon = xasprintf("set top_k %d", p.top_k);
    } else if (strcmp(key, "top_p") == 0) {
        double x;
        if ((rc = arg_double(v, "top_p", &x)) < 0) return rc;
        if (!(x > 0 && x <= 1)) return ERR(ERR_ARG, "top_p must be in (0, 1] (1 = off), got %s", v->s);
        p.top_p = (float)x;
        canon = xasprintf("set top_p %s", session_format_float(fb, sizeof fb, p.top_p));
    } else if (strcmp(key, "seed") == 0) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v->s, &end, 10);
        if (!v->len || *end || errno || v->s[0] == '-' || x > ULONG_MAX)
            return ERR(ERR_ARG, "seed must be a non-negative integer, got '%s'", v->s);
        p.seed = (unsigned long)x;
        reseed = 1;
        canon = xasprintf("set seed %lu", p.seed);
    } else {
        return ERR(ERR_ARG, "unknown setting '%s' (temperature, top_k, top_p, seed)", key);
    }
    if (s->gen) {
        rc = gen_set_params(s->gen, p);
        /* `set seed S` always restarts the stream, even when S is the current seed */
        if (rc == 0 && reseed) gen_reseed(s->gen);
        if (rc == 0 && gen_trace(s->gen)->n > 0) rc = gen_refilter(s->gen);
        if (rc < 0) {
            gen_set_params(s->gen, s->params);  /* back to what it was */
            free(canon);
            return rc;
        }
    }
    s->params = p;
    session_log(s, "%s", canon);
    session_printf(s, "%s\n", canon + 4);
    free(canon);
    if (s->json) print_settings(s);  /* the JSON result carries every setting */
    return 0;
}

static int cmd_reset(Session *s, const CmdArgs *a)
{
    int rc = need_model(s);
    if (rc < 0) return rc;
    Gen *g = NULL;
    if ((rc = new_gen(s, s->model, gen_trace(s->gen)->have_resid, &g)) < 0) return rc;
    gen_free(s->gen);
    s->gen = g;
    session_log(s, "reset");
    session_printf(s, "context cleared; sampler restarted from seed %lu\n", s->params.seed);
    return 0;
}

const char *const commands_save_kinds[] = { "session", NULL };

static int cmd_save(Session *s, const CmdArgs *a)
{
    if (strcmp(a->argv[0].s, "session") != 0)
        return ERR(ERR_ARG, "save: unknown kind '%s' (save session FILE)", a->argv[0].s);
    const char *path = a->argv[1].s;
    int rc = session_save(s, path);
    if (rc < 0) return rc;
    session_printf(s, "saved %d commands and the settings to %s\n", s->n_log, path);
    json_set(s, "path", json_string(path));
    json_set(s, "commands", json_integer(s->n_log));
    return 0;
}

static int cmd_quit(Session *s, const CmdArgs *a)
{
    s->quit = 1;
    return 0;
}

/* ---- the table ---- */

const Command commands_table[] = {
    { "help", "[CMD]", "list the commands, or explain one",
      "Without an argument, lists every command with its arguments.  help CMD shows the\n"
      "full description of CMD.",
      0, 1, 0, COMPLETE_COMMAND, cmd_help },
    { "load", "PATH [TOKENIZER]", "load a model (the current one stays if this fails)",
      "Loads a model from a safetensors file (Lectern's own, with config and tokenizer in\n"
      "its metadata) or a Hugging Face GPT-2 directory (config.json, model.safetensors,\n"
      "vocab.json, merges.txt).  TOKENIZER names the tokenizer directory or file when it is\n"
      "not beside the model (default: the --tokenizer option).  The context is cleared and\n"
      "the sampler restarts from its seed; the settings are kept.  If loading fails, the\n"
      "model loaded before stays loaded.\n"
      "  load ../shared/models/gpt2-tiny ../shared/tokenizers/gpt2",
      1, 2, 0, COMPLETE_FILE, cmd_load },
    { "info", "", "the model's configuration, parameter count, memory, threads and BLAS kernels",
      "Shows the loaded model's file and format, its configuration (layers, heads, widths,\n"
      "context length, vocabulary), the blocks it is made of, the attention kernel, the\n"
      "parameter count, the memory of weights, KV cache and the whole process, the sampler\n"
      "settings and the length of the context.",
      0, 0, 0, COMPLETE_NONE, cmd_info },
    { "prompt", "TEXT", "set the context to TEXT and show its tokens",
      "Replaces the context with the tokens of TEXT (the rest of the line), runs the model\n"
      "over them in one pass, and shows the tokens with their ids.  Escapes: \\n newline,\n"
      "\\t tab, \\r, \\0, \\\\ backslash, \\\" quote, \\; semicolon, \\xHH any byte, and a\n"
      "backslash before a space keeps it.  Blanks at the end are dropped; to keep them, or\n"
      "to start with a space, put the whole text in double quotes:  prompt \" Hello\\n\".\n"
      "An empty prompt (prompt \"\") starts from the end-of-text token.",
      0, 0, CMD_REST, COMPLETE_NONE, cmd_prompt },
    { "tokens", "", "show the context's tokens with ids",
      "Shows every token of the context with its id, position and the probability the\n"
      "model gave it; generated tokens are marked apart from the prompt.",
      0, 0, 0, COMPLETE_NONE, cmd_tokens },
    { "text", "", "print the context as text",
      "Prints the context decoded back to text: the prompt and everything generated.",
      0, 0, 0, COMPLETE_NONE, cmd_text },
    { "step", "[N]", "generate N tokens (default 1), showing each choice",
      "Generates N tokens one at a time.  For each it shows the chosen token and the top\n"
      "candidates with their probabilities (raw, and after temperature/top_k/top_p).\n"
      "Ctrl-C stops between tokens; the tokens made so far stay.",
      0, 1, 0, COMPLETE_NONE, cmd_step },
    { "gen", "N", "generate N tokens, streaming the text",
      "Generates N tokens with the current settings and prints their text as it comes.\n"
      "Ctrl-C stops between tokens; the tokens made so far stay in the context.",
      1, 1, 0, COMPLETE_NONE, cmd_gen },
    { "probs", "[K]", "the next-token distribution, top K (default 10)",
      "Shows the K most probable next tokens: the model's own probability beside the one\n"
      "after temperature, top_k and top_p; tokens the filters cut are marked as cut.",
      0, 1, 0, COMPLETE_NONE, cmd_probs },
    { "attn", "L H [OPTIONS]", "attention heatmap of layer L, head H",
      "Draws the attention weights of layer L, head H (both from 0) as a text heatmap with\n"
      "token labels: rows are queries, columns are keys.  Under a causal mask, a query sees\n"
      "only itself and earlier keys (· marks the rest); under a sparse pattern, ░ marks the\n"
      "keys the pattern leaves out, and a blank cell is a weight near zero.  The view options\n"
      "in force apply (view scale, view hide-first, view mass, view agg, view pool, view zoom,\n"
      "view scroll, view cursor), and these words after H override them for this command:\n"
      "  head | mean | max | rollout    one head, or the mean/max over the layer's heads, or\n"
      "                                 attention rollout through layers 0..L (H may be one too)\n"
      "  log | linear                   the colour scale (log shows 1e-4 .. 1)\n"
      "  hide-first | show-first        hide the first token and renormalise each row\n"
      "  mass P                         per row only the largest weights up to P of the mass\n"
      "  pool max | pool mean           how blocks are pooled when n exceeds the width\n"
      "  zoom N | zoom fit              N tokens per cell (a window of the matrix), or all\n"
      "  attn 0 1 log hide-first   attn 1 mean   attn 0 0 mass 0.9 zoom 1",
      2, 12, 0, COMPLETE_NONE, cmd_attn },
    { "lens", "[N]", "logit lens: the top token per layer at the last N positions",
      "The logit lens: applies the final norm and output head to the residual stream after\n"
      "every layer (0 = the embeddings) and shows the token each layer would predict, for\n"
      "the last N positions (default 8).  The first use records the residual streams, which\n"
      "reruns the context once.",
      0, 1, 0, COMPLETE_NONE, cmd_lens },
    { "back", "[N]", "rewind N tokens (default 1)",
      "Removes the last N tokens from the context (at least one stays).  The model's\n"
      "distribution at that point becomes the pending one again, so step or force can take\n"
      "a different branch from there.  On the screen, with the token strip scrubbed back to\n"
      "position P (arrows on the strip, or view step P), back drops P and everything after it\n"
      "(back N: N-1 more), and force, step and gen also branch at P; b is its key.",
      0, 1, 0, COMPLETE_NONE, cmd_back },
    { "force", "TOKEN", "append TOKEN as the next token yourself",
      "Appends TOKEN instead of sampling, and shows it beside the candidates the model\n"
      "would have chosen.  TOKEN is an id (force 262) or the exact text of one token,\n"
      "quoted when it has spaces or digits (force \" the\", force \"13\").  If the text is\n"
      "not one token, the error shows how it splits.  On the screen, with the token strip\n"
      "scrubbed back to position P, TOKEN replaces the token at P (the tokens after it are\n"
      "dropped); on the probabilities pane, arrows up/down pick a candidate and Enter forces it.",
      1, 1, 0, COMPLETE_NONE, cmd_force },
    { "set", "[KEY VALUE]", "show or change a sampler setting",
      "set temperature T   0 = greedy (argmax); otherwise logits are divided by T\n"
      "set top_k K         keep the K most probable tokens (0 = off)\n"
      "set top_p P         keep the smallest set with probability mass >= P (1 = off)\n"
      "set seed S          restart the random stream from seed S\n"
      "Without arguments, shows the settings.  They apply to the pending distribution at\n"
      "once and are kept across load and reset.",
      0, 2, 0, COMPLETE_SET_KEY, cmd_set },
    { "reset", "", "clear the context and restart the sampler from its seed",
      "Clears the context; the model and the settings stay, and the random stream starts\n"
      "again from the seed, so the same commands give the same tokens.",
      0, 0, 0, COMPLETE_NONE, cmd_reset },
    { "save", "session FILE", "write a script that replays this session",
      "save session FILE writes the settings the session started with, then every command\n"
      "that changed its state (load, prompt, step, gen, back, force, set, reset), as a\n"
      "script.  Running it (lectern FILE) rebuilds the same context, token for token.",
      2, 2, 0, COMPLETE_SAVE, cmd_save },
    { "view", "WHAT VALUE", "what the screen's panes show: layer, head, pane, options",
      "Every key of the workbench screen has this command twin, so lessons and scripts can\n"
      "drive the view:\n"
      "  view layer N | view head N        the attention pane's layer and head\n"
      "  view pane tokens|attn|probs|lens|output|model   give a pane focus\n"
      "  view model on|off                 all layers x heads as small heatmaps\n"
      "  view agg head|mean|max|rollout    one head, or an aggregate over heads/layers\n"
      "  view pool max|mean                how long sequences are pooled into blocks\n"
      "  view scale linear|log             the colour scale\n"
      "  view hide-first on|off            hide the first token and renormalise rows\n"
      "  view mass P                       per row, only the largest weights up to P of the mass\n"
      "  view zoom N|fit|in|out            N tokens per heatmap cell, scrolled; fit: all of it\n"
      "  view scroll Q K                   the zoomed window's top-left cell (query Q, key K)\n"
      "  view step N|latest                scrub the token strip back to step N (on the screen,\n"
      "                                    back, force, step and gen then branch from there)\n"
      "  view cand N|none                  highlight candidate N on the probabilities pane\n"
      "  view cursor Q K | view lock on|off | view ids on|off | view lens-layer N\n"
      "Settings given in plain or batch mode are kept for attn and for the screen.",
      1, 3, 0, COMPLETE_VIEW, screen_cmd_view },
    { "export", "WHAT ... FILE", "save a view as a figure (png svg pdf) or data (csv json)",
      "export attn L H FILE        attention of layer L, head H (or mean, max, rollout)\n"
      "export probs [K] FILE       the top K next tokens (default 10), model p and sampled p\n"
      "export model FILE           every layer and head as a grid of heatmaps\n"
      "export pattern [L] FILE     which keys each query may see in layer L\n"
      "The file type comes from the extension.  Figures have token labels, a colour bar and\n"
      "a title naming the model, prompt, layer, head and mask; CSV and JSON hold the exact\n"
      "numbers.  The view options (hide-first, mass, scale, step) apply.",
      2, 4, 0, COMPLETE_FILE, screen_cmd_export },
    { "presenter", "on|off", "projector mode: fewer panes, bigger cells and bars",
      "presenter on enlarges the screen's heatmap cells and bars and shows fewer panes, for\n"
      "a projector; presenter off returns to the full workbench.",
      1, 1, 0, COMPLETE_ONOFF, screen_cmd_presenter },
    { "pattern", "NAME [params] [layers L..M] | show [L] | off | reach POS | path A B",
      "swap a sparse attention pattern into the model, show it, follow it",
      "pattern NAME [params] [layers L..M] restricts which keys each query may see, in every\n"
      "layer or layers L..M, and re-runs the context so the views show it.  Patterns are built\n"
      "for the model's n_ctx positions, causal when the model is.  NAME and params:\n"
      "  full | window w=W | dilated w=W d=D | global g=I,J,... | random r=R [seed=S]\n"
      "  bigbird w=W [g=I,J,...] [r=R] [seed=S] | block b=B | longformer w=W [g=I,J,...]\n"
      "  deepspeed class=Fixed|Variable|BigBird|BSLongformer|LocalSlidingWindow|Dense [name=value]\n"
      "  lsh [buckets=B|AxB] [hashes=H] [chunk=C] [seed=S]\n"
      "A value a:b:c gives layer l the l-th entry (the last repeats): window w=2:4:8 grows the\n"
      "window with depth.  lsh (Reformer) hashes each position's key vector of that layer, as\n"
      "the model computes it on the current context, so it needs a context and is built for\n"
      "its tokens (later tokens use the plain mask until you give it again); chunk defaults to\n"
      "64, so on short texts give a smaller one (chunk=4).  A pattern replaces a kernel on\n"
      "the same layers.  If anything fails, the attention in force stays.\n"
      "  pattern              what each layer runs\n"
      "  pattern show [L]     layer L's 0/1 matrix over the context (rows = queries) with the\n"
      "                       count of active cells against n squared\n"
      "  pattern off [layers L..M]   back to every key the mask allows\n"
      "  pattern reach POS [layers K]   the inputs output POS can depend on after 1..K layers\n"
      "  pattern path A B     the shortest chain of attention hops from query A to key B\n"
      "Reach and path use the context's positions (n_ctx without a context).\n"
      "  pattern window w=4   pattern bigbird w=3 g=0 r=2 seed=7 layers 0..1",
      0, 64, 0, COMPLETE_PATTERN, cmd_pattern },
    { "kernel", "exact|linformer K|performer M|linear|synthesizer dense|random [seed=S] [layers L..M]",
      "swap an efficient-attention kernel into the model",
      "kernel NAME replaces softmax attention in every layer (or layers L..M) by a low-rank\n"
      "or kernel method, and re-runs the context:\n"
      "  linformer K           keys and values projected along the sequence to K rows (E, F\n"
      "                        drawn as fairseq initialises them; untrained)\n"
      "  performer M [iid] [eps=E]   FAVOR+ with M positive orthogonal random features\n"
      "  linear [eps=E]        the Linear Transformer's elu(x)+1 feature map\n"
      "  synthesizer dense [h=H] | synthesizer random   weights not from query-key products\n"
      "                        (untrained random weights: expect nonsense, that is the lesson)\n"
      "  exact                 softmax attention again (patterns stay)\n"
      "Random parameters come from seed 0 + layer, or seed=S for every layer.  The model runs\n"
      "a kernel through the attention weights it implies for each row, so the heatmap shows\n"
      "them.  A kernel replaces a pattern on the same layers.  kernel alone lists each layer.",
      0, 64, 0, COMPLETE_KERNEL, cmd_kernel },
    { "compare", "[TEXT]", "exact attention against the pattern/kernel in force: quality and cost",
      "Runs the context (or TEXT) twice, under exact softmax attention and under the patterns\n"
      "and kernels in force, and prints side by side: the next-token distributions (top 5,\n"
      "KL(exact || approx), top-10 overlap, also averaged over every position), the loss and\n"
      "perplexity over the text with per-token losses, the relative Frobenius error of the\n"
      "logits and of each layer's attention output (both attentions fed the exact run's input\n"
      "to that layer), and the cost per layer: score cells, FLOPs and working memory of each\n"
      "method, and the wall time of both runs.  The context is not changed.",
      0, 0, CMD_REST, COMPLETE_NONE, cmd_compare },
    { "svd", "L H", "singular values of layer L head H's attention matrix, effective rank",
      "Takes the attention matrix of layer L, head H over the context (as in force: exact,\n"
      "pattern or kernel), computes its singular values with GSL, and prints the largest and\n"
      "the effective rank: the fewest singular values holding 90% and 99% of the energy.\n"
      "A low rank is what Linformer's projections bet on.",
      2, 2, 0, COMPLETE_NONE, cmd_svd },
    { "train", "--data FILE|toyworld --config NAME --steps N --out PATH [...]",
      "train a GPT-2 on a text or the toy world: progress, losses, samples",
      "Trains a small GPT-2 with Lectern's own backpropagation and AdamW, as `lectern train`\n"
      "does: a progress bar (step, loss, tokens/s, ETA), the validation loss at intervals, a\n"
      "sample of the model's text every few evaluations so you can watch it improve, and at\n"
      "the end the loss curve as a text plot.  --data toyworld generates the toy-world stories\n"
      "(lectern corpus); without --tokenizer a BPE is first trained on the data.  The model\n"
      "loaded now stays loaded and keeps answering: training builds a model of its own and\n"
      "writes it to PATH, with its tokenizer inside.  Then `load PATH` uses it, or give --load\n"
      "to load it as soon as training ends.  Ctrl-C stops after the running step, saves the\n"
      "checkpoint (PATH.ckpt) and returns to the prompt; the same command with --resume goes\n"
      "on from it, step for step as if it had not stopped.\n"
      SUBCMD_TRAIN_OPTIONS "\n"
      "  --load             load the trained model into the session when training ends\n"
      "  train --data toyworld --stories 2000 --vocab 1024 --config small --steps 500 --out toy.safetensors --load",
      1, 128, 0, COMPLETE_TRAIN, cmd_train },
    { "lesson", "[NAME|list|next|prev|stop]", "play a lesson: narration, commands, pauses",
      "lesson NAME starts a lesson script (NAME: 01, generation or 01-generation, or a\n"
      "path to a .lesson file): it prints the narration and runs the commands, with their\n"
      "output.  At the prompt it stops at each pause: Enter on an empty line or lesson next\n"
      "goes on, lesson prev shows the part before again, lesson stop leaves.  In batch mode\n"
      "it runs straight through and checks every expect-... line in it, failing when one\n"
      "fails.  lesson list shows the lessons of the language (lesson lang L sets it: en,\n"
      "ru; by default from --lang, LC_ALL or LANG).  Lessons are looked up in ./lessons and\n"
      "beside the program; man lectern describes the file format.\n"
      "  lesson 01      lesson list      lesson lang ru      lesson lessons/en/03-sparse.lesson",
      0, 2, 0, COMPLETE_LESSON, cmd_lesson },
    { "quit", "", "leave lectern (Ctrl-D too)",
      "Leaves lectern.  The command history is kept for the next session.",
      0, 0, 0, COMPLETE_NONE, cmd_quit },
    { "exit", "", "leave lectern", "The same as quit.", 0, 0, CMD_ALIAS, COMPLETE_NONE, cmd_quit },
};

const int commands_count = (int)(sizeof commands_table / sizeof commands_table[0]);

const Command *commands_find(const char *name)
{
    for (int i = 0; i < commands_count; i++)
        if (strcmp(commands_table[i].name, name) == 0) return &commands_table[i];
    return NULL;
}
