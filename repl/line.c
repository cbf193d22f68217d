/* line — the interactive prompt, and the only file that uses readline.
 *
 * Owns: reading lines (readline's callback interface, so Ctrl-C is ours: it cancels the
 * line being typed, and while a command runs it sets session_interrupt, which `gen` and
 * `step` check between tokens), the history file, tab completion from the command table.
 * Does not own: what a line does (session_exec), the full-screen view (screen.c).
 * Reference: the GNU Readline manual, "Alternate Interface" and "Custom Completers".
 */
#include "repl/line.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "engine/err.h"
#include "repl/cmd_attention.h"
#include "repl/cmd_lesson.h"
#include "repl/commands.h"
#include "repl/cmd_train.h"
#include "viz/layout.h"

#define LINE_HISTORY_MAX 2000

/* ---- history ---- */

/* mkdir -p for the directories of path (not the last component). */
static int make_parents(const char *path)
{
    char *p = xstrdup(path);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *c = '/';
    }
    free(p);
    return 0;
}

char *line_history_path(void)
{
    const char *state = getenv("XDG_STATE_HOME");
    char *path;
    if (state && *state == '/') {
        path = xasprintf("%s/lectern/history", state);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) return NULL;
        path = xasprintf("%s/.local/state/lectern/history", home);
    }
    if (make_parents(path) != 0) {
        free(path);
        return NULL;
    }
    return path;
}

/* ---- completion ---- */

typedef struct {
    char **v;
    int n, cap;
} List;

static void list_add(List *l, const char *s)
{
    if (l->n + 2 > l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = xstrdup(s);
    l->v[l->n] = NULL;
}

static void add_prefixed(List *l, const char *text, const char *word)
{
    if (strncmp(word, text, strlen(text)) == 0) list_add(l, word);
}

static void add_files(List *l, const char *text)
{
    char *m;
    for (int state = 0; (m = rl_filename_completion_function(text, state)) != NULL; state++) {
        list_add(l, m);
        free(m);
    }
}

/* `view WHAT VALUE`: the options (viz/layout.c's view commands) and their values. */
static const char *const view_keys[] = { "layer", "head", "pane", "model", "agg", "pool", "scale",
                                         "hide-first", "mass", "step", "cursor", "lock", "ids",
                                         "lens-layer", "zoom", "scroll", "cand", NULL };
static const char *const on_off[] = { "on", "off", NULL };
static const char *const view_agg[] = { "head", "mean", "max", "rollout", NULL };
static const char *const view_pool[] = { "max", "mean", NULL };
static const char *const view_scale[] = { "linear", "log", NULL };
static const char *const view_step[] = { "latest", NULL };
static const char *const view_zoom[] = { "fit", "in", "out", "1", NULL };
static const char *const view_cand[] = { "none", NULL };

static void add_view_values(List *l, const char *text, const char *key)
{
    const char *const *v = NULL;
    if (!strcmp(key, "pane")) {
        for (int i = 0; i < PANE_COUNT; i++) add_prefixed(l, text, layout_pane_name(i));
        add_prefixed(l, text, "model");
        return;
    }
    if (!strcmp(key, "model") || !strcmp(key, "hide-first") || !strcmp(key, "lock") || !strcmp(key, "ids"))
        v = on_off;
    else if (!strcmp(key, "agg")) v = view_agg;
    else if (!strcmp(key, "pool")) v = view_pool;
    else if (!strcmp(key, "scale")) v = view_scale;
    else if (!strcmp(key, "step")) v = view_step;
    else if (!strcmp(key, "zoom")) v = view_zoom;
    else if (!strcmp(key, "cand")) v = view_cand;
    for (; v && *v; v++) add_prefixed(l, text, *v);
}

char **line_complete(const char *line, const char *text, int start)
{
    /* Which word is being completed, the command it belongs to and the word after it. */
    int word = 0;
    char *cmd = NULL, *arg1 = NULL, *prev = NULL;
    const char *p = line, *end = line + start;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p >= end) break;
        const char *w = p;
        while (p < end && *p != ' ' && *p != '\t') p++;
        if (p >= end) break;  /* the word under the cursor */
        if (word == 0) cmd = xstrndup(w, (size_t)(p - w));
        if (word == 1) arg1 = xstrndup(w, (size_t)(p - w));
        free(prev);
        prev = xstrndup(w, (size_t)(p - w));
        word++;
    }
    List l = {0};
    if (word == 0) {
        for (int i = 0; i < commands_count; i++) add_prefixed(&l, text, commands_table[i].name);
    } else {
        const Command *c = commands_find(cmd);
        switch (c ? c->complete : COMPLETE_NONE) {
        case COMPLETE_FILE:
            add_files(&l, text);
            break;
        case COMPLETE_COMMAND:
            if (word == 1)
                for (int i = 0; i < commands_count; i++) add_prefixed(&l, text, commands_table[i].name);
            break;
        case COMPLETE_SET_KEY:
            if (word == 1)
                for (int i = 0; commands_set_keys[i]; i++) add_prefixed(&l, text, commands_set_keys[i]);
            break;
        case COMPLETE_SAVE:
            if (word == 1)
                for (int i = 0; commands_save_kinds[i]; i++) add_prefixed(&l, text, commands_save_kinds[i]);
            else if (word == 2)
                add_files(&l, text);
            break;
        case COMPLETE_VIEW:
            if (word == 1)
                for (int i = 0; view_keys[i]; i++) add_prefixed(&l, text, view_keys[i]);
            else if (word == 2)
                add_view_values(&l, text, arg1);
            break;
        case COMPLETE_ONOFF:
            if (word == 1)
                for (int i = 0; on_off[i]; i++) add_prefixed(&l, text, on_off[i]);
            break;
        case COMPLETE_PATTERN:
        case COMPLETE_KERNEL:
            if (word == 1) {
                const char *const *w = c->complete == COMPLETE_PATTERN ? cmd_attention_pattern_words
                                                                       : cmd_attention_kernel_words;
                for (; *w; w++) add_prefixed(&l, text, *w);
            }
            break;
        case COMPLETE_LESSON:
            if (word == 1) {
                char **w = cmd_lesson_words();
                for (char **x = w; x && *x; x++) add_prefixed(&l, text, *x), free(*x);
                free(w);
            }
            break;
        case COMPLETE_TRAIN:
            /* after an option that takes a value, its values; otherwise the options */
            if (prev && !strcmp(prev, "--config")) {
                for (const char *const *w = cmd_train_configs; *w; w++) add_prefixed(&l, text, *w);
            } else if (prev && !strcmp(prev, "--data")) {
                add_prefixed(&l, text, "toyworld");
                add_files(&l, text);
            } else if (prev && (!strcmp(prev, "--out") || !strcmp(prev, "--plot") || !strcmp(prev, "--tokenizer") ||
                                !strcmp(prev, "--model") || !strcmp(prev, "--checkpoint"))) {
                add_files(&l, text);
            } else if (text[0] == '-' || !text[0]) {
                for (const char *const *w = cmd_train_options; *w; w++) add_prefixed(&l, text, *w);
            }
            break;
        case COMPLETE_NONE:
            break;
        }
    }
    free(cmd);
    free(arg1);
    free(prev);
    return l.v;
}

