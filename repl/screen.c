/* screen — the glue between the session, readline and the workbench (see screen.h).
 *
 * Owns: the screen's key loop, readline's callback hooks while the screen runs (keys go
 * to readline through rl_getc_function, its line is drawn by rl_redisplay_function into
 * the bottom row of the canvas, the terminal stays in curses' hands), capturing command
 * output into the output pane, the logit-lens table cache, the `view`/`presenter`/`export`
 * commands, `attn`'s view options, and branching from the scrubbed step.  Does not own: drawing (viz/layout.c and the views), the terminal (viz/crt.c),
 * commands (commands.c), the plain prompt (line.c).
 * Reference: the GNU Readline manual, "Alternate Interface" (rl_callback_read_char) and
 * the hook variables rl_getc_function, rl_redisplay_function, rl_prep_term_function.
 */
#include "repl/screen.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "engine/err.h"
#include "engine/gen.h"
#include "repl/cmd_lesson.h"
#include "repl/line.h"
#include "viz/crt.h"
#include "viz/export.h"
#include "viz/layout.h"
#include "viz/plain.h"

#define SCREEN_PROMPT "lectern> "
#define SCREEN_HISTORY_MAX 2000

/* The workbench model lives as long as the process: view commands given in plain mode
 * or before the screen starts are kept for it. */
static Workbench *wb_global;

static Workbench *workbench(void)
{
    if (!wb_global) wb_global = layout_alloc();
    return wb_global;
}

const VizOpts *screen_view_opts(void)
{
    return &workbench()->o;
}

static const Trace *session_trace(const Session *s)
{
    static Trace empty;   /* no model yet: every view says so */
    return s->gen ? gen_trace(s->gen) : &empty;
}

int screen_attn_opts(const Session *s, const CmdArgs *a, int layer, VizOpts *o, char **note)
{
    *o = workbench()->o;
    const char **argv = xcalloc((size_t)a->argc + 1, sizeof(char *));
    for (int i = 1; i < a->argc; i++) argv[i - 1] = a->argv[i].s;
    char *msg = NULL;
    int rc = layout_attn_opts(o, session_trace(s), layer, a->argc - 1, argv, note, &msg);
    free(argv);
    if (rc != 0) rc = ERR(ERR_ARG, "%s", msg ? msg : "attn: bad options");
    free(msg);
    return rc;
}

/* ---- the view commands ---- */

static int run_layout_command(Session *s, const CmdArgs *a, const char *name)
{
    int argc = a->argc + 1;
    const char **argv = xcalloc((size_t)argc + 1, sizeof(char *));
    argv[0] = name;
    for (int i = 0; i < a->argc; i++) argv[i + 1] = a->argv[i].s;
    char *msg = NULL;
    int rc = layout_command(workbench(), session_trace(s), argc, argv, &msg);
    free(argv);
    if (rc != 0) {
        rc = ERR(ERR_ARG, "%s", msg ? msg : "view: bad arguments");
        free(msg);
        return rc;
    }
    if (msg) session_printf(s, "%s\n", msg);
    free(msg);
    return 0;
}

int screen_cmd_view(Session *s, const CmdArgs *a)
{
    return run_layout_command(s, a, "view");
}

int screen_cmd_presenter(Session *s, const CmdArgs *a)
{
    return run_layout_command(s, a, "presenter");
}

/* export attn L H|mean|max|rollout FILE · export probs [K] FILE · export model FILE ·
 * export pattern [L] FILE.  The view options (hide-first, mass, scale) apply. */
