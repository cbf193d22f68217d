/* main — the program `lectern`: argument parsing and the choice of mode.
 *
 *   lectern [--plain] [--json] [-c "CMD; CMD"] [--model M] [--tokenizer T] [FILE] [MODEL]
 *   lectern [--lesson NAME [--batch]] [--lang en|ru] [MODEL]    (a FILE.lesson: its lesson)
 *   lectern logits|generate|tokenize|attention|init ...   (subcmd.c)
 *
 * Modes: with -c, the commands; with a script FILE, its lines; with stdin not a terminal,
 * stdin's lines (batch mode: no prompt, output for pipes, exit status 1 when a command
 * failed); otherwise the interactive prompt (line.c).  A positional argument that is a
 * directory or a .safetensors/.bin file is the MODEL, loaded first; any other is a FILE.
 * Only repl/ has main; it wires the engine (through session.c) to the terminal.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/err.h"
#include "repl/cmd_lesson.h"
#include "repl/line.h"
#include "repl/screen.h"
#include "repl/session.h"
#include "repl/subcmd.h"
#include "repl/subcmd_train.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: lectern [OPTIONS] [FILE] [MODEL]\n"
        "       lectern SUBCOMMAND [OPTIONS]     (%s; SUBCOMMAND --help)\n"
        "       lectern loss|train|tokenizer train|corpus|coref [OPTIONS]   (training; --help)\n"
        "\n"
        "A workbench for stepping through a transformer language model token by token.\n"
        "Without FILE or -c, and with stdin a terminal, it starts the interactive prompt;\n"
        "otherwise it runs the commands and exits (status 1 if one of them failed).\n"
        "\n"
        "  -m, --model PATH      load this model first (safetensors file or HF GPT-2 dir)\n"
        "  -t, --tokenizer PATH  the tokenizer files, when they are not beside the model\n"
        "  -c, --command CMDS    run commands separated by ; or newlines, and exit\n"
        "  -e, --echo            print each command before its output (batch mode)\n"
        "      --plain           plain text output, no full-screen view\n"
        "      --json            one JSON object per command result (for notebooks)\n"
        "  -l, --lesson NAME     play a lesson (lesson list names them; or a .lesson file):\n"
        "                        on a terminal it stops at each pause, else runs through\n"
        "      --batch           no prompt and no pauses, even on a terminal\n"
        "      --lang en|ru      the lessons' language (default: from LC_ALL, LANG)\n"
        "  -h, --help            this help;  -V, --version  the version\n"
        "\n"
        "Type help at the prompt for the commands; man lectern for everything.\n",
        subcmd_summary);
}

static volatile sig_atomic_t batch_sigints;

/* Batch mode: the first Ctrl-C stops after the running token or command; a second one
 * ends the program at once. */
static void on_sigint_batch(int sig)
{
    session_interrupt = 1;
    if (++batch_sigints >= 2) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static int looks_like_model(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    size_t n = strlen(path);
    static const char *const ext[] = { ".safetensors", ".bin" };
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcmp(path + n - e, ext[i]) == 0) return 1;
    }
    return 0;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

