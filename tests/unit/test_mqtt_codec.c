/*
 * test_mqtt_codec.c — the MQTT codec: byte-exact vectors written from the spec's figures,
 * round trips of every packet type in 3.1, 3.1.1 and 5.0, every malformed class with its
 * reason code, and resumability: every packet and every error decoded split at every
 * byte, byte by byte, and in a stream of random chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "proto/mqtt/codec.h"

#include <stdlib.h>
#include <string.h>

#define S(x)                                                                                       \
    {                                                                                              \
        (const uint8_t *)(x), sizeof(x) - 1                                                        \
    }
#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})
#define BIT(id)    (UINT64_C(1) << (id))

/* ---- helpers --------------------------------------------------------------------------- */

/* Feeds b as two heap pieces [0,k) and [k,n), freeing the first before the second is fed
 * so that ASan catches a decoder that kept a pointer into it. The second piece is handed
 * back in *keep (the packet may point into it). */
static int feed_split(struct ob_mqtt_decoder *d, const uint8_t *b, size_t n, size_t k,
                      struct ob_mqtt_packet *pkt, uint8_t **keep)
{
    size_t used;
    uint8_t *one = ob_xmemdup(b, k ? k : 1);
    int rc = ob_mqtt_decode(d, one, k, &used, pkt);
    *keep = NULL;
    if (rc == 1) { /* the packet may point into this piece */
        assert_int_equal(k, n);
        *keep = one;
        return rc;
    }
    free(one);
    if (rc < 0) return rc;
    assert_int_equal(used, k);
    *keep = ob_xmemdup(b + k, n - k ? n - k : 1);
    rc = ob_mqtt_decode(d, *keep, n - k, &used, pkt);
    if (rc == 1) assert_int_equal(used, n - k);
    return rc;
}

/* Decodes b whole with a fresh decoder; returns the decode result. */
static int decode_whole(struct ob_mqtt_decoder *d, uint8_t v, const uint8_t *b, size_t n,
                        struct ob_mqtt_packet *pkt)
{
    size_t used;
    ob_mqtt_decoder_init(d, v, 0);
    int rc = ob_mqtt_decode(d, b, n, &used, pkt);
    if (rc == 1) assert_int_equal(used, n);
    return rc;
}

static int feed_bytewise(struct ob_mqtt_decoder *d, const uint8_t *b, size_t n,
                         struct ob_mqtt_packet *pkt)
{
    size_t used;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = ob_mqtt_decode(d, b + i, 1, &used, pkt);
        if (rc >= 0) assert_int_equal(used, 1);
        if (rc == 1) assert_int_equal(i, n - 1);
    }
    return rc;
}

/* Every split point and byte-by-byte feeding give what decoding whole gave. */
static void check_splits(uint8_t v, const uint8_t *b, size_t n)
{
    struct ob_mqtt_decoder ref, d;
    struct ob_mqtt_packet want, got;
    int want_rc = decode_whole(&ref, v, b, n, &want);
    for (size_t k = 0; k <= n; k++) {
        uint8_t *keep;
        ob_mqtt_decoder_init(&d, v, 0);
        int rc = feed_split(&d, b, n, k, &got, &keep);
        assert_int_equal(rc, want_rc);
        if (rc == 1) assert_true(ob_mqtt_packet_equal(&want, &got));
        if (rc < 0) assert_int_equal(d.err.reason, ref.err.reason);
        free(keep);
        ob_mqtt_decoder_release(&d);
    }
    ob_mqtt_decoder_init(&d, v, 0);
    int rc = feed_bytewise(&d, b, n, &got);
    assert_int_equal(rc, want_rc);
    if (rc == 1) assert_true(ob_mqtt_packet_equal(&want, &got));
    ob_mqtt_decoder_release(&d);
    ob_mqtt_decoder_release(&ref);
}

/* Decodes a valid vector (and checks splits); the caller releases d. */
static void decode_ok(struct ob_mqtt_decoder *d, uint8_t v, const uint8_t *b, size_t n,
                      struct ob_mqtt_packet *pkt)
{
    int rc = decode_whole(d, v, b, n, pkt);
    if (rc != 1) fail_msg("decode failed: %d %s", rc, d->err.what ? d->err.what : "");
    assert_int_equal(pkt->wire_size, n);
    check_splits(v, b, n);
}

static void expect_error(uint8_t v, const uint8_t *b, size_t n, int code, uint8_t reason)
{
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    int rc = decode_whole(&d, v, b, n, &pkt);
    if (rc != code || d.err.reason != reason)
        fail_msg("want %d/0x%02x, got %d/0x%02x (%s)", code, reason, rc, d.err.reason,
                 d.err.what ? d.err.what : "-");
    assert_non_null(ob_mqtt_decoder_error(&d)->what);
    size_t used;
    assert_int_equal(ob_mqtt_decode(&d, b, n, &used, &pkt), code); /* sticky */
    assert_int_equal(used, 0);
    ob_mqtt_decoder_release(&d);
    check_splits(v, b, n);
}

#define MALFORMED(v, ...) expect_error(v, BYTES(__VA_ARGS__), OB_EPROTO, OB_MQTT_RC_MALFORMED)
#define PROTOCOL(v, ...)  expect_error(v, BYTES(__VA_ARGS__), OB_EPROTO, OB_MQTT_RC_PROTOCOL_ERROR)

/* Encodes pkt, checks the bytes equal want (when given), decodes them back. */
static void encode_expect(uint8_t v, const struct ob_mqtt_packet *pkt, const uint8_t *want,
                          size_t n)
{
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_mqtt_encode(&b, v, pkt), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, want, n);
    ob_buf_release(&b);
}

/* encode → decode → equal; re-encode → same bytes; every split; PUBLISH header + payload. */
static void roundtrip(uint8_t v, const struct ob_mqtt_packet *pkt)
{
    struct ob_buf b = OB_BUF_INIT, b2 = OB_BUF_INIT;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet got;
    int rc = ob_mqtt_encode(&b, v, pkt);
    if (rc) fail_msg("encode %s v%d: %d", ob_mqtt_type_name(pkt->type), v, rc);
    rc = decode_whole(&d, v, b.p, b.len, &got);
    if (rc != 1) fail_msg("decode %s v%d: %s", ob_mqtt_type_name(pkt->type), v, d.err.what);
    if (!ob_mqtt_packet_equal(pkt, &got))
        fail_msg("%s v%d differs after round trip", ob_mqtt_type_name(pkt->type), v);
    assert_int_equal(got.wire_size, b.len);
    assert_int_equal(ob_mqtt_encode(&b2, v, &got), 0);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.p, b.p, b.len);
    if (pkt->type == OB_MQTT_PUBLISH) {
        struct ob_buf h = OB_BUF_INIT;
        assert_int_equal(ob_mqtt_encode_publish_header(&h, v, pkt), 0);
        assert_int_equal(h.len + pkt->publish.payload.n, b.len);
        assert_memory_equal(h.p, b.p, h.len);
        ob_buf_release(&h);
    }
    check_splits(v, b.p, b.len);
    ob_mqtt_decoder_release(&d);
    ob_buf_release(&b);
    ob_buf_release(&b2);
}

/* ---- sample packets -------------------------------------------------------------------- */

static const struct ob_header users[] = {
    {S("k1"), S("v1")}, {S("k2"), S("")}, {S("k1"), S("second value, same name")}};
static const uint32_t sub_ids[] = {1, 127, 128, 268435455};
static const struct ob_mqtt_sub subs[] = {
    {S("a/b"), 0, false, false, 0},
    {S("+/x/#"), 1, true, true, 2},
    {S("#"), 2, false, true, 1},
    {S("$share/g/a/+"), 1, false, false, 0},
};
static const struct ob_mqtt_sub subs_v3[] = {{S("a/#"), 2, false, false, 0},
                                             {S("+"), 1, false, false, 0}};
