/* probe — measuring what attention heads do on annotated text.  For now one probe: where
 * attention goes from a pronoun that refers to a character (corpus.h's ground truth).
 */
#ifndef LECTERN_PROBE_H
#define LECTERN_PROBE_H

#include <stddef.h>

#include "engine/corpus.h"
#include "engine/model.h"

typedef struct {
    int L, NH;
    double *ante;      /* (L, NH) mean attention mass from a pronoun to the earlier tokens of
                          its antecedent's name */
    double *other;     /* (L, NH) the same for the other character's name */
    double *wins;      /* (L, NH) share of pronouns whose antecedent gets more than the other */
    int n_pronouns;    /* queries measured (both characters named before them) */
} CorefProbe;

typedef enum {
    PROBE_PRONOUN = 0,   /* query: a pronoun's token; target: its antecedent's earlier names */
    PROBE_NEXT_NAME = 1, /* query: the token before a name (where the model must predict it);
                            target: that character's earlier names (a "name mover") */
    PROBE_BEFORE_PRONOUN = 2, /* query: the token before a pronoun, where a causal model
                            decides to write "she" and must know who that is; target: the
                            antecedent's earlier names */
} ProbeQuery;

/* Runs m over each story of text (stories are separated by a blank line; each is cut to
 * the model's context) with attention captured, and averages over the queries: mentions
 * (pronouns, or names after the first of a character) with both characters named before
 * them.  ERR_STATE when m has no tokenizer, ERR_ARG when nothing could be measured. */
int probe_coref(const Model *m, const char *text, size_t len, const CorpusMention *mentions,
                int n_mentions, ProbeQuery query, CorefProbe *out);
void probe_coref_done(CorefProbe *p);   /* NULL-safe */

#endif
