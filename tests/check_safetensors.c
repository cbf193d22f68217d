/* Tests for engine/safetensors.c: the real tiny GPT-2 file, write/read round trips, every
 * rejected corruption (as a buffer and as a file), truncation at every length and byte flips. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/safetensors.h"
#include "tests/util/testutil.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* u64 LE length + header + data_len patterned bytes, in an exact-size allocation so that
 * ASan catches any read past the end. */
static unsigned char *make_buf(const char *hdr, size_t hlen, size_t data_len, size_t *len)
{
    *len = 8 + hlen + data_len;
    unsigned char *b = xmalloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    for (size_t i = 0; i < data_len; i++) b[8 + hlen + i] = (unsigned char)(i * 7 + 3);
    return b;
}

static char *make_tmpdir(void)
{
    const char *dir = getenv("TMPDIR");
    char *p = xasprintf("%s/lectern-st-XXXXXX", dir && *dir ? dir : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(p));
    return p;
}

/* Removes dir and the files in it; returns how many files there were. */
static int remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
        n++;
    }
    closedir(d);
    rmdir(dir);
    return n;
}

static void assert_one_line(void)
{
    ck_assert_msg(strchr(err_msg(), '\n') == NULL, "message spans lines: %s", err_msg());
}

/* ---- the real tiny GPT-2 ----------------------------------------------------------------- */

START_TEST(test_gpt2_tiny)
{
    const char *path = shared_path("models/gpt2-tiny/model.safetensors", "gpt2-tiny safetensors");
    if (!path) return;
    SafeTensors *st = NULL;
    ck_assert_msg(safetensors_open(&st, path) == 0, "%s", err_msg());
    ck_assert_int_eq(safetensors_count(st), 28);
    ck_assert_str_eq(safetensors_path(st), path);

    const Tensor *wte = safetensors_find(st, "wte.weight");
    ck_assert_ptr_nonnull(wte);
    ck_assert_ptr_eq(wte, safetensors_get(st, 0)); /* header order is file order */
    ck_assert_int_eq(wte->dtype, DT_F32);
    ck_assert_int_eq(wte->ndim, 2);
    ck_assert_int_eq(wte->shape[0], 50257);
    ck_assert_int_eq(wte->shape[1], 64);
    ck_assert_uint_eq(wte->nbytes, (size_t)50257 * 64 * 4);

    const Tensor *qkv = safetensors_find(st, "h.0.attn.c_attn.weight");
    ck_assert_ptr_nonnull(qkv);
    ck_assert_int_eq(qkv->ndim, 2);
    ck_assert_int_eq(qkv->shape[0], 64);
    ck_assert_int_eq(qkv->shape[1], 192);
    const Tensor *lnf = safetensors_find(st, "ln_f.bias");
    ck_assert_ptr_nonnull(lnf);
    ck_assert_int_eq(lnf->ndim, 1);
    ck_assert_int_eq(lnf->shape[0], 64);

    float v[16];
    memcpy(v, wte->data, sizeof v);
    int nonzero = 0;
    for (int i = 0; i < 16; i++) { ck_assert(isfinite(v[i])); nonzero += v[i] != 0; }
    ck_assert_int_gt(nonzero, 8);
    memcpy(v, qkv->data, sizeof v);
    for (int i = 0; i < 16; i++) ck_assert(isfinite(v[i]));

    size_t len = 0;
    const char *fmt = safetensors_meta(st, "format", &len);
    ck_assert_ptr_nonnull(fmt);
    ck_assert_uint_eq(len, 2);
    ck_assert_str_eq(fmt, "pt");
    ck_assert_int_eq(safetensors_meta_count(st), 1);
    ck_assert_str_eq(safetensors_meta_key(st, 0), "format");

    /* every name finds its own entry; absent names and prefixes do not */
    for (int i = 0; i < safetensors_count(st); i++) {
        const Tensor *t = safetensors_get(st, i);
        ck_assert_ptr_eq(safetensors_find(st, t->name), t);
    }
    ck_assert_ptr_null(safetensors_find(st, "lm_head.weight"));
    ck_assert_ptr_null(safetensors_find(st, "wte"));
    ck_assert_ptr_null(safetensors_get(st, 28));
    ck_assert_ptr_null(safetensors_get(st, -1));
    ck_assert_ptr_null(safetensors_meta(st, "absent", &len));
    safetensors_free(st);
}
END_TEST