static const struct ob_slice filters[] = {S("a/b"), S("#"), S("/"), S("a//b/")};

static struct ob_mqtt_props full_props(unsigned where)
{
    struct ob_mqtt_props p = {0};
    p.user = users;
    p.nuser = 3;
    switch (where) {
    case OB_MQTT_CONNECT:
        p.present = BIT(0x11) | BIT(0x15) | BIT(0x16) | BIT(0x17) | BIT(0x19) | BIT(0x21) |
                    BIT(0x22) | BIT(0x27);
        p.session_expiry = 0xFFFFFFFF;
        p.auth_method = (struct ob_slice)S("SCRAM-SHA-1");
        p.auth_data = (struct ob_slice)S("\x00\x01\xff");
        p.request_problem_info = 0;
        p.request_response_info = 1;
        p.receive_maximum = 20;
        p.topic_alias_maximum = 0;
        p.maximum_packet_size = 1024;
        break;
    case OB_MQTT_CONNACK:
        p.present = BIT(0x11) | BIT(0x12) | BIT(0x13) | BIT(0x15) | BIT(0x16) | BIT(0x1A) |
                    BIT(0x1C) | BIT(0x1F) | BIT(0x21) | BIT(0x22) | BIT(0x24) | BIT(0x25) |
                    BIT(0x27) | BIT(0x28) | BIT(0x29) | BIT(0x2A);
        p.session_expiry = 3600;
        p.assigned_client_id = (struct ob_slice)S("auto-1234");
        p.server_keep_alive = 30;
        p.auth_method = (struct ob_slice)S("m");
        p.auth_data = (struct ob_slice)S("");
        p.response_info = (struct ob_slice)S("resp/");
        p.server_reference = (struct ob_slice)S("other:1883");
        p.reason_string = (struct ob_slice)S("welcome \xe2\x9c\x93");
        p.receive_maximum = 65535;
        p.topic_alias_maximum = 10;
        p.maximum_qos = 1;
        p.retain_available = 1;
        p.maximum_packet_size = 268435460;
        p.wildcard_sub_available = 1;
        p.sub_id_available = 0;
        p.shared_sub_available = 1;
        break;
    case OB_MQTT_PUBLISH:
    case OB_MQTT_PROPS_WILL:
        p.present = BIT(0x01) | BIT(0x02) | BIT(0x03) | BIT(0x08) | BIT(0x09);
        p.payload_format = 1;
        p.message_expiry = 60;
        p.content_type = (struct ob_slice)S("application/json");
        p.response_topic = (struct ob_slice)S("reply/to/me");
        p.correlation_data = (struct ob_slice)S("\x00\x01\x02");
        if (where == OB_MQTT_PROPS_WILL) {
            p.present |= BIT(0x18);
            p.will_delay = 5;
        } else {
            p.present |= BIT(0x23);
            p.topic_alias = 3;
            p.sub_ids = sub_ids;
            p.nsub_ids = 4;
        }
        break;
    case OB_MQTT_SUBSCRIBE:
        p.sub_ids = sub_ids + 2;
        p.nsub_ids = 1;
        break;
    case OB_MQTT_DISCONNECT:
        p.present = BIT(0x11) | BIT(0x1C) | BIT(0x1F);
        p.session_expiry = 0;
        p.server_reference = (struct ob_slice)S("elsewhere");
        p.reason_string = (struct ob_slice)S("bye");
        break;
    case OB_MQTT_AUTH:
        p.present = BIT(0x15) | BIT(0x16) | BIT(0x1F);
        p.auth_method = (struct ob_slice)S("SCRAM-SHA-256");
        p.auth_data = (struct ob_slice)S("n,,n=user,r=abc");
        p.reason_string = (struct ob_slice)S("continue");
        break;
    case OB_MQTT_UNSUBSCRIBE:
        break;
    default: /* acks */
        p.present = BIT(0x1F);
        p.reason_string = (struct ob_slice)S("because");
        break;
    }
    return p;
}

/* Fills out[] with samples of every packet type valid in version v; returns the count. */
static size_t samples(uint8_t v, struct ob_mqtt_packet *out)
{
    bool v5 = v == OB_MQTT_V5;
    size_t n = 0;
    struct ob_mqtt_packet p;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        p = (struct ob_mqtt_packet){__VA_ARGS__};                                                  \
        if (v5 && p.type != OB_MQTT_PINGREQ && p.type != OB_MQTT_PINGRESP && !p.props.present &&   \
            !p.props.nuser)                                                                        \
            p.props = full_props(p.type);                                                          \
        out[n++] = p;                                                                              \
    } while (0)
    ADD(.type = OB_MQTT_CONNECT,
        .connect = {.version = v, .clean_start = true, .keep_alive = 60, .client_id = S("c1")});
    ADD(.type = OB_MQTT_CONNECT,
        .connect = {.version = v,
                    .keep_alive = 0,
                    .client_id = S(""),
                    .will = true,
                    .will_qos = 2,
                    .will_retain = true,
                    .will_props = v5 ? full_props(OB_MQTT_PROPS_WILL) : (struct ob_mqtt_props){0},
                    .will_topic = S("last/will"),
                    .will_payload = S("\x00gone\xff"),
                    .has_username = true,
                    .username = S("user"),
                    .has_password = true,
                    .password = S("\x00\x01pw")});
    ADD(.type = OB_MQTT_CONNECT,
        .connect = {
            .version = v, .client_id = S("u-only"), .has_username = true, .username = S("")});
    ADD(.type = OB_MQTT_CONNACK, .connack = {.session_present = true, .reason = 0});
    ADD(.type = OB_MQTT_CONNACK, .connack = {.reason = v5 ? 0x87 : 5});
    ADD(.type = OB_MQTT_PUBLISH, .publish = {.topic = S("a/b"), .payload = S("hello")});
    ADD(.type = OB_MQTT_PUBLISH, .publish = {.dup = true,
                                             .qos = 1,
                                             .retain = true,
                                             .topic = S("/x/"),
                                             .packet_id = 1,
                                             .payload = S("")});
    ADD(.type = OB_MQTT_PUBLISH, .publish = {.qos = 2,
                                             .topic = S("$SYS/\xc3\xa9t\xc3\xa9"),
                                             .packet_id = 65535,
                                             .payload = S("\x00\x01\x02")});
    ADD(.type = OB_MQTT_PUBACK, .ack = {.packet_id = 1});
    ADD(.type = OB_MQTT_PUBREC, .ack = {.packet_id = 2, .reason = v5 ? 0x10 : 0});
    ADD(.type = OB_MQTT_PUBREL, .ack = {.packet_id = 3, .reason = v5 ? 0x92 : 0});
    ADD(.type = OB_MQTT_PUBCOMP, .ack = {.packet_id = 65535});
    ADD(.type = OB_MQTT_SUBSCRIBE, .subscribe = {.packet_id = 9, .subs = subs, .nsubs = 1});
    ADD(.type = OB_MQTT_SUBACK, .suback = {.packet_id = 9, .reasons = S("\x00\x01\x02\x80")});
    ADD(.type = OB_MQTT_UNSUBSCRIBE,
        .unsubscribe = {.packet_id = 10, .filters = filters, .nfilters = 4});
    ADD(.type = OB_MQTT_UNSUBACK, .suback = {.packet_id = 10,
                                             .reasons = v5 ? (struct ob_slice)S("\x00\x11\x80\x8f")
                                                           : (struct ob_slice){NULL, 0}});
    ADD(.type = OB_MQTT_PINGREQ);
    ADD(.type = OB_MQTT_PINGRESP);
    ADD(.type = OB_MQTT_DISCONNECT, .disconnect = {.reason = v5 ? 0x04 : 0});
    if (v5) {
        /* v5 variants: no properties, an aliased empty topic, subscription options. */
        ADD(.type = OB_MQTT_SUBSCRIBE, .subscribe = {.packet_id = 11, .subs = subs, .nsubs = 4});
        ADD(.type = OB_MQTT_AUTH, .auth = {.reason = 0x18});
        ADD(.type = OB_MQTT_PUBLISH, .props = {.present = BIT(0x23), .topic_alias = 7},
            .publish = {.qos = 1, .packet_id = 5, .payload = S("aliased")});
        ADD(.type = OB_MQTT_PUBACK, .props = {.present = BIT(0x1F), .reason_string = S("")},
            .ack = {.packet_id = 1});
        out[n++] = (struct ob_mqtt_packet){.type = OB_MQTT_PUBACK, .ack = {.packet_id = 7}};
        out[n++] = (struct ob_mqtt_packet){.type = OB_MQTT_DISCONNECT};
        out[n++] = (struct ob_mqtt_packet){.type = OB_MQTT_AUTH};
        out[n++] = (struct ob_mqtt_packet){.type = OB_MQTT_CONNACK};
    } else {
        ADD(.type = OB_MQTT_SUBSCRIBE, .subscribe = {.packet_id = 11, .subs = subs_v3, .nsubs = 2});
    }
