/* subcmd_attention — `lectern pattern ...` and `lectern kernel ...`: attention patterns and
 * kernel outputs as plain text, for scripts and the oracle tests (tests/e2e/attention_cli.sh).
 */
#ifndef LECTERN_SUBCMD_ATTENTION_H
#define LECTERN_SUBCMD_ATTENTION_H

/* 1 for "pattern" and "kernel". */
int subcmd_attention_is(const char *name);

/* Runs argv[0] ("pattern" or "kernel") with its options; returns the exit status (0 ok,
 * 1 failure, 2 bad usage).  Results on stdout, one-line errors on stderr. */
int subcmd_attention_run(int argc, char **argv);

#endif
