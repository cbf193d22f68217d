/* views — what each pane shows, drawn into a Canvas.
 *
 * Every view is a pure function of (Trace, options) drawn into a rectangle of a canvas;
 * the same code gives the terminal panes, the plain-text rendering (plain.h) and the tests.
 * The view options (VizOpts) are the screen's model: keys and `view ...` commands change
 * them, the views read them.  The Trace is read as const data; viz never calls the engine.
 *
 * Attention is first turned into a HeatMatrix (the numbers to show: one head or an
 * aggregate, first token hidden and renormalised, mass threshold applied, each cell marked
 * in the mask, outside the causal mask, or outside the layer's sparse pattern as the trace
 * records it), then pooled to the space available (or zoomed and scrolled) and drawn.  Keeping the numbers
 * apart from the drawing is what lets the cursor read out exact weights and lets export.c
 * draw the same matrix through cairo.
 */
#ifndef LECTERN_VIZ_VIEWS_H
#define LECTERN_VIZ_VIEWS_H

#include <stdint.h>

#include <stddef.h>   /* engine/trace.h uses size_t without including it */

#include "engine/trace.h"
#include "viz/canvas.h"

typedef enum {
    VIZ_AGG_HEAD = 0,   /* the selected head */
    VIZ_AGG_MEAN,       /* mean over the heads of the selected layer */
    VIZ_AGG_MAX,        /* max over the heads of the selected layer */
    VIZ_AGG_ROLLOUT,    /* attention rollout (Abnar & Zuidema 2020) through the selected layer */
    VIZ_AGG_COUNT
} VizAgg;

typedef enum { VIZ_POOL_MAX = 0, VIZ_POOL_MEAN = 1 } VizPool;
typedef enum { VIZ_SCALE_LINEAR = 0, VIZ_SCALE_LOG = 1 } VizScale;

/* A rectangle this tall means "as many rows as needed" (plain text on a growing canvas). */
#define VIZ_UNLIMITED (1 << 20)

/* Lowest weight the log scale shows (10^VIZ_LOG_FLOOR); weights below draw as blank. */
#define VIZ_LOG_FLOOR (-4)

typedef struct {
    int layer, head;     /* selected layer and head */
    VizAgg agg;
    VizPool pool;        /* how cells are pooled into blocks when n exceeds the space */
    VizScale scale;
    float mass;          /* per-row cumulative mass threshold in (0, 1]; 1 = show every weight */
    int hide_first;      /* hide key 0 (BOS/first token) and renormalise each row */
    int cur_q, cur_k;    /* heatmap cursor in matrix coordinates; -1 = no cursor */
    int locked;          /* readout locked to the cursor cell */
    int step;            /* position shown by the token strip/probabilities; -1 = latest */
    int show_ids;        /* token chips show ids */
    int lens_layer;      /* logit-lens scrubber row; -1 = none */
    int presenter;       /* bigger cells and bars for a projector */
    int zoom;            /* attention pane: tokens per cell side (1 = every token its own cell),
                            scrolled with row0/col0; 0 = fit the whole matrix, pooled as needed */
    int row0, col0;      /* first query row and key column shown when zoomed (the drawing
                            moves them as little as needed to keep the cursor in view) */
    int cand;            /* probabilities pane: highlighted candidate (rank from 0), -1 none */
} VizOpts;

void viz_opts_default(VizOpts *o);

/* Cell states of a HeatMatrix.  HEAT_MASKED: the causal mask hides the key (a later
 * position); HEAT_PRUNED: the mask allows it but the layer's sparse pattern does not (for
 * rollout: no chain of allowed cells leads there), so the kernel never scored it. */
enum { HEAT_IN = 0, HEAT_MASKED = 1, HEAT_HIDDEN = 2, HEAT_BELOW = 3, HEAT_PRUNED = 4 };

typedef struct {
    int n;              /* queries = keys = n */
    float *w;           /* (n, n) weights shown (after aggregation and renormalisation) */
    uint8_t *state;     /* (n, n) HEAT_*: in the mask, outside it, hidden, below mass threshold */
    char what[96];      /* "layer 1 head 0", "mean of layer 1's 4 heads", ... */
    int layer;          /* the layer whose mask and pattern the states follow */
    int agg;            /* VizAgg it was computed with */
    int has_masked, has_pruned;   /* some cell is HEAT_MASKED / HEAT_PRUNED */
} HeatMatrix;

/* The mask, pattern or kernel in force on layer l ("causal", "sliding window w=4 causal"),
 * and the engine function that computes it: the trace's per-layer names when it has them,
 * else layer 0's. */
