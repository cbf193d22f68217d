/* Tests for the REPL's attention commands (repl/cmd_attention.c) through session_exec with
 * the output captured: `pattern` (set, per-layer lists, layers L..M, show, reach, path, off,
 * lsh), `kernel`, `compare` and `svd` on the tiny GPT-2 of ../shared, the completion words,
 * and the error paths: every failed command prints one line, keeps the session, and leaves
 * the attention that was in force (the same objects) in force.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/effattn.h"
#include "engine/err.h"
#include "engine/pattern.h"
#include "repl/cmd_attention.h"
#include "repl/commands.h"
#include "repl/line.h"
#include "repl/session.h"
#include "tests/util/cap.h"
#include "tests/util/testutil.h"


static char *run_ok(Cap *c, const char *line)
{
    int rc = session_exec(c->s, line);
    char *e = take_err(c);
    ck_assert_msg(rc == 0, "'%s' failed: %s", line, e);
    free(e);
    return take_out(c);
}

static void expect_error(Cap *c, const char *line, const char *want)
{
    int failed0 = c->s->n_failed;
    int rc = session_exec(c->s, line);
    ck_assert_msg(rc < 0, "'%s' should fail", line);
    ck_assert_int_eq(c->s->n_failed, failed0 + 1);
    char *e = take_err(c), *o = take_out(c);
    ck_assert_msg(strncmp(e, "error: ", 7) == 0, "'%s' gave '%s'", line, e);
    ck_assert_msg(strchr(e, '\n') == e + strlen(e) - 1, "'%s' gave more than one line: %s", line, e);
    ck_assert_msg(strstr(e, want) != NULL, "'%s' gave '%s', wanted '%s'", line, e, want);
    ck_assert_msg(*o == 0, "'%s' also printed '%s'", line, o);
    free(e);
    free(o);
}

static int count(char **m)
{
    int n = 0;
    while (m && m[n]) n++;
    return n;
}

static int has(char **m, const char *w)
{
    for (int i = 0; m && m[i]; i++)
        if (!strcmp(m[i], w)) return 1;
    return 0;
}

static void free_list(char **m)
{
    for (int i = 0; m && m[i]; i++) free(m[i]);
    free(m);
}

/* ---- without a model ---- */

