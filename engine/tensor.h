/* tensor — element types and named tensors as checkpoint loaders hand them to the model.
 *
 * The engine computes in float32 over flat buffers (llm.c style); a Tensor is only the
 * description a file gives of one array (name, dtype, shape, bytes).  Matrix products go
 * through GSL views (gsl_matrix_float_const_view_array_with_tda) onto these buffers.
 */
#ifndef LECTERN_TENSOR_H
#define LECTERN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DT_F32 = 0, DT_F16, DT_BF16, DT_F64, DT_I8, DT_U8, DT_I16, DT_I32, DT_I64, DT_BOOL,
    DT_COUNT
} DType;

#define TENSOR_MAX_DIMS 8

typedef struct {
    const char *name;                 /* owned by whoever owns the tensor table */
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const void *data;                 /* nbytes bytes, not necessarily aligned for dtype */
    size_t nbytes;
} Tensor;

size_t dtype_size(DType t);                 /* bytes per element; 0 for an invalid value */
const char *dtype_name(DType t);            /* "F32", "BF16", ... (safetensors spelling) */
int dtype_from_name(const char *s, DType *out); /* 0, or -1 when unknown */

/* Element count of t (product of shape); 0 for ndim == 0 means a scalar of 1 element. */
size_t tensor_numel(const Tensor *t);

/* Converts n elements of src (dtype t) to float32 in dst.  F32/F16/BF16/F64 only;
 * returns ERR_UNSUPPORTED otherwise.  src may be unaligned. */
int tensor_to_f32(float *dst, const void *src, DType t, size_t n);

float half_to_float(uint16_t h);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);   /* round to nearest even */
uint16_t float_to_half(float f);   /* round to nearest even */

#endif
