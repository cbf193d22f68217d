/* subcmd_train — `lectern loss | train | tokenizer train | corpus`: option parsing, the
 * training loop's progress display, checkpoints on Ctrl-C, samples and the loss plot.
 *
 * Owns: the command lines and what they print.  Does not own: the computations (engine:
 * train.h, bpe_train.h, corpus.h) or the plot drawing (viz/lossplot.h).
 * Output formats: `loss` prints "loss <x>" and "grad_norm <HF key> <x>" lines with 9
 * significant digits, the same form as ../shared/oracles/gpt2-tiny/loss_grad_*.txt, so a
 * script can compare them line by line.
 */
#include "repl/subcmd_train.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/bpe_train.h"
#include "engine/corpus.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/model_io.h"
#include "engine/probe.h"
#include "engine/tokenizer.h"
#include "engine/train.h"
#include "viz/lossplot.h"

const char subcmd_train_summary[] =
    "  loss --model M --tokens IDS [--grad]        mean cross-entropy (and gradient norms)\n"
    "  train --data FILE|toyworld --config NAME --steps N --out PATH [--resume]\n"
    "  tokenizer train --data FILE --vocab N --out DIR\n"
    "  corpus [--seed S] [--lang en|ru|both] [--task NAME] [--count N]\n"
    "  coref --model M [--lang en|ru|both] [--count N] [--seed S]   heads that follow pronouns\n";

static const char *g_name;

static int fail(void)
{
    fprintf(stderr, "lectern %s: %s\n", g_name, *err_msg() ? err_msg() : err_name(err_code()));
    return 1;
}

static int usage(const char *text)
{
    fprintf(stderr, "usage: lectern %s\n", text);
    return 2;
}

static int bad_value(const char *opt, const char *val)
{
    fprintf(stderr, "lectern %s: bad value '%s' for --%s (lectern %s --help)\n", g_name, val, opt, g_name);
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

static int parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) return -1;
    *out = (float)v;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { ERR(ERR_IO, "%s: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) { cap *= 2; buf = xrealloc(buf, cap + 1); }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); ERR(ERR_IO, "%s: read failed", path); return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* "1, 2 3" or "@file" (a file of ids; lines starting with '#' are comments). */
static int parse_ids(const char *spec, int **ids, int *n)
{
    char *owned = NULL;
    const char *s = spec;
    if (spec[0] == '@') {
        size_t len;
        owned = read_all(spec + 1, &len);
        if (!owned) return err_code();
        s = owned;
    }
    int cap = 64, k = 0;
    int *v = xmalloc(sizeof(int) * (size_t)cap);
    int rc = 0;
    const char *p = s;
    while (*p) {
        if (*p == '#') { while (*p && *p != '\n') p++; continue; }
        if (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') { p++; continue; }
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > 1 << 30) {
            rc = ERR(ERR_ARG, "token ids: '%.20s' is not a token id", p);
            break;
        }
        if (k == cap) { cap *= 2; v = xrealloc(v, sizeof(int) * (size_t)cap); }
        v[k++] = (int)x;
        p = end;
    }
    free(owned);
    if (rc) { free(v); return rc; }
    *ids = v;
    *n = k;
    return 0;
}

/* ---- lectern loss ------------------------------------------------------------------- */

static int cmd_loss(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"tokens", required_argument, NULL, 'k'},
        {"text", required_argument, NULL, 'x'}, {"tokenizer", required_argument, NULL, 't'},
        {"grad", no_argument, NULL, 'g'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *use = "loss --model M (--tokens IDS | --text TEXT) [--grad] [--tokenizer T]\n"
                      "  IDS: numbers separated by commas or spaces, or @FILE";
    const char *model = NULL, *tokens = NULL, *text = NULL, *tokp = NULL;
    int grad = 0, c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'k': tokens = optarg; break;
        case 'x': text = optarg; break;
        case 't': tokp = optarg; break;
        case 'g': grad = 1; break;
        case 'h': printf("usage: lectern %s\n", use); return 0;
        default: return usage(use);
        }
    }
    if (!model || (!tokens == !text) || optind < argc) return usage(use);
    Model *m;
    if (model_load(&m, model, tokp)) return fail();
    int *ids = NULL, n = 0, rc = 0;
    if (tokens) {
        rc = parse_ids(tokens, &ids, &n);
    } else if (!m->tok) {
        rc = ERR(ERR_STATE, "%s: the model has no tokenizer; give --tokens or --tokenizer", model);
    } else {
        size_t sn;
        rc = tokenizer_encode(m->tok, text, strlen(text), &ids, &sn);
        n = (int)sn;
    }
    float loss = 0;
    TrainGradNorms g = {0};
    if (!rc) rc = train_loss(m, ids, n, &loss, grad ? &g : NULL);
    if (!rc) {
        printf("loss %.9g\n", (double)loss);
        for (int i = 0; i < g.n; i++) printf("grad_norm %s %.9g\n", g.names[i], g.norms[i]);
    }
    train_grad_norms_done(&g);
    free(ids);
    model_free(m);
    return rc ? fail() : 0;
}