int screen_cmd_export(Session *s, const CmdArgs *a)
{
    static const char *usage = "usage: export attn L H FILE | export probs [K] FILE | export model FILE | "
                               "export pattern [L] FILE   (FILE .png .svg .pdf .csv .json)";
    if (a->argc < 2) return ERR(ERR_ARG, "%s", usage);
    if (!s->gen) return ERR(ERR_STATE, "export: no model loaded (load PATH first)");
    const Trace *t = gen_trace(s->gen);
    if (t->n == 0) return ERR(ERR_STATE, "export: no context yet (prompt TEXT first)");
    VizOpts o = workbench()->o;
    const char *what = a->argv[0].s, *path = a->argv[a->argc - 1].s;
    char *end;
    int rc;
    if (!strcmp(what, "attn") || !strcmp(what, "attention")) {
        if (a->argc != 4) return ERR(ERR_ARG, "%s", usage);
        long l = strtol(a->argv[1].s, &end, 10);
        if (*end || end == a->argv[1].s || l < 0 || l >= t->n_layer)
            return ERR(ERR_ARG, "export attn: layer '%s' is not in 0..%d", a->argv[1].s, t->n_layer - 1);
        o.layer = (int)l;
        const char *h = a->argv[2].s;
        if (!strcmp(h, "mean")) o.agg = VIZ_AGG_MEAN;
        else if (!strcmp(h, "max")) o.agg = VIZ_AGG_MAX;
        else if (!strcmp(h, "rollout")) o.agg = VIZ_AGG_ROLLOUT;
        else {
            long hv = strtol(h, &end, 10);
            if (*end || end == h || hv < 0 || hv >= t->n_head)
                return ERR(ERR_ARG, "export attn: head '%s' is not in 0..%d (or mean, max, rollout)", h,
                           t->n_head - 1);
            o.head = (int)hv;
            o.agg = VIZ_AGG_HEAD;
        }
        rc = export_attn(t, &o, path, NULL);
    } else if (!strcmp(what, "probs")) {
        long k = 10;
        if (a->argc == 3) {
            k = strtol(a->argv[1].s, &end, 10);
            if (*end || end == a->argv[1].s || k < 1 || k > 1000)
                return ERR(ERR_ARG, "export probs: K '%s' is not in 1..1000", a->argv[1].s);
        } else if (a->argc != 2) {
            return ERR(ERR_ARG, "%s", usage);
        }
        rc = export_probs(t, o.step < 0 ? t->n : o.step, (int)k, path);
    } else if (!strcmp(what, "model")) {
        if (a->argc != 2) return ERR(ERR_ARG, "%s", usage);
        rc = export_model(t, &o, path);
    } else if (!strcmp(what, "pattern")) {
        if (a->argc == 3) {
            long l = strtol(a->argv[1].s, &end, 10);
            if (*end || end == a->argv[1].s || l < 0 || l >= t->n_layer)
                return ERR(ERR_ARG, "export pattern: layer '%s' is not in 0..%d", a->argv[1].s, t->n_layer - 1);
            o.layer = (int)l;
        } else if (a->argc != 2) {
            return ERR(ERR_ARG, "%s", usage);
        }
        rc = export_pattern(t, &o, path, NULL);
    } else {
        return ERR(ERR_ARG, "export: unknown view '%s'; %s", what, usage);
    }
    if (rc == 0) session_printf(s, "wrote %s\n", path);
    return rc;
}

/* ---- state while the screen runs ---- */

static struct {
    Session *s;
    Workbench *wb;
    Canvas *canvas;
    int done;
    int dirty;
    unsigned char queue[64];   /* bytes waiting for readline */
    int qhead, qlen;
    char *prompt;              /* readline's prompt without its invisible markers */
    char *history;
    char **matches;            /* completion candidates handed out one by one */
    int next_match;
    LensTable lens;            /* cached logit lens */
    int lens_valid;
    int lens_n, lens_pos0, lens_npos, lens_last;
    int lens_tried;            /* context length when capture was last tried, to try once */
    double last_ms;
    int running;               /* a command is running: draw without computing the lens */
    double last_live;          /* when the screen was last drawn during a command */
    char pend[4];              /* an incomplete UTF-8 sequence of streamed output */
    int npend;
} sc;

static volatile sig_atomic_t sc_sigint;

int screen_branch_pos(const Session *s)
{
    if (!sc.s || sc.s != s || !s->gen) return -1;   /* only while the screen runs */
    return layout_scrubbed(sc.wb, gen_trace(s->gen));
}

