/* test_base.c — buffers, slices, CRC-32C (RFC 3720 vectors), clocks, error names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 3720 appendix B.4 test vectors. */
static void test_crc32c_rfc3720(void **state)
{
    (void)state;
    uint8_t b[32];
    memset(b, 0, sizeof b);
    assert_int_equal(ob_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, sizeof b);
    assert_int_equal(ob_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(ob_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(ob_crc32c(0, b, 32), 0x113FDB5Cu);
    assert_int_equal(ob_crc32c(0, "123456789", 9), 0xE3069283u);
}

static void test_crc32c_incremental(void **state)
{
    (void)state;
    const char *s = "The quick brown fox jumps over the lazy dog";
    uint32_t whole = ob_crc32c(0, s, strlen(s));
    for (size_t cut = 0; cut <= strlen(s); cut++) {
        uint32_t c = ob_crc32c(0, s, cut);
        c = ob_crc32c(c, s + cut, strlen(s) - cut);
        assert_int_equal(c, whole);
    }
    assert_int_equal(ob_crc32c(0, "", 0), 0);
}

static void test_buf(void **state)
{
    (void)state;
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_append(&b, "abc", 3);
    ob_buf_printf(&b, "-%d-", 42);
    ob_buf_put_u32le(&b, 0x01020304);
    ob_buf_put_u64le(&b, UINT64_C(0x1122334455667788));
    assert_int_equal(b.len, 3 + 4 + 4 + 8);
    assert_memory_equal(b.p, "abc-42-", 7);
    assert_int_equal(ob_get_u32le(b.p + 7), 0x01020304);
    assert_true(ob_get_u64le(b.p + 11) == UINT64_C(0x1122334455667788));
    ob_buf_consume(&b, 3);
    assert_memory_equal(b.p, "-42-", 4);
    ob_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    for (int i = 0; i < 10000; i++)
        ob_buf_putc(&b, (uint8_t)i);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.p[9999], (uint8_t)9999);
    ob_buf_release(&b);
    assert_null(b.p);
}

static void test_slices(void **state)
{
    (void)state;
    assert_true(ob_slice_eq_str(ob_slice_str("abc"), "abc"));
    assert_false(ob_slice_eq_str(ob_slice_str("abc"), "abd"));
    assert_true(ob_slice_eq_nocase(ob_slice_str("Content-Type"), ob_slice_str("content-type")));
    assert_false(ob_slice_eq_nocase(ob_slice_str("a"), ob_slice_str("ab")));
    char *d = ob_slice_dup(ob_slice_make("hello world", 5));
    assert_string_equal(d, "hello");
    free(d);
    int *arr = NULL;
    size_t cap = 0;
    OB_GROW(arr, cap, 100);
    assert_true(cap >= 100);
    arr[99] = 7;
    free(arr);
}

static void test_clock_and_errors(void **state)
{
    (void)state;
    int64_t a = ob_mono_ns(), b = ob_mono_ns();
    assert_true(b >= a);
    assert_true(ob_wall_ns() > INT64_C(1600000000) * OB_NS_PER_SEC);
    assert_string_equal(ob_strerror(0), "success");
    assert_string_equal(ob_strerror(OB_ENOSPC), "no space left on device");
    for (int e = OB_ERROR_MIN; e < 0; e++)
        assert_string_not_equal(ob_strerror(e), "unknown error");
    assert_string_equal(ob_strerror(-1000), "unknown error");
    assert_int_equal(ob_log_level_parse("WARN"), OB_LOG_WARN);
    assert_int_equal(ob_log_level_parse("nope"), -1);
}

static void test_map(void **state)
{
    (void)state;
    struct ob_map m = OB_MAP_INIT;
    static char keys[200][8];
    for (int i = 0; i < 200; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        assert_null(ob_map_put(&m, ob_slice_str(keys[i]), keys[i]));
    }
    for (int i = 0; i < 200; i += 2)
        assert_ptr_equal(ob_map_del(&m, ob_slice_str(keys[i])), keys[i]);
    assert_int_equal(m.count, 100);
    assert_null(ob_map_get(&m, ob_slice_str("k0")));
    assert_ptr_equal(ob_map_get(&m, ob_slice_str("k1")), keys[1]);
    size_t n;
    void **vals = ob_map_values(&m, &n);
    assert_int_equal(n, 100);
    for (size_t i = 0; i < n; i++) /* only the odd keys are left */
        assert_int_equal(atoi((const char *)vals[i] + 1) % 2, 1);
    free(vals);
    ob_map_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_rfc3720),
        cmocka_unit_test(test_crc32c_incremental),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_clock_and_errors),
        cmocka_unit_test(test_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