#undef ADD
    return n;
}

/* ---- round trips ------------------------------------------------------------------------ */

static void test_roundtrip_all_versions(void **state)
{
    (void)state;
    static const uint8_t versions[] = {OB_MQTT_V31, OB_MQTT_V311, OB_MQTT_V5};
    for (size_t i = 0; i < 3; i++) {
        struct ob_mqtt_packet pk[40];
        size_t n = samples(versions[i], pk);
        bool seen[16] = {false};
        for (size_t k = 0; k < n; k++) {
            roundtrip(versions[i], &pk[k]);
            seen[pk[k].type] = true;
        }
        for (int t = OB_MQTT_CONNECT; t <= OB_MQTT_DISCONNECT; t++)
            assert_true(seen[t]);
        assert_true(seen[OB_MQTT_AUTH] == (versions[i] == OB_MQTT_V5));
    }
}

/* Many packets back to back, fed in pseudo-random chunks, come out in order. */
static void test_stream_of_packets(void **state)
{
    (void)state;
    for (uint8_t v = OB_MQTT_V311; v <= OB_MQTT_V5; v++) {
        struct ob_mqtt_packet pk[40], got;
        size_t n = samples(v, pk);
        struct ob_buf all = OB_BUF_INIT;
        for (size_t rep = 0; rep < 3; rep++)
            for (size_t k = 0; k < n; k++)
                if (pk[k].type != OB_MQTT_CONNECT)
                    assert_int_equal(ob_mqtt_encode(&all, v, &pk[k]), 0);
        for (uint32_t seed = 1; seed < 40; seed++) {
            struct ob_mqtt_decoder d;
            ob_mqtt_decoder_init(&d, v, 0);
            size_t off = 0, next = 0, count = 0;
            uint32_t x = seed;
            while (off < all.len) {
                x = x * 1103515245u + 12345u;
                size_t chunk = 1 + (x >> 16) % (seed < 20 ? 7 : 300);
                if (chunk > all.len - off) chunk = all.len - off;
                size_t used;
                int rc;
                const uint8_t *p = all.p + off;
                size_t left = chunk;
                while ((rc = ob_mqtt_decode(&d, p, left, &used, &got)) == 1) {
                    while (pk[next % n].type == OB_MQTT_CONNECT)
                        next++;
                    assert_true(ob_mqtt_packet_equal(&pk[next % n], &got));
                    next++;
                    count++;
                    p += used;
                    left -= used;
                }
                assert_int_equal(rc, 0);
                assert_int_equal(used, left);
                off += chunk;
            }
            assert_int_equal(count, 3 * (n - 3));
            ob_mqtt_decoder_release(&d);
        }
        ob_buf_release(&all);
    }
}

