/* safetensors — reader and writer of Hugging Face's safetensors format (see safetensors.h).
 *
 * Owns: the mmap of an opened file, the tensor table (names, dtypes, shapes, pointers into the
 * map: zero copy), a hash index of names and the __metadata__ strings.  Does not own: any
 * conversion of the data (tensor.c) or the meaning of names (the model loaders).
 *
 * Everything read from a file is hostile until checked.  The checks follow the reference
 * implementation (huggingface/safetensors, safetensors/src/tensor.rs: read_metadata/validate)
 * and its README: header length at most 100,000,000 bytes and inside the file; JSON header an
 * object without duplicate keys; __metadata__ an object of strings; every tensor a known dtype,
 * a shape of non-negative integers whose byte count (overflow-checked) equals e - b, and
 * data_offsets [b, e] with b <= e inside the data area.  Like the reference, the tensors must
 * tile the data area exactly: sorted by offset each starts where the previous ends, and the
 * last ends at the end of the file.  So a hole, an overlap or trailing bytes are all errors
 * (a hole is where a polyglot file would hide a second payload).  Keys of a tensor entry other
 * than dtype/shape/data_offsets are ignored, as serde does in the reference.
 *
 * Tensors keep the order in which the header lists them (jansson >= 2.8 objects iterate in
 * insertion order).  The writer lays data out contiguously in the caller's order and pads the
 * header with spaces to a multiple of 8, so F64/I64 data lands 8-byte aligned in the map.
 */
#include "engine/safetensors.h"
#include "engine/err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation's limit on the JSON header (MAX_HEADER_SIZE). */
#define SAFETENSORS_MAX_HEADER 100000000u

struct SafeTensors {
    char *path;          /* path or caller's name, for messages */
    void *map;           /* mmapped file (NULL when parsing a caller's buffer) */
    size_t map_len;
    Tensor *tensors;     /* (n) in header order; names owned here, data points into the buffer */
    int n;
    int *index;          /* (index_cap) open-addressed hash of names: tensor index + 1, 0 empty */
    size_t index_cap;    /* power of two, >= 2n */
    char **meta_keys;    /* (n_meta) */
    char **meta_vals;    /* (n_meta) each NUL-terminated for convenience, may hold NUL */
    size_t *meta_lens;   /* (n_meta) */
    int n_meta;
};

/* ---- names in messages ---------------------------------------------------------------- */

/* Names come from the file, so a message must not carry their control bytes (it is one line)
 * nor all of a megabyte-long key.  Returns a malloc'd printable form. */
static char *shown_n(const char *s, size_t n)
{
    enum { LIMIT = 80 };
    size_t cap = (n < LIMIT ? n : LIMIT) * 4 + 8, k = 0;
    char *o = xmalloc(cap);
    for (size_t i = 0; i < n && i < LIMIT; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) k += (size_t)snprintf(o + k, cap - k, "\\x%02x", c);
        else o[k++] = (char)c;
    }
    if (n > LIMIT) { memcpy(o + k, "...", 3); k += 3; }
    o[k] = 0;
    return o;
}

static char *shown(const char *s) { return shown_n(s, strlen(s)); }