/* ---- round trip ---------------------------------------------------------------------------- */

/* A metadata value of about 1.2 MB (like a vocab.json put in metadata) with NULs and Cyrillic. */
static char *big_value(size_t *len)
{
    static const char piece[] = "{\"Привет\": 31415, \"мир\\n\": 2}\0\t\"ёж\" \\ tail\0";
    size_t plen = sizeof piece - 1, reps = 24000;
    *len = plen * reps;
    char *v = xmalloc(*len + 1);
    for (size_t i = 0; i < reps; i++) memcpy(v + i * plen, piece, plen);
    v[*len] = 0;
    return v;
}

START_TEST(test_round_trip)
{
    float f32[6] = {2.385f, -1.5f, 0.0f, 1e-30f, -7.25e8f, 3.14159f};
    uint16_t f16[5], bf16[5];
    const float src16[5] = {1.0f, -2.385f, 65504.0f, 6.1035156e-05f, 0.33325195f};
    for (int i = 0; i < 5; i++) { f16[i] = float_to_half(src16[i]); bf16[i] = float_to_bf16(src16[i]); }
    int64_t i64[4] = {-1, (int64_t)1 << 40, 50256, INT64_MIN};
    float scalar = 0.125f;
    Tensor ts[] = {
        {.name = "h.0.mlp.c_fc.weight", .dtype = DT_F32, .ndim = 2, .shape = {2, 3}, .data = f32, .nbytes = sizeof f32},
        {.name = "half", .dtype = DT_F16, .ndim = 1, .shape = {5}, .data = f16, .nbytes = sizeof f16},
        {.name = "brain", .dtype = DT_BF16, .ndim = 3, .shape = {1, 5, 1}, .data = bf16, .nbytes = sizeof bf16},
        {.name = "ids", .dtype = DT_I64, .ndim = 2, .shape = {2, 2}, .data = i64, .nbytes = sizeof i64},
        {.name = "scalar", .dtype = DT_F32, .ndim = 0, .data = &scalar, .nbytes = 4},
        {.name = "empty", .dtype = DT_F32, .ndim = 2, .shape = {0, 7}, .data = NULL, .nbytes = 0},
        {.name = "имя.вес", .dtype = DT_F32, .ndim = 1, .shape = {1}, .data = &scalar, .nbytes = 4},
    };
    const int n = (int)(sizeof ts / sizeof ts[0]);
    size_t biglen;
    char *big = big_value(&biglen);
    const char *keys[] = {"format", "vocab.json", "пусто"};
    const char *vals[] = {"pt", big, ""};
    const size_t lens[] = {2, biglen, 0};

    char *dir = make_tmpdir();
    char *path = xasprintf("%s/model.safetensors", dir);
    for (int pass = 0; pass < 2; pass++) { /* the second write replaces the first */
        ck_assert_msg(safetensors_write_lens(path, ts, n, keys, vals, lens, 3) == 0, "%s", err_msg());
        SafeTensors *st = NULL;
        ck_assert_msg(safetensors_open(&st, path) == 0, "%s", err_msg());
        ck_assert_int_eq(safetensors_count(st), n);
        for (int i = 0; i < n; i++) {
            const Tensor *t = safetensors_get(st, i);
            ck_assert_str_eq(t->name, ts[i].name);
            ck_assert_ptr_eq(safetensors_find(st, ts[i].name), t);
            ck_assert_int_eq(t->dtype, ts[i].dtype);
            ck_assert_int_eq(t->ndim, ts[i].ndim);
            for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], ts[i].shape[d]);
            ck_assert_uint_eq(t->nbytes, ts[i].nbytes);
            if (t->nbytes) ck_assert_int_eq(memcmp(t->data, ts[i].data, t->nbytes), 0);
        }
        /* the header is padded so the data area starts 8-byte aligned in the file */
        const Tensor *t0 = safetensors_get(st, 0);
        size_t hdr_end;
        {
            unsigned char le[8];
            FILE *f = fopen(path, "rb");
            ck_assert_ptr_nonnull(f);
            ck_assert_uint_eq(fread(le, 1, 8, f), 8);
            fclose(f);
            uint64_t h = 0;
            for (int i = 7; i >= 0; i--) h = h << 8 | le[i];
            ck_assert_uint_eq(h % 8, 0);
            hdr_end = 8 + (size_t)h;
        }
        ck_assert_uint_eq(((uintptr_t)t0->data) % 8, hdr_end % 8);
        float back[5];
        ck_assert_int_eq(tensor_to_f32(back, safetensors_find(st, "half")->data, DT_F16, 5), 0);
        for (int i = 0; i < 5; i++) ck_assert_float_eq_tol(back[i], src16[i], fabsf(src16[i]) * 1e-3f);

        ck_assert_int_eq(safetensors_meta_count(st), 3);
        for (int i = 0; i < 3; i++) {
            ck_assert_str_eq(safetensors_meta_key(st, i), keys[i]);
            size_t len = 99;
            const char *v = safetensors_meta(st, keys[i], &len);
            ck_assert_ptr_nonnull(v);
            ck_assert_uint_eq(len, lens[i]);
            ck_assert_int_eq(memcmp(v, vals[i], len), 0);
            ck_assert_int_eq(v[len], 0);
        }
        safetensors_free(st);
    }
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0644);
    ck_assert_int_eq(remove_tmpdir(dir), 1); /* no temporary file left behind */
    free(path);
    free(dir);
    free(big);
}
END_TEST

