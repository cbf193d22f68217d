/* A REPL session writing into memory, for the suites that drive session_exec: stdout and
 * stderr are kept apart so a test sees which got what. */
#ifndef LECTERN_TEST_CAP_H
#define LECTERN_TEST_CAP_H

#include <stdio.h>

#include "repl/session.h"

typedef struct {
    Session *s;
    FILE *out, *err;
    char *obuf, *ebuf;
    size_t olen, elen;
} Cap;

void cap_open(Cap *c);
void cap_close(Cap *c);
/* What was written so far (allocated, caller frees); the stream starts afresh. */
char *take_out(Cap *c);
char *take_err(Cap *c);

#endif
