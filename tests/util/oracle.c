/* Readers for the oracle text files. */
#include "tests/util/oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/util/testutil.h"

double *oracle_read_matrix(const char *path, int *rows, int *cols)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return NULL;
    size_t cap = 1024, n = 0;
    double *v = malloc(cap * sizeof *v);
    int r = 0, c0 = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == 0) continue;
        int c = 0;
        char *p = line, *end;
        for (;;) {
            double x = strtod(p, &end);
            if (end == p) break;
            if (n == cap) { cap *= 2; v = realloc(v, cap * sizeof *v); }
            v[n++] = x;
            c++;
            p = end;
        }
        if (c0 < 0) c0 = c;
        else if (c != c0) { free(v); free(text); return NULL; }
        r++;
    }
    free(text);
    *rows = r;
    *cols = c0 < 0 ? 0 : c0;
    return v;
}

static int *parse_ints(const char *p, int *n)
{
    int cap = 64, k = 0;
    int *ids = malloc(sizeof(int) * (size_t)cap);
    char *end;
    for (;;) {
        long x = strtol(p, &end, 10);
        if (end == p) break;
        if (k == cap) { cap *= 2; ids = realloc(ids, sizeof(int) * (size_t)cap); }
        ids[k++] = (int)x;
        p = end;
    }
    *n = k;
    return ids;
}

int *oracle_read_ids(const char *path, int *n)
{
    char *text = read_file(path, NULL);
    if (!text) return NULL;
    int *ids = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#' && line[0]) { ids = parse_ints(line, n); break; }
    free(text);
    return ids;
}

int *oracle_read_keyed_ids(const char *path, const char *key, int *n)
{
    char *text = read_file(path, NULL);
    if (!text) return NULL;
    int *ids = NULL;
    size_t kl = strlen(key);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') { ids = parse_ints(line + kl, n); break; }
    free(text);
    return ids;
}
