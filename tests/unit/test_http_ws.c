/* test_http_ws.c — the WebSocket codec, modelled on the Autobahn test-case list as far
 * as a codec can express it: sections 1 (framing), 2 (ping/pong), 3 (reserved bits),
 * 4 (opcodes), 5 (fragmentation), 6 (UTF-8, fail fast), 7 (close), 9 (limits), each
 * case also fed split at every byte and one byte at a time. Plus masking, length
 * encoding, the encoder, SHA-1 (RFC 3174 vectors), Sec-WebSocket-Accept (RFC 6455
 * example), the handshake checks and permessage-deflate negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "base/buf.h"
#include "base/crc32c.h"
#include "http/h1.h"
#include "http/sha1.h"
#include "http/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a frame with an arbitrary first byte (so tests can set reserved bits and
 * opcodes the encoder refuses), minimally encoded length, masked if masked. */
static void put_frame(struct ob_buf *b, unsigned b0, const void *p, size_t n, bool masked)
{
    uint8_t h[OB_WS_HEADER_MAX];
    size_t k = ob_ws_encode_header(h, b0 & 0x0F, b0 & 0xC0, n, masked ? key : NULL);
    h[0] = (uint8_t)b0;
    ob_buf_append(b, h, k);
    size_t at = b->len;
    ob_buf_append(b, p, n);
    if (masked && n) ob_ws_mask(b->p + at, n, key, 0);
}

/* A client frame (masked), as a server receives it. */
static void cframe(struct ob_buf *b, unsigned b0, const char *s)
{
    put_frame(b, b0, s, strlen(s), true);
}

#define FIN   0x80u
#define TEXT  0x1u
#define BIN   0x2u
#define CONT  0x0u
#define CLOSE 0x8u
#define PING  0x9u
#define PONG  0xAu

/* ---- a driver that logs what a reader produced ----------------------------------- */

static void log_payload(struct ob_buf *log, struct ob_slice p)
{
    if (p.n > 48) {
        ob_buf_printf(log, "n=%zu,crc=%08x", p.n, ob_crc32c(0, p.p, p.n));
        return;
    }
    for (size_t i = 0; i < p.n; i++) {
        if (p.p[i] >= 0x20 && p.p[i] < 0x7f && p.p[i] != '\\')
            ob_buf_putc(log, p.p[i]);
        else
            ob_buf_printf(log, "\\x%02x", p.p[i]);
    }
}

static void log_message(struct ob_buf *log, const struct ob_ws_message *m)
{
    static const char *const names[16] = {
        [1] = "TEXT", [2] = "BIN", [8] = "CLOSE", [9] = "PING", [10] = "PONG"};
    ob_buf_printf(log, "%s%s(", names[m->opcode], m->compressed ? "z" : "");
    if (m->opcode == OB_WS_OP_CLOSE) {
        ob_buf_printf(log, "%u,", m->close_code);
        log_payload(log, m->close_reason);
    } else {
        log_payload(log, m->payload);
    }
    ob_buf_append(log, ")", 1);
}

/* Feeds in[0..n) to a reader in pieces ending at cuts[], each piece in its own
 * allocation. Returns the log, e.g. "TEXT(hi)PING()ERR(1002)"; "…" marks input that
 * ended mid-message. */
static char *read_log(const struct ob_ws_config *cfg, const uint8_t *in, size_t n,
                      const size_t *cuts, size_t ncuts)
{
    struct ob_ws_reader r;
    struct ob_buf log = OB_BUF_INIT;
    ob_ws_reader_init(&r, cfg);
    size_t fed = 0;
    bool failed = false;
    for (size_t k = 0; k <= ncuts && !failed; k++) {
        size_t to = k < ncuts ? cuts[k] : n, m = to - fed, off = 0;
        uint8_t *piece = malloc(m + 1);
        if (m) memcpy(piece, in + fed, m);
        fed = to;
        for (;;) {
            struct ob_ws_message msg;
            size_t used = 0;
            int rc = ob_ws_read(&r, piece + off, m - off, &msg, &used);
            assert_true(used <= m - off);
            off += used;
            if (rc == 1) {
                log_message(&log, &msg);
                continue;
            }
            if (rc == OB_EAGAIN) {
                assert_int_equal(off, m);
                break;
            }
            assert_true(rc == OB_EPROTO || rc == OB_ETOOBIG);
            ob_buf_printf(&log, "ERR(%u)", r.parser.close_code);
            failed = true;
            break;
        }
        free(piece);
    }
    if (!failed && (r.parser.state != 0 || r.parser.nhdr || r.parser.in_message))
        ob_buf_append(&log, "...", 3);
    ob_buf_putc(&log, 0);
    ob_ws_reader_release(&r);
    return (char *)log.p;
}

/* Checks the log for in, whole, split at every byte (up to a size), and bytewise. */
static void expect_log(const struct ob_ws_config *cfg, const struct ob_buf *in, const char *want,
                       const char *name)
{
    char *whole = read_log(cfg, in->p, in->len, NULL, 0);
    if (strcmp(whole, want)) fail_msg("%s: got %s, expected %s", name, whole, want);
    size_t n = in->len, step = n <= 4096 ? 1 : n / 97;
    for (size_t k = 0; k <= n; k += step) {
        char *split = read_log(cfg, in->p, n, &k, 1);
        if (strcmp(split, want)) fail_msg("%s: split at %zu: %s", name, k, split);
        free(split);
    }
    if (n <= 4096) {
        size_t *cuts = malloc((n + 1) * sizeof *cuts);
        for (size_t k = 0; k < n; k++)
            cuts[k] = k + 1;
        char *bytewise = read_log(cfg, in->p, n, cuts, n);
        if (strcmp(bytewise, want)) fail_msg("%s: bytewise: %s", name, bytewise);
        free(bytewise);
        free(cuts);
    }
    free(whole);
}