START_TEST(test_needs_model)
{
    Cap c;
    cap_open(&c);
    const char *cmds[] = { "pattern", "pattern window w=4", "pattern show", "pattern off",
                           "pattern reach 3", "kernel performer 8", "kernel", "compare", "svd 0 0" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        expect_error(&c, cmds[i], "no model loaded");
    expect_error(&c, "svd 0", "usage: svd L H");
    ck_assert_ptr_null(c.s->attn);
    cap_close(&c);
}
END_TEST

START_TEST(test_table_and_completion)
{
    const char *names[] = { "pattern", "kernel", "compare", "svd" };
    for (size_t i = 0; i < 4; i++) {
        const Command *cmd = commands_find(names[i]);
        ck_assert_msg(cmd != NULL, "no command %s", names[i]);
        ck_assert(strlen(cmd->help) > 100);
    }
    /* every kernel the help names is one effattn_parse knows, and every completion word is
     * in the help */
    const Command *k = commands_find("kernel"), *p = commands_find("pattern");
    for (int i = 0; cmd_attention_kernel_words[i]; i++)
        ck_assert_msg(strstr(k->help, cmd_attention_kernel_words[i]), "%s", cmd_attention_kernel_words[i]);
    for (int i = 0; cmd_attention_pattern_words[i]; i++)
        if (strcmp(cmd_attention_pattern_words[i], "combined"))
            ck_assert_msg(strstr(p->help, cmd_attention_pattern_words[i]), "%s", cmd_attention_pattern_words[i]);
    char **m = line_complete("pattern wi", "wi", 8);
    ck_assert_int_eq(count(m), 1);
    ck_assert(has(m, "window"));
    free_list(m);
    m = line_complete("pattern ", "", 8);
    ck_assert(has(m, "show") && has(m, "off") && has(m, "reach") && has(m, "path") && has(m, "lsh"));
    free_list(m);
    m = line_complete("kernel p", "p", 7);
    ck_assert_int_eq(count(m), 1);
    ck_assert(has(m, "performer"));
    free_list(m);
    m = line_complete("kernel l", "l", 7);
    ck_assert(has(m, "linformer") && has(m, "linear"));
    ck_assert_int_eq(count(m), 2);
    free_list(m);
    m = line_complete("kernel linear ", "", 14);   /* only the first word completes */
    ck_assert_int_eq(count(m), 0);
    free_list(m);
}
END_TEST

/* ---- with the tiny GPT-2 ---- */

static char *g_model, *g_tok;

static int have_model(void)
{
    const char *m = shared_path("models/gpt2-tiny", "attention command tests need the tiny GPT-2");
    const char *t = m ? shared_path("tokenizers/gpt2", "attention command tests need the GPT-2 tokenizer") : NULL;
    if (!m || !t) return 0;
    free(g_model);
    free(g_tok);
    g_model = strdup(m);
    g_tok = strdup(t);
    return 1;
}

/* A session with the tiny model and a 9-token context. */
static void open_tiny(Cap *c)
{
    cap_open(c);
    char *line = xasprintf("load %s %s", g_model, g_tok);
    free(run_ok(c, line));
    free(line);
    free(run_ok(c, "prompt The cat sat on the mat and the dog"));
    ck_assert_int_eq(gen_trace(c->s->gen)->n, 9);
}

static float *pending_probs(const Cap *c)
{
    const StepDist *d = trace_next(gen_trace(c->s->gen));
    ck_assert_ptr_nonnull(d);
    const int V = c->s->model->cfg.vocab_size;
    float *p = malloc(sizeof(float) * (size_t)V);
    memcpy(p, d->probs, sizeof(float) * (size_t)V);
    return p;
}

static double max_diff(const float *a, const float *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

START_TEST(test_pattern_set_show_off)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    const Model *m = c.s->model;
    const int V = m->cfg.vocab_size, NH = m->cfg.n_head;
    float *exact = pending_probs(&c);

    char *o = run_ok(&c, "pattern window w=4");
    ck_assert_ptr_nonnull(strstr(o, "layer 0: sliding window w=4 causal; 250 of 4096 cells active"));
    ck_assert_ptr_nonnull(strstr(o, "layer 1: sliding window w=4 causal"));
    ck_assert_ptr_nonnull(strstr(o, "context re-run: 9 tokens"));
    free(o);
    for (int l = 0; l < 2; l++) {
        ck_assert_ptr_nonnull(m->attn[l].pattern);
        ck_assert_ptr_null(m->attn[l].kernel);
        ck_assert_int_eq(m->attn[l].pattern->n, m->cfg.n_ctx);
    }
    /* the trace was recomputed: the weights vanish outside the window and rows sum to 1 */
    const Trace *t = gen_trace(c.s->gen);
    ck_assert_ptr_nonnull(strstr(t->mask_name, "sliding window w=4"));
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < NH; h++)
            for (int q = 0; q < 9; q++) {
                double sum = 0;
                for (int k = 0; k <= q; k++) {
                    float w = trace_attn(t, l, h, q, k);
                    if (q - k >= 4) ck_assert_msg(w == 0.0f, "l%d h%d q%d k%d = %g", l, h, q, k, (double)w);
                    sum += w;
                }
                ck_assert_msg(fabs(sum - 1) < 1e-5, "row sum %g", sum);
            }
    float *win = pending_probs(&c);
    ck_assert(max_diff(exact, win, V) > 1e-6);   /* it changed the prediction */

    o = run_ok(&c, "pattern show");
    ck_assert_ptr_nonnull(strstr(o, "layer 0: pattern sliding window w=4 causal"));
    ck_assert_ptr_nonnull(strstr(o, "9 tokens: 30 of 81 cells active"));
    ck_assert_ptr_nonnull(strstr(o, "a causal mask alone keeps 45"));
    ck_assert_ptr_nonnull(strstr(o, "  0 The  100000000\n"));
    ck_assert_ptr_nonnull(strstr(o, "  4 \xe2\x90\xa3the 011110000\n"));   /* ␣the */
    ck_assert_ptr_nonnull(strstr(o, "  8 \xe2\x90\xa3" "dog 000001111\n"));
    free(o);

    /* the log replays it */
    ck_assert_str_eq(c.s->log[c.s->n_log - 1], "pattern window w=4");

    /* full attention as a pattern is exact attention */
    free(run_ok(&c, "pattern full"));
    float *full = pending_probs(&c);
    ck_assert_msg(max_diff(exact, full, V) < 1e-6, "full pattern differs by %g", max_diff(exact, full, V));

    o = run_ok(&c, "pattern off");
    ck_assert_ptr_nonnull(strstr(o, "no pattern on layers 0..1"));
    free(o);
    ck_assert_ptr_null(m->attn[0].pattern);
    ck_assert_ptr_null(m->attn[1].pattern);
    float *off = pending_probs(&c);
    ck_assert_msg(max_diff(exact, off, V) < 1e-6, "pattern off differs by %g", max_diff(exact, off, V));
    o = run_ok(&c, "pattern show 1");
    ck_assert_ptr_nonnull(strstr(o, "layer 1: exact softmax (causal)"));
    ck_assert_ptr_nonnull(strstr(o, "45 of 81 cells active"));
    free(o);
    free(exact);
    free(win);
    free(full);
    free(off);
    cap_close(&c);
}
END_TEST

