/* bench_attention — how attention's cost scales with the sequence length, exact against the
 * efficient kernels: time and peak memory for n = 256 ... 16384 (d = dv = 64, one head),
 * a table, the targets of issue 5, and a log-log plot (PNG through cairo).
 *
 * Methods, each called as a user calls it: exact attention as the model's prefill runs it
 * (attention_forward: per block of 64 query rows two products through gemm.c around that
 * block's scores, blocks on OpenMP threads; its contract asks for (n, n) scratch, which the
 * figures count), the double-precision naive twin effattn_exact (O(n) memory, the
 * tests' oracle), the sparse kernel over a sliding window w=256 (effattn_sparse, and the
 * model's own sparse rows in attention_forward) and over a BigBird pattern, Performer FAVOR+
 * (m=256), the Linear Transformer (elu+1) and Linformer (k=256); the kernel methods in their
 * bidirectional and (Performer, linear) causal prefix-sum forms.  Each (method, n) runs in a
 * forked child, so its peak memory is the child's VmHWM: the figure printed is what the
 * method added over its inputs (Q, K, V, out): parameters (pattern, W, E, F) and scratch,
 * touched before timing as a running model's would be.  Times are medians of repeats (a
 * single run once a run takes over a second).  The targets are ratios of two times; each is
 * measured again in one process with the two methods alternating and timed over intervals
 * of similar length (measure_ratio), which a shared machine's load cannot tilt the way it
 * can tilt two separate children.
 * Usage: bench_attention [--max-n N] [--png PATH]   (default 16384, build/bench_attention.png)
 *        bench_attention --method KEY [--n N] [--reps R]   one method in process, e.g. under
 *        valgrind --tool=callgrind --toggle-collect='run_once*' --collect-atstart=no
 *        (with OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 every instruction runs on the counted
 *        thread; '*' takes in the run_once.cold part -O3 splits off)
 */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "engine/attention.h"
#include "engine/effattn.h"
#include "engine/err.h"
#include "engine/pattern.h"

#define D 64
#define WINDOW 256
#define FEATURES 256
#define PROJ 256
#define BB_W 192     /* BigBird: window keys, */
#define BB_G 64      /* global tokens (positions 0..63), */
#define BB_R 64      /* random keys per row */
#define MAX_SIZES 16
#define MAX_REPS 64

typedef enum {
    M_EXACT = 0, M_EXACT_ROWS, M_WINDOW, M_WINDOW_MODEL, M_BIGBIRD, M_PERFORMER, M_PERFORMER_C, M_LINEAR,
    M_LINEAR_C, M_LINFORMER, M_COUNT
} Method;

/* short names for --method */
static const char *const method_key[M_COUNT] = {
    "exact", "exact-twin", "window", "window-model", "bigbird", "performer", "performer-causal",
    "linear", "linear-causal", "linformer",
};
static const char *const method_name[M_COUNT] = {
    "exact (sgemm, n x n scores)", "exact naive twin (double)", "window w=256 (sparse)",
    "window w=256 (model's path)",
    "bigbird w=192 g=64 r=64", "performer m=256", "performer m=256 causal", "linear elu+1",
    "linear elu+1 causal", "linformer k=256",
};
/* the largest n each method runs at (the naive exact twin is quadratic and slow) */
static const int method_max_n[M_COUNT] = {
    16384, 4096, 16384, 16384, 16384, 16384, 16384, 16384, 16384, 16384,
};
static const double method_rgb[M_COUNT][3] = {
    {0.85, 0.10, 0.10}, {0.95, 0.55, 0.55}, {0.10, 0.45, 0.85}, {0.05, 0.20, 0.45},
    {0.35, 0.70, 0.95},
    {0.15, 0.60, 0.20}, {0.55, 0.80, 0.45}, {0.55, 0.25, 0.70}, {0.78, 0.60, 0.88},
    {0.90, 0.55, 0.05},
};

typedef struct {
    double t;        /* median seconds (wall clock) */
    double cpu;      /* median seconds of CPU time, all threads of the process */
    double mem;      /* bytes added over the inputs (VmHWM) */
    int reps, ok;
} Result;

/* Gaussian-ish values from a fixed LCG: inputs the same for every method. */
static void fill(float *x, size_t n, unsigned seed, float scale)
{
    unsigned s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        float a = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 1664525u + 1013904223u;
            a += (float)(s >> 8) / 16777216.0f - 0.5f;
        }
        x[i] = a * scale * 1.7320508f;   /* sum of 4 U(-.5,.5) has variance 1/3 */
    }
}

