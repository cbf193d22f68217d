/* Readers for the plain-text oracle files in ../shared/oracles (comments start with '#'). */
#ifndef LECTERN_ORACLE_H
#define LECTERN_ORACLE_H

#include <stddef.h>

/* All numbers of the non-comment lines of a file, row by row: *rows and *cols (the count of
 * the first row) set; every row must have the same count.  NULL if unreadable. */
double *oracle_read_matrix(const char *path, int *rows, int *cols);
/* The integers on the first non-comment line (e.g. a .ids file).  NULL if unreadable. */
int *oracle_read_ids(const char *path, int *n);
/* The integers after `key` on the line starting with `key ` (e.g. "greedy 1 2 3"). */
int *oracle_read_keyed_ids(const char *path, const char *key, int *n);

#endif