START_TEST(test_pattern_layers_and_growth)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    const Model *m = c.s->model;
    char *o = run_ok(&c, "pattern window w=2:4");
    ck_assert_ptr_nonnull(strstr(o, "layer 0: sliding window w=2 causal"));
    ck_assert_ptr_nonnull(strstr(o, "layer 1: sliding window w=4 causal"));
    free(o);
    free(run_ok(&c, "pattern off"));
    o = run_ok(&c, "pattern bigbird w=3 g=0 r=2 seed=7 layers 1..1");
    ck_assert_ptr_null(m->attn[0].pattern);
    ck_assert_ptr_nonnull(m->attn[1].pattern);
    ck_assert_ptr_nonnull(strstr(pattern_name(m->attn[1].pattern), "bigbird"));
    ck_assert_ptr_null(strstr(o, "layer 0"));
    free(o);
    ck_assert_str_eq(c.s->log[c.s->n_log - 1], "pattern bigbird w=3 g=0 r=2 seed=7 layers 1");
    /* the same seed gives the same pattern */
    unsigned char *a = malloc(64 * 64), *b = malloc(64 * 64);
    pattern_dense(m->attn[1].pattern, a);
    free(run_ok(&c, "pattern bigbird w=3 g=0 r=2 seed=7 layers 1"));
    pattern_dense(m->attn[1].pattern, b);
    ck_assert(memcmp(a, b, 64 * 64) == 0);
    free(run_ok(&c, "pattern bigbird w=3 g=0 r=2 seed=8 layers 1"));
    pattern_dense(m->attn[1].pattern, b);
    ck_assert(memcmp(a, b, 64 * 64) != 0);
    free(a);
    free(b);
    /* pattern off on one layer keeps the other */
    free(run_ok(&c, "pattern window w=3"));
    free(run_ok(&c, "pattern off layers 0"));
    ck_assert_ptr_null(m->attn[0].pattern);
    ck_assert_ptr_nonnull(m->attn[1].pattern);
    /* a DeepSpeed layout as a model pattern */
    o = run_ok(&c, "pattern deepspeed class=Fixed block=4 num_local_blocks=2");
    ck_assert_ptr_nonnull(strstr(o, "deepspeed"));
    free(o);
    cap_close(&c);
}
END_TEST