/* What one method needs besides Q, K, V, out: parameters and scratch. */
typedef struct {
    Method meth;
    int n;
    Pattern *p;
    float *W, *E, *F, *scratch;
    size_t scratch_floats;
    AttnSpec spec;
} Setup;

static int setup(Setup *s, Method meth, int n)
{
    memset(s, 0, sizeof *s);
    s->meth = meth;
    s->n = n;
    s->spec = (AttnSpec){MASK_BIDIRECTIONAL, NULL, NULL};
    int rc = 0;
    size_t sf = 0;
    switch (meth) {
    case M_EXACT: sf = (size_t)n * n; break;
    case M_EXACT_ROWS: sf = (size_t)n; break;
    case M_WINDOW:
        rc = pattern_alloc_window(&s->p, n, WINDOW, 0);
        if (!rc) sf = effattn_sparse_scratch(s->p);
        break;
    case M_WINDOW_MODEL:
        /* attention_forward's contract asks for (n, n) scratch; the sparse path touches one
         * row of it, and VmHWM counts only touched pages (so it is not pre-touched below) */
        rc = pattern_alloc_window(&s->p, n, WINDOW, 0);
        s->spec.pattern = s->p;
        if (!rc) s->scratch = xmalloc((size_t)n * n * sizeof(float));
        break;
    case M_BIGBIRD: {
        int g[BB_G];
        for (int i = 0; i < BB_G; i++) g[i] = i;
        rc = pattern_alloc_bigbird(&s->p, n, BB_W, g, BB_G, BB_R, 7, 0);
        if (!rc) sf = effattn_sparse_scratch(s->p);
        break;
    }
    case M_PERFORMER:
    case M_PERFORMER_C:
        s->W = xmalloc((size_t)FEATURES * D * sizeof(float));
        rc = effattn_favor_matrix(s->W, FEATURES, D, 1, 0, 11);
        sf = effattn_favor_scratch(n, FEATURES, D);
        break;
    case M_LINEAR:
    case M_LINEAR_C: sf = effattn_elu_scratch(n, D, D); break;
    case M_LINFORMER:
        s->E = xmalloc((size_t)PROJ * n * sizeof(float));
        s->F = xmalloc((size_t)PROJ * n * sizeof(float));
        effattn_linformer_init(s->E, PROJ, n, 12);
        effattn_linformer_init(s->F, PROJ, n, 13);
        sf = effattn_linformer_scratch(PROJ, D, D);
        break;
    default: rc = -1;
    }
    if (sf) {
        /* touched once before timing: a forward in a running model reuses its scratch, so
         * first-touch page faults (a second for exact's 1 GiB at n=16384) are not its cost */
        s->scratch = xmalloc(sf * sizeof(float));
        memset(s->scratch, 0, sf * sizeof(float));
        s->scratch_floats = sf;
    }
    return rc;
}

static void setup_done(Setup *s)
{
    pattern_free(s->p);
    free(s->W);
    free(s->E);
    free(s->F);
    free(s->scratch);
}

/* One forward of the method, as a user calls it (kept out of line: `--method` runs under
 * valgrind --tool=callgrind --toggle-collect='run_once*' count just this). */
__attribute__((noinline)) static int run_once(Setup *s, const float *Q, const float *K,
                                              const float *V, float *out)
{
    const int n = s->n;
    const float scale = 1.0f / sqrtf((float)D);
    switch (s->meth) {
    case M_EXACT:
    case M_WINDOW_MODEL:
        attention_forward(out, Q, K, V, n, 0, 1, 1, D, &s->spec, s->scratch, NULL, NULL, 0, 0, 0);
        return 0;
    case M_EXACT_ROWS: effattn_exact(Q, K, V, n, D, D, scale, 0, out, s->scratch); return 0;
    case M_WINDOW:
    case M_BIGBIRD:
        return effattn_sparse(s->p, Q, K, V, n, D, D, scale, out, s->scratch, s->scratch_floats);
    case M_PERFORMER:
    case M_PERFORMER_C:
        effattn_favor(Q, K, V, s->W, n, D, D, FEATURES, s->meth == M_PERFORMER_C,
                      EFFATTN_FAVOR_FEATURE_EPS, EFFATTN_FAVOR_CAUSAL_EPS, out, s->scratch);
        return 0;
    case M_LINEAR:
    case M_LINEAR_C:
        effattn_elu(Q, K, V, n, D, D, s->meth == M_LINEAR_C, EFFATTN_LINEAR_EPS, out, s->scratch);
        return 0;
    case M_LINFORMER:
        return effattn_linformer(Q, K, V, s->E, s->F, n, n, D, D, PROJ, scale, 0, out, s->scratch);
    default: return -1;
    }
}

