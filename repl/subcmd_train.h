/* subcmd_train — the training subcommands: `lectern loss`, `lectern train`,
 * `lectern tokenizer train`, `lectern corpus`, `lectern coref`; and the training run itself
 * (subcmd_train_train), which the REPL's `train` command (cmd_train.c) calls with its own
 * words, output stream and Ctrl-C flag.
 */
#ifndef LECTERN_SUBCMD_TRAIN_H
#define LECTERN_SUBCMD_TRAIN_H

#include <signal.h>
#include <stdio.h>

/* 1 when name is one of loss, train, tokenizer, corpus, coref. */
int subcmd_train_is(const char *name);

/* Runs argv[0] with its options; returns the exit status (0 ok, 1 failed, 2 bad usage).
 * Results on stdout, progress and errors on stderr. */
int subcmd_train_run(int argc, char **argv);

/* One line per subcommand, for help texts. */
extern const char subcmd_train_summary[];

/* The options of `train`, one per line (the subcommand's --help and the REPL's help train). */
#define SUBCMD_TRAIN_OPTIONS \
    "  --config tiny|small|default|medium|SHAPE   a fresh GPT-2 (or --model M to go on training M)\n" \
    "  --tokenizer DIR    vocab.json + merges.txt (default: the model's, else trained on the data)\n" \
    "  --vocab N          size of a tokenizer trained on the data (default 2048)\n" \
    "  --stories N        toyworld: stories to generate (default 20000, seed from --seed)\n" \
    "  --batch B --seq T --accum K --lr X --warmup W --weight-decay X --seed S\n" \
    "  --eval-every N --sample-every N --save-every N --log-every N --prompt TEXT\n" \
    "  --checkpoint FILE  (default PATH.ckpt)   --resume: go on from the checkpoint\n" \
    "  --stop-at N        stop (and save the checkpoint) at step N of the --steps schedule\n" \
    "  --threads N        threads for BLAS and the kernels (default: the machine's)\n" \
    "  --plot FILE.png    the loss curve as a PNG (a text plot is always printed)"

/* The subcommand's usage, after "usage: lectern ". */
extern const char subcmd_train_usage[];

/* Where a training run reports, and what stops it. */
typedef struct {
    FILE *log;                          /* progress, validation, samples, the text plot */
    volatile sig_atomic_t *interrupt;   /* read after every step: when set, the checkpoint
                                           is saved and the run stops (never cleared here) */
    int bar;                            /* 1: a progress bar redrawn with \r (a terminal);
                                           0: a log line every tenth of the run */
    const char *hint;                   /* where usage errors point: "lectern train --help" */
    int allow_load;                     /* --load is accepted (the REPL: r->load) */
} SubcmdTrainIO;

typedef struct {
    int load;            /* --load was given (only with io->allow_load) */
    int help;            /* --help was asked: nothing else done (the caller shows the usage) */
    int usage;           /* the failure was in the words given (exit status 2) */
    int interrupted;     /* *interrupt stopped the run after `step`; checkpoint saved */
    int stopped;         /* --stop-at stopped it; checkpoint saved */
    long step0, step;    /* optimizer steps before the run and after it */
    float first_loss;    /* the loss of the run's first step (NAN: no step ran) */
    float last_loss;     /* of its last step */
    float val_loss;      /* the last validation loss (NAN: none) */
    double seconds, tokens_per_s;
    char *out;           /* the model file written (allocated), NULL unless the run finished */
    char *checkpoint;    /* the checkpoint's path (allocated), once the words were understood */
} SubcmdTrainResult;

/* `train` with argv[0] = "train" and its options (subcmd_train_usage).  Trains, printing to
 * io->log, and fills *r (free with subcmd_train_result_done, whatever is returned).
 * Returns 0 (also for --help, an interrupted run and --stop-at: see *r) or a negative
 * ERR_* with a one-line err_msg(); r->usage tells a usage error from a failed run.
 * Uses getopt_long (resets optind).  With --threads, the thread count is restored after. */
int subcmd_train_train(int argc, char **argv, const SubcmdTrainIO *io, SubcmdTrainResult *r);
void subcmd_train_result_done(SubcmdTrainResult *r);

#endif
