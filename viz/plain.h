/* plain — every view as plain UTF-8 text, for pipes, `--plain`, scripts and tests.
 *
 * Each function renders the view into a growing Canvas `width` columns wide (at least 20)
 * and returns its text: lines end in '\n', trailing spaces are trimmed.  The caller frees
 * the string with free().  Long sequences are pooled into blocks when n exceeds the width,
 * and the pooling (max or mean) is stated in the text.  Nothing here touches a terminal.
 */
#ifndef LECTERN_VIZ_PLAIN_H
#define LECTERN_VIZ_PLAIN_H

#include <stddef.h>   /* engine/trace.h uses size_t without including it */

#include "engine/trace.h"
#include "viz/views.h"

char *viz_attn_text(const Trace *t, int layer, int head, int width);
char *viz_probs_text(const Trace *t, int k, int width);
char *viz_tokens_text(const Trace *t, int width);
char *viz_lens_text(const Trace *t, const LensTable *lt, int width);
char *viz_step_text(const Trace *t, int pos, int k, int width);

/* With every option of the screen (aggregates, pooling, scale, hiding, mass, cursor). */
char *viz_attn_text_opts(const Trace *t, const VizOpts *o, int width);
/* The model view: all layers x heads as small heatmaps. */
char *viz_model_text(const Trace *t, const VizOpts *o, int width);
/* Probabilities of the distribution that predicted position pos (pos == t->n: pending). */
char *viz_probs_text_at(const Trace *t, int pos, int k, int width);

#endif
