/* libFuzzer target: safetensors_parse over arbitrary bytes.  On success every tensor must lie
 * inside the input and every metadata value must be readable to its stated length. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SafeTensors *st = NULL;
    if (safetensors_parse(&st, data, size, "fuzz") != 0) {
        if (strchr(err_msg(), '\n')) abort(); /* messages are one line */
        return 0;
    }
    unsigned sum = 0;
    for (int i = 0; i < safetensors_count(st); i++) {
        const Tensor *t = safetensors_get(st, i);
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size) abort();
        if (safetensors_find(st, t->name) != t) abort();
        if (t->nbytes) sum += p[0] + p[t->nbytes - 1];
    }
    for (int i = 0; i < safetensors_meta_count(st); i++) {
        size_t len = 0;
        const char *v = safetensors_meta(st, safetensors_meta_key(st, i), &len);
        if (!v) abort();
        for (size_t k = 0; k < len; k++) sum += (unsigned char)v[k];
    }
    (void)sum;
    safetensors_free(st);
    return 0;
}