static const struct ob_ws_config server = {OB_WS_SERVER, false, 0};

/* ---- Autobahn 1: framing --------------------------------------------------------- */

static void test_ab1_framing(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 125, 126, 127, 128, 65535, 65536};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (unsigned op = TEXT; op <= BIN; op++) {
            struct ob_buf in = OB_BUF_INIT, want = OB_BUF_INIT;
            uint8_t *p = malloc(sizes[s] + 1);
            memset(p, '*', sizes[s]);
            put_frame(&in, FIN | op, p, sizes[s], true);
            struct ob_ws_message m = {.opcode = (uint8_t)op, .payload = ob_slice_make(p, sizes[s])};
            log_message(&want, &m);
            ob_buf_putc(&want, 0);
            expect_log(&server, &in, (char *)want.p, "1.x");
            free(p);
            ob_buf_release(&in);
            ob_buf_release(&want);
        }
    }
}

/* The length field's three encodings are parsed exactly. */
static void test_length_encodings(void **state)
{
    (void)state;
    struct ob_ws_parser p;
    struct ob_ws_piece pc;
    size_t used;
    uint8_t h[OB_WS_HEADER_MAX];
    static const uint64_t lens[] = {
        0, 125, 126, 65535, 65536, UINT64_C(1) << 40, (UINT64_C(1) << 63) - 1};
    static const size_t hlen[] = {2, 2, 4, 4, 10, 10, 10};
    struct ob_ws_config big = {OB_WS_CLIENT, false, UINT64_MAX};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = ob_ws_encode_header(h, OB_WS_OP_BINARY, OB_WS_FIN, lens[k], NULL);
        assert_int_equal(n, hlen[k]);
        ob_ws_parser_init(&p, &big);
        int rc = ob_ws_parse(&p, h, n, &pc, &used);
        assert_int_equal(used, n);
        assert_true(p.frame.len == lens[k]);
        assert_int_equal(rc, lens[k] ? OB_EAGAIN : 1);
    }
}

/* Non-minimal lengths and a 64-bit length with the top bit set are protocol errors. */
static void test_bad_lengths(void **state)
{
    (void)state;
    static const uint8_t cases[][10] = {
        {0x82, 126, 0x00, 0x7d},                         /* 125 in 16 bits */
        {0x82, 126, 0x00, 0x00},                         /* 0 in 16 bits */
        {0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff},       /* 65535 in 64 bits */
        {0x82, 127, 0, 0, 0, 0, 0, 0, 0x00, 0x7e},       /* 126 in 64 bits */
        {0x82, 127, 0x80, 0, 0, 0, 0, 0x01, 0x00, 0x00}, /* MSB set */
        {0x82, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
    };
    static const size_t lens[] = {4, 4, 10, 10, 10, 10};
    struct ob_ws_config client = {OB_WS_CLIENT, false, UINT64_MAX};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        struct ob_buf in = OB_BUF_INIT;
        ob_buf_append(&in, cases[k], lens[k]);
        expect_log(&client, &in, "ERR(1002)", "bad length");
        ob_buf_release(&in);
    }
}

/* ---- Autobahn 2: pings and pongs ------------------------------------------------- */

static void test_ab2_ping_pong(void **state)
{
    (void)state;
    struct ob_buf in = OB_BUF_INIT;
    uint8_t bin[8] = {0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff};
    char p125[126], p126[127];
    memset(p125, 'x', 125);
    p125[125] = 0;
    memset(p126, 'x', 126);
    p126[126] = 0;
    cframe(&in, FIN | PING, "");                       /* 2.1 */
    cframe(&in, FIN | PING, "Hello, world!");          /* 2.2 */
    put_frame(&in, FIN | PING, bin, sizeof bin, true); /* 2.3 */
    cframe(&in, FIN | PING, p125);                     /* 2.4 */
    cframe(&in, FIN | PONG, "unsolicited");            /* 2.7, 2.8 */
    char want[256];
    snprintf(want, sizeof want,
             "PING()PING(Hello, world!)PING(\\x00\\xff\\xfe\\xfd\\xfc\\xfb\\x00\\xff)"
             "PING(n=125,crc=%08x)PONG(unsolicited)",
             ob_crc32c(0, p125, 125));
    expect_log(&server, &in, want, "2.1-2.8");
    in.len = 0;
    cframe(&in, FIN | PING, p126); /* 2.5: control frame over 125 bytes */
    expect_log(&server, &in, "ERR(1002)", "2.5");
    in.len = 0;
    for (int k = 0; k < 10; k++)
        cframe(&in, FIN | PING, "p"); /* 2.10 */
    expect_log(&server, &in,
               "PING(p)PING(p)PING(p)PING(p)PING(p)PING(p)PING(p)PING(p)PING(p)PING(p)", "2.10");
    ob_buf_release(&in);
}

/* ---- Autobahn 3: reserved bits --------------------------------------------------- */