START_TEST(test_write_without_metadata)
{
    char *dir = make_tmpdir();
    char *path = xasprintf("%s/none.safetensors", dir);
    ck_assert_int_eq(safetensors_write(path, NULL, 0, NULL, NULL, 0), 0);
    size_t len;
    char *raw = read_file(path, &len);
    /* exactly the reference serialiser's bytes for an empty dict: {} padded to 8 */
    static const unsigned char want[] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    ck_assert_uint_eq(len, sizeof want);
    ck_assert_int_eq(memcmp(raw, want, len), 0);
    free(raw);

    uint8_t b[3] = {1, 2, 3};
    Tensor t = {.name = "b", .dtype = DT_U8, .ndim = 1, .shape = {3}, .data = b, .nbytes = 3};
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), 0);
    raw = read_file(path, &len);
    ck_assert_ptr_null(strstr(raw + 8, "__metadata__"));
    free(raw);
    SafeTensors *st = NULL;
    ck_assert_int_eq(safetensors_open(&st, path), 0);
    ck_assert_int_eq(safetensors_meta_count(st), 0);
    ck_assert_int_eq(((const uint8_t *)safetensors_find(st, "b")->data)[2], 3);
    safetensors_free(st);
    ck_assert_int_eq(remove_tmpdir(dir), 1);
    free(path);
    free(dir);
}
END_TEST

START_TEST(test_write_errors)
{
    char *dir = make_tmpdir();
    char *path = xasprintf("%s/bad.safetensors", dir);
    float x[4] = {1, 2, 3, 4};
    Tensor good = {.name = "x", .dtype = DT_F32, .ndim = 1, .shape = {4}, .data = x, .nbytes = 16};
    Tensor two[2] = {good, good};
    ck_assert_int_eq(safetensors_write(path, two, 2, NULL, NULL, 0), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "'x' given twice"));

    Tensor t = good;
    t.name = "__metadata__";
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "reserved"));
    t = good;
    t.nbytes = 12;
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "shape [4] of F32 does not make 12 bytes"));
    t = good;
    t.shape[0] = -4;
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "negative"));
    t = good;
    t.ndim = TENSOR_MAX_DIMS + 1;
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), ERR_ARG);
    t = good;
    t.dtype = DT_COUNT;
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), ERR_ARG);
    t = good;
    t.data = NULL;
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), ERR_ARG);
    t = good;
    t.name = "bad\xff";
    ck_assert_int_eq(safetensors_write(path, &t, 1, NULL, NULL, 0), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "UTF-8"));

    const char *k[] = {"a", "a"}, *v[] = {"1", "bad\xc3"};
    ck_assert_int_eq(safetensors_write(path, &good, 1, k, v, 2), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "metadata key 'a' given twice"));
    const char *k2[] = {"a", "b"};
    ck_assert_int_eq(safetensors_write(path, &good, 1, k2, v, 2), ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err_msg(), "metadata 'b': value is not valid UTF-8"));
    ck_assert_int_eq(safetensors_write(path, &good, -1, NULL, NULL, 0), ERR_ARG);
    ck_assert_int_eq(safetensors_write(path, &good, 1, NULL, NULL, 1), ERR_ARG);
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing was created */

    char *nodir = xasprintf("%s/no/such/dir/m.safetensors", dir);
    ck_assert_int_eq(safetensors_write(nodir, &good, 1, NULL, NULL, 0), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), nodir));
    free(nodir);
    /* a directory in the way: the rename fails and the temporary file is removed */
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(safetensors_write(path, &good, 1, NULL, NULL, 0), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "rename"));
    rmdir(path);
    ck_assert_int_eq(remove_tmpdir(dir), 0);
    free(path);
    free(dir);
}
END_TEST