/* A packet wholly inside the input is decoded in place. */
static void test_zero_copy(void **state)
{
    (void)state;
    const uint8_t b[] = {0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i', 0xC0, 0};
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    size_t used;
    ob_mqtt_decoder_init(&d, OB_MQTT_V311, 0);
    assert_int_equal(ob_mqtt_decode(&d, b, sizeof b, &used, &pkt), 1);
    assert_int_equal(used, 9);
    assert_ptr_equal(pkt.publish.topic.p, b + 4);
    assert_ptr_equal(pkt.publish.payload.p, b + 7);
    assert_int_equal(d.buf.cap, 0); /* nothing was buffered */
    assert_int_equal(ob_mqtt_decode(&d, b + 9, 2, &used, &pkt), 1);
    assert_int_equal(pkt.type, OB_MQTT_PINGREQ);
    assert_int_equal(ob_mqtt_decode(&d, b, 0, &used, &pkt), 0);
    ob_mqtt_decoder_release(&d);
}

/* ---- byte-exact vectors ---------------------------------------------------------------- */

static void test_vector_connect(void **state)
{
    (void)state;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    /* 3.1.1 figure 3.5/3.6: "MQTT" level 4, flags 0xCE (user, password, will QoS 1, will,
     * clean session), keep alive 10. */
    static const uint8_t v4[] = {0x10, 25, 0, 4,   'M', 'Q', 'T', 'T', 4, 0xCE, 0, 10, 0,  1,
                                 'c',  0,  1, 'w', 0,   1,   'm', 0,   1, 'u',  0, 1,  'p'};
    decode_ok(&d, 0, v4, sizeof v4, &pkt);
    assert_int_equal(pkt.type, OB_MQTT_CONNECT);
    const struct ob_mqtt_connect *c = &pkt.connect;
    assert_int_equal(c->version, 4);
    assert_true(c->clean_start && c->will && c->has_username && c->has_password);
    assert_false(c->will_retain);
    assert_int_equal(c->will_qos, 1);
    assert_int_equal(c->keep_alive, 10);
    assert_true(ob_slice_eq_str(c->client_id, "c") && ob_slice_eq_str(c->will_topic, "w") &&
                ob_slice_eq_str(c->will_payload, "m") && ob_slice_eq_str(c->username, "u") &&
                ob_slice_eq_str(c->password, "p"));
    encode_expect(0, &pkt, v4, sizeof v4);
    ob_mqtt_decoder_release(&d);

    /* 5.0 figure 3-7: level 5, flags 0xC2, keep alive 10, session expiry 10. */
    static const uint8_t v5[] = {0x10, 25, 0, 4,  'M', 'Q', 'T', 'T', 5, 0xC2, 0, 10, 5,  0x11,
                                 0,    0,  0, 10, 0,   1,   'c', 0,   1, 'u',  0, 1,  'p'};
    decode_ok(&d, 0, v5, sizeof v5, &pkt);
    assert_int_equal(pkt.connect.version, 5);
    assert_true(ob_mqtt_props_has(&pkt.props, OB_MQTT_PROP_SESSION_EXPIRY));
    assert_int_equal(pkt.props.session_expiry, 10);
    assert_int_equal(pkt.props.present, BIT(OB_MQTT_PROP_SESSION_EXPIRY));
    encode_expect(0, &pkt, v5, sizeof v5);
    ob_mqtt_decoder_release(&d);

    /* 3.1: "MQIsdp" level 3. */
    static const uint8_t v3[] = {0x10, 17, 0, 6,  'M', 'Q', 'I', 's', 'd', 'p',
                                 3,    2,  0, 60, 0,   3,   'a', 'b', 'c'};
    decode_ok(&d, 0, v3, sizeof v3, &pkt);
    assert_int_equal(pkt.connect.version, 3);
    assert_true(ob_slice_eq_str(pkt.connect.client_id, "abc"));
    encode_expect(0, &pkt, v3, sizeof v3);
    ob_mqtt_decoder_release(&d);
    /* In v5 a password may come without a user name (3.1.2.9). */
    static const uint8_t pw[] = {0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5,  0x40,
                                 0,    0,  0, 0, 0,   0,   2,   'p', 'w'};
    decode_ok(&d, 0, pw, sizeof pw, &pkt);
    assert_true(pkt.connect.has_password && !pkt.connect.has_username);
    ob_mqtt_decoder_release(&d);
}

static void test_vector_publish(void **state)
{
    (void)state;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    static const uint8_t q1[] = {0x32, 9, 0, 3, 'a', '/', 'b', 0, 10, 'h', 'i'};
    decode_ok(&d, OB_MQTT_V311, q1, sizeof q1, &pkt);
    assert_int_equal(pkt.publish.qos, 1);
    assert_int_equal(pkt.publish.packet_id, 10);
    assert_true(ob_slice_eq_str(pkt.publish.topic, "a/b"));
    assert_true(ob_slice_eq_str(pkt.publish.payload, "hi"));
    encode_expect(OB_MQTT_V311, &pkt, q1, sizeof q1);
    ob_mqtt_decoder_release(&d);

    static const uint8_t v5[] = {0x31, 13, 0, 3, 'a', '/', 'b', 5, 0x01, 1, 0x23, 0, 5, 'h', 'i'};
    decode_ok(&d, OB_MQTT_V5, v5, sizeof v5, &pkt);
    assert_true(pkt.publish.retain);
    assert_int_equal(pkt.props.payload_format, 1);
    assert_int_equal(pkt.props.topic_alias, 5);
    encode_expect(OB_MQTT_V5, &pkt, v5, sizeof v5);
    ob_mqtt_decoder_release(&d);

    /* Several subscription identifiers and repeated user properties keep their order. */
    static const uint8_t multi2[] = {0x30, 23,  0,    1,    't', 19,   0x0B, 1, 0x26, 0, 1, 'a', 0,
                                     1,    '1', 0x0B, 0x80, 1,   0x26, 0,    1, 'a',  0, 1, '2'};
    decode_ok(&d, OB_MQTT_V5, multi2, sizeof multi2, &pkt);
    assert_int_equal(pkt.props.nsub_ids, 2);
    assert_int_equal(pkt.props.sub_ids[0], 1);
    assert_int_equal(pkt.props.sub_ids[1], 128);
    assert_int_equal(pkt.props.nuser, 2);
    assert_true(ob_slice_eq_str(pkt.props.user[1].value, "2"));
    assert_int_equal(pkt.publish.payload.n, 0);
    ob_mqtt_decoder_release(&d);
}

static void test_vector_acks(void **state)
{
    (void)state;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    static const uint8_t pa[] = {0x40, 2, 0, 1};
    decode_ok(&d, OB_MQTT_V5, pa, sizeof pa, &pkt);
    assert_int_equal(pkt.ack.reason, 0);
    encode_expect(OB_MQTT_V5, &pkt, pa, sizeof pa);
    ob_mqtt_decoder_release(&d);
    static const uint8_t rc[] = {0x50, 3, 0, 1, 0x10};
    decode_ok(&d, OB_MQTT_V5, rc, sizeof rc, &pkt);
    assert_int_equal(pkt.type, OB_MQTT_PUBREC);
    assert_int_equal(pkt.ack.reason, 0x10);
    encode_expect(OB_MQTT_V5, &pkt, rc, sizeof rc);
    ob_mqtt_decoder_release(&d);
    static const uint8_t rs[] = {0x40, 9, 0, 1, 0x80, 5, 0x1F, 0, 2, 'n', 'o'};
    decode_ok(&d, OB_MQTT_V5, rs, sizeof rs, &pkt);
    assert_true(ob_slice_eq_str(pkt.props.reason_string, "no"));
    encode_expect(OB_MQTT_V5, &pkt, rs, sizeof rs);
    ob_mqtt_decoder_release(&d);
    /* The long form of "success, no properties" decodes to the same packet. */
    static const uint8_t lf[] = {0x70, 4, 0, 1, 0, 0};
    decode_ok(&d, OB_MQTT_V5, lf, sizeof lf, &pkt);
    encode_expect(OB_MQTT_V5, &pkt, BYTES(0x70, 2, 0, 1));
    ob_mqtt_decoder_release(&d);
    static const uint8_t rel[] = {0x62, 3, 0, 7, 0x92};
    decode_ok(&d, OB_MQTT_V5, rel, sizeof rel, &pkt);
    assert_int_equal(pkt.ack.packet_id, 7);
    encode_expect(OB_MQTT_V5, &pkt, rel, sizeof rel);
    ob_mqtt_decoder_release(&d);
    static const uint8_t rel4[] = {0x62, 2, 0, 7};
    decode_ok(&d, OB_MQTT_V311, rel4, sizeof rel4, &pkt);
    encode_expect(OB_MQTT_V311, &pkt, rel4, sizeof rel4);
    ob_mqtt_decoder_release(&d);
}

static void test_vector_subscribe(void **state)
{
    (void)state;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    /* 3.1.1 figure 3.21: "a/b" QoS 1, "c/d" QoS 2, packet id 10. */
    static const uint8_t s4[] = {0x82, 14, 0, 10, 0, 3, 'a', '/', 'b', 1, 0, 3, 'c', '/', 'd', 2};
    decode_ok(&d, OB_MQTT_V311, s4, sizeof s4, &pkt);
    assert_int_equal(pkt.subscribe.packet_id, 10);
    assert_int_equal(pkt.subscribe.nsubs, 2);
    assert_int_equal(pkt.subscribe.subs[1].qos, 2);
    assert_true(ob_slice_eq_str(pkt.subscribe.subs[1].filter, "c/d"));
    encode_expect(OB_MQTT_V311, &pkt, s4, sizeof s4);
    ob_mqtt_decoder_release(&d);

    static const uint8_t s5[] = {0x82, 11, 0, 10, 2, 0x0B, 7, 0, 3, 'a', '/', 'b', 0x2D};
    decode_ok(&d, OB_MQTT_V5, s5, sizeof s5, &pkt);
    const struct ob_mqtt_sub *s = &pkt.subscribe.subs[0];
    assert_int_equal(s->qos, 1);
    assert_true(s->no_local && s->retain_as_published);
    assert_int_equal(s->retain_handling, 2);
    assert_int_equal(pkt.props.nsub_ids, 1);
    assert_int_equal(pkt.props.sub_ids[0], 7);
    encode_expect(OB_MQTT_V5, &pkt, s5, sizeof s5);
    ob_mqtt_decoder_release(&d);

    /* 3.1.1 figure 3.26 style SUBACK. */
    static const uint8_t sa[] = {0x90, 6, 0, 10, 0, 1, 2, 0x80};
    decode_ok(&d, OB_MQTT_V311, sa, sizeof sa, &pkt);
    assert_int_equal(pkt.suback.reasons.n, 4);
    encode_expect(OB_MQTT_V311, &pkt, sa, sizeof sa);
    ob_mqtt_decoder_release(&d);

    static const uint8_t us[] = {0xA2, 10, 0, 10, 0, 3, 'a', '/', 'b', 0, 1, 'c'};
    decode_ok(&d, OB_MQTT_V311, us, sizeof us, &pkt);
    assert_int_equal(pkt.unsubscribe.nfilters, 2);
    assert_true(ob_slice_eq_str(pkt.unsubscribe.filters[1], "c"));
    encode_expect(OB_MQTT_V311, &pkt, us, sizeof us);
    ob_mqtt_decoder_release(&d);

    static const uint8_t ua4[] = {0xB0, 2, 0, 10};
    decode_ok(&d, OB_MQTT_V311, ua4, sizeof ua4, &pkt);
    encode_expect(OB_MQTT_V311, &pkt, ua4, sizeof ua4);
    ob_mqtt_decoder_release(&d);
    static const uint8_t ua5[] = {0xB0, 4, 0, 10, 0, 0x11};
    decode_ok(&d, OB_MQTT_V5, ua5, sizeof ua5, &pkt);
    assert_int_equal(pkt.suback.reasons.p[0], 0x11);
    encode_expect(OB_MQTT_V5, &pkt, ua5, sizeof ua5);
    ob_mqtt_decoder_release(&d);
}

static void test_vector_control(void **state)
{
    (void)state;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    static const struct {
        uint8_t v;
        uint8_t b[16];
        size_t n;
        uint8_t type;
    } vec[] = {
        {4, {0xC0, 0}, 2, OB_MQTT_PINGREQ},
        {5, {0xD0, 0}, 2, OB_MQTT_PINGRESP},
        {4, {0xE0, 0}, 2, OB_MQTT_DISCONNECT},
        {5, {0xE0, 0}, 2, OB_MQTT_DISCONNECT},
        {5, {0xE0, 1, 0x8E}, 3, OB_MQTT_DISCONNECT},
        {5, {0xE0, 7, 0x04, 5, 0x11, 0, 0, 0, 0}, 9, OB_MQTT_DISCONNECT},
        {5, {0xF0, 0}, 2, OB_MQTT_AUTH},
        {5, {0xF0, 11, 0x18, 9, 0x15, 0, 1, 'X', 0x16, 0, 2, 1, 2}, 13, OB_MQTT_AUTH},
        {4, {0x20, 2, 0, 0}, 4, OB_MQTT_CONNACK},
        {4, {0x20, 2, 1, 0}, 4, OB_MQTT_CONNACK},
        {4, {0x20, 2, 0, 5}, 4, OB_MQTT_CONNACK},
        {5, {0x20, 3, 0, 0, 0}, 5, OB_MQTT_CONNACK},
        {5, {0x20, 8, 0, 0, 5, 0x22, 0, 10, 0x24, 1}, 10, OB_MQTT_CONNACK},
        {5, {0x20, 3, 0, 0x86, 0}, 5, OB_MQTT_CONNACK},
    };
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        decode_ok(&d, vec[i].v, vec[i].b, vec[i].n, &pkt);
        assert_int_equal(pkt.type, vec[i].type);
        encode_expect(vec[i].v, &pkt, vec[i].b, vec[i].n);
        ob_mqtt_decoder_release(&d);
    }
    decode_ok(&d, 5, vec[4].b, vec[4].n, &pkt);
    assert_int_equal(pkt.disconnect.reason, OB_MQTT_RC_SESSION_TAKEN_OVER);
    ob_mqtt_decoder_release(&d);
    decode_ok(&d, 5, vec[7].b, vec[7].n, &pkt);
    assert_int_equal(pkt.auth.reason, OB_MQTT_RC_CONTINUE_AUTH);
    assert_true(ob_slice_eq_str(pkt.props.auth_method, "X"));
    ob_mqtt_decoder_release(&d);
}

