/* ramp — viridis and its terminal approximations (see ramp.h).
 *
 * The ramp is matplotlib's viridis (van der Walt & Smith, 2015; CC0), sampled at eleven
 * points and interpolated linearly in RGB, which stays within a few percent of the full
 * table: viridis was designed so that lightness rises evenly, so equal steps of weight
 * look like equal steps of colour, and it stays readable for colour-blind viewers and on
 * a washed-out projector.
 */
#include "viz/ramp.h"

#include <math.h>

static const double viridis[11][3] = {
    {0.267004, 0.004874, 0.329415}, {0.282623, 0.140926, 0.457517},
    {0.253935, 0.265254, 0.529983}, {0.206756, 0.371758, 0.553117},
    {0.163625, 0.471133, 0.558148}, {0.127568, 0.566949, 0.550556},
    {0.134692, 0.658636, 0.517649}, {0.266941, 0.748751, 0.440573},
    {0.477504, 0.821444, 0.318195}, {0.741388, 0.873449, 0.149561},
    {0.993248, 0.906157, 0.143936},
};

void ramp_rgb(float v, double rgb[3])
{
    if (!(v > 0.0f)) v = 0.0f;
    if (v > 1.0f) v = 1.0f;
    double x = (double)v * 10.0;
    int i = (int)x;
    if (i >= 10) i = 9;
    double f = x - i;
    for (int c = 0; c < 3; c++) rgb[c] = viridis[i][c] * (1.0 - f) + viridis[i + 1][c] * f;
}

static const int cube[6] = {0, 95, 135, 175, 215, 255};

void ramp_xterm_rgb(int index, double rgb[3])
{
    static const int basic[16][3] = {
        {0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205},
        {0, 205, 205}, {229, 229, 229}, {127, 127, 127}, {255, 0, 0}, {0, 255, 0},
        {255, 255, 0}, {92, 92, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255},
    };
    int r, g, b;
    if (index < 0) index = 0;
    if (index > 255) index = 255;
    if (index < 16) { r = basic[index][0]; g = basic[index][1]; b = basic[index][2]; }
    else if (index < 232) {
        int i = index - 16;
        r = cube[i / 36];
        g = cube[(i / 6) % 6];
        b = cube[i % 6];
    } else r = g = b = 8 + 10 * (index - 232);
    rgb[0] = r / 255.0;
    rgb[1] = g / 255.0;
    rgb[2] = b / 255.0;
}

int ramp_xterm256(float v)
{
    double rgb[3];
    ramp_rgb(v, rgb);
    int best = 16;
    double bestd = 1e9;
    for (int i = 16; i < 256; i++) {
        double x[3];
        ramp_xterm_rgb(i, x);
        double d = 0;
        for (int c = 0; c < 3; c++) d += (x[c] - rgb[c]) * (x[c] - rgb[c]);
        if (d < bestd) { bestd = d; best = i; }
    }
    return best;
}

int ramp_basic8(float v)
{
    /* curses numbers: 0 black, 1 red, 2 green, 3 yellow, 4 blue, 5 magenta, 6 cyan, 7 white */
    static const int order[6] = {0, 4, 5, 2, 3, 7};
    if (!(v > 0.0f)) v = 0.0f;
    int i = (int)(v * 6.0f);
    if (i > 5) i = 5;
    return order[i];
}

double ramp_luminance(const double rgb[3])
{
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
}
