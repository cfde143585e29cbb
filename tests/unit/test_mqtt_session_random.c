/* test_mqtt_session_random.c — random conversations with the broker, in-process on a
 * durable bus: several connections sharing a few client ids (takeovers), random valid
 * packets of every type with random fields (QoS, packet ids, aliases, options, shared
 * filters, clean or persistent sessions), a few corrupted bytes, random input splits,
 * transports dying inside writes, and bus restarts. Nothing may crash or leak (run it
 * under ASan: build with -DOB_SANITIZE=ON), and the broker must still answer at the end.
 * OB_TEST_SEED varies the run; OB_TEST_ROUNDS its length. The fake transport and
 * helpers are those of test_mqtt_session.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "core/auth.h"
#include "proto/mqtt/codec.h"
#include "proto/mqtt/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_mqtt_fixture.h"

static int make_dir(void **state)
{
    (void)state;
    return ob_test_mkdtemp("mqtt-random");
}

static int remove_dir(void **state)
{
    (void)state;
    return ob_test_rmtemp();
}

/* ---- random conversations --------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? (uint32_t)(rng_state % n) : 0;
}

static const char *const topics[] = {"t/1", "t/2", "x", "t/1/deep", "$SYS/x"};
static const char *const filters[] = {"t/#", "+/1",          "x",          "#",
                                      "t/+", "$share/g/t/#", "$share/h/x", "$SYS/#"};
static const char *const ids[] = {"r-a", "r-b", "r-c", ""};

static void random_props(struct ob_mqtt_packet *p, uint8_t v, struct ob_header *user)
{
    if (v != OB_MQTT_V5) return;
    if (rnd(4) == 0) {
        p->props.present |= 1ull << OB_MQTT_PROP_MESSAGE_EXPIRY;
        p->props.message_expiry = rnd(3);
    }
    if (rnd(5) == 0) {
        user->name = ob_slice_str("k");
        user->value = ob_slice_str("v");
        p->props.present |= 1ull << OB_MQTT_PROP_USER;
        p->props.user = user;
        p->props.nuser = 1;
    }
}

static void make_connect(struct ob_mqtt_packet *p, uint8_t v)
{
    p->type = OB_MQTT_CONNECT;
    p->connect.version = v;
    p->connect.clean_start = rnd(2);
    p->connect.keep_alive = (uint16_t)rnd(100);
    p->connect.client_id = ob_slice_str(ids[rnd(4)]);
    if (v == OB_MQTT_V5 && rnd(2)) {
        p->props.present |= 1ull << OB_MQTT_PROP_SESSION_EXPIRY;
        p->props.session_expiry = rnd(3) ? 60 : 0;
    }
    if (v == OB_MQTT_V5 && rnd(3) == 0) {
        p->props.present |= 1ull << OB_MQTT_PROP_RECEIVE_MAXIMUM;
        p->props.receive_maximum = (uint16_t)(1 + rnd(3));
    }
    if (v == OB_MQTT_V5 && rnd(3) == 0) {
        p->props.present |= 1ull << OB_MQTT_PROP_TOPIC_ALIAS_MAXIMUM;
        p->props.topic_alias_maximum = (uint16_t)rnd(3);
    }
    if (rnd(3) == 0) {
        p->connect.will = true;
        p->connect.will_qos = (uint8_t)rnd(3);
        p->connect.will_retain = rnd(2);
        p->connect.will_topic = ob_slice_str(topics[rnd(3)]);
        p->connect.will_payload = ob_slice_str("will");
        if (v == OB_MQTT_V5 && rnd(2)) {
            p->connect.will_props.present |= 1ull << OB_MQTT_PROP_WILL_DELAY;
            p->connect.will_props.will_delay = rnd(2);
        }
    }
}

/* One random packet (valid as far as the encoder can tell). */
static void make_packet(struct ob_mqtt_packet *p, uint8_t v, struct ob_mqtt_sub *sub,
                        struct ob_slice *unsub, struct ob_header *user)
{
    memset(p, 0, sizeof *p);
    uint16_t pid = (uint16_t)(1 + rnd(6));
    switch (rnd(12)) {
    case 0:
    case 1:
    case 2:
    case 3:
        p->type = OB_MQTT_PUBLISH;
        p->publish.qos = (uint8_t)rnd(3);
        p->publish.retain = rnd(4) == 0;
        p->publish.dup = p->publish.qos && rnd(4) == 0;
        p->publish.packet_id = p->publish.qos ? pid : 0;
        p->publish.topic = ob_slice_str(topics[rnd(5)]);
        p->publish.payload = rnd(5) ? ob_slice_str("payload") : ob_slice_make(NULL, 0);
        if (v == OB_MQTT_V5 && rnd(4) == 0) {
            p->props.present |= 1ull << OB_MQTT_PROP_TOPIC_ALIAS;
            p->props.topic_alias = (uint16_t)(1 + rnd(70));
            if (rnd(2)) p->publish.topic = ob_slice_make(NULL, 0);
        }
        random_props(p, v, user);
        break;
    case 4:
    case 5:
        p->type = OB_MQTT_SUBSCRIBE;
        p->subscribe.packet_id = pid;
        sub->filter = ob_slice_str(filters[rnd(8)]);
        sub->qos = (uint8_t)rnd(3);
        if (v == OB_MQTT_V5) {
            sub->no_local = rnd(3) == 0 && sub->filter.p[0] != '$';
            sub->retain_as_published = rnd(2);
            sub->retain_handling = (uint8_t)rnd(3);
            if (rnd(3) == 0) {
                p->props.present |= 1ull << OB_MQTT_PROP_SUBSCRIPTION_ID;
                static uint32_t sid;
                sid = 1 + rnd(9);
                p->props.sub_ids = &sid;
                p->props.nsub_ids = 1;
            }
        }
        p->subscribe.subs = sub;
        p->subscribe.nsubs = 1;
        break;
    case 6:
        p->type = OB_MQTT_UNSUBSCRIBE;
        p->unsubscribe.packet_id = pid;
        *unsub = ob_slice_str(filters[rnd(8)]);
        p->unsubscribe.filters = unsub;
        p->unsubscribe.nfilters = 1;
        break;
    case 7:
    case 8:
        p->type = (uint8_t)(OB_MQTT_PUBACK + rnd(4)); /* PUBACK..PUBCOMP */
        p->ack.packet_id = pid;
        break;
    case 9:
        p->type = OB_MQTT_PINGREQ;
        break;
    case 10:
        p->type = rnd(8) ? OB_MQTT_PINGREQ : OB_MQTT_DISCONNECT;
        if (v == OB_MQTT_V5 && rnd(2)) p->disconnect.reason = OB_MQTT_RC_DISCONNECT_WITH_WILL;
        break;
    default:
        p->type = v == OB_MQTT_V5 && rnd(10) == 0 ? OB_MQTT_AUTH : OB_MQTT_PINGREQ;
        if (p->type == OB_MQTT_AUTH) p->auth.reason = OB_MQTT_RC_CONTINUE_AUTH;
        break;
    }
}

