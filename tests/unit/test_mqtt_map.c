/*
 * test_mqtt_map.c — MQTT strings and topics (UTF-8 rules, topic and filter syntax, MQTT
 * matching, shared subscriptions) and the topic ⇄ subject mapping: fixed cases, the
 * edge cases of docs/mapping/mqtt.md, and random topics that must round-trip and always
 * give subjects the core accepts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/mqtt/codec.h"
#include "proto/mqtt/map.h"

#include <stdlib.h>
#include <string.h>

static struct ob_slice sl(const char *s)
{
    return ob_slice_str(s);
}

static void test_utf8(void **state)
{
    (void)state;
    static const char *good[] = {"",
                                 "abc",
                                 "\xc3\xa9",
                                 "\xe2\x82\xac",
                                 "\xf0\x9f\x98\x80",
                                 "\xef\xbf\xbf",
                                 "\xf4\x8f\xbf\xbf",
                                 "\x01\x7f",
                                 "\xed\x9f\xbf",
                                 "\xee\x80\x80"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(ob_mqtt_utf8_valid(sl(good[i])));
    static const char *bad[] = {
        "\xc0\x80",         /* overlong U+0000 */
        "\xc1\xbf",         /* overlong */
        "\xe0\x9f\xbf",     /* overlong 3-byte */
        "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
        "\xed\xa0\x80",     /* U+D800 */
        "\xed\xbf\xbf",     /* U+DFFF */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf8\x88\x80\x80\x80",
        "\x80",
        "\xc3",
        "\xe2\x82",
        "\xc3\x28",
        "\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(ob_mqtt_utf8_valid(sl(bad[i])));
    assert_false(ob_mqtt_utf8_valid(ob_slice_make("a\0b", 3))); /* U+0000 */
}

static void test_topic_and_filter_syntax(void **state)
{
    (void)state;
    static const char *topics[] = {"a", "/", "a//b", "a/", "$SYS/x", "a.b", " ", "a*>"};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
        assert_true(ob_mqtt_topic_valid(sl(topics[i])));
        assert_true(ob_mqtt_filter_valid(sl(topics[i])));
    }
    assert_false(ob_mqtt_topic_valid(sl("")));
    assert_false(ob_mqtt_topic_valid(sl("a/+")));
    assert_false(ob_mqtt_topic_valid(sl("#")));
    assert_false(ob_mqtt_topic_valid(sl("a#")));
    static const char *filters[] = {"#", "+", "+/+", "a/#", "/#", "+/#", "a/+/b", "//+//", "+/"};
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
        assert_true(ob_mqtt_filter_valid(sl(filters[i])));
    static const char *bad[] = {"", "a#", "#/a", "a/#/", "a+", "+a/b", "a/b+", "##", "++"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(ob_mqtt_filter_valid(sl(bad[i])));
    char *long_topic = calloc(1, 65537);
    memset(long_topic, 'x', 65536);
    assert_false(ob_mqtt_topic_valid(ob_slice_make(long_topic, 65536)));
    assert_true(ob_mqtt_topic_valid(ob_slice_make(long_topic, 65535)));
    free(long_topic);
}