/* ---- accepted edge cases ----------------------------------------------------------------- */

START_TEST(test_edge_cases_accepted)
{
    /* out of offset order, a scalar, an empty tensor with a huge other dimension, an unknown
     * key inside an entry, a name with a quote and a NUL-free escape, padding spaces */
    const char *hdr =
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12],\"extra\":[1]},"
        "\"a\\\"q\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"__metadata__\":{},"
        "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,4611686018427387904],\"data_offsets\":[12,12]}}   ";
    size_t len;
    unsigned char *buf = make_buf(hdr, strlen(hdr), 12, &len);
    SafeTensors *st = NULL;
    ck_assert_msg(safetensors_parse(&st, buf, len, "edge") == 0, "%s", err_msg());
    ck_assert_int_eq(safetensors_count(st), 3);
    ck_assert_str_eq(safetensors_get(st, 0)->name, "b");
    ck_assert_str_eq(safetensors_get(st, 1)->name, "a\"q");
    ck_assert_str_eq(safetensors_get(st, 2)->name, "e");
    size_t hlen = strlen(hdr);
    /* zero copy: pointers into the caller's buffer */
    ck_assert_ptr_eq(safetensors_find(st, "b")->data, buf + 8 + hlen + 8);
    ck_assert_ptr_eq(safetensors_find(st, "a\"q")->data, buf + 8 + hlen);
    ck_assert_int_eq(safetensors_find(st, "b")->ndim, 0);
    ck_assert_uint_eq(tensor_numel(safetensors_find(st, "b")), 1);
    ck_assert_uint_eq(safetensors_find(st, "e")->nbytes, 0);
    ck_assert_int_eq(safetensors_meta_count(st), 0);
    ck_assert_str_eq(safetensors_path(st), "edge");
    safetensors_free(st);
    free(buf);

    buf = make_buf("{}", 2, 0, &len);
    ck_assert_int_eq(safetensors_parse(&st, buf, len, NULL), 0);
    ck_assert_int_eq(safetensors_count(st), 0);
    ck_assert_ptr_null(safetensors_find(st, "x"));
    safetensors_free(st);
    free(buf);
    safetensors_free(NULL);
}
END_TEST

START_TEST(test_many_names)
{
    enum { N = 700 };
    static uint8_t bytes[N];
    Tensor *ts = xcalloc(N, sizeof *ts);
    char **names = xcalloc(N, sizeof *names);
    for (int i = 0; i < N; i++) {
        bytes[i] = (uint8_t)(i * 13);
        names[i] = xasprintf("h.%d.attn.c_attn.weight", i);
        ts[i] = (Tensor){.name = names[i], .dtype = DT_U8, .ndim = 1, .shape = {1}, .data = &bytes[i], .nbytes = 1};
    }
    char *dir = make_tmpdir();
    char *path = xasprintf("%s/many.safetensors", dir);
    ck_assert_int_eq(safetensors_write(path, ts, N, NULL, NULL, 0), 0);
    SafeTensors *st = NULL;
    ck_assert_msg(safetensors_open(&st, path) == 0, "%s", err_msg());
    for (int i = N - 1; i >= 0; i--) {
        const Tensor *t = safetensors_find(st, names[i]);
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_eq(t, safetensors_get(st, i));
        ck_assert_int_eq(*(const uint8_t *)t->data, (uint8_t)(i * 13));
    }
    ck_assert_ptr_null(safetensors_find(st, "h.700.attn.c_attn.weight"));
    safetensors_free(st);
    remove_tmpdir(dir);
    for (int i = 0; i < N; i++) free(names[i]);
    free(names);
    free(ts);
    free(path);
    free(dir);
}
END_TEST

