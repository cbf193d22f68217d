/* subcmd_attention — `lectern pattern` and `lectern kernel`: one-shot commands that print an
 * attention pattern's 0/1 matrix, a DeepSpeed block layout, or a kernel method's output on
 * named matrices, in the formats of ../shared/oracles/attention so scripts can diff them.
 *
 * Owns: option parsing and output of these two subcommands.  The patterns come from
 * engine/pattern.c and engine/deepspeed.c, the kernels from engine/effattn_case.c.
 * Output: 0/1 matrices as rows of '0'/'1' characters (row = query, column = key); kernel
 * outputs as rows of %.9g numbers separated by one space (float32 carries ~7 digits, so
 * %.9g prints each float exactly).
 */
#include "repl/subcmd_attention.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/deepspeed.h"
#include "engine/effattn.h"
#include "engine/effattn_case.h"
#include "engine/err.h"
#include "engine/pattern.h"

enum {
    SA_N = 256, SA_CAUSAL, SA_SEED, SA_CLASS, SA_SEQ_LEN, SA_HEAD, SA_WINDOW, SA_GLOBAL,
    SA_TOKENS, SA_IN, SA_CASE, SA_HELP,
};

static const struct option sa_options[] = {
    { "n", required_argument, NULL, SA_N },
    { "causal", no_argument, NULL, SA_CAUSAL },
    { "seed", required_argument, NULL, SA_SEED },
    { "class", required_argument, NULL, SA_CLASS },
    { "seq-len", required_argument, NULL, SA_SEQ_LEN },
    { "head", required_argument, NULL, SA_HEAD },
    { "window", required_argument, NULL, SA_WINDOW },
    { "global", required_argument, NULL, SA_GLOBAL },
    { "tokens", no_argument, NULL, SA_TOKENS },
    { "in", required_argument, NULL, SA_IN },
    { "case", required_argument, NULL, SA_CASE },
    { "help", no_argument, NULL, SA_HELP },
    { NULL, 0, NULL, 0 },
};

static const char pattern_usage[] =
    "usage: lectern pattern NAME --n N [--causal] [--seed S] [name=value ...]\n"
    "       lectern pattern deepspeed --class CLASS --seq-len N [--head H] [--seed S]\n"
    "                                 [--tokens [--causal]] [name=value ...]\n"
    "       lectern pattern longformer --n N --window W [--global I,J,...] [--causal]\n"
    "Prints the token-level 0/1 matrix of a pattern for N positions: one line per query,\n"
    "one character per key, 1 = may attend.  NAME and its parameters (as in the REPL's\n"
    "pattern command, per-layer lists take the first value):\n"
    "  full | window w=W | dilated w=W d=D | global g=I,J,... | random r=R\n"
    "  bigbird w=W [g=I,J,...] [r=R] | block b=B | longformer w=W [g=I,J,...]\n"
    "Bidirectional unless --causal.  Random choices use --seed (default 0) or seed=S.\n"
    "deepspeed prints the (seq_len/block)^2 block layout of DeepSpeed's sparsity_config.py\n"
    "for CLASS = Dense|Fixed|Variable|BigBird|BSLongformer|LocalSlidingWindow, with\n"
    "DeepSpeed's parameter names and defaults (block=16 num_local_blocks=4\n"
    "num_global_blocks=1 num_random_blocks=... attention=bidirectional|unidirectional\n"
    "horizontal_global_attention=True local_window_blocks=[4] global_block_indices=[0]\n"
    "global_block_end_indices=[...] num_sliding_window_blocks=3 num_heads=1\n"
    "different_layout_per_head=False ...); --head H picks a head's layout, --tokens prints\n"
    "the token-level mask instead (with DeepSpeed's missing causal mask added by --causal).\n"
    "longformer prints HF Longformer's mask: |i-j| <= W/2 (W even), plus global rows and\n"
    "columns for the --global positions.  lsh needs a model's vectors: use the REPL.\n";

static const char kernel_usage[] =
    "usage: lectern kernel METHOD --in FILE --case NAME\n"
    "Reads case NAME's matrices (Q, K, V and W, E, F where METHOD needs them) from FILE, in\n"
    "the format of ../shared/oracles/attention/kernel_attention_small.txt, and prints\n"
    "METHOD's output matrix, one row per line, %.9g numbers separated by one space.\n"
    "METHOD is one of: ";

int subcmd_attention_is(const char *name)
{
    return name && (!strcmp(name, "pattern") || !strcmp(name, "kernel"));
}

