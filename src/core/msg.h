/*
 * msg.h — message internals shared by the core and the store codec.
 *
 * A message is one allocation: the struct, its header array, then the bytes of the
 * subject, header names and values, key and payload. It is immutable after creation
 * and shared by every delivery; the reference count is atomic so a message may later
 * be handed across loops.
 */
#ifndef OB_CORE_MSG_H
#define OB_CORE_MSG_H

#include <omnibus.h>
#include <stdatomic.h>

#include "base/buf.h"

#define OB_MSG_MAX_TOTAL   (UINT32_C(64) << 20)
#define OB_MSG_MAX_HEADERS 1024u

struct ob_msg {
    atomic_uint refs;
    int64_t ts;
    struct ob_slice subject;
    struct ob_slice key;
    struct ob_slice payload;
    size_t nheaders;
    struct ob_header headers[]; /* then the data bytes */
};

/* Bytes the message accounts for in stream limits: subject + headers + key + payload. */
size_t ob_msg_size(const struct ob_msg *m);

/*
 * Store body encoding of a message (the record header carries the timestamp):
 *   u16 subject_len, subject, u16 nheaders, { u16 name_len, name, u32 value_len, value }*,
 *   u32 key_len, key, u32 payload_len, payload   (little-endian)
 */
void ob_msg_encode(struct ob_buf *out, const struct ob_msg *m);
/* Decodes a body produced by ob_msg_encode into a new message (one reference).
 * OB_ECORRUPT on any inconsistency, OB_EBADSUBJECT for an invalid subject. */
int ob_msg_decode(struct ob_slice body, int64_t ts, struct ob_msg **out);

#endif
