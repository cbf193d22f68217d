/* model_io — dispatch of non-safetensors checkpoints and tokenizer files to the loader
 * that recognises their content.  Each loader contributes a probe. */
#include "engine/model_io.h"

#include "engine/err.h"

int model_io_load_other(Model **out, const char *path, const unsigned char *head, size_t n,
                        const char *tokenizer_path)
{
    (void)out; (void)head; (void)tokenizer_path;
    if (n < 16) return ERR(ERR_FORMAT, "%s: too short to be a model file (%zu bytes)", path, n);
    return ERR(ERR_FORMAT, "%s: not a model format Lectern knows (safetensors expected)", path);
}

int model_io_load_tokenizer_file(Tokenizer **out, const char *path)
{
    (void)out;
    return ERR(ERR_FORMAT, "%s: not a tokenizer format Lectern knows", path);
}
