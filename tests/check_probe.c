/* Tests for the coreference annotation and the attention probe: the annotated text is the
 * generator's text, every mention is a name or a pronoun of the right character, the
 * probe counts what it should and finds the head docs/training.md records in the default
 * model; bad input. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/corpus.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/probe.h"
#include "tests/util/testutil.h"

static const char *const NAMES_EN[] = {"Anna", "Maria", "Nina", "Vera", "Olga", "Lena",
                                       "Ivan", "Boris", "Pavel", "Oleg", "Anton", "Igor"};
static const char *const PRON_EN[] = {"he", "she", "him", "her", "He", "She"};

START_TEST(test_annotation)
{
    char *a, *b;
    size_t la, lb;
    CorpusMention *m;
    int n;
    ck_assert_int_eq(corpus_generate(21, CORPUS_EN, CORPUS_STORIES, 60, &a, &la), 0);
    ck_assert_int_eq(corpus_stories_annotated(21, CORPUS_EN, 60, &b, &lb, &m, &n), 0);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(a, b, la) == 0);
    ck_assert_int_gt(n, 300);
    const char *name_of[120] = {0};   /* person -> the name it was given */
    int pron = 0;
    for (int i = 0; i < n; i++) {
        ck_assert(m[i].off + m[i].len <= lb);
        ck_assert(i == 0 || m[i].off > m[i - 1].off);
        ck_assert(m[i].person >= 0 && m[i].person < 120);
        char w[32];
        ck_assert_uint_lt(m[i].len, sizeof w);
        memcpy(w, b + m[i].off, m[i].len);
        w[m[i].len] = 0;
        int ok = 0;
        if (m[i].pronoun) {
            for (int k = 0; k < 6; k++) ok |= strcmp(w, PRON_EN[k]) == 0;
            pron++;
            ck_assert_msg(name_of[m[i].person] != NULL, "pronoun '%s' before its character is named", w);
        } else {
            for (int k = 0; k < 12; k++) ok |= strcmp(w, NAMES_EN[k]) == 0;
            if (!name_of[m[i].person]) name_of[m[i].person] = b + m[i].off;
            else ck_assert_msg(strncmp(name_of[m[i].person], w, m[i].len) == 0, "one character, two names");
        }
        ck_assert_msg(ok, "mention '%s' is not a name or pronoun", w);
    }
    ck_assert_int_gt(pron, 100);
    free(a); free(b); free(m);
}
END_TEST

START_TEST(test_default_model_head)
{
    struct stat st;
    if (stat("models/default.safetensors", &st) != 0) {
        printf("SKIP: models/default.safetensors not found (make default-model)\n");
        return;
    }
    Model *mdl;
    ck_assert_msg(model_load(&mdl, "models/default.safetensors", NULL) == 0, "%s", err_msg());
    char *t;
    size_t len;
    CorpusMention *m;
    int n;
    ck_assert_int_eq(corpus_stories_annotated(999, CORPUS_EN, 30, &t, &len, &m, &n), 0);
    CorefProbe p;
    ck_assert_msg(probe_coref(mdl, t, len, m, n, PROBE_NEXT_NAME, &p) == 0, "%s", err_msg());
    ck_assert_int_eq(p.L, 4);
    ck_assert_int_eq(p.NH, 6);
    ck_assert_int_gt(p.n_pronouns, 100);
    for (int i = 0; i < p.L * p.NH; i++) {
        ck_assert(p.ante[i] >= 0 && p.other[i] >= 0 && p.ante[i] + p.other[i] <= 1.0 + 1e-6);
        ck_assert(p.wins[i] >= 0 && p.wins[i] <= 1);
    }
    const int lh = 2 * p.NH + 2;   /* layer 2, head 2 */
    ck_assert_msg(p.ante[lh] > 0.3 && p.ante[lh] > 4 * p.other[lh] && p.wins[lh] > 0.7,
                  "layer 2 head 2: %.3f vs %.3f, wins %.2f", p.ante[lh], p.other[lh], p.wins[lh]);
    probe_coref_done(&p);
    /* the pronoun queries count pronouns only */
    int eligible = 0;
    ck_assert_int_eq(probe_coref(mdl, t, len, m, n, PROBE_BEFORE_PRONOUN, &p), 0);
    for (int i = 0; i < n; i++) eligible += m[i].pronoun;
    ck_assert_int_le(p.n_pronouns, eligible);
    ck_assert_int_gt(p.n_pronouns, eligible / 3);
    probe_coref_done(&p);
    /* nothing to measure: no mentions, or text without the mentions' characters */
    ck_assert_int_eq(probe_coref(mdl, t, len, m, 0, PROBE_PRONOUN, &p), ERR_ARG);
    ck_assert_ptr_null(p.ante);
    /* no tokenizer */
    Tokenizer *tok = mdl->tok;
    mdl->tok = NULL;
    ck_assert_int_eq(probe_coref(mdl, t, len, m, n, PROBE_PRONOUN, &p), ERR_STATE);
    mdl->tok = tok;
    probe_coref_done(NULL);
    free(t); free(m);
    model_free(mdl);
}
END_TEST

static Suite *probe_suite(void)
{
    Suite *s = suite_create("probe");
    TCase *c = tcase_create("core");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, test_annotation);
    tcase_add_test(c, test_default_model_head);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return run_suite(probe_suite());
}
