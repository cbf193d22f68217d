/* Tests for the toy-world corpus: reproducible from the seed, the phenomena the stories
 * must carry (names repeated at the end, pronouns that agree with a character of the
 * previous sentence, Russian verb and adjective agreement, sentence ends), and every
 * task's JSON lines with their labels; bad arguments. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/corpus.h"
#include "engine/err.h"
#include "tests/util/testutil.h"

static char *gen(unsigned long seed, CorpusLang lang, CorpusTask task, int n)
{
    char *s;
    size_t len;
    ck_assert_msg(corpus_generate(seed, lang, task, n, &s, &len) == 0, "%s", err_msg());
    ck_assert_uint_eq(strlen(s), len);
    return s;
}

START_TEST(test_reproducible)
{
    for (int t = 0; t < CORPUS_TASK_COUNT; t++) {
        char *a = gen(7, CORPUS_BOTH, (CorpusTask)t, 40), *b = gen(7, CORPUS_BOTH, (CorpusTask)t, 40);
        char *c = gen(8, CORPUS_BOTH, (CorpusTask)t, 40);
        ck_assert_str_eq(a, b);
        ck_assert_str_ne(a, c);
        free(a); free(b); free(c);
    }
    /* a longer run starts with the shorter one */
    char *a = gen(3, CORPUS_EN, CORPUS_STORIES, 5), *b = gen(3, CORPUS_EN, CORPUS_STORIES, 9);
    ck_assert(strncmp(a, b, strlen(a)) == 0);
    free(a); free(b);
}
END_TEST

static const char *const EN_F[] = {"Anna", "Maria", "Nina", "Vera", "Olga", "Lena"};
static const char *const EN_M[] = {"Ivan", "Boris", "Pavel", "Oleg", "Anton", "Igor"};
static const char *const RU_F[] = {"Анна", "Мария", "Нина", "Вера", "Ольга", "Лена"};
static const char *const RU_M[] = {"Иван", "Борис", "Павел", "Олег", "Антон", "Игорь"};

static int has_word(const char *s, const char *w)
{
    size_t k = strlen(w);
    for (const char *p = strstr(s, w); p; p = strstr(p + 1, w)) {
        int left = p == s || p[-1] == ' ' || p[-1] == '"' || p[-1] == '\n';
        int right = !((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= 'A' && p[k] <= 'Z') || (unsigned char)p[k] >= 0x80);
        if (left && right) return 1;
    }
    return 0;
}

static int mentions(const char *s, const char *const *names)
{
    for (int i = 0; i < 6; i++) if (has_word(s, names[i])) return 1;
    return 0;
}

/* Splits a story into sentences in place (an end is . ! ? before a space or the end;
 * quotes keep their "Look!" inside the sentence). */
static int sentences(char *story, char **out, int max)
{
    int n = 0;
    char *p = story;
    while (*p && n < max) {
        out[n++] = p;
        char *e = p;
        while (*e && !((*e == '.' || *e == '!' || *e == '?') && (e[1] == ' ' || e[1] == 0))) e++;
        if (!*e || e[1] == 0) break;
        e[1] = 0;
        p = e + 2;
    }
    return n;
}

static int count_names(const char *s, const char *const *names)
{
    int k = 0;
    for (int i = 0; i < 6; i++) k += has_word(s, names[i]);
    return k;
}

