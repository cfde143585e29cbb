/*
 * map.h — an open-addressing hash map from byte-string keys to pointers.
 * Keys are NOT copied: each key must stay valid while its entry exists (usually it
 * points into the value itself, e.g. a stream's name). Values are borrowed.
 */
#ifndef OB_BASE_MAP_H
#define OB_BASE_MAP_H

#include <omnibus.h>
#include <stddef.h>
#include <stdint.h>

struct ob_map_slot {
    struct ob_slice key;
    uint64_t hash;
    void *value; /* NULL: empty slot */
    uint8_t tomb;
};

struct ob_map {
    struct ob_map_slot *slots;
    size_t cap; /* power of two or 0 */
    size_t count;
    size_t used; /* count + tombstones */
};

#define OB_MAP_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

uint64_t ob_hash_bytes(const void *p, size_t n);
void ob_map_release(struct ob_map *m);
void *ob_map_get(const struct ob_map *m, struct ob_slice key);
/* Inserts or replaces; returns the previous value or NULL. value must not be NULL. */
void *ob_map_put(struct ob_map *m, struct ob_slice key, void *value);
/* Removes; returns the removed value or NULL. */
void *ob_map_del(struct ob_map *m, struct ob_slice key);
void ob_map_clear(struct ob_map *m);
/* A malloc'd copy of the values (count in *n), for iterating while the map may change;
 * the caller frees the array. */
void **ob_map_values(const struct ob_map *m, size_t *n);
/* Iteration: for (size_t i = 0; ob_map_next(m, &i, &k, &v);) — do not insert meanwhile. */
int ob_map_next(const struct ob_map *m, size_t *i, struct ob_slice *key, void **value);

#endif
