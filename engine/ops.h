/* ops — the forward operations of a transformer block, llm.c style: pure functions over
 * flat float buffers (outputs first, then inputs, weights, sizes).  Matrix products go
 * through GSL's BLAS (OpenBLAS underneath); each has a naive double-accumulating twin
 * used as the test oracle.  Kernels never allocate.
 * Backward passes live beside them in train code (issue 3).
 */
#ifndef LECTERN_OPS_H
#define LECTERN_OPS_H

#include <stddef.h>

#include "engine/model.h"

/* out (T, C) = wte[tokens[t]] + wpe[pos0 + t] (wpe may be NULL) */
void encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                     int T, int C, int pos0);

/* out (N, C) = (inp - mean) * rstd * w + b; mean, rstd (N) may be NULL (saved for backward). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, int N, int C, float eps);

/* out (N, C) = inp * rrms * w, rrms = 1/sqrt(mean(inp^2) + eps); rrms (N) may be NULL. */
void rmsnorm_forward(float *out, float *rrms, const float *inp, const float *w,
                     int N, int C, float eps);

/* out (N, lin->out) = inp (N, lin->in) . W (+ b), W in either layout. */
void matmul_forward(float *out, const float *inp, const Linear *lin, int N);
/* The same through OpenBLAS always (training's forward; see gemm_forward_blas). */
void matmul_forward_blas(float *out, const float *inp, const Linear *lin, int N);
void matmul_forward_naive(float *out, const float *inp, const Linear *lin, int N);

/* GELU, tanh form (GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void gelu_forward(float *out, const float *inp, size_t N);
/* SwiGLU: out = silu(a) * g, silu(a) = a / (1 + e^-a) */
void swiglu_forward(float *out, const float *a, const float *g, size_t N);
/* out = a + b (out may alias a) */
void residual_forward(float *out, const float *a, const float *b, size_t N);
/* Rotary position embedding on x (T, n_heads * HS), rotating pairs (2i, 2i+1) of each head by
 * (pos0 + t) * theta^(-2i/HS), as llama2.c does. */
void rope_forward(float *x, int T, int n_heads, int HS, int pos0, float theta);

#endif
