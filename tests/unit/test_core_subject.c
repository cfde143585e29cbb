/* test_core_subject.c — subject/filter syntax, matching tables, and the sublist checked
 * against a naive matcher on random subjects and filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "core/sublist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool matches(const char *f, const char *s)
{
    return ob_subject_matches(ob_slice_str(f), ob_slice_str(s));
}

static void test_syntax(void **state)
{
    (void)state;
    const char *good_subjects[] = {"a",          "a.b",      "orders.eu.42",
                                   "a-b_c.$SYS", "ünï.cødé", "x.y.z.w.v"};
    const char *bad_subjects[] = {"",    ".", "a.", ".a",  "a..b", "a.*",
                                  "a.>", ">", "*",  "a b", "a\tb", "a.b\n"};
    for (size_t i = 0; i < sizeof good_subjects / sizeof *good_subjects; i++)
        assert_true(ob_subject_valid(ob_slice_str(good_subjects[i])));
    for (size_t i = 0; i < sizeof bad_subjects / sizeof *bad_subjects; i++)
        assert_false(ob_subject_valid(ob_slice_str(bad_subjects[i])));
    const char *good_filters[] = {"a", "*", ">", "a.*", "a.>", "*.b.>", "a.*.c", "*.*"};
    const char *bad_filters[] = {"", "a.>.b", ">.a", "a..b", "a.", ".", "a b", ">.>"};
    for (size_t i = 0; i < sizeof good_filters / sizeof *good_filters; i++)
        assert_true(ob_filter_valid(ob_slice_str(good_filters[i])));
    for (size_t i = 0; i < sizeof bad_filters / sizeof *bad_filters; i++)
        assert_false(ob_filter_valid(ob_slice_str(bad_filters[i])));
    /* A NUL inside a token is rejected. */
    assert_false(ob_subject_valid(ob_slice_make("a\0b", 3)));
    /* "**" and ">>" are literal tokens, not wildcards. */
    assert_true(ob_subject_valid(ob_slice_str("a.**")));
}

static void test_match_table(void **state)
{
    (void)state;
    struct {
        const char *f, *s;
        bool m;
    } t[] = {
        {"a", "a", true},
        {"a", "b", false},
        {"a", "a.b", false},
        {"a.b", "a", false},
        {"*", "a", true},
        {"*", "a.b", false},
        {">", "a", true},
        {">", "a.b.c", true},
        {"a.>", "a", false},
        {"a.>", "a.b", true},
        {"a.>", "a.b.c", true},
        {"a.*", "a.b", true},
        {"a.*", "a.b.c", false},
        {"*.b", "a.b", true},
        {"*.b", "a.c", false},
        {"a.*.c", "a.b.c", true},
        {"a.*.c", "a.b.d", false},
        {"*.*.>", "a.b", false},
        {"*.*.>", "a.b.c", true},
        {"ab", "a", false},
        {"a", "ab", false},
        {"a.b", "a.bc", false},
        {"a.bc", "a.b", false},
        {"*.>", "x.y", true},
        /* system subjects: a leading wildcard does not reach them, a named token does */
        {">", "$SYS.x", false},
        {"*.x", "$SYS.x", false},
        {"*", "$SYS", false},
        {"$SYS.>", "$SYS.x", true},
        {"$SYS.*", "$SYS.x", true},
        {"$SYS", "$SYS", true},
        {">", "$mqtt#.sessions", false},
        {"$mqtt#.>", "$mqtt#.sessions", true},
        {">", "a.$SYS", true},
        {"a.*", "a.$b", true},
        {"**.x", "$a.x", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (matches(t[i].f, t[i].s) != t[i].m) fail_msg("%s vs %s", t[i].f, t[i].s);
    }
    /* Permission patterns match system subjects like any other. */
    assert_true(ob_subject_matches_all(ob_slice_str(">"), ob_slice_str("$SYS.x")));
    assert_true(ob_subject_matches_all(ob_slice_str("*.x"), ob_slice_str("$SYS.x")));
    assert_false(ob_subject_matches_all(ob_slice_str("a.>"), ob_slice_str("$SYS.x")));
    assert_true(ob_subject_is_system(ob_slice_str("$SYS")));
    assert_false(ob_subject_is_system(ob_slice_str("a.$SYS")));
}

/* Naive reference: split both on '.', compare token by token. */
static bool naive(const char *f, const char *s)
{
    char fb[256], sb[256], *fs, *ss;
    snprintf(fb, sizeof fb, "%s", f);
    snprintf(sb, sizeof sb, "%s", s);
    char *ft = strtok_r(fb, ".", &fs), *st = strtok_r(sb, ".", &ss);
    if (st[0] == '$' && (!strcmp(ft, "*") || !strcmp(ft, ">"))) return false;
    while (ft && st) {
        if (!strcmp(ft, ">")) return true;
        if (strcmp(ft, "*") && strcmp(ft, st)) return false;
        ft = strtok_r(NULL, ".", &fs);
        st = strtok_r(NULL, ".", &ss);
    }
    return !ft && !st;
}

static void random_name(char *out, bool filter, unsigned *seed)
{
    static const char *tokens[] = {"a", "b", "c", "orders", "$SYS", "eu"};
    int n = 1 + rand_r(seed) % 4;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *t = tokens[rand_r(seed) % 6];
        if (filter && rand_r(seed) % 4 == 0) t = "*";
        if (filter && i == n - 1 && rand_r(seed) % 5 == 0) t = ">";
        strcat(out, i ? "." : "");
        strcat(out, t);
    }
}