/* ---- lectern corpus ----------------------------------------------------------------- */

static int cmd_corpus(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'}, {"lang", required_argument, NULL, 'l'},
        {"task", required_argument, NULL, 'k'}, {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *use = "corpus [--seed S] [--lang en|ru|both] [--task NAME] [--count N]\n"
                      "  tasks: stories (default), sentiment, topics, nli, paraphrase, translate";
    long seed = 1, count = 100;
    CorpusLang lang = CORPUS_BOTH;
    CorpusTask task = CORPUS_STORIES;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': if (parse_long(optarg, 0, 0x7fffffffL, &seed)) return bad_value("seed", optarg); break;
        case 'n': if (parse_long(optarg, 1, 10000000L, &count)) return bad_value("count", optarg); break;
        case 'l': if (corpus_lang_from_name(optarg, &lang)) return bad_value("lang", optarg); break;
        case 'k': if (corpus_task_from_name(optarg, &task)) { fprintf(stderr, "lectern corpus: %s\n", err_msg()); return 2; } break;
        case 'h': printf("usage: lectern %s\n", use); return 0;
        default: return usage(use);
        }
    }
    if (optind < argc) return usage(use);
    char *text;
    size_t len;
    if (corpus_generate((unsigned long)seed, lang, task, (int)count, &text, &len)) return fail();
    int bad = fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0;
    free(text);
    if (bad) return ERR(ERR_IO, "stdout: write failed"), fail();
    return 0;
}

/* ---- lectern tokenizer train -------------------------------------------------------- */

static int cmd_tokenizer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'}, {"vocab", required_argument, NULL, 'v'},
        {"out", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *use = "tokenizer train --data FILE --vocab N --out DIR";
    if (argc < 2 || strcmp(argv[1], "train") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            printf("usage: lectern %s\n", use);
            return 0;
        }
        return usage(use);
    }
    const char *data = NULL, *out = NULL;
    long vocab = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'v': if (parse_long(optarg, 258, 1 << 20, &vocab)) return bad_value("vocab", optarg); break;
        case 'h': printf("usage: lectern %s\n", use); return 0;
        default: return usage(use);
        }
    }
    if (!data || !out || !vocab || optind < argc - 1) return usage(use);
    BpeTrainResult r;
    if (bpe_train_files(data, (int)vocab, out, &r)) return fail();
    printf("tokenizer: %d tokens (256 bytes, %d merges, <|endoftext|>) -> %s/vocab.json, %s/merges.txt\n",
           r.vocab_size, r.n_merges, out, out);
    bpe_train_result_done(&r);
    return 0;
}

/* ---- lectern train (and the REPL's train) ------------------------------------------- */

static volatile sig_atomic_t g_interrupt;
static void on_sigint(int sig) { (void)sig; g_interrupt = 1; }

typedef struct {
    const char *name;
    int L, C, NH, T;
} Preset;

/* Small GPT-2 shapes for the toy world; vocabulary size comes from the tokenizer. */
static const Preset PRESETS[] = {
    {"tiny", 2, 64, 4, 64},
    {"small", 4, 128, 4, 128},
    {"default", 4, 192, 6, 256},
    {"medium", 6, 256, 8, 256},
};

