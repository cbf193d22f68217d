/* deepspeed — the block-sparse layouts of DeepSpeed's sparsity_config.py, as data.
 *
 * A configuration names one of DeepSpeed's classes (Dense, Fixed, Variable, BigBird,
 * BSLongformer, LocalSlidingWindow) with DeepSpeed's own parameter names and defaults; a
 * layout is the (num_blocks, num_blocks) 0/1 matrix of one head, row = query block.
 * pattern_alloc_layout (pattern.h) expands it to tokens.  DeepSpeed's quirks are kept on
 * purpose (attention.md section 2): no causality inside a diagonal block (the token-level
 * causal mask is the caller's), Fixed unidirectional with num_global_blocks > 1 sees one
 * block of the future, random blocks may coincide with window/global ones, BigBird
 * unidirectional with num_random_blocks >= 2 fails at row 0.  Random blocks come from a
 * seeded gsl_rng (DeepSpeed uses Python's random.sample, so only counts and structure can
 * match its output).
 */
#ifndef LECTERN_DEEPSPEED_H
#define LECTERN_DEEPSPEED_H

typedef enum {
    DS_DENSE = 0, DS_FIXED, DS_VARIABLE, DS_BIGBIRD, DS_BSLONGFORMER, DS_LOCAL
} DeepspeedClass;

typedef struct {
    DeepspeedClass cls;
    int num_heads;                      /* 1 (only matters with different_layout_per_head) */
    int block;                          /* 16 */
    int different_layout_per_head;      /* 0 */
    int num_local_blocks;               /* Fixed: 4 */
    int num_global_blocks;              /* Fixed: 1, BigBird: 1 */
    int unidirectional;                 /* attention='unidirectional' (default only for
                                           LocalSlidingWindow) */
    int horizontal_global_attention;    /* Fixed, Variable: 0 */
    int num_different_global_patterns;  /* Fixed: 1 */
    int num_random_blocks;              /* Variable: 0, BigBird: 1 */
    int num_sliding_window_blocks;      /* BigBird, BSLongformer, LocalSlidingWindow: 3 */
    int *local_window_blocks;           /* Variable: [4] */
    int n_local_window_blocks;
    int *global_block_indices;          /* Variable, BSLongformer: [0] */
    int n_global_block_indices;
    int *global_block_end_indices;      /* NULL (None), else n_global_block_end_indices values,
                                           as many as global_block_indices */
    int n_global_block_end_indices;
} DeepspeedConfig;

/* Defaults of the named class ("Fixed" or "FixedSparsityConfig", any case). */
int deepspeed_config_init(DeepspeedConfig *c, const char *class_name);
/* One parameter by DeepSpeed's name: integers, True/False, bidirectional/unidirectional,
 * lists as [0,6] or 0,6, None. */
int deepspeed_config_set(DeepspeedConfig *c, const char *name, const char *value);
/* init + set for each "name=value" of params (space separated; NULL or "" for none), then
 * the checks DeepSpeed's constructors make.  On failure c is released. */
int deepspeed_config_parse(DeepspeedConfig *c, const char *class_name, const char *params);
/* The checks of DeepSpeed's __init__ (ValueError there, ERR_ARG here). */
int deepspeed_config_check(const DeepspeedConfig *c);
void deepspeed_config_done(DeepspeedConfig *c);
const char *deepspeed_class_name(DeepspeedClass c);   /* "Fixed", ... */

/* Layout of head `head` for seq_len tokens: *layout (nb, nb) xmalloc'd, *nb = seq_len/block.
 * ERR_ARG when block does not divide seq_len or a size check of make_layout fails.
 * Random blocks draw from one gsl_rng seeded with seed, head after head. */
int deepspeed_layout(const DeepspeedConfig *c, int seq_len, int head, unsigned long seed,
                     unsigned char **layout, int *nb);

#endif
