/* Tests for viz/: the canvas, token escaping, the attention matrix model (aggregates,
 * rollout, hiding, mass threshold, pooling) and the exact plain text of every view, on a
 * hand-built Trace (tests/viz_fixture.h) whose numbers can be checked by hand. */
#include <cairo.h>
#include <check.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/pattern.h"
#include "tests/util/testutil.h"
#include "tests/viz_fixture.h"
#include "viz/canvas.h"
#include "viz/crt.h"
#include "viz/export.h"
#include "viz/layout.h"
#include "viz/plain.h"
#include "viz/ramp.h"
#include "viz/views.h"

/* Expected pictures.  Read them as the spec: rows = queries, columns = keys; the causal
 * triangle above the diagonal is "·", a near-zero weight is a blank. */
static const char *exp_attn_l0h0 =
    "attention · layer 0 head 0 · causal mask · rows = queries, cols = keys\n"
    "       T ␣ ␣ ↵\n"
    "       h к c\n"
    "       e о a\n"
    "keys →   т t\n"
    "0 The │@@· · ·\n"
    "1 ␣кот│##::· ·\n"
    "2 ␣cat│++--::·\n"
    "3 ↵   │  ..--++\n"
    "linear scale 0 [ .:-=+*#%@] 1; · = outside causal mask\n"
    ;

static const char *exp_attn_l1h1 =
    "attention · layer 1 head 1 · causal mask · rows = queries, cols = keys\n"
    "       T ␣ ␣ ↵\n"
    "       h к c\n"
    "       e о a\n"
    "keys →   т t\n"
    "0 The │@@· · ·\n"
    "1 ␣кот│@@  · ·\n"
    "2 ␣cat│**  --·\n"
    "3 ↵   │##......\n"
    "linear scale 0 [ .:-=+*#%@] 1; · = outside causal mask\n"
    ;

static const char *exp_probs =
    "next token · position 4\n"
    "temperature 0.7 · top-k 3 · top-p off · seed 7\n"
    "entropy 2.17 bits model, 1.52 bits after filtering\n"
    "# token model p                        after temperature/top-k/top-p\n"
    "1 ␣cat  0.4000 █████████▎              0.4771 ███████████\n"
    "2 ␣кот  0.2500 █████▊                  0.2702 ██████▎\n"
    "3 сидит 0.2200 █████                   0.2527 █████▊\n"
    "4 The   0.0500 █▏                      cut\n"
    "5 a\\x01 0.0400 ▉                       cut\n"
    ;

static const char *exp_probs_at3 =
    "position 3 · sampled ↵\n"
    "temperature 1 · top-k off · top-p off · seed 7\n"
    "entropy 2.55 bits model, 2.55 bits after filtering\n"
    "# token model p                        after temperature/top-k/top-p\n"
    "1 The   0.3000 ██████▉                 0.3000 ██████▉\n"
    "2 ␣cat  0.2800 ██████▌                 0.2800 ██████▌\n"
    "…\n"
    "4 ↵     0.1200 ██▊                     0.1200 ██▊                     ◀ sampled\n"
    ;

static const char *exp_tokens =
    "tokens · 4 (3 prompt + 1 generated) · current position 3\n"
    "[The 0] [␣кот 3] [␣cat 1] │ ▶[↵ 2]\n"
    ;

static const char *exp_tokens_narrow =
    "tokens · 4 (3 promp…\n"
    "[The 0] [␣кот 3]\n"
    "[␣cat 1] │ ▶[↵ 2]\n"
    ;

static const char *exp_step3 =
    "step 3 ▸ ↵ p=0.1200 (sampled) · top: The 0.300, ␣cat 0.280, ␣кот 0.150\n"
    ;

static const char *exp_step_next =
    "next 4 ▸ ? · top: ␣cat 0.400, ␣кот 0.250, сидит 0.220\n"
    ;

static const char *exp_model =
    "model view · 2 layers × 2 heads · causal mask · rows = queries, cols = keys\n"
    "   H0       H1\n"
    "L0 @@· · ·  @@· · ·\n"
    "   ##::· ·  ..%%· ·\n"
    "   ++--::·      @@·\n"
    "     ..--++ @@\n"
    "\n"
    "L1 @@· · ·  @@· · ·\n"
    "   ==**· ·  @@  · ·\n"
    "   ------·  **  --·\n"
    "   :::::::: ##......\n"
    ;

static const char *exp_lens =
    "logit lens · rows = blocks applied · cols = positions\n"
    "cell = top token, its p\n"
    "layer  0 The        1 ␣кот       2 ␣cat       3 ↵\n"
    " emb   The      .10 ↵        .15 ⇥        .20 ∅        .25\n"
    " 1     ␣кот     .40 \\xD0     .45 сидит    .50 The      .55\n"
    " final ∅        .70 a\\x01    .75 ␣cat     .80 ␣кот     .85\n"
    ;

static const char *exp_lens_narrow =
    "logit lens\n"
    "rows = blocks applied\n"
    "cols = positions\n"
    "cell = top token, its p\n"
    "positions 2-3 of 0-3\n"
    "layer  2 ␣cat  3 ↵\n"
    " emb   ⇥   .20 ∅   .25\n"
    " 1     си… .50 The .55\n"
    " final ␣c… .80 ␣к… .85\n"
    ;

#define CHECK_TEXT(got, want) do { char *g_ = (got); \
    if (strcmp(g_, (want)) != 0) fprintf(stderr, "--- got:\n%s--- want:\n%s", g_, (want)); \
    ck_assert_str_eq(g_, (want)); free(g_); } while (0)

START_TEST(test_utf8_decode_and_width)
{
    uint32_t cp;
    ck_assert_int_eq(utf8_decode("к", 2, &cp), 2);
    ck_assert_uint_eq(cp, 0x043A);
    ck_assert_int_eq(utf8_decode("\xD0", 1, &cp), 0);          /* truncated */
    ck_assert_int_eq(utf8_decode("\xC0\xAF", 2, &cp), 0);      /* overlong '/' */
    ck_assert_int_eq(utf8_decode("\xED\xA0\x80", 3, &cp), 0);  /* surrogate */
    ck_assert_int_eq(utf8_decode("\xF4\x90\x80\x80", 4, &cp), 0); /* > U+10FFFF */
    ck_assert_int_eq(utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
    ck_assert_int_eq(utf8_width("сидит"), 5);
    ck_assert_int_eq(utf8_width("日本"), 4);
    ck_assert_int_eq(utf8_width("e\xCC\x81"), 1);               /* e + combining acute */
    ck_assert_int_eq(utf8_cpwidth('\n'), -1);
    char buf[4];
    ck_assert_int_eq(utf8_encode(0x2423, buf), 3);
    ck_assert(memcmp(buf, "␣", 3) == 0);
}
END_TEST

START_TEST(test_canvas_put_clip_and_text)
{
    Canvas *c = canvas_alloc(6, 2, 0);
    ck_assert_int_eq(canvas_put(c, NULL, 0, 0, "кот日", ROLE_LABEL, 0), 5);
    ck_assert_str_eq(canvas_cell(c, 3, 0)->glyph, "日");
    ck_assert_int_eq(canvas_cell(c, 3, 0)->width, 2);
    ck_assert_int_eq(canvas_cell(c, 4, 0)->width, 0);
    /* a wide glyph that would straddle the right edge becomes a space */
    Rect clip = {0, 1, 4, 1};
    canvas_put(c, &clip, 0, 1, "abc日", ROLE_LABEL, 0);
    ck_assert_str_eq(canvas_cell(c, 3, 1)->glyph, " ");
    /* overwriting the right half of a wide glyph blanks its left half */
    canvas_put(c, NULL, 4, 0, "x", 0, 0);
    ck_assert_str_eq(canvas_cell(c, 3, 0)->glyph, " ");
    char *s = canvas_to_text(c);
    ck_assert_str_eq(s, "кот x\nabc\n");
    free(s);
    /* control bytes never reach a cell */
    canvas_put(c, NULL, 0, 1, "\x1b[", 0, 0);
    ck_assert_str_eq(canvas_cell(c, 0, 1)->glyph, "\xEF\xBF\xBD");
    /* fitting cuts with an ellipsis, and outside the canvas nothing is written */
    canvas_clear(c);
    ck_assert_int_eq(canvas_put_fit(c, NULL, 0, 0, "сидит кот", 4, 0, 0), 4);
    canvas_put(c, NULL, -3, 1, "abcdef", 0, 0);
    canvas_put(c, NULL, 0, 7, "zzz", 0, 0);
    s = canvas_to_text(c);
    ck_assert_str_eq(s, "сид…\ndef\n");
    free(s);
    canvas_free(c);
    canvas_free(NULL);
}
END_TEST

START_TEST(test_canvas_grow_and_parts)
{
    Canvas *c = canvas_alloc(12, 1, 1);
    const char *parts[] = {"alpha", NULL, "beta", "", "gamma-delta-eps"};
    int lines = canvas_put_parts(c, (Rect){0, 0, 12, VIZ_UNLIMITED}, 0, parts, 5, " · ", 0, 0);
    ck_assert_int_eq(lines, 2);
    char *s = canvas_to_text(c);
    ck_assert_str_eq(s, "alpha · beta\ngamma-delta…\n");
    free(s);
    ck_assert_int_ge(c->h, 2);
    canvas_free(c);
}
END_TEST

START_TEST(test_token_escape)
{
    Fixture f;
    fx_build(&f);
    const char *want[FX_V] = {"The", "␣cat", "↵", "␣кот", "⇥", "\\xD0", "∅", "сидит", "a\\x01"};
    for (int i = 0; i < FX_V; i++) {
        char *s = tokens_escape(&f.t, i);
        ck_assert_str_eq(s, want[i]);
        free(s);
    }
    char *s = tokens_escape(&f.t, FX_V);      /* out of the vocabulary */
    ck_assert_str_eq(s, "#9");
    free(s);
    f.t.vocab = NULL;                          /* ids only */
    s = tokens_escape(&f.t, 3);
    ck_assert_str_eq(s, "#3");
    free(s);
    fx_free(&f);
}
END_TEST

START_TEST(test_attn_text_exact)
{
    Fixture f;
    fx_build(&f);
    CHECK_TEXT(viz_attn_text(&f.t, 0, 0, 80), exp_attn_l0h0);
    /* 0.0005 at (2, 1) is a blank; the masked (1, 2) is a dot: never confused */
    CHECK_TEXT(viz_attn_text(&f.t, 1, 1, 80), exp_attn_l1h1);
    char *s = viz_attn_text(&f.t, 2, 0, 80);   /* no such layer */
    ck_assert_ptr_nonnull(strstr(s, "attention: nothing yet"));
    free(s);
    f.t.have_attn = 0;
    s = viz_attn_text(&f.t, 0, 0, 80);
    ck_assert_ptr_nonnull(strstr(s, "attention: nothing yet"));
    free(s);
    fx_free(&f);
}
END_TEST

START_TEST(test_heat_matrix_aggregates)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    HeatMatrix m;
    o.layer = 0;
    o.agg = VIZ_AGG_MEAN;
    ck_assert_int_eq(heatmap_matrix(&m, &f.t, &o), 0);
    ck_assert_float_eq_tol(m.w[3 * 4 + 0], (0.05f + 0.91f) / 2, 1e-6f);
    ck_assert_int_eq(m.state[1 * 4 + 2], HEAT_MASKED);
    ck_assert_int_eq(m.state[2 * 4 + 2], HEAT_IN);
    ck_assert_ptr_nonnull(strstr(m.what, "mean over the 2 heads of layer 0"));
    heatmap_matrix_done(&m);
    o.agg = VIZ_AGG_MAX;
    heatmap_matrix(&m, &f.t, &o);
    ck_assert_float_eq(m.w[2 * 4 + 2], 0.9f);
    heatmap_matrix_done(&m);

    /* rollout through layer 1 against the product written out with doubles */
    o.agg = VIZ_AGG_ROLLOUT;
    o.layer = 1;
    heatmap_matrix(&m, &f.t, &o);
    double a[2][4][4] = {{{0}}}, r[4][4] = {{0}};
    for (int l = 0; l < 2; l++)
        for (int q = 0; q < 4; q++) {
            double s = 0;
            for (int k = 0; k < 4; k++) {
                a[l][q][k] = 0.5 * (fx_attn[l][0][q][k] + fx_attn[l][1][q][k]) / 2 + (q == k ? 0.5 : 0);
                s += a[l][q][k];
            }
            for (int k = 0; k < 4; k++) a[l][q][k] /= s;
        }
    for (int q = 0; q < 4; q++)
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 4; j++) r[q][k] += a[1][q][j] * a[0][j][k];
    for (int q = 0; q < 4; q++) {
        double rs = 0;
        for (int k = 0; k < 4; k++) {
            ck_assert_float_eq_tol(m.w[q * 4 + k], r[q][k], 1e-6);
            rs += m.w[q * 4 + k];
        }
        ck_assert_float_eq_tol(rs, 1.0, 1e-5);   /* rollout rows stay distributions */
    }
    ck_assert_int_eq(m.state[0 * 4 + 3], HEAT_MASKED);
    heatmap_matrix_done(&m);

    o.agg = VIZ_AGG_HEAD;
    o.layer = 0;
    o.head = 2;                                   /* out of range */
    ck_assert_int_eq(heatmap_matrix(&m, &f.t, &o), -1);
    heatmap_matrix_done(&m);
    fx_free(&f);
}
END_TEST