START_TEST(test_pattern_reach_path)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    free(run_ok(&c, "pattern window w=4"));
    char *o = run_ok(&c, "pattern reach 8");
    ck_assert_ptr_nonnull(strstr(o, "after 1 layer: 4 of 9 (5..8)"));
    ck_assert_ptr_nonnull(strstr(o, "after 2 layers: 7 of 9 (2..8)"));
    free(o);
    o = run_ok(&c, "pattern reach 8 layers 1");
    ck_assert_ptr_null(strstr(o, "after 2 layers"));
    free(o);
    o = run_ok(&c, "pattern path 8 0");
    ck_assert_ptr_nonnull(strstr(o, "8 \xe2\x90\xa3" "dog \xe2\x86\x92 5"));
    ck_assert_ptr_nonnull(strstr(o, "3 hops"));
    ck_assert_ptr_nonnull(strstr(o, "too few layers"));
    free(o);
    o = run_ok(&c, "pattern path 0 8");
    ck_assert_ptr_nonnull(strstr(o, "no path"));
    free(o);
    /* through a global token, bidirectionally: any pair in 2 hops (without a context the
     * graph covers n_ctx positions) */
    free(run_ok(&c, "reset"));
    free(run_ok(&c, "pattern global g=0"));
    o = run_ok(&c, "pattern path 40 30");
    ck_assert_msg(strstr(o, "no path") != NULL, "causal: %s", o);   /* causal: 0 never sees 30 */
    free(o);
    o = run_ok(&c, "pattern path 40 0");
    ck_assert_ptr_nonnull(strstr(o, "40 \xe2\x86\x92 0\n1 hop"));
    free(o);
    expect_error(&c, "pattern reach 64", "POS must be an integer from 0 to 63");
    expect_error(&c, "pattern reach 3 layers 3", "layers K must be an integer from 1 to 2");
    expect_error(&c, "pattern reach", "usage: pattern reach POS");
    expect_error(&c, "pattern path 3", "usage: pattern path A B");
    cap_close(&c);
}
END_TEST

START_TEST(test_errors_keep_attention)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    const Model *m = c.s->model;
    free(run_ok(&c, "pattern window w=4"));
    const Pattern *p0 = m->attn[0].pattern, *p1 = m->attn[1].pattern;
    float *before = pending_probs(&c);
    const char *bad[][2] = {
        { "pattern nope", "unknown pattern 'nope'" },
        { "pattern window w=0", "w=0: expected an integer >= 1" },
        { "pattern window", "window needs w=" },
        { "pattern window w=4 x=2", "takes no parameter 'x'" },
        { "pattern window w=4 layers 2", "layers: first layer must be an integer from 0 to 1" },
        { "pattern window w=4 layers 1..0", "layers: last layer must be an integer from 1 to 1" },
        { "pattern layers 0 window w=4", "'layers L..M' goes last" },
        { "pattern deepspeed class=Fixed block=5", "" },
        { "pattern show 2", "layer must be an integer from 0 to 1" },
        { "pattern off now", "usage: pattern off" },
        { "kernel nope", "unknown kernel 'nope'" },
        { "kernel performer 0", "expected a size >= 1" },
        { "kernel linformer", "linformer needs k" },
        { "kernel sparse", "chosen with pattern NAME" },
        { "kernel exact now", "exact takes no parameters" },
        { "kernel synthesizer", "synthesizer needs dense or random" },
        { "svd 2 0", "layer must be an integer from 0 to 1" },
        { "svd 0 4", "head must be an integer from 0 to 3" },
        { "compare \"\"", "TEXT has no tokens" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_error(&c, bad[i][0], bad[i][1]);
        ck_assert_msg(m->attn[0].pattern == p0 && m->attn[1].pattern == p1, "'%s' changed the pattern", bad[i][0]);
        ck_assert_ptr_null(m->attn[0].kernel);
        ck_assert_int_eq(gen_trace(c.s->gen)->n, 9);
    }
    ck_assert_ptr_nonnull(strstr(pattern_name(p0), "w=4"));
    float *after = pending_probs(&c);
    ck_assert(max_diff(before, after, m->cfg.vocab_size) == 0);
    free(before);
    free(after);
    /* lsh needs a context */
    free(run_ok(&c, "reset"));
    expect_error(&c, "pattern lsh chunk=4", "prompt TEXT first");
    ck_assert(m->attn[0].pattern == p0);
    expect_error(&c, "pattern show", "no context yet");
    expect_error(&c, "svd 0 0", "no context yet");
    expect_error(&c, "compare", "no context yet");
    cap_close(&c);
}
END_TEST

