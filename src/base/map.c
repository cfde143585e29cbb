/* map.c — open addressing with linear probing and tombstones; FNV-1a hashing. */
#include "base/map.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdlib.h>

uint64_t ob_hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(1099511628211);
    }
    return h ^ (h >> 29);
}

void ob_map_release(struct ob_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = m->used = 0;
}

void ob_map_clear(struct ob_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        m->slots[i] = (struct ob_map_slot){{NULL, 0}, 0, NULL, 0};
    m->count = m->used = 0;
}

static struct ob_map_slot *find(const struct ob_map *m, struct ob_slice key, uint64_t h)
{
    if (!m->cap) return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct ob_map_slot *s = &m->slots[i];
        if (!s->value && !s->tomb) return NULL;
        if (s->value && s->hash == h && ob_slice_eq(s->key, key)) return s;
    }
}

static void rehash(struct ob_map *m, size_t ncap)
{
    struct ob_map_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = ob_xcalloc(ncap, sizeof *m->slots);
    m->cap = ncap;
    m->used = m->count;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].value) continue;
        size_t j = old[i].hash & (ncap - 1);
        while (m->slots[j].value)
            j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
        m->slots[j].tomb = 0;
    }
    free(old);
}

void *ob_map_get(const struct ob_map *m, struct ob_slice key)
{
    struct ob_map_slot *s = find(m, key, ob_hash_bytes(key.p, key.n));
    return s ? s->value : NULL;
}

void *ob_map_put(struct ob_map *m, struct ob_slice key, void *value)
{
    uint64_t h = ob_hash_bytes(key.p, key.n);
    struct ob_map_slot *s = find(m, key, h);
    if (s) {
        void *prev = s->value;
        s->value = value;
        s->key = key;
        return prev;
    }
    if ((m->used + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->count * 2 >= m->cap ? m->cap * 2 : m->cap) : 16);
    size_t i = h & (m->cap - 1);
    while (m->slots[i].value)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].tomb) m->used++;
    m->slots[i] = (struct ob_map_slot){key, h, value, 0};
    m->count++;
    return NULL;
}

void *ob_map_del(struct ob_map *m, struct ob_slice key)
{
    struct ob_map_slot *s = find(m, key, ob_hash_bytes(key.p, key.n));
    if (!s) return NULL;
    void *v = s->value;
    s->value = NULL;
    s->tomb = 1;
    m->count--;
    return v;
}

int ob_map_next(const struct ob_map *m, size_t *i, struct ob_slice *key, void **value)
{
    for (; *i < m->cap; (*i)++) {
        if (m->slots[*i].value) {
            if (key) *key = m->slots[*i].key;
            if (value) *value = m->slots[*i].value;
            (*i)++;
            return 1;
        }
    }
    return 0;
}

void **ob_map_values(const struct ob_map *m, size_t *n)
{
    void **out = ob_xcalloc(m->count, sizeof *out);
    size_t i = 0, k = 0;
    void *v;
    while (ob_map_next(m, &i, NULL, &v))
        out[k++] = v;
    *n = k;
    return out;
}