int screen_branch(Session *s)
{
    int p = screen_branch_pos(s);
    if (p < 0) return 0;
    if (p == 0)
        return ERR(ERR_STATE, "the token strip is scrubbed back to position 0: no token comes before it "
                              "to branch from (End on the strip, or view step latest, returns to the latest)");
    const Trace *t = gen_trace(s->gen);
    int drop = t->n - p;
    int rc = gen_back(s->gen, drop);
    if (rc < 0) return rc;
    session_log(s, "back %d", drop);
    sc.wb->o.step = -1;
    sc.wb->o.cand = -1;
    if (drop == 1)
        session_printf(s, "branching at the scrubbed position %d: dropped its token\n", p);
    else
        session_printf(s, "branching at the scrubbed position %d: dropped %d tokens (positions %d-%d)\n", p,
                       drop, p, p + drop - 1);
    return 0;
}

static void on_sigint(int sig)
{
    (void)sig;
    session_interrupt = 1;
    sc_sigint = 1;
}

static void queue_bytes(const char *b, int n)
{
    for (int i = 0; i < n && sc.qlen < (int)sizeof sc.queue; i++) {
        sc.queue[(sc.qhead + sc.qlen) % sizeof sc.queue] = (unsigned char)b[i];
        sc.qlen++;
    }
}

/* A key as the bytes a terminal would send readline for it (readline binds the ANSI
 * arrow, Home, End and Delete sequences by default). */
static void queue_key(int key)
{
    char b[8];
    if (key == CRT_KEY_ESC) { queue_bytes("\033", 1); return; }
    switch (key) {
    case CRT_KEY_UP: queue_bytes("\033[A", 3); return;
    case CRT_KEY_DOWN: queue_bytes("\033[B", 3); return;
    case CRT_KEY_RIGHT: queue_bytes("\033[C", 3); return;
    case CRT_KEY_LEFT: queue_bytes("\033[D", 3); return;
    case CRT_KEY_HOME: queue_bytes("\033[H", 3); return;
    case CRT_KEY_END: queue_bytes("\033[F", 3); return;
    case CRT_KEY_DELETE: queue_bytes("\033[3~", 4); return;
    case CRT_KEY_BACKSPACE: queue_bytes("\177", 1); return;
    case CRT_KEY_ENTER: queue_bytes("\r", 1); return;
    default: break;
    }
    if (key >= 0 && key < CRT_KEY_BASE) {
        int n = utf8_encode((uint32_t)key, b);
        queue_bytes(b, n);
    }
}

static int getc_hook(FILE *f)
{
    (void)f;
    while (sc.qlen == 0) {
        /* readline wants more of a key sequence: wait for the next key */
        int key = crt_read(-1);
        if (key == CRT_KEY_NONE) {
            if (sc_sigint) return '\a';
            continue;
        }
        queue_key(key);
    }
    int c = sc.queue[sc.qhead];
    sc.qhead = (sc.qhead + 1) % (int)sizeof sc.queue;
    sc.qlen--;
    return c;
}

static void set_prompt(const char *p)
{
    /* drop readline's \001 ... \002 invisible-text markers */
    free(sc.prompt);
    sc.prompt = xstrdup(p ? p : "");
    char *w = sc.prompt;
    for (const char *r = sc.prompt; *r; r++)
        if (*r != RL_PROMPT_START_IGNORE && *r != RL_PROMPT_END_IGNORE) *w++ = *r;
    *w = 0;
}

static void redisplay_hook(void)
{
    set_prompt(rl_display_prompt);
    sc.dirty = 1;
}

static void prep_term(int meta) { (void)meta; }
static void deprep_term(void) {}

static void show_matches(char **matches, int n, int maxlen)
{
    (void)maxlen;
    size_t cap = 64, len = 0;
    char *buf = xmalloc(cap);
    buf[0] = 0;
    for (int i = 1; i <= n; i++) {
        size_t m = strlen(matches[i]);
        if (len + m + 3 > cap) {
            while (len + m + 3 > cap) cap *= 2;
            buf = xrealloc(buf, cap);
        }
        memcpy(buf + len, matches[i], m);
        len += m;
        buf[len++] = ' ';
        buf[len++] = ' ';
        buf[len] = 0;
    }
    layout_output(sc.wb, buf, len);
    free(buf);
    sc.dirty = 1;
}