START_TEST(test_lsh_from_context)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    const Model *m = c.s->model;
    char *o = run_ok(&c, "pattern lsh buckets=4 chunk=4 seed=3");
    ck_assert_ptr_nonnull(strstr(o, "hashed from the keys of the 9 context tokens"));
    free(o);
    for (int l = 0; l < 2; l++) {
        ck_assert_ptr_nonnull(m->attn[l].pattern);
        ck_assert_int_eq(m->attn[l].pattern->n, 9);
        ck_assert_int_eq(m->attn[l].pattern->kind, PATTERN_LSH);
        /* causal, and every query keeps at least itself or an earlier key */
        for (int q = 0; q < 9; q++) {
            ck_assert(pattern_row_cells(m->attn[l].pattern, q, 9) >= 1);
            for (int k = q + 1; k < 9; k++) ck_assert(!pattern_allows(m->attn[l].pattern, q, k));
        }
    }
    /* the same text and seed hash the same way; generating past the pattern still works */
    unsigned char a[81], b[81];
    pattern_dense(m->attn[1].pattern, a);
    free(run_ok(&c, "pattern lsh buckets=4 chunk=4 seed=3"));
    pattern_dense(m->attn[1].pattern, b);
    ck_assert(memcmp(a, b, 81) == 0);
    free(run_ok(&c, "step 2"));
    ck_assert_int_eq(gen_trace(c.s->gen)->n, 11);
    o = run_ok(&c, "pattern show 1");
    ck_assert_ptr_nonnull(strstr(o, "11 tokens"));
    free(o);
    cap_close(&c);
}
END_TEST