/* "[3, 4]" for a shape, malloc'd. */
static char *shape_str(const int64_t *shape, int ndim)
{
    size_t cap = 3 + (size_t)ndim * 22, k = 0;
    char *o = xmalloc(cap);
    o[k++] = '[';
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(o + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    o[k++] = ']';
    o[k] = 0;
    return o;
}

/* Scratch strings for one error message, freed by the parser on the way out. */
typedef struct {
    const char *file;
    char *s[3];
} Ctx;

static const char *ctx_show(Ctx *c, int slot, const char *s)
{
    free(c->s[slot]);
    c->s[slot] = shown(s);
    return c->s[slot];
}

static void ctx_done(Ctx *c)
{
    for (int i = 0; i < 3; i++) free(c->s[i]);
}

/* ---- name index ----------------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}

static void build_index(SafeTensors *st)
{
    size_t cap = 8;
    while (cap < (size_t)st->n * 2) cap *= 2;
    st->index = xcalloc(cap, sizeof *st->index);
    st->index_cap = cap;
    for (int i = 0; i < st->n; i++) {
        size_t j = hash_name(st->tensors[i].name) & (cap - 1);
        while (st->index[j]) j = (j + 1) & (cap - 1);
        st->index[j] = i + 1;
    }
}

/* ---- parsing ---------------------------------------------------------------------------- */

static const char *json_type_name(const json_t *j)
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

/* dtypes the format defines that Lectern's DType does not hold: valid files, not for us. */
static int dtype_in_spec(const char *s)
{
    static const char *const other[] = {"U16", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                                        "F4", "F6_E2M3", "F6_E3M2", "C64"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (strcmp(s, other[i]) == 0) return 1;
    return 0;
}

static int parse_metadata(SafeTensors *st, Ctx *c, json_t *meta)
{
    if (!json_is_object(meta))
        return ERR(ERR_FORMAT, "%s: __metadata__ is a JSON %s, not an object of strings",
                   c->file, json_type_name(meta));
    size_t n = json_object_size(meta);
    st->meta_keys = xcalloc(n, sizeof *st->meta_keys);
    st->meta_vals = xcalloc(n, sizeof *st->meta_vals);
    st->meta_lens = xcalloc(n, sizeof *st->meta_lens);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return ERR(ERR_FORMAT, "%s: __metadata__ '%s' is a JSON %s, not a string", c->file,
                       ctx_show(c, 0, key), json_type_name(val));
        int i = st->n_meta++;
        st->meta_keys[i] = xstrdup(key);
        st->meta_lens[i] = json_string_length(val);
        st->meta_vals[i] = xstrndup(json_string_value(val), st->meta_lens[i]);
    }
    return 0;
}

/* Offsets as read, before the layout check. */
typedef struct {
    uint64_t b, e;
    int i;
} Span;

static int parse_tensor(SafeTensors *st, Ctx *c, const char *key, json_t *v, size_t data_len,
                        Span *span)
{
    const char *nm = ctx_show(c, 0, key);
    if (!json_is_object(v))
        return ERR(ERR_FORMAT, "%s: tensor '%s': entry is a JSON %s, not an object", c->file, nm,
                   json_type_name(v));
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!jd || !js || !jo)
        return ERR(ERR_FORMAT, "%s: tensor '%s': missing \"%s\"", c->file, nm,
                   !jd ? "dtype" : !js ? "shape" : "data_offsets");

    Tensor *t = &st->tensors[st->n];
    if (!json_is_string(jd))
        return ERR(ERR_FORMAT, "%s: tensor '%s': dtype is a JSON %s, not a string", c->file, nm,
                   json_type_name(jd));
    const char *ds = json_string_value(jd);
    if (strlen(ds) != json_string_length(jd) || dtype_from_name(ds, &t->dtype) != 0) {
        if (dtype_in_spec(ds))
            return ERR(ERR_UNSUPPORTED, "%s: tensor '%s': dtype '%s' is not supported", c->file,
                       nm, ds);
        free(c->s[1]);
        c->s[1] = shown_n(ds, json_string_length(jd));
        return ERR(ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", c->file, nm, c->s[1]);
    }

    if (!json_is_array(js))
        return ERR(ERR_FORMAT, "%s: tensor '%s': shape is a JSON %s, not an array", c->file, nm,
                   json_type_name(js));
    size_t ndim = json_array_size(js);
    if (ndim > TENSOR_MAX_DIMS)
        return ERR(ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most %d supported)",
                   c->file, nm, ndim, TENSOR_MAX_DIMS);
    t->ndim = (int)ndim;
    int zero = 0;
    for (size_t d = 0; d < ndim; d++) {
        json_t *x = json_array_get(js, d);
        if (!json_is_integer(x))
            return ERR(ERR_FORMAT, "%s: tensor '%s': shape[%zu] is a JSON %s, not an integer",
                       c->file, nm, d, json_type_name(x));
        json_int_t k = json_integer_value(x);
        if (k < 0)
            return ERR(ERR_FORMAT, "%s: tensor '%s': shape[%zu] is negative (%lld)", c->file, nm,
                       d, (long long)k);
        t->shape[d] = k;
        zero |= k == 0;
    }

    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)) ||
        json_integer_value(json_array_get(jo, 0)) < 0 || json_integer_value(json_array_get(jo, 1)) < 0)
        return ERR(ERR_FORMAT, "%s: tensor '%s': data_offsets is not two non-negative integers",
                   c->file, nm);
    uint64_t b = (uint64_t)json_integer_value(json_array_get(jo, 0));
    uint64_t e = (uint64_t)json_integer_value(json_array_get(jo, 1));
    if (b > e)
        return ERR(ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                   c->file, nm, b, e);
    if (e > data_len)
        return ERR(ERR_RANGE, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] outside the data area (%zu bytes)",
                   c->file, nm, b, e, data_len);

    /* Byte count of the shape; a zero dimension makes it 0 however large the others are. */
    uint64_t bytes = zero ? 0 : dtype_size(t->dtype);
    for (int d = 0; d < t->ndim && !zero; d++)
        if (__builtin_mul_overflow(bytes, (uint64_t)t->shape[d], &bytes)) {
            char *sh = shape_str(t->shape, t->ndim);
            int rc = ERR(ERR_RANGE, "%s: tensor '%s': shape %s is too large (byte count overflows)",
                         c->file, nm, sh);
            free(sh);
            return rc;
        }
    if (bytes != e - b) {
        char *sh = shape_str(t->shape, t->ndim);
        int rc = ERR(ERR_FORMAT, "%s: tensor '%s': shape %s needs %" PRIu64 " bytes but data_offsets give %" PRIu64,
                     c->file, nm, sh, bytes, e - b);
        free(sh);
        return rc;
    }

    t->nbytes = (size_t)(e - b);
    span->b = b;
    span->e = e;
    span->i = st->n;
    t->name = xstrdup(key); /* counted in st->n only now, so free() sees a whole tensor */
    st->n++;
    return 0;
}