static int config_for(const char *name, int vocab, ModelConfig *c)
{
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (strcmp(PRESETS[i].name, name) == 0) {
            *c = model_config_default(ARCH_GPT2);
            c->n_layer = PRESETS[i].L; c->n_embd = PRESETS[i].C; c->n_head = PRESETS[i].NH;
            c->n_kv_head = PRESETS[i].NH; c->n_ctx = PRESETS[i].T; c->n_hidden = 4 * PRESETS[i].C;
            c->vocab_size = vocab;
            c->padded_vocab = (vocab + 63) / 64 * 64;
            return 0;
        }
    if (model_shape(name, c)) return ERR(ERR_ARG, "unknown config '%s' (tiny, small, default, medium, or a shape: %s)",
                                         name, model_shape_names());
    if (c->arch != ARCH_GPT2) return ERR(ERR_UNSUPPORTED, "config '%s' is not GPT-2; only GPT-2 trains", name);
    c->vocab_size = vocab;
    c->padded_vocab = (vocab + 63) / 64 * 64;
    return 0;
}

/* Documents are separated by blank lines; each is encoded and followed by the end-of-text
 * token (when the tokenizer has one), so a model learns where stories end. */
static int tokenize_docs(Tokenizer *tok, const char *text, size_t len, int **out, size_t *n_out)
{
    size_t cap = len / 2 + 16, n = 0;
    int *all = xmalloc(sizeof(int) * cap);
    const int eot = tokenizer_eot(tok);
    size_t i = 0;
    while (i < len) {
        while (i < len && (text[i] == '\n' || text[i] == '\r')) i++;
        if (i >= len) break;
        size_t j = i;
        while (j < len && !(text[j] == '\n' && j + 1 < len && text[j + 1] == '\n')) j++;
        size_t end = j;
        while (end > i && (text[end - 1] == '\n' || text[end - 1] == '\r')) end--;
        int *ids;
        size_t k;
        int rc = tokenizer_encode(tok, text + i, end - i, &ids, &k);
        if (rc) { free(all); return rc; }
        if (n + k + 1 > cap) { cap = 2 * (n + k + 1); all = xrealloc(all, sizeof(int) * cap); }
        memcpy(all + n, ids, sizeof(int) * k);
        n += k;
        free(ids);
        if (eot >= 0) all[n++] = eot;
        i = j;
    }
    *out = all;
    *n_out = n;
    return 0;
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) { snprintf(buf, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void print_sample(FILE *log, Trainer *tr, const int *prompt, int np, int n_new, unsigned long seed)
{
    Model *m = trainer_model(tr);
    if (np + n_new > m->cfg.n_ctx) n_new = m->cfg.n_ctx - np;
    if (n_new <= 0 || !m->tok) return;
    int *out = xmalloc(sizeof(int) * (size_t)(np + n_new));
    if (trainer_sample(tr, prompt, np, n_new, 0.8f, seed, out) == 0) {
        /* stop at the end of the story */
        int k = np + n_new;
        for (int i = np; i < k; i++) if (out[i] == tokenizer_eot(m->tok)) { k = i; break; }
        size_t len;
        char *s = tokenizer_decode(m->tok, out, (size_t)k, &len);
        for (size_t i = 0; s && i < len; i++) if (s[i] == '\n' || s[i] == '\r') s[i] = ' ';
        fprintf(log, "  sample: %s\n", s ? s : "");
        free(s);
    }
    free(out);
}

static void show_plot(FILE *log, Trainer *tr, const char *png)
{
    int n;
    const TrainPoint *h = trainer_history(tr, &n);
    if (n < 2) return;
    long *step = xmalloc(sizeof(long) * (size_t)n);
    float *tl = xmalloc(sizeof(float) * (size_t)n), *vl = xmalloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) { step[i] = h[i].step; tl[i] = h[i].train; vl[i] = h[i].val; }
    LossCurve c = {step, tl, vl, n};
    char *txt = lossplot_text(&c, 72, 16);
    if (txt) fprintf(log, "%s", txt);
    free(txt);
    if (png) {
        if (lossplot_png(&c, png, 800, 480)) fprintf(log, "plot: %s\n", err_msg());
        else fprintf(log, "loss curve -> %s\n", png);
    }
    free(step); free(tl); free(vl);
}

const char subcmd_train_usage[] =
    "train --data FILE|toyworld --config NAME --steps N --out PATH [options]\n" SUBCMD_TRAIN_OPTIONS;

void subcmd_train_result_done(SubcmdTrainResult *r)
{
    if (!r) return;
    free(r->out);
    free(r->checkpoint);
    r->out = r->checkpoint = NULL;
}

/* A usage error: one line, with where to read more; the caller reports it (exit 2). */
static int train_usage_error(SubcmdTrainResult *r, const char *hint, const char *fmt, const char *a, const char *b)
{
    r->usage = 1;
    char *msg = xasprintf(fmt, a, b);
    int rc = ERR(ERR_ARG, "%s (%s)", msg, hint);
    free(msg);
    return rc;
}

int subcmd_train_train(int argc, char **argv, const SubcmdTrainIO *io, SubcmdTrainResult *r)
{
    enum { O_DATA = 256, O_CONFIG, O_STEPS, O_OUT, O_RESUME, O_TOKENIZER, O_MODEL, O_BATCH, O_SEQ,
           O_ACCUM, O_LR, O_WARMUP, O_EVAL, O_SAMPLE, O_SAVE, O_PLOT, O_SEED, O_VOCAB, O_STORIES,
           O_PROMPT, O_CKPT, O_LOG, O_WD, O_STOP, O_THREADS, O_LOAD };
    static const struct option opts[] = {
        {"data", required_argument, NULL, O_DATA}, {"config", required_argument, NULL, O_CONFIG},
        {"steps", required_argument, NULL, O_STEPS}, {"out", required_argument, NULL, O_OUT},
        {"resume", no_argument, NULL, O_RESUME}, {"tokenizer", required_argument, NULL, O_TOKENIZER},
        {"model", required_argument, NULL, O_MODEL}, {"batch", required_argument, NULL, O_BATCH},
        {"seq", required_argument, NULL, O_SEQ}, {"accum", required_argument, NULL, O_ACCUM},
        {"lr", required_argument, NULL, O_LR}, {"warmup", required_argument, NULL, O_WARMUP},
        {"eval-every", required_argument, NULL, O_EVAL}, {"sample-every", required_argument, NULL, O_SAMPLE},
        {"save-every", required_argument, NULL, O_SAVE}, {"plot", required_argument, NULL, O_PLOT},
        {"seed", required_argument, NULL, O_SEED}, {"vocab", required_argument, NULL, O_VOCAB},
        {"stories", required_argument, NULL, O_STORIES}, {"prompt", required_argument, NULL, O_PROMPT},
        {"checkpoint", required_argument, NULL, O_CKPT}, {"log-every", required_argument, NULL, O_LOG},
        {"weight-decay", required_argument, NULL, O_WD}, {"stop-at", required_argument, NULL, O_STOP},
        {"threads", required_argument, NULL, O_THREADS}, {"load", no_argument, NULL, O_LOAD},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    memset(r, 0, sizeof *r);
    r->first_loss = r->last_loss = r->val_loss = NAN;
    FILE *log = io->log;
    const char *hint = io->hint ? io->hint : "lectern train --help";
    const char *data = NULL, *config = NULL, *out = NULL, *tokp = NULL, *model = NULL, *plot = NULL;
    const char *prompt_text = NULL, *ckpt_opt = NULL;
    long steps = 0, batch = 0, seq = 0, accum = 1, warmup = -1, eval_every = 0, sample_every = -1;
    long save_every = 0, seed = 1337, vocab = 2048, stories = 20000, log_every = 0, stop_at = 0, threads = 0;
    float lr = 0, wd = -1;
    int resume = 0, c;
    optind = 0;    /* glibc: a full re-initialisation, so the REPL may parse again */
    opterr = 0;    /* our own one-line messages */
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_CONFIG: config = optarg; break;
        case O_OUT: out = optarg; break;
        case O_RESUME: resume = 1; break;
        case O_TOKENIZER: tokp = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_PLOT: plot = optarg; break;
        case O_PROMPT: prompt_text = optarg; break;
        case O_CKPT: ckpt_opt = optarg; break;
        case O_LOAD:
            if (!io->allow_load) return train_usage_error(r, hint, "%s%s", "--load is for the REPL's train command", "");
            r->load = 1;
            break;
#define NUM(var, lo, hi, nm) \
    if (parse_long(optarg, lo, hi, &var)) return train_usage_error(r, hint, "bad value '%s' for --%s", optarg, nm); \
    break
        case O_STEPS: NUM(steps, 1, 100000000L, "steps");
        case O_BATCH: NUM(batch, 1, 65536, "batch");
        case O_SEQ: NUM(seq, 1, 1 << 20, "seq");
        case O_ACCUM: NUM(accum, 1, 65536, "accum");
        case O_WARMUP: NUM(warmup, 0, 100000000L, "warmup");
        case O_EVAL: NUM(eval_every, 1, 100000000L, "eval-every");
        case O_SAMPLE: NUM(sample_every, 0, 100000000L, "sample-every");
        case O_SAVE: NUM(save_every, 1, 100000000L, "save-every");
        case O_LOG: NUM(log_every, 1, 100000000L, "log-every");
        case O_SEED: NUM(seed, 0, 0x7fffffffL, "seed");
        case O_VOCAB: NUM(vocab, 258, 1 << 20, "vocab");
        case O_STORIES: NUM(stories, 1, 10000000L, "stories");
        case O_STOP: NUM(stop_at, 1, 100000000L, "stop-at");
        case O_THREADS: NUM(threads, 1, 1024, "threads");
#undef NUM
        case O_LR:
            if (parse_float(optarg, 1e-9, 10, &lr)) return train_usage_error(r, hint, "bad value '%s' for --%s", optarg, "lr");
            break;
        case O_WD:
            if (parse_float(optarg, 0, 10, &wd)) return train_usage_error(r, hint, "bad value '%s' for --%s", optarg, "weight-decay");
            break;
        case 'h': r->help = 1; return 0;
        case ':': return train_usage_error(r, hint, "%s needs a value%s", argv[optind - 1], "");
        default: return train_usage_error(r, hint, "unknown option '%s'%s", argv[optind - 1], "");
        }
    }
    if (optind < argc) return train_usage_error(r, hint, "unexpected word '%s'%s", argv[optind], "");
    if (!data || !out || !steps)
        return train_usage_error(r, hint, "%s%s", "give at least --data FILE|toyworld, --steps N and --out PATH", "");
    if (!config && !model && !resume)
        return train_usage_error(r, hint, "%s%s", "give --config NAME (a fresh model), --model M or --resume", "");
    if (config && !model && !resume) {   /* a wrong name fails now, not after the data is read */
        ModelConfig probe;
        if (config_for(config, 258, &probe)) return err_code();
    }
    int old_threads = omp_get_max_threads();
    if (threads) train_set_threads((int)threads);
    char *ckpt = ckpt_opt ? xstrdup(ckpt_opt) : xasprintf("%s.ckpt", out);
    r->checkpoint = xstrdup(ckpt);
    Trainer *tr = NULL;
    Tokenizer *tok = NULL;
    Model *src = NULL;
    char *text = NULL;
    int *ids = NULL, *prompt = NULL, rc = 0, np = 0;
    size_t len = 0, n_ids = 0;
    TrainData d = {0};

    /* the text */
    if (strcmp(data, "toyworld") == 0) {
        rc = corpus_generate((unsigned long)seed, CORPUS_BOTH, CORPUS_STORIES, (int)stories, &text, &len);
    } else if (!(text = read_all(data, &len))) {
        rc = err_code();
    } else if (len == 0) {
        rc = ERR(ERR_ARG, "%s: empty file", data);
    }
    if (rc) goto done;

    /* the model and its tokenizer */
    if (resume) {
        struct stat st;
        if (stat(ckpt, &st) != 0) { rc = ERR(ERR_IO, "%s: no checkpoint to resume from", ckpt); goto done; }
        if ((rc = trainer_resume(&tr, NULL, ckpt))) goto done;
        if (!trainer_model(tr)->tok) { rc = ERR(ERR_FORMAT, "%s: checkpoint has no tokenizer", ckpt); goto done; }
        fprintf(log, "resuming %s at step %ld\n", ckpt, trainer_step_count(tr));
    } else if (model) {
        if ((rc = model_load(&src, model, tokp))) goto done;
        if (!src->tok) { rc = ERR(ERR_STATE, "%s: the model has no tokenizer (give --tokenizer)", model); goto done; }
    } else if (tokp) {
        if ((rc = model_load_tokenizer(&tok, tokp))) goto done;
    } else {
        BpeTrainResult br;
        fprintf(log, "training a %ld-token BPE on the data...\n", vocab);
        fflush(log);
        if ((rc = bpe_train(text, len, (int)vocab, &br))) goto done;
        rc = tokenizer_gpt2_from_text(&tok, br.vocab_json, br.vocab_len, br.merges, br.merges_len, "trained tokenizer");
        bpe_train_result_done(&br);
        if (rc) goto done;
    }
    Tokenizer *use_tok = tr ? trainer_model(tr)->tok : src ? src->tok : tok;
    if ((rc = tokenize_docs(use_tok, text, len, &ids, &n_ids))) goto done;
    free(text);
    text = NULL;

    if (!tr) {
        TrainConfig tc = train_config_default();
        ModelConfig mc;
        if (src) mc = src->cfg;
        else if ((rc = config_for(config, tokenizer_vocab_size(tok), &mc))) goto done;
        tc.T = (int)(seq ? seq : mc.n_ctx < 256 ? mc.n_ctx : 256);
        tc.B = (int)(batch ? batch : 8);
        tc.accum = (int)accum;
        tc.max_steps = (int)steps;
        tc.warmup = (int)(warmup >= 0 ? warmup : steps / 20);
        tc.lr = lr > 0 ? lr : 1e-3f;
        tc.min_lr = tc.lr / 10;
        if (wd >= 0) tc.weight_decay = wd;
        tc.seed = (unsigned long)seed;
        if (tc.T > mc.n_ctx) { rc = ERR(ERR_ARG, "--seq %d exceeds the model's context %d", tc.T, mc.n_ctx); goto done; }
        if (src) rc = trainer_alloc(&tr, src, &tc);
        else rc = trainer_alloc_random(&tr, &mc, (unsigned long)seed, &tc);
        if (rc) goto done;
        if (src) { tok = src->tok; src->tok = NULL; model_free(src); src = NULL; }
        if ((rc = trainer_set_tokenizer(tr, tok))) goto done;
        tok = NULL;
    }
    const TrainConfig *tc = trainer_config(tr);
    if ((rc = traindata_init(&d, ids, n_ids, tc->val_frac, tc->T))) goto done;
    if ((rc = trainer_check_data(tr, &d))) { err_prefix("%s", ckpt); goto done; }
    {
        Model *m = trainer_model(tr);
        if (prompt_text) {
            size_t k;
            if ((rc = tokenizer_encode(m->tok, prompt_text, strlen(prompt_text), &prompt, &k))) goto done;
            np = (int)k;
        }
        if (np == 0) {   /* the opening words of the first story */
            free(prompt);
            np = n_ids < 4 ? (int)n_ids : 4;
            prompt = xmalloc(sizeof(int) * 4);
            memcpy(prompt, ids, sizeof(int) * (size_t)np);
        }
        if (np >= m->cfg.n_ctx) np = m->cfg.n_ctx / 2;
        const ModelConfig *mc = &m->cfg;
        fprintf(log, "model: GPT-2 L=%d C=%d NH=%d T=%d V=%d, %.2fM parameters; data: %zu tokens (%zu held out)\n",
                mc->n_layer, mc->n_embd, mc->n_head, mc->n_ctx, mc->vocab_size,
                (double)m->n_params / 1e6, d.n, d.n - d.n_train);
        fprintf(log, "training: B=%d T=%d accum=%d, AdamW lr %.3g -> %.3g (warm-up %d, cosine to step %d), "
                "weight decay %.3g, clip %.3g\n", tc->B, tc->T, tc->accum, (double)tc->lr, (double)tc->min_lr,
                tc->warmup, tc->max_steps, (double)tc->weight_decay, (double)tc->grad_clip);
        fflush(log);
    }
    if (!eval_every) eval_every = steps / 10 > 0 ? steps / 10 : 1;
    if (sample_every < 0) sample_every = eval_every * 2;
    if (!save_every) save_every = eval_every;
    if (!log_every) log_every = steps / 100 > 0 ? steps / 100 : 1;
    const int tty = io->bar;
    const long start = trainer_step_count(tr);
    const long end = stop_at && stop_at < steps ? stop_at : steps;
    r->step0 = r->step = start;
    double t0 = now(), loss_acc = 0;
    long tokens = 0, n_acc = 0;
    TrainStepInfo info = {0};
    for (long s = start; s < end && !rc; s++) {
        if ((rc = trainer_step(tr, &d, &info))) break;
        r->step = s + 1;
        if (s == start) r->first_loss = info.loss;
        r->last_loss = info.loss;
        tokens += info.tokens;
        loss_acc += info.loss;
        n_acc++;
        const long done = s + 1 - start;
        const double el = now() - t0, tps = tokens / el, eta = el / done * (double)(end - s - 1);
        char etas[32];
        fmt_time(etas, sizeof etas, eta);
        const int is_eval = (s + 1) % eval_every == 0 || s + 1 == steps;
        if (tty) {
            char bar[21];
            int fill = (int)(20.0 * (s + 1) / steps);
            for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
            bar[20] = 0;
            fprintf(log, "\rstep %*ld/%ld [%s] loss %.4f  lr %.2e  %.0f tok/s  ETA %s   ", (int)snprintf(NULL, 0, "%ld", steps),
                    s + 1, steps, bar, (double)info.loss, (double)info.lr, tps, etas);
            fflush(log);
        }
        /* without a bar: a line at the start, at every evaluation and every tenth of the run */
        if (!tty && ((s + 1) % (log_every * 10) == 0 || is_eval || s == start)) {
            fprintf(log, "step %ld/%ld loss %.4f lr %.2e %.0f tok/s ETA %s\n", s + 1, steps,
                    (double)info.loss, (double)info.lr, tps, etas);
            fflush(log);
        }
        if ((s + 1) % log_every == 0 || is_eval) {
            float val = NAN;
            if (is_eval && d.n > d.n_train) {
                if ((rc = trainer_eval(tr, &d, 16, &val))) break;
            }
            trainer_log(tr, s + 1, (float)(loss_acc / n_acc), val);
            if (is_eval && isfinite(val)) {
                fprintf(log, "%sstep %ld: train loss %.4f, val loss %.4f\n", tty ? "\n" : "", s + 1, loss_acc / n_acc, (double)val);
                r->val_loss = val;
            }
            fflush(log);
            loss_acc = 0;
            n_acc = 0;
        }
        if (sample_every && ((s + 1) % sample_every == 0 || s + 1 == steps)) {
            if (tty) fputc('\n', log);
            print_sample(log, tr, prompt, np, 60, (unsigned long)(s + 1));
            fflush(log);
        }
        if ((s + 1) % save_every == 0 && s + 1 < steps && (rc = trainer_save(tr, &d, ckpt))) break;
        if (*io->interrupt) {
            if (!(rc = trainer_save(tr, &d, ckpt))) r->interrupted = 1;
            break;
        }
    }
    r->seconds = now() - t0;
    r->tokens_per_s = r->seconds > 0 ? tokens / r->seconds : 0;
    if (tty) fputc('\n', log);
    if (rc || r->interrupted) goto done;
    if (end < steps) {
        if (!(rc = trainer_save(tr, &d, ckpt))) {
            r->stopped = 1;
            fprintf(log, "stopped at step %ld of %ld; checkpoint %s (go on with --resume)\n", end, steps, ckpt);
        }
        goto done;
    }
    {
        char ts[32];
        fmt_time(ts, sizeof ts, r->seconds);
        show_plot(log, tr, plot);
        if ((rc = trainer_save(tr, &d, ckpt))) goto done;
        if ((rc = model_save(trainer_model(tr), out))) goto done;
        r->out = xstrdup(out);
        int nh;
        const TrainPoint *h = trainer_history(tr, &nh);
        float last_val = NAN;
        for (int i = nh - 1; i >= 0 && isnan(last_val); i--) last_val = h[i].val;
        r->val_loss = last_val;
        fprintf(log, "done: %ld steps in %s (%.0f tokens/s); final train loss %.4f, val loss %.4f -> %s\n",
                steps - start, ts, r->tokens_per_s, (double)info.loss, (double)last_val, out);
    }
done:
    fflush(log);
    if (threads) train_set_threads(old_threads);
    traindata_done(&d);
    free(ckpt);
    free(text);
    free(ids);
    free(prompt);
    tokenizer_free(tok);
    model_free(src);
    trainer_free(tr);
    return rc;
}