START_TEST(test_kernels)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    const Model *m = c.s->model;
    float *exact = pending_probs(&c);
    free(run_ok(&c, "pattern window w=4"));
    char *o = run_ok(&c, "kernel performer 16");
    ck_assert_ptr_nonnull(strstr(o, "layer 0: kernel performer m=16"));
    ck_assert_ptr_nonnull(strstr(o, "seed=0"));
    ck_assert_ptr_nonnull(strstr(o, "seed=1"));   /* one draw per layer */
    ck_assert_ptr_nonnull(strstr(o, "pattern on these layers is replaced"));
    free(o);
    for (int l = 0; l < 2; l++) {
        ck_assert_ptr_nonnull(m->attn[l].kernel);
        ck_assert_ptr_null(m->attn[l].pattern);
    }
    /* FAVOR+'s implied weights are a distribution over the keys */
    const Trace *t = gen_trace(c.s->gen);
    for (int q = 0; q < 9; q++) {
        double sum = 0;
        for (int k = 0; k <= q; k++) sum += trace_attn(t, 0, 2, q, k);
        ck_assert_msg(fabs(sum - 1) < 1e-3, "row %d sums to %g", q, sum);   /* causal_eps in the denominator */
    }
    o = run_ok(&c, "kernel");
    ck_assert_ptr_nonnull(strstr(o, "layer 1: kernel performer"));
    free(o);
    const char *ok[] = { "kernel linformer 8 layers 1", "kernel linear", "kernel synthesizer random seed=5",
                         "kernel synthesizer dense h=8", "kernel performer m=8 iid" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) free(run_ok(&c, ok[i]));
    ck_assert_ptr_nonnull(strstr(m->attn[1].kernel->name, "performer m=8 iid"));
    ck_assert_str_eq(c.s->log[c.s->n_log - 1], "kernel performer m=8 iid");
    free(run_ok(&c, "pattern window w=4 layers 0"));   /* a pattern replaces the kernel */
    ck_assert_ptr_null(m->attn[0].kernel);
    ck_assert_ptr_nonnull(m->attn[1].kernel);
    free(run_ok(&c, "pattern off"));
    free(run_ok(&c, "kernel exact"));
    for (int l = 0; l < 2; l++) ck_assert_ptr_null(m->attn[l].kernel);
    float *back = pending_probs(&c);
    ck_assert(max_diff(exact, back, m->cfg.vocab_size) < 1e-6);
    free(exact);
    free(back);
    /* loading a model again drops what the session owned (ASan checks the freeing) */
    free(run_ok(&c, "kernel linear"));
    char *line = xasprintf("load %s %s", g_model, g_tok);
    free(run_ok(&c, line));
    free(line);
    ck_assert_ptr_null(c.s->attn);
    ck_assert_ptr_null(c.s->model->attn[0].kernel);
    free(run_ok(&c, "prompt again"));
    free(run_ok(&c, "kernel linear layers 0"));   /* and the session ends with it in force */
    cap_close(&c);
}
END_TEST

static json_t *run_json(Cap *c, const char *line)
{
    c->s->json = 1;
    char *o = run_ok(c, line);
    c->s->json = 0;
    json_error_t je;
    json_t *j = json_loads(o, 0, &je);
    ck_assert_msg(j != NULL, "'%s' gave no JSON: %s", line, o);
    free(o);
    ck_assert(json_is_true(json_object_get(j, "ok")));
    return j;
}

static double jd(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    ck_assert_msg(json_is_number(v), "%s is not a number", k);
    return json_number_value(v);
}

START_TEST(test_compare)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    /* nothing in force: both sides equal */
    json_t *j = run_json(&c, "compare");
    ck_assert(jd(j, "kl_next") < 1e-9);
    ck_assert(jd(j, "logits_rel_error") < 1e-6);
    ck_assert_int_eq((int)jd(j, "overlap_next"), 10);
    ck_assert(fabs(jd(j, "loss_exact") - jd(j, "loss_approx")) < 1e-6);
    json_decref(j);

    free(run_ok(&c, "pattern window w=2"));
    char *o = run_ok(&c, "compare");
    const char *parts[] = { "compare over 9 tokens", "KL(exact || approx)", "top-10 overlap",
                            "perplexity", "mean loss (nats/token)", "logits, all positions",
                            "attention output per layer", "cost per layer at n = 9",
                            "sliding window w=2 causal", "time, whole model forward" };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        ck_assert_msg(strstr(o, parts[i]) != NULL, "compare lacks '%s':\n%s", parts[i], o);
    free(o);
    j = run_json(&c, "compare");
    ck_assert_int_eq((int)jd(j, "n"), 9);
    ck_assert(jd(j, "kl_next") > 0);
    ck_assert(jd(j, "kl_mean") > 0);
    ck_assert(jd(j, "logits_rel_error") > 0);
    ck_assert(fabs(log(jd(j, "ppl_exact")) / jd(j, "loss_exact") - 1) < 1e-5);   /* JSON keeps 7 digits */
    const json_t *errs = json_object_get(j, "attn_output_rel_error"), *cost = json_object_get(j, "cost");
    ck_assert_int_eq(json_array_size(errs), 2);
    ck_assert_int_eq(json_array_size(cost), 2);
    /* layer 0 sees the same input on both sides; its window of 2 changes rows 2..8 */
    ck_assert(json_number_value(json_array_get(errs, 0)) > 1e-3);
    for (int l = 0; l < 2; l++) {
        const json_t *cl = json_array_get(cost, (size_t)l);
        /* 4 heads: exact causal 45 cells per head, window w=2 17 */
        ck_assert_int_eq((int)jd(cl, "exact_cells"), 4 * 45);
        ck_assert_int_eq((int)jd(cl, "cells"), 4 * 17);
        ck_assert(fabs(jd(cl, "flops") / jd(cl, "exact_flops") - 17.0 / 45) < 1e-9);
        ck_assert(jd(cl, "bytes") < jd(cl, "exact_bytes"));
    }
    json_decref(j);

    /* compare TEXT runs that text and leaves the context alone */
    o = run_ok(&c, "compare the dog barked at the cat");
    ck_assert_ptr_nonnull(strstr(o, "compare over 7 tokens"));
    free(o);
    ck_assert_int_eq(gen_trace(c.s->gen)->n, 9);   /* the context is untouched */

    /* a kernel's costs come from its own formula */
    free(run_ok(&c, "kernel performer 8"));
    j = run_json(&c, "compare");
    const json_t *c0 = json_array_get(json_object_get(j, "cost"), 0);
    ck_assert_int_eq((int)jd(c0, "cells"), 4 * 9 * 8);
    ck_assert(jd(j, "kl_next") > 0);
    json_decref(j);
    cap_close(&c);
}
END_TEST

