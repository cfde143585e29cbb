/*
 * sublist.h — the subscription index: a token trie with a match cache (NATS' sublist).
 *
 * Filters are inserted with an opaque item; ob_sublist_match(subject) returns every
 * item whose filter matches, once per (filter, item) insertion. Results for recent
 * subjects are cached; any insert or remove invalidates the cache.
 * The sublist borrows items and never frees them.
 */
#ifndef OB_CORE_SUBLIST_H
#define OB_CORE_SUBLIST_H

#include <omnibus.h>

#include "base/map.h"

struct ob_sublist_node;

/* A match result: an array of items, owned by the sublist, valid until the next
 * insert/remove/match call. */
struct ob_sublist_result {
    void **items;
    size_t n;
};

struct ob_sublist {
    struct ob_sublist_node *root;
    struct ob_map cache; /* subject -> struct cache_entry */
    size_t count;
    uint64_t generation;
    struct ob_sublist_result scratch;
    size_t scratch_cap;
    uint64_t hits, misses;
};

void ob_sublist_init(struct ob_sublist *sl);
void ob_sublist_release(struct ob_sublist *sl);
/* Adds item under filter (which must be valid). The same item may be added under
 * several filters and then matches once per filter. */
void ob_sublist_insert(struct ob_sublist *sl, struct ob_slice filter, void *item);
/* Removes one (filter, item) insertion; OB_ENOENT if absent. */
int ob_sublist_remove(struct ob_sublist *sl, struct ob_slice filter, void *item);
/* Items matching a concrete subject. */
struct ob_sublist_result ob_sublist_match(struct ob_sublist *sl, struct ob_slice subject);

#endif