START_TEST(test_heat_matrix_hide_first_and_mass)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    HeatMatrix m;
    o.layer = 0;
    o.head = 1;
    o.hide_first = 1;
    heatmap_matrix(&m, &f.t, &o);
    ck_assert_int_eq(m.state[3 * 4 + 0], HEAT_HIDDEN);
    ck_assert_float_eq_tol(m.w[3 * 4 + 1], 0.03f / 0.09f, 1e-6f);  /* renormalised */
    ck_assert_float_eq_tol(m.w[1 * 4 + 1], 1.0f, 1e-6f);
    heatmap_matrix_done(&m);

    /* row 3 of layer 0 head 0 is .05 .15 .3 .5: 60% of the mass needs .5 and .3 */
    viz_opts_default(&o);
    o.mass = 0.6f;
    heatmap_matrix(&m, &f.t, &o);
    ck_assert_int_eq(m.state[3 * 4 + 3], HEAT_IN);
    ck_assert_int_eq(m.state[3 * 4 + 2], HEAT_IN);
    ck_assert_int_eq(m.state[3 * 4 + 1], HEAT_BELOW);
    ck_assert_int_eq(m.state[3 * 4 + 0], HEAT_BELOW);
    ck_assert_int_eq(m.state[0 * 4 + 0], HEAT_IN);
    heatmap_matrix_done(&m);
    o.cur_q = 3;
    o.cur_k = 1;
    char *s = viz_attn_text_opts(&f.t, &o, 80);
    ck_assert_ptr_nonnull(strstr(s, "3 ↵   │~ ~ --++\n"));
    ck_assert_ptr_nonnull(strstr(s, "~ = below 60% of row mass"));
    ck_assert_ptr_nonnull(strstr(s, "query 3 ↵ → key 1 ␣кот: weight 0.150000006 (below the mass threshold)"));
    free(s);
    fx_free(&f);
}
END_TEST

START_TEST(test_levels_and_shades)
{
    ck_assert_str_eq(heatmap_shade(heatmap_level(0.0f, VIZ_SCALE_LINEAR)), " ");
    ck_assert_str_eq(heatmap_shade(heatmap_level(0.09f, VIZ_SCALE_LINEAR)), " ");
    ck_assert_str_eq(heatmap_shade(heatmap_level(0.55f, VIZ_SCALE_LINEAR)), "+");
    ck_assert_str_eq(heatmap_shade(heatmap_level(1.0f, VIZ_SCALE_LINEAR)), "@");
    ck_assert_str_eq(heatmap_shade(heatmap_level(NAN, VIZ_SCALE_LINEAR)), " ");
    /* log scale: 1e-4 .. 1 over the ramp; 1e-2 is half way */
    ck_assert_float_eq_tol(heatmap_level(1e-2f, VIZ_SCALE_LOG), 0.5f, 1e-6f);
    ck_assert_float_eq(heatmap_level(1e-6f, VIZ_SCALE_LOG), 0.0f);
    ck_assert_int_eq(heatmap_block(40, 20), 2);
    ck_assert_int_eq(heatmap_block(40, 19), 3);
    ck_assert_int_eq(heatmap_block(4, 20), 1);
}
END_TEST

/* A 40-token context whose first key takes 0.6 of every row: pooled to fit 30 columns. */
typedef struct {
    Trace t;
    int toks[40], nk[40];
    float *rows[40];
} Long;

static void long_build(Long *g)
{
    memset(g, 0, sizeof *g);
    for (int q = 0; q < 40; q++) {
        g->toks[q] = q % FX_V;
        g->nk[q] = q + 1;
        g->rows[q] = calloc((size_t)q + 1, sizeof(float));
        for (int k = 0; k <= q; k++)
            g->rows[q][k] = q == 0 ? 1.0f : k == 0 ? 0.6f : 0.4f / (float)q;
    }
    Trace *t = &g->t;
    t->n_layer = 1;
    t->n_head = 1;
    t->n_vocab = FX_V;
    t->n = 40;
    t->n_prompt = 40;
    t->tokens = g->toks;
    t->have_attn = 1;
    t->attn_row = g->rows;
    t->attn_nkeys = g->nk;
    t->vocab = fx_vocab;
    t->vocab_len = fx_vocab_len;
    t->mask_name = "causal";
}

static void long_free(Long *g)
{
    for (int q = 0; q < 40; q++) free(g->rows[q]);
}

START_TEST(test_attn_pooled)
{
    Long g;
    long_build(&g);
    char *s = viz_attn_text(&g.t, 0, 0, 30);
    /* 40 keys in 30 - 6 columns: 2x2 blocks, max stated; block (2-3, 0-1) max .6 */
    ck_assert_ptr_nonnull(strstr(s, "blocks 2×2, max"));
    ck_assert_ptr_nonnull(strstr(s, "\n 0-1 │@···················\n 2-3 │*:··················\n"));
    ck_assert_ptr_nonnull(strstr(s, "\n38-39│*\n"));
    ck_assert_ptr_nonnull(strstr(s, "\n      0  6  12  20  28  36\n"));
    free(s);
    VizOpts o;
    viz_opts_default(&o);
    o.pool = VIZ_POOL_MEAN;
    s = viz_attn_text_opts(&g.t, &o, 30);
    ck_assert_ptr_nonnull(strstr(s, "blocks 2×2, mean of unmasked"));
    /* block (2-3, 0-1): mean of .6 .2 .6 .133 = .383 -> '-' */
    ck_assert_ptr_nonnull(strstr(s, "\n 2-3 │-.··"));
    free(s);
    /* wide enough: no pooling */
    s = viz_attn_text(&g.t, 0, 0, 120);
    ck_assert_ptr_null(strstr(s, "blocks"));
    ck_assert_ptr_nonnull(strstr(s, "\n39 ␣кот │"));
    free(s);
    long_free(&g);
}
END_TEST

START_TEST(test_readout_exact)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    o.layer = 1;
    o.head = 1;
    HeatMatrix m;
    heatmap_matrix(&m, &f.t, &o);
    char *s = heatmap_readout(&m, &f.t, 2, 1);
    ck_assert_str_eq(s, "query 2 ␣cat → key 1 ␣кот: weight 0.000500000024");
    float back = strtof(strstr(s, "weight ") + 7, NULL);
    ck_assert(back == fx_attn[1][1][2][1]);
    free(s);
    s = heatmap_readout(&m, &f.t, 1, 3);
    ck_assert_str_eq(s, "query 1 ␣кот → key 3 ↵: outside the causal mask");
    free(s);
    s = heatmap_readout(&m, &f.t, 9, 0);
    ck_assert_str_eq(s, "");
    free(s);
    heatmap_matrix_done(&m);
    fx_free(&f);
}
END_TEST

