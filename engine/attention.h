/* attention — multi-head attention over a KV cache, as an AttnSpec says: exact softmax
 * attention, restricted to a sparse pattern (pattern.h), or a low-rank/kernel method
 * (effattn.h) through its implied weights. */
#ifndef LECTERN_ATTENTION_H
#define LECTERN_ATTENTION_H

#include "engine/model.h"

/* Multi-head attention for T queries at positions pos0..pos0+T-1.
 *   out (T, NH*HS); q (T, NH*HS);
 *   kc, vc: this layer's cache (>= pos0+T rows, row stride NKV*HS), rows 0..pos0+T-1 filled;
 *   query head h reads key/value head h / (NH / NKV) (grouped-query attention).
 * Keys: 0..pos0+t for MASK_CAUSAL, 0..pos0+T-1 for MASK_BIDIRECTIONAL, further limited to
 * spec->pattern's row when set (a row left with no key outputs zeros).  Scale 1/sqrt(HS).
 * spec->kernel: out = the kernel's implied weights x V, row by row; kscratch then holds
 * attention_kernel_scratch() floats (may be NULL otherwise).
 *   scratch: >= max(T, NH) * (pos0 + T) floats.
 *   capture (may be NULL): weights written at capture[((h * cap_rows) + cap_row0 + t) *
 *   cap_cols + j] for j < pos0 + T (0 where masked); cap_cols >= pos0 + T. */
void attention_forward(float *out, const float *q, const float *kc, const float *vc,
                       int T, int pos0, int NH, int NKV, int HS, const AttnSpec *spec,
                       float *scratch, float *kscratch, float *capture, int cap_rows, int cap_row0, int cap_cols);

/* Scratch floats attention_forward needs beyond `scratch` for a non-exact kernel over ntot
 * positions (kscratch), 0 for exact and sparse attention. */
size_t attention_kernel_scratch(const AttnSpec *spec, int ntot, int HS);

/* The same computation with plain loops in double precision: the test oracle. */
void attention_forward_naive(float *out, const float *q, const float *kc, const float *vc,
                             int T, int pos0, int NH, int NKV, int HS, MaskKind mask);

#endif