static char *match_generator(const char *text, int state)
{
    (void)text;
    (void)state;
    if (!sc.matches || !sc.matches[sc.next_match]) return NULL;
    char *m = sc.matches[sc.next_match];
    sc.matches[sc.next_match++] = NULL;   /* readline takes it */
    return m;
}

static void free_matches(void)
{
    if (!sc.matches) return;
    for (int i = sc.next_match; sc.matches[i]; i++) free(sc.matches[i]);
    free(sc.matches);
    sc.matches = NULL;
}

static char **attempt_completion(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;
    free_matches();
    sc.matches = line_complete(rl_line_buffer, text, start);
    sc.next_match = 0;
    if (!sc.matches) return NULL;
    return rl_completion_matches(text, match_generator);
}

static void lens_drop(void)
{
    if (sc.lens_valid) lens_table_free(&sc.lens);
    sc.lens_valid = 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void draw(void);

/* Output written while a command runs goes straight to the output pane, and the screen
 * is redrawn as it comes (at most every SCREEN_LIVE_MS), so a long `gen` shows its tokens
 * and the panes follow the growing context.  A UTF-8 sequence split across two writes
 * (byte-level tokens) is held until it is whole. */
#define SCREEN_LIVE_MS 50.0

static ssize_t out_write(void *cookie, const char *buf, size_t n)
{
    (void)cookie;
    size_t total = (size_t)sc.npend + n;
    char *all = xmalloc(total + 1);
    memcpy(all, sc.pend, (size_t)sc.npend);
    memcpy(all + sc.npend, buf, n);
    size_t keep = 0;   /* bytes of an incomplete sequence at the end */
    for (size_t back = 1; back <= 3 && back <= total; back++) {
        unsigned char b = (unsigned char)all[total - back];
        if ((b & 0xC0) == 0x80) continue;
        int need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        if ((size_t)need > back && b >= 0xC2 && b <= 0xF4) keep = back;
        break;
    }
    layout_output(sc.wb, all, total - keep);
    memcpy(sc.pend, all + total - keep, keep);
    sc.npend = (int)keep;
    free(all);
    double t = now_ms();
    if (t - sc.last_live >= SCREEN_LIVE_MS) {
        sc.last_live = t;
        draw();
    }
    return (ssize_t)n;
}

static void flush_pending(void)
{
    if (sc.npend) layout_output(sc.wb, sc.pend, (size_t)sc.npend);   /* escaped as invalid */
    sc.npend = 0;
}

/* Runs a line with the session's output going to the output pane. */
static void exec_line(const char *line)
{
    Session *s = sc.s;
    cookie_io_functions_t io = {.write = out_write};
    FILE *live = fopencookie(NULL, "w", io);
    FILE *old_out = s->out, *old_err = s->err;
    if (live) {
        setvbuf(live, NULL, _IOLBF, 0);
        s->out = s->err = live;
    }
    layout_output_break(sc.wb);
    char *echo = xasprintf("%s%s\n", SCREEN_PROMPT, line);
    layout_output(sc.wb, echo, strlen(echo));
    free(echo);
    Rect o = sc.wb->pane[PANE_OUTPUT];
    s->width = o.w >= 20 ? o.w : sc.wb->cols >= 20 ? sc.wb->cols : 80;
    session_interrupt = 0;
    sc_sigint = 0;
    /* what the context was, to tell afterwards whether the command replaced it */
    const Trace *t = session_trace(s);
    int n0 = t->n;
    int *ctx0 = n0 > 0 ? xmalloc(sizeof(int) * (size_t)n0) : NULL;
    if (n0 > 0) memcpy(ctx0, t->tokens, sizeof(int) * (size_t)n0);
    double t0 = now_ms();
    sc.running = 1;
    sc.last_live = t0;
    session_exec(s, line);
    /* A scrubbed step belongs to the context it was taken in: when the command rewrote
     * the tokens up to it (prompt, load, reset, back past it), the strip follows the latest
     * step again, so a later `step` or `force` does not branch at a position in another
     * text.  A picked candidate belongs to the distribution it was picked from. */
    t = session_trace(s);
    int scrub = sc.wb->o.step;
    if (scrub >= 0 && (t->n <= scrub || scrub >= n0 ||
                       memcmp(ctx0, t->tokens, sizeof(int) * (size_t)(scrub + 1)) != 0))
        sc.wb->o.step = -1;
    if (t->n != n0 || (n0 > 0 && memcmp(ctx0, t->tokens, sizeof(int) * (size_t)n0) != 0)) sc.wb->o.cand = -1;
    free(ctx0);
    if (live) {
        fclose(live);
        s->out = old_out;
        s->err = old_err;
    }
    flush_pending();
    layout_output_break(sc.wb);
    sc.running = 0;
    sc.last_ms = now_ms() - t0;
    session_interrupt = 0;
    sc_sigint = 0;
    lens_drop();   /* the command may have changed the context */
    sc.dirty = 1;
    if (s->quit) sc.done = 1;
}

static void on_line(char *line)
{
    if (!line) {   /* Ctrl-D on an empty line */
        sc.done = 1;
        return;
    }
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p) {
        HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
        if (!last || strcmp(last->line, line) != 0) {
            add_history(line);
            if (sc.history) append_history(1, sc.history);
        }
        exec_line(line);
    } else if (cmd_lesson_waiting(sc.s)) {
        exec_line("lesson next");   /* Enter goes on with a lesson waiting at a pause */
    }
    free(line);
}

