/* plain — the views rendered as text (see plain.h).  Owns nothing but the glue: a growing
 * canvas, the view's draw function, canvas_to_text. */
#include "viz/plain.h"

#include "viz/canvas.h"

static Canvas *sheet(int *width)
{
    if (*width < 20) *width = 20;
    return canvas_alloc(*width, 1, 1);
}

static char *done(Canvas *c)
{
    char *s = canvas_to_text(c);
    canvas_free(c);
    return s;
}

char *viz_attn_text_opts(const Trace *t, const VizOpts *o, int width)
{
    Canvas *c = sheet(&width);
    heatmap_draw(c, (Rect){0, 0, width, VIZ_UNLIMITED}, t, o);
    return done(c);
}

char *viz_attn_text(const Trace *t, int layer, int head, int width)
{
    VizOpts o;
    viz_opts_default(&o);
    o.layer = layer;
    o.head = head;
    return viz_attn_text_opts(t, &o, width);
}

char *viz_model_text(const Trace *t, const VizOpts *o, int width)
{
    Canvas *c = sheet(&width);
    heatmap_draw_model(c, (Rect){0, 0, width, VIZ_UNLIMITED}, t, o);
    return done(c);
}

char *viz_probs_text_at(const Trace *t, int pos, int k, int width)
{
    Canvas *c = sheet(&width);
    bars_draw_probs(c, (Rect){0, 0, width, VIZ_UNLIMITED}, t, pos, k, NULL);
    return done(c);
}

char *viz_probs_text(const Trace *t, int k, int width)
{
    return viz_probs_text_at(t, t->n, k, width);
}

char *viz_tokens_text(const Trace *t, int width)
{
    Canvas *c = sheet(&width);
    tokens_draw(c, (Rect){0, 0, width, VIZ_UNLIMITED}, t, -1, 1, NULL);
    return done(c);
}

char *viz_lens_text(const Trace *t, const LensTable *lt, int width)
{
    Canvas *c = sheet(&width);
    lensview_draw(c, (Rect){0, 0, width, VIZ_UNLIMITED}, t, lt, -1);
    return done(c);
}

char *viz_step_text(const Trace *t, int pos, int k, int width)
{
    Canvas *c = sheet(&width);
    bars_draw_step(c, (Rect){0, 0, width, 1}, t, pos, k);
    return done(c);
}