/* ---- corruptions ------------------------------------------------------------------------- */

#define TF32(nm, shape, b, e) "\"" nm "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static const struct Bad {
    const char *hdr;
    size_t data_len;
    int code;
    const char *msg;
} bad[] = {
    {"[1,2]", 0, ERR_FORMAT, "header is a JSON array, not an object"},
    {"{\"a\":", 0, ERR_FORMAT, "header is not valid JSON: "},
    {"{\"a\":1,}", 0, ERR_FORMAT, "at line 1 column 8"},
    {"{} x", 0, ERR_FORMAT, "header is not valid JSON: end of file expected"},
    {"{\"__metadata__\":[1]}", 0, ERR_FORMAT, "__metadata__ is a JSON array, not an object of strings"},
    {"{\"__metadata__\":{\"k\":1}}", 0, ERR_FORMAT, "__metadata__ 'k' is a JSON integer, not a string"},
    {"{" TF32("a", "[1]", 0, 4) "," TF32("a", "[1]", 0, 4) "}", 4, ERR_FORMAT, "header has a duplicate key: duplicate object key"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, ERR_FORMAT, "duplicate"},
    {"{\"a\":3}", 0, ERR_FORMAT, "tensor 'a': entry is a JSON integer, not an object"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ERR_FORMAT, "tensor 'a': missing \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, ERR_FORMAT, "tensor 'a': missing \"shape\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, ERR_FORMAT, "tensor 'a': missing \"data_offsets\""},
    {"{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ERR_FORMAT, "dtype is a JSON integer, not a string"},
    {"{\"x\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ERR_FORMAT, "tensor 'x': unknown dtype 'F17'"},
    {"{\"x\":{\"dtype\":\"F32\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ERR_FORMAT, "unknown dtype 'F32\\x00'"},
    {"{\"x\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, ERR_UNSUPPORTED, "tensor 'x': dtype 'U16' is not supported"},
    {"{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, ERR_UNSUPPORTED, "dtype 'F8_E4M3' is not supported"},
    {"{" TF32("x", "{}", 0, 4) "}", 4, ERR_FORMAT, "tensor 'x': shape is a JSON object, not an array"},
    {"{" TF32("x", "[3.0]", 0, 12) "}", 12, ERR_FORMAT, "tensor 'x': shape[0] is a JSON number, not an integer"},
    {"{" TF32("x", "[1,\"3\"]", 0, 12) "}", 12, ERR_FORMAT, "shape[1] is a JSON string, not an integer"},
    {"{" TF32("x", "[3,-4]", 0, 48) "}", 48, ERR_FORMAT, "tensor 'x': shape[1] is negative (-4)"},
    {"{" TF32("x", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, ERR_UNSUPPORTED, "tensor 'x': 9 dimensions (at most 8 supported)"},
    {"{" TF32("x", "[4294967296,4294967296,16]", 0, 0) "}", 0, ERR_RANGE, "shape [4294967296, 4294967296, 16] is too large (byte count overflows)"},
    {"{" TF32("x", "[4611686018427387904]", 0, 0) "}", 0, ERR_RANGE, "too large"},
    {"{" TF32("x", "[99999999999999999999]", 0, 0) "}", 0, ERR_FORMAT, "too big integer"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4}}", 4, ERR_FORMAT, "data_offsets is not two non-negative integers"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, ERR_FORMAT, "data_offsets is not two non-negative integers"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, ERR_FORMAT, "data_offsets is not two"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4, ERR_FORMAT, "data_offsets is not two"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, ERR_FORMAT, "data_offsets is not two non-negative"},
    {"{" TF32("x", "[1]", 8, 4) "}", 8, ERR_FORMAT, "tensor 'x': data_offsets [8, 4] end before they begin"},
    {"{" TF32("h.0.attn.c_attn.weight", "[1]", 10, 99) "}", 64, ERR_RANGE,
     "tensor 'h.0.attn.c_attn.weight': data_offsets [10, 99] outside the data area (64 bytes)"},
    {"{" TF32("x", "[1]", 9223372036854775807, 9223372036854775807) "}", 0, ERR_RANGE, "outside the data area (0 bytes)"},
    {"{" TF32("x", "[3,4]", 0, 40) "}", 40, ERR_FORMAT, "tensor 'x': shape [3, 4] needs 48 bytes but data_offsets give 40"},
    {"{" TF32("x", "[]", 0, 8) "}", 8, ERR_FORMAT, "shape [] needs 4 bytes but data_offsets give 8"},
    {"{" TF32("a", "[4]", 0, 16) "," TF32("b", "[4]", 8, 24) "}", 24, ERR_FORMAT, "tensors 'a' and 'b' overlap"},
    {"{" TF32("b", "[4]", 8, 24) "," TF32("a", "[4]", 0, 16) "}", 24, ERR_FORMAT, "tensors 'a' and 'b' overlap"},
    {"{" TF32("a", "[2]", 0, 8) "," TF32("b", "[2]", 0, 8) "}", 8, ERR_FORMAT, "tensors 'a' and 'b' overlap"},
    {"{" TF32("a", "[4]", 0, 16) "," TF32("z", "[0]", 8, 8) "}", 16, ERR_FORMAT, "tensors 'a' and 'z' overlap"},
    {"{" TF32("a", "[2]", 0, 8) "," TF32("b", "[2]", 16, 24) "}", 24, ERR_FORMAT,
     "hole in the data area: bytes [8, 16) between tensors 'a' and 'b' belong to no tensor"},
    {"{" TF32("a", "[2]", 8, 16) "}", 16, ERR_FORMAT, "bytes [0, 8) before tensor 'a' belong to no tensor"},
    {"{" TF32("a", "[2]", 0, 8) "}", 12, ERR_FORMAT, "4 bytes after the last tensor belong to no tensor (data area 12 bytes, tensors end at 8)"},
    {"{}", 4, ERR_FORMAT, "4 bytes after the last tensor"},
    {"{\"a\\nb\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ERR_FORMAT, "tensor 'a\\x0ab': unknown dtype"},
    {"{\"x\":{\"dtype\":\"F1\\u0007\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ERR_FORMAT, "unknown dtype 'F1\\x07'"},
    {"{\"a\\u0000b\":{}}", 0, ERR_FORMAT, "NUL byte in object key"},
    {"{\"a\":\"\xff\"}", 0, ERR_FORMAT, "header is not valid JSON: unable to decode byte 0xff"},
    {"", 0, ERR_FORMAT, "header is not valid JSON"},
};
enum { N_BAD = sizeof bad / sizeof bad[0] };

static char sentinel_byte; /* a pointer no parser returns */

static void check_bad(int rc, const struct Bad *b, const char *name, SafeTensors *st, SafeTensors *sentinel)
{
    ck_assert_msg(rc == b->code, "header %s: code %d (%s), want %d", b->hdr, rc, err_msg(), b->code);
    ck_assert_int_eq(err_code(), b->code);
    ck_assert_msg(strstr(err_msg(), b->msg) != NULL, "header %s: message '%s' lacks '%s'", b->hdr, err_msg(), b->msg);
    char *prefix = xasprintf("%s: ", name);
    ck_assert_msg(strncmp(err_msg(), prefix, strlen(prefix)) == 0, "message '%s' does not name %s", err_msg(), name);
    free(prefix);
    ck_assert_ptr_eq(st, sentinel); /* *out untouched */
    assert_one_line();
}

START_TEST(test_corrupt_buffer)
{
    const struct Bad *b = &bad[_i];
    size_t len;
    unsigned char *buf = make_buf(b->hdr, strlen(b->hdr), b->data_len, &len);
    SafeTensors *sentinel = (SafeTensors *)(void *)&sentinel_byte, *st = sentinel;
    err_clear();
    int rc = safetensors_parse(&st, buf, len, "m.safetensors");
    check_bad(rc, b, "m.safetensors", st, sentinel);
    free(buf);
}
END_TEST

START_TEST(test_corrupt_file)
{
    const struct Bad *b = &bad[_i];
    size_t len;
    unsigned char *buf = make_buf(b->hdr, strlen(b->hdr), b->data_len, &len);
    char *path = write_temp(buf, len, ".safetensors");
    ck_assert_ptr_nonnull(path);
    SafeTensors *sentinel = (SafeTensors *)(void *)&sentinel_byte, *st = sentinel;
    int rc = safetensors_open(&st, path);
    check_bad(rc, b, path, st, sentinel);
    unlink(path);
    free(path);
    free(buf);
}
END_TEST

START_TEST(test_short_and_absurd_lengths)
{
    SafeTensors *st = NULL;
    unsigned char raw[16] = {0};
    for (size_t n = 0; n < 8; n++) {
        ck_assert_int_eq(safetensors_parse(&st, n ? raw : NULL, n, "m.safetensors"), ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err_msg(), "m.safetensors: file is"));
        ck_assert_ptr_nonnull(strstr(err_msg(), "shorter than the 8-byte header length"));
    }
    /* 100,000,001: one past the reference implementation's limit */
    uint64_t h = 100000001;
    for (int i = 0; i < 8; i++) raw[i] = (unsigned char)(h >> (8 * i));
    ck_assert_int_eq(safetensors_parse(&st, raw, 16, "m.safetensors"), ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err_msg(), "m.safetensors: header length 100000001 is absurd"));
    memset(raw, 0xff, 8); /* 2^64 - 1: no wrap when adding 8 */
    ck_assert_int_eq(safetensors_parse(&st, raw, 16, "m.safetensors"), ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err_msg(), "header length 18446744073709551615 is absurd"));

    size_t len;
    unsigned char *buf = make_buf("{}      ", 8, 0, &len);
    h = 1234567;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(h >> (8 * i));
    ck_assert_int_eq(safetensors_parse(&st, buf, len, "m.safetensors"), ERR_RANGE);
    ck_assert_str_eq(err_msg(), "m.safetensors: header length 1234567 past end of file (size 16)");
    buf[0] = 9; /* one byte past */
    for (int i = 1; i < 8; i++) buf[i] = 0;
    ck_assert_int_eq(safetensors_parse(&st, buf, len, "m.safetensors"), ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(err_msg(), "header length 9 past end of file (size 16)"));
    free(buf);

    /* a raw NUL inside the header */
    static const char nul_hdr[] = "{\"a\0\":{}}";
    buf = make_buf(nul_hdr, sizeof nul_hdr - 1, 0, &len);
    ck_assert_int_eq(safetensors_parse(&st, buf, len, "m.safetensors"), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "header is not valid JSON"));
    assert_one_line();
    free(buf);
}
END_TEST

START_TEST(test_open_errors)
{
    SafeTensors *st = NULL;
    ck_assert_int_eq(safetensors_open(&st, "/nonexistent/lectern/m.safetensors"), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent/lectern/m.safetensors: cannot open"));
    char *dir = make_tmpdir();
    ck_assert_int_eq(safetensors_open(&st, dir), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "not a regular file"));
    char *fifo = xasprintf("%s/pipe", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(safetensors_open(&st, fifo), ERR_IO); /* refused, not a hang */
    ck_assert_ptr_nonnull(strstr(err_msg(), "pipe: not a regular file"));
    free(fifo);
    remove_tmpdir(dir);
    free(dir);
    char *empty = write_temp("", 0, ".safetensors");
    ck_assert_int_eq(safetensors_open(&st, empty), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "file is 0 bytes, shorter than the 8-byte header length"));
    unlink(empty);
    free(empty);
    char *five = write_temp("abcde", 5, ".safetensors");
    ck_assert_int_eq(safetensors_open(&st, five), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "file is 5 bytes"));
    unlink(five);
    free(five);
    ck_assert_ptr_null(st);
}
END_TEST

/* ---- truncation and byte flips ------------------------------------------------------------ */

/* A small valid file made by the writer; returns its bytes. */
static unsigned char *small_file(size_t *len)
{
    float w[6] = {0.5f, -1.25f, 2.385f, 3.0f, -0.0f, 7.5f};
    uint16_t h[3] = {0x3c00, 0xc000, 0x7bff};
    int64_t ids[2] = {50256, -7};
    Tensor ts[] = {
        {.name = "w", .dtype = DT_F32, .ndim = 2, .shape = {2, 3}, .data = w, .nbytes = sizeof w},
        {.name = "h", .dtype = DT_F16, .ndim = 1, .shape = {3}, .data = h, .nbytes = sizeof h},
        {.name = "ids", .dtype = DT_I64, .ndim = 1, .shape = {2}, .data = ids, .nbytes = sizeof ids},
    };
    const char *k[] = {"format"}, *v[] = {"pt"};
    char *dir = make_tmpdir();
    char *path = xasprintf("%s/small.safetensors", dir);
    ck_assert_int_eq(safetensors_write(path, ts, 3, k, v, 1), 0);
    char *raw = read_file(path, len);
    ck_assert_ptr_nonnull(raw);
    remove_tmpdir(dir);
    free(path);
    free(dir);
    return (unsigned char *)raw;
}

START_TEST(test_truncated_everywhere)
{
    size_t len;
    unsigned char *full = small_file(&len);
    SafeTensors *st = NULL;
    ck_assert_int_eq(safetensors_parse(&st, full, len, "small"), 0);
    ck_assert_int_eq(safetensors_count(st), 3);
    safetensors_free(st);
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *b = xmalloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        memcpy(b, full, cut);
        st = NULL;
        int rc = safetensors_parse(&st, b, cut, "small");
        ck_assert_msg(rc < 0, "truncated at %zu of %zu bytes still parsed", cut, len);
        ck_assert_ptr_null(st);
        assert_one_line();
        free(b);
    }
    const size_t cuts[] = {0, 3, 8, 9, len / 2, len - 24, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char *path = write_temp(full, cuts[i], ".safetensors");
        int rc = safetensors_open(&st, path);
        ck_assert_msg(rc < 0, "file truncated at %zu opened", cuts[i]);
        ck_assert_ptr_nonnull(strstr(err_msg(), path));
        unlink(path);
        free(path);
    }
    /* one byte too many is as wrong as one too few */
    unsigned char *longer = xmalloc(len + 1);
    memcpy(longer, full, len);
    longer[len] = 0;
    ck_assert_int_eq(safetensors_parse(&st, longer, len + 1, "small"), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "1 bytes after the last tensor"));
    free(longer);
    free(full);
}
END_TEST