/* One (method, n) measurement, in the child process.  reps > 0 runs exactly that many;
 * otherwise long runs once and short ones until about half a second is spent (3 to 7). */
static Result measure(Method meth, int n, int reps_wanted)
{
    Result r = {0, 0, 0, 0, 0};
    const size_t nd = (size_t)n * D;
    float *Q = xmalloc(nd * sizeof(float)), *K = xmalloc(nd * sizeof(float));
    float *V = xmalloc(nd * sizeof(float)), *out = xmalloc(nd * sizeof(float));
    fill(Q, nd, 1, 1.0f);
    fill(K, nd, 2, 1.0f);
    fill(V, nd, 3, 1.0f);
    memset(out, 0, nd * sizeof(float));
    const long base_kb = vm_hwm_kb();
    Setup s;
    int rc = setup(&s, meth, n);
    double ts[MAX_REPS], cs[MAX_REPS];
    double spent = 0;
    int reps = 0, max_reps = reps_wanted > 0 ? reps_wanted : 7;
    if (max_reps > MAX_REPS) max_reps = MAX_REPS;
    while (!rc && reps < max_reps) {
        double t0 = now(), c0 = cpu_now();
        rc = run_once(&s, Q, K, V, out);
        ts[reps] = now() - t0;
        cs[reps] = cpu_now() - c0;
        spent += ts[reps++];
        if (reps_wanted <= 0 && (spent > 1.0 || (reps >= 3 && spent > 0.5))) break;
    }
    if (!rc && reps > 0) {
        r.t = median(ts, reps);
        r.cpu = median(cs, reps);
        r.reps = reps;
        r.mem = 1024.0 * (double)(vm_hwm_kb() - base_kb);
        r.ok = 1;
        for (size_t i = 0; i < nd; i++) r.ok &= isfinite(out[i]);
    }
    setup_done(&s);
    free(Q);
    free(K);
    free(V);
    free(out);
    return r;
}