static char **g_matches;   /* the candidates the generator hands out */
static int g_next;

static char *match_generator(const char *text, int state)
{
    if (!g_matches || !g_matches[g_next]) return NULL;
    char *m = g_matches[g_next];
    g_matches[g_next++] = NULL;  /* readline takes ownership */
    return m;
}

static char **attempt_completion(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1;  /* no readline fallback to file names */
    if (g_matches) {
        for (int i = g_next; g_matches[i]; i++) free(g_matches[i]);
        free(g_matches);
    }
    g_matches = line_complete(rl_line_buffer, text, start);
    g_next = 0;
    if (!g_matches) return NULL;
    return rl_completion_matches(text, match_generator);
}

/* ---- the loop ---- */

static Session *g_session;
static char *g_history;
static int g_done;

static void on_sigint(int sig)
{
    session_interrupt = 1;
}

static void update_width(Session *s)
{
    int rows = 0, cols = 0;
    rl_get_screen_size(&rows, &cols);
    if (cols >= 20) s->width = cols;
}

static void on_line(char *line)
{
    if (!line) {  /* Ctrl-D on an empty line */
        g_done = 1;
        rl_callback_handler_remove();
        fputc('\n', stdout);
        return;
    }
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p) {
        HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
        if (!last || strcmp(last->line, line) != 0) {
            add_history(line);
            if (g_history) append_history(1, g_history);
        }
    }
    update_width(g_session);
    session_interrupt = 0;
    /* Enter on an empty line goes on with a lesson waiting at a pause */
    session_exec(g_session, *p || !cmd_lesson_waiting(g_session) ? line : "lesson next");
    session_interrupt = 0;
    free(line);
    if (g_session->quit) {
        g_done = 1;
        rl_callback_handler_remove();
    }
}

int line_run(Session *s)
{
    g_session = s;
    g_done = 0;
    rl_readline_name = "lectern";
    rl_attempted_completion_function = attempt_completion;
    rl_catch_signals = 0;  /* SIGINT is ours (on_sigint); readline keeps SIGWINCH */

    using_history();
    stifle_history(LINE_HISTORY_MAX);
    g_history = line_history_path();
    if (g_history && read_history(g_history) != 0) {
        FILE *f = fopen(g_history, "a");  /* append_history needs the file to exist */
        if (f) fclose(f);
        else {
            free(g_history);
            g_history = NULL;
        }
    }

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  /* no SA_RESTART: select() returns EINTR so the loop sees Ctrl-C */
    sigaction(SIGINT, &sa, &old);

    rl_callback_handler_install("lectern> ", on_line);
    while (!g_done) {
        int fd = fileno(rl_instream ? rl_instream : stdin);
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = select(fd + 1, &fds, NULL, NULL, NULL);
        if (r < 0) {
            if (errno != EINTR) break;
            if (session_interrupt) {
                /* Ctrl-C at the prompt: drop the line, start a fresh one. */
                session_interrupt = 0;
                rl_free_line_state();
                rl_callback_sigcleanup();
                rl_replace_line("", 0);
                fputs("^C", stdout);
                rl_crlf();
                rl_on_new_line();
                rl_redisplay();
            }
            continue;
        }
        rl_callback_read_char();
    }
    if (!g_done) rl_callback_handler_remove();
    sigaction(SIGINT, &old, NULL);

    if (g_history) history_truncate_file(g_history, LINE_HISTORY_MAX);
    free(g_history);
    g_history = NULL;
    if (g_matches) {
        for (int i = g_next; g_matches[i]; i++) free(g_matches[i]);
        free(g_matches);
        g_matches = NULL;
    }
    return 0;
}
