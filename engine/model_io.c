/* model_io — dispatch of non-safetensors checkpoints and tokenizer files to the loader
 * that recognises their content (never the file name).  Each loader contributes a probe
 * over the file's first LOADER_PROBE_BYTES (engine/loaders.h); the most confident wins:
 * a magic number (llm.c, llama2.c exports) beats a plausible llama2.c legacy header. */
#include "engine/model_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/err.h"
#include "engine/loaders.h"
#include "engine/sptok.h"

/* Reads up to LOADER_PROBE_BYTES of path into buf; *got set. */
static int read_head(const char *path, unsigned char *buf, size_t *got)
{
    *got = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ERR(ERR_IO, "%s: %s", path, strerror(errno));
    *got = fread(buf, 1, LOADER_PROBE_BYTES, f);
    fclose(f);
    return 0;
}

int model_io_load_other(Model **out, const char *path, const unsigned char *head, size_t n,
                        const char *tokenizer_path)
{
    unsigned char buf[LOADER_PROBE_BYTES];
    if (n < LOADER_PROBE_BYTES) {  /* the caller read a short head: read what the probes need */
        int rc = read_head(path, buf, &n);
        if (rc) return rc;
        head = buf;
    }
    int pl = llmc_probe(head, n), p2 = llama2c_probe(head, n);
    if (pl && pl >= p2) return llmc_load(out, path, tokenizer_path);
    if (p2) return llama2c_load(out, path, tokenizer_path);
    if (n < 16) return ERR(ERR_FORMAT, "%s: too short to be a model file (%zu bytes)", path, n);
    return ERR(ERR_FORMAT, "%s: not a model format Lectern knows (safetensors, llama2.c, llm.c)", path);
}

int model_io_load_tokenizer_file(Tokenizer **out, const char *path)
{
    unsigned char buf[LOADER_PROBE_BYTES];
    size_t n = 0;
    int rc = read_head(path, buf, &n);
    if (rc) return rc;
    if (llmc_tokenizer_probe(buf, n)) return llmc_tokenizer_load(out, path);
    /* llama2.c's tokenizer.bin has no magic and no token count: read every token in it */
    rc = sptok_load(out, path, 0);
    if (rc) err_prefix("%s: not an llm.c tokenizer nor a llama2.c tokenizer.bin", path);
    return rc;
}