/* Encodes pkt, maybe corrupts a byte, feeds it in random pieces. */
static void feed_random(struct fake *f, uint8_t v, const struct ob_mqtt_packet *pkt)
{
    struct ob_buf b = OB_BUF_INIT;
    if (ob_mqtt_encode(&b, v, pkt) == 0 && b.len) {
        if (rnd(40) == 0) b.p[rnd((uint32_t)b.len)] ^= (uint8_t)(1 + rnd(255));
        size_t off = 0;
        while (off < b.len && !f->closed) {
            size_t n = 1 + rnd((uint32_t)(b.len - off));
            ob_mqtt_conn_input(f->c, b.p + off, n);
            off += n;
        }
    }
    ob_buf_release(&b);
    f->out.len = 0; /* what the server says is not checked here */
}

#define NCONN 4

static void one_round(struct env *e, struct fake **fs, uint8_t *vs)
{
    for (int i = 0; i < NCONN; i++) {
        if (fs[i] && !fs[i]->closed && rnd(6)) continue;
        if (fs[i]) fake_free(fs[i]);
        fs[i] = fake_new(e);
        vs[i] = rnd(2) ? OB_MQTT_V5 : OB_MQTT_V311;
        struct ob_mqtt_packet p;
        memset(&p, 0, sizeof p);
        make_connect(&p, vs[i]);
        feed_random(fs[i], vs[i], &p);
    }
    for (int k = 0; k < 40; k++) {
        int i = (int)rnd(NCONN);
        if (fs[i]->closed) continue;
        struct ob_mqtt_sub sub = {0};
        struct ob_slice unsub;
        struct ob_header user;
        struct ob_mqtt_packet p;
        make_packet(&p, vs[i], &sub, &unsub, &user);
        fs[i]->die_on_write = rnd(200) == 0;
        feed_random(fs[i], vs[i], &p);
        if (rnd(8) == 0) pump(e);
    }
    pump(e);
}

static void test_random_conversations(void **state)
{
    (void)state;
    const char *seed = getenv("OB_TEST_SEED"), *rounds = getenv("OB_TEST_ROUNDS");
    rng_state = seed ? strtoull(seed, NULL, 10) : 0x9E3779B97F4A7C15ull;
    if (!rng_state) rng_state = 1;
    int n = rounds ? atoi(rounds) : 150;
    struct env e;
    env_open(&e);
    struct fake *fs[NCONN] = {0};
    uint8_t vs[NCONN] = {0};
    for (int r = 0; r < n; r++) {
        one_round(&e, fs, vs);
        if (r % 50 == 49) { /* a restart: every connection goes, the bus reopens */
            for (int i = 0; i < NCONN; i++) {
                fake_free(fs[i]);
                fs[i] = NULL;
            }
            pump(&e);
            env_close(&e);
            env_open(&e);
        }
    }
    for (int i = 0; i < NCONN; i++)
        if (fs[i]) fake_free(fs[i]);
    pump(&e);
    /* Still serving. */
    struct fake *f = fake_new(&e);
    struct ob_mqtt_packet p = {.type = OB_MQTT_CONNECT};
    p.connect.version = OB_MQTT_V311;
    p.connect.clean_start = true;
    p.connect.client_id = ob_slice_str("r-final");
    send_pkt(f, OB_MQTT_V311, &p);
    struct ob_buf k = OB_BUF_INIT;
    struct ob_mqtt_packet a;
    assert_true(next_pkt(f, OB_MQTT_V311, &a, &k));
    assert_int_equal(a.type, OB_MQTT_CONNACK);
    assert_int_equal(a.connack.reason, 0);
    ob_buf_release(&k);
    fake_free(f);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_conversations),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