/* ---- variable-byte integers ------------------------------------------------------------ */

static void test_vbi(void **state)
{
    (void)state;
    static const uint32_t vals[] = {0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455};
    static const size_t lens[] = {1, 1, 1, 2, 2, 3, 3, 4, 4};
    for (size_t i = 0; i < 9; i++) {
        struct ob_buf b = OB_BUF_INIT;
        struct ob_mqtt_wr w = {&b, 0, 0};
        ob_mqtt_wr_vbi(&w, vals[i]);
        assert_int_equal(b.len, lens[i]);
        assert_int_equal(ob_mqtt_vbi_size(vals[i]), lens[i]);
        uint32_t v;
        assert_int_equal(ob_mqtt_vbi_decode(b.p, b.len, &v), (int)lens[i]);
        assert_int_equal(v, vals[i]);
        for (size_t k = 0; k < b.len; k++)
            assert_int_equal(ob_mqtt_vbi_decode(b.p, k, &v), 0);
        ob_buf_release(&b);
    }
    uint32_t v;
    /* Spec table 1.5.5 edges. */
    assert_int_equal(ob_mqtt_vbi_decode(BYTES(0xFF, 0xFF, 0xFF, 0x7F), &v), 4);
    assert_int_equal(v, 268435455);
    assert_int_equal(ob_mqtt_vbi_decode(BYTES(0x80, 0x01), &v), 2);
    assert_int_equal(v, 128);
    /* A fifth byte, and non-minimal encodings (1.5.5 "MUST use the minimum"). */
    assert_int_equal(ob_mqtt_vbi_decode(BYTES(0xFF, 0xFF, 0xFF, 0xFF, 0x01), &v), -1);
    assert_int_equal(ob_mqtt_vbi_decode(BYTES(0x80, 0x00), &v), -1);
    assert_int_equal(ob_mqtt_vbi_decode(BYTES(0xFF, 0x80, 0x00), &v), -1);
    assert_int_equal(ob_mqtt_vbi_decode(BYTES(0x80, 0x80, 0x80, 0x00), &v), -1);
}

/* ---- malformed and forbidden input ------------------------------------------------------ */

static void test_bad_fixed_header(void **state)
{
    (void)state;
    MALFORMED(4, 0x00, 0x00);                         /* packet type 0 */
    MALFORMED(4, 0x41, 0x02, 0x00, 0x01);             /* PUBACK flags */
    MALFORMED(4, 0x60, 0x02, 0x00, 0x01);             /* PUBREL flags must be 0010 */
    MALFORMED(5, 0x80, 0x06, 0, 1, 0, 1, 'a', 0);     /* SUBSCRIBE flags */
    MALFORMED(4, 0xA0, 0x05, 0, 1, 0, 1, 'a');        /* UNSUBSCRIBE flags */
    MALFORMED(4, 0xC1, 0x00);                         /* PINGREQ flags */
    MALFORMED(5, 0xE8, 0x00);                         /* DISCONNECT flags */
    MALFORMED(4, 0x36, 0x05, 0, 1, 'a', 0, 1);        /* PUBLISH QoS 3 */
    MALFORMED(5, 0x38, 0x04, 0, 1, 'a', 0);           /* DUP on QoS 0 */
    MALFORMED(4, 0xF0, 0x00);                         /* AUTH is v5 only */
    MALFORMED(4, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01); /* 5-byte remaining length */
    MALFORMED(4, 0xC0, 0x80, 0x00);                   /* non-minimal remaining length */
    MALFORMED(5, 0x30, 0x83, 0x80, 0x00);
    PROTOCOL(0, 0xC0, 0x00); /* not CONNECT first */
    /* 3.1 may set DUP on a resent SUBSCRIBE, UNSUBSCRIBE or PUBREL; 3.1.1 may not. */
    MALFORMED(4, 0x6A, 0x02, 0x00, 0x01);
    struct ob_mqtt_decoder d3;
    struct ob_mqtt_packet p3;
    decode_ok(&d3, 3, BYTES(0x6A, 0x02, 0x00, 0x01), &p3);
    assert_int_equal(p3.ack.packet_id, 1);
    ob_mqtt_decoder_release(&d3);
    decode_ok(&d3, 3, BYTES(0x8A, 6, 0, 1, 0, 1, 'a', 1), &p3);
    ob_mqtt_decoder_release(&d3);
    /* The error comes from the first byte: nothing after it is needed. */
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    size_t used;
    ob_mqtt_decoder_init(&d, 4, 0);
    assert_int_equal(ob_mqtt_decode(&d, BYTES(0x36), &used, &pkt), OB_EPROTO);
    assert_int_equal(d.err.type, OB_MQTT_PUBLISH);
    ob_mqtt_decoder_release(&d);
}