START_TEST(test_story_phenomena)
{
    char *text = gen(11, CORPUS_BOTH, CORPUS_STORIES, 400);
    int stories = 0, en = 0, ru = 0, pron_checked = 0, repeated = 0;
    char *save = NULL;
    for (char *st = strtok_r(text, "\n", &save); st; st = strtok_r(NULL, "\n", &save)) {
        stories++;
        const int is_ru = (unsigned char)st[0] >= 0x80;
        is_ru ? ru++ : en++;
        /* the story alternates languages and every sentence ends properly */
        size_t L = strlen(st);
        ck_assert_msg(st[L - 1] == '.', "story does not end with a full stop: %s", st);
        /* the hero named first comes back in the last sentence */
        const char *const *F = is_ru ? RU_F : EN_F, *const *Mn = is_ru ? RU_M : EN_M;
        const char *hero = NULL;
        size_t best = (size_t)-1;
        for (int g = 0; g < 2; g++)
            for (int i = 0; i < 6; i++) {
                const char *nm = g ? Mn[i] : F[i];
                const char *p = strstr(st, nm);
                if (p && (size_t)(p - st) < best) { best = (size_t)(p - st); hero = nm; }
            }
        ck_assert_ptr_nonnull(hero);
        char *copy = strdup(st), *sent[64];
        int ns = sentences(copy, sent, 64);
        ck_assert_int_ge(ns, 4);
        if (has_word(sent[ns - 1], hero)) repeated++;
        /* English: a sentence opening with He/She follows one that refers to someone of
         * that gender (by name or pronoun), and to only one such person */
        for (int i = 1; i < ns && !is_ru; i++) {
            const char *prev = sent[i - 1];
            if (strncmp(sent[i], "She ", 4) == 0) {
                ck_assert_msg(mentions(prev, EN_F) || has_word(prev, "They") || has_word(prev, "She") || has_word(prev, "she") || has_word(prev, "her"),
                              "'%s' after '%s'", sent[i], prev);
                ck_assert_msg(count_names(prev, EN_F) <= 1, "ambiguous 'She' after '%s'", prev);
                pron_checked++;
            }
            if (strncmp(sent[i], "He ", 3) == 0) {
                ck_assert_msg(mentions(prev, EN_M) || has_word(prev, "They") || has_word(prev, "He") || has_word(prev, "he") || has_word(prev, "him") || has_word(prev, "his"),
                              "'%s' after '%s'", sent[i], prev);
                ck_assert_msg(count_names(prev, EN_M) <= 1, "ambiguous 'He' after '%s'", prev);
                pron_checked++;
            }
        }
        /* Russian: subject and past-tense verb agree in gender */
        static const char *const fem_v[] = {" пошла", " нашла", " увидела", " дала", " потеряла", " улыбнулась", " была"};
        static const char *const masc_v[] = {" пошёл", " нашёл", " увидел", " дал", " потерял", " улыбнулся", " был"};
        for (int i = 0; i < 6 && is_ru; i++)
            for (int v = 0; v < 7; v++) {
                char bad1[64], bad2[64];
                snprintf(bad1, sizeof bad1, "%s%s ", RU_F[i], masc_v[v]);
                snprintf(bad2, sizeof bad2, "%s%s ", RU_M[i], fem_v[v]);
                ck_assert_msg(!strstr(st, bad1) && !strstr(st, bad2), "agreement: %s", st);
            }
        ck_assert(!strstr(st, "Она пошёл") && !strstr(st, "Он пошла") && !strstr(st, "она нашёл") && !strstr(st, "он нашла"));
        free(copy);
    }
    ck_assert_int_eq(stories, 400);
    ck_assert_int_eq(en, 200);
    ck_assert_int_eq(ru, 200);
    ck_assert_int_ge(pron_checked, 300);             /* plenty of coreference */
    ck_assert_msg(repeated >= 300, "hero named again at the end in only %d of 400 stories", repeated);
    free(text);
}
END_TEST

START_TEST(test_russian_adjectives_agree)
{
    char *text = gen(12, CORPUS_RU, CORPUS_STORIES, 300);
    /* feminine accusative nouns take -ую/-юю adjectives; animate masculine accusative -ого/-его */
    static const char *const fem_acc[] = {" книгу", " шапку", " коробку", " игрушку", " чашку", " собаку", " птицу", " лису", " лягушку"};
    static const char *const anim_m[] = {" кота", " ёжика", " кролика"};
    int checked = 0;
    for (size_t k = 0; k < sizeof fem_acc / sizeof fem_acc[0]; k++)
        for (char *p = strstr(text, fem_acc[k]); p; p = strstr(p + 1, fem_acc[k])) {
            char *q = p;   /* the previous word */
            while (q > text && q[-1] != ' ') q--;
            if (q == p || q == text) continue;
            size_t wl = (size_t)(p - q);
            if (wl >= 4 && (memcmp(p - 4, "ую", 4) == 0 || memcmp(p - 4, "юю", 4) == 0)) { checked++; continue; }
            /* otherwise it must not be an adjective at all */
            ck_assert_msg(!(wl >= 4 && (memcmp(p - 4, "ая", 4) == 0 || memcmp(p - 4, "ый", 4) == 0 || memcmp(p - 4, "ий", 4) == 0)),
                          "adjective does not agree before%s", fem_acc[k]);
        }
    for (size_t k = 0; k < sizeof anim_m / sizeof anim_m[0]; k++)
        for (char *p = strstr(text, anim_m[k]); p; p = strstr(p + 1, anim_m[k])) {
            char *q = p;
            while (q > text && q[-1] != ' ') q--;
            size_t wl = (size_t)(p - q);
            if (wl >= 6 && (memcmp(p - 6, "ого", 6) == 0 || memcmp(p - 6, "его", 6) == 0)) { checked++; continue; }
            ck_assert_msg(!(wl >= 4 && (memcmp(p - 4, "ый", 4) == 0 || memcmp(p - 4, "ой", 4) == 0 || memcmp(p - 4, "ий", 4) == 0)),
                          "nominative adjective before an animate accusative%s", anim_m[k]);
        }
    ck_assert_int_ge(checked, 10);
    free(text);
}
END_TEST

static json_t *parse_line(const char *line)
{
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    ck_assert_msg(o && json_is_object(o), "not a JSON object: %s (%s)", line, je.text);
    return o;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    ck_assert_msg(s && *s, "missing string field %s", k);
    return s;
}