static void test_matching(void **state)
{
    (void)state;
    static const struct {
        const char *f, *t;
        bool m;
    } cases[] = {
        {"a/b", "a/b", true},       {"a/b", "a/c", false},
        {"a/+", "a/b", true},       {"a/+", "a/b/c", false},
        {"a/+", "a/", true},        {"a/#", "a", true}, /* the parent level (4.7.1.2) */
        {"a/#", "a/b/c", true},     {"a/#", "ab", false},
        {"#", "a/b", true},         {"#", "/", true},
        {"+", "a", true},           {"+", "/a", false},
        {"+/+", "/a", true},        {"/+", "/a", true},
        {"+/#", "a", true},         {"#", "$SYS/x", false}, /* 4.7.2 */
        {"+/x", "$SYS/x", false},   {"$SYS/#", "$SYS/x", true},
        {"$SYS/+", "$SYS/x", true}, {"a//b", "a//b", true},
        {"a/+/b", "a//b", true},    {"a/b/", "a/b", false},
        {"a/b", "a/b/", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (ob_mqtt_filter_matches(sl(cases[i].f), sl(cases[i].t)) != cases[i].m)
            fail_msg("%s vs %s", cases[i].f, cases[i].t);
}

static void test_shared(void **state)
{
    (void)state;
    struct ob_slice g, f;
    assert_int_equal(ob_mqtt_shared_split(sl("$share/grp/a/+"), &g, &f), 1);
    assert_true(ob_slice_eq_str(g, "grp") && ob_slice_eq_str(f, "a/+"));
    assert_int_equal(ob_mqtt_shared_split(sl("$share/g/#"), &g, &f), 1);
    assert_int_equal(ob_mqtt_shared_split(sl("$share/g//"), &g, &f), 1);
    assert_true(ob_slice_eq_str(f, "/"));
    assert_int_equal(ob_mqtt_shared_split(sl("a/b"), &g, &f), 0);
    assert_int_equal(ob_mqtt_shared_split(sl("$share"), &g, &f), 0);
    assert_int_equal(ob_mqtt_shared_split(sl("$shared/g/a"), &g, &f), 0);
    assert_int_equal(ob_mqtt_shared_split(sl("$share/"), &g, &f), OB_EINVAL);
    assert_int_equal(ob_mqtt_shared_split(sl("$share/g"), &g, &f), OB_EINVAL);
    assert_int_equal(ob_mqtt_shared_split(sl("$share/g/"), &g, &f), OB_EINVAL);
    assert_int_equal(ob_mqtt_shared_split(sl("$share//a"), &g, &f), OB_EINVAL);
    assert_int_equal(ob_mqtt_shared_split(sl("$share/+/a"), &g, &f), OB_EINVAL);
    assert_int_equal(ob_mqtt_shared_split(sl("$share/g#/a"), &g, &f), OB_EINVAL);
    assert_int_equal(ob_mqtt_shared_split(sl("$share/g/a/#/b"), &g, &f), OB_EINVAL);
}

/* Maps topic (or filter) to a subject, checks it, maps back, checks the round trip. */
static void map_case(const char *mqtt, const char *want, bool filter, int want_rc)
{
    struct ob_buf s = OB_BUF_INIT, t = OB_BUF_INIT;
    ob_buf_append(&s, "junk", 4); /* results are appended */
    int rc =
        filter ? ob_mqtt_filter_to_subject(sl(mqtt), &s) : ob_mqtt_topic_to_subject(sl(mqtt), &s);
    assert_int_equal(rc, want_rc);
    struct ob_slice subj = ob_slice_make(s.p + 4, s.len - 4);
    if (want && !ob_slice_eq_str(subj, want))
        fail_msg("%s -> %.*s, want %s", mqtt, (int)subj.n, (const char *)subj.p, want);
    assert_true(filter ? ob_filter_valid(subj) : ob_subject_valid(subj));
    rc = filter ? ob_mqtt_subject_to_filter(subj, &t) : ob_mqtt_subject_to_topic(subj, &t);
    assert_int_equal(rc, 0);
    if (!ob_slice_eq_str(ob_slice_make(t.p, t.len), mqtt))
        fail_msg("%s did not round-trip: %.*s", mqtt, (int)t.len, (const char *)t.p);
    ob_buf_release(&s);
    ob_buf_release(&t);
}

static void test_map_cases(void **state)
{
    (void)state;
    map_case("a/b", "a.b", false, 0);
    map_case("/", "/./", false, 0);
    map_case("a//b", "a./.b", false, 0);
    map_case("a/", "a./", false, 0);
    map_case("/a", "/.a", false, 0);
    map_case("//", "/././", false, 0);
    map_case("a.b/c", "a//b.c", false, 0);
    map_case(".", "//", false, 0);
    map_case("..", "////", false, 0);
    map_case("$SYS/x", "$SYS.x", false, 0);
    map_case("a b/*/>", "a/20b./2A./3E", false, 0);
    map_case(" .", "/20//", false, 0);
    map_case(".20", "//20", false, 0);
    map_case("tab\there", "tab/09here", false, 0);
    map_case("del\x7f", "del/7F", false, 0);
    map_case("caf\xc3\xa9/\xe2\x82\xac", "caf\xc3\xa9.\xe2\x82\xac", false, 0);
    map_case("*", "/2A", false, 0);
    map_case("2A/2F", "2A.2F", false, 0);
    map_case("#", ">", true, 0);
    map_case("+", "*", true, 0);
    map_case("+/#", "*.>", true, 1);
    map_case("a/#", "a.>", true, 1);
    map_case("/#", "/.>", true, 1);
    map_case("a/+/c", "a.*.c", true, 0);
    map_case("a/+/", "a.*./", true, 0);
    map_case("$SYS/#", "$SYS.>", true, 1);
    map_case("a.b/+", "a//b.*", true, 0);
    map_case("*/>", "/2A./3E", true, 0); /* literal levels, not wildcards */
    map_case("a/b", "a.b", true, 0);
}

static void test_map_refusals(void **state)
{
    (void)state;
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_mqtt_topic_to_subject(sl(""), &b), OB_EBADSUBJECT);
    assert_int_equal(ob_mqtt_topic_to_subject(sl("a/+"), &b), OB_EBADSUBJECT);
    assert_int_equal(ob_mqtt_filter_to_subject(sl("a/#/b"), &b), OB_EBADSUBJECT);
    assert_int_equal(ob_mqtt_topic_to_subject(sl("\xc0\x80"), &b), OB_EBADSUBJECT);
    assert_int_equal(b.len, 0);
    ob_buf_append(&b, "x", 1);
    static const char *bad_subjects[] = {"", ".", "a.", ".a", "a..b", "a+b", "#", "/"};
    for (size_t i = 0; i < sizeof bad_subjects / sizeof *bad_subjects; i++) {
        assert_int_equal(ob_mqtt_subject_to_topic(sl(bad_subjects[i]), &b), OB_EBADSUBJECT);
        assert_int_equal(b.len, 1);
    }
    assert_int_equal(ob_mqtt_subject_to_filter(sl(">.a"), &b), OB_EBADSUBJECT);
    assert_int_equal(ob_mqtt_subject_to_filter(sl("a.>.b"), &b), OB_EBADSUBJECT);
    assert_int_equal(b.len, 1);
    ob_buf_release(&b);
}

/* Subjects from other protocols: a '/' that starts no escape reads as a level break. */
static void test_map_foreign(void **state)
{
    (void)state;
    static const struct {
        const char *subject, *topic;
    } cases[] = {
        {"orders.eu", "orders/eu"},
        {"logs/app.x", "logs/app/x"},
        {"a/", "a/"},
        {"a/2F", "a/2F"},
        {"a/2a", "a/2a"},
        {"x/", "x/"},
        {"a/00", "a/00"},
        {"*", "*"},
        {">", ">"},
        {"a//", "a."},
        {"/2A/3e", "*/3e"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ob_buf b = OB_BUF_INIT;
        if (ob_mqtt_subject_to_topic(sl(cases[i].subject), &b) != 0)
            fail_msg("%s refused", cases[i].subject);
        if (!ob_slice_eq_str(ob_slice_make(b.p, b.len), cases[i].topic))
            fail_msg("%s -> %.*s", cases[i].subject, (int)b.len, (const char *)b.p);
        ob_buf_release(&b);
    }
}

/* Random topics over an alphabet heavy in the bytes the mapping must escape. */
static void test_map_random(void **state)
{
    (void)state;
    static const char *units[] = {"a",    "b", "/", "/",        ".",
                                  " ",    "*", ">", "$",        "\t",
                                  "\x7f", "2", "F", "\xc3\xa9", "\xf0\x9f\x98\x80",
                                  "+",    "#", "%"};
    const size_t nunits = sizeof units / sizeof *units;
    uint32_t x = 12345;
    size_t topics = 0, filters = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char buf[64] = "";
        size_t len = 0;
        x = x * 1103515245u + 12345u;
        size_t k = 1 + (x >> 16) % 12;
        for (size_t i = 0; i < k; i++) {
            x = x * 1103515245u + 12345u;
            const char *u = units[(x >> 16) % nunits];
            memcpy(buf + len, u, strlen(u));
            len += strlen(u);
        }
        buf[len] = 0;
        if (ob_mqtt_topic_valid(sl(buf))) {
            map_case(buf, NULL, false, 0);
            topics++;
        }
        if (ob_mqtt_filter_valid(sl(buf))) {
            bool parent = len >= 2 && buf[len - 2] == '/' && buf[len - 1] == '#';
            map_case(buf, NULL, true, parent ? 1 : 0);
            filters++;
        }
    }
    assert_true(topics > 2000 && filters > 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),        cmocka_unit_test(test_topic_and_filter_syntax),
        cmocka_unit_test(test_matching),    cmocka_unit_test(test_shared),
        cmocka_unit_test(test_map_cases),   cmocka_unit_test(test_map_refusals),
        cmocka_unit_test(test_map_foreign), cmocka_unit_test(test_map_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
