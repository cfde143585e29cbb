/*
 * test_http_json.c — the gateway's JSON shapes (src/http/json.c) and the
 * Idempotency-Key table (src/http/idempotency.c).
 */
#include "base/clock.h"
#include "http/idempotency.h"
#include "http/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_msg_roundtrip(void **state)
{
    (void)state;
    struct ob_header h[] = {
        {{(const uint8_t *)"content-type", 12}, {(const uint8_t *)"text/plain", 10}},
        {{(const uint8_t *)"x", 1}, {(const uint8_t *)"1", 1}},
        {{(const uint8_t *)"x", 1}, {(const uint8_t *)"2", 1}},
        {{(const uint8_t *)"bin", 3}, {(const uint8_t *)"\xff\x00", 2}},
    };
    struct ob_msg_init in = {.subject = {(const uint8_t *)"a.b", 3},
                             .headers = h,
                             .nheaders = 4,
                             .key = {(const uint8_t *)"k1", 2},
                             .payload = {(const uint8_t *)"hi\nthere", 8},
                             .timestamp_ns = 1700000000123456789LL};
    struct ob_msg *m;
    assert_int_equal(ob_msg_new(&m, &in), 0);
    json_t *j = ob_json_from_msg(m, "S", 7, 0);
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "a.b");
    assert_string_equal(json_string_value(json_object_get(j, "stream")), "S");
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 7);
    assert_string_equal(json_string_value(json_object_get(j, "payload")), "hi\nthere");
    assert_string_equal(json_string_value(json_object_get(j, "key")), "k1");
    assert_string_equal(json_string_value(json_object_get(j, "time")),
                        "2023-11-14T22:13:20.123456789Z");
    json_t *hd = json_object_get(j, "headers");
    assert_string_equal(json_string_value(json_object_get(hd, "x")), "1, 2");
    assert_string_equal(json_string_value(json_object_get(hd, "content-type")), "text/plain");
    json_t *hb = json_object_get(j, "headers_base64");
    assert_string_equal(json_string_value(json_object_get(hb, "bin")), "/wA=");
    json_decref(j);
    /* base64 on request */
    j = ob_json_from_msg(m, NULL, 0, OB_JSON_MSG_BASE64);
    assert_null(json_object_get(j, "stream"));
    assert_string_equal(json_string_value(json_object_get(j, "payload_base64")), "aGkKdGhlcmU=");
    json_decref(j);
    ob_msg_unref(m);
}

static void test_binary_payload(void **state)
{
    (void)state;
    struct ob_msg *m;
    assert_int_equal(ob_msg_new_simple(&m, "x", "\x80\x81", 2), 0);
    json_t *j = ob_json_from_msg(m, NULL, 0, 0);
    assert_null(json_object_get(j, "payload"));
    assert_string_equal(json_string_value(json_object_get(j, "payload_base64")), "gIE=");
    json_decref(j);
    ob_msg_unref(m);
}

static void test_parse_pub(void **state)
{
    (void)state;
    struct ob_json_pub p;
    const char *why;
    json_t *j =
        parse("{\"subject\":\"a.b\",\"headers\":{\"h\":\"v\"},\"key\":\"k\",\"payload\":\"x\"}");
    assert_int_equal(ob_json_parse_pub(j, &p, &why), 0);
    assert_int_equal(p.init.nheaders, 1);
    assert_int_equal(p.init.payload.n, 1);
    assert_memory_equal(p.init.key.p, "k", 1);
    ob_json_pub_release(&p);
    json_decref(j);

    j = parse("{\"subject\":\"a\",\"payload_base64\":\"AAEC\"}");
    assert_int_equal(ob_json_parse_pub(j, &p, &why), 0);
    assert_int_equal(p.init.payload.n, 3);
    assert_memory_equal(p.init.payload.p, "\x00\x01\x02", 3);
    ob_json_pub_release(&p);
    json_decref(j);

    static const char *bad[] = {
        "{\"payload\":\"x\"}",                                               /* no subject */
        "{\"subject\":\"a\",\"payload\":\"x\",\"payload_base64\":\"eA==\"}", /* both */
        "{\"subject\":\"a\",\"payload_base64\":\"!!\"}",                     /* bad base64 */
        "{\"subject\":\"a\",\"headers\":{\"h\":1}}",                         /* non-string header */
        "{\"subject\":\"a\",\"extra\":1}",                                   /* unknown field */
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = parse(bad[i]);
        assert_int_equal(ob_json_parse_pub(j, &p, &why), OB_EINVAL);
        assert_non_null(why);
        json_decref(j);
    }
    j = parse("{\"subject\":\"a.*\"}");
    assert_int_equal(ob_json_parse_pub(j, &p, &why), OB_EBADSUBJECT);
    json_decref(j);
}

