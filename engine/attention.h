/* attention — exact softmax attention over a KV cache (the kernel every AttnSpec with
 * ATTN_KERNEL_EXACT uses).  Sparse patterns and efficient kernels live in pattern.h. */
#ifndef LECTERN_ATTENTION_H
#define LECTERN_ATTENTION_H

#include "engine/model.h"

/* Multi-head attention for T queries at positions pos0..pos0+T-1.
 *   out (T, NH*HS); q (T, NH*HS);
 *   kc, vc: this layer's cache (>= pos0+T rows, row stride NKV*HS), rows 0..pos0+T-1 filled;
 *   query head h reads key/value head h / (NH / NKV) (grouped-query attention).
 * Keys: 0..pos0+t for MASK_CAUSAL, 0..pos0+T-1 for MASK_BIDIRECTIONAL.  Scale 1/sqrt(HS).
 *   scratch: >= max(T, NH) * (pos0 + T) floats.
 *   capture (may be NULL): weights written at capture[((h * cap_rows) + cap_row0 + t) *
 *   cap_cols + j] for j < pos0 + T (0 where masked); cap_cols >= pos0 + T. */
void attention_forward(float *out, const float *q, const float *kc, const float *vc,
                       int T, int pos0, int NH, int NKV, int HS, MaskKind mask,
                       float *scratch, float *capture, int cap_rows, int cap_row0, int cap_cols);

/* The same computation with plain loops in double precision: the test oracle. */
void attention_forward_naive(float *out, const float *q, const float *kc, const float *vc,
                             int T, int pos0, int NH, int NKV, int HS, MaskKind mask);

#endif
