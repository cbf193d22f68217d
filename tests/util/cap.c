/* A REPL session writing into memory (see cap.h). */
#include "tests/util/cap.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

void cap_open(Cap *c)
{
    memset(c, 0, sizeof *c);
    c->out = open_memstream(&c->obuf, &c->olen);
    c->err = open_memstream(&c->ebuf, &c->elen);
    ck_assert_ptr_nonnull(c->out);
    ck_assert_ptr_nonnull(c->err);
    c->s = session_alloc(c->out, c->err);
}

static char *take(FILE *f, char **buf, size_t *len)
{
    fflush(f);
    char *r = strndup(*buf, *len);
    rewind(f);
    fflush(f);
    (*buf)[0] = 0;
    *len = 0;
    return r;
}

char *take_out(Cap *c) { return take(c->out, &c->obuf, &c->olen); }
char *take_err(Cap *c) { return take(c->err, &c->ebuf, &c->elen); }

void cap_close(Cap *c)
{
    session_free(c->s);
    fclose(c->out);
    fclose(c->err);
    free(c->obuf);
    free(c->ebuf);
}
