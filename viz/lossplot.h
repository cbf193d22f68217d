/* lossplot — the loss curve of a training run, as text for the terminal and as a PNG.
 *
 * Input is plain data (steps, training loss, validation loss with NAN where none was
 * measured), as the trainer's history holds it.  The PNG is drawn with cairo and a small
 * built-in pixel font (digits and the few letters the axes need), so it needs no font
 * library and the same data always gives the same image.
 */
#ifndef LECTERN_VIZ_LOSSPLOT_H
#define LECTERN_VIZ_LOSSPLOT_H

#include <stddef.h>

typedef struct {
    const long *step;     /* (n) increasing */
    const float *train;   /* (n) */
    const float *val;     /* (n) NAN where not measured; may be NULL */
    int n;
} LossCurve;

/* A width x height character plot ('*' training, 'o' validation, axes with values),
 * newline-terminated lines; allocated.  NULL when n == 0 or the box is too small
 * (width < 30 or height < 6). */
char *lossplot_text(const LossCurve *c, int width, int height);

/* Writes a PNG of width x height pixels (>= 200 x 120).  0, or a negative ERR_* with a
 * message naming path. */
int lossplot_png(const LossCurve *c, const char *path, int width, int height);

#endif