/* The lens needs a forward pass of the output head per layer and position: computed when
 * the context or the visible span changes, not on every key. */
static const LensTable *lens_for(const Trace *t)
{
    int pos0, npos;
    Session *s = sc.s;
    if (!s->gen || !layout_lens_span(sc.wb, t, &pos0, &npos)) return NULL;
    int last0 = t->n > 0 ? t->tokens[t->n - 1] : -1;
    if (sc.running)   /* never run the model under a command: the cached table if it fits */
        return sc.lens_valid && sc.lens_n == t->n && sc.lens_pos0 == pos0 && sc.lens_npos == npos &&
               sc.lens_last == last0 ? &sc.lens : NULL;
    if (!t->have_resid) {
        /* the lens pane is on screen: record residual streams (reruns the context once) */
        if (sc.lens_tried == t->n) return NULL;
        sc.lens_tried = t->n;
        if (gen_capture(s->gen, t->have_attn, 1) != 0) { err_clear(); return NULL; }
        t = gen_trace(s->gen);
        if (!t->have_resid) return NULL;
    }
    int last = t->n > 0 ? t->tokens[t->n - 1] : -1;
    if (sc.lens_valid && sc.lens_n == t->n && sc.lens_pos0 == pos0 && sc.lens_npos == npos &&
        sc.lens_last == last)
        return &sc.lens;
    lens_drop();
    memset(&sc.lens, 0, sizeof sc.lens);
    if (gen_lens_table(s->gen, pos0, npos, 1, &sc.lens) != 0) {
        err_clear();
        return NULL;
    }
    sc.lens_valid = 1;
    sc.lens_n = t->n;
    sc.lens_pos0 = pos0;
    sc.lens_npos = npos;
    sc.lens_last = last;
    return &sc.lens;
}

static void draw(void)
{
    const Trace *t = session_trace(sc.s);
    sc.wb->prompt = sc.prompt ? sc.prompt : SCREEN_PROMPT;
    sc.wb->line = sc.running ? "" : rl_line_buffer ? rl_line_buffer : "";
    sc.wb->point = sc.running ? 0 : rl_point;
    char extra[64];
    snprintf(extra, sizeof extra, "last command %.0f ms", sc.last_ms);
    layout_set_status(sc.wb, sc.running ? "running (Ctrl-C stops)" : sc.last_ms > 0 ? extra : NULL);
    int cx, cy;
    layout_draw(sc.wb, sc.canvas, t, lens_for(t), &cx, &cy);
    crt_draw(sc.canvas, cx, cy);
    sc.dirty = 0;
}

