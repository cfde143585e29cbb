/*
 * idempotency.h — the `Idempotency-Key` table of the REST API (IETF
 * draft-ietf-httpapi-idempotency-key-header): a retried POST with the same key gets the
 * first attempt's answer instead of publishing again.
 *
 * Bounded: at most max_entries keys; each is kept ttl_ms after it completed. When full,
 * the oldest completed entry is evicted early (its key may then publish twice, the
 * documented cost of a bound); if every entry is still in flight, begin says FULL (429).
 * A key re-used with a different request (method, path, body: the fingerprint) is a 422;
 * a key whose first request is still in flight is a 409.
 *
 * Ownership: the table owns its entries. A NEW entry is handed to the caller until it
 * calls ob_idem_finish or ob_idem_abort exactly once; a DONE entry's body is valid until
 * the next call on the table. Loop thread only.
 */
#ifndef OB_HTTP_IDEMPOTENCY_H
#define OB_HTTP_IDEMPOTENCY_H

#include <stddef.h>
#include <stdint.h>

struct ob_idem;
struct ob_idem_entry;

enum ob_idem_result {
    OB_IDEM_NEW = 0,  /* first use: do the work, then finish or abort the entry */
    OB_IDEM_DONE,     /* answered before: replay status and body */
    OB_IDEM_PENDING,  /* the first request with this key is still running (409) */
    OB_IDEM_MISMATCH, /* same key, different request (422) */
    OB_IDEM_FULL,     /* table full of in-flight entries (429) */
};

#define OB_IDEM_MAX_KEY 255

struct ob_idem *ob_idem_new(size_t max_entries, uint64_t ttl_ms);
void ob_idem_free(struct ob_idem *t);

/* Looks key up (scope: e.g. the principal, so that users cannot see each other's
 * answers). now_ns: a monotonic clock. On NEW/DONE *e is the entry. */
enum ob_idem_result ob_idem_begin(struct ob_idem *t, const char *scope, const char *key,
                                  uint64_t fingerprint, int64_t now_ns, struct ob_idem_entry **e);
/* Stores the answer of a NEW entry (body copied) and starts its expiry. */
void ob_idem_finish(struct ob_idem *t, struct ob_idem_entry *e, int status, const char *body,
                    size_t len, int64_t now_ns);
/* Forgets a NEW entry (e.g. the work failed in a way a retry may fix). */
void ob_idem_abort(struct ob_idem *t, struct ob_idem_entry *e);

int ob_idem_status(const struct ob_idem_entry *e);
const char *ob_idem_body(const struct ob_idem_entry *e, size_t *len);
size_t ob_idem_count(const struct ob_idem *t);

#endif