static void test_ab3_reserved_bits(void **state)
{
    (void)state;
    static const unsigned firsts[] = {
        FIN | TEXT | 0x40,  /* 3.1 RSV1 without an extension */
        FIN | TEXT | 0x20,  /* 3.2 RSV2 */
        FIN | TEXT | 0x10,  /* 3.3 RSV3 */
        FIN | BIN | 0x30,   /* 3.5 */
        FIN | PING | 0x50,  /* 3.6 */
        FIN | CLOSE | 0x70, /* 3.7 */
    };
    for (size_t k = 0; k < sizeof firsts / sizeof firsts[0]; k++) {
        struct ob_buf in = OB_BUF_INIT;
        cframe(&in, FIN | TEXT, "ok");
        cframe(&in, firsts[k], "bad");
        cframe(&in, FIN | PING, "never");
        expect_log(&server, &in, "TEXT(ok)ERR(1002)", "3.x");
        ob_buf_release(&in);
    }
}

/* ---- Autobahn 4: opcodes --------------------------------------------------------- */

static void test_ab4_opcodes(void **state)
{
    (void)state;
    static const unsigned ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        struct ob_buf in = OB_BUF_INIT;
        cframe(&in, FIN | TEXT, "ok");
        cframe(&in, FIN | ops[k], "reserved");
        cframe(&in, FIN | PING, "never");
        expect_log(&server, &in, "TEXT(ok)ERR(1002)", "4.x");
        ob_buf_release(&in);
    }
}

/* ---- Autobahn 5: fragmentation --------------------------------------------------- */

struct frag_case {
    const char *name;
    const unsigned b0[6]; /* first bytes; 0xFF ends the list */
    const char *payload[6];
    const char *want;
};

static const struct frag_case frags[] = {
    {"5.1 fragmented ping", {PING, FIN | CONT, 0xFF}, {"frag1", "frag2"}, "ERR(1002)"},
    {"5.2 fragmented pong", {PONG, FIN | CONT, 0xFF}, {"frag1", "frag2"}, "ERR(1002)"},
    {"5.3 text in two", {TEXT, FIN | CONT, 0xFF}, {"frag1", "frag2"}, "TEXT(frag1frag2)"},
    {"5.4 text, unfinished", {TEXT, 0xFF}, {"frag1"}, "..."},
    {"5.6 ping between fragments",
     {TEXT, FIN | PING, FIN | CONT, 0xFF},
     {"frag1", "ping", "frag2"},
     "PING(ping)TEXT(frag1frag2)"},
    {"5.9 continuation without a message", {FIN | CONT, FIN | TEXT, 0xFF}, {"c", "t"}, "ERR(1002)"},
    {"5.12 unfinished continuation without a message", {CONT, 0xFF}, {"c"}, "ERR(1002)"},
    {"5.15 new message inside a fragmented one",
     {TEXT, FIN | CONT, TEXT, TEXT, 0xFF},
     {"fragment1", "fragment2", "fragment3", "fragment4"},
     "TEXT(fragment1fragment2)ERR(1002)"},
    {"5.17 binary in three, empty middle",
     {BIN, CONT, FIN | CONT, 0xFF},
     {"a", "", "b"},
     "BIN(ab)"},
    {"5.18 text after text start", {TEXT, FIN | TEXT, 0xFF}, {"a", "b"}, "ERR(1002)"},
    {"5.19 pings between many fragments",
     {TEXT, CONT, FIN | PING, CONT, FIN | PING, FIN | CONT},
     {"f1", "f2", "p1", "f3", "p2", "f4"},
     "PING(p1)PING(p2)TEXT(f1f2f3f4)"},
    {"5.20 close between fragments",
     {TEXT, FIN | CLOSE, FIN | CONT, 0xFF},
     {"f1", "\x03\xe8", "f2"},
     "CLOSE(1000,)TEXT(f1f2)"},
    {"empty fragments", {TEXT, CONT, FIN | CONT, 0xFF}, {"", "", ""}, "TEXT()"},
};

static void test_ab5_fragmentation(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof frags / sizeof frags[0]; c++) {
        struct ob_buf in = OB_BUF_INIT;
        for (size_t k = 0; k < 6 && frags[c].b0[k] != 0xFF; k++)
            cframe(&in, frags[c].b0[k], frags[c].payload[k]);
        expect_log(&server, &in, frags[c].want, frags[c].name);
        ob_buf_release(&in);
    }
}

/* ---- Autobahn 6: UTF-8 ----------------------------------------------------------- */

static void test_ab6_utf8(void **state)
{
    (void)state;
    struct ob_buf in = OB_BUF_INIT;
    static const char hello[] =
        "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
    /* 6.1: empty text messages, single and fragmented. */
    cframe(&in, FIN | TEXT, "");
    cframe(&in, TEXT, "");
    cframe(&in, FIN | CONT, "");
    expect_log(&server, &in, "TEXT()TEXT()", "6.1");
    /* 6.2: valid text fragmented at every byte boundary, including mid-character. */
    size_t n = strlen(hello);
    for (size_t cut = 0; cut <= n; cut++) {
        in.len = 0;
        put_frame(&in, TEXT, hello, cut, true);
        put_frame(&in, FIN | CONT, hello + cut, n - cut, true);
        expect_log(
            &server, &in,
            "TEXT(Hello-\\xc2\\xb5@\\xc3\\x9f\\xc3\\xb6\\xc3\\xa4\\xc3\\xbc\\xc3\\xa0\\xc3\\xa1"
            "-UTF-8!!)",
            "6.2");
    }
    ob_buf_release(&in);
}

