/* subcmd — the one-shot subcommands for scripts and tests: logits, generate, tokenize,
 * attention, init.  Each prints plain numbers (or text) on stdout and a one-line error on
 * stderr, and exits 0 (ok), 1 (failed) or 2 (bad usage).
 *
 * Owns: option parsing and output formats of the subcommands.  Does not own the
 * computations: they are engine calls (model_load, model_forward, gen_*, tokenizer_*).
 * Output formats are fixed because tests compare them with the oracles in ../shared:
 * logits and attention print %.7g numbers separated by one space, one row per line.
 */
#include "repl/subcmd.h"
#include "repl/subcmd_attention.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/gen.h"
#include "engine/llama2c.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/sptok.h"
#include "engine/tokenizer.h"

const char subcmd_summary[] = "logits, generate, tokenize, attention, init, convert, pattern, kernel";

/* Every option any subcommand takes; each subcommand lists the ones it accepts. */
enum {
    OPT_MODEL = 'm', OPT_HELP = 'h', OPT_VERSION = 'V',
    OPT_TOKENIZER = 256, OPT_TOKENS, OPT_TEXT, OPT_PROMPT, OPT_STEPS, OPT_TEMPERATURE,
    OPT_TOP_K, OPT_TOP_P, OPT_SEED, OPT_STATS, OPT_IDS, OPT_LAYER, OPT_HEAD, OPT_OUT,
    OPT_COMPAT, OPT_FORMAT,
};