START_TEST(test_probs_text_exact)
{
    Fixture f;
    fx_build(&f);
    CHECK_TEXT(viz_probs_text(&f.t, 5, 80), exp_probs);
    /* the chosen token is rank 4, outside the top 2: shown after an ellipsis */
    CHECK_TEXT(viz_probs_text_at(&f.t, 3, 2, 80), exp_probs_at3);
    char *s = viz_probs_text_at(&f.t, 1, 5, 80);
    ck_assert_str_eq(s, "probabilities: position 1 came from the prompt; no distribution kept\n");
    free(s);
    f.t.dist[4] = NULL;
    s = viz_probs_text(&f.t, 5, 80);
    ck_assert_str_eq(s, "probabilities: no next-token distribution yet (type a prompt)\n");
    free(s);
    fx_free(&f);
}
END_TEST

START_TEST(test_topk_and_entropy)
{
    const float p[6] = {0.1f, 0.3f, 0.1f, 0.3f, 0.2f, 0.0f};
    int idx[6];
    ck_assert_int_eq(bars_topk(p, 6, 4, idx), 4);
    ck_assert_int_eq(idx[0], 1);   /* ties: lower id first */
    ck_assert_int_eq(idx[1], 3);
    ck_assert_int_eq(idx[2], 4);
    ck_assert_int_eq(idx[3], 0);
    ck_assert_int_eq(bars_topk(p, 6, 10, idx), 6);
    ck_assert_int_eq(bars_topk(p, 6, 0, idx), 0);
    const float u[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    ck_assert_float_eq_tol(bars_entropy_bits(u, 4), 2.0, 1e-12);
    const float one[3] = {0, 1, 0};
    ck_assert_float_eq(bars_entropy_bits(one, 3), 0.0);
}
END_TEST

START_TEST(test_tokens_text_exact)
{
    Fixture f;
    fx_build(&f);
    CHECK_TEXT(viz_tokens_text(&f.t, 80), exp_tokens);
    CHECK_TEXT(viz_tokens_text(&f.t, 20), exp_tokens_narrow);
    f.t.n = 0;
    char *s = viz_tokens_text(&f.t, 80);
    ck_assert_str_eq(s, "tokens · none yet (type a prompt)\n");
    free(s);
    fx_free(&f);
}
END_TEST

START_TEST(test_step_text_exact)
{
    Fixture f;
    fx_build(&f);
    CHECK_TEXT(viz_step_text(&f.t, 3, 3, 80), exp_step3);
    CHECK_TEXT(viz_step_text(&f.t, 4, 3, 80), exp_step_next);
    char *s = viz_step_text(&f.t, 1, 3, 80);
    ck_assert_str_eq(s, "step 1 ▸ ␣кот (prompt)\n");
    free(s);
    /* narrow: candidates that do not fit are left out whole */
    s = viz_step_text(&f.t, 3, 3, 40);
    ck_assert_str_eq(s, "step 3 ▸ ↵ p=0.1200 (sampled)\n");
    free(s);
    fx_free(&f);
}
END_TEST

START_TEST(test_model_text_exact)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    o.layer = 0;
    o.head = 1;
    CHECK_TEXT(viz_model_text(&f.t, &o, 80), exp_model);
    fx_free(&f);
}
END_TEST

START_TEST(test_lens_text_exact)
{
    Fixture f;
    fx_build(&f);
    int ids[3 * 4 * 2];
    float pr[3 * 4 * 2];
    for (int l = 0; l < 3; l++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++) {
                int i = (l * 4 + j) * 2 + k;
                ids[i] = (l * 3 + j * 2 + k) % FX_V;
                pr[i] = k ? 0.01f : 0.1f + 0.3f * (float)l + 0.05f * (float)j;
            }
    LensTable lt = {.n_layer1 = 3, .pos0 = 0, .n_pos = 4, .k = 2, .ids = ids, .probs = pr};
    CHECK_TEXT(viz_lens_text(&f.t, &lt, 60), exp_lens);
    CHECK_TEXT(viz_lens_text(&f.t, &lt, 30), exp_lens_narrow);
    char *s = viz_lens_text(&f.t, NULL, 60);
    ck_assert_str_eq(s, "logit lens: no table (needs captured residual streams)\n");
    free(s);
    fx_free(&f);
}
END_TEST

START_TEST(test_heat_cells_carry_levels)
{
    /* the canvas keeps the ramp position for colour, the glyph for monochrome */
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    Canvas *c = canvas_alloc(80, 20, 0);
    heatmap_draw(c, (Rect){0, 0, 80, 20}, &f.t, &o);
    const Cell *cell = canvas_cell_const(c, 7, 8);       /* query 3, key 0: 0.05 */
    ck_assert_int_eq(cell->role, ROLE_HEAT);
    ck_assert_float_eq_tol(cell->heat, 0.05f, 1e-6f);
    ck_assert(cell->attr & CANVAS_SHADE);
    cell = canvas_cell_const(c, 9, 5);                     /* query 0, key 1: masked */
    ck_assert_int_eq(cell->role, ROLE_MASKED);
    canvas_free(c);
    fx_free(&f);
}
END_TEST


START_TEST(test_ramp_and_scheme)
{
    /* viridis: lightness rises along the ramp, so equal weight steps look equal */
    double prev = -1;
    for (int i = 0; i <= 20; i++) {
        double rgb[3];
        ramp_rgb((float)i / 20.0f, rgb);
        double l = ramp_luminance(rgb);
        ck_assert(l > prev);
        prev = l;
    }
    double rgb[3], x[3];
    ramp_rgb(0.0f, rgb);
    ck_assert_float_eq_tol(rgb[0], 0.267004, 1e-9);
    int lo = ramp_xterm256(0.0f), hi = ramp_xterm256(1.0f);
    ramp_xterm_rgb(lo, x);
    ck_assert(x[2] > x[1]);                 /* dark violet: blue over green */
    ramp_xterm_rgb(hi, x);
    ck_assert(x[0] > 0.8 && x[1] > 0.8 && x[2] < 0.4);   /* yellow */
    ck_assert_int_eq(ramp_basic8(0.0f), 0);
    ck_assert_int_eq(ramp_basic8(1.0f), 7);

    Cell heat = {.glyph = "@", .width = 1, .role = ROLE_HEAT, .attr = CANVAS_SHADE, .color = -1, .heat = 1.0f};
    CrtStyle st = crt_style(&heat, CRT_COLOR256);
    ck_assert_int_eq(st.bg, hi);
    ck_assert_int_eq(st.fg, 16);            /* dark text on the light end */
    ck_assert_int_eq(st.blank, 1);          /* colour replaces the shade glyph */
    st = crt_style(&heat, CRT_COLOR8);
    ck_assert_int_eq(st.bg, 7);
    ck_assert_int_eq(st.blank, 0);
    st = crt_style(&heat, CRT_MONO);
    ck_assert_int_eq(st.bg, -1);
    ck_assert_int_eq(st.blank, 0);          /* monochrome shows the shade glyph */
    Cell masked = {.glyph = "·", .width = 1, .role = ROLE_MASKED, .color = -1, .heat = -1};
    ck_assert_int_eq(crt_style(&masked, CRT_MONO).attr, CANVAS_DIM);
    ck_assert_int_ne(crt_style(&masked, CRT_COLOR256).fg, -1);

    setenv("NO_COLOR", "1", 1);
    ck_assert_int_eq(crt_pick_colors(256), CRT_MONO);
    setenv("NO_COLOR", "", 1);              /* empty means unset (no-color.org) */
    ck_assert_int_eq(crt_pick_colors(256), CRT_COLOR256);
    unsetenv("NO_COLOR");
    ck_assert_int_eq(crt_pick_colors(8), CRT_COLOR8);
    ck_assert_int_eq(crt_pick_colors(0), CRT_MONO);
    setenv("LECTERN_COLORS", "8", 1);
    ck_assert_int_eq(crt_pick_colors(256), CRT_COLOR8);
    unsetenv("LECTERN_COLORS");
}
END_TEST

static char *wb_text(Workbench *wb, const Trace *t, int *cx, int *cy)
{
    Canvas *c = canvas_alloc(1, 1, 0);
    int x, y;
    layout_draw(wb, c, t, NULL, cx ? cx : &x, cy ? cy : &y);
    char *s = canvas_to_text(c);
    canvas_free(c);
    return s;
}

START_TEST(test_layout_places_panes)
{
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    ck_assert(!wb->too_small);
    Rect a = wb->pane[PANE_ATTN], p = wb->pane[PANE_PROBS], l = wb->pane[PANE_LENS], o = wb->pane[PANE_OUTPUT];
    ck_assert_int_eq(a.x, 0);
    ck_assert_int_eq(a.w, 55);
    ck_assert_int_eq(p.x, 56);
    ck_assert_int_gt(l.w, 0);
    ck_assert_int_eq(o.y + o.h, 33);        /* key help at 33, command line at 34 */
    /* panes never overlap */
    for (int i = 0; i < PANE_COUNT; i++)
        for (int j = i + 1; j < PANE_COUNT; j++) {
            Rect r1 = wb->pane[i], r2 = wb->pane[j];
            if (!r1.w || !r2.w) continue;
            int apart = r1.x + r1.w <= r2.x || r2.x + r2.w <= r1.x || r1.y + r1.h <= r2.y || r2.y + r2.h <= r1.y;
            ck_assert_msg(apart, "panes %d and %d overlap", i, j);
        }
    layout_place(wb, 80, 24);               /* narrow: one column, no lens */
    ck_assert_int_eq(wb->pane[PANE_LENS].w, 0);
    ck_assert_int_eq(wb->pane[PANE_PROBS].x, 0);
    wb->o.presenter = 1;
    layout_place(wb, 110, 35);              /* presenter: fewer panes */
    ck_assert_int_eq(wb->pane[PANE_LENS].w, 0);
    layout_place(wb, 59, 30);
    ck_assert(wb->too_small);
    layout_place(wb, 60, 18);
    ck_assert(!wb->too_small);
    layout_free(wb);
    layout_free(NULL);
}
END_TEST