/* 6.3-6.21: invalid sequences in text messages are 1007; valid ones pass. */
static void test_ab6_utf8_sequences(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        bool valid;
    } seqs[] = {
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
         "edited",
         false}, /* 6.3 */
        {"\xf0\x90\x80\x80", true},
        {"\xf4\x8f\xbf\xbf", true},
        {"\xef\xbf\xbf", true},
        {"\xf4\x90\x80\x80", false},
        {"\xc0\xaf", false},
        {"\xe0\x80\xaf", false},
        {"\xed\xa0\x80", false},
        {"\xed\xbf\xbf", false},
        {"\x80", false},
        {"\xfe", false},
        {"\xff", false},
        {"\xc2", false},
        {"\xe0\xa0", false},
        {"\xf0\x90\x80", false},
        {"\xf8\x88\x80\x80\x80", false},
    };
    for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
        struct ob_buf in = OB_BUF_INIT;
        cframe(&in, FIN | TEXT, seqs[k].bytes);
        char *log = read_log(&server, in.p, in.len, NULL, 0);
        if (seqs[k].valid ? strncmp(log, "TEXT(", 5) : strcmp(log, "ERR(1007)"))
            fail_msg("sequence %zu: %s", k, log);
        free(log);
        /* The same bytes as binary are fine. */
        in.len = 0;
        cframe(&in, FIN | BIN, seqs[k].bytes);
        log = read_log(&server, in.p, in.len, NULL, 0);
        assert_memory_equal(log, "BIN(", 4);
        free(log);
        ob_buf_release(&in);
    }
}

/* 6.4: fail fast. The invalid byte is refused as soon as it arrives, before the rest
 * of its frame, and before the final fragment of the message. */