static void test_too_large(void **state)
{
    (void)state;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    size_t used;
    /* Announced 200 bytes against a limit of 100: refused from the header alone. */
    ob_mqtt_decoder_init(&d, 4, 100);
    assert_int_equal(ob_mqtt_decode(&d, BYTES(0x30, 0xC8, 0x01), &used, &pkt), OB_ETOOBIG);
    assert_int_equal(d.err.reason, OB_MQTT_RC_PACKET_TOO_LARGE);
    assert_int_equal(d.buf.cap, 0);
    ob_mqtt_decoder_release(&d);
    /* Split inside the header: still refused before any body byte arrives. */
    ob_mqtt_decoder_init(&d, 4, 100);
    assert_int_equal(ob_mqtt_decode(&d, BYTES(0x30, 0xC8), &used, &pkt), 0);
    assert_int_equal(ob_mqtt_decode(&d, BYTES(0x01), &used, &pkt), OB_ETOOBIG);
    ob_mqtt_decoder_release(&d);
    /* The limit counts the whole packet: 2 + 98 = 100 passes, 2 + 99 does not. */
    uint8_t big[102] = {0x30, 98, 0, 1, 't'};
    ob_mqtt_decoder_init(&d, 4, 100);
    assert_int_equal(ob_mqtt_decode(&d, big, 100, &used, &pkt), 1);
    assert_int_equal(pkt.publish.payload.n, 95);
    ob_mqtt_decoder_release(&d);
    big[1] = 99;
    ob_mqtt_decoder_init(&d, 4, 100);
    assert_int_equal(ob_mqtt_decode(&d, big, 101, &used, &pkt), OB_ETOOBIG);
    ob_mqtt_decoder_release(&d);
    /* With no configured limit, the protocol's maximum is accepted from the header. */
    ob_mqtt_decoder_init(&d, 4, 0);
    assert_int_equal(
        ob_mqtt_decode(&d, BYTES(0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, 't'), &used, &pkt), 0);
    ob_mqtt_decoder_release(&d);
}

static void test_bad_strings(void **state)
{
    (void)state;
    MALFORMED(4, 0x30, 0x05, 0, 9, 'a', 'b', 'c');          /* length past the end */
    MALFORMED(4, 0x30, 0x01, 0);                            /* half a length */
    MALFORMED(4, 0x30, 0x05, 0, 3, 'a', 0xC0, 0x80);        /* overlong NUL */
    MALFORMED(4, 0x30, 0x05, 0, 3, 'a', 0x00, 'b');         /* U+0000 */
    MALFORMED(5, 0x30, 0x06, 0, 3, 0xED, 0xA0, 0x80, 0);    /* surrogate U+D800 */
    MALFORMED(4, 0x30, 0x06, 0, 4, 0xF4, 0x90, 0x80, 0x80); /* beyond U+10FFFF */
    MALFORMED(4, 0x30, 0x04, 0, 2, 'a', 0x80);              /* lone continuation */
    MALFORMED(4, 0x30, 0x04, 0, 2, 0xE2, 0x82);             /* truncated sequence */
    MALFORMED(4, 0x30, 0x03, 0, 1, 0xFF);                   /* never valid */
    /* User property name with invalid UTF-8. */
    MALFORMED(5, 0x30, 0x0B, 0, 1, 't', 7, 0x26, 0, 1, 0xC3, 0, 1, 'v');
}

static void test_bad_topics(void **state)
{
    (void)state;
    expect_error(4, BYTES(0x30, 0x05, 0, 3, 'a', '/', '#'), OB_EPROTO,
                 OB_MQTT_RC_TOPIC_NAME_INVALID);
    expect_error(5, BYTES(0x30, 0x06, 0, 3, '+', '/', 'a', 0), OB_EPROTO,
                 OB_MQTT_RC_TOPIC_NAME_INVALID);
    PROTOCOL(4, 0x30, 0x03, 0, 0, 'x');       /* empty topic */
    PROTOCOL(5, 0x30, 0x03, 0, 0, 0);         /* empty topic, no alias */
    PROTOCOL(4, 0x32, 0x05, 0, 1, 't', 0, 0); /* QoS 1 with packet id 0 */
    /* Filters: '#' not last, '+' inside a level, '#' inside a level, empty. */
    static const char *bad[] = {"a/#/b", "a+", "a/b#", "#a", ""};
    for (size_t i = 0; i < 5; i++) {
        uint8_t b[32] = {0x82, 0, 0, 1, 0, 0};
        size_t n = strlen(bad[i]);
        b[1] = (uint8_t)(5 + n);
        b[5] = (uint8_t)n;
        memcpy(b + 6, bad[i], n);
        b[6 + n] = 0;
        expect_error(4, b, 7 + n, OB_EPROTO, OB_MQTT_RC_TOPIC_FILTER_INVALID);
        b[0] = 0xA2;
        b[1] = (uint8_t)(4 + n);
        expect_error(4, b, 6 + n, OB_EPROTO, OB_MQTT_RC_TOPIC_FILTER_INVALID);
    }
}

static void test_bad_connect(void **state)
{
    (void)state;
#define CONNECT_HDR(len, last, level, flags)                                                       \
    0x10, len, 0, 4, 'M', 'Q', 'T', last, level, flags, 0, 0
    expect_error(0, BYTES(CONNECT_HDR(12, 'X', 4, 2), 0, 0), OB_ENOTSUP,
                 OB_MQTT_RC_UNSUPPORTED_VERSION);
    expect_error(0, BYTES(CONNECT_HDR(12, 'T', 6, 2), 0, 0), OB_ENOTSUP,
                 OB_MQTT_RC_UNSUPPORTED_VERSION);
    expect_error(0, BYTES(CONNECT_HDR(12, 'T', 3, 2), 0, 0), OB_ENOTSUP,
                 OB_MQTT_RC_UNSUPPORTED_VERSION);
    MALFORMED(0, CONNECT_HDR(12, 'T', 4, 0x03), 0, 0);       /* reserved flag */
    MALFORMED(0, CONNECT_HDR(12, 'T', 4, 0x18), 0, 0);       /* will QoS 3 */
    MALFORMED(0, CONNECT_HDR(12, 'T', 4, 0x08), 0, 0);       /* will QoS, no will */
    MALFORMED(0, CONNECT_HDR(12, 'T', 4, 0x20), 0, 0);       /* will retain, no will */
    MALFORMED(0, CONNECT_HDR(14, 'T', 4, 0x40), 0, 0, 0, 0); /* pw, no user */
    MALFORMED(0, CONNECT_HDR(13, 'T', 4, 0x02), 0, 0, 9);    /* trailing */
    MALFORMED(0, CONNECT_HDR(12, 'T', 4, 0x80), 0, 0);       /* user missing */
    MALFORMED(0, 0x10, 3, 0, 4, 'M');                        /* truncated */
    expect_error(0, BYTES(CONNECT_HDR(20, 'T', 4, 0x06), 0, 0, 0, 3, 'a', '/', '+', 0, 1, 'x'),
                 OB_EPROTO, OB_MQTT_RC_TOPIC_NAME_INVALID);
    /* v5 properties inside CONNECT: a will-only property in the CONNECT block. */
    MALFORMED(0, CONNECT_HDR(18, 'T', 5, 0x02), 5, 0x18, 0, 0, 0, 1, 0, 0);
    /* ...and a CONNECT-only property in the will block. */
    MALFORMED(0, CONNECT_HDR(22, 'T', 5, 0x06), 0, 0, 0, 3, 0x21, 0, 1, 0, 1, 't', 0, 0);
#undef CONNECT_HDR
    /* CONNACK rules. */
    MALFORMED(4, 0x20, 2, 2, 0); /* reserved acknowledge flags */
    PROTOCOL(4, 0x20, 2, 1, 5);  /* session present on a refusal */
    PROTOCOL(5, 0x20, 3, 1, 0x80, 0);
    PROTOCOL(4, 0x20, 2, 0, 6); /* no such 3.1.1 return code */
    PROTOCOL(5, 0x20, 3, 0, 0x01, 0);
    MALFORMED(4, 0x20, 3, 0, 0, 0); /* 3.1.1 CONNACK is two bytes */
}