typedef struct {
    const char *name;
    long n, seq_len, head, window;
    unsigned long seed;
    int causal, tokens, have_n, have_seq_len, have_window;
    const char *cls, *global, *in, *case_name;
    int npos;
    char **pos;
} SaOpts;

static const char *g_sub;

static int sa_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "lectern %s: ", g_sub);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (lectern %s --help)\n", g_sub);
    return 2;
}

static int sa_fail(void)
{
    fprintf(stderr, "lectern %s: %s\n", g_sub, *err_msg() ? err_msg() : err_name(err_code()));
    return 1;
}

static int sa_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int print_matrix(const unsigned char *m, int rows, int cols)
{
    char *txt = pattern_matrix_text(m, rows, cols);
    fputs(txt, stdout);
    free(txt);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static int print_pattern(const Pattern *p)
{
    size_t cells;
    if (size_mul((size_t)p->n, (size_t)p->n, &cells))
        return ERR(ERR_ARG, "n=%d: the dense matrix does not fit in memory", p->n), sa_fail();
    unsigned char *d = xmalloc(cells);
    pattern_dense(p, d);
    int rc = print_matrix(d, p->n, p->n);
    free(d);
    return rc;
}

/* name=value words joined by spaces (NULL-free; "" for none). */
static char *join_pos(const SaOpts *o, int from)
{
    char *s = xstrdup("");
    for (int i = from; i < o->npos; i++) {
        char *t = xasprintf("%s%s%s", s, *s ? " " : "", o->pos[i]);
        free(s);
        s = t;
    }
    return s;
}

/* "0,5,9" -> positions; -1 when malformed. */
static int parse_global(const char *v, int **pos)
{
    int k = 0, cap = 4;
    *pos = xmalloc(sizeof(int) * (size_t)cap);
    const char *p = v;
    for (;;) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        char *w = xstrndup(p, (size_t)(e - p));
        long x;
        int bad = sa_long(w, 0, INT_MAX, &x);
        free(w);
        if (bad) {
            free(*pos);
            *pos = NULL;
            return -1;
        }
        if (k == cap) *pos = xrealloc(*pos, sizeof(int) * (size_t)(cap *= 2));
        (*pos)[k++] = (int)x;
        if (!*e) return k;
        p = e + 1;
    }
}

static int run_deepspeed(const SaOpts *o)
{
    if (!o->cls) return sa_usage("%s needs --class (Dense, Fixed, Variable, BigBird, BSLongformer, "
                                 "LocalSlidingWindow)", "deepspeed");
    long seq = o->have_seq_len ? o->seq_len : o->n;
    if (!o->have_seq_len && !o->have_n) return sa_usage("%s needs --seq-len N", "deepspeed");
    char *params = join_pos(o, 1);
    DeepspeedConfig c;
    int rc = deepspeed_config_parse(&c, o->cls, params);
    free(params);
    if (rc) return sa_fail();
    unsigned char *layout = NULL;
    int nb = 0;
    rc = deepspeed_layout(&c, (int)seq, (int)o->head, o->seed, &layout, &nb);
    int status;
    if (rc) {
        status = sa_fail();
    } else if (!o->tokens) {
        status = print_matrix(layout, nb, nb);
    } else {
        Pattern *p = NULL;
        rc = pattern_alloc_layout(&p, layout, nb, c.block, o->causal, NULL);
        status = rc ? sa_fail() : print_pattern(p);
        pattern_free(p);
    }
    free(layout);
    deepspeed_config_done(&c);
    return status;
}

static int run_longformer(const SaOpts *o)
{
    if (!o->have_n) return sa_usage("%s needs --n N", "longformer");
    if (o->npos > 1) return sa_usage("unexpected argument '%s' (with --window, give --global)", o->pos[1]);
    int *pos = NULL, ng = 0;
    if (o->global && (ng = parse_global(o->global, &pos)) < 0)
        return sa_usage("--global: '%s' is not a list of positions like 0,5,9", o->global);
    Pattern *p = NULL;
    int rc = pattern_alloc_longformer(&p, (int)o->n, (int)o->window, pos, ng, o->causal);
    free(pos);
    int status = rc ? sa_fail() : print_pattern(p);
    pattern_free(p);
    return status;
}