static void test_ab6_fail_fast(void **state)
{
    (void)state;
    static const char frag1[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    static const char frag2[] = "\xf4\x90\x80\x80";
    static const char frag3[] = "\x65\x64\x69\x74\x65\x64";
    struct ob_buf in = OB_BUF_INIT;
    cframe(&in, TEXT, frag1);
    size_t first_end = in.len;
    cframe(&in, CONT, frag2);
    size_t bad_at = in.len - 4 + 1; /* F4 90: refused at the second byte */
    cframe(&in, FIN | CONT, frag3);
    struct ob_ws_reader r;
    ob_ws_reader_init(&r, &server);
    struct ob_ws_message m;
    size_t used;
    /* Byte by byte: the error comes exactly when the 0x90 arrives. */
    size_t k;
    for (k = 0; k < in.len; k++) {
        int rc = ob_ws_read(&r, in.p + k, 1, &m, &used);
        if (rc == OB_EAGAIN) continue;
        assert_int_equal(rc, OB_EPROTO);
        assert_int_equal(r.parser.close_code, 1007);
        break;
    }
    assert_int_equal(k, bad_at);
    assert_true(k > first_end);
    ob_ws_reader_release(&r);
    ob_buf_release(&in);
}

/* ---- Autobahn 7: close ----------------------------------------------------------- */

static void close_frame(struct ob_buf *b, unsigned code, const char *reason)
{
    uint8_t pl[256];
    size_t n = strlen(reason);
    pl[0] = (uint8_t)(code >> 8);
    pl[1] = (uint8_t)code;
    memcpy(pl + 2, reason, n);
    put_frame(b, FIN | CLOSE, pl, n + 2, true);
}

static void test_ab7_close(void **state)
{
    (void)state;
    struct ob_buf in = OB_BUF_INIT;
    cframe(&in, FIN | CLOSE, ""); /* 7.3.1 */
    expect_log(&server, &in, "CLOSE(1005,)", "7.3.1");
    in.len = 0;
    cframe(&in, FIN | CLOSE, "a"); /* 7.3.2: one byte */
    expect_log(&server, &in, "ERR(1002)", "7.3.2");
    in.len = 0;
    close_frame(&in, 1000, ""); /* 7.3.3 */
    expect_log(&server, &in, "CLOSE(1000,)", "7.3.3");
    in.len = 0;
    close_frame(&in, 1000, "Hello World!"); /* 7.3.4 */
    expect_log(&server, &in, "CLOSE(1000,Hello World!)", "7.3.4");
    char r123[124], r124[125];
    memset(r123, '*', 123);
    r123[123] = 0;
    memset(r124, '*', 124);
    r124[124] = 0;
    in.len = 0;
    close_frame(&in, 1000, r123); /* 7.3.5 */
    char want[64];
    snprintf(want, sizeof want, "CLOSE(1000,n=123,crc=%08x)", ob_crc32c(0, r123, 123));
    expect_log(&server, &in, want, "7.3.5");
    in.len = 0;
    close_frame(&in, 1000, r124); /* 7.3.6: payload 126 bytes */
    expect_log(&server, &in, "ERR(1002)", "7.3.6");
    in.len = 0;
    close_frame(&in, 1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"); /* 7.5.1 */
    expect_log(&server, &in, "ERR(1007)", "7.5.1");
    ob_buf_release(&in);
}

static void test_ab7_close_codes(void **state)
{
    (void)state;
    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const unsigned invalid[] = {0,    999,  1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t k = 0; k < sizeof valid / sizeof valid[0]; k++) {
        struct ob_buf in = OB_BUF_INIT;
        close_frame(&in, valid[k], "r");
        char want[32];
        snprintf(want, sizeof want, "CLOSE(%u,r)", valid[k]);
        expect_log(&server, &in, want, "7.7.x");
        ob_buf_release(&in);
        assert_true(ob_ws_close_code_valid(valid[k]));
    }
    for (size_t k = 0; k < sizeof invalid / sizeof invalid[0]; k++) {
        struct ob_buf in = OB_BUF_INIT;
        close_frame(&in, invalid[k], "");
        expect_log(&server, &in, "ERR(1002)", "7.9.x");
        ob_buf_release(&in);
        assert_false(ob_ws_close_code_valid(invalid[k]));
    }
}

/* ---- Autobahn 9: limits ---------------------------------------------------------- */

static void test_ab9_limits(void **state)
{
    (void)state;
    struct ob_ws_config cfg = {OB_WS_SERVER, false, 1 << 20};
    size_t big = 1 << 20;
    uint8_t *p = malloc(big + 1);
    for (size_t k = 0; k < big + 1; k++)
        p[k] = (uint8_t)('a' + k % 26);
    struct ob_buf in = OB_BUF_INIT, want = OB_BUF_INIT;
    /* 9.1.x: a text message of exactly the limit, in one frame. */
    put_frame(&in, FIN | TEXT, p, big, true);
    struct ob_ws_message m = {.opcode = OB_WS_OP_TEXT, .payload = ob_slice_make(p, big)};
    log_message(&want, &m);
    ob_buf_putc(&want, 0);
    expect_log(&cfg, &in, (char *)want.p, "9.1 at the limit");
    /* 9.4.x: the same message in fragments of 64, 4096 and 65536 bytes. */
    static const size_t chunk[] = {64, 4096, 65536};
    for (size_t c = 0; c < 3; c++) {
        in.len = 0;
        for (size_t off = 0; off < big; off += chunk[c])
            put_frame(&in, (off ? CONT : TEXT) | (off + chunk[c] >= big ? FIN : 0), p + off,
                      chunk[c], true);
        expect_log(&cfg, &in, (char *)want.p, "9.4 fragmented");
    }
    /* One byte more is 1009, refused at the frame header, before any payload. */
    in.len = 0;
    put_frame(&in, FIN | BIN, p, big + 1, true);
    expect_log(&cfg, &in, "ERR(1009)", "over the limit");
    struct ob_ws_reader r;
    ob_ws_reader_init(&r, &cfg);
    size_t used;
    assert_int_equal(ob_ws_read(&r, in.p, 14, &m, &used), OB_ETOOBIG);
    ob_ws_reader_release(&r);
    /* Fragments that add up to more than the limit: 1009 at the crossing fragment. */
    in.len = 0;
    put_frame(&in, BIN, p, big, true);
    put_frame(&in, FIN | CONT, p, 1, true);
    expect_log(&cfg, &in, "ERR(1009)", "fragments over the limit");
    free(p);
    ob_buf_release(&in);
    ob_buf_release(&want);
}

/* ---- masking rules, roles, compression bit ----------------------------------------- */

static void test_masking_rules(void **state)
{
    (void)state;
    struct ob_buf in = OB_BUF_INIT;
    put_frame(&in, FIN | TEXT, "hi", 2, false);
    expect_log(&server, &in, "ERR(1002)", "unmasked client frame");
    struct ob_ws_config client = {OB_WS_CLIENT, false, 0};
    expect_log(&client, &in, "TEXT(hi)", "unmasked server frame");
    in.len = 0;
    put_frame(&in, FIN | TEXT, "hi", 2, true);
    expect_log(&client, &in, "ERR(1002)", "masked server frame");
    ob_buf_release(&in);
}

static void test_rsv1_with_deflate(void **state)
{
    (void)state;
    struct ob_ws_config pmd = {OB_WS_SERVER, true, 0};
    struct ob_buf in = OB_BUF_INIT;
    /* RSV1 on the first frame marks a compressed message; its (deflated) bytes are
     * not UTF-8 checked here. */
    put_frame(&in, TEXT | 0x40, "\xf2\x48", 2, true);
    put_frame(&in, FIN | CONT, "\xcd\xc9", 2, true);
    cframe(&in, FIN | TEXT, "plain");
    expect_log(&pmd, &in, "TEXTz(\\xf2H\\xcd\\xc9)TEXT(plain)", "compressed text");
    in.len = 0;
    cframe(&in, TEXT | 0x40, "a");
    cframe(&in, FIN | CONT | 0x40, "b");
    expect_log(&pmd, &in, "ERR(1002)", "RSV1 on a continuation");
    in.len = 0;
    cframe(&in, FIN | PING | 0x40, "a");
    expect_log(&pmd, &in, "ERR(1002)", "RSV1 on a control frame");
    ob_buf_release(&in);
}

/* An unfragmented message entirely in the buffer is returned in place. */
static void test_zero_copy(void **state)
{
    (void)state;
    struct ob_buf in = OB_BUF_INIT;
    cframe(&in, FIN | BIN, "payload");
    cframe(&in, FIN | PING, "p");
    struct ob_ws_reader r;
    ob_ws_reader_init(&r, &server);
    struct ob_ws_message m;
    size_t used;
    assert_int_equal(ob_ws_read(&r, in.p, in.len, &m, &used), 1);
    assert_ptr_equal(m.payload.p, in.p + 6);
    assert_memory_equal(m.payload.p, "payload", 7);
    assert_int_equal(used, 13);
    assert_int_equal(ob_ws_read(&r, in.p + used, in.len - used, &m, &used), 1);
    assert_int_equal(m.opcode, OB_WS_OP_PING);
    assert_ptr_equal(m.payload.p, in.p + 13 + 6);
    ob_ws_reader_release(&r);
    ob_buf_release(&in);
}

/* The streaming parser hands out pieces as they come, with first/last flags. */
static void test_parser_pieces(void **state)
{
    (void)state;
    struct ob_buf in = OB_BUF_INIT;
    cframe(&in, FIN | BIN, "abcdefgh");
    struct ob_ws_parser p;
    ob_ws_parser_init(&p, &server);
    struct ob_ws_piece pc;
    size_t used;
    assert_int_equal(ob_ws_parse(&p, in.p, 4, &pc, &used), OB_EAGAIN); /* header part */
    assert_int_equal(used, 4);
    assert_int_equal(ob_ws_parse(&p, in.p + 4, 5, &pc, &used), 1);
    assert_int_equal(used, 5);
    assert_true(pc.first && !pc.last);
    assert_memory_equal(pc.data.p, "abc", 3);
    assert_int_equal(ob_ws_parse(&p, in.p + 9, in.len - 9, &pc, &used), 1);
    assert_true(!pc.first && pc.last);
    assert_memory_equal(pc.data.p, "defgh", 5);
    assert_true(p.frame.fin);
    assert_int_equal(p.frame.opcode, OB_WS_OP_BINARY);
    ob_buf_release(&in);
}

static void test_mask(void **state)
{
    (void)state;
    uint8_t a[64], b[64];
    for (size_t n = 0; n <= 64; n++) {
        for (unsigned off = 0; off < 8; off++) {
            for (size_t k = 0; k < n; k++)
                a[k] = b[k] = (uint8_t)(k * 7 + n);
            ob_ws_mask(a, n, key, off);
            for (size_t k = 0; k < n; k++)
                assert_int_equal(a[k], b[k] ^ key[(k + off) & 3]);
            /* In pieces, continuing the offset. */
            for (size_t cut = 0; cut <= n; cut++) {
                memcpy(a, b, n);
                ob_ws_mask(a, cut, key, off);
                ob_ws_mask(a + cut, n - cut, key, off + cut);
                for (size_t k = 0; k < n; k++)
                    assert_int_equal(a[k], b[k] ^ key[(k + off) & 3]);
            }
        }
    }
}

/* ---- encoder --------------------------------------------------------------------- */

static void test_encoder(void **state)
{
    (void)state;
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_TEXT, OB_WS_FIN, "Hello", 5, NULL), 0);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.p, "\x81\x05Hello", 7); /* RFC 6455 §5.7 */
    b.len = 0;
    static const uint8_t mk[4] = {0x37, 0xfa, 0x21, 0x3d};
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_TEXT, OB_WS_FIN, "Hello", 5, mk), 0);
    assert_memory_equal(b.p, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    b.len = 0;
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_TEXT, 0, "Hel", 3, NULL), 0);
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_CONT, OB_WS_FIN, "lo", 2, NULL), 0);
    assert_memory_equal(b.p, "\x01\x03Hel\x80\x02lo", 9);
    b.len = 0;
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_PING, OB_WS_FIN, "Hello", 5, NULL), 0);
    assert_memory_equal(b.p, "\x89\x05Hello", 7);
    uint8_t big[300];
    memset(big, 0, sizeof big);
    size_t before = b.len;
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_PING, OB_WS_FIN, big, 126, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_PING, 0, "x", 1, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_PING, OB_WS_FIN | OB_WS_RSV1, "x", 1, NULL),
                     OB_EINVAL);
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_CONT, OB_WS_RSV1, "x", 1, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_frame(&b, 3, OB_WS_FIN, "x", 1, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_TEXT, 0x20, "x", 1, NULL), OB_EINVAL);
    assert_int_equal(b.len, before);
    b.len = 0;
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_BINARY, OB_WS_FIN, big, 256, NULL), 0);
    assert_memory_equal(b.p, "\x82\x7e\x01\x00", 4); /* RFC 6455 §5.7: 256 bytes */
    ob_buf_release(&b);
}

