/*
 * topic.c — MQTT string and topic rules: UTF-8 well-formedness (section 1.5.4), topic
 * names and filters (4.7), MQTT's own matching (for retained messages and for the '$'
 * rule the subject router does not know), and shared-subscription names (4.8.2).
 */
#include "proto/mqtt/codec.h"

#include <string.h>

/* Length, payload bits and smallest legal code point of a sequence from its lead byte;
 * length 0 for a byte that cannot lead one. */
struct lead {
    size_t len;
    uint32_t bits;
    uint32_t min;
};

static struct lead utf8_lead(uint8_t c)
{
    struct lead l = {0, 0, 0};
    if ((c & 0xE0) == 0xC0)
        l = (struct lead){2, c & 0x1Fu, 0x80};
    else if ((c & 0xF0) == 0xE0)
        l = (struct lead){3, c & 0x0Fu, 0x800};
    else if ((c & 0xF8) == 0xF0)
        l = (struct lead){4, c & 0x07u, 0x10000};
    return l;
}

bool ob_mqtt_utf8_valid(struct ob_slice s)
{
    size_t i = 0;
    while (i < s.n) {
        uint8_t c = s.p[i];
        if (c < 0x80) {
            if (c == 0) return false; /* U+0000 is forbidden in MQTT strings */
            i++;
            continue;
        }
        struct lead l = utf8_lead(c);
        uint32_t cp = l.bits;
        if (!l.len || s.n - i < l.len) return false;
        for (size_t k = 1; k < l.len; k++) {
            if ((s.p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s.p[i + k] & 0x3Fu);
        }
        /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8 (RFC 3629). */
        if (cp < l.min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += l.len;
    }
    return true;
}

bool ob_mqtt_topic_valid(struct ob_slice topic)
{
    if (topic.n == 0 || topic.n > 65535) return false;
    if (memchr(topic.p, '+', topic.n) || memchr(topic.p, '#', topic.n)) return false;
    return ob_mqtt_utf8_valid(topic);
}

/* Walks '/'-separated levels; an empty topic has none, "a/" has "a" and "". */
struct levels {
    struct ob_slice s;
    size_t pos;
    bool done;
};

static bool next_level(struct levels *it, struct ob_slice *out)
{
    if (it->done) return false;
    const uint8_t *start = it->s.p + it->pos;
    size_t left = it->s.n - it->pos;
    const uint8_t *slash = left ? memchr(start, '/', left) : NULL;
    size_t len = slash ? (size_t)(slash - start) : left;
    *out = ob_slice_make(start, len);
    if (slash)
        it->pos += len + 1;
    else
        it->done = true;
    return true;
}

static bool level_is(struct ob_slice l, char c)
{
    return l.n == 1 && l.p[0] == (uint8_t)c;
}

bool ob_mqtt_filter_valid(struct ob_slice filter)
{
    if (filter.n == 0 || filter.n > 65535 || !ob_mqtt_utf8_valid(filter)) return false;
    struct levels it = {filter, 0, false};
    struct ob_slice l;
    while (next_level(&it, &l)) {
        bool plus = memchr(l.p, '+', l.n) != NULL, hash = memchr(l.p, '#', l.n) != NULL;
        if (plus && !level_is(l, '+')) return false;
        if (hash && (!level_is(l, '#') || !it.done)) return false;
    }
    return true;
}

bool ob_mqtt_filter_matches(struct ob_slice filter, struct ob_slice topic)
{
    /* 4.7.2: wildcards at the first level do not reach into "$" topics ($SYS...). */
    if (topic.n && topic.p[0] == '$' && filter.n && (filter.p[0] == '+' || filter.p[0] == '#'))
        return false;
    struct levels f = {filter, 0, false}, t = {topic, 0, false};
    struct ob_slice fl, tl;
    while (next_level(&f, &fl)) {
        if (level_is(fl, '#')) return true; /* also matches the parent: "a/#" matches "a" */
        if (!next_level(&t, &tl)) return false;
        if (!level_is(fl, '+') && !ob_slice_eq(fl, tl)) return false;
    }
    return t.done;
}

int ob_mqtt_shared_split(struct ob_slice filter, struct ob_slice *group, struct ob_slice *inner)
{
    static const char prefix[] = "$share/";
    const size_t plen = sizeof prefix - 1;
    if (filter.n < plen || memcmp(filter.p, prefix, plen) != 0) return 0;
    struct ob_slice rest = ob_slice_make(filter.p + plen, filter.n - plen);
    const uint8_t *slash = rest.n ? memchr(rest.p, '/', rest.n) : NULL;
    if (!slash) return OB_EINVAL;
    struct ob_slice g = ob_slice_make(rest.p, (size_t)(slash - rest.p));
    struct ob_slice f = ob_slice_make(slash + 1, rest.n - g.n - 1);
    if (g.n == 0 || memchr(g.p, '+', g.n) || memchr(g.p, '#', g.n)) return OB_EINVAL;
    if (!ob_mqtt_filter_valid(f)) return OB_EINVAL;
    *group = g;
    *inner = f;
    return 1;
}
