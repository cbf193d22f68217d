/* Tests for engine/hfconfig.c: the tiny GPT-2's config.json, GPT2Config's defaults, aliases and
 * every rejected value. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/hfconfig.h"
#include "tests/util/testutil.h"

static int parse(HfGpt2Config *c, const char *json)
{
    return hfconfig_parse(c, json, strlen(json), "config.json");
}

START_TEST(test_tiny_config)
{
    const char *path = shared_path("models/gpt2-tiny/config.json", "gpt2-tiny config");
    if (!path) return;
    HfGpt2Config c;
    ck_assert_msg(hfconfig_load(&c, path) == 0, "%s", err_msg());
    ck_assert_int_eq(c.n_layer, 2);
    ck_assert_int_eq(c.n_head, 4);
    ck_assert_int_eq(c.n_embd, 64);
    ck_assert_int_eq(c.n_positions, 64);
    ck_assert_int_eq(c.vocab_size, 50257);
    ck_assert_int_eq(c.n_inner, 256); /* "n_inner": null */
    ck_assert_float_eq(c.layer_norm_epsilon, 1e-5f);
    ck_assert_str_eq(c.activation, "gelu_new");
    ck_assert_int_eq(c.tie_word_embeddings, 1);
}
END_TEST

START_TEST(test_defaults_and_aliases)
{
    HfGpt2Config c, d;
    hfconfig_defaults(&d);
    ck_assert_int_eq(parse(&c, "{}"), 0);
    ck_assert_int_eq(memcmp(&c, &d, sizeof c), 0);
    ck_assert_int_eq(c.n_layer, 12);
    ck_assert_int_eq(c.n_head, 12);
    ck_assert_int_eq(c.n_embd, 768);
    ck_assert_int_eq(c.n_positions, 1024);
    ck_assert_int_eq(c.vocab_size, 50257);
    ck_assert_int_eq(c.n_inner, 3072);
    ck_assert_float_eq(c.layer_norm_epsilon, 1e-5f);
    ck_assert_str_eq(c.activation, "gelu_new");
    ck_assert_int_eq(c.tie_word_embeddings, 1);

    ck_assert_int_eq(parse(&c, "{\"hidden_size\": 96, \"num_attention_heads\": 3, \"num_hidden_layers\": 5,"
                               " \"max_position_embeddings\": 128, \"n_embd\": 96, \"n_inner\": 100,"
                               " \"activation_function\": \"gelu_pytorch_tanh\", \"tie_word_embeddings\": false,"
                               " \"layer_norm_epsilon\": 1, \"model_type\": \"gpt2\", \"n_ctx\": 7, \"resid_pdrop\": 0.1,"
                               " \"scale_attn_weights\": true, \"reorder_and_upcast_attn\": true}"),
                     ERR_RANGE); /* epsilon 1 is out of (0, 1) */
    ck_assert_ptr_nonnull(strstr(err_msg(), "layer_norm_epsilon 1 out of range"));
    ck_assert_int_eq(parse(&c, "{\"hidden_size\": 96, \"num_attention_heads\": 3, \"num_hidden_layers\": 5,"
                               " \"max_position_embeddings\": 128, \"n_embd\": 96, \"n_inner\": 100,"
                               " \"activation_function\": \"gelu_pytorch_tanh\", \"tie_word_embeddings\": false,"
                               " \"layer_norm_epsilon\": 1e-6, \"model_type\": \"gpt2\", \"n_ctx\": 7, \"resid_pdrop\": 0.1,"
                               " \"scale_attn_weights\": true, \"reorder_and_upcast_attn\": true}"),
                     0);
    ck_assert_int_eq(c.n_embd, 96);
    ck_assert_int_eq(c.n_head, 3);
    ck_assert_int_eq(c.n_layer, 5);
    ck_assert_int_eq(c.n_positions, 128);
    ck_assert_int_eq(c.n_inner, 100);
    ck_assert_float_eq(c.layer_norm_epsilon, 1e-6f);
    ck_assert_str_eq(c.activation, "gelu_pytorch_tanh");
    ck_assert_int_eq(c.tie_word_embeddings, 0);
}
END_TEST

