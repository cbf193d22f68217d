/* safetensors — reader (mmap, zero-copy) and writer of the safetensors format.
 *
 * Format: u64 little-endian header length N, N bytes of JSON header
 * {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}},
 * then the data; offsets are relative to the byte after the header.
 * Everything read from the file is checked before use: header length against the file size,
 * JSON well-formed, dtype known, shape product * dtype size == e - b (overflow-checked),
 * offsets inside the data area, tensors not overlapping.
 */
#ifndef LECTERN_SAFETENSORS_H
#define LECTERN_SAFETENSORS_H

#include "engine/tensor.h"

typedef struct SafeTensors SafeTensors;

/* Opens and validates path (mmap).  On error returns a negative ERR_* with a message that
 * names path and the problem; *out is untouched. */
int safetensors_open(SafeTensors **out, const char *path);

/* The same validation over a buffer the caller keeps alive (for tests and fuzzing);
 * `name` is used in messages.  The buffer is not copied. */
int safetensors_parse(SafeTensors **out, const void *buf, size_t len, const char *name);

void safetensors_free(SafeTensors *st);                 /* NULL is a no-op */

int safetensors_count(const SafeTensors *st);
const Tensor *safetensors_get(const SafeTensors *st, int i);          /* in file order */
const Tensor *safetensors_find(const SafeTensors *st, const char *name); /* NULL if absent */
/* A __metadata__ value, NULL if absent.  *len receives the length (values may hold NUL). */
const char *safetensors_meta(const SafeTensors *st, const char *key, size_t *len);
int safetensors_meta_count(const SafeTensors *st);
const char *safetensors_meta_key(const SafeTensors *st, int i);
const char *safetensors_path(const SafeTensors *st);
/* nonzero when [p, p + n) lies inside the file mapping of st (opened with safetensors_open) */
int safetensors_in_map(const SafeTensors *st, const void *p, size_t n);

/* Writes tensors (in the given order) plus metadata key/value pairs to path, atomically
 * (a temporary file renamed into place).  meta_keys/meta_vals may be NULL when n_meta is 0. */
int safetensors_write(const char *path, const Tensor *tensors, int n,
                      const char *const *meta_keys, const char *const *meta_vals, int n_meta);

/* As safetensors_write, with meta_lens[i] the byte length of meta_vals[i], so values may hold
 * NUL bytes (safetensors_meta hands such values back with their length).  meta_lens NULL means
 * strlen of each value.  Keys and values must be valid UTF-8 (JSON strings). */
int safetensors_write_lens(const char *path, const Tensor *tensors, int n,
                           const char *const *meta_keys, const char *const *meta_vals,
                           const size_t *meta_lens, int n_meta);

#endif
