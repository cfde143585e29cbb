/* test_http_utf8.c — the incremental UTF-8 validator: Markus Kuhn's stress cases that
 * matter (overlongs, surrogates, > U+10FFFF, truncated and impossible sequences), fail-
 * fast positions, piecewise feeding, and an exhaustive comparison with a reference
 * decoder over every 1-, 2- and 3-byte sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "http/utf8.h"

#include <omnibus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A straightforward decoder that computes each code point, for comparison. */
static bool ref_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
            return false;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

struct kuhn {
    const char *name;
    const char *bytes;
    bool valid;
    long fail_at; /* offset of the first byte that must be refused; -1: truncated only */
};

static const struct kuhn cases[] = {
    {"1 kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true, 0},
    {"2.1.2 U+0080", "\xc2\x80", true, 0},
    {"2.1.3 U+0800", "\xe0\xa0\x80", true, 0},
    {"2.1.4 U+10000", "\xf0\x90\x80\x80", true, 0},
    {"2.1.5 5-byte", "\xf8\x88\x80\x80\x80", false, 0},
    {"2.1.6 6-byte", "\xfc\x84\x80\x80\x80\x80", false, 0},
    {"2.2.1 U+007F", "\x7f", true, 0},
    {"2.2.2 U+07FF", "\xdf\xbf", true, 0},
    {"2.2.3 U+FFFF", "\xef\xbf\xbf", true, 0},
    {"2.2.4 U+1FFFFF", "\xf7\xbf\xbf\xbf", false, 0},
    {"2.3.1 U+D7FF", "\xed\x9f\xbf", true, 0},
    {"2.3.2 U+E000", "\xee\x80\x80", true, 0},
    {"2.3.3 U+FFFD", "\xef\xbf\xbd", true, 0},
    {"2.3.4 U+10FFFF", "\xf4\x8f\xbf\xbf", true, 0},
    {"2.3.5 U+110000", "\xf4\x90\x80\x80", false, 1},
    {"3.1.1 first continuation", "\x80", false, 0},
    {"3.1.2 last continuation", "\xbf", false, 0},
    {"3.1.3 two continuations", "\x80\xbf", false, 0},
    {"after ascii continuation", "ab\x80", false, 2},
    {"3.2.1 lonely C0 start", "\xc0 ", false, 0},
    {"3.2.1 lonely C2 start", "\xc2 ", false, 1},
    {"3.2.2 lonely E0 start", "\xe0 ", false, 1},
    {"3.2.3 lonely F0 start", "\xf0 ", false, 1},
    {"3.3.1 C0 last missing", "\xc0", false, 0},
    {"3.3.2 E0 80 last missing", "\xe0\x80", false, 1},
    {"3.3.3 F0 80 80 last missing", "\xf0\x80\x80", false, 1},
    {"3.3.6 DF truncated", "\xdf", false, -1},
    {"3.3.7 EF BF truncated", "\xef\xbf", false, -1},
    {"3.3.8 F4 8F BF truncated", "\xf4\x8f\xbf", false, -1},
    {"3.4 concatenated truncations", "\xe0\xa0\xc2", false, 2},
    {"3.5.1 FE", "\xfe", false, 0},
    {"3.5.2 FF", "\xff", false, 0},
    {"3.5.3 FE FE FF FF", "\xfe\xfe\xff\xff", false, 0},
    {"4.1.1 overlong / 2", "\xc0\xaf", false, 0},
    {"4.1.2 overlong / 3", "\xe0\x80\xaf", false, 1},
    {"4.1.3 overlong / 4", "\xf0\x80\x80\xaf", false, 1},
    {"4.2.1 max overlong 2", "\xc1\xbf", false, 0},
    {"4.2.2 max overlong 3", "\xe0\x9f\xbf", false, 1},
    {"4.2.3 max overlong 4", "\xf0\x8f\xbf\xbf", false, 1},
    {"4.3.1 overlong NUL 2", "\xc0\x80", false, 0},
    {"4.3.2 overlong NUL 3", "\xe0\x80\x80", false, 1},
    {"4.3.3 overlong NUL 4", "\xf0\x80\x80\x80", false, 1},
    {"5.1.1 U+D800", "\xed\xa0\x80", false, 1},
    {"5.1.2 U+DB7F", "\xed\xad\xbf", false, 1},
    {"5.1.5 U+DC00", "\xed\xb0\x80", false, 1},
    {"5.1.7 U+DFFF", "\xed\xbf\xbf", false, 1},
    {"5.2.1 U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", false, 1},
    {"5.3.1 U+FFFE noncharacter", "\xef\xbf\xbe", true, 0},
    {"5.3.2 U+FFFF noncharacter", "\xef\xbf\xbf", true, 0},
    {"F5 beyond Unicode", "\xf5\x80\x80\x80", false, 0},
    {"valid then surrogate", "Hello-\xc2\xb5@\xc3\x9f\xed\xa0\x80", false, 12},
};

static void test_kuhn_cases(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct kuhn *k = &cases[c];
        const uint8_t *p = (const uint8_t *)k->bytes;
        size_t n = strlen(k->bytes);
        if (ob_utf8_valid(p, n) != k->valid || ref_valid(p, n) != k->valid) fail_msg("%s", k->name);
        struct ob_utf8 v = OB_UTF8_INIT;
        size_t bad = 999;
        int rc = ob_utf8_feed(&v, p, n, &bad);
        if (k->valid || k->fail_at < 0) {
            if (rc != 0) fail_msg("%s: refused early", k->name);
            if (ob_utf8_done(&v) != k->valid) fail_msg("%s: done", k->name);
        } else if (rc != OB_EINVAL || bad != (size_t)k->fail_at) {
            fail_msg("%s: rc %d at %zu, expected failure at %ld", k->name, rc, bad, k->fail_at);
        }
    }
}

