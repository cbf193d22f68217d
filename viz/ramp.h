/* ramp — the colour ramp for weights and probabilities, without any terminal.
 *
 * One perceptually uniform ramp (viridis) gives RGB for figures (export.c), its nearest
 * xterm-256 colours for 256-colour terminals, and a short luminance-ordered ramp of the 8
 * basic colours for the rest (crt.c).  Monochrome uses the shade characters (views.h).
 */
#ifndef LECTERN_VIZ_RAMP_H
#define LECTERN_VIZ_RAMP_H

/* RGB in [0, 1] of the ramp at v in [0, 1] (clamped; NaN counts as 0). */
void ramp_rgb(float v, double rgb[3]);
/* The xterm-256 colour index nearest to ramp_rgb(v), from the 6x6x6 cube and the greys. */
int ramp_xterm256(float v);
/* RGB of an xterm-256 colour index (16..255; 0..15 as the xterm defaults). */
void ramp_xterm_rgb(int index, double rgb[3]);
/* One of the 8 basic colours (0 black .. 7 white, curses numbering), in order of
 * luminance: black, blue, magenta, green, yellow, white. */
int ramp_basic8(float v);
/* Relative luminance of an RGB colour (Rec. 709 weights on the given values). */
double ramp_luminance(const double rgb[3]);

#endif
