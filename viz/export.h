/* export — figures and data files of what the views show.
 *
 * Figures (PNG, SVG, PDF) are drawn with cairo: token labels in DejaVu Sans (it has
 * Cyrillic), a colour bar with values, a title naming the model, the prompt, the layer,
 * the head and the mask or pattern.  Data files (CSV, JSON) carry the exact numbers the
 * trace holds (printed with 9 significant digits, which read back to the same float).
 * The format comes from the file name's extension.  Errors go through engine/err.h:
 * functions return 0 or a negative ERR_* code with a one-line message naming the file.
 */
#ifndef LECTERN_VIZ_EXPORT_H
#define LECTERN_VIZ_EXPORT_H

#include <stddef.h>

#include "engine/trace.h"
#include "viz/views.h"

typedef enum { EXPORT_PNG = 0, EXPORT_SVG, EXPORT_PDF, EXPORT_CSV, EXPORT_JSON } ExportFormat;

/* The format for path's extension (case-insensitive): 0, or ERR_ARG for an unknown one. */
int export_format(const char *path, ExportFormat *fmt);

/* Where an attention figure puts things, in pixels (PNG) or points (SVG, PDF). */
typedef struct {
    int width, height;     /* the whole figure */
    double x0, y0;         /* top-left corner of cell (0, 0) */
    double cell;           /* side of one cell */
    int n;                 /* cells per side */
} ExportLayout;

/* The attention matrix of opts (layer, head, aggregate, hide-first, mass threshold) for
 * all positions.  layout (may be NULL) receives the geometry of a figure. */
int export_attn(const Trace *t, const VizOpts *o, const char *path, ExportLayout *layout);
/* The distribution that predicted position pos (t->n: the pending one), top k. */
int export_probs(const Trace *t, int pos, int k, const char *path);
/* Every layer x head as a grid of heatmaps (figure), or every weight (data). */
int export_model(const Trace *t, const VizOpts *o, const char *path);
/* Which cells the mask/pattern of layer o->layer lets a query see (1) or not (0). */
int export_pattern(const Trace *t, const VizOpts *o, const char *path, ExportLayout *layout);

/* The fill colour of a weight in a figure: the ramp for weights in the mask, a light grey
 * for cells outside it, a pale red for hidden ones (same as the figure uses). */
void export_cell_rgb(int state, float w, VizScale scale, double rgb[3]);

#endif
