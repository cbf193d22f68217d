/* cmd_train — `train` at the prompt and in scripts: the words go to subcmd_train_train, the
 * run that `lectern train` does, so both print the same progress bar, validation losses,
 * samples and loss curve.
 *
 * Owns: where the run prints (the session's output, or its error stream in JSON mode, where
 * the output holds only the result object), the Ctrl-C contract at the prompt and what the
 * session gets afterwards.  The model that is loaded is never touched: training builds its
 * own, so a failed or interrupted run leaves the session as it was, and only --load (after
 * a finished run) swaps the new model in, through the same path as `load`.
 * Ctrl-C: line.c, screen.c and batch mode set session_interrupt; the run polls it after
 * every optimizer step, writes the checkpoint and returns, and the command is not an error
 * (as with gen and step): it says where the checkpoint is and how to go on.
 */
#include "repl/cmd_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "repl/subcmd_train.h"

const char *const cmd_train_options[] = {
    "--data", "--config", "--steps", "--out", "--resume", "--load", "--tokenizer", "--model",
    "--vocab", "--stories", "--batch", "--seq", "--accum", "--lr", "--warmup", "--weight-decay",
    "--seed", "--eval-every", "--sample-every", "--save-every", "--log-every", "--prompt",
    "--checkpoint", "--stop-at", "--threads", "--plot", "--help", NULL,
};

const char *const cmd_train_configs[] = { "tiny", "small", "default", "medium", NULL };

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int cmd_train(Session *s, const CmdArgs *a)
{
    static char name[] = "train";
    char **argv = xmalloc(sizeof(char *) * (size_t)(a->argc + 2));
    argv[0] = name;
    for (int i = 0; i < a->argc; i++) argv[i + 1] = a->argv[i].s;
    argv[a->argc + 1] = NULL;

    FILE *log = s->json ? s->err : s->out;
    fflush(log);
    /* a bar redrawn with \r on a terminal, and on the screen's output pane (fd -1), which
     * redraws a line after \r too; log lines into files, pipes and the tests' memory */
    int fd = fileno(log);
    int bar = fd >= 0 ? isatty(fd) : s->interactive;
    SubcmdTrainIO io = { log, &session_interrupt, bar, "help train", 1 };
    SubcmdTrainResult r;
    int rc = subcmd_train_train(a->argc + 1, argv, &io, &r);
    free(argv);
    if (rc < 0) {
        subcmd_train_result_done(&r);
        return rc;
    }
    if (r.help) {
        const Command *c = commands_find("train");
        session_printf(s, "%s\n", c->help);
        subcmd_train_result_done(&r);
        return 0;
    }
    if (s->result) {
        json_t *o = s->result;
        json_object_set_new(o, "steps", json_integer(r.step));
        json_object_set_new(o, "first_loss", num(r.first_loss));
        json_object_set_new(o, "loss", num(r.last_loss));
        json_object_set_new(o, "val_loss", num(r.val_loss));
        json_object_set_new(o, "seconds", num(r.seconds));
        json_object_set_new(o, "tokens_per_s", num(r.tokens_per_s));
        json_object_set_new(o, "out", r.out ? json_string(r.out) : json_null());
        json_object_set_new(o, "checkpoint", json_string(r.checkpoint));
        json_object_set_new(o, "interrupted", json_boolean(r.interrupted));
        json_object_set_new(o, "loaded", json_boolean(r.load && r.out));
    }
    if (r.interrupted) {
        session_printf(s, "[interrupted after step %ld; checkpoint %s: the same train command with --resume "
                          "goes on from there]\n", r.step, r.checkpoint);
    } else if (r.out && r.load) {
        /* one more model in memory only once the new one has loaded: load swaps or keeps */
        rc = commands_load(s, r.out, NULL);
    } else if (r.out) {
        char *q = session_escape(r.out, strlen(r.out));
        session_printf(s, "%s: load %s  (or train ... --load, which loads it when training ends)\n",
                       s->model ? "to use it instead of the model loaded now" : "to use it", q);
        free(q);
    }
    subcmd_train_result_done(&r);
    return rc;
}