START_TEST(test_tasks)
{
    for (int t = CORPUS_SENTIMENT; t < CORPUS_TASK_COUNT; t++) {
        char *text = gen(5, CORPUS_BOTH, (CorpusTask)t, 300), *save = NULL;
        int n = 0, labels[3] = {0}, ru = 0;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
            json_t *o = parse_line(line);
            if (t != CORPUS_TRANSLATE) ru += strcmp(str(o, "lang"), "ru") == 0;
            if (t == CORPUS_SENTIMENT) {
                const char *lab = str(o, "label");
                double sc = json_number_value(json_object_get(o, "score"));
                ck_assert(sc >= -1 && sc <= 1);
                const char *want = sc >= 0.25 ? "positive" : sc <= -0.25 ? "negative" : "neutral";
                ck_assert_str_eq(lab, want);
                labels[sc >= 0.25 ? 0 : sc <= -0.25 ? 1 : 2]++;
                str(o, "text");
            } else if (t == CORPUS_TOPICS) {
                json_t *a = json_object_get(o, "topics");
                ck_assert(json_is_array(a));
                if (json_array_size(a) >= 2) labels[0]++;
                str(o, "text");
            } else if (t == CORPUS_NLI) {
                const char *lab = str(o, "label");
                int k = strcmp(lab, "entailment") == 0 ? 0 : strcmp(lab, "contradiction") == 0 ? 1 : 2;
                ck_assert(k < 2 || strcmp(lab, "neutral") == 0);
                labels[k]++;
                ck_assert_str_ne(str(o, "premise"), str(o, "hypothesis"));
            } else if (t == CORPUS_PARAPHRASE) {
                json_t *l = json_object_get(o, "label");
                ck_assert(json_is_integer(l) && (json_integer_value(l) == 0 || json_integer_value(l) == 1));
                labels[json_integer_value(l)]++;
                ck_assert_str_ne(str(o, "a"), str(o, "b"));
            } else {
                const char *in = str(o, "input"), *tg = str(o, "target");
                ck_assert(strncmp(in, "translate English to Russian: ", 30) == 0);
                ck_assert((unsigned char)in[30] < 0x80);      /* English source */
                ck_assert((unsigned char)tg[0] >= 0x80 || tg[0] == '\xc2');  /* Russian (or «) */
            }
            json_decref(o);
        }
        ck_assert_int_eq(n, 300);
        if (t != CORPUS_TRANSLATE) ck_assert_int_eq(ru, 150);
        if (t == CORPUS_SENTIMENT || t == CORPUS_NLI) ck_assert(labels[0] > 30 && labels[1] > 30 && labels[2] > 30);
        if (t == CORPUS_PARAPHRASE) ck_assert(labels[0] > 80 && labels[1] > 80);
        if (t == CORPUS_TOPICS) ck_assert_int_gt(labels[0], 50);   /* multi-label */
        free(text);
    }
}
END_TEST

START_TEST(test_translation_pairs_align)
{
    /* the name in the English source comes back declined in the Russian target */
    char *text = gen(9, CORPUS_EN, CORPUS_TRANSLATE, 200), *save = NULL;
    static const char *const en[] = {"Anna", "Ivan", "Boris", "Nina"};
    static const char *const stem[] = {"Анн", "Иван", "Борис", "Нин"};
    int matched = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = parse_line(line);
        const char *in = str(o, "input"), *tg = str(o, "target");
        for (int i = 0; i < 4; i++)
            if (has_word(in, en[i])) { ck_assert_msg(strstr(tg, stem[i]) != NULL, "%s -> %s", in, tg); matched++; }
        json_decref(o);
    }
    ck_assert_int_gt(matched, 20);
    free(text);
}
END_TEST

START_TEST(test_bad_arguments)
{
    char *s = NULL;
    size_t len;
    CorpusTask t;
    CorpusLang l;
    ck_assert_int_eq(corpus_generate(1, CORPUS_EN, CORPUS_STORIES, 0, &s, &len), ERR_ARG);
    ck_assert_int_eq(corpus_generate(1, (CorpusLang)9, CORPUS_STORIES, 1, &s, &len), ERR_ARG);
    ck_assert_int_eq(corpus_generate(1, CORPUS_EN, CORPUS_TASK_COUNT, 1, &s, &len), ERR_ARG);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(corpus_task_from_name("poems", &t), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "poems"));
    ck_assert_int_eq(corpus_lang_from_name("de", &l), ERR_ARG);
    ck_assert_int_eq(corpus_task_from_name("nli", &t), 0);
    ck_assert_int_eq(t, CORPUS_NLI);
    ck_assert_str_eq(corpus_task_name(CORPUS_TRANSLATE), "translate");
    ck_assert_int_eq(corpus_lang_from_name("both", &l), 0);
    ck_assert_int_eq(l, CORPUS_BOTH);
}
END_TEST

static Suite *corpus_suite(void)
{
    Suite *s = suite_create("corpus");
    TCase *c = tcase_create("core");
    tcase_set_timeout(c, 60);
    tcase_add_test(c, test_reproducible);
    tcase_add_test(c, test_story_phenomena);
    tcase_add_test(c, test_russian_adjectives_agree);
    tcase_add_test(c, test_tasks);
    tcase_add_test(c, test_translation_pairs_align);
    tcase_add_test(c, test_bad_arguments);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return run_suite(corpus_suite());
}