static int run_pattern(const SaOpts *o)
{
    if (o->npos == 0) return sa_usage("%s", "needs a pattern NAME");
    const char *name = o->pos[0];
    if (!strcasecmp(name, "deepspeed") && (o->cls || o->have_seq_len)) return run_deepspeed(o);
    if (o->cls || o->have_seq_len || o->head || o->tokens)
        return sa_usage("%s: --class, --seq-len, --head and --tokens are for deepspeed", name);
    if (!strcasecmp(name, "longformer") && o->have_window) return run_longformer(o);
    if (o->have_window || o->global)
        return sa_usage("%s: --window and --global are for longformer (give w=, g=)", name);
    if (!o->have_n) return sa_usage("%s needs --n N", name);
    char *text = join_pos(o, 0);
    Pattern *p = NULL;
    int rc = pattern_parse(text, (int)o->n, o->causal, o->seed, &p);
    free(text);
    if (rc) return sa_fail();
    int status = print_pattern(p);
    pattern_free(p);
    return status;
}

static int run_kernel(const SaOpts *o)
{
    if (o->npos != 1) return sa_usage("%s", o->npos ? "give one METHOD" : "needs a METHOD");
    if (!o->in || !o->case_name) return sa_usage("%s needs --in FILE and --case NAME", o->pos[0]);
    if (o->have_n || o->causal || o->cls || o->have_seq_len || o->have_window || o->global || o->tokens)
        return sa_usage("%s takes only --in and --case", o->pos[0]);
    EffattnCase *c = NULL;
    if (effattn_case_load(o->in, o->case_name, &c)) return sa_fail();
    float *out = NULL;
    int rows = 0, cols = 0, status;
    if (effattn_case_run(c, o->pos[0], &out, &rows, &cols)) {
        status = sa_fail();
    } else {
        char *txt = effattn_case_matrix_text(out, rows, cols);
        fputs(txt, stdout);
        free(txt);
        status = fflush(stdout) == 0 ? 0 : 1;
    }
    free(out);
    effattn_case_free(c);
    return status;
}

int subcmd_attention_run(int argc, char **argv)
{
    g_sub = argv[0];
    const int is_kernel = !strcmp(argv[0], "kernel");
    SaOpts o = { .name = argv[0] };
    o.pos = xcalloc((size_t)argc, sizeof *o.pos);
    int c, rc = -1;
    long v;
    optind = 0;
    opterr = 0;
    while (rc < 0 && (c = getopt_long(argc, argv, "-:h", sa_options, NULL)) != -1) {
        const int takes_kernel = c == SA_IN || c == SA_CASE || c == SA_HELP || c == 'h' || c == 1;
        if (c != '?' && c != ':' && is_kernel && !takes_kernel) {
            const char *nm = "?";
            for (const struct option *op = sa_options; op->name; op++)
                if (op->val == c) nm = op->name;
            char *flag = xasprintf("--%s", nm);
            rc = sa_usage("%s does not apply here", flag);
            free(flag);
            break;
        }
        switch (c) {
        case 1: o.pos[o.npos++] = optarg; break;
        case 'h':
        case SA_HELP:
            fputs(is_kernel ? kernel_usage : pattern_usage, stdout);
            if (is_kernel) printf("%s\n", effattn_case_methods());
            rc = 0;
            break;
        case SA_N:
            if (sa_long(optarg, 1, INT_MAX, &o.n)) rc = sa_usage("--n: '%s' is not a length >= 1", optarg);
            o.have_n = 1;
            break;
        case SA_SEQ_LEN:
            if (sa_long(optarg, 1, INT_MAX, &o.seq_len)) rc = sa_usage("--seq-len: '%s' is not a length >= 1", optarg);
            o.have_seq_len = 1;
            break;
        case SA_HEAD:
            if (sa_long(optarg, 0, INT_MAX, &o.head)) rc = sa_usage("--head: '%s' is not a head index", optarg);
            break;
        case SA_WINDOW:
            if (sa_long(optarg, 1, INT_MAX, &o.window)) rc = sa_usage("--window: '%s' is not a window >= 1", optarg);
            o.have_window = 1;
            break;
        case SA_SEED:
            if (sa_long(optarg, 0, LONG_MAX, &v)) rc = sa_usage("--seed: '%s' is not a seed", optarg);
            o.seed = (unsigned long)v;
            break;
        case SA_CAUSAL: o.causal = 1; break;
        case SA_TOKENS: o.tokens = 1; break;
        case SA_CLASS: o.cls = optarg; break;
        case SA_GLOBAL: o.global = optarg; break;
        case SA_IN: o.in = optarg; break;
        case SA_CASE: o.case_name = optarg; break;
        case ':': rc = sa_usage("%s needs a value", argv[optind - 1]); break;
        default: rc = sa_usage("unknown option %s", argv[optind - 1]); break;
        }
    }
    if (rc < 0) {
        err_install_gsl_handler();
        err_clear();
        rc = is_kernel ? run_kernel(&o) : run_pattern(&o);
    }
    free(o.pos);
    return rc;
}