static void test_bad_properties(void **state)
{
    (void)state;
    /* PUBLISH "t" QoS 0 with a property block. */
#define PUB(len, plen, ...) 0x30, len, 0, 1, 't', plen, __VA_ARGS__
    PROTOCOL(5, PUB(10, 6, 0x03, 0, 0, 0x03, 0, 0));    /* content type twice */
    PROTOCOL(5, PUB(8, 4, 0x01, 1, 0x01, 1));           /* payload format twice */
    PROTOCOL(5, PUB(6, 2, 0x01, 2));                    /* payload format 2 */
    MALFORMED(5, PUB(6, 2, 0x05, 0));                   /* unknown identifier */
    MALFORMED(5, PUB(8, 4, 0x11, 0, 0, 0));             /* session expiry here */
    MALFORMED(5, 0x30, 4, 0, 1, 't', 9);                /* length past the end */
    MALFORMED(5, PUB(6, 2, 0x02, 0));                   /* truncated u32 */
    MALFORMED(5, PUB(7, 3, 0x0B, 0x80, 0x00));          /* non-minimal VBI */
    MALFORMED(5, PUB(6, 2, 0x80, 0x01));                /* 2-byte identifier */
    PROTOCOL(5, PUB(6, 2, 0x0B, 0));                    /* subscription id 0 */
    PROTOCOL(5, PUB(10, 6, 0x08, 0, 3, 'a', '/', '#')); /* wildcard response topic */
    PROTOCOL(5, PUB(10, 6, 0x09, 0, 0, 0x09, 0, 0));    /* correlation twice */
    expect_error(5, BYTES(PUB(7, 3, 0x23, 0, 0)), OB_EPROTO, OB_MQTT_RC_TOPIC_ALIAS_INVALID);
#undef PUB
    /* CONNACK bounds. */
    PROTOCOL(5, 0x20, 6, 0, 0, 3, 0x21, 0, 0);       /* receive maximum 0 */
    PROTOCOL(5, 0x20, 8, 0, 0, 5, 0x27, 0, 0, 0, 0); /* maximum packet size 0 */
    PROTOCOL(5, 0x20, 5, 0, 0, 2, 0x24, 2);          /* maximum QoS 2 */
    PROTOCOL(5, 0x20, 5, 0, 0, 2, 0x25, 7);          /* retain available 7 */
    PROTOCOL(5, 0x20, 6, 0, 0, 3, 0x16, 0, 0);       /* auth data without method */
    /* SUBSCRIBE: two subscription identifiers. */
    PROTOCOL(5, 0x82, 11, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 0);
    /* AUTH with a user property twice is fine; with a reason string twice it is not. */
    PROTOCOL(5, 0xF0, 8, 0x18, 6, 0x1F, 0, 0, 0x1F, 0, 0);
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    decode_ok(&d, 5, BYTES(0xF0, 13, 0x19, 11, 0x26, 0, 0, 0, 0, 0x26, 0, 1, 'a', 0, 0), &pkt);
    assert_int_equal(pkt.props.nuser, 2);
    ob_mqtt_decoder_release(&d);
}

static void test_bad_bodies(void **state)
{
    (void)state;
    PROTOCOL(4, 0x40, 2, 0, 0);                      /* PUBACK packet id 0 */
    MALFORMED(4, 0x40, 3, 0, 1, 0);                  /* 3.1.1 PUBACK is two bytes */
    MALFORMED(4, 0x40, 1, 0);                        /* truncated */
    PROTOCOL(5, 0x40, 3, 0, 1, 0x05);                /* not a PUBACK reason */
    PROTOCOL(5, 0x62, 3, 0, 1, 0x10);                /* not a PUBREL reason */
    MALFORMED(5, 0x40, 5, 0, 1, 0, 0, 9);            /* trailing after properties */
    PROTOCOL(4, 0x82, 2, 0, 1);                      /* SUBSCRIBE without filters */
    PROTOCOL(4, 0x82, 6, 0, 0, 0, 1, 'a', 0);        /* SUBSCRIBE packet id 0 */
    MALFORMED(4, 0x82, 5, 0, 1, 0, 1, 'a');          /* filter without options */
    MALFORMED(4, 0x82, 6, 0, 1, 0, 1, 'a', 4);       /* 3.1.1 options reserved bits */
    MALFORMED(5, 0x82, 7, 0, 1, 0, 0, 1, 'a', 0x40); /* v5 options reserved bits */
    MALFORMED(4, 0x82, 6, 0, 1, 0, 1, 'a', 3);       /* QoS 3 */
    PROTOCOL(5, 0x82, 7, 0, 1, 0, 0, 1, 'a', 0x30);  /* retain handling 3 */
    /* no local on a shared subscription (3.8.3.1). */
    PROTOCOL(5, 0x82, 16, 0, 1, 0, 0, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'a', 4);
    PROTOCOL(4, 0xA2, 2, 0, 1);          /* UNSUBSCRIBE without filters */
    PROTOCOL(4, 0x90, 2, 0, 1);          /* SUBACK without codes */
    PROTOCOL(4, 0x90, 3, 0, 1, 0x87);    /* 0x87 is v5 only */
    PROTOCOL(5, 0x90, 4, 0, 1, 0, 0x10); /* not a SUBACK reason */
    MALFORMED(4, 0xB0, 3, 0, 1, 0);      /* 3.1.1 UNSUBACK is two bytes */
    PROTOCOL(5, 0xB0, 3, 0, 1, 0);       /* v5 UNSUBACK without codes */
    MALFORMED(4, 0xC0, 1, 0);            /* PINGREQ with a body */
    MALFORMED(5, 0xD0, 1, 0);
    MALFORMED(4, 0xE0, 1, 0);    /* 3.1.1 DISCONNECT is empty */
    PROTOCOL(5, 0xE0, 1, 0x03);  /* not a DISCONNECT reason */
    PROTOCOL(5, 0xF0, 1, 0x01);  /* not an AUTH reason */
    MALFORMED(5, 0xE0, 2, 0, 1); /* property length past end */
}

/* ---- encoder refusals --------------------------------------------------------------------- */

