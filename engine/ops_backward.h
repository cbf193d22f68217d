/* ops_backward — the backward passes of the GPT-2 operations, plus the two forward pieces
 * that only training needs (attention over a (B, T) batch that keeps its probabilities, and
 * softmax cross-entropy).  llm.c style: pure functions over flat float buffers, gradients
 * `d`-prefixed, outputs first.  Matrix products go through gsl_blas_sgemm; kernels never
 * allocate.
 *
 * Accumulation convention (stated per function): parameter gradients are always
 * accumulated (+=), so micro-batches add up; input gradients are overwritten unless a
 * function says otherwise — the residual stream's gradient is the one buffer that
 * accumulates, from both branches of every block.
 */
#ifndef LECTERN_OPS_BACKWARD_H
#define LECTERN_OPS_BACKWARD_H

#include <stddef.h>

#include "engine/model.h"

/* matmul_forward_blas with the rows split across OpenMP threads, each block one
 * single-threaded product (the same values as matmul_forward_blas: OpenBLAS, so the default
 * model's training run is reproduced byte for byte; see gemm.h). */
void matmul_forward_train(float *out, const float *inp, const Linear *lin, int N);

/* encoder: dwte[tokens[b,t]] += dout[b,t]; dwpe[t] += dout[b,t] (dwpe may be NULL).
 * dout (B, T, C). */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens,
                      int B, int T, int C);

/* layernorm: dinp (N, C) += ...; dweight, dbias (C) += ...  (dbias may be NULL).
 * inp, mean, rstd as saved by layernorm_forward. */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C);

/* matmul: out (N, lin->out) = inp (N, lin->in) . W (+ b).
 *   dinp (N, in) = dout . W^T          (overwritten; skipped when NULL)
 *   dweight      += the weight gradient, stored exactly like lin->w: same layout, same
 *                   row stride lin->ld (so a column block of a fused matrix works)
 *   dbias (out)  += column sums of dout (skipped when NULL). */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const Linear *lin, int N);

/* GELU (tanh form) for training: out (N) as gelu_forward, and th (N) = the tanh it used,
 * kept for the backward.  tanh through a vectorised exp (engine/vmath.h): within 3e-7 of
 * gelu_forward's tanhf. */
void gelu_forward_train(float *out, float *th, const float *inp, size_t N);

/* GELU backward: dinp = gelu'(inp) * dout, overwritten; dinp may alias dout.  th as saved
 * by gelu_forward_train, or NULL to recompute it. */
void gelu_backward(float *dinp, const float *inp, const float *th, const float *dout, size_t N);

/* residual out = a + b: da += dout, db += dout (either may be NULL). */
void residual_backward(float *da, float *db, const float *dout, size_t N);

/* Causal self-attention over a batch, all heads, keeping the probabilities.
 *   qkv (B, T, 3C): per row q | k | v, head h at columns h*HS .. (h+1)*HS of each;
 *   out (B, T, C);  att (B, NH, T, T): softmax probabilities, 0 above the diagonal. */
void attention_forward_train(float *out, float *att, const float *qkv, int B, int T, int C,
                             int NH);

/* Its backward: dqkv (B, T, 3C) overwritten; scratch holds T*T floats per OpenMP thread
 * (omp_get_max_threads() * T * T).  Heads run in parallel. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        float *scratch, int B, int T, int C, int NH);

/* Softmax cross-entropy over the first V of Vp columns of each row of logits (N, Vp),
 * in place: logits become probabilities (0 in the padded columns); losses (N) get
 * -log p[target].  Rows with target < 0 get loss 0 (they are ignored). */
void crossentropy_forward(float *logits, float *losses, const int *targets, int N, int V, int Vp);

/* In place again: probs (N, Vp) become dlogits = (p - onehot(target)) * dloss; padded
 * columns and ignored rows become 0. */
void crossentropy_backward(float *probs, const int *targets, float dloss, int N, int V, int Vp);

#endif