static const struct option all_options[] = {
    { "model", required_argument, NULL, OPT_MODEL },
    { "tokenizer", required_argument, NULL, OPT_TOKENIZER },
    { "tokens", required_argument, NULL, OPT_TOKENS },
    { "text", required_argument, NULL, OPT_TEXT },
    { "prompt", required_argument, NULL, OPT_PROMPT },
    { "steps", required_argument, NULL, OPT_STEPS },
    { "temperature", required_argument, NULL, OPT_TEMPERATURE },
    { "top-k", required_argument, NULL, OPT_TOP_K },
    { "top-p", required_argument, NULL, OPT_TOP_P },
    { "seed", required_argument, NULL, OPT_SEED },
    { "stats", no_argument, NULL, OPT_STATS },
    { "ids", no_argument, NULL, OPT_IDS },
    { "layer", required_argument, NULL, OPT_LAYER },
    { "head", required_argument, NULL, OPT_HEAD },
    { "out", required_argument, NULL, OPT_OUT },
    { "compat", required_argument, NULL, OPT_COMPAT },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

typedef struct {
    const char *model, *tokenizer, *tokens, *text, *prompt, *out, *format;
    int compat_llama2c;
    long steps, top_k, layer, head;
    double temperature, top_p;
    unsigned long seed;
    int have_steps, have_layer, have_head, stats, ids;
    int npos;
    char **pos;   /* positional arguments */
} Opts;

typedef struct {
    const char *name;
    const int *accepts;   /* option codes, 0-terminated (help/version/tokenizer always) */
    const char *usage;
    int (*run)(const Opts *o);
} Sub;

static const char *g_name;   /* the running subcommand, for messages */

static int fail(void)
{
    fprintf(stderr, "lectern %s: %s\n", g_name, *err_msg() ? err_msg() : err_name(err_code()));
    return 1;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "lectern %s: ", g_name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (lectern %s --help)\n", g_name);
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int need_model_opt(const Opts *o)
{
    if (!o->model) {
        usage_error("%s", "--model PATH is required");
        return -1;
    }
    return 0;
}

/* The context tokens from --tokens 1,2,3 or --text T.  *ids allocated. */
static int context_ids(const Opts *o, Model *m, int **ids, int *n)
{
    if (o->tokens) {
        size_t cap = 16, k = 0;
        int *v = xmalloc(cap * sizeof *v);
        const char *p = o->tokens;
        for (;;) {
            char *end;
            errno = 0;
            long x = strtol(p, &end, 10);
            if (end == p || errno || x < 0 || x >= m->cfg.vocab_size) {
                free(v);
                return ERR(ERR_ARG, "--tokens: '%s' is not a list of ids from 0 to %d separated by commas",
                           o->tokens, m->cfg.vocab_size - 1);
            }
            if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
            v[k++] = (int)x;
            p = end;
            while (*p == ' ') p++;
            if (!*p) break;
            if (*p != ',') {
                free(v);
                return ERR(ERR_ARG, "--tokens: unexpected '%c' in '%s'", *p, o->tokens);
            }
            p++;
        }
        if (k > (size_t)m->cfg.n_ctx) {
            free(v);
            return ERR(ERR_RANGE, "--tokens: %zu tokens, but the model's context is %d", k, m->cfg.n_ctx);
        }
        *ids = v;
        *n = (int)k;
        return 0;
    }
    if (!m->tok) return ERR(ERR_STATE, "%s: no tokenizer for --text (give --tokenizer PATH)", m->path);
    size_t k = 0;
    int rc = tokenizer_encode(m->tok, o->text, strlen(o->text), ids, &k);
    if (rc < 0) return rc;
    if (k == 0 || k > (size_t)m->cfg.n_ctx) {
        free(*ids);
        *ids = NULL;
        return ERR(ERR_RANGE, "--text gives %zu tokens; the model takes 1 to %d", k, m->cfg.n_ctx);
    }
    *n = (int)k;
    return 0;
}

static void print_row(const float *x, int n)
{
    for (int j = 0; j < n; j++) printf(j ? " %.7g" : "%.7g", (double)x[j]);
    putchar('\n');
}

/* ---- logits ---- */

static int need_context_opt(const Opts *o)
{
    if (!!o->tokens == !!o->text) {
        usage_error("%s", "give exactly one of --tokens 1,2,3 and --text T");
        return -1;
    }
    return 0;
}

static int run_logits(const Opts *o)
{
    if (need_model_opt(o) < 0 || need_context_opt(o) < 0) return 2;
    Model *m = NULL;
    if (model_load(&m, o->model, o->tokenizer) < 0) return fail();
    int *ids = NULL, n = 0, rc = context_ids(o, m, &ids, &n);
    if (rc < 0) {
        model_free(m);
        return fail();
    }
    const int V = m->cfg.vocab_size, Vp = m->cfg.padded_vocab;
    size_t cells;
    if (size_mul((size_t)n, (size_t)Vp, &cells) < 0 || cells > SIZE_MAX / sizeof(float)) {
        rc = ERR(ERR_RANGE, "%d positions of %d logits do not fit in memory", n, Vp);
    } else {
        RunState rs;
        rc = runstate_init(&rs, &m->cfg, n, n < 64 ? n : 64);
        if (rc == 0) {
            float *logits = xmalloc(cells * sizeof *logits);  /* (n, Vp) */
            rc = model_forward(m, &rs, ids, n, 0, logits, 1, NULL);
            if (rc == 0)
                for (int t = 0; t < n; t++) print_row(logits + (size_t)t * (size_t)Vp, V);
            free(logits);
            runstate_done(&rs);
        }
    }
    free(ids);
    model_free(m);
    if (rc < 0) return fail();
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- attention ---- */

static int run_attention(const Opts *o)
{
    if (need_model_opt(o) < 0 || need_context_opt(o) < 0) return 2;
    if (!o->have_layer || !o->have_head) return usage_error("%s", "--layer L and --head H are required");
    Model *m = NULL;
    if (model_load(&m, o->model, o->tokenizer) < 0) return fail();
    const ModelConfig *c = &m->cfg;
    int rc;
    if (o->layer >= c->n_layer || o->head >= c->n_head) {
        ERR(ERR_ARG, "layer %ld head %ld: the model has %d layers of %d heads (from 0)",
                 o->layer, o->head, c->n_layer, c->n_head);
        model_free(m);
        return fail();
    }
    int *ids = NULL, n = 0;
    rc = context_ids(o, m, &ids, &n);
    if (rc < 0) {
        model_free(m);
        return fail();
    }
    size_t cells = 0;
    if (size_mul((size_t)c->n_layer * (size_t)c->n_head, (size_t)n * (size_t)n, &cells) < 0 ||
        cells > SIZE_MAX / sizeof(float)) {
        rc = ERR(ERR_RANGE, "attention of %d positions does not fit in memory", n);
    } else {
        RunState rs;
        rc = runstate_init(&rs, c, n, n < 64 ? n : 64);
        if (rc == 0) {
            float *att = xcalloc(cells, sizeof *att);  /* (L, NH, n, n) */
            float *logits = xmalloc((size_t)c->padded_vocab * sizeof *logits);  /* last row only */
            Capture cap = { .attn = att, .resid = NULL };
            rc = model_forward(m, &rs, ids, n, 0, logits, 0, &cap);
            if (rc == 0) {
                int causal = !m->attn || m->attn[o->layer].mask == MASK_CAUSAL;
                const float *a = att + ((size_t)o->layer * (size_t)c->n_head + (size_t)o->head) *
                                       (size_t)n * (size_t)n;
                float *row = xmalloc((size_t)n * sizeof *row);
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++)
                        row[j] = (causal && j > i) ? 0.0f : a[(size_t)i * (size_t)n + (size_t)j];
                    print_row(row, n);
                }
                free(row);
            }
            free(logits);
            free(att);
            runstate_done(&rs);
        }
    }
    free(ids);
    model_free(m);
    if (rc < 0) return fail();
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- generate ---- */

static void print_bytes_raw(const char *b, size_t n) { fwrite(b, 1, n, stdout); }

/* --compat llama2c: run.c's own loop and printing (llama2c_generate).  Temperature 0 picks
 * the argmax as run.c does; otherwise Lectern's sampler draws (run.c's xorshift stream is
 * not reproduced, so only greedy output is byte-identical to run.c's). */
static int pick_sampled(const float *logits, int vocab, void *ctx)
{
    return sampler_sample(ctx, logits, vocab, NULL, NULL);
}

static void emit_stdout(const char *bytes, size_t len, void *ctx)
{
    (void)ctx;
    fwrite(bytes, 1, len, stdout);
    fflush(stdout);
}

static int run_generate_llama2c(const Opts *o)
{
    Model *m = NULL;
    if (model_load(&m, o->model, o->tokenizer) < 0) return fail();
    SamplerParams p = SAMPLER_DEFAULTS;
    p.temperature = (float)o->temperature;
    p.top_k = (int)o->top_k;
    p.top_p = (float)o->top_p;
    p.seed = o->seed;
    Sampler *smp = sampler_alloc(m->cfg.vocab_size, p);
    int rc = sampler_set(smp, p), passes = 0;
    double t0 = now_seconds();
    if (rc == 0)
        rc = llama2c_generate(m, o->prompt, strlen(o->prompt), (int)o->steps,
                              p.temperature == 0.0f ? NULL : pick_sampled, smp, emit_stdout, NULL,
                              &passes, NULL, NULL);
    double dt = now_seconds() - t0;
    if (rc == 0 && o->stats) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        /* run.c's own figure: forward passes after the first, per second */
        fprintf(stderr, "achieved tok/s: %f, %d forward passes in %.3f s, peak RSS %.0f MB\n",
                passes > 1 ? (passes - 1) / dt : 0.0, passes, dt, (double)ru.ru_maxrss / 1024.0);
    }
    sampler_free(smp);
    model_free(m);
    return rc < 0 ? fail() : 0;
}

static int run_generate(const Opts *o)
{
    if (need_model_opt(o) < 0) return 2;
    if (!o->have_steps) return usage_error("%s", "--steps N is required");
    if (o->compat_llama2c) {
        if (!o->prompt) return usage_error("%s", "--prompt TEXT is required");
        return run_generate_llama2c(o);
    }
    if (!o->prompt) return usage_error("%s", "--prompt TEXT is required (\"\" starts from end-of-text)");
    Model *m = NULL;
    if (model_load(&m, o->model, o->tokenizer) < 0) return fail();
    Gen *g = NULL;
    int rc = 0, *ids = NULL;
    size_t n = 0;
    SamplerParams p = SAMPLER_DEFAULTS;
    p.temperature = (float)o->temperature;
    p.top_k = (int)o->top_k;
    p.top_p = (float)o->top_p;
    p.seed = o->seed;
    if (!m->tok) {
        rc = ERR(ERR_STATE, "%s: no tokenizer (give --tokenizer PATH)", o->model);
        goto done;
    }
    if ((rc = gen_alloc(&g, m, 0, 0)) < 0 || (rc = gen_set_params(g, p)) < 0) goto done;
    if (*o->prompt) {
        if ((rc = tokenizer_encode(m->tok, o->prompt, strlen(o->prompt), &ids, &n)) < 0) goto done;
    }
    if (n == 0) {
        int eot = tokenizer_eot(m->tok);
        if (eot < 0) {
            rc = ERR(ERR_ARG, "empty prompt and no end-of-text token to start from");
            goto done;
        }
        free(ids);
        ids = xmalloc(sizeof *ids);
        ids[0] = eot;
        n = 1;
    }
    if (n > INT_MAX) {
        rc = ERR(ERR_RANGE, "prompt too long");
        goto done;
    }
    double t0 = now_seconds();
    if ((rc = gen_prompt(g, ids, (int)n)) < 0) goto done;
    double t1 = now_seconds();
    long made = 0;
    for (; made < o->steps; made++) {
        int tok;
        if ((rc = gen_step(g, -1, &tok)) < 0) break;
        if (o->ids) {
            printf(made ? " %d" : "%d", tok);
        } else {
            size_t len = 0;
            const char *b = tokenizer_token_bytes(m->tok, tok, &len);
            if (b) print_bytes_raw(b, len);
        }
    }
    double t2 = now_seconds();
    putchar('\n');
    fflush(stdout);
    if (o->stats) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double tp = t1 - t0, td = t2 - t1;
        fprintf(stderr, "prefill %zu tok %.3f s (%.*f tok/s), decode %ld tok %.*f s (%.*f tok/s), "
                        "peak RSS %.0f MB\n",
                n, tp, n / tp >= 1000 ? 0 : 1, tp > 0 ? (double)n / tp : 0.0,
                made, td < 1 ? 3 : 2, td, made / td >= 1000 ? 0 : 1,
                td > 0 ? (double)made / td : 0.0, (double)ru.ru_maxrss / 1024.0);
    }
done:
    free(ids);
    gen_free(g);
    model_free(m);
    return rc < 0 ? fail() : 0;
}