static void test_encode_close(void **state)
{
    (void)state;
    struct ob_buf b = OB_BUF_INIT;
    assert_int_equal(ob_ws_encode_close(&b, 1000, "bye", 3, NULL), 0);
    assert_memory_equal(b.p,
                        "\x88\x05\x03\xe8"
                        "bye",
                        7);
    b.len = 0;
    assert_int_equal(ob_ws_encode_close(&b, 0, NULL, 0, NULL), 0);
    assert_memory_equal(b.p, "\x88\x00", 2);
    char r[124];
    memset(r, 'r', sizeof r);
    assert_int_equal(ob_ws_encode_close(&b, 1000, r, 123, NULL), 0);
    assert_int_equal(ob_ws_encode_close(&b, 1000, r, 124, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_close(&b, 1005, NULL, 0, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_close(&b, 1006, NULL, 0, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_close(&b, 999, NULL, 0, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_close(&b, 1000, "\xff", 1, NULL), OB_EINVAL);
    assert_int_equal(ob_ws_encode_close(&b, 0, "x", 1, NULL), OB_EINVAL);
    ob_buf_release(&b);
}

/* Client-encoded frames read back on the server and the reverse. */
static void test_roundtrip(void **state)
{
    (void)state;
    struct ob_buf b = OB_BUF_INIT;
    uint8_t data[70000];
    for (size_t k = 0; k < sizeof data; k++)
        data[k] = (uint8_t)(k * 31 + 7);
    static const uint8_t mk[4] = {1, 2, 3, 4};
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_BINARY, 0, data, 1000, mk), 0);
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_PONG, OB_WS_FIN, "pong", 4, mk), 0);
    assert_int_equal(
        ob_ws_encode_frame(&b, OB_WS_OP_CONT, OB_WS_FIN, data + 1000, sizeof data - 1000, mk), 0);
    assert_int_equal(ob_ws_encode_close(&b, 4000, "done", 4, mk), 0);
    struct ob_buf want = OB_BUF_INIT;
    struct ob_ws_message m = {.opcode = OB_WS_OP_PONG, .payload = ob_slice_str("pong")};
    log_message(&want, &m);
    m = (struct ob_ws_message){.opcode = OB_WS_OP_BINARY,
                               .payload = ob_slice_make(data, sizeof data)};
    log_message(&want, &m);
    ob_buf_append(&want, "CLOSE(4000,done)", 17);
    expect_log(&server, &b, (char *)want.p, "client to server");
    b.len = 0;
    assert_int_equal(ob_ws_encode_frame(&b, OB_WS_OP_TEXT, OB_WS_FIN, "hi", 2, NULL), 0);
    struct ob_ws_config client = {OB_WS_CLIENT, false, 0};
    expect_log(&client, &b, "TEXT(hi)", "server to client");
    ob_buf_release(&b);
    ob_buf_release(&want);
}

