/* Tests for engine/err.c and engine/tensor.c conversions. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "engine/err.h"
#include "engine/tensor.h"

START_TEST(test_err_message_and_prefix)
{
    err_clear();
    ck_assert_str_eq(err_msg(), "");
    int rc = ERR(ERR_FORMAT, "%s: header length %d past end of file", "m.safetensors", 99);
    ck_assert_int_eq(rc, ERR_FORMAT);
    ck_assert_int_eq(err_code(), ERR_FORMAT);
    ck_assert_str_eq(err_msg(), "m.safetensors: header length 99 past end of file");
    ck_assert_ptr_nonnull(strstr(err_where(), "check_err.c"));
    err_prefix("load %s", "x");
    ck_assert_str_eq(err_msg(), "load x: m.safetensors: header length 99 past end of file");
    err_clear();
    ck_assert_int_eq(err_code(), 0);
}
END_TEST

START_TEST(test_size_overflow)
{
    size_t r;
    ck_assert_int_eq(size_mul((size_t)1 << 40, (size_t)1 << 30, &r), -1);
    ck_assert_int_eq(size_mul(3, 7, &r), 0);
    ck_assert_uint_eq(r, 21);
    ck_assert_int_eq(size_add(SIZE_MAX, 1, &r), -1);
}
END_TEST

START_TEST(test_half_and_bf16_round_trip)
{
    const float vals[] = {0.0f, -0.0f, 1.0f, -2.385f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.33325195f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        float h = half_to_float(float_to_half(vals[i]));
        ck_assert_float_eq_tol(h, vals[i], fabsf(vals[i]) * 1e-3f + 1e-9f);
        float b = bf16_to_float(float_to_bf16(vals[i]));
        ck_assert_float_eq_tol(b, vals[i], fabsf(vals[i]) * 8e-3f + 1e-30f);
    }
    /* 1 + 2^-11 is halfway between two halves: ties go to even (1.0) */
    ck_assert_float_eq(half_to_float(float_to_half(1.00048828125f)), 1.0f);
    ck_assert(isinf(half_to_float(float_to_half(1e6f))));
    ck_assert(isnan(bf16_to_float(float_to_bf16(NAN))));
    float out[2];
    const uint16_t raw[2] = {0x3c00, 0xc000}; /* 1, -2 */
    ck_assert_int_eq(tensor_to_f32(out, raw, DT_F16, 2), 0);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.0f);
    ck_assert_int_eq(tensor_to_f32(out, raw, DT_I32, 1), ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_dtype_names)
{
    DType t;
    ck_assert_int_eq(dtype_from_name("BF16", &t), 0);
    ck_assert_int_eq(t, DT_BF16);
    ck_assert_uint_eq(dtype_size(t), 2);
    ck_assert_int_eq(dtype_from_name("F17", &t), -1);
    ck_assert_str_eq(dtype_name(DT_I64), "I64");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_err_message_and_prefix);
    tcase_add_test(tc, test_size_overflow);
    tcase_add_test(tc, test_half_and_bf16_round_trip);
    tcase_add_test(tc, test_dtype_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
