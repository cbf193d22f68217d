/* hfconfig — see hfconfig.h.  Owns the reading and checking of a GPT-2 config.json; does not
 * own the model built from it (the GPT-2 architecture) nor the weights (safetensors.c).
 *
 * Reference: transformers, models/gpt2/configuration_gpt2.py (GPT2Config.__init__ defaults and
 * attribute_map aliases: hidden_size -> n_embd, max_position_embeddings -> n_positions,
 * num_attention_heads -> n_head, num_hidden_layers -> n_layer) and PretrainedConfig
 * (tie_word_embeddings defaults to true).  Activation names are those of transformers'
 * activations.py ACT2FN: gelu_new and gelu_pytorch_tanh are the tanh approximation GPT-2 was
 * trained with; gelu is the exact erf form, which differs by up to ~1e-3 per activation and so
 * moves logits past any useful tolerance, hence rejected rather than silently approximated.
 * Keys Lectern has no use for (dropouts, initializer_range, bos/eos ids, n_ctx, ...) are ignored.
 */
#include "engine/hfconfig.h"
#include "engine/err.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Upper bounds keep every later size product (V * C, L * 4C * C, ...) far from overflow. */
#define HF_MAX_LAYERS 1024
#define HF_MAX_HEADS 1024
#define HF_MAX_EMBD 65536
#define HF_MAX_POSITIONS (1 << 20)
#define HF_MAX_VOCAB (1 << 24)
#define HF_MAX_INNER (1 << 20)

void hfconfig_defaults(HfGpt2Config *c)
{
    memset(c, 0, sizeof *c);
    c->n_layer = 12;
    c->n_head = 12;
    c->n_embd = 768;
    c->n_positions = 1024;
    c->vocab_size = 50257;
    c->n_inner = 4 * 768;
    c->layer_norm_epsilon = 1e-5f;
    strcpy(c->activation, "gelu_new");
    c->tie_word_embeddings = 1;
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* Text from the file, made safe for a one-line message: at most 60 bytes, controls escaped. */
static char *shown_n(const char *v, size_t n)
{
    size_t k = 0;
    char *o = xmalloc(4 * 60 + 4);
    for (size_t i = 0; i < n && i < 60; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f) k += (size_t)sprintf(o + k, "\\x%02x", c);
        else o[k++] = (char)c;
    }
    if (n > 60) { memcpy(o + k, "...", 3); k += 3; }
    o[k] = 0;
    return o;
}

static char *shown(const json_t *s) { return shown_n(json_string_value(s), json_string_length(s)); }

/* Reads integer key (or its alias) into *v, leaving *v when both are absent. */
static int get_int(const char *file, json_t *root, const char *key, const char *alias, int lo,
                   int hi, int *v)
{
    json_t *a = json_object_get(root, key), *b = alias ? json_object_get(root, alias) : NULL;
    const char *used = a ? key : alias;
    json_t *j = a ? a : b;
    if (!j) return 0;
    if (a && b && !(json_is_integer(a) && json_is_integer(b) &&
                    json_integer_value(a) == json_integer_value(b)))
        return ERR(ERR_FORMAT, "%s: %s and %s are both given and disagree", file, key, alias);
    if (!json_is_integer(j))
        return ERR(ERR_FORMAT, "%s: %s is a JSON %s, not an integer", file, used, type_name(j));
    json_int_t x = json_integer_value(j);
    if (x < lo || x > hi)
        return ERR(ERR_RANGE, "%s: %s %lld out of range [%d, %d]", file, used, (long long)x, lo, hi);
    *v = (int)x;
    return 0;
}

/* Reads boolean key into *v (0/1), leaving *v when absent. */
static int get_bool(const char *file, json_t *root, const char *key, int *v)
{
    json_t *j = json_object_get(root, key);
    if (!j) return 0;
    if (!json_is_boolean(j))
        return ERR(ERR_FORMAT, "%s: %s is a JSON %s, not true or false", file, key, type_name(j));
    *v = json_is_true(j);
    return 0;
}