static const struct {
    const char *json;
    int code;
    const char *msg;
} bad[] = {
    {"[1]", ERR_FORMAT, "config.json: config is a JSON array, not an object"},
    {"{\"n_layer\": 2,}", ERR_FORMAT, "config.json: not valid JSON: string or '}' expected near '}' at line 1 column 15"},
    {"{\"n_layer\": 2, \"n_layer\": 3}", ERR_FORMAT, "duplicate object key"},
    {"", ERR_FORMAT, "not valid JSON"},
    {"{\"n_layer\": \"2\"}", ERR_FORMAT, "config.json: n_layer is a JSON string, not an integer"},
    {"{\"n_embd\": 64.0}", ERR_FORMAT, "n_embd is a JSON number, not an integer"},
    {"{\"n_head\": true}", ERR_FORMAT, "n_head is a JSON boolean, not an integer"},
    {"{\"vocab_size\": null}", ERR_FORMAT, "vocab_size is a JSON null, not an integer"},
    {"{\"n_layer\": 0}", ERR_RANGE, "n_layer 0 out of range [1, 1024]"},
    {"{\"n_layer\": -3}", ERR_RANGE, "n_layer -3 out of range"},
    {"{\"n_embd\": 9223372036854775807}", ERR_RANGE, "n_embd 9223372036854775807 out of range [1, 65536]"},
    {"{\"n_positions\": 4294967297}", ERR_RANGE, "n_positions 4294967297 out of range"},
    {"{\"vocab_size\": 0}", ERR_RANGE, "vocab_size 0 out of range"},
    {"{\"num_hidden_layers\": 0}", ERR_RANGE, "num_hidden_layers 0 out of range"},
    {"{\"n_embd\": 64, \"hidden_size\": 128}", ERR_FORMAT, "n_embd and hidden_size are both given and disagree"},
    {"{\"n_embd\": 64, \"n_head\": 5}", ERR_FORMAT, "config.json: n_embd 64 is not divisible by n_head 5"},
    {"{\"n_inner\": 0}", ERR_RANGE, "n_inner 0 out of range"},
    {"{\"n_inner\": \"x\"}", ERR_FORMAT, "n_inner is a JSON string"},
    {"{\"layer_norm_epsilon\": \"1e-5\"}", ERR_FORMAT, "layer_norm_epsilon is a JSON string, not a number"},
    {"{\"layer_norm_epsilon\": 0}", ERR_RANGE, "layer_norm_epsilon 0 out of range (0, 1)"},
    {"{\"layer_norm_epsilon\": -1e-5}", ERR_RANGE, "layer_norm_epsilon -1e-05 out of range"},
    {"{\"layer_norm_epsilon\": 1e-60}", ERR_RANGE, "out of range"}, /* 0 as a float */
    {"{\"activation_function\": \"gelu\"}", ERR_UNSUPPORTED, "activation_function 'gelu' is the exact erf GELU"},
    {"{\"activation_function\": \"relu\"}", ERR_UNSUPPORTED, "activation_function 'relu' is not supported (gelu_new and gelu_pytorch_tanh are)"},
    {"{\"activation_function\": \"gelu_new\\u0000x\"}", ERR_FORMAT, "not valid JSON"},
    {"{\"activation_function\": \"a\\nb\"}", ERR_UNSUPPORTED, "'a\\x0ab' is not supported"},
    {"{\"activation_function\": 1}", ERR_FORMAT, "activation_function is a JSON integer, not a string"},
    {"{\"tie_word_embeddings\": 1}", ERR_FORMAT, "tie_word_embeddings is a JSON integer, not true or false"},
    {"{\"scale_attn_weights\": false}", ERR_UNSUPPORTED, "scale_attn_weights false"},
    {"{\"scale_attn_by_inverse_layer_idx\": true}", ERR_UNSUPPORTED, "scale_attn_by_inverse_layer_idx true"},
    {"{\"add_cross_attention\": true}", ERR_UNSUPPORTED, "add_cross_attention true"},
    {"{\"add_cross_attention\": \"no\"}", ERR_FORMAT, "add_cross_attention is a JSON string"},
    {"{\"model_type\": \"llama\"}", ERR_UNSUPPORTED, "model_type 'llama' is not gpt2"},
    {"{\"model_type\": 2}", ERR_FORMAT, "model_type is a JSON integer, not a string"},
};
enum { N_BAD = sizeof bad / sizeof bad[0] };

START_TEST(test_bad_config)
{
    HfGpt2Config c;
    memset(&c, 0x5a, sizeof c);
    HfGpt2Config before = c;
    err_clear();
    int rc = parse(&c, bad[_i].json);
    ck_assert_msg(rc == bad[_i].code, "%s: code %d (%s), want %d", bad[_i].json, rc, err_msg(), bad[_i].code);
    ck_assert_msg(strstr(err_msg(), bad[_i].msg) != NULL, "%s: message '%s' lacks '%s'", bad[_i].json,
                  err_msg(), bad[_i].msg);
    ck_assert_msg(strncmp(err_msg(), "config.json: ", 13) == 0, "message does not name the file: %s", err_msg());
    ck_assert(strchr(err_msg(), '\n') == NULL);
    ck_assert_int_eq(memcmp(&c, &before, sizeof c), 0); /* untouched */
}
END_TEST

START_TEST(test_load_errors)
{
    HfGpt2Config c;
    ck_assert_int_eq(hfconfig_load(&c, "/nonexistent/config.json"), ERR_IO);
    ck_assert_str_eq(err_msg(), "/nonexistent/config.json: cannot open: No such file or directory");
    ck_assert_int_eq(hfconfig_load(&c, "/"), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), "/: not a regular file"));
    const char text[] = "{\"n_head\": 4,\n \"n_embd\": 66}";
    char *path = write_temp(text, sizeof text - 1, ".json");
    ck_assert_int_eq(hfconfig_load(&c, path), ERR_FORMAT);
    char *want = xasprintf("%s: n_embd 66 is not divisible by n_head 4", path);
    ck_assert_str_eq(err_msg(), want);
    free(want);
    unlink(path);
    free(path);
    const char broken[] = "{\"n_head\": 4,\n \"n_embd\": }";
    path = write_temp(broken, sizeof broken - 1, ".json");
    ck_assert_int_eq(hfconfig_load(&c, path), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "not valid JSON"));
    ck_assert_ptr_nonnull(strstr(err_msg(), "at line 2 column"));
    unlink(path);
    free(path);
    ck_assert_int_eq(hfconfig_parse(&c, NULL, 3, NULL), ERR_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hfconfig");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_tiny_config);
    tcase_add_test(tc, test_defaults_and_aliases);
    tcase_add_test(tc, test_load_errors);
    tcase_add_loop_test(tc, test_bad_config, 0, N_BAD);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