START_TEST(test_layout_draw_screen)
{
    Fixture f;
    fx_build(&f);
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    wb->prompt = "lectern> ";
    wb->line = "гео 5";
    wb->point = (int)strlen("гео");
    layout_output(wb, "first\nsecond\tx\x01y\n", 17);
    int cx, cy;
    char *s = wb_text(wb, &f.t, &cx, &cy);
    ck_assert_ptr_nonnull(strstr(s, " tiny.safetensors · causal mask · attention_forward (engine/attention.c) · layer 0/1 head 0/1"));
    ck_assert_ptr_nonnull(strstr(s, "\n0 The │@@· · ·"));
    ck_assert_ptr_nonnull(strstr(s, "│1 ␣cat  0.4000"));
    ck_assert_ptr_nonnull(strstr(s, "\nsecond    x\\x01y\n"));
    ck_assert_ptr_nonnull(strstr(s, "\nlectern> гео 5\n"));
    ck_assert_int_eq(cx, 12);               /* display columns, not bytes */
    ck_assert_int_eq(cy, 34);
    free(s);
    layout_place(wb, 50, 14);
    s = wb_text(wb, &f.t, &cx, &cy);
    ck_assert_ptr_nonnull(strstr(s, "The terminal is 50×14; the workbench needs at\nleast 60×18."));
    ck_assert_ptr_nonnull(strstr(s, "\nlectern> гео 5\n"));
    ck_assert_int_eq(cy, 13);
    free(s);
    layout_free(wb);
    fx_free(&f);
}
END_TEST

START_TEST(test_layout_output_streams)
{
    Workbench *wb = layout_alloc();
    layout_output(wb, "lectern> gen 3\n", 15);
    layout_output(wb, "Hello", 5);          /* streamed tokens continue one line */
    layout_output(wb, " мир", strlen(" мир"));
    layout_output(wb, "!\nnext", 6);
    ck_assert_int_eq(wb->out_n, 3);
    ck_assert_str_eq(wb->out[1], "Hello мир!");
    ck_assert_str_eq(wb->out[2], "next");
    layout_output_break(wb);
    layout_output(wb, "\xD0\tz", 3);          /* a new line; invalid byte and tab made visible */
    ck_assert_int_eq(wb->out_n, 4);
    ck_assert_str_eq(wb->out[3], "\\xD0    z");
    /* a progress bar: each \r redraws the open line; \r before a newline is dropped */
    layout_output_break(wb);
    layout_output(wb, "\rstep 1/9 [#.]", 14);
    layout_output(wb, "\rstep 2/9 [##]", 14);
    ck_assert_int_eq(wb->out_n, 5);
    ck_assert_str_eq(wb->out[4], "step 2/9 [##]");
    layout_output(wb, "\nval 3.5\r\nend\r", 14);
    ck_assert_int_eq(wb->out_n, 7);
    ck_assert_str_eq(wb->out[5], "val 3.5");
    ck_assert_str_eq(wb->out[6], "end");
    layout_free(wb);
}
END_TEST

START_TEST(test_layout_keys)
{
    Fixture f;
    fx_build(&f);
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    ck_assert_int_eq(layout_key(wb, &f.t, 'x') & LAYOUT_UNUSED, LAYOUT_UNUSED);   /* typing */
    ck_assert_int_eq(layout_key(wb, &f.t, ']') & LAYOUT_UNUSED, LAYOUT_UNUSED);
    ck_assert_int_eq(wb->o.layer, 0);
    ck_assert(layout_key(wb, &f.t, CRT_KEY_F(7)) & LAYOUT_REDRAW);               /* anywhere */
    ck_assert_int_eq(wb->o.layer, 1);
    ck_assert(layout_key(wb, &f.t, CRT_KEY_F(5)) & LAYOUT_STEP);
    layout_key(wb, &f.t, CRT_KEY_ESC);
    ck_assert_int_eq(wb->focus_repl, 0);
    ck_assert_int_eq(wb->focus, PANE_ATTN);
    ck_assert_int_eq(wb->o.cur_q, 3);
    layout_key(wb, &f.t, ']');
    ck_assert_int_eq(wb->o.layer, 0);       /* wraps */
    layout_key(wb, &f.t, '}');
    ck_assert_int_eq(wb->o.head, 1);
    layout_key(wb, &f.t, CRT_KEY_RIGHT);
    layout_key(wb, &f.t, CRT_KEY_UP);
    ck_assert_int_eq(wb->o.cur_q, 2);
    ck_assert_int_eq(wb->o.cur_k, 1);
    layout_key(wb, &f.t, '\r');
    ck_assert_int_eq(wb->o.locked, 1);
    char *s = wb_text(wb, &f.t, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(s, "locked: query 2 ␣cat → key 1 ␣кот: weight 0.0799999982"));
    free(s);
    layout_key(wb, &f.t, 'a');
    ck_assert_int_eq(wb->o.agg, VIZ_AGG_MEAN);
    layout_key(wb, &f.t, 't');
    ck_assert_float_eq(wb->o.mass, 0.9f);
    layout_key(wb, &f.t, '\t');
    ck_assert_int_eq(wb->focus, PANE_PROBS);
    layout_key(wb, &f.t, CRT_KEY_LEFT);     /* scrub back to position 3 */
    ck_assert_int_eq(wb->o.step, 3);
    s = wb_text(wb, &f.t, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(s, "position 3 · sampled ↵"));
    free(s);
    layout_key(wb, &f.t, CRT_KEY_RIGHT);
    ck_assert_int_eq(wb->o.step, -1);       /* back to following the pending step */
    layout_key(wb, &f.t, 'm');
    ck_assert(wb->model_view);
    ck_assert_int_eq(wb->focus, PANE_ATTN);
    layout_key(wb, &f.t, CRT_KEY_DOWN);
    ck_assert_int_eq(wb->o.layer, 1);
    layout_key(wb, &f.t, '\r');
    ck_assert(!wb->model_view);
    layout_key(wb, &f.t, '?');
    ck_assert(wb->help);
    s = wb_text(wb, &f.t, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(s, "Every key has a command"));
    free(s);
    layout_key(wb, &f.t, 'q');              /* any key closes the help */
    ck_assert(!wb->help);
    ck_assert(layout_key(wb, &f.t, CRT_KEY_ESC) & LAYOUT_TO_REPL);
    ck_assert(wb->focus_repl);
    layout_free(wb);
    fx_free(&f);
}
END_TEST