static void test_encode_refusals(void **state)
{
    (void)state;
    struct ob_buf b = OB_BUF_INIT;
    struct ob_mqtt_packet p = {.type = OB_MQTT_PUBLISH, .publish = {.topic = S("t")}};
    p.publish.qos = 3;
    assert_int_equal(ob_mqtt_encode(&b, 4, &p), OB_EINVAL);
    p.publish.qos = 1; /* packet id 0 */
    assert_int_equal(ob_mqtt_encode(&b, 4, &p), OB_EINVAL);
    p.publish.qos = 0;
    p.publish.dup = true;
    assert_int_equal(ob_mqtt_encode(&b, 4, &p), OB_EINVAL);
    p.publish.dup = false;
    p.props.present = BIT(OB_MQTT_PROP_SESSION_EXPIRY); /* not a PUBLISH property */
    assert_int_equal(ob_mqtt_encode(&b, 5, &p), OB_EINVAL);
    assert_int_equal(ob_mqtt_encode(&b, 4, &p), 0);  /* v3 and v4 ignore v5 fields */
    p.props.present = BIT(OB_MQTT_PROP_TOPIC_ALIAS); /* alias 0 */
    assert_int_equal(ob_mqtt_encode(&b, 5, &p), OB_EINVAL);
    p.props.present = 0;
    p.publish.topic = (struct ob_slice){NULL, 0};
    assert_int_equal(ob_mqtt_encode(&b, 4, &p), OB_EINVAL);
    size_t len = b.len;
    /* Over-long string, then over the protocol's size. */
    uint8_t *huge = ob_xcalloc(1, 70000);
    p.publish.topic = ob_slice_make(huge, 70000);
    assert_int_equal(ob_mqtt_encode(&b, 4, &p), OB_EINVAL);
    p.publish.topic = (struct ob_slice)S("t");
    p.publish.payload = ob_slice_make(huge, OB_MQTT_MAX_REMAINING); /* never read */
    assert_int_equal(ob_mqtt_encode_publish_header(&b, 4, &p), OB_ETOOBIG);
    assert_int_equal(b.len, len); /* untouched by failures */
    free(huge);
    /* Other types. */
    struct ob_mqtt_packet q = {.type = OB_MQTT_AUTH};
    assert_int_equal(ob_mqtt_encode(&b, 4, &q), OB_EINVAL);
    q = (struct ob_mqtt_packet){.type = OB_MQTT_PUBACK};
    assert_int_equal(ob_mqtt_encode(&b, 4, &q), OB_EINVAL);
    q = (struct ob_mqtt_packet){.type = OB_MQTT_SUBSCRIBE, .subscribe = {.packet_id = 1}};
    assert_int_equal(ob_mqtt_encode(&b, 4, &q), OB_EINVAL);
    q = (struct ob_mqtt_packet){.type = OB_MQTT_SUBACK,
                                .suback = {.packet_id = 1, .reasons = S("\x87")}};
    assert_int_equal(ob_mqtt_encode(&b, 4, &q), OB_EINVAL);
    assert_int_equal(ob_mqtt_encode(&b, 5, &q), 0);
    q = (struct ob_mqtt_packet){.type = OB_MQTT_CONNECT,
                                .connect = {.version = 4, .has_password = true}};
    assert_int_equal(ob_mqtt_encode(&b, 0, &q), OB_EINVAL);
    q.connect.version = 5;
    assert_int_equal(ob_mqtt_encode(&b, 0, &q), 0);
    q.connect.version = 6;
    assert_int_equal(ob_mqtt_encode(&b, 0, &q), OB_EINVAL);
    q = (struct ob_mqtt_packet){.type = OB_MQTT_CONNACK,
                                .connack = {.session_present = true, .reason = 0x80}};
    assert_int_equal(ob_mqtt_encode(&b, 5, &q), OB_EINVAL);
    q = (struct ob_mqtt_packet){.type = OB_MQTT_AUTH,
                                .props = {.present = BIT(OB_MQTT_PROP_AUTH_DATA)}};
    assert_int_equal(ob_mqtt_encode(&b, 5, &q), OB_EINVAL); /* data without method */
    q = (struct ob_mqtt_packet){.type = 0};
    assert_int_equal(ob_mqtt_encode(&b, 5, &q), OB_EINVAL);
    q = (struct ob_mqtt_packet){.type = OB_MQTT_PINGREQ, .props = {.nuser = 1, .user = users}};
    assert_int_equal(ob_mqtt_encode(&b, 5, &q), OB_EINVAL);
    ob_buf_release(&b);
}

/* The session's sequence: a decoder that knows no version takes only CONNECT, then is told
 * the level the CONNECT carried. */
static void test_session_flow(void **state)
{
    (void)state;
    struct ob_mqtt_decoder d;
    struct ob_mqtt_packet pkt;
    size_t used;
    static const uint8_t in[] = {0x10, 13, 0,    4, 'M', 'Q', 'T', 'T', 5,    2, 0, 60,   0,
                                 0,    0,  0x30, 7, 0,   1,   't', 3,   0x23, 0, 7, 0xE0, 0};
    ob_mqtt_decoder_init(&d, 0, 0);
    assert_int_equal(ob_mqtt_decode(&d, in, sizeof in, &used, &pkt), 1);
    assert_int_equal(used, 15);
    assert_int_equal(pkt.connect.version, OB_MQTT_V5);
    assert_int_equal(d.version, 0); /* the session decides */
    ob_mqtt_decoder_set_version(&d, pkt.connect.version);
    assert_int_equal(ob_mqtt_decode(&d, in + 15, sizeof in - 15, &used, &pkt), 1);
    assert_int_equal(pkt.props.topic_alias, 7);
    assert_int_equal(ob_mqtt_decode(&d, in + 24, 2, &used, &pkt), 1);
    assert_int_equal(pkt.type, OB_MQTT_DISCONNECT);
    ob_mqtt_decoder_release(&d);
}

/* ob_mqtt_packet_equal notices a difference in any field. */
static void test_equality(void **state)
{
    (void)state;
    struct ob_mqtt_packet pk[40];
    size_t n = samples(OB_MQTT_V5, pk);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++)
            if (i != j && pk[i].type == pk[j].type)
                assert_false(ob_mqtt_packet_equal(&pk[i], &pk[j]));
        assert_true(ob_mqtt_packet_equal(&pk[i], &pk[i]));
    }
    struct ob_mqtt_packet a = pk[0], b = pk[0]; /* CONNECT with full properties */
    static const struct ob_header other_users[] = {{S("k1"), S("v1")}, {S("k2"), S("x")}};
    b.props.user = other_users;
    b.props.nuser = 2;
    assert_false(ob_mqtt_packet_equal(&a, &b));
    a.props.nuser = 2;
    assert_false(ob_mqtt_packet_equal(&a, &b));
    a.props.user = other_users;
    assert_true(ob_mqtt_packet_equal(&a, &b));
    b.props.receive_maximum++;
    assert_false(ob_mqtt_packet_equal(&a, &b));
    b = a;
    b.props.auth_method = (struct ob_slice)S("other");
    assert_false(ob_mqtt_packet_equal(&a, &b));
    struct ob_mqtt_props x = full_props(OB_MQTT_PUBLISH), y = x;
    static const uint32_t ids[] = {1, 127, 128, 5};
    y.sub_ids = ids;
    assert_false(ob_mqtt_props_equal(&x, &y));
    y.nsub_ids = 3;
    assert_false(ob_mqtt_props_equal(&x, &y));
    assert_true(ob_mqtt_props_empty(&(struct ob_mqtt_props){0}));
    assert_false(ob_mqtt_props_empty(&x));
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(ob_mqtt_type_name(OB_MQTT_CONNECT), "CONNECT");
    assert_string_equal(ob_mqtt_type_name(OB_MQTT_AUTH), "AUTH");
    assert_string_equal(ob_mqtt_type_name(16), "INVALID");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_versions),
        cmocka_unit_test(test_stream_of_packets),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_vector_connect),
        cmocka_unit_test(test_vector_publish),
        cmocka_unit_test(test_vector_acks),
        cmocka_unit_test(test_vector_subscribe),
        cmocka_unit_test(test_vector_control),
        cmocka_unit_test(test_vbi),
        cmocka_unit_test(test_bad_fixed_header),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bad_topics),
        cmocka_unit_test(test_bad_connect),
        cmocka_unit_test(test_bad_properties),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_encode_refusals),
        cmocka_unit_test(test_session_flow),
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