static int span_cmp(const void *pa, const void *pb)
{
    const Span *a = pa, *b = pb;
    if (a->b != b->b) return a->b < b->b ? -1 : 1;
    if (a->e != b->e) return a->e < b->e ? -1 : 1;
    return a->i - b->i;
}

/* The reference's rule: sorted by offset, the tensors tile [0, data_len) exactly. */
static int check_layout(const SafeTensors *st, Ctx *c, Span *spans, size_t data_len)
{
    qsort(spans, (size_t)st->n, sizeof *spans, span_cmp);
    uint64_t at = 0;
    for (int k = 0; k < st->n; k++) {
        const char *nm = st->tensors[spans[k].i].name;
        if (spans[k].b < at)
            return ERR(ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", c->file,
                       ctx_show(c, 0, st->tensors[spans[k - 1].i].name), ctx_show(c, 1, nm));
        if (spans[k].b > at) {
            if (k == 0)
                return ERR(ERR_FORMAT, "%s: hole in the data area: bytes [0, %" PRIu64 ") before tensor '%s' belong to no tensor",
                           c->file, spans[k].b, ctx_show(c, 0, nm));
            return ERR(ERR_FORMAT, "%s: hole in the data area: bytes [%" PRIu64 ", %" PRIu64 ") between tensors '%s' and '%s' belong to no tensor",
                       c->file, at, spans[k].b, ctx_show(c, 0, st->tensors[spans[k - 1].i].name),
                       ctx_show(c, 1, nm));
        }
        at = spans[k].e;
    }
    if (at != data_len)
        return ERR(ERR_FORMAT, "%s: %" PRIu64 " bytes after the last tensor belong to no tensor (data area %zu bytes, tensors end at %" PRIu64 ")",
                   c->file, (uint64_t)data_len - at, data_len, at);
    return 0;
}