START_TEST(test_layout_commands)
{
    Fixture f;
    fx_build(&f);
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    char *msg;
#define CMD(...) layout_command(wb, &f.t, (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)), \
                                (const char *[]){__VA_ARGS__}, &msg)
    ck_assert_int_eq(CMD("view", "layer", "1"), 0);
    ck_assert_str_eq(msg, "view: layer 1");
    free(msg);
    ck_assert_int_eq(wb->o.layer, 1);
    ck_assert_int_eq(CMD("view", "layer", "2"), -1);
    ck_assert_str_eq(msg, "view layer: expected 0..1, got '2'");
    free(msg);
    ck_assert_int_eq(CMD("view", "head", "x"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "pane", "lens"), 0);
    free(msg);
    ck_assert_int_eq(wb->focus, PANE_LENS);
    ck_assert_int_eq(wb->focus_repl, 0);
    ck_assert_int_eq(CMD("view", "pane", "nope"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "agg", "rollout"), 0);
    free(msg);
    ck_assert_int_eq(wb->o.agg, VIZ_AGG_ROLLOUT);
    ck_assert_int_eq(CMD("view", "mass", "90%"), 0);
    free(msg);
    ck_assert_float_eq_tol(wb->o.mass, 0.9f, 1e-6f);
    ck_assert_int_eq(CMD("view", "mass", "0"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "scale", "log"), 0);
    free(msg);
    ck_assert_int_eq(CMD("view", "scale", "cubic"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "step", "3"), 0);
    free(msg);
    ck_assert_int_eq(wb->o.step, 3);
    ck_assert_int_eq(CMD("view", "step", "9"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "cursor", "3", "1"), 0);
    free(msg);
    ck_assert_int_eq(CMD("view", "cursor", "1", "7"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "model", "on"), 0);
    free(msg);
    ck_assert(wb->model_view);
    ck_assert_int_eq(CMD("view", "bogus", "1"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view"), -1);
    free(msg);
    ck_assert_int_eq(CMD("presenter", "on"), 0);
    free(msg);
    ck_assert(wb->o.presenter);
    ck_assert_int_eq(wb->pane[PANE_LENS].w, 0);
    ck_assert_int_eq(CMD("presenter", "maybe"), -1);
    free(msg);
#undef CMD
    layout_free(wb);
    fx_free(&f);
}
END_TEST


/* Reads pixel (x, y) of an RGB24/ARGB32 image as doubles in [0, 1]. */
static void pixel(cairo_surface_t *img, int x, int y, double out[3])
{
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    uint32_t px = *(uint32_t *)(data + (size_t)y * stride + (size_t)x * 4);
    out[0] = ((px >> 16) & 0xff) / 255.0;
    out[1] = ((px >> 8) & 0xff) / 255.0;
    out[2] = (px & 0xff) / 255.0;
}

static void assert_rgb_near(const double got[3], const double want[3])
{
    for (int c = 0; c < 3; c++)
        ck_assert_msg(fabs(got[c] - want[c]) <= 1.0 / 255 + 1e-9, "channel %d: %f vs %f", c, got[c], want[c]);
}

static char *tmp_path(const char *suffix)
{
    char *p = write_temp("", 0, suffix);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_export_png_pixels)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    char *path = tmp_path(".png");
    ExportLayout L;
    ck_assert_int_eq(export_attn(&f.t, &o, path, &L), 0);
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    ck_assert_int_eq(cairo_image_surface_get_width(img), L.width);
    ck_assert_int_eq(cairo_image_surface_get_height(img), L.height);
    ck_assert_int_eq(L.n, 4);
    ck_assert_float_eq(L.cell, 36);
    /* the centre of each cell has the ramp colour of its weight; masked cells are grey */
    double got[3], want[3];
    for (int q = 0; q < 4; q++)
        for (int k = 0; k < 4; k++) {
            pixel(img, (int)(L.x0 + (k + 0.5) * L.cell), (int)(L.y0 + (q + 0.5) * L.cell), got);
            export_cell_rgb(k <= q ? HEAT_IN : HEAT_MASKED, fx_attn[0][0][q][k], VIZ_SCALE_LINEAR, want);
            assert_rgb_near(got, want);
        }
    /* known weights, spelled out: 1.0 is viridis' yellow end, 0.05 near its violet end */
    pixel(img, (int)(L.x0 + 0.5 * L.cell), (int)(L.y0 + 0.5 * L.cell), got);
    ck_assert(got[0] > 0.9 && got[1] > 0.85 && got[2] < 0.2);
    pixel(img, (int)(L.x0 + 0.5 * L.cell), (int)(L.y0 + 3.5 * L.cell), got);
    ck_assert(got[0] < 0.35 && got[1] < 0.15 && got[2] > 0.35);
    pixel(img, (int)(L.x0 + 3.5 * L.cell), (int)(L.y0 + 0.5 * L.cell), got);
    ck_assert(fabs(got[0] - 0.9) < 0.01 && fabs(got[1] - 0.9) < 0.01);
    pixel(img, 2, 2, got);                    /* white background */
    ck_assert(got[0] > 0.99 && got[1] > 0.99 && got[2] > 0.99);
    cairo_surface_destroy(img);
    /* log scale changes the colours: 0.05 is no longer near the bottom */
    o.scale = VIZ_SCALE_LOG;
    ck_assert_int_eq(export_attn(&f.t, &o, path, &L), 0);
    img = cairo_image_surface_create_from_png(path);
    pixel(img, (int)(L.x0 + 0.5 * L.cell), (int)(L.y0 + 3.5 * L.cell), got);
    export_cell_rgb(HEAT_IN, 0.05f, VIZ_SCALE_LOG, want);
    assert_rgb_near(got, want);
    cairo_surface_destroy(img);
    remove(path);
    free(path);

    /* the pattern figure: two colours */
    path = tmp_path(".png");
    o.scale = VIZ_SCALE_LINEAR;
    ck_assert_int_eq(export_pattern(&f.t, &o, path, &L), 0);
    img = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_image_surface_get_width(img), L.width);
    pixel(img, (int)(L.x0 + 3.5 * L.cell), (int)(L.y0 + 0.5 * L.cell), got);
    export_cell_rgb(HEAT_MASKED, 0, VIZ_SCALE_LINEAR, want);
    assert_rgb_near(got, want);
    pixel(img, (int)(L.x0 + 0.5 * L.cell), (int)(L.y0 + 3.5 * L.cell), got);
    ramp_rgb(0.3f, want);
    assert_rgb_near(got, want);
    cairo_surface_destroy(img);
    remove(path);
    free(path);

    /* model grid and probabilities figures are written and readable */
    path = tmp_path(".png");
    ck_assert_int_eq(export_model(&f.t, &o, path), 0);
    img = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    ck_assert_int_gt(cairo_image_surface_get_width(img), 100);
    cairo_surface_destroy(img);
    ck_assert_int_eq(export_probs(&f.t, FX_N, 5, path), 0);
    img = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(img);
    remove(path);
    free(path);
    fx_free(&f);
}
END_TEST

START_TEST(test_export_svg_pdf)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    const char *ext[2] = {".svg", ".pdf"}, *magic[2] = {"<?xml", "%PDF"};
    for (int i = 0; i < 2; i++) {
        char *path = tmp_path(ext[i]);
        ck_assert_int_eq(export_attn(&f.t, &o, path, NULL), 0);
        size_t len;
        char *s = read_file(path, &len);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_gt(len, 200);
        ck_assert(strncmp(s, magic[i], strlen(magic[i])) == 0);
        free(s);
        ck_assert_int_eq(export_probs(&f.t, 3, 4, path), 0);
        ck_assert_int_eq(export_model(&f.t, &o, path), 0);
        remove(path);
        free(path);
    }
    fx_free(&f);
}
END_TEST

START_TEST(test_export_csv_exact)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    o.layer = 1;
    o.head = 1;
    char *path = tmp_path(".csv");
    ck_assert_int_eq(export_attn(&f.t, &o, path, NULL), 0);
    char *s = read_file(path, NULL);
    ck_assert_str_eq(s,
        "query,query_token,0,1,2,3\n"
        "0,\"The\",1,,,\n"
        "1,\" кот\",0.99000001,0.00999999978,,\n"
        "2,\" cat\",0.600000024,0.000500000024,0.399500012,\n"
        "3,\"\n\",0.699999988,0.100000001,0.100000001,0.100000001\n");
    /* every number reads back to the trace's float */
    char *line = strtok(s, "\n");
    for (int q = 0; q < 4; q++) {
        line = strtok(NULL, "\n");
        if (q == 3) line = strtok(NULL, "\n");   /* the token text held a newline */
        ck_assert_ptr_nonnull(line);
        char *c = strrchr(line, '"');
        for (int k = 0; k <= q; k++) {
            c = strchr(c, ',') + 1;
            ck_assert(strtof(c, NULL) == fx_attn[1][1][q][k]);
        }
    }
    free(s);
    ck_assert_int_eq(export_probs(&f.t, 3, 3, path), 0);
    s = read_file(path, NULL);
    ck_assert_str_eq(s,
        "rank,id,token,p_model,p_filtered,cut,chosen\n"
        "1,0,\"The\",0.300000012,0.300000012,0,0\n"
        "2,1,\" cat\",0.280000001,0.280000001,0,0\n"
        "3,3,\" кот\",0.150000006,0.150000006,0,0\n");
    free(s);
    ck_assert_int_eq(export_probs(&f.t, 4, 5, path), 0);
    s = read_file(path, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\n4,0,\"The\",0.0500000007,0,1,0\n"));   /* cut by top-k */
    free(s);
    ck_assert_int_eq(export_pattern(&f.t, &o, path, NULL), 0);
    s = read_file(path, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\n1,\" кот\",1,1,0,0\n"));
    free(s);
    ck_assert_int_eq(export_model(&f.t, &o, path), 0);
    s = read_file(path, NULL);
    ck_assert_ptr_nonnull(strstr(s, "layer,head,query,key,weight\n0,0,0,0,1\n0,0,1,0,0.75\n"));
    ck_assert_ptr_nonnull(strstr(s, "\n1,1,2,1,0.000500000024\n"));
    free(s);
    remove(path);
    free(path);
    fx_free(&f);
}
END_TEST

START_TEST(test_export_json_exact)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    o.layer = 0;
    o.head = 1;
    char *path = tmp_path(".json");
    ck_assert_int_eq(export_attn(&f.t, &o, path, NULL), 0);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(json_string_value(json_object_get(root, "kind")), "attention");
    ck_assert_str_eq(json_string_value(json_object_get(root, "mask")), "causal");
    ck_assert_int_eq(json_integer_value(json_object_get(root, "head")), 1);
    json_t *w = json_object_get(root, "weights");
    for (int q = 0; q < 4; q++)
        for (int k = 0; k < 4; k++) {
            json_t *v = json_array_get(json_array_get(w, (size_t)q), (size_t)k);
            if (k > q) ck_assert(json_is_null(v));
            else ck_assert((float)json_real_value(v) == fx_attn[0][1][q][k]);
        }
    json_t *tok = json_array_get(json_object_get(root, "tokens"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(tok, "text")), " кот");
    json_decref(root);
    ck_assert_int_eq(export_probs(&f.t, 4, 5, path), 0);
    root = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(root);
    json_t *top = json_object_get(root, "top");
    ck_assert_int_eq(json_array_size(top), 5);
    ck_assert((float)json_real_value(json_object_get(json_array_get(top, 0), "p")) == 0.40f);
    ck_assert((float)json_real_value(json_object_get(json_array_get(top, 0), "p_filtered")) == 0.4771f);
    ck_assert(json_is_true(json_object_get(json_array_get(top, 3), "cut")));
    ck_assert(json_is_null(json_object_get(root, "chosen")));
    ck_assert_int_eq(json_integer_value(json_object_get(root, "top_k")), 3);
    json_decref(root);
    ck_assert_int_eq(export_model(&f.t, &o, path), 0);
    root = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(root);
    json_t *v = json_array_get(json_array_get(json_array_get(json_array_get(json_object_get(root, "weights"), 1), 1), 2), 1);
    ck_assert((float)json_real_value(v) == fx_attn[1][1][2][1]);
    json_decref(root);
    remove(path);
    free(path);
    fx_free(&f);
}
END_TEST

START_TEST(test_export_errors)
{
    Fixture f;
    fx_build(&f);
    VizOpts o;
    viz_opts_default(&o);
    ExportFormat fmt;
    ck_assert_int_eq(export_format("a.PNG", &fmt), 0);
    ck_assert_int_eq(fmt, EXPORT_PNG);
    ck_assert_int_eq(export_format("fig.tiff", &fmt), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "fig.tiff: unknown file type"));
    ck_assert_int_eq(export_format("dir.png/fig", &fmt), ERR_ARG);
    ck_assert_int_eq(export_attn(&f.t, &o, "/nonexistent-dir/a.csv", NULL), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent-dir/a.csv"));
    ck_assert_int_eq(export_attn(&f.t, &o, "/nonexistent-dir/a.png", NULL), ERR_IO);
    ck_assert_int_eq(export_attn(&f.t, &o, "/nonexistent-dir/a.json", NULL), ERR_IO);
    ck_assert_int_eq(export_probs(&f.t, 1, 5, "/tmp/x.csv"), ERR_STATE);   /* prompt position */
    o.layer = 5;
    ck_assert_int_eq(export_attn(&f.t, &o, "/tmp/x.csv", NULL), ERR_STATE);
    f.t.have_attn = 0;
    o.layer = 0;
    ck_assert_int_eq(export_model(&f.t, &o, "/tmp/x.png"), ERR_STATE);
    ck_assert_int_eq(export_pattern(&f.t, &o, "/tmp/x.png", NULL), ERR_STATE);
    err_clear();
    fx_free(&f);
}
END_TEST