static void test_stream_cfg(void **state)
{
    (void)state;
    struct ob_json_stream_cfg c;
    const char *why;
    json_t *j = parse("{\"name\":\"S\",\"subjects\":[\"a.>\",\"b\"],\"retention\":\"workqueue\","
                      "\"max_msgs\":10,\"fsync\":\"never\",\"memory\":true}");
    assert_int_equal(ob_json_parse_stream_cfg(j, NULL, &c, &why), 0);
    assert_string_equal(c.cfg.name, "S");
    assert_int_equal(c.cfg.nsubjects, 2);
    assert_int_equal(c.cfg.retention, OB_RETAIN_WORKQUEUE);
    assert_int_equal(c.cfg.fsync, OB_FSYNC_NEVER);
    assert_int_equal(c.cfg.max_msgs, 10);
    assert_true(c.cfg.memory);
    json_t *out = ob_json_stream_config(&c.cfg);
    assert_string_equal(json_string_value(json_object_get(out, "retention")), "workqueue");
    assert_int_equal(json_array_size(json_object_get(out, "subjects")), 2);
    json_decref(out);
    ob_json_stream_cfg_release(&c);
    /* the URL name wins when the body has none, and must agree when it has one */
    assert_int_equal(ob_json_parse_stream_cfg(j, "T", &c, &why), OB_EINVAL);
    json_decref(j);
    j = parse("{\"subjects\":[\"x\"]}");
    assert_int_equal(ob_json_parse_stream_cfg(j, "T", &c, &why), 0);
    assert_string_equal(c.cfg.name, "T");
    ob_json_stream_cfg_release(&c);
    json_decref(j);
    static const char *bad[] = {"{\"name\":\"S\",\"retention\":\"forever\"}",
                                "{\"name\":\"S\",\"max_msgs\":-1}", "{\"name\":\"S\",\"typo\":1}",
                                "{\"subjects\":[\"x\"]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = parse(bad[i]);
        assert_int_equal(ob_json_parse_stream_cfg(j, NULL, &c, &why), OB_EINVAL);
        json_decref(j);
    }
    j = parse("{\"name\":\"S\",\"subjects\":[\"a..b\"]}");
    assert_int_equal(ob_json_parse_stream_cfg(j, NULL, &c, &why), OB_EBADSUBJECT);
    json_decref(j);
}

static void test_consumer_cfg(void **state)
{
    (void)state;
    struct ob_consumer_config c;
    const char *why;
    json_t *j = parse("{\"name\":\"C\",\"filter\":\"a.*\",\"deliver\":\"seq\",\"start_seq\":5,"
                      "\"ack\":\"cumulative\",\"ack_wait_ms\":1000,\"dead_letter\":\"dlq.x\"}");
    assert_int_equal(ob_json_parse_consumer_cfg(j, NULL, &c, &why), 0);
    assert_int_equal(c.deliver, OB_DELIVER_SEQ);
    assert_int_equal(c.start_seq, 5);
    assert_int_equal(c.ack, OB_ACK_CUMULATIVE);
    assert_string_equal(c.dead_letter, "dlq.x");
    json_t *out = ob_json_consumer_config(&c);
    assert_string_equal(json_string_value(json_object_get(out, "ack")), "cumulative");
    json_decref(out);
    json_decref(j);
    j = parse("{\"name\":\"C\"}");
    assert_int_equal(ob_json_parse_consumer_cfg(j, NULL, &c, &why), 0);
    assert_int_equal(c.ack, OB_ACK_EACH); /* the default for a pull consumer */
    json_decref(j);
    j = parse("{\"name\":\"C\",\"ack_wait_ms\":99999999999}");
    assert_int_equal(ob_json_parse_consumer_cfg(j, NULL, &c, &why), OB_EINVAL);
    json_decref(j);
}