static int parse_into(SafeTensors *st, const unsigned char *buf, size_t len)
{
    Ctx c = {.file = st->path};
    json_t *root = NULL;
    Span *spans = NULL;
    int rc;

    if (len < 8) {
        rc = ERR(ERR_FORMAT, "%s: file is %zu bytes, shorter than the 8-byte header length", c.file, len);
        goto out;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > SAFETENSORS_MAX_HEADER) {
        rc = ERR(ERR_RANGE, "%s: header length %" PRIu64 " is absurd (limit %u bytes, file size %zu)",
                 c.file, hlen, SAFETENSORS_MAX_HEADER, len);
        goto out;
    }
    if (hlen > len - 8) {
        rc = ERR(ERR_RANGE, "%s: header length %" PRIu64 " past end of file (size %zu)", c.file, hlen, len);
        goto out;
    }
    const unsigned char *data = buf + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;

    json_error_t je;
    root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        const char *what = json_error_code(&je) == json_error_duplicate_key
                               ? "header has a duplicate key" : "header is not valid JSON";
        rc = ERR(ERR_FORMAT, "%s: %s: %s at line %d column %d", c.file, what,
                 ctx_show(&c, 0, je.text), je.line, je.column);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = ERR(ERR_FORMAT, "%s: header is a JSON %s, not an object", c.file, json_type_name(root));
        goto out;
    }

    size_t n = json_object_size(root);
    st->tensors = xcalloc(n, sizeof *st->tensors);
    spans = xcalloc(n, sizeof *spans);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) rc = parse_metadata(st, &c, val);
        else rc = parse_tensor(st, &c, key, val, data_len, &spans[st->n]);
        if (rc) goto out;
    }
    for (int i = 0; i < st->n; i++) st->tensors[i].data = data + spans[i].b;
    if ((rc = check_layout(st, &c, spans, data_len))) goto out;
    build_index(st);
    rc = 0;
out:
    json_decref(root);
    free(spans);
    ctx_done(&c);
    return rc;
}

int safetensors_parse(SafeTensors **out, const void *buf, size_t len, const char *name)
{
    if (!buf && len) return ERR(ERR_ARG, "%s: NULL buffer", name ? name : "<buffer>");
    SafeTensors *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(name ? name : "<buffer>");
    int rc = parse_into(st, buf, len);
    if (rc) { safetensors_free(st); return rc; }
    *out = st;
    return 0;
}

int safetensors_open(SafeTensors **out, const char *path)
{
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it is refused below */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ERR(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ERR(ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ERR(ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ERR(ERR_RANGE, "%s: file too large to map", path);
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len >= 8) { /* shorter files fail in the parser; mmap of 0 bytes is an error */
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ERR(ERR_IO, "%s: cannot mmap %zu bytes: %s", path, len, strerror(e));
        }
    }
    close(fd);

    SafeTensors *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    st->map = map;
    st->map_len = len;
    static const unsigned char none[8];
    int rc = parse_into(st, map ? map : none, len);
    if (rc) { safetensors_free(st); return rc; }
    *out = st;
    return 0;
}

void safetensors_free(SafeTensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n; i++) free((void *)(uintptr_t)st->tensors[i].name);
    free(st->tensors);
    free(st->index);
    for (int i = 0; i < st->n_meta; i++) { free(st->meta_keys[i]); free(st->meta_vals[i]); }
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->meta_lens);
    if (st->map) munmap(st->map, st->map_len);
    free(st->path);
    free(st);
}

/* ---- accessors -------------------------------------------------------------------------- */

int safetensors_count(const SafeTensors *st) { return st ? st->n : 0; }