/* ---- sparse patterns: the fixture with a causal window of 2 on layer 1 ---- */

/* Layer 1 as the sparse kernel writes it under "window w=2": each query sees itself and the
 * key before it, every other weight an exact 0.  (3, 2) in head 0 is 0.0004: near zero but
 * inside the pattern, so it must never look like the pruned (3, 0). */
static const float fx_win[FX_NH][FX_N][FX_N] = {
    {{1, 0, 0, 0}, {0.4f, 0.6f, 0, 0}, {0, 0.45f, 0.55f, 0}, {0, 0, 0.0004f, 0.9996f}},
    {{1, 0, 0, 0}, {0.99f, 0.01f, 0, 0}, {0, 0.3f, 0.7f, 0}, {0, 0, 0.75f, 0.25f}},
};

typedef struct {
    Pattern *win;
    const Pattern *pats[FX_L];
    const char *masks[FX_L];
    const char *kernels[FX_L];
} FxPattern;

static void fx_with_pattern(Fixture *f, FxPattern *p)
{
    ck_assert_int_eq(pattern_alloc_window(&p->win, FX_N, 2, 1), 0);
    for (int q = 0; q < FX_N; q++)
        for (int h = 0; h < FX_NH; h++)
            for (int k = 0; k <= q; k++) f->rows[q][(1 * FX_NH + h) * (q + 1) + k] = fx_win[h][q][k];
    p->pats[0] = NULL;
    p->pats[1] = p->win;
    p->masks[0] = "causal";
    p->masks[1] = pattern_name(p->win);
    p->kernels[0] = "attention_forward (engine/attention.c)";
    p->kernels[1] = "attention_sparse (engine/attention.c)";
    f->t.patterns = p->pats;
    f->t.mask_names = p->masks;
    f->t.kernel_names = p->kernels;
}

static const char *exp_attn_win_l1h0 =
    "attention · layer 1 head 0 · pattern sliding window w=2 causal\n"
    "rows = queries, cols = keys\n"
    "       T ␣ ␣ ↵\n"
    "       h к c\n"
    "       e о a\n"
    "keys →   т t\n"
    "0 The │@@· · ·\n"
    "1 ␣кот│==**· ·\n"
    "2 ␣cat│░░==++·\n"
    "3 ↵   │░░░░  @@\n"
    "linear scale 0 [ .:-=+*#%@] 1; · = outside causal mask\n"
    "░ = outside the sparse pattern\n"
    ;

START_TEST(test_pattern_cells)
{
    Fixture f;
    fx_build(&f);
    FxPattern p;
    fx_with_pattern(&f, &p);
    ck_assert_str_eq(viz_mask_name(&f.t, 1), "sliding window w=2 causal");
    ck_assert_str_eq(viz_mask_name(&f.t, 0), "causal");
    ck_assert_str_eq(viz_mask_name(&f.t, 7), "causal");          /* out of range: layer 0's */
    ck_assert_ptr_nonnull(strstr(viz_kernel_name(&f.t, 1), "attention_sparse"));
    /* the near-zero (3, 2) is a blank inside the pattern; the pruned (3, 0) and (3, 1) are ░ */
    CHECK_TEXT(viz_attn_text(&f.t, 1, 0, 80), exp_attn_win_l1h0);
    /* layer 0 has no pattern: no ░, the causal mask only */
    char *s = viz_attn_text(&f.t, 0, 0, 80);
    ck_assert_ptr_null(strstr(s, "░"));
    ck_assert_ptr_nonnull(strstr(s, "· causal mask ·"));
    free(s);

    VizOpts o;
    viz_opts_default(&o);
    o.layer = 1;
    HeatMatrix m;
    ck_assert_int_eq(heatmap_matrix(&m, &f.t, &o), 0);
    ck_assert_int_eq(m.state[3 * 4 + 0], HEAT_PRUNED);
    ck_assert_int_eq(m.state[3 * 4 + 2], HEAT_IN);
    ck_assert_int_eq(m.state[1 * 4 + 3], HEAT_MASKED);
    ck_assert(m.has_pruned && m.has_masked);
    char *ro = heatmap_readout(&m, &f.t, 3, 0);
    ck_assert_str_eq(ro, "query 3 ↵ → key 0 The: outside the pattern (sliding window w=2 causal)");
    free(ro);
    ro = heatmap_readout(&m, &f.t, 3, 2);
    ck_assert_str_eq(ro, "query 3 ↵ → key 2 ␣cat: weight 0.00039999999");
    free(ro);
    heatmap_matrix_done(&m);
    /* a weight of exactly 0 inside the pattern is a weight, not a pruned cell */
    f.rows[3][(1 * FX_NH + 0) * 4 + 2] = 0.0f;
    heatmap_matrix(&m, &f.t, &o);
    ck_assert_int_eq(m.state[3 * 4 + 2], HEAT_IN);
    heatmap_matrix_done(&m);
    f.rows[3][(1 * FX_NH + 0) * 4 + 2] = 0.0004f;

    /* the mean over heads shares the layer's pattern */
    o.agg = VIZ_AGG_MEAN;
    heatmap_matrix(&m, &f.t, &o);
    ck_assert_int_eq(m.state[2 * 4 + 0], HEAT_PRUNED);
    ck_assert_float_eq_tol(m.w[3 * 4 + 3], (0.9996f + 0.25f) / 2, 1e-6f);
    heatmap_matrix_done(&m);
    /* rollout through both layers reaches past one layer's window (layer 0 is dense here),
     * so nothing is pruned; through a window on both layers, (3, 0) is two hops away */
    o.agg = VIZ_AGG_ROLLOUT;
    heatmap_matrix(&m, &f.t, &o);
    ck_assert(!m.has_pruned);
    heatmap_matrix_done(&m);
    p.pats[0] = p.win;
    for (int q = 0; q < FX_N; q++)
        for (int h = 0; h < FX_NH; h++)
            for (int k = 0; k <= q; k++) f.rows[q][(0 * FX_NH + h) * (q + 1) + k] = fx_win[h][q][k];
    heatmap_matrix(&m, &f.t, &o);
    ck_assert_int_eq(m.state[3 * 4 + 1], HEAT_IN);      /* 3 -> 2 -> 1 */
    ck_assert_int_eq(m.state[3 * 4 + 0], HEAT_PRUNED);  /* needs three hops */
    ro = heatmap_readout(&m, &f.t, 3, 0);
    ck_assert_str_eq(ro, "query 3 ↵ → key 0 The: no path through the patterns of layers 0-1");
    free(ro);
    heatmap_matrix_done(&m);
    p.pats[0] = NULL;

    /* the model view names each layer's mask when they differ */
    s = viz_model_text(&f.t, &o, 80);
    ck_assert_ptr_nonnull(strstr(s, "per layer: L0 causal mask, L1 pattern sliding window w=2 causal"));
    ck_assert_ptr_nonnull(strstr(s, "░"));
    free(s);

    /* the pooled view keeps pruned blocks apart from masked ones */
    Canvas *c = canvas_alloc(80, 30, 0);
    viz_opts_default(&o);
    o.layer = 1;
    heatmap_draw(c, (Rect){0, 0, 80, 30}, &f.t, &o);
    const Cell *cell = canvas_cell_const(c, 7, 9);          /* query 3, key 0 */
    ck_assert_int_eq(cell->role, ROLE_PRUNED);
    ck_assert_str_eq(cell->glyph, HEATMAP_PRUNED_GLYPH);
    cell = canvas_cell_const(c, 8, 9);                      /* the whole cell is textured */
    ck_assert_str_eq(cell->glyph, HEATMAP_PRUNED_GLYPH);
    cell = canvas_cell_const(c, 11, 9);                     /* query 3, key 2: near zero */
    ck_assert_int_eq(cell->role, ROLE_HEAT);
    canvas_free(c);
    /* in colour, a pruned cell has a ground no ramp colour has */
    Cell pc = {.glyph = "░", .width = 1, .role = ROLE_PRUNED, .color = -1, .heat = -1};
    CrtStyle ps = crt_style(&pc, CRT_COLOR256);
    for (int i = 0; i <= 32; i++) ck_assert_int_ne(ps.bg, ramp_xterm256((float)i / 32));

    /* the status line names the selected layer's mask and engine function */
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    wb->o.layer = 1;
    s = wb_text(wb, &f.t, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(s, " tiny.safetensors · sliding window w=2 causal mask · attention_sparse"));
    free(s);
    layout_free(wb);
    pattern_free(p.win);
    fx_free(&f);
}
END_TEST

