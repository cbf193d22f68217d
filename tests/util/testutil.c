/* Test helpers shared by the Check suites. */
#include "tests/util/testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *shared_path(const char *rel, const char *why)
{
    static char buf[8][4096];
    static int slot;
    const char *root = getenv("LECTERN_SHARED");
    if (!root || !*root) root = "../shared";
    char *p = buf[slot++ % 8];
    snprintf(p, 4096, "%s/%s", root, rel);
    struct stat st;
    if (stat(p, &st) != 0) {
        printf("SKIP: %s (%s not found)\n", why, p);
        fflush(stdout);
        return NULL;
    }
    return p;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *write_temp(const void *data, size_t len, const char *suffix)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    char *path = malloc(strlen(dir) + 64 + (suffix ? strlen(suffix) : 0));
    sprintf(path, "%s/lectern-test-XXXXXX%s", dir, suffix ? suffix : "");
    int fd = mkstemps(path, suffix ? (int)strlen(suffix) : 0);
    if (fd < 0) { free(path); return NULL; }
    if (len && write(fd, data, len) != (ssize_t)len) { close(fd); free(path); return NULL; }
    close(fd);
    return path;
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
