/* subcmd — `lectern logits|generate|tokenize|attention|init ...`: one-shot commands for
 * scripts and tests that print plain numbers.
 */
#ifndef LECTERN_SUBCMD_H
#define LECTERN_SUBCMD_H

/* 1 when name is a subcommand. */
int subcmd_is(const char *name);

/* Runs argv[0] (a subcommand name) with its options; returns the process exit status
 * (0 ok, 1 failure, 2 usage error).  Prints results on stdout and errors on stderr. */
int subcmd_run(int argc, char **argv);

/* The one-line list of subcommands, for lectern --help. */
extern const char subcmd_summary[];

#endif