START_TEST(test_byte_flips)
{
    size_t len;
    unsigned char *full = small_file(&len);
    static const unsigned char with[] = {0x00, 0xff, '"', '{', '}', '[', ',', '9', '0', '-', ' ', 0x80};
    int ok = 0, failed = 0;
    for (size_t pos = 0; pos < len; pos++)
        for (size_t k = 0; k < sizeof with + 1; k++) {
            unsigned char *b = xmalloc(len);
            memcpy(b, full, len);
            b[pos] = k < sizeof with ? with[k] : (unsigned char)(b[pos] ^ 1);
            SafeTensors *st = NULL;
            if (safetensors_parse(&st, b, len, "flip") == 0) {
                ok++;
                for (int i = 0; i < safetensors_count(st); i++) {
                    const Tensor *t = safetensors_get(st, i);
                    const unsigned char *p = t->data;
                    ck_assert(p >= b && p + t->nbytes <= b + len);
                }
                safetensors_free(st);
            } else {
                failed++;
                assert_one_line();
            }
            free(b);
        }
    ck_assert_int_gt(ok, 0);     /* flips in the data area leave a valid file */
    ck_assert_int_gt(failed, 0); /* flips in the header mostly do not */
    free(full);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gpt2_tiny);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_write_without_metadata);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_edge_cases_accepted);
    tcase_add_test(tc, test_many_names);
    tcase_add_test(tc, test_short_and_absurd_lengths);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_byte_flips);
    suite_add_tcase(s, tc);
    TCase *bad_tc = tcase_create("corrupt");
    tcase_add_loop_test(bad_tc, test_corrupt_buffer, 0, N_BAD);
    tcase_add_loop_test(bad_tc, test_corrupt_file, 0, N_BAD);
    suite_add_tcase(s, bad_tc);
    return run_suite(s);
}
