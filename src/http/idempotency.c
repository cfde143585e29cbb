/*
 * idempotency.c — bounded Idempotency-Key table (see idempotency.h): a hash map from
 * "scope\nkey" to entries, plus a FIFO list in creation order for expiry and eviction.
 */
#include "http/idempotency.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/map.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ob_idem_entry {
    struct ob_idem_entry *prev, *next; /* FIFO, oldest first */
    char *id;                          /* "scope\nkey": the map key */
    uint64_t fingerprint;
    bool done;
    int status;
    char *body;
    size_t len;
    int64_t expires_ns;
};

struct ob_idem {
    struct ob_map map;
    struct ob_idem_entry *head, *tail;
    size_t count, max;
    int64_t ttl_ns;
};

struct ob_idem *ob_idem_new(size_t max_entries, uint64_t ttl_ms)
{
    struct ob_idem *t = ob_xcalloc(1, sizeof *t);
    t->max = max_entries ? max_entries : 1;
    t->ttl_ns = (int64_t)ttl_ms * OB_NS_PER_MS;
    return t;
}

static void unlink_entry(struct ob_idem *t, struct ob_idem_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    ob_map_del(&t->map, ob_slice_str(e->id));
    t->count--;
    free(e->id);
    free(e->body);
    free(e);
}

void ob_idem_free(struct ob_idem *t)
{
    if (!t) return;
    while (t->head)
        unlink_entry(t, t->head);
    ob_map_release(&t->map);
    free(t);
}

/* Drops expired entries; they sit at the front in creation order, and completion
 * comes soon after creation, so scanning stops at the first live completed one. */
static void expire(struct ob_idem *t, int64_t now)
{
    struct ob_idem_entry *e = t->head;
    while (e) {
        struct ob_idem_entry *next = e->next;
        if (e->done && e->expires_ns <= now)
            unlink_entry(t, e);
        else if (e->done)
            break;
        e = next;
    }
}

/* Makes room for one more entry by evicting the oldest completed one. */
static bool make_room(struct ob_idem *t)
{
    if (t->count < t->max) return true;
    for (struct ob_idem_entry *e = t->head; e; e = e->next)
        if (e->done) {
            unlink_entry(t, e);
            return true;
        }
    return false;
}

enum ob_idem_result ob_idem_begin(struct ob_idem *t, const char *scope, const char *key,
                                  uint64_t fingerprint, int64_t now_ns, struct ob_idem_entry **out)
{
    struct ob_buf id = OB_BUF_INIT;
    ob_buf_printf(&id, "%s\n%s", scope, key);
    expire(t, now_ns);
    struct ob_idem_entry *e = ob_map_get(&t->map, ob_slice_make(id.p, id.len));
    enum ob_idem_result r = OB_IDEM_NEW;
    if (e) {
        r = e->fingerprint != fingerprint ? OB_IDEM_MISMATCH
            : e->done                     ? OB_IDEM_DONE
                                          : OB_IDEM_PENDING;
    } else if (!make_room(t)) {
        r = OB_IDEM_FULL;
    } else {
        e = ob_xcalloc(1, sizeof *e);
        e->id = ob_xstrndup((const char *)id.p, id.len);
        e->fingerprint = fingerprint;
        e->prev = t->tail;
        if (t->tail)
            t->tail->next = e;
        else
            t->head = e;
        t->tail = e;
        t->count++;
        ob_map_put(&t->map, ob_slice_str(e->id), e);
    }
    ob_buf_release(&id);
    *out = (r == OB_IDEM_NEW || r == OB_IDEM_DONE) ? e : NULL;
    return r;
}

void ob_idem_finish(struct ob_idem *t, struct ob_idem_entry *e, int status, const char *body,
                    size_t len, int64_t now_ns)
{
    e->done = true;
    e->status = status;
    e->body = ob_xmalloc(len + 1);
    memcpy(e->body, body, len);
    e->body[len] = 0;
    e->len = len;
    e->expires_ns = now_ns + t->ttl_ns;
}

void ob_idem_abort(struct ob_idem *t, struct ob_idem_entry *e)
{
    unlink_entry(t, e);
}

int ob_idem_status(const struct ob_idem_entry *e)
{
    return e->status;
}

const char *ob_idem_body(const struct ob_idem_entry *e, size_t *len)
{
    *len = e->len;
    return e->body;
}

size_t ob_idem_count(const struct ob_idem *t)
{
    return t->count;
}