static void test_ack_ids(void **state)
{
    (void)state;
    char id[64];
    uint64_t seq;
    ob_json_ack_id("orders", 42, id, sizeof id);
    assert_string_equal(id, "orders:42");
    assert_int_equal(ob_json_parse_ack_id(id, "orders", &seq), 0);
    assert_int_equal(seq, 42);
    assert_int_equal(ob_json_parse_ack_id("other:42", "orders", &seq), OB_EINVAL);
    assert_int_equal(ob_json_parse_ack_id("orders:0", "orders", &seq), OB_EINVAL);
    assert_int_equal(ob_json_parse_ack_id("orders:4x", "orders", &seq), OB_EINVAL);
    assert_int_equal(ob_json_parse_ack_id("orders:", "orders", &seq), OB_EINVAL);
    assert_int_equal(ob_json_parse_ack_id("orders:99999999999999999999", "orders", &seq),
                     OB_EINVAL);
}

static void test_error_status(void **state)
{
    (void)state;
    const char *slug, *title;
    assert_int_equal(ob_json_error_status(OB_EEXIST, &slug, &title), 409);
    assert_string_equal(slug, "conflict");
    assert_int_equal(ob_json_error_status(OB_ENOSPC, &slug, &title), 503);
    assert_int_equal(ob_json_error_status(OB_EIO, &slug, &title), 503);
    assert_int_equal(ob_json_error_status(OB_ELIMIT, &slug, &title), 429);
    assert_int_equal(ob_json_error_status(OB_EBADSUBJECT, &slug, &title), 400);
    assert_string_equal(slug, "bad-subject");
    assert_int_equal(ob_json_error_status(OB_ETOOBIG, &slug, &title), 413);
    assert_string_equal(title, "Content Too Large");
}

static void test_idem(void **state)
{
    (void)state;
    struct ob_idem *t = ob_idem_new(2, 1000);
    struct ob_idem_entry *e, *e2;
    int64_t now = 1;
    assert_int_equal(ob_idem_begin(t, "u", "k1", 11, now, &e), OB_IDEM_NEW);
    assert_int_equal(ob_idem_begin(t, "u", "k1", 11, now, &e2), OB_IDEM_PENDING);
    ob_idem_finish(t, e, 200, "{\"seq\":1}", 9, now);
    assert_int_equal(ob_idem_begin(t, "u", "k1", 11, now, &e2), OB_IDEM_DONE);
    size_t len;
    assert_string_equal(ob_idem_body(e2, &len), "{\"seq\":1}");
    assert_int_equal(ob_idem_status(e2), 200);
    assert_int_equal(ob_idem_begin(t, "u", "k1", 12, now, &e2), OB_IDEM_MISMATCH);
    /* scopes are separate */
    assert_int_equal(ob_idem_begin(t, "v", "k1", 11, now, &e2), OB_IDEM_NEW);
    /* full of one done + one pending: a third evicts the done one */
    assert_int_equal(ob_idem_begin(t, "u", "k3", 1, now, &e), OB_IDEM_NEW);
    assert_int_equal(ob_idem_count(t), 2);
    /* now both are pending: full */
    struct ob_idem_entry *e3;
    assert_int_equal(ob_idem_begin(t, "u", "k4", 1, now, &e3), OB_IDEM_FULL);
    ob_idem_abort(t, e);
    ob_idem_finish(t, e2, 201, "x", 1, now);
    /* expiry */
    now += 2000 * OB_NS_PER_MS;
    assert_int_equal(ob_idem_begin(t, "v", "k1", 11, now, &e), OB_IDEM_NEW);
    assert_int_equal(ob_idem_count(t), 1);
    ob_idem_free(t);
}

static void test_b64(void **state)
{
    (void)state;
    uint8_t *out;
    size_t n;
    assert_int_equal(ob_json_b64_decode("aGVsbG8=", 8, &out, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    free(out);
    assert_int_equal(ob_json_b64_decode("aGVsbG8", 7, &out, &n), OB_EINVAL);
    char *s = ob_json_b64_encode((const uint8_t *)"", 0);
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_roundtrip), cmocka_unit_test(test_binary_payload),
        cmocka_unit_test(test_parse_pub),     cmocka_unit_test(test_stream_cfg),
        cmocka_unit_test(test_consumer_cfg),  cmocka_unit_test(test_ack_ids),
        cmocka_unit_test(test_error_status),  cmocka_unit_test(test_idem),
        cmocka_unit_test(test_b64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