const Tensor *safetensors_get(const SafeTensors *st, int i)
{
    return st && i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

const Tensor *safetensors_find(const SafeTensors *st, const char *name)
{
    if (!st || !name || !st->index) return NULL;
    size_t mask = st->index_cap - 1, j = hash_name(name) & mask;
    for (; st->index[j]; j = (j + 1) & mask) {
        const Tensor *t = &st->tensors[st->index[j] - 1];
        if (strcmp(t->name, name) == 0) return t;
    }
    return NULL;
}

/* Metadata holds a handful of keys: a linear scan is the right index. */
const char *safetensors_meta(const SafeTensors *st, const char *key, size_t *len)
{
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) {
            if (len) *len = st->meta_lens[i];
            return st->meta_vals[i];
        }
    return NULL;
}

int safetensors_meta_count(const SafeTensors *st) { return st ? st->n_meta : 0; }

const char *safetensors_meta_key(const SafeTensors *st, int i)
{
    return st && i >= 0 && i < st->n_meta ? st->meta_keys[i] : NULL;
}

const char *safetensors_path(const SafeTensors *st) { return st ? st->path : NULL; }

int safetensors_in_map(const SafeTensors *st, const void *p, size_t n)
{
    if (!st || !st->map) return 0;
    const char *a = st->map, *q = p;
    return q >= a && n <= st->map_len && (size_t)(q - a) <= st->map_len - n;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Builds the JSON header for the tensors laid out back to back.  Returns 0 or ERR_ARG. */
static int build_header(json_t **out, const char *path, const Tensor *tensors, int n,
                        const char *const *meta_keys, const char *const *meta_vals,
                        const size_t *meta_lens, int n_meta)
{
    json_t *root = json_object();
    int rc = 0;
    if (n_meta > 0) {
        json_t *meta = json_object();
        json_object_set_new(root, "__metadata__", meta);
        for (int i = 0; i < n_meta; i++) {
            const char *k = meta_keys[i], *v = meta_vals[i];
            if (!k || !v) { rc = ERR(ERR_ARG, "%s: metadata %d has a NULL key or value", path, i); goto fail; }
            if (json_object_get(meta, k)) {
                rc = ERR(ERR_ARG, "%s: metadata key '%s' given twice", path, k);
                goto fail;
            }
            json_t *s = json_stringn(v, meta_lens ? meta_lens[i] : strlen(v));
            if (!s) { rc = ERR(ERR_ARG, "%s: metadata '%s': value is not valid UTF-8", path, k); goto fail; }
            if (json_object_set_new(meta, k, s) != 0) {
                rc = ERR(ERR_ARG, "%s: metadata key '%s' is not valid UTF-8", path, k);
                goto fail;
            }
        }
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const Tensor *t = &tensors[i];
        const char *nm = t->name;
        if (!nm) { rc = ERR(ERR_ARG, "%s: tensor %d has no name", path, i); goto fail; }
        if (strcmp(nm, "__metadata__") == 0 || json_object_get(root, nm)) {
            rc = ERR(ERR_ARG, "%s: tensor name '%s' %s", path, nm,
                     strcmp(nm, "__metadata__") == 0 ? "is reserved" : "given twice");
            goto fail;
        }
        if ((unsigned)t->dtype >= DT_COUNT) { rc = ERR(ERR_ARG, "%s: tensor '%s': invalid dtype %d", path, nm, (int)t->dtype); goto fail; }
        if (t->ndim < 0 || t->ndim > TENSOR_MAX_DIMS) {
            rc = ERR(ERR_ARG, "%s: tensor '%s': ndim %d out of range [0, %d]", path, nm, t->ndim, TENSOR_MAX_DIMS);
            goto fail;
        }
        uint64_t bytes = dtype_size(t->dtype);
        int over = 0;
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) {
                json_decref(shape);
                rc = ERR(ERR_ARG, "%s: tensor '%s': shape[%d] is negative (%" PRId64 ")", path, nm, d, t->shape[d]);
                goto fail;
            }
            over |= __builtin_mul_overflow(bytes, (uint64_t)t->shape[d], &bytes);
            json_array_append_new(shape, json_integer(t->shape[d]));
        }
        if (over || bytes != t->nbytes) {
            json_decref(shape);
            char *sh = shape_str(t->shape, t->ndim);
            rc = ERR(ERR_ARG, "%s: tensor '%s': shape %s of %s does not make %zu bytes", path, nm, sh,
                     dtype_name(t->dtype), t->nbytes);
            free(sh);
            goto fail;
        }
        if (!t->data && t->nbytes) {
            json_decref(shape);
            rc = ERR(ERR_ARG, "%s: tensor '%s': NULL data", path, nm);
            goto fail;
        }
        uint64_t end;
        if (__builtin_add_overflow(at, bytes, &end) || end > INT64_MAX) {
            json_decref(shape);
            rc = ERR(ERR_RANGE, "%s: tensors total more than 2^63 bytes", path);
            goto fail;
        }
        json_t *e = json_object();
        json_object_set_new(e, "dtype", json_string(dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_t *off = json_array();
        json_array_append_new(off, json_integer((json_int_t)at));
        json_array_append_new(off, json_integer((json_int_t)end));
        json_object_set_new(e, "data_offsets", off);
        if (json_object_set_new(root, nm, e) != 0) {
            rc = ERR(ERR_ARG, "%s: tensor name '%s' is not valid UTF-8", path, nm);
            goto fail;
        }
        at = end;
    }
    *out = root;
    return 0;
fail:
    json_decref(root);
    return rc;
}

int safetensors_write_lens(const char *path, const Tensor *tensors, int n,
                           const char *const *meta_keys, const char *const *meta_vals,
                           const size_t *meta_lens, int n_meta)
{
    if (!path) return ERR(ERR_ARG, "safetensors_write: NULL path");
    if (n < 0 || n_meta < 0 || (n > 0 && !tensors) || (n_meta > 0 && (!meta_keys || !meta_vals)))
        return ERR(ERR_ARG, "%s: bad tensor or metadata arguments (n %d, n_meta %d)", path, n, n_meta);
    json_t *root = NULL;
    int rc = build_header(&root, path, tensors, n, meta_keys, meta_vals, meta_lens, n_meta);
    if (rc) return rc;
    char *hdr = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!hdr) return ERR(ERR_ARG, "%s: cannot serialise the header", path);
    size_t hlen = strlen(hdr), pad = (8 - hlen % 8) % 8;
    if (hlen + pad > SAFETENSORS_MAX_HEADER) {
        free(hdr);
        return ERR(ERR_RANGE, "%s: header of %zu bytes exceeds the format's %u-byte limit", path,
                   hlen + pad, SAFETENSORS_MAX_HEADER);
    }

    /* Same directory as path, so rename() is atomic and never crosses file systems. */
    char *tmp = xasprintf("%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = ERR(ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        free(hdr);
        return rc;
    }
    fchmod(fd, 0644); /* mkstemp makes 0600; a model file is for others to read too */
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        rc = ERR(ERR_IO, "%s: fdopen: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    unsigned char le[8];
    uint64_t h = hlen + pad;
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(h >> (8 * i));
    int bad = fwrite(le, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen;
    for (size_t i = 0; i < pad && !bad; i++) bad = fputc(' ', f) == EOF;
    for (int i = 0; i < n && !bad; i++)
        bad = tensors[i].nbytes && fwrite(tensors[i].data, 1, tensors[i].nbytes, f) != tensors[i].nbytes;
    if (!bad) bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !bad) { bad = 1; e = errno; }
    if (bad) { rc = ERR(ERR_IO, "%s: write failed: %s", tmp, strerror(e)); goto fail; }
    if (rename(tmp, path) != 0) {
        rc = ERR(ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        goto fail;
    }
    free(tmp);
    free(hdr);
    return 0;
fail:
    unlink(tmp);
    free(tmp);
    free(hdr);
    return rc;
}

int safetensors_write(const char *path, const Tensor *tensors, int n,
                      const char *const *meta_keys, const char *const *meta_vals, int n_meta)
{
    return safetensors_write_lens(path, tensors, n, meta_keys, meta_vals, NULL, n_meta);
}
