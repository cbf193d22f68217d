/* fuzz_llmc — libFuzzer target for llm.c's checkpoint and gpt2_tokenizer.bin readers: any
 * bytes load or fail with a message, never crash or read past the buffer (ASan).  A model
 * that loads runs two positions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "engine/loaders.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = NULL;
    if (posix_memalign(&buf, 64, size ? size : 1)) return 0;
    memcpy(buf, data, size);
    Model *m = NULL;
    if (llmc_parse(&m, buf, size, "fuzz.bin") == 0) {
        RunState s;
        if (runstate_init(&s, &m->cfg, 2, 2) == 0) {
            int toks[2] = {0, m->cfg.vocab_size - 1};
            float *lg = malloc(sizeof(float) * 2 * (size_t)m->cfg.padded_vocab);
            model_forward(m, &s, toks, 2, 0, lg, 1, NULL);
            free(lg);
            runstate_done(&s);
        }
        model_free(m);
    } else if (err_msg()[0] == 0) {
        abort();
    }
    Tokenizer *t = NULL;
    if (llmc_tokenizer_parse(&t, buf, size, "fuzz_tok.bin") == 0) {
        int id = tokenizer_vocab_size(t) - 1;
        size_t l;
        char *d = tokenizer_decode(t, &id, 1, &l);
        if (!d) abort();
        free(d);
        tokenizer_free(t);
    }
    free(buf);
    err_clear();
    return 0;
}