START_TEST(test_pattern_exports)
{
    Fixture f;
    fx_build(&f);
    FxPattern p;
    fx_with_pattern(&f, &p);
    VizOpts o;
    viz_opts_default(&o);
    o.layer = 1;
    char *path = tmp_path(".csv");
    ck_assert_int_eq(export_pattern(&f.t, &o, path, NULL), 0);
    char *s = read_file(path, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\n3,\"\n\",0,0,1,1\n"));
    free(s);
    ck_assert_int_eq(export_attn(&f.t, &o, path, NULL), 0);
    s = read_file(path, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\n2,\" cat\",,0.449999988,0.550000012,\n"));
    free(s);
    remove(path);
    free(path);

    path = tmp_path(".json");
    ck_assert_int_eq(export_attn(&f.t, &o, path, NULL), 0);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(json_string_value(json_object_get(root, "mask")), "sliding window w=2 causal");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(root, "kernel")), "attention_sparse"));
    json_t *cells = json_object_get(root, "cells");
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(cells, 3), 0)), "pattern");
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(cells, 3), 2)), "in");
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(cells, 0), 3)), "mask");
    ck_assert(json_is_null(json_array_get(json_array_get(json_object_get(root, "weights"), 3), 0)));
    json_decref(root);
    remove(path);
    free(path);

    /* figure: the pruned (3, 0) has the pattern's grey, the near-zero (3, 2) the ramp's
     * dark end, and the two are far apart */
    path = tmp_path(".png");
    ExportLayout L;
    ck_assert_int_eq(export_attn(&f.t, &o, path, &L), 0);
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    double got[3], want[3], near0[3];
    pixel(img, (int)(L.x0 + 0.5 * L.cell), (int)(L.y0 + 3.5 * L.cell), got);
    export_cell_rgb(HEAT_PRUNED, 0, VIZ_SCALE_LINEAR, want);
    assert_rgb_near(got, want);
    pixel(img, (int)(L.x0 + 2.5 * L.cell), (int)(L.y0 + 3.5 * L.cell), near0);
    export_cell_rgb(HEAT_IN, 0.0004f, VIZ_SCALE_LINEAR, want);
    assert_rgb_near(near0, want);
    double d = fabs(got[0] - near0[0]) + fabs(got[1] - near0[1]) + fabs(got[2] - near0[2]);
    ck_assert(d > 0.6);
    pixel(img, (int)(L.x0 + 3.5 * L.cell), (int)(L.y0 + 0.5 * L.cell), got);
    export_cell_rgb(HEAT_MASKED, 0, VIZ_SCALE_LINEAR, want);
    assert_rgb_near(got, want);
    cairo_surface_destroy(img);
    ck_assert_int_eq(export_pattern(&f.t, &o, path, &L), 0);
    img = cairo_image_surface_create_from_png(path);
    pixel(img, (int)(L.x0 + 0.5 * L.cell), (int)(L.y0 + 3.5 * L.cell), got);
    export_cell_rgb(HEAT_PRUNED, 0, VIZ_SCALE_LINEAR, want);
    assert_rgb_near(got, want);
    cairo_surface_destroy(img);
    remove(path);
    free(path);
    pattern_free(p.win);
    fx_free(&f);
}
END_TEST

/* ---- zoom and scroll ---- */

START_TEST(test_zoom_scroll_window)
{
    Long g;
    long_build(&g);
    VizOpts o;
    viz_opts_default(&o);
    o.zoom = 1;
    o.row0 = 20;
    o.col0 = 10;
    /* a 48 x 24 pane: one token per cell, a window of rows and keys, labels exact */
    Canvas *c = canvas_alloc(48, 24, 0);
    HeatGeo geo;
    heatmap_draw_geo(c, (Rect){0, 0, 48, 24}, &g.t, &o, &geo);
    char *s = canvas_to_text(c);
    ck_assert_int_eq(geo.bs, 1);
    ck_assert_int_eq(geo.nb, 40);
    ck_assert_int_eq(geo.r0, 20);
    ck_assert_int_eq(geo.c0, 10);
    ck_assert_int_eq(geo.cw, 2);
    ck_assert_int_eq(geo.vc, 19);                 /* (48 - 8 - 1) / 2: labels "39 сидит" */
    ck_assert_int_eq(geo.vr, 13);                 /* 24 - 2 title - 5 key labels - 4 legend */
    ck_assert_msg(strstr(s, "\nrows 20-32, cols 10-28 of 40\nzoom 1: a token per cell\n"), "%s", s);
    ck_assert_ptr_nonnull(strstr(s, "\n20 ↵    │"));          /* row label: index and token */
    ck_assert_ptr_nonnull(strstr(s, "\n31 ⇥    │"));
    ck_assert_ptr_null(strstr(s, "\n19 "));
    ck_assert_ptr_null(strstr(s, "\n33 "));
    /* key labels of the window's first column: key 10 is " кот" -> "␣", "к", ... */
    ck_assert_ptr_nonnull(strstr(s, "\n         ␣ ↵ ␣ ⇥ \\ ∅ с a T ␣ ↵"));
    free(s);

    /* the cursor stays in view: the window moves as little as needed */
    canvas_clear(c);
    o.cur_q = 39;
    o.cur_k = 3;
    heatmap_draw_geo(c, (Rect){0, 0, 48, 24}, &g.t, &o, &geo);
    ck_assert_int_eq(geo.r0, 28);                 /* rows 28-39: one row less for the readout */
    ck_assert_int_eq(geo.c0, 3);
    s = canvas_to_text(c);
    ck_assert_ptr_nonnull(strstr(s, "rows 28-39, cols 3-21 of 40\nzoom 1: a token per cell\n"
                                    "query 39 ␣кот → key 3 ␣кот: weight 0.0102564106\n"));
    free(s);

    /* zoom 4: blocks of 4 tokens, pooled by max, stated */
    canvas_clear(c);
    o.zoom = 4;
    o.cur_q = o.cur_k = -1;
    o.row0 = o.col0 = 0;
    heatmap_draw_geo(c, (Rect){0, 0, 48, 24}, &g.t, &o, &geo);
    ck_assert_int_eq(geo.bs, 4);
    ck_assert_int_eq(geo.nb, 10);
    s = canvas_to_text(c);
    ck_assert_ptr_nonnull(strstr(s, "rows 0-39, cols 0-39 of 40\nzoom 4: blocks 4×4, max\n"));
    ck_assert_ptr_nonnull(strstr(s, "\n 0-3 │@@· · · · · · · · ·\n"));
    free(s);
    canvas_free(c);

    /* plain text (unlimited height) shows every row and the columns that fit */
    viz_opts_default(&o);
    o.zoom = 1;
    o.col0 = 30;
    s = viz_attn_text_opts(&g.t, &o, 40);
    ck_assert_ptr_nonnull(strstr(s, "rows 0-39, cols 25-39 of 40\nzoom 1: a token per cell"));
    ck_assert_ptr_nonnull(strstr(s, "\n 0 The  │· · · · · · · · · · · · · · ·\n"));
    ck_assert_ptr_nonnull(strstr(s, "\n25 сидит│  · · · "));   /* (25, 25): 0.4/25 is a blank */
    ck_assert_ptr_nonnull(strstr(s, "\n39 ␣кот │\n"));
    free(s);
    long_free(&g);
}
END_TEST

START_TEST(test_layout_zoom_scroll_keys)
{
    Long g;
    long_build(&g);
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    char *s = wb_text(wb, &g.t, NULL, NULL);
    ck_assert_int_gt(wb->geo.bs, 1);                /* 40 tokens pooled to fit */
    free(s);
    layout_key(wb, &g.t, CRT_KEY_ESC);             /* the attention pane, cursor (39, 0) */
    ck_assert_int_eq(wb->o.cur_q, 39);
    ck_assert(layout_key(wb, &g.t, '+') & LAYOUT_REDRAW);
    ck_assert_int_eq(wb->o.zoom, 1);
    s = wb_text(wb, &g.t, NULL, NULL);
    ck_assert_int_eq(wb->geo.bs, 1);
    ck_assert_int_gt(wb->geo.vr, 5);
    ck_assert_int_lt(wb->geo.vr, 40);
    int r0 = wb->geo.r0, vr = wb->geo.vr;
    ck_assert_int_eq(r0 + vr - 1, 39);              /* the cursor row is in the window */
    char *want = xasprintf("rows %d-39, cols 0-%d of 40; zoom 1: a token per cell", r0, wb->geo.vc - 1);
    ck_assert_msg(strstr(s, want), "%s", s);
    free(want);
    free(s);
    layout_key(wb, &g.t, '+');                      /* already one token per cell */
    ck_assert_ptr_nonnull(wb->flash);
    layout_key(wb, &g.t, CRT_KEY_PGUP);             /* a page up; the cursor comes along */
    ck_assert_int_eq(wb->o.row0, r0 - vr > 0 ? r0 - vr : 0);
    ck_assert_int_le(wb->o.cur_q, wb->o.row0 + vr - 1);
    s = wb_text(wb, &g.t, NULL, NULL);
    ck_assert_int_eq(wb->geo.r0, wb->o.row0);
    free(s);
    layout_key(wb, &g.t, CRT_KEY_SDOWN);            /* one row down */
    ck_assert_int_eq(wb->o.row0, (r0 - vr > 0 ? r0 - vr : 0) + 1);
    s = wb_text(wb, &g.t, NULL, NULL);
    free(s);
    layout_key(wb, &g.t, '>');                      /* a page of keys right */
    s = wb_text(wb, &g.t, NULL, NULL);
    ck_assert_int_eq(wb->geo.c0, 40 - wb->geo.vc);  /* clamped at the last key */
    ck_assert_int_ge(wb->o.cur_k, wb->geo.c0);
    free(s);
    layout_key(wb, &g.t, CRT_KEY_SLEFT);
    ck_assert_int_eq(wb->o.col0, 40 - wb->geo.vc - 1);
    layout_key(wb, &g.t, '-');                      /* out: two tokens per cell */
    ck_assert_int_eq(wb->o.zoom, 2);
    for (int i = 0; i < 8 && wb->o.zoom > 0; i++) {  /* until the whole matrix fits: fit */
        s = wb_text(wb, &g.t, NULL, NULL);
        free(s);
        layout_key(wb, &g.t, '-');
    }
    ck_assert_int_eq(wb->o.zoom, 0);
    layout_key(wb, &g.t, '-');
    ck_assert_ptr_nonnull(strstr(wb->flash, "whole matrix"));
    layout_key(wb, &g.t, CRT_KEY_PGDN);             /* nothing to scroll at fit */
    ck_assert_ptr_nonnull(strstr(wb->flash, "whole matrix is shown"));
    wb->o.zoom = 3;
    layout_key(wb, &g.t, 'z');
    ck_assert_int_eq(wb->o.zoom, 0);
    layout_free(wb);
    long_free(&g);
}
END_TEST