/* Fed one byte at a time, the validator fails at exactly the same byte. */
static void test_fail_fast_bytewise(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct kuhn *k = &cases[c];
        const uint8_t *p = (const uint8_t *)k->bytes;
        size_t n = strlen(k->bytes);
        struct ob_utf8 v;
        ob_utf8_init(&v);
        long failed = -1;
        for (size_t i = 0; i < n; i++) {
            if (ob_utf8_feed(&v, p + i, 1, NULL) != 0) {
                failed = (long)i;
                break;
            }
        }
        if (!k->valid && k->fail_at >= 0) {
            if (failed != k->fail_at) fail_msg("%s: failed at %ld", k->name, failed);
            /* Invalid is sticky. */
            assert_int_equal(ob_utf8_feed(&v, (const uint8_t *)"a", 1, NULL), OB_EINVAL);
            assert_false(ob_utf8_done(&v));
        } else {
            assert_int_equal(failed, -1);
            assert_int_equal(ob_utf8_done(&v), k->valid);
        }
    }
}

/* A long valid text split at every point gives the same answer. */
static void test_split_everywhere(void **state)
{
    (void)state;
    const char *s = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!! "
                    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80 plain ascii "
                    "long enough to use the 8-byte path \xe2\x82\xac";
    size_t n = strlen(s);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += 7) {
            struct ob_utf8 v = OB_UTF8_INIT;
            assert_int_equal(ob_utf8_feed(&v, (const uint8_t *)s, a, NULL), 0);
            assert_int_equal(ob_utf8_feed(&v, (const uint8_t *)s + a, b - a, NULL), 0);
            assert_int_equal(ob_utf8_feed(&v, (const uint8_t *)s + b, n - b, NULL), 0);
            assert_true(ob_utf8_done(&v));
        }
    }
}

/* Every 1-, 2- and 3-byte sequence agrees with the reference decoder. */
static void test_exhaustive_short(void **state)
{
    (void)state;
    uint8_t b[3];
    for (uint32_t x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        assert_int_equal(ob_utf8_valid(b, 1), ref_valid(b, 1));
    }
    for (uint32_t x = 0; x < 65536; x++) {
        b[0] = (uint8_t)(x >> 8);
        b[1] = (uint8_t)x;
        assert_int_equal(ob_utf8_valid(b, 2), ref_valid(b, 2));
    }
    for (uint32_t x = 0; x < (1u << 24); x++) {
        b[0] = (uint8_t)(x >> 16);
        b[1] = (uint8_t)(x >> 8);
        b[2] = (uint8_t)x;
        if (ob_utf8_valid(b, 3) != ref_valid(b, 3)) fail_msg("%02x %02x %02x", b[0], b[1], b[2]);
    }
}

/* 4-byte sequences: every lead F0..F7 and second byte, with edge third/fourth bytes. */
static void test_four_byte_edges(void **state)
{
    (void)state;
    static const uint8_t tails[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0xbf, 0xc0, 0xff};
    uint8_t b[4];
    for (unsigned lead = 0xF0; lead <= 0xF7; lead++) {
        for (unsigned second = 0; second < 256; second++) {
            for (size_t t3 = 0; t3 < sizeof tails; t3++) {
                for (size_t t4 = 0; t4 < sizeof tails; t4++) {
                    b[0] = (uint8_t)lead;
                    b[1] = (uint8_t)second;
                    b[2] = tails[t3];
                    b[3] = tails[t4];
                    assert_int_equal(ob_utf8_valid(b, 4), ref_valid(b, 4));
                }
            }
        }
    }
}

/* The ASCII fast path must stop at a non-ASCII byte anywhere in a word. */
static void test_ascii_fast_path(void **state)
{
    (void)state;
    uint8_t buf[64];
    for (size_t pos = 0; pos < sizeof buf; pos++) {
        memset(buf, 'a', sizeof buf);
        buf[pos] = 0x80;
        struct ob_utf8 v = OB_UTF8_INIT;
        size_t bad = 0;
        assert_int_equal(ob_utf8_feed(&v, buf, sizeof buf, &bad), OB_EINVAL);
        assert_int_equal(bad, pos);
        memset(buf, 'a', sizeof buf);
        buf[pos] = 0xC3;
        if (pos + 1 < sizeof buf) buf[pos + 1] = 0xA9;
        assert_int_equal(ob_utf8_valid(buf, sizeof buf), pos + 1 < sizeof buf);
    }
    assert_true(ob_utf8_valid((const uint8_t *)"", 0));
    assert_true(ob_utf8_valid((const uint8_t *)"\0", 1)); /* NUL is valid UTF-8 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kuhn_cases),       cmocka_unit_test(test_fail_fast_bytewise),
        cmocka_unit_test(test_split_everywhere), cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_four_byte_edges),  cmocka_unit_test(test_ascii_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