/* Runs measure() in a child so each method's VmHWM is its own. */
static Result measure_forked(Method meth, int n)
{
    Result r = {0, 0, 0, 0, 0};
    int fd[2];
    if (pipe(fd) != 0) return r;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return r;
    if (pid == 0) {
        close(fd[0]);
        Result c = measure(meth, n, 0);
        ssize_t w = write(fd[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) r.ok = 0;
    return r;
}

/* ---- targets: ratios of two times, measured interleaved ----
 * A target compares two times (exact and the window at the same n; a method at n and n/4).
 * On a shared machine the load changes from second to second, so the two are measured in
 * one child, alternating round by round.  And a timed interval of a few milliseconds often
 * runs within one scheduler slice while a longer one waits for the core several times, so
 * the shorter method is timed over a batch of consecutive runs (its time is the batch's
 * divided by the count) that lasts about as long as one run of the other.  Each round gives
 * a ratio of two neighbouring intervals; the target takes the median over the rounds: wall
 * clock, with the same for process CPU time (which waiting for a core does not inflate)
 * beside it. */
typedef struct {
    double wall, cpu;   /* median over rounds of a / b (b per run) */
    double ta, tb;      /* median seconds per run of each */
    int rounds, ok;
} Ratio;

static Ratio measure_ratio_child(Method ma, int a_n, Method mb, int b_n, int rounds, int batch)
{
    Ratio q = {0, 0, 0, 0, 0, 0};
    const int nmax = a_n > b_n ? a_n : b_n;
    const size_t nd = (size_t)nmax * D;
    float *Q = xmalloc(nd * sizeof(float)), *K = xmalloc(nd * sizeof(float));
    float *V = xmalloc(nd * sizeof(float)), *out = xmalloc(nd * sizeof(float));
    fill(Q, nd, 1, 1.0f);
    fill(K, nd, 2, 1.0f);
    fill(V, nd, 3, 1.0f);
    memset(out, 0, nd * sizeof(float));
    Setup sa, sb;
    int rc = setup(&sa, ma, a_n) | setup(&sb, mb, b_n);
    double *wa = xmalloc((size_t)rounds * sizeof(double)), *ca = xmalloc((size_t)rounds * sizeof(double));
    double *wb = xmalloc((size_t)rounds * sizeof(double)), *cb = xmalloc((size_t)rounds * sizeof(double));
    /* one untimed run of each first: caches, OpenBLAS's threads and buffers */
    if (!rc) rc = run_once(&sa, Q, K, V, out) | run_once(&sb, Q, K, V, out);
    for (int r = 0; r < rounds && !rc; r++) {
        double t0 = now(), c0 = cpu_now();
        rc |= run_once(&sa, Q, K, V, out);
        wa[r] = now() - t0;
        ca[r] = cpu_now() - c0;
        t0 = now();
        c0 = cpu_now();
        for (int k = 0; k < batch && !rc; k++) rc |= run_once(&sb, Q, K, V, out);
        wb[r] = (now() - t0) / batch;
        cb[r] = (cpu_now() - c0) / batch;
        q.rounds = r + 1;
    }
    if (!rc && q.rounds == rounds) {
        double *rw = xmalloc((size_t)rounds * sizeof(double)), *rcpu = xmalloc((size_t)rounds * sizeof(double));
        for (int r = 0; r < rounds; r++) {
            rw[r] = wa[r] / wb[r];
            rcpu[r] = ca[r] / cb[r];
        }
        q.wall = median(rw, rounds);
        q.cpu = median(rcpu, rounds);
        q.ta = median(wa, rounds);
        q.tb = median(wb, rounds);
        q.ok = 1;
        free(rw);
        free(rcpu);
    }
    setup_done(&sa);
    setup_done(&sb);
    free(wa);
    free(ca);
    free(wb);
    free(cb);
    free(Q);
    free(K);
    free(V);
    free(out);
    return q;
}

static Ratio measure_ratio(Method ma, int a_n, Method mb, int b_n, int rounds, int batch)
{
    Ratio q = {0, 0, 0, 0, 0, 0};
    int fd[2];
    if (pipe(fd) != 0) return q;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return q;
    if (pid == 0) {
        close(fd[0]);
        Ratio c = measure_ratio_child(ma, a_n, mb, b_n, rounds, batch);
        ssize_t w = write(fd[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &q, sizeof q);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof q || !WIFEXITED(status) || WEXITSTATUS(status) != 0) q.ok = 0;
    return q;
}

/* ---- the plot ---- */

typedef struct {
    double x0, y0, w, h;            /* plot area in pixels */
    double lx0, lx1, ly0, ly1;      /* log10 ranges */
} Axes;

static double ax_x(const Axes *a, double v) { return a->x0 + (log10(v) - a->lx0) / (a->lx1 - a->lx0) * a->w; }
static double ax_y(const Axes *a, double v) { return a->y0 + a->h - (log10(v) - a->ly0) / (a->ly1 - a->ly0) * a->h; }

static void draw_axes(cairo_t *cr, const Axes *a, const char *title, const char *ylabel,
                      const char *const *yunits, int nunits, double ystep)
{
    cairo_set_source_rgb(cr, 0.92, 0.92, 0.92);
    cairo_set_line_width(cr, 1);
    for (double e = ceil(a->lx0); e <= a->lx1 + 1e-9; e += 1) {
        double x = ax_x(a, pow(10, e));
        cairo_move_to(cr, x, a->y0);
        cairo_line_to(cr, x, a->y0 + a->h);
    }
    for (double e = ceil(a->ly0); e <= a->ly1 + 1e-9; e += 1) {
        double y = ax_y(a, pow(10, e));
        cairo_move_to(cr, a->x0, y);
        cairo_line_to(cr, a->x0 + a->w, y);
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, a->x0, a->y0, a->w, a->h);
    cairo_stroke(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    char buf[64];
    for (int n = 256; n <= 16384 * 4; n *= 2) {
        double x = ax_x(a, n);
        if (x > a->x0 + a->w + 1) break;
        snprintf(buf, sizeof buf, "%d", n);
        cairo_text_extents_t te;
        cairo_text_extents(cr, buf, &te);
        cairo_move_to(cr, x - te.width / 2, a->y0 + a->h + 16);
        cairo_show_text(cr, buf);
        cairo_move_to(cr, x, a->y0 + a->h);
        cairo_line_to(cr, x, a->y0 + a->h - 5);
        cairo_stroke(cr);
    }
    for (double e = ceil(a->ly0); e <= a->ly1 + 1e-9; e += 1) {
        /* units: yunits[k] covers 10^(k*ystep) upwards, e.g. ms/s or KiB/MiB/GiB */
        int k = (int)floor(e / ystep);
        if (k < 0) k = 0;
        if (k >= nunits) k = nunits - 1;
        double v = pow(10, e - k * ystep);
        snprintf(buf, sizeof buf, "%g %s", v, yunits[k]);
        cairo_text_extents_t te;
        cairo_text_extents(cr, buf, &te);
        cairo_move_to(cr, a->x0 - te.width - 6, ax_y(a, pow(10, e)) + 4);
        cairo_show_text(cr, buf);
    }
    cairo_set_font_size(cr, 14);
    cairo_move_to(cr, a->x0, a->y0 - 10);
    cairo_show_text(cr, title);
    cairo_set_font_size(cr, 12);
    cairo_move_to(cr, a->x0 + a->w / 2 - 70, a->y0 + a->h + 34);
    cairo_show_text(cr, "sequence length n (log)");
    cairo_save(cr);
    cairo_move_to(cr, a->x0 - 62, a->y0 + a->h / 2 + 40);
    cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, ylabel);
    cairo_restore(cr);
}

/* Dashed guide lines of slope 1 and 2 through (x, y). */
static void draw_guides(cairo_t *cr, const Axes *a, double x, double y)
{
    const double dash[] = {4, 4};
    cairo_save(cr);
    cairo_rectangle(cr, a->x0, a->y0, a->w, a->h);
    cairo_clip(cr);
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    for (int slope = 1; slope <= 2; slope++) {
        double xa = pow(10, a->lx0), xb = pow(10, a->lx1);
        cairo_move_to(cr, ax_x(a, xa), ax_y(a, y * pow(xa / x, slope)));
        cairo_line_to(cr, ax_x(a, xb), ax_y(a, y * pow(xb / x, slope)));
        cairo_stroke(cr);
    }
    cairo_restore(cr);
}

static void draw_series(cairo_t *cr, const Axes *a, const int *ns, int nn, Result r[][MAX_SIZES],
                        int which_mem)
{
    cairo_save(cr);
    cairo_rectangle(cr, a->x0, a->y0, a->w, a->h);
    cairo_clip(cr);
    cairo_set_line_width(cr, 2);
    for (int m = 0; m < M_COUNT; m++) {
        cairo_set_source_rgb(cr, method_rgb[m][0], method_rgb[m][1], method_rgb[m][2]);
        int started = 0;
        for (int i = 0; i < nn; i++) {
            double v = which_mem ? r[m][i].mem : r[m][i].t;
            if (!r[m][i].ok || v <= 0) continue;
            double x = ax_x(a, ns[i]), y = ax_y(a, v);
            if (started) cairo_line_to(cr, x, y);
            else cairo_move_to(cr, x, y);
            started = 1;
        }
        cairo_stroke(cr);
        for (int i = 0; i < nn; i++) {
            double v = which_mem ? r[m][i].mem : r[m][i].t;
            if (!r[m][i].ok || v <= 0) continue;
            cairo_arc(cr, ax_x(a, ns[i]), ax_y(a, v), 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    }
    cairo_restore(cr);
}

static void range_of(Result r[][MAX_SIZES], int nn, int which_mem, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int m = 0; m < M_COUNT; m++)
        for (int i = 0; i < nn; i++) {
            double v = which_mem ? r[m][i].mem : r[m][i].t;
            if (!r[m][i].ok || v <= 0) continue;
            *lo = fmin(*lo, log10(v));
            *hi = fmax(*hi, log10(v));
        }
    if (!isfinite(*lo)) { *lo = 0; *hi = 1; }
    *lo = floor(*lo);
    *hi = ceil(*hi);
    if (*hi <= *lo) *hi = *lo + 1;
}

static int plot(const char *path, const int *ns, int nn, Result r[][MAX_SIZES])
{
    const int W = 1460, H = 600;
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(sf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    const double lx0 = log10(ns[0]) - 0.1, lx1 = log10(ns[nn - 1]) + 0.1;
    Axes at = {90, 50, 500, 480, lx0, lx1, 0, 0}, am = {720, 50, 500, 480, lx0, lx1, 0, 0};
    range_of(r, nn, 0, &at.ly0, &at.ly1);
    range_of(r, nn, 1, &am.ly0, &am.ly1);
    static const char *const tunits[] = {"s"};
    static const char *const munits[] = {"B", "KB", "MB", "GB"};
    /* time: label in seconds (10^-3 s reads fine); memory in decimal units of 10^3 */
    draw_axes(cr, &at, "time per forward (median), d = 64, one head", "seconds", tunits, 1, 100);
    draw_axes(cr, &am, "peak memory added over Q, K, V, out (VmHWM)", "bytes", munits, 4, 3);
    if (r[M_EXACT][0].ok) {
        draw_guides(cr, &at, ns[0], r[M_EXACT][0].t);
        draw_guides(cr, &am, ns[0], r[M_EXACT][0].mem > 0 ? r[M_EXACT][0].mem : 1);
    }
    draw_series(cr, &at, ns, nn, r, 0);
    draw_series(cr, &am, ns, nn, r, 1);
    /* legend */
    cairo_set_font_size(cr, 12);
    for (int m = 0; m < M_COUNT; m++) {
        double x = 1240, y = 70 + 22.0 * m;
        cairo_set_source_rgb(cr, method_rgb[m][0], method_rgb[m][1], method_rgb[m][2]);
        cairo_rectangle(cr, x, y - 9, 14, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, x + 18, y);
        cairo_show_text(cr, method_name[m]);
    }
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
    cairo_move_to(cr, 1240, 70 + 22.0 * M_COUNT + 10);
    cairo_show_text(cr, "dashed: slope 1 and 2");
    cairo_move_to(cr, 1240, 70 + 22.0 * M_COUNT + 26);
    cairo_show_text(cr, "through exact at n=256");
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(sf, path);
    cairo_surface_destroy(sf);
    return st == CAIRO_STATUS_SUCCESS ? 0 : -1;
}

/* ---- main ---- */

static void fmt_mem(char *buf, size_t n, double b)
{
    if (b < 0) b = 0;
    if (b >= 1 << 30) snprintf(buf, n, "%.2f GiB", b / (1 << 30));
    else if (b >= 1 << 20) snprintf(buf, n, "%.1f MiB", b / (1 << 20));
    else snprintf(buf, n, "%.0f KiB", b / 1024);
}

int main(int argc, char **argv)
{
    int max_n = 16384, one_n = 1024, reps = 0;
    const char *png = "build/bench_attention.png", *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max-n") && i + 1 < argc) max_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--png") && i + 1 < argc) png = argv[++i];
        else if (!strcmp(argv[i], "--method") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) one_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_attention [--max-n N] [--png PATH]\n"
                            "       bench_attention --method KEY [--n N] [--reps R]   (one method, "
                            "in process)\n");
            return 2;
        }
    }
    if (max_n < 512) max_n = 512;
    err_install_gsl_handler();
    if (only) {
        /* one method at one n, no fork: for profilers (callgrind, perf) and quick checks */
        int m = 0;
        while (m < M_COUNT && strcmp(method_key[m], only)) m++;
        if (m == M_COUNT || one_n < 1) {
            fprintf(stderr, "bench_attention: --method takes one of");
            for (int k = 0; k < M_COUNT; k++) fprintf(stderr, " %s", method_key[k]);
            fprintf(stderr, "; --n >= 1\n");
            return 2;
        }
        Result one = measure((Method)m, one_n, reps);
        if (!one.ok) {
            fprintf(stderr, "bench_attention: %s at n=%d failed: %s\n", only, one_n, err_msg());
            return 1;
        }
        printf("%s n=%d: median %.3f ms wall, %.3f ms cpu over %d runs\n", method_name[m], one_n,
               1e3 * one.t, 1e3 * one.cpu, one.reps);
        return 0;
    }
    int ns[MAX_SIZES], nn = 0;
    for (int n = 256; n <= max_n && nn < MAX_SIZES; n *= 2) ns[nn++] = n;
    static Result r[M_COUNT][MAX_SIZES];
    double t_start = now();
    printf("attention scaling: d = dv = 64, one head, bidirectional unless marked causal; "
           "time = median per forward,\nmemory = peak RSS added over the inputs (forked child's "
           "VmHWM).  Machine shared: figures are noisy.\n\n");
    printf("%-28s", "method \\ n");
    for (int i = 0; i < nn; i++) printf(" %10d", ns[i]);
    printf("\n");
    for (int m = 0; m < M_COUNT; m++) {
        printf("%-28s", method_name[m]);
        fflush(stdout);
        for (int i = 0; i < nn; i++) {
            if (ns[i] > method_max_n[m]) {
                printf(" %10s", "-");
                continue;
            }
            r[m][i] = measure_forked((Method)m, ns[i]);
            if (r[m][i].ok) printf(" %8.2fms", 1e3 * r[m][i].t);
            else printf(" %10s", "failed");
            fflush(stdout);
        }
        printf("\n%-28s", "  memory");
        for (int i = 0; i < nn; i++) {
            char b[32];
            fmt_mem(b, sizeof b, r[m][i].mem);
            printf(" %10s", r[m][i].ok ? b : "-");
        }
        printf("\n");
    }
    printf("\n(%.0f s)\n\ntargets at the largest n:\n", now() - t_start);
    const int last = nn - 1, N = ns[last];
    int failed = 0;
    printf("  (each ratio measured again in one process, the two methods alternating, the "
           "shorter one\n   timed over a batch of runs; wall clock decides, CPU time of all "
           "threads in brackets)\n");
    {
        /* three rounds of one exact run and a batch of 32 window runs (~1 s) */
        Ratio q = measure_ratio(M_EXACT, N, M_WINDOW, N, 3, 32);
        double ideal = (double)N / WINDOW;
        int pass = q.ok && q.wall >= ideal / 2;
        failed |= !pass;
        if (q.ok)
            printf("  window w=%d (effattn_sparse) over exact (sgemm) at n=%d: %.1fx [cpu %.1fx] "
                   "(%.0f ms / %.2f ms); ideal n/w = %.0fx, target >= %.0fx: %s\n", WINDOW, N,
                   q.wall, q.cpu, 1e3 * q.ta, 1e3 * q.tb, ideal, ideal / 2, pass ? "PASS" : "FAIL");
        else
            printf("  window w=%d over exact at n=%d: measurement failed: FAIL\n", WINDOW, N);
    }
    const Method lin[] = {M_PERFORMER, M_PERFORMER_C, M_LINEAR, M_LINEAR_C};
    for (size_t k = 0; k < 4; k++) {
        Method m = lin[k];
        if (N / 4 < 256) break;
        /* fifteen rounds of one run at n and four at n/4 */
        Ratio q = measure_ratio(m, N, m, N / 4, 15, 4);
        int pass = q.ok && q.wall <= 4.6;
        failed |= !pass;
        if (q.ok)
            printf("  %-26s t(%d)/t(%d) = %.2f [cpu %.2f] (%.1f ms / %.1f ms), target <= 4.6: %s\n",
                   method_name[m], N, N / 4, q.wall, q.cpu, 1e3 * q.ta, 1e3 * q.tb,
                   pass ? "PASS" : "FAIL");
        else
            printf("  %-26s t(%d)/t(%d): measurement failed: FAIL\n", method_name[m], N, N / 4);
    }
    const double nn_bytes = 4.0 * N * N;
    char b[32];
    fmt_mem(b, sizeof b, nn_bytes);
    printf("  an n x n float buffer at n=%d is %s; memory added by each method:\n", N, b);
    for (int m = 0; m < M_COUNT; m++) {
        int j = last;
        while (j > 0 && !r[m][j].ok) j--;
        if (!r[m][j].ok) continue;
        double full = 4.0 * ns[j] * ns[j];
        int has_nn = r[m][j].mem >= 0.5 * full;
        int pass = m == M_EXACT ? has_nn : !has_nn;
        if (m != M_EXACT_ROWS) failed |= !pass;
        fmt_mem(b, sizeof b, r[m][j].mem);
        printf("    %-28s %10s at n=%-6d %s%s\n", method_name[m], b, ns[j],
               has_nn ? "holds an n x n buffer" : "no n x n buffer",
               m == M_EXACT ? (pass ? " (expected: PASS)" : " (expected one: FAIL)")
                            : (pass ? ": PASS" : ": FAIL"));
    }
    if (plot(png, ns, nn, r) == 0) printf("\nplot: %s\n", png);
    else printf("\nplot: could not write %s\n", png);
    printf("total %.0f s; %s\n", now() - t_start, failed ? "some targets missed" : "all targets met");
    return 0;
}