START_TEST(test_layout_branch_and_candidates)
{
    Fixture f;
    fx_build(&f);
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    ck_assert_int_eq(layout_scrubbed(wb, &f.t), -1);
    char *s = wb_text(wb, &f.t, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\ntokens · 4 (3 prompt + 1 generated) · current position 3\n"));
    free(s);
    char *msg;
    const char *step3[] = {"view", "step", "3"};
    ck_assert_int_eq(layout_command(wb, &f.t, 3, step3, &msg), 0);
    free(msg);
    ck_assert_int_eq(layout_scrubbed(wb, &f.t), 3);
    s = wb_text(wb, &f.t, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\nscrubbed back to position 3 of 4 · back, force, step, gen branch here · "
                                    "End: latest\n"));
    free(s);
    /* b asks for back; on the probabilities pane arrows pick a candidate, Enter forces it */
    layout_key(wb, &f.t, CRT_KEY_ESC);
    ck_assert(layout_key(wb, &f.t, 'b') & LAYOUT_BACK);
    const char *pane[] = {"view", "pane", "probs"};
    ck_assert_int_eq(layout_command(wb, &f.t, 3, pane, &msg), 0);
    free(msg);
    ck_assert(layout_key(wb, &f.t, '\r') & LAYOUT_REDRAW);      /* nothing picked yet */
    ck_assert_ptr_nonnull(strstr(wb->flash, "pick a candidate"));
    layout_key(wb, &f.t, CRT_KEY_DOWN);
    layout_key(wb, &f.t, CRT_KEY_DOWN);
    ck_assert_int_eq(wb->o.cand, 1);
    s = wb_text(wb, &f.t, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(s, "│2▸␣cat  0.2800"));          /* dist[3]: The, ␣cat, ... */
    free(s);
    int fl = layout_key(wb, &f.t, '\r');
    ck_assert(fl & LAYOUT_FORCE);
    ck_assert_int_eq(wb->force_id, 1);                              /* " cat" */
    ck_assert_int_eq(wb->o.cand, -1);
    layout_key(wb, &f.t, CRT_KEY_END);                              /* back to the latest */
    ck_assert_int_eq(layout_scrubbed(wb, &f.t), -1);
    const char *cand[] = {"view", "cand", "1"};
    ck_assert_int_eq(layout_command(wb, &f.t, 3, cand, &msg), 0);
    free(msg);
    ck_assert_int_eq(layout_key(wb, &f.t, '\r') & LAYOUT_FORCE, LAYOUT_FORCE);
    ck_assert_int_eq(wb->force_id, 1);                              /* pending: ␣cat 0.40 first */
    const char *bad[] = {"view", "cand", "0"};
    ck_assert_int_eq(layout_command(wb, &f.t, 3, bad, &msg), -1);
    free(msg);
    layout_free(wb);
    fx_free(&f);
}
END_TEST

START_TEST(test_layout_zoom_commands_and_attn_opts)
{
    Long g;
    long_build(&g);
    Workbench *wb = layout_alloc();
    layout_place(wb, 100, 35);
    char *msg, *note;
#define CMD(...) layout_command(wb, &g.t, (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)), \
                                (const char *[]){__VA_ARGS__}, &msg)
    ck_assert_int_eq(CMD("view", "zoom", "2"), 0);
    ck_assert_str_eq(msg, "view: zoom 2, blocks of 2×2 tokens; view scroll Q K moves the window");
    free(msg);
    ck_assert_int_eq(wb->o.zoom, 2);
    ck_assert_int_eq(CMD("view", "zoom", "0"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "zoom", "x"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "scroll", "10", "4"), 0);
    ck_assert_str_eq(msg, "view: window from query 10, key 4");
    free(msg);
    ck_assert_int_eq(wb->o.row0, 10);
    ck_assert_int_eq(wb->o.col0, 4);
    ck_assert_int_eq(CMD("view", "scroll", "40", "0"), -1);
    ck_assert_str_eq(msg, "view scroll: expected QUERY KEY in 0..39 (the window's top-left cell)");
    free(msg);
    ck_assert_int_eq(CMD("view", "scroll", "1"), -1);
    free(msg);
    ck_assert_int_eq(CMD("view", "zoom", "fit"), 0);
    free(msg);
    ck_assert_int_eq(wb->o.zoom, 0);
    ck_assert_int_eq(CMD("view", "zoom", "out"), 0);
    ck_assert_str_eq(msg, "zoom: the whole matrix is shown");
    free(msg);
#undef CMD

    /* attn's own options over the view's */
    VizOpts o;
    viz_opts_default(&o);
    o.agg = VIZ_AGG_MEAN;
    o.scale = VIZ_SCALE_LOG;
    const char *a1[] = {"0"};
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 1, a1, &note, &msg), 0);
    ck_assert_int_eq(o.agg, VIZ_AGG_MEAN);                 /* the view's aggregate stays... */
    ck_assert_str_eq(note, "(view agg mean is in force, so head 0 is not used alone: add 'head' for one head)");
    free(note);
    const char *a2[] = {"0", "head", "linear", "hide-first", "mass", "80%", "pool", "mean", "zoom", "3"};
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 10, a2, &note, &msg), 0);
    ck_assert_ptr_null(note);
    ck_assert_int_eq(o.agg, VIZ_AGG_HEAD);
    ck_assert_int_eq(o.scale, VIZ_SCALE_LINEAR);
    ck_assert(o.hide_first);
    ck_assert_float_eq_tol(o.mass, 0.8f, 1e-6f);
    ck_assert_int_eq(o.pool, VIZ_POOL_MEAN);
    ck_assert_int_eq(o.zoom, 3);
    const char *a3[] = {"rollout", "show-first", "zoom", "fit"};
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 4, a3, &note, &msg), 0);
    ck_assert_int_eq(o.agg, VIZ_AGG_ROLLOUT);
    ck_assert(!o.hide_first);
    ck_assert_int_eq(o.zoom, 0);
    const char *b1[] = {"1"};
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 1, b1, &note, &msg), -1);   /* one head only */
    ck_assert_str_eq(msg, "head H must be an integer from 0 to 0 (or mean, max, rollout), got '1'");
    free(msg);
    const char *b2[] = {"0", "mass", "2x"};
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 3, b2, &note, &msg), -1);
    free(msg);
    const char *b3[] = {"0", "zoom", "0"};
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 3, b3, &note, &msg), -1);
    free(msg);
    const char *b4[] = {"0", "sideways"};
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 2, b4, &note, &msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "unknown option 'sideways'"));
    free(msg);
    ck_assert_int_eq(layout_attn_opts(&o, &g.t, 0, 0, b4, &note, &msg), -1);
    free(msg);
    layout_free(wb);
    long_free(&g);
}
END_TEST

START_TEST(test_tokens_strip_follows_current)
{
    Long g;
    long_build(&g);
    /* 40 chips in a 3-row strip 40 columns wide: the current chip stays on screen */
    Canvas *c = canvas_alloc(40, 3, 0);
    tokens_draw(c, (Rect){0, 0, 40, 3}, &g.t, 2, 0, NULL);
    char *s = canvas_to_text(c);
    ck_assert_str_eq(s, "tokens · 40 (40 prompt + 0 generated) ·…\n"
                        "[The] [␣cat] ▶[↵] [␣кот] [⇥] [\\xD0] [∅]\n"
                        "[сидит] [a\\x01] [The] [␣cat] [↵] [␣кот]\n");
    free(s);
    canvas_clear(c);
    tokens_draw(c, (Rect){0, 0, 40, 3}, &g.t, 39, 0, "scrubbed");
    s = canvas_to_text(c);
    ck_assert_msg(strstr(s, "scrubbed\n…") == s, "%s", s);
    ck_assert_str_eq(s, "scrubbed\n… [\\xD0] [∅] [сидит] [a\\x01] [The]\n[␣cat] [↵] ▶[␣кот]\n");
    free(s);
    canvas_free(c);
    long_free(&g);
}
END_TEST

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    Suite *s = suite_create("viz");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_utf8_decode_and_width);
    tcase_add_test(tc, test_canvas_put_clip_and_text);
    tcase_add_test(tc, test_canvas_grow_and_parts);
    tcase_add_test(tc, test_token_escape);
    tcase_add_test(tc, test_attn_text_exact);
    tcase_add_test(tc, test_heat_matrix_aggregates);
    tcase_add_test(tc, test_heat_matrix_hide_first_and_mass);
    tcase_add_test(tc, test_levels_and_shades);
    tcase_add_test(tc, test_attn_pooled);
    tcase_add_test(tc, test_readout_exact);
    tcase_add_test(tc, test_probs_text_exact);
    tcase_add_test(tc, test_topk_and_entropy);
    tcase_add_test(tc, test_tokens_text_exact);
    tcase_add_test(tc, test_step_text_exact);
    tcase_add_test(tc, test_model_text_exact);
    tcase_add_test(tc, test_lens_text_exact);
    tcase_add_test(tc, test_heat_cells_carry_levels);
    tcase_add_test(tc, test_ramp_and_scheme);
    tcase_add_test(tc, test_layout_places_panes);
    tcase_add_test(tc, test_layout_draw_screen);
    tcase_add_test(tc, test_layout_output_streams);
    tcase_add_test(tc, test_layout_keys);
    tcase_add_test(tc, test_layout_commands);
    tcase_add_test(tc, test_export_png_pixels);
    tcase_add_test(tc, test_export_svg_pdf);
    tcase_add_test(tc, test_export_csv_exact);
    tcase_add_test(tc, test_export_json_exact);
    tcase_add_test(tc, test_export_errors);
    tcase_add_test(tc, test_pattern_cells);
    tcase_add_test(tc, test_pattern_exports);
    tcase_add_test(tc, test_zoom_scroll_window);
    tcase_add_test(tc, test_layout_zoom_scroll_keys);
    tcase_add_test(tc, test_layout_branch_and_candidates);
    tcase_add_test(tc, test_layout_zoom_commands_and_attn_opts);
    tcase_add_test(tc, test_tokens_strip_follows_current);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