START_TEST(test_svd)
{
    if (!have_model()) return;
    Cap c;
    open_tiny(&c);
    /* a window of one key is the identity matrix: nine singular values of 1 */
    free(run_ok(&c, "pattern window w=1"));
    json_t *j = run_json(&c, "svd 1 2");
    const json_t *sv = json_object_get(j, "singular_values");
    ck_assert_int_eq(json_array_size(sv), 9);
    for (size_t i = 0; i < 9; i++) ck_assert(fabs(json_number_value(json_array_get(sv, i)) - 1) < 1e-5);
    ck_assert_int_eq((int)jd(j, "rank90"), 9);
    json_decref(j);
    free(run_ok(&c, "pattern off"));
    char *o = run_ok(&c, "svd 0 0");
    ck_assert_ptr_nonnull(strstr(o, "layer 0 head 0 over 9 tokens (exact softmax (causal))"));
    ck_assert_ptr_nonnull(strstr(o, "effective rank:"));
    free(o);
    j = run_json(&c, "svd 0 0");
    sv = json_object_get(j, "singular_values");
    for (size_t i = 1; i < 9; i++)
        ck_assert(json_number_value(json_array_get(sv, i)) <= json_number_value(json_array_get(sv, i - 1)));
    ck_assert(jd(j, "rank90") <= jd(j, "rank99"));
    ck_assert(jd(j, "rank99") <= 9);
    json_decref(j);
    cap_close(&c);
}
END_TEST

static Suite *cmd_attention_suite(void)
{
    Suite *s = suite_create("cmd_attention");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_needs_model);
    tcase_add_test(tc, test_table_and_completion);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("model");
    tcase_set_timeout(tm, 120);
    tcase_add_test(tm, test_pattern_set_show_off);
    tcase_add_test(tm, test_pattern_layers_and_growth);
    tcase_add_test(tm, test_pattern_reach_path);
    tcase_add_test(tm, test_errors_keep_attention);
    tcase_add_test(tm, test_lsh_from_context);
    tcase_add_test(tm, test_kernels);
    tcase_add_test(tm, test_compare);
    tcase_add_test(tm, test_svd);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    err_install_gsl_handler();
    int rc = run_suite(cmd_attention_suite());
    free(g_model);
    free(g_tok);
    return rc;
}
