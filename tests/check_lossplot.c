/* Tests for the loss plot: where the text plot puts points and labels, a PNG that is a
 * PNG of the asked size and the same bytes every time, and bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "tests/util/testutil.h"
#include "viz/lossplot.h"

static const long STEP[] = {10, 20, 30, 40, 50};
static const float TRAIN[] = {4.0f, 3.0f, 2.5f, 2.2f, 2.0f};

START_TEST(test_text_plot)
{
    const float val[] = {NAN, 3.2f, NAN, NAN, 2.1f};
    LossCurve c = {STEP, TRAIN, val, 5};
    char *t = lossplot_text(&c, 40, 10);
    ck_assert_ptr_nonnull(t);
    /* 8 plot rows, the axis, the step labels */
    int lines = 0;
    for (char *p = t; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 10);
    char *row[10], *save = NULL, *copy = strdup(t);
    int n = 0;
    for (char *l = strtok_r(copy, "\n", &save); l && n < 10; l = strtok_r(NULL, "\n", &save)) row[n++] = l;
    ck_assert_int_eq((int)strlen(row[0]), 40);
    /* the first training point is top-left, the last bottom-right */
    ck_assert_int_eq(row[0][8], '*');
    ck_assert_int_eq(row[7][39], '*');
    ck_assert_int_eq(row[3][16], 'o');                            /* val 3.2 at step 20 */
    ck_assert_ptr_nonnull(strstr(row[0], "4.1"));                  /* top label: 4 + 5% padding */
    ck_assert(strncmp(row[9], "        10", 10) == 0);
    ck_assert_ptr_nonnull(strstr(row[9], "50"));
    ck_assert_ptr_nonnull(strstr(row[9], "* train, o val"));
    free(copy);
    free(t);
    /* too small, or nothing to plot */
    ck_assert_ptr_null(lossplot_text(&c, 20, 10));
    ck_assert_ptr_null(lossplot_text(&c, 40, 3));
    LossCurve empty = {STEP, TRAIN, NULL, 0};
    ck_assert_ptr_null(lossplot_text(&empty, 40, 10));
    const float nans[] = {NAN, NAN};
    LossCurve allnan = {STEP, nans, NULL, 2};
    ck_assert_ptr_null(lossplot_text(&allnan, 40, 10));
    /* one point, a flat line: still a plot */
    LossCurve one = {STEP, TRAIN, NULL, 1};
    t = lossplot_text(&one, 40, 8);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(strchr(t, '*'));
    free(t);
}
END_TEST

static unsigned be32(const unsigned char *p) { return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3]; }

START_TEST(test_png)
{
    const float val[] = {NAN, 3.2f, NAN, NAN, 2.1f};
    LossCurve c = {STEP, TRAIN, val, 5};
    char *a = write_temp("", 0, ".png"), *b = write_temp("", 0, ".png");
    ck_assert_msg(lossplot_png(&c, a, 640, 360) == 0, "%s", err_msg());
    ck_assert_int_eq(lossplot_png(&c, b, 640, 360), 0);
    size_t la, lb;
    char *da = read_file(a, &la), *db = read_file(b, &lb);
    ck_assert_uint_gt(la, 1000);
    ck_assert(memcmp(da, "\x89PNG\r\n\x1a\n", 8) == 0);
    ck_assert_uint_eq(be32((unsigned char *)da + 16), 640);       /* IHDR width, height */
    ck_assert_uint_eq(be32((unsigned char *)da + 20), 360);
    ck_assert(la == lb && memcmp(da, db, la) == 0);               /* the same bytes */
    free(da); free(db);
    /* errors: size out of range, nothing finite, a path that cannot be written */
    ck_assert_int_eq(lossplot_png(&c, a, 100, 360), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), a));
    const float nans[] = {NAN, NAN};
    LossCurve allnan = {STEP, nans, NULL, 2};
    ck_assert_int_eq(lossplot_png(&allnan, a, 640, 360), ERR_ARG);
    ck_assert_int_eq(lossplot_png(&c, "/nonexistent/dir/x.png", 640, 360), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent/dir/x.png"));
    unlink(a); unlink(b);
    free(a); free(b);
}
END_TEST

static Suite *lossplot_suite(void)
{
    Suite *s = suite_create("lossplot");
    TCase *c = tcase_create("core");
    tcase_add_test(c, test_text_plot);
    tcase_add_test(c, test_png);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return run_suite(lossplot_suite());
}
