/* subcmd_train — the training subcommands: `lectern loss`, `lectern train`,
 * `lectern tokenizer train`, `lectern corpus` (and the REPL's `train` command, which
 * runs the same code with the words it was given).
 */
#ifndef LECTERN_SUBCMD_TRAIN_H
#define LECTERN_SUBCMD_TRAIN_H

/* 1 when name is one of loss, train, tokenizer, corpus. */
int subcmd_train_is(const char *name);

/* Runs argv[0] with its options; returns the exit status (0 ok, 1 failed, 2 bad usage).
 * Results on stdout, progress and errors on stderr. */
int subcmd_train_run(int argc, char **argv);

/* One line per subcommand, for help texts. */
extern const char subcmd_train_summary[];

#endif
