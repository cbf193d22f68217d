/* Test helpers shared by the Check suites. */
#ifndef LECTERN_TESTUTIL_H
#define LECTERN_TESTUTIL_H

#include <stddef.h>

/* Path of a file or folder under ../shared (LECTERN_SHARED overrides), or NULL when absent:
 * then prints "SKIP: <why> (<path> not found)" once so the skip is visible. */
const char *shared_path(const char *rel, const char *why);

/* Reads a whole file; NULL if unreadable.  *len may be NULL. Caller frees. */
char *read_file(const char *path, size_t *len);

/* Writes len bytes to a new temporary file under $TMPDIR; returns its malloc'd path. */
char *write_temp(const void *data, size_t len, const char *suffix);

/* Runs a Check suite (CK_RUN_SUITE honoured by Check itself); returns the exit code. */
struct Suite;
int run_suite(struct Suite *s);

#endif