static void test_random_vs_naive(void **state)
{
    (void)state;
    unsigned seed = 12345;
    struct ob_sublist sl;
    ob_sublist_init(&sl);
    enum { NF = 200 };
    static char filters[NF][64];
    for (int i = 0; i < NF; i++) {
        random_name(filters[i], true, &seed);
        assert_true(ob_filter_valid(ob_slice_str(filters[i])));
        ob_sublist_insert(&sl, ob_slice_str(filters[i]), filters[i]);
    }
    for (int round = 0; round < 5000; round++) {
        char s[64];
        random_name(s, false, &seed);
        size_t expect = 0;
        for (int i = 0; i < NF; i++) {
            bool m = naive(filters[i], s);
            assert_int_equal(m, matches(filters[i], s));
            expect += m;
        }
        struct ob_sublist_result r = ob_sublist_match(&sl, ob_slice_str(s));
        assert_int_equal(r.n, expect);
        for (size_t k = 0; k < r.n; k++)
            assert_true(naive(r.items[k], s));
        /* Mutate now and then so the cache is invalidated under test. */
        if (round % 500 == 0) {
            int victim = rand_r(&seed) % NF;
            assert_int_equal(ob_sublist_remove(&sl, ob_slice_str(filters[victim]), filters[victim]),
                             0);
            ob_sublist_insert(&sl, ob_slice_str(filters[victim]), filters[victim]);
        }
    }
    assert_true(sl.hits > 0);
    ob_sublist_release(&sl);
}

static void test_sublist_basics(void **state)
{
    (void)state;
    struct ob_sublist sl;
    ob_sublist_init(&sl);
    int a, b, c;
    ob_sublist_insert(&sl, ob_slice_str("orders.*"), &a);
    ob_sublist_insert(&sl, ob_slice_str("orders.>"), &b);
    ob_sublist_insert(&sl, ob_slice_str("orders.eu"), &c);
    ob_sublist_insert(&sl, ob_slice_str("orders.eu"), &a); /* same item, second filter */
    struct ob_sublist_result r = ob_sublist_match(&sl, ob_slice_str("orders.eu"));
    assert_int_equal(r.n, 4);
    r = ob_sublist_match(&sl, ob_slice_str("orders.eu.x"));
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.items[0], &b);
    assert_int_equal(ob_sublist_remove(&sl, ob_slice_str("orders.eu"), &c), 0);
    assert_int_equal(ob_sublist_remove(&sl, ob_slice_str("orders.eu"), &c), OB_ENOENT);
    assert_int_equal(ob_sublist_remove(&sl, ob_slice_str("nope.x"), &c), OB_ENOENT);
    r = ob_sublist_match(&sl, ob_slice_str("orders.eu"));
    assert_int_equal(r.n, 3);
    ob_sublist_remove(&sl, ob_slice_str("orders.*"), &a);
    ob_sublist_remove(&sl, ob_slice_str("orders.>"), &b);
    ob_sublist_remove(&sl, ob_slice_str("orders.eu"), &a);
    assert_int_equal(sl.count, 0);
    r = ob_sublist_match(&sl, ob_slice_str("orders.eu"));
    assert_int_equal(r.n, 0);
    ob_sublist_release(&sl);
}

/* A subscriber on ">" (REST, SSE, the C API) does not see system subjects such as the
 * MQTT broker's records; one that names "$mqtt#" or "$SYS" does. */
static void test_sublist_system(void **state)
{
    (void)state;
    struct ob_sublist sl;
    ob_sublist_init(&sl);
    int all, star, sys, sysall, mq;
    ob_sublist_insert(&sl, ob_slice_str(">"), &all);
    ob_sublist_insert(&sl, ob_slice_str("*.broker.>"), &star);
    ob_sublist_insert(&sl, ob_slice_str("$SYS.>"), &sys);
    ob_sublist_insert(&sl, ob_slice_str("$SYS.broker.*"), &sysall);
    ob_sublist_insert(&sl, ob_slice_str("$mqtt#.sessions"), &mq);
    struct ob_sublist_result r = ob_sublist_match(&sl, ob_slice_str("$SYS.broker.uptime"));
    assert_int_equal(r.n, 2);
    assert_true((r.items[0] == &sys && r.items[1] == &sysall) ||
                (r.items[0] == &sysall && r.items[1] == &sys));
    r = ob_sublist_match(&sl, ob_slice_str("$mqtt#.sessions"));
    assert_int_equal(r.n, 1);
    assert_ptr_equal(r.items[0], &mq);
    r = ob_sublist_match(&sl, ob_slice_str("$mqtt#.retained.a"));
    assert_int_equal(r.n, 0);
    r = ob_sublist_match(&sl, ob_slice_str("x.broker.uptime"));
    assert_int_equal(r.n, 2);
    ob_sublist_release(&sl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),          cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_sublist_basics),  cmocka_unit_test(test_sublist_system),
        cmocka_unit_test(test_random_vs_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
