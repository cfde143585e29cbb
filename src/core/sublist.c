/*
 * sublist.c — token trie: each node maps literal tokens to children and has optional
 * '*' and '>' children; items live on the node where their filter ends. Matching a
 * subject walks literal and '*' branches together and collects '>' items on the way.
 *
 * The cache maps a subject to a private copy of its result; it is dropped wholesale
 * on every change, which keeps correctness trivial. Subscriptions change rarely
 * compared with publishes, which is the case NATS optimized for too.
 */
#include "core/sublist.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 4096

struct ob_sublist_node {
    char *token; /* owned; the key in the parent's map */
    struct ob_map children;
    struct ob_sublist_node *star, *rest; /* '*' and '>' children */
    void **items;
    size_t nitems, cap;
    struct ob_sublist_node *parent;
};

struct cache_entry {
    char *subject;
    size_t subject_len;
    void **items;
    size_t n;
};

static struct ob_sublist_node *node_new(struct ob_sublist_node *parent, struct ob_slice tok)
{
    struct ob_sublist_node *n = ob_xcalloc(1, sizeof *n);
    n->token = ob_slice_dup(tok);
    n->parent = parent;
    return n;
}

static void node_free(struct ob_sublist_node *n)
{
    if (!n) return;
    size_t i = 0;
    void *child;
    while (ob_map_next(&n->children, &i, NULL, &child))
        node_free(child);
    ob_map_release(&n->children);
    node_free(n->star);
    node_free(n->rest);
    free(n->items);
    free(n->token);
    free(n);
}

static void cache_clear(struct ob_sublist *sl)
{
    size_t i = 0;
    void *v;
    while (ob_map_next(&sl->cache, &i, NULL, &v)) {
        struct cache_entry *e = v;
        free(e->subject);
        free(e->items);
        free(e);
    }
    ob_map_clear(&sl->cache);
    sl->generation++;
}

void ob_sublist_init(struct ob_sublist *sl)
{
    memset(sl, 0, sizeof *sl);
    sl->root = node_new(NULL, ob_slice_str(""));
}

void ob_sublist_release(struct ob_sublist *sl)
{
    cache_clear(sl);
    ob_map_release(&sl->cache);
    node_free(sl->root);
    free(sl->scratch.items);
    memset(sl, 0, sizeof *sl);
}

/* Splits off the next token of s at *pos; returns false at the end. */
static bool next_token(struct ob_slice s, size_t *pos, struct ob_slice *tok)
{
    if (*pos > s.n) return false;
    size_t j = *pos;
    while (j < s.n && s.p[j] != '.')
        j++;
    *tok = ob_slice_make(s.p + *pos, j - *pos);
    *pos = j + 1;
    return true;
}

static bool tok_is(struct ob_slice t, char c)
{
    return t.n == 1 && t.p[0] == (uint8_t)c;
}

static struct ob_sublist_node *child_for(struct ob_sublist_node *n, struct ob_slice tok,
                                         bool create)
{
    struct ob_sublist_node **wild = tok_is(tok, '*')   ? &n->star
                                    : tok_is(tok, '>') ? &n->rest
                                                       : NULL;
    if (wild) {
        if (!*wild && create) *wild = node_new(n, tok);
        return *wild;
    }
    struct ob_sublist_node *c = ob_map_get(&n->children, tok);
    if (!c && create) {
        c = node_new(n, tok);
        ob_map_put(&n->children, ob_slice_str(c->token), c);
    }
    return c;
}

void ob_sublist_insert(struct ob_sublist *sl, struct ob_slice filter, void *item)
{
    struct ob_sublist_node *n = sl->root;
    struct ob_slice tok;
    for (size_t pos = 0; next_token(filter, &pos, &tok);)
        n = child_for(n, tok, true);
    OB_GROW(n->items, n->cap, n->nitems + 1);
    n->items[n->nitems++] = item;
    sl->count++;
    cache_clear(sl);
}

/* Frees empty nodes from n up towards the root. */
static void prune(struct ob_sublist_node *n)
{
    while (n->parent && !n->nitems && !n->children.count && !n->star && !n->rest) {
        struct ob_sublist_node *p = n->parent;
        if (p->star == n)
            p->star = NULL;
        else if (p->rest == n)
            p->rest = NULL;
        else
            ob_map_del(&p->children, ob_slice_str(n->token));
        node_free(n);
        n = p;
    }
}

int ob_sublist_remove(struct ob_sublist *sl, struct ob_slice filter, void *item)
{
    struct ob_sublist_node *n = sl->root;
    struct ob_slice tok;
    for (size_t pos = 0; n && next_token(filter, &pos, &tok);)
        n = child_for(n, tok, false);
    if (!n) return OB_ENOENT;
    for (size_t i = 0; i < n->nitems; i++) {
        if (n->items[i] != item) continue;
        memmove(&n->items[i], &n->items[i + 1], (n->nitems - i - 1) * sizeof(void *));
        n->nitems--;
        sl->count--;
        prune(n);
        cache_clear(sl);
        return 0;
    }
    return OB_ENOENT;
}

static void collect(struct ob_sublist *sl, struct ob_sublist_node *n)
{
    if (!n->nitems) return;
    OB_GROW(sl->scratch.items, sl->scratch_cap, sl->scratch.n + n->nitems);
    memcpy(sl->scratch.items + sl->scratch.n, n->items, n->nitems * sizeof(void *));
    sl->scratch.n += n->nitems;
}

/* Matches the tokens of subject from pos against node n. */
static void match_from(struct ob_sublist *sl, struct ob_sublist_node *n, struct ob_slice subject,
                       size_t pos)
{
    struct ob_slice tok;
    if (!next_token(subject, &pos, &tok)) {
        collect(sl, n);
        return;
    }
    if (n->rest) collect(sl, n->rest);
    if (n->star) match_from(sl, n->star, subject, pos);
    struct ob_sublist_node *c = ob_map_get(&n->children, tok);
    if (c) match_from(sl, c, subject, pos);
}

/* A system subject ('$' first) is matched only through the root's literal child of its
 * first token: the root's '*' and '>' do not match it (see subject.c). */
static void match_root(struct ob_sublist *sl, struct ob_slice subject)
{
    if (!ob_subject_is_system(subject)) {
        match_from(sl, sl->root, subject, 0);
        return;
    }
    size_t pos = 0;
    struct ob_slice tok;
    if (!next_token(subject, &pos, &tok)) return;
    struct ob_sublist_node *c = ob_map_get(&sl->root->children, tok);
    if (c) match_from(sl, c, subject, pos);
}

struct ob_sublist_result ob_sublist_match(struct ob_sublist *sl, struct ob_slice subject)
{
    struct cache_entry *e = ob_map_get(&sl->cache, subject);
    if (e) {
        sl->hits++;
        return (struct ob_sublist_result){e->items, e->n};
    }
    sl->misses++;
    sl->scratch.n = 0;
    if (subject.n) match_root(sl, subject);
    if (sl->cache.count >= CACHE_MAX) cache_clear(sl);
    e = ob_xmalloc(sizeof *e);
    e->subject = ob_slice_dup(subject);
    e->subject_len = subject.n;
    e->n = sl->scratch.n;
    e->items = e->n ? ob_xmemdup(sl->scratch.items, e->n * sizeof(void *)) : NULL;
    ob_map_put(&sl->cache, ob_slice_make(e->subject, e->subject_len), e);
    return (struct ob_sublist_result){e->items, e->n};
}