/* ---- SHA-1 and the accept key ---------------------------------------------------- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t k = 0; k < n; k++)
        sprintf(out + 2 * k, "%02x", d[k]);
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    /* RFC 3174 §7.3 TEST1..TEST4, and the empty string. */
    static const struct {
        const char *in;
        size_t repeat;
        const char *digest;
    } v[] = {
        {"abc", 1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        {"a", 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
        {"0123456701234567012345670123456701234567012345670123456701234567", 10,
         "dea356a2cddd90c7a7ecedc5ebb563934f460452"},
        {"", 1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        struct ob_sha1 s;
        uint8_t d[OB_SHA1_LEN];
        char h[41];
        ob_sha1_init(&s);
        for (size_t r = 0; r < v[k].repeat; r++)
            ob_sha1_update(&s, v[k].in, strlen(v[k].in));
        ob_sha1_final(&s, d);
        hex(d, sizeof d, h);
        assert_string_equal(h, v[k].digest);
    }
    /* Split updates agree with one-shot, across block boundaries. */
    uint8_t buf[200], d1[20], d2[20];
    for (size_t k = 0; k < sizeof buf; k++)
        buf[k] = (uint8_t)k;
    for (size_t n = 0; n <= sizeof buf; n += 13) {
        ob_sha1(buf, n, d1);
        for (size_t cut = 0; cut <= n; cut += 5) {
            struct ob_sha1 s;
            ob_sha1_init(&s);
            ob_sha1_update(&s, buf, cut);
            ob_sha1_update(&s, buf + cut, n - cut);
            ob_sha1_final(&s, d2);
            assert_memory_equal(d1, d2, 20);
        }
    }
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[OB_WS_ACCEPT_LEN + 1];
    ob_ws_accept_key(ob_slice_str("dGhlIHNhbXBsZSBub25jZQ=="), out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 §1.3 */
}

/* ---- handshake ------------------------------------------------------------------- */

#define UPGRADE_HEAD                                                                               \
    "GET /v1/ws HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"                    \
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                       \
    "Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n"

/* Parses raw as a request and runs the handshake check; returns hs.status. */
static int handshake(const char *raw, const struct ob_ws_server_opts *opts,
                     struct ob_ws_handshake *hs)
{
    struct ob_h1_parser p;
    ob_h1_parser_init(&p, NULL);
    int rc = ob_h1_parse_head(&p, (const uint8_t *)raw, strlen(raw));
    assert_int_equal(rc, 0);
    rc = ob_ws_handshake_check(&p.req, opts, hs);
    assert_int_equal(rc, hs->status == 101 ? 0 : OB_EPROTO);
    ob_h1_parser_release(&p);
    return hs->status;
}

static void test_handshake_accept(void **state)
{
    (void)state;
    static const char *const protos[] = {"mqtt", "chat", "superchat"};
    struct ob_ws_server_opts opts = {.subprotocols = protos, .nsubprotocols = 3};
    struct ob_ws_handshake hs;
    assert_int_equal(
        handshake(UPGRADE_HEAD "Sec-WebSocket-Protocol: superchat, chat\r\n\r\n", &opts, &hs), 101);
    assert_string_equal(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_string_equal(hs.subprotocol, "chat"); /* our preference order */
    struct ob_buf b = OB_BUF_INIT;
    ob_ws_handshake_response(&b, &hs);
    ob_buf_putc(&b, 0);
    assert_string_equal((char *)b.p, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                     "Sec-WebSocket-Protocol: chat\r\n\r\n");
    ob_buf_release(&b);
    /* Subprotocols over several headers; none offered that we speak; none at all. */
    assert_int_equal(handshake(UPGRADE_HEAD "Sec-WebSocket-Protocol: x\r\n"
                                            "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
                               &opts, &hs),
                     101);
    assert_string_equal(hs.subprotocol, "mqtt");
    assert_int_equal(handshake(UPGRADE_HEAD "Sec-WebSocket-Protocol: MQTT\r\n\r\n", &opts, &hs),
                     101);
    assert_null(hs.subprotocol);
    assert_int_equal(handshake(UPGRADE_HEAD "\r\n", NULL, &hs), 101);
    assert_null(hs.subprotocol);
    assert_false(hs.deflate);
}

static void test_handshake_refuse(void **state)
{
    (void)state;
    struct ob_ws_handshake hs;
    static const struct {
        const char *raw;
        int status;
    } cases[] = {
        {"POST /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400},
        {"GET /v1/ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n", 426},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         426},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
         426},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         426},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n",
         400},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400},
        {"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Content-Length: 1\r\n\r\n",
         400},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int st = handshake(cases[k].raw, NULL, &hs);
        if (st != cases[k].status) fail_msg("case %zu: %d (%s)", k, st, hs.error);
        assert_non_null(hs.error);
    }
    handshake(cases[4].raw, NULL, &hs);
    struct ob_buf b = OB_BUF_INIT;
    ob_ws_handshake_response(&b, &hs);
    ob_buf_putc(&b, 0);
    assert_string_equal((char *)b.p,
                        "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                        "Upgrade: websocket\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n");
    ob_buf_release(&b);
}

static void test_deflate_negotiation(void **state)
{
    (void)state;
    struct ob_ws_server_opts opts = {.deflate = true};
    static const struct {
        const char *offer;
        const char *answer; /* NULL: declined */
    } cases[] = {
        {"permessage-deflate", "permessage-deflate"},
        {"permessage-deflate; client_max_window_bits",
         "permessage-deflate; client_max_window_bits=15"},
        {"permessage-deflate; client_max_window_bits=10",
         "permessage-deflate; client_max_window_bits=10"},
        {"permessage-deflate; client_max_window_bits=\"10\"",
         "permessage-deflate; client_max_window_bits=10"},
        {"permessage-deflate; server_max_window_bits=10",
         "permessage-deflate; server_max_window_bits=10"},
        {"permessage-deflate;server_no_context_takeover;client_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
        {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
         "permessage-deflate; client_max_window_bits=15"},
        {"permessage-deflate; server_max_window_bits=8", NULL},
        {"permessage-deflate; server_max_window_bits=8, permessage-deflate", "permessage-deflate"},
        {"permessage-deflate; server_max_window_bits", NULL},
        {"permessage-deflate; server_max_window_bits=16", NULL},
        {"permessage-deflate; server_max_window_bits=08", NULL},
        {"permessage-deflate; client_max_window_bits=7", NULL},
        {"permessage-deflate; server_no_context_takeover=1", NULL},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", NULL},
        {"permessage-deflate; unknown", NULL},
        {"permessage-deflate;", NULL},
        {"permessage-deflate; a=b=c", NULL},
        {"deflate-stream", NULL},
        {"PerMessage-Deflate; Client_Max_Window_Bits",
         "permessage-deflate; client_max_window_bits=15"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char raw[512];
        struct ob_ws_handshake hs;
        snprintf(raw, sizeof raw, UPGRADE_HEAD "Sec-WebSocket-Extensions: %s\r\n\r\n",
                 cases[k].offer);
        assert_int_equal(handshake(raw, &opts, &hs), 101);
        if (!cases[k].answer) {
            if (hs.deflate) fail_msg("%s: accepted as %s", cases[k].offer, hs.extensions);
            continue;
        }
        if (!hs.deflate || strcmp(hs.extensions, cases[k].answer))
            fail_msg("%s: got %s", cases[k].offer, hs.deflate ? hs.extensions : "(declined)");
    }
}

static void test_deflate_preferences(void **state)
{
    (void)state;
    struct ob_ws_server_opts opts = {.deflate = true,
                                     .server_no_context_takeover = true,
                                     .client_no_context_takeover = true,
                                     .server_max_window_bits = 12,
                                     .client_max_window_bits = 11};
    struct ob_ws_handshake hs;
    assert_int_equal(handshake(UPGRADE_HEAD "Sec-WebSocket-Extensions: permessage-deflate; "
                                            "client_max_window_bits\r\n\r\n",
                               &opts, &hs),
                     101);
    assert_true(hs.deflate);
    assert_string_equal(hs.extensions, "permessage-deflate; server_no_context_takeover; "
                                       "client_no_context_takeover; server_max_window_bits=12; "
                                       "client_max_window_bits=11");
    assert_int_equal(hs.pmd.server_max_window_bits, 12);
    assert_int_equal(hs.pmd.client_max_window_bits, 11);
    struct ob_buf b = OB_BUF_INIT;
    ob_ws_handshake_response(&b, &hs);
    ob_buf_putc(&b, 0);
    assert_non_null(strstr((char *)b.p, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                        "server_no_context_takeover;"));
    ob_buf_release(&b);
    /* The client's tighter server window wins; without a client_max_window_bits offer
     * we may not limit the client's window. */
    assert_int_equal(handshake(UPGRADE_HEAD "Sec-WebSocket-Extensions: permessage-deflate; "
                                            "server_max_window_bits=10\r\n\r\n",
                               &opts, &hs),
                     101);
    assert_int_equal(hs.pmd.server_max_window_bits, 10);
    assert_int_equal(hs.pmd.client_max_window_bits, 15);
    assert_null(strstr(hs.extensions, "client_max_window_bits"));
    /* Deflate off: offers are ignored. */
    opts.deflate = false;
    assert_int_equal(
        handshake(UPGRADE_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", &opts, &hs),
        101);
    assert_false(hs.deflate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ab1_framing),
        cmocka_unit_test(test_length_encodings),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_ab2_ping_pong),
        cmocka_unit_test(test_ab3_reserved_bits),
        cmocka_unit_test(test_ab4_opcodes),
        cmocka_unit_test(test_ab5_fragmentation),
        cmocka_unit_test(test_ab6_utf8),
        cmocka_unit_test(test_ab6_utf8_sequences),
        cmocka_unit_test(test_ab6_fail_fast),
        cmocka_unit_test(test_ab7_close),
        cmocka_unit_test(test_ab7_close_codes),
        cmocka_unit_test(test_ab9_limits),
        cmocka_unit_test(test_masking_rules),
        cmocka_unit_test(test_rsv1_with_deflate),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_parser_pieces),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_encoder),
        cmocka_unit_test(test_encode_close),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_handshake_accept),
        cmocka_unit_test(test_handshake_refuse),
        cmocka_unit_test(test_deflate_negotiation),
        cmocka_unit_test(test_deflate_preferences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