static int from_json(HfGpt2Config *out, json_t *root, const char *file)
{
    if (!json_is_object(root))
        return ERR(ERR_FORMAT, "%s: config is a JSON %s, not an object", file, type_name(root));
    HfGpt2Config c;
    hfconfig_defaults(&c);
    int rc;

    json_t *mt = json_object_get(root, "model_type");
    if (mt) {
        if (!json_is_string(mt))
            return ERR(ERR_FORMAT, "%s: model_type is a JSON %s, not a string", file, type_name(mt));
        if (strcmp(json_string_value(mt), "gpt2") != 0 || json_string_length(mt) != 4) {
            char *s = shown(mt);
            rc = ERR(ERR_UNSUPPORTED, "%s: model_type '%s' is not gpt2", file, s);
            free(s);
            return rc;
        }
    }

    if ((rc = get_int(file, root, "n_layer", "num_hidden_layers", 1, HF_MAX_LAYERS, &c.n_layer)) ||
        (rc = get_int(file, root, "n_head", "num_attention_heads", 1, HF_MAX_HEADS, &c.n_head)) ||
        (rc = get_int(file, root, "n_embd", "hidden_size", 1, HF_MAX_EMBD, &c.n_embd)) ||
        (rc = get_int(file, root, "n_positions", "max_position_embeddings", 1, HF_MAX_POSITIONS,
                      &c.n_positions)) ||
        (rc = get_int(file, root, "vocab_size", NULL, 1, HF_MAX_VOCAB, &c.vocab_size)))
        return rc;
    if (c.n_embd % c.n_head != 0)
        return ERR(ERR_FORMAT, "%s: n_embd %d is not divisible by n_head %d", file, c.n_embd, c.n_head);

    c.n_inner = 4 * c.n_embd; /* GPT2MLP: inner_dim = n_inner if not None else 4 * hidden_size */
    json_t *ni = json_object_get(root, "n_inner");
    if (ni && !json_is_null(ni) &&
        (rc = get_int(file, root, "n_inner", NULL, 1, HF_MAX_INNER, &c.n_inner)))
        return rc;

    json_t *eps = json_object_get(root, "layer_norm_epsilon");
    if (eps) {
        if (!json_is_number(eps))
            return ERR(ERR_FORMAT, "%s: layer_norm_epsilon is a JSON %s, not a number", file,
                       type_name(eps));
        double e = json_number_value(eps);
        if (!(isfinite(e) && (float)e > 0 && e < 1))
            return ERR(ERR_RANGE, "%s: layer_norm_epsilon %g out of range (0, 1)", file, e);
        c.layer_norm_epsilon = (float)e;
    }

    json_t *act = json_object_get(root, "activation_function");
    if (act) {
        if (!json_is_string(act))
            return ERR(ERR_FORMAT, "%s: activation_function is a JSON %s, not a string", file,
                       type_name(act));
        const char *a = json_string_value(act);
        if (strlen(a) != json_string_length(act) ||
            (strcmp(a, "gelu_new") != 0 && strcmp(a, "gelu_pytorch_tanh") != 0)) {
            char *s = shown(act);
            if (strcmp(a, "gelu") == 0 && strlen(a) == json_string_length(act))
                rc = ERR(ERR_UNSUPPORTED, "%s: activation_function 'gelu' is the exact erf GELU; "
                         "Lectern's GPT-2 computes the tanh form (gelu_new, gelu_pytorch_tanh)", file);
            else
                rc = ERR(ERR_UNSUPPORTED, "%s: activation_function '%s' is not supported "
                         "(gelu_new and gelu_pytorch_tanh are)", file, s);
            free(s);
            return rc;
        }
        strcpy(c.activation, a); /* one of the two names above: fits */
    }

    if ((rc = get_bool(file, root, "tie_word_embeddings", &c.tie_word_embeddings))) return rc;
    int scale = 1, inv_layer = 0, cross = 0;
    if ((rc = get_bool(file, root, "scale_attn_weights", &scale)) ||
        (rc = get_bool(file, root, "scale_attn_by_inverse_layer_idx", &inv_layer)) ||
        (rc = get_bool(file, root, "add_cross_attention", &cross)))
        return rc;
    if (!scale)
        return ERR(ERR_UNSUPPORTED, "%s: scale_attn_weights false (no 1/sqrt(head size)) is not supported", file);
    if (inv_layer)
        return ERR(ERR_UNSUPPORTED, "%s: scale_attn_by_inverse_layer_idx true is not supported", file);
    if (cross)
        return ERR(ERR_UNSUPPORTED, "%s: add_cross_attention true is not supported", file);

    *out = c;
    return 0;
}

static int json_fail(const char *file, const json_error_t *e)
{
    char *t = shown_n(e->text, strlen(e->text));
    int rc = ERR(ERR_FORMAT, "%s: not valid JSON: %s at line %d column %d", file, t, e->line, e->column);
    free(t);
    return rc;
}

int hfconfig_load(HfGpt2Config *out, const char *path)
{
    /* O_NONBLOCK: a FIFO would otherwise wait for a writer; only regular files are read */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ERR(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ERR(ERR_IO, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return ERR(ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    json_error_t e;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &e);
    int read_err = ferror(f) ? errno : 0;
    fclose(f);
    if (!root && read_err) return ERR(ERR_IO, "%s: read error: %s", path, strerror(read_err));
    if (!root) return json_fail(path, &e);
    int rc = from_json(out, root, path);
    json_decref(root);
    return rc;
}

int hfconfig_parse(HfGpt2Config *out, const char *json, size_t len, const char *name)
{
    if (!name) name = "<config>";
    if (!json && len) return ERR(ERR_ARG, "%s: NULL text", name);
    json_error_t e;
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &e);
    if (!root) return json_fail(name, &e);
    int rc = from_json(out, root, name);
    json_decref(root);
    return rc;
}