const char *viz_mask_name(const Trace *t, int layer);
const char *viz_kernel_name(const Trace *t, int layer);

/* Computes the matrix for opts (layer, head, agg, hide_first, mass).  Returns 0, or -1
 * when the trace has no attention captured or layer/head is out of range (m is then
 * empty but valid).  heatmap_matrix_done frees the arrays. */
int heatmap_matrix(HeatMatrix *m, const Trace *t, const VizOpts *o);
void heatmap_matrix_done(HeatMatrix *m);

/* Position of weight w on the colour ramp in [0, 1] for the scale. */
float heatmap_level(float w, VizScale scale);
/* The monochrome shade character (one of " .:-=+*#%@") for a ramp position. */
const char *heatmap_shade(float level);
#define HEATMAP_SHADES " .:-=+*#%@"
#define HEATMAP_MASKED_GLYPH "·"   /* outside the mask or pattern */
#define HEATMAP_HIDDEN_GLYPH "×"   /* hidden first token */
#define HEATMAP_BELOW_GLYPH "~"    /* below the cumulative-mass threshold */
#define HEATMAP_PRUNED_GLYPH "░"   /* outside the layer's sparse pattern (fills the cell) */

/* Block size when n cells must fit in `space` cells (1 when they fit). */
int heatmap_block(int n, int space);

/* Draws the attention pane (title, token labels, heat cells, legend, cursor readout) into
 * r; returns the rows used.  Requires r.w >= 20.  When the trace has no attention, says so. */
int heatmap_draw(Canvas *c, Rect r, const Trace *t, const VizOpts *o);
/* Where the cells went: block size, blocks per side, the first cell's canvas position and
 * the cell width and height (for moving a cursor block by block and for hit tests), and
 * the window of blocks shown (all of them unless zoomed in). */
typedef struct {
    int bs, nb, x0, y0, cw;
    int rh;             /* rows per cell (2 in presenter mode when they fit) */
    int r0, c0;         /* first block row and column shown */
    int vr, vc;         /* block rows and columns shown */
    int cap_r, cap_c;   /* block rows and columns the pane has room for */
} HeatGeo;
int heatmap_draw_geo(Canvas *c, Rect r, const Trace *t, const VizOpts *o, HeatGeo *geo);
/* All layers x heads as small heatmaps; the selected one highlighted.  Returns rows used. */
int heatmap_draw_model(Canvas *c, Rect r, const Trace *t, const VizOpts *o);

/* The readout line for the cursor: "query 3 ␣sat → key 1 ␣cat: weight 0.215340197", or
 * why the cell has no weight (outside the causal mask, outside the pattern, hidden).
 * Caller frees. */
char *heatmap_readout(const HeatMatrix *m, const Trace *t, int q, int k);

/* Probabilities of the distribution dist[pos] (pos == n: the pending next token): the top k
 * by model probability as bars, model p beside the p sampled from (after temperature /
 * top-k / top-p), cut tokens marked, the chosen token marked, entropies; o->cand (o may be
 * NULL) highlights one candidate.  Rows used. */
int bars_draw_probs(Canvas *c, Rect r, const Trace *t, int pos, int k, const VizOpts *o);
/* One line: the token chosen at pos and the top-k candidates. */
int bars_draw_step(Canvas *c, Rect r, const Trace *t, int pos, int k);
/* Entropy in bits of a distribution over V (0 * log 0 = 0). */
double bars_entropy_bits(const float *p, int V);
/* Indices of the k largest values of p (V), largest first (ties: lower id first).
 * Returns the count written (min(k, V)). */
int bars_topk(const float *p, int V, int k, int *idx);

/* Token strings made visible: space ␣, newline ↵, tab ⇥, carriage return ␍, other control
 * bytes and invalid UTF-8 as \xNN, an empty token as ∅, an id without a string as #id.
 * Caller frees. */
char *tokens_escape(const Trace *t, int id);
/* The token strip: chips with (optionally) ids, prompt and generated tokens told apart, the
 * current position marked (-1: the last).  note (may be NULL) replaces the title line, drawn
 * as a warning (the screen says there that the strip is scrubbed back).  Rows used. */
int tokens_draw(Canvas *c, Rect r, const Trace *t, int current, int show_ids, const char *note);

/* The logit lens: layers (rows, embeddings to final) x positions (columns), each cell the
 * top token with its probability, coloured by it; sel_layer marks the scrubber (-1 none). */
int lensview_draw(Canvas *c, Rect r, const Trace *t, const LensTable *lt, int sel_layer);

#endif
