/* corpus — the toy world: a seeded generator of short stories in English and Russian, and
 * of labelled task data drawn from the same world (`lectern corpus`).
 *
 * Every text comes from grammars and lexicons written for Lectern (engine/corpus.c); the
 * output is a function of (seed, language, task, count) alone.  The stories carry the
 * phenomena the course talks about: pronouns that refer back to a named character,
 * names introduced early and repeated at the end, subject-verb and gender agreement (and
 * Russian case), and sentence boundaries.  Formats: docs/corpus.md.
 */
#ifndef LECTERN_CORPUS_H
#define LECTERN_CORPUS_H

#include <stddef.h>

typedef enum { CORPUS_EN = 1, CORPUS_RU = 2, CORPUS_BOTH = 3 } CorpusLang;

typedef enum {
    CORPUS_STORIES = 0,   /* one story per paragraph, a blank line between stories */
    CORPUS_SENTIMENT,     /* JSON lines: text, label (positive/negative/neutral), score */
    CORPUS_TOPICS,        /* JSON lines: text, topics (several labels) */
    CORPUS_NLI,           /* JSON lines: premise, hypothesis, label (entailment/...) */
    CORPUS_PARAPHRASE,    /* JSON lines: a, b, label (1 = same meaning, 0 = not) */
    CORPUS_TRANSLATE,     /* JSON lines: input "translate English to Russian: ...", target */
    CORPUS_TASK_COUNT
} CorpusTask;

/* "stories", "sentiment", "topics", "nli", "paraphrase", "translate". */
int corpus_task_from_name(const char *name, CorpusTask *out);   /* ERR_ARG if unknown */
const char *corpus_task_name(CorpusTask t);
const char *corpus_task_names(void);                             /* comma-separated */
int corpus_lang_from_name(const char *name, CorpusLang *out);    /* en, ru, both */

/* Generates n items (stories, or task examples) into an allocated, NUL-terminated text
 * (*out, *len).  With CORPUS_BOTH, stories and examples alternate English and Russian
 * (translation is English -> Russian whatever lang says).  ERR_ARG for n < 1 or an
 * unknown task or language. */
int corpus_generate(unsigned long seed, CorpusLang lang, CorpusTask task, int n,
                    char **out, size_t *len);

/* A mention of a character in a story: the name, or a personal pronoun that refers to
 * the character (he/she/him/her, он/она/его/её/ему/ей/...). */
typedef struct {
    size_t off, len;      /* its bytes in the text */
    int person;           /* which character: story * 2 + (0 hero, 1 friend) */
    int pronoun;          /* 1 pronoun, 0 name */
} CorpusMention;

/* The same text as corpus_generate(seed, lang, CORPUS_STORIES, n), with every mention of a
 * character in text order: the coreference ground truth the generator knows.  *mentions
 * is allocated (free it). */
int corpus_stories_annotated(unsigned long seed, CorpusLang lang, int n, char **out, size_t *len,
                             CorpusMention **mentions, int *n_mentions);

#endif