int main(int argc, char **argv)
{
    if (argc > 1 && subcmd_is(argv[1])) return subcmd_run(argc - 1, argv + 1);
    if (argc > 1 && subcmd_train_is(argv[1])) {
        err_install_gsl_handler();
        return subcmd_train_run(argc - 1, argv + 1);
    }

    enum { OPT_PLAIN = 256, OPT_JSON, OPT_BATCH, OPT_LANG };
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' },
        { "tokenizer", required_argument, NULL, 't' },
        { "command", required_argument, NULL, 'c' },
        { "echo", no_argument, NULL, 'e' },
        { "plain", no_argument, NULL, OPT_PLAIN },
        { "json", no_argument, NULL, OPT_JSON },
        { "lesson", required_argument, NULL, 'l' },
        { "batch", no_argument, NULL, OPT_BATCH },
        { "lang", required_argument, NULL, OPT_LANG },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *model = NULL, *tokenizer = NULL, *commands = NULL, *script = NULL;
    const char *lesson = NULL, *lang = NULL;
    int json = 0, plain = 0, echo = 0, batch = 0, c;
    while ((c = getopt_long(argc, argv, "m:t:c:l:ehV", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 't': tokenizer = optarg; break;
        case 'c': commands = optarg; break;
        case 'e': echo = 1; break;
        case OPT_PLAIN: plain = 1; break;
        case OPT_JSON: json = 1; break;
        case 'l': lesson = optarg; break;
        case OPT_BATCH: batch = 1; break;
        case OPT_LANG: lang = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("lectern %s\n", LECTERN_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        const char **slot = looks_like_model(argv[i]) ? &model : &script;
        if (*slot) {
            fprintf(stderr, "lectern: more than one %s given ('%s' and '%s')\n",
                    slot == &model ? "model" : "script", *slot, argv[i]);
            return 2;
        }
        *slot = argv[i];
    }
    size_t sn = script ? strlen(script) : 0;
    if (!lesson && sn > 7 && !strcmp(script + sn - 7, ".lesson")) {
        lesson = script;   /* lectern FILE.lesson: batch mode, like any FILE */
        script = NULL;
        batch = 1;
    }
    if (script && commands) {
        fprintf(stderr, "lectern: give a script FILE or -c, not both\n");
        return 2;
    }
    FILE *script_f = NULL;
    if (script && !(script_f = fopen(script, "r"))) {
        perror(script);
        return 1;
    }

    err_install_gsl_handler();
    int interactive = !script && !commands && !batch && isatty(STDIN_FILENO);
    Session *s = session_alloc(stdout, stderr);
    s->json = json;
    s->interactive = interactive;
    if (lang && cmd_lesson_set_lang(s, lang) < 0) {
        fprintf(stderr, "lectern: %s\n", err_msg());
        session_free(s);
        return 2;
    }
    if (tokenizer) s->tokenizer_path = xstrdup(tokenizer);
    if (interactive) s->width = terminal_width();
    else signal(SIGINT, on_sigint_batch);

    if (model) {
        /* Through the command, so it is logged for `save session` like any load. */
        char *qm = session_escape(model, strlen(model));
        char *line = xasprintf("load %s", qm);
        session_exec(s, line);
        free(line);
        free(qm);
    }

    int status = 0;
    if (lesson && interactive) {
        /* waits for Enter at the prompt; the greeting says so */
        if (cmd_lesson_begin(s, lesson) < 0) {
            fprintf(stderr, "lectern: %s\n", err_msg());
            session_free(s);
            return 1;
        }
    } else if (lesson) {
        char *ql = session_escape(lesson, strlen(lesson));
        char *line = xasprintf("lesson %s", ql);
        session_exec(s, line);
        free(line);
        free(ql);
    }
    if (lesson && !interactive && !commands && !script) {
        /* the lesson was the whole run: stdin is not a script here */
    } else if (commands) {
        char **lines = session_split_commands(commands);
        for (char **l = lines; *l && !s->quit && !session_interrupt; l++) {
            const char *cmd = *l + strspn(*l, " \t");  /* "a; b" echoes as "b", not " b" */
            if (echo && !json) printf("lectern> %s\n", cmd);
            session_exec(s, *l);
        }
        session_free_lines(lines);
    } else if (script_f) {
        session_run_file(s, script_f, echo);
        fclose(script_f);
    } else if (!interactive) {
        session_run_file(s, stdin, echo);
    } else if (plain || json || !isatty(STDOUT_FILENO) || screen_run(s) != 0) {
        /* --plain, JSON, output to a pipe, or a terminal curses cannot drive */
        if (!json) {
            char *hello = session_greeting(s);
            fputs(hello, stdout);
            free(hello);
        }
        line_run(s);
    }
    if (!interactive) {
        if (session_interrupt) status = 130;
        else if (s->n_failed) status = 1;
    }
    session_free(s);
    return status;
}