/* ---- tokenize ---- */

static int run_tokenize(const Opts *o)
{
    if (!o->model && !o->tokenizer)
        return usage_error("%s", "give --model PATH or --tokenizer PATH");
    Model *m = NULL;
    Tokenizer *own = NULL, *tok = NULL;
    if (o->model) {
        if (model_load(&m, o->model, o->tokenizer) < 0) return fail();
        tok = m->tok;
        if (!tok) {
            ERR(ERR_STATE, "%s: no tokenizer (give --tokenizer PATH)", o->model);
            model_free(m);
            return fail();
        }
    } else {
        if (model_load_tokenizer(&own, o->tokenizer) < 0) return fail();
        tok = own;
    }
    char *text = NULL;
    size_t len = 0;
    if (o->npos > 0) {
        /* Several words are one text, joined by spaces as the shell split them. */
        for (int i = 0; i < o->npos; i++) len += strlen(o->pos[i]) + (i > 0);
        text = xmalloc(len + 1);
        text[0] = 0;
        for (int i = 0; i < o->npos; i++) {
            if (i) strcat(text, " ");
            strcat(text, o->pos[i]);
        }
    } else {
        /* Raw bytes: NUL and invalid UTF-8 pass through to the tokenizer. */
        size_t cap = 1 << 16;
        text = xmalloc(cap);
        size_t r;
        while ((r = fread(text + len, 1, cap - len, stdin)) > 0) {
            len += r;
            if (len == cap) text = xrealloc(text, cap *= 2);
        }
    }
    int *ids = NULL;
    size_t n = 0;
    int rc;
    if (o->compat_llama2c) {
        /* run.c's encode(): BOS, the dummy-prefix space, merges by score */
        if (tokenizer_kind(tok) != TOK_LLAMA2C)
            rc = ERR(ERR_ARG, "--compat llama2c needs a llama2.c tokenizer.bin");
        else
            rc = sptok_encode_llama2c(tok, text, len, 1, 0, &ids, &n);
    } else {
        rc = tokenizer_encode(tok, text, len, &ids, &n);
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    free(ids);
    free(text);
    tokenizer_free(own);
    model_free(m);
    if (rc < 0) return fail();
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- init and convert ---- */

/* Writes m in the named format: safetensors (Lectern's, the default), llama2c (legacy,
 * version 0), llama2c-v1 (fp32 export) or llama2c-q8 (version 2, Q8_0). */
static int save_as(const Model *m, const char *format, const char *path)
{
    if (!format || strcmp(format, "safetensors") == 0) return model_save(m, path);
    if (strcmp(format, "llama2c") == 0) return llama2c_write(m, path, 0);
    if (strcmp(format, "llama2c-v1") == 0) return llama2c_write(m, path, 1);
    if (strcmp(format, "llama2c-q8") == 0) return llama2c_write(m, path, 2);
    return ERR(ERR_ARG, "unknown format '%s' (safetensors, llama2c, llama2c-v1, llama2c-q8)", format);
}

static int run_convert(const Opts *o)
{
    if (need_model_opt(o) < 0) return 2;
    if (!o->out) return usage_error("%s", "--out FILE is required");
    Model *m = NULL;
    if (model_load(&m, o->model, o->tokenizer) < 0) return fail();
    int rc = save_as(m, o->format, o->out);
    if (rc == 0)
        printf("%s: %s -> %s (%s), %zu parameters\n", o->out, m->format,
               o->format ? o->format : "safetensors", m->cfg.arch == ARCH_LLAMA ? "Llama" : "GPT-2",
               m->n_params);
    model_free(m);
    return rc < 0 ? fail() : 0;
}

static int run_init(const Opts *o)
{
    if (o->npos != 1) return usage_error("give one SHAPE (%s)", model_shape_names());
    if (!o->out) return usage_error("%s", "--out FILE is required");
    ModelConfig cfg;
    if (model_shape(o->pos[0], &cfg) < 0) return fail();
    /* With --tokenizer the file carries it in its metadata, so it is a whole model. */
    Tokenizer *tok = NULL;
    if (o->tokenizer && model_load_tokenizer(&tok, o->tokenizer) < 0) return fail();
    if (tok && tokenizer_vocab_size(tok) > cfg.vocab_size) {
        ERR(ERR_ARG, "%s: %d tokens, more than the %d of shape %s", o->tokenizer,
            tokenizer_vocab_size(tok), cfg.vocab_size, o->pos[0]);
        tokenizer_free(tok);
        return fail();
    }
    Model *m = NULL;
    if (model_random(&m, &cfg, o->seed) < 0) {
        tokenizer_free(tok);
        return fail();
    }
    m->tok = tok;
    int rc = save_as(m, o->format, o->out);
    if (rc == 0)
        printf("%s: %s, %zu parameters, seed %lu%s\n", o->out, o->pos[0], m->n_params, o->seed,
               tok ? "" : ", no tokenizer");
    model_free(m);
    return rc < 0 ? fail() : 0;
}

/* ---- dispatch ---- */

static const int acc_logits[] = { OPT_MODEL, OPT_TOKENS, OPT_TEXT, 0 };
static const int acc_generate[] = { OPT_MODEL, OPT_PROMPT, OPT_STEPS, OPT_TEMPERATURE, OPT_TOP_K,
                                    OPT_TOP_P, OPT_SEED, OPT_STATS, OPT_IDS, OPT_COMPAT, 0 };
static const int acc_tokenize[] = { OPT_MODEL, OPT_COMPAT, 0 };
static const int acc_convert[] = { OPT_MODEL, OPT_OUT, OPT_FORMAT, 0 };
static const int acc_attention[] = { OPT_MODEL, OPT_TOKENS, OPT_TEXT, OPT_LAYER, OPT_HEAD, 0 };
static const int acc_init[] = { OPT_OUT, OPT_SEED, OPT_FORMAT, 0 };  /* and --tokenizer, as everywhere */

static const Sub subs[] = {
    { "logits", acc_logits,
      "usage: lectern logits --model M (--tokens 1,2,3 | --text T) [--tokenizer PATH]\n"
      "Runs the model over the tokens and prints, for every position, one line of the V\n"
      "next-token logits (%.7g, space-separated).\n", run_logits },
    { "generate", acc_generate,
      "usage: lectern generate --model M --prompt T --steps N [--temperature T] [--top-k K]\n"
      "                        [--top-p P] [--seed S] [--stats] [--ids] [--tokenizer PATH]\n"
      "Generates N tokens after the prompt and prints their text (--ids: their ids).\n"
      "Defaults: temperature 1 (0 = greedy), top-k 0 (off), top-p 1 (off), seed 42.\n"
      "--stats prints prefill and decode speed and peak memory on stderr.\n"
      "--compat llama2c runs llama2.c run.c's loop and prints exactly what run.c prints\n"
      "(BOS + dummy-prefix encoding, --steps counts forward passes including the prompt,\n"
      "stops on BOS); byte-identical to run.c at --temperature 0.\n", run_generate },
    { "tokenize", acc_tokenize,
      "usage: lectern tokenize (--model M | --tokenizer PATH) [--compat llama2c] [TEXT...]\n"
      "Prints the token ids of TEXT, space-separated.  Without TEXT it reads stdin as raw\n"
      "bytes (NUL and invalid UTF-8 included).  --compat llama2c prints the ids run.c's\n"
      "encode() makes: BOS and the dummy-prefix space included.\n", run_tokenize },
    { "attention", acc_attention,
      "usage: lectern attention --model M (--tokens 1,2,3 | --text T) --layer L --head H\n"
      "                         [--tokenizer PATH]\n"
      "Prints the attention matrix of layer L, head H (from 0): row i holds query i's\n"
      "weights over keys 0..n-1 (%.7g; 0 where the mask hides a key).\n", run_attention },
    { "init", acc_init,
      "usage: lectern init SHAPE --out FILE [--seed S] [--tokenizer PATH] [--format F]\n"
      "Writes a randomly initialised model of the named shape (gpt2 = 124M, gpt2-tiny, ...;\n"
      "an unknown name lists them) to FILE as Lectern's safetensors, with the tokenizer in\n"
      "its metadata when --tokenizer is given.  The same seed writes the same weights.\n"
      "--format llama2c|llama2c-v1|llama2c-q8 writes a Llama shape (stories15M, ...) in\n"
      "llama2.c's legacy, version-1 or Q8_0 format instead.\n", run_init },
    { "convert", acc_convert,
      "usage: lectern convert --model M --out FILE [--format F] [--tokenizer PATH]\n"
      "Writes the model M (any format Lectern reads) as F: safetensors (Lectern's, default;\n"
      "config and tokenizer inside), llama2c (legacy), llama2c-v1 or llama2c-q8.\n", run_convert },
};

static const Sub *find_sub(const char *name)
{
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(subs[i].name, name) == 0) return &subs[i];
    return NULL;
}

int subcmd_is(const char *name)
{
    return name && (find_sub(name) != NULL || subcmd_attention_is(name));
}

static int accepts(const Sub *sub, int code)
{
    if (code == OPT_HELP || code == OPT_VERSION || code == OPT_TOKENIZER) return 1;
    for (const int *a = sub->accepts; *a; a++)
        if (*a == code) return 1;
    return 0;
}

static const char *opt_name(int code)
{
    for (const struct option *op = all_options; op->name; op++)
        if (op->val == code) return op->name;
    return "?";
}

int subcmd_run(int argc, char **argv)
{
    if (subcmd_attention_is(argv[0])) return subcmd_attention_run(argc, argv);
    const Sub *sub = find_sub(argv[0]);
    if (!sub) return 2;
    g_name = sub->name;
    Opts o = { .temperature = 1.0, .top_p = 1.0, .seed = 42 };
    o.pos = xcalloc((size_t)argc, sizeof *o.pos);
    int c, rc = -1;
    optind = 0;   /* glibc: full re-initialisation, so tests may run several subcommands */
    opterr = 0;
    while (rc < 0 && (c = getopt_long(argc, argv, "-:m:hV", all_options, NULL)) != -1) {
        if (c == 1) {  /* a positional argument, in order */
            o.pos[o.npos++] = optarg;
            continue;
        }
        if (c == '?' || c == ':') {
            rc = usage_error(c == ':' ? "%s needs a value" : "unknown option %s", argv[optind - 1]);
            break;
        }
        if (!accepts(sub, c)) {
            char *flag = xasprintf("--%s", opt_name(c));
            rc = usage_error("%s does not apply here", flag);
            free(flag);
            break;
        }
        long lv;
        switch (c) {
        case OPT_HELP: fputs(sub->usage, stdout); rc = 0; break;
        case OPT_VERSION: printf("lectern %s\n", LECTERN_VERSION); rc = 0; break;
        case OPT_MODEL: o.model = optarg; break;
        case OPT_TOKENIZER: o.tokenizer = optarg; break;
        case OPT_TOKENS: o.tokens = optarg; break;
        case OPT_TEXT: o.text = optarg; break;
        case OPT_PROMPT: o.prompt = optarg; break;
        case OPT_OUT: o.out = optarg; break;
        case OPT_FORMAT: o.format = optarg; break;
        case OPT_COMPAT:
            if (strcmp(optarg, "llama2c") != 0) rc = usage_error("--compat: '%s' (only llama2c)", optarg);
            o.compat_llama2c = 1;
            break;
        case OPT_STATS: o.stats = 1; break;
        case OPT_IDS: o.ids = 1; break;
        case OPT_STEPS:
            if (parse_long(optarg, 0, INT_MAX, &o.steps) < 0) rc = usage_error("--steps: '%s' is not a count", optarg);
            o.have_steps = 1;
            break;
        case OPT_TOP_K:
            if (parse_long(optarg, 0, INT_MAX, &o.top_k) < 0) rc = usage_error("--top-k: '%s' is not a count", optarg);
            break;
        case OPT_LAYER:
            if (parse_long(optarg, 0, INT_MAX, &o.layer) < 0) rc = usage_error("--layer: '%s' is not an index", optarg);
            o.have_layer = 1;
            break;
        case OPT_HEAD:
            if (parse_long(optarg, 0, INT_MAX, &o.head) < 0) rc = usage_error("--head: '%s' is not an index", optarg);
            o.have_head = 1;
            break;
        case OPT_TEMPERATURE:
            if (parse_double(optarg, &o.temperature) < 0 || o.temperature < 0)
                rc = usage_error("--temperature: '%s' is not a number >= 0", optarg);
            break;
        case OPT_TOP_P:
            if (parse_double(optarg, &o.top_p) < 0 || !(o.top_p > 0 && o.top_p <= 1))
                rc = usage_error("--top-p: '%s' is not in (0, 1]", optarg);
            break;
        case OPT_SEED:
            if (parse_long(optarg, 0, LONG_MAX, &lv) < 0) rc = usage_error("--seed: '%s' is not a seed", optarg);
            o.seed = (unsigned long)lv;
            break;
        default: rc = usage_error("unexpected option %s", argv[optind - 1]); break;
        }
    }
    if (rc < 0 && o.npos > 0 && sub->run != run_tokenize && sub->run != run_init)
        rc = usage_error("unexpected argument '%s'", o.pos[0]);
    if (rc < 0) {
        err_install_gsl_handler();
        err_clear();
        rc = sub->run(&o);
    }
    free(o.pos);
    return rc;
}