static int cmd_train(int argc, char **argv)
{
    SubcmdTrainIO io = {stderr, &g_interrupt, isatty(STDERR_FILENO), "lectern train --help", 0};
    SubcmdTrainResult r;
    g_interrupt = 0;
    void (*old)(int) = signal(SIGINT, on_sigint);
    int rc = subcmd_train_train(argc, argv, &io, &r);
    signal(SIGINT, old);
    if (r.help) printf("usage: lectern %s\n", subcmd_train_usage);
    else if (!rc && r.interrupted)
        rc = ERR(ERR_INTERRUPTED, "interrupted after step %ld; checkpoint %s (go on with --resume)", r.step, r.checkpoint);
    int usage_err = r.usage;
    subcmd_train_result_done(&r);
    if (rc && usage_err) {
        fprintf(stderr, "lectern train: %s\n", err_msg());
        return 2;
    }
    return rc ? fail() : 0;
}

/* ---- lectern coref ------------------------------------------------------------------ */

static int cmd_coref(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"lang", required_argument, NULL, 'l'},
        {"count", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 's'},
        {"top", required_argument, NULL, 't'}, {"names", no_argument, NULL, 'N'},
        {"before", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *use = "coref --model M [--before|--names] [--lang en|ru|both] [--count N] [--seed S] [--top K]\n"
                      "  toy-world stories (default: 200, seed 999, both languages) through M; for each\n"
                      "  layer and head, the attention a pronoun pays to its antecedent's name; with\n"
                      "  --before, the attention from the token just before the pronoun (where the model\n"
                      "  chooses it); with --names, from the token before a name to that character's names";
    const char *model = NULL;
    long count = 200, seed = 999, top = 5;
    CorpusLang lang = CORPUS_BOTH;
    ProbeQuery query = PROBE_PRONOUN;
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'N': query = PROBE_NEXT_NAME; break;
        case 'B': query = PROBE_BEFORE_PRONOUN; break;
        case 'l': if (corpus_lang_from_name(optarg, &lang)) return bad_value("lang", optarg); break;
        case 'n': if (parse_long(optarg, 1, 100000, &count)) return bad_value("count", optarg); break;
        case 's': if (parse_long(optarg, 0, 0x7fffffffL, &seed)) return bad_value("seed", optarg); break;
        case 't': if (parse_long(optarg, 1, 1 << 20, &top)) return bad_value("top", optarg); break;
        case 'h': printf("usage: lectern %s\n", use); return 0;
        default: return usage(use);
        }
    }
    if (!model || optind < argc) return usage(use);
    Model *m;
    if (model_load(&m, model, NULL)) return fail();
    char *text = NULL;
    size_t len;
    CorpusMention *mn = NULL;
    int nm = 0, rc = corpus_stories_annotated((unsigned long)seed, lang, (int)count, &text, &len, &mn, &nm);
    CorefProbe p = {0};
    if (!rc) rc = probe_coref(m, text, len, mn, nm, query, &p);
    if (!rc) {
        const int n = p.L * p.NH;
        int *order = xmalloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = 1; i < n; i++)   /* by attention on the antecedent, highest first */
            for (int j = i; j > 0 && p.ante[order[j]] > p.ante[order[j - 1]]; j--) {
                int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
            }
        if (query != PROBE_NEXT_NAME)
            printf("# %d pronouns in %ld stories; attention from the %s to the earlier names of\n"
                   "# its antecedent, to the other character's, and how often the antecedent gets more\n",
                   p.n_pronouns, count, query == PROBE_PRONOUN ? "pronoun" : "token before the pronoun");
        else
            printf("# %d names in %ld stories; attention from the token before the name to the earlier\n"
                   "# names of that character, to the other character's, and how often it gets more\n",
                   p.n_pronouns, count);
        for (int i = 0; i < n && i < top; i++)
            printf("layer %d head %d antecedent %.3f other %.3f wins %.1f%%\n", order[i] / p.NH, order[i] % p.NH,
                   p.ante[order[i]], p.other[order[i]], 100.0 * p.wins[order[i]]);
        free(order);
    }
    probe_coref_done(&p);
    free(text);
    free(mn);
    model_free(m);
    return rc ? fail() : 0;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static const struct { const char *name; int (*run)(int, char **); } CMDS[] = {
    {"loss", cmd_loss}, {"train", cmd_train}, {"tokenizer", cmd_tokenizer}, {"corpus", cmd_corpus},
    {"coref", cmd_coref},
};

int subcmd_train_is(const char *name)
{
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++)
        if (strcmp(CMDS[i].name, name) == 0) return 1;
    return 0;
}

int subcmd_train_run(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++)
        if (strcmp(CMDS[i].name, argv[0]) == 0) {
            g_name = CMDS[i].name;
            optind = 0;   /* glibc: a full re-initialisation, so the REPL may call this again */
            err_clear();
            return CMDS[i].run(argc, argv);
        }
    fprintf(stderr, "lectern: unknown subcommand '%s'\n", argv[0]);
    return 2;
}
