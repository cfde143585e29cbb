/*
 * map.c — MQTT topics ⇄ omnibus subjects. The scheme extends the NATS server's (empty
 * level "/", '.' as "//") so that every byte an MQTT level may hold survives: subject
 * tokens must be non-empty and free of '.', ' ' and the wildcards, and '/' is free to be
 * the escape because it never occurs inside an MQTT level.
 */
#include "proto/mqtt/map.h"

#include "proto/mqtt/codec.h"

#include <string.h>

static const char hex[] = "0123456789ABCDEF";

/* Bytes a token cannot carry literally (besides '.', which gets the shorter "//"). NUL
 * is not among them: MQTT forbids it, so "/00" is no escape. */
static bool needs_hex(uint8_t b)
{
    return (b >= 0x01 && b <= 0x20) || b == 0x7F || b == '*' || b == '>';
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_level(struct ob_buf *out, struct ob_slice l)
{
    if (l.n == 0) {
        ob_buf_putc(out, '/');
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        uint8_t b = l.p[i];
        if (b == '.') {
            ob_buf_append(out, "//", 2);
        } else if (needs_hex(b)) {
            uint8_t e[3] = {'/', (uint8_t)hex[b >> 4], (uint8_t)hex[b & 15]};
            ob_buf_append(out, e, 3);
        } else {
            ob_buf_putc(out, b);
        }
    }
}

static bool is_one(struct ob_slice s, char c)
{
    return s.n == 1 && s.p[0] == (uint8_t)c;
}

/* The next sep-separated part of s from *pos; *last is set on the final one. */
static struct ob_slice next_part(struct ob_slice s, size_t *pos, uint8_t sep, bool *last)
{
    const uint8_t *start = s.p + *pos;
    size_t left = s.n - *pos;
    const uint8_t *hit = left ? memchr(start, sep, left) : NULL;
    size_t len = hit ? (size_t)(hit - start) : left;
    *last = hit == NULL;
    *pos += len + 1;
    return ob_slice_make(start, len);
}

static int to_subject(struct ob_slice t, bool filter, struct ob_buf *out)
{
    if (!(filter ? ob_mqtt_filter_valid(t) : ob_mqtt_topic_valid(t))) return OB_EBADSUBJECT;
    size_t pos = 0;
    bool last = false;
    for (bool first = true; !last; first = false) {
        struct ob_slice l = next_part(t, &pos, '/', &last);
        if (!first) ob_buf_putc(out, '.');
        if (filter && is_one(l, '+'))
            ob_buf_putc(out, '*');
        else if (filter && is_one(l, '#'))
            ob_buf_putc(out, '>');
        else
            put_level(out, l);
    }
    return filter && t.n >= 2 && t.p[t.n - 2] == '/' && t.p[t.n - 1] == '#';
}

int ob_mqtt_topic_to_subject(struct ob_slice topic, struct ob_buf *out)
{
    return to_subject(topic, false, out);
}

int ob_mqtt_filter_to_subject(struct ob_slice filter, struct ob_buf *out)
{
    return to_subject(filter, true, out);
}

/* Length of the escape at t[i] and its byte, or 0 when this '/' starts none. */
static size_t escape_at(struct ob_slice t, size_t i, uint8_t *b)
{
    if (i + 1 < t.n && t.p[i + 1] == '/') {
        *b = '.';
        return 2;
    }
    if (i + 2 >= t.n) return 0;
    int hi = hex_value(t.p[i + 1]), lo = hex_value(t.p[i + 2]);
    if (hi < 0 || lo < 0 || !needs_hex((uint8_t)(hi << 4 | lo))) return 0;
    *b = (uint8_t)(hi << 4 | lo);
    return 3;
}

static void put_token(struct ob_buf *out, struct ob_slice t)
{
    if (is_one(t, '/')) return; /* an empty level */
    for (size_t i = 0; i < t.n;) {
        uint8_t b = t.p[i];
        size_t k = b == '/' ? escape_at(t, i, &b) : 0;
        ob_buf_putc(out, b);
        i += k ? k : 1;
    }
}

static int from_subject(struct ob_slice s, bool filter, struct ob_buf *out)
{
    size_t start = out->len, pos = 0;
    bool last = s.n == 0, bad = s.n == 0;
    for (bool first = true; !last; first = false) {
        struct ob_slice t = next_part(s, &pos, '.', &last);
        if (t.n == 0) {
            bad = true;
            break;
        }
        if (!first) ob_buf_putc(out, '/');
        if (filter && is_one(t, '*'))
            ob_buf_putc(out, '+');
        else if (filter && is_one(t, '>'))
            ob_buf_putc(out, '#');
        else
            put_token(out, t);
    }
    struct ob_slice r = ob_slice_make(out->len > start ? out->p + start : NULL, out->len - start);
    if (bad || !(filter ? ob_mqtt_filter_valid(r) : ob_mqtt_topic_valid(r))) {
        out->len = start;
        return OB_EBADSUBJECT;
    }
    return 0;
}

int ob_mqtt_subject_to_topic(struct ob_slice subject, struct ob_buf *out)
{
    return from_subject(subject, false, out);
}

int ob_mqtt_subject_to_filter(struct ob_slice subject, struct ob_buf *out)
{
    return from_subject(subject, true, out);
}