static void relayout(void)
{
    int cols, rows;
    crt_size(&cols, &rows);
    layout_place(sc.wb, cols, rows);
    sc.dirty = 1;
}

int screen_run(Session *s)
{
    if (crt_init() != 0) return -1;
    memset(&sc, 0, sizeof sc);
    sc.s = s;
    sc.lens_tried = -1;
    sc.wb = workbench();
    sc.wb->focus_repl = 1;
    sc.canvas = canvas_alloc(1, 1, 0);
    relayout();

    /* readline: keys from us, its line drawn by us, the terminal left to curses */
    rl_readline_name = "lectern";
    rl_getc_function = getc_hook;
    rl_redisplay_function = redisplay_hook;
    rl_prep_term_function = prep_term;
    rl_deprep_term_function = deprep_term;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_attempted_completion_function = attempt_completion;
    rl_completion_display_matches_hook = show_matches;
    FILE *devnull = fopen("/dev/null", "w");
    FILE *old_rl_out = rl_outstream;
    if (devnull) rl_outstream = devnull;   /* bells and listings must not reach the tty */
    rl_variable_bind("bell-style", "none");
    using_history();
    stifle_history(SCREEN_HISTORY_MAX);
    sc.history = line_history_path();
    if (sc.history && read_history(sc.history) != 0) {
        FILE *f = fopen(sc.history, "a");
        if (f) fclose(f);
        else {
            free(sc.history);
            sc.history = NULL;
        }
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);

    char *hello = session_greeting(s);
    layout_output(sc.wb, hello, strlen(hello));
    free(hello);
    const char *keys = "Esc or F6 moves between the command line and the panes; F1 lists the keys.\n";
    layout_output(sc.wb, keys, strlen(keys));
    set_prompt(SCREEN_PROMPT);
    rl_callback_handler_install(SCREEN_PROMPT, on_line);
    sc.dirty = 1;
    while (!sc.done) {
        if (sc.dirty) draw();
        int key = crt_read(250);
        if (sc_sigint) {
            /* Ctrl-C at the command line: drop the line being typed */
            sc_sigint = 0;
            session_interrupt = 0;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_replace_line("", 0);
            rl_point = 0;
            layout_flash(sc.wb, "^C (line cleared; quit or Ctrl-D leaves)");
            sc.dirty = 1;
        }
        if (key == CRT_KEY_NONE) continue;
        if (key == CRT_KEY_RESIZE) {
            relayout();
            continue;
        }
        int flags = layout_key(sc.wb, session_trace(s), key);
        if (flags & LAYOUT_REDRAW) sc.dirty = 1;
        if (flags & LAYOUT_STEP) exec_line("step");
        if (flags & LAYOUT_BACK) exec_line("back");
        if (flags & LAYOUT_FORCE) {
            char cmd[32];
            snprintf(cmd, sizeof cmd, "force %d", sc.wb->force_id);   /* a bare number is an id */
            exec_line(cmd);
        }
        if ((flags & LAYOUT_UNUSED) && sc.wb->focus_repl) {
            queue_key(key);
            while (sc.qlen > 0 && !sc.done) rl_callback_read_char();
            sc.dirty = 1;
        }
    }
    rl_callback_handler_remove();
    sigaction(SIGINT, &old, NULL);
    crt_done();
    if (sc.history) history_truncate_file(sc.history, SCREEN_HISTORY_MAX);
    free(sc.history);
    free_matches();
    lens_drop();
    free(sc.prompt);
    canvas_free(sc.canvas);
    rl_getc_function = rl_getc;
    rl_redisplay_function = rl_redisplay;
    rl_prep_term_function = rl_prep_terminal;
    rl_deprep_term_function = rl_deprep_terminal;
    rl_completion_display_matches_hook = NULL;
    rl_outstream = old_rl_out;
    if (devnull) fclose(devnull);
    memset(&sc, 0, sizeof sc);
    return 0;
}
