/*
 * codec.h — the MQTT 3.1, 3.1.1 and 5.0 wire codec: bytes in, packet structs out, and back.
 *
 * Pure (nghttp2's rule): no I/O, no globals, no allocation except the decoder's own
 * scratch. The session layer feeds whatever the socket delivered; the decoder copes with a
 * packet split at any byte and hands out struct ob_mqtt_packet whose slices point into the
 * caller's bytes (zero copy) or, for a packet that arrived in pieces, into the decoder's
 * own reassembly buffer.
 *
 * Errors: a packet that breaks the spec stops the decoder with a negative OB_E* code and a
 * struct ob_mqtt_error that names the v5 reason code the session should answer with
 * (DISCONNECT, or CONNACK when the bad packet is the CONNECT; in 3.1.1 the session just
 * closes). Malformed (0x81) means the bytes do not parse; Protocol Error (0x82) means they
 * parse but break a rule; a few rules have their own codes (0x84, 0x8F, 0x90, 0x94, 0x95).
 *
 * Ownership: every struct ob_slice and array pointer in a decoded packet is borrowed: valid
 * until the next ob_mqtt_decode() call on that decoder, and (for zero-copy packets) while
 * the caller's input bytes stay unchanged. Encoders take borrowed input and append to a
 * caller-owned struct ob_buf.
 */
#ifndef OB_PROTO_MQTT_CODEC_H
#define OB_PROTO_MQTT_CODEC_H

#include "base/buf.h"

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol levels as carried in CONNECT. */
enum ob_mqtt_version {
    OB_MQTT_V31 = 3,  /* "MQIsdp", decoded like 3.1.1 */
    OB_MQTT_V311 = 4, /* "MQTT" */
    OB_MQTT_V5 = 5,   /* "MQTT" */
};

enum ob_mqtt_type {
    OB_MQTT_CONNECT = 1,
    OB_MQTT_CONNACK = 2,
    OB_MQTT_PUBLISH = 3,
    OB_MQTT_PUBACK = 4,
    OB_MQTT_PUBREC = 5,
    OB_MQTT_PUBREL = 6,
    OB_MQTT_PUBCOMP = 7,
    OB_MQTT_SUBSCRIBE = 8,
    OB_MQTT_SUBACK = 9,
    OB_MQTT_UNSUBSCRIBE = 10,
    OB_MQTT_UNSUBACK = 11,
    OB_MQTT_PINGREQ = 12,
    OB_MQTT_PINGRESP = 13,
    OB_MQTT_DISCONNECT = 14,
    OB_MQTT_AUTH = 15, /* v5 only */
};

/* MQTT 5.0 reason codes (section 2.4). 3.1.1 CONNACK return codes are 0..5 instead. */
enum ob_mqtt_reason {
    OB_MQTT_RC_SUCCESS = 0x00, /* also: normal disconnection, granted QoS 0 */
    OB_MQTT_RC_GRANTED_QOS1 = 0x01,
    OB_MQTT_RC_GRANTED_QOS2 = 0x02,
    OB_MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    OB_MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    OB_MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    OB_MQTT_RC_CONTINUE_AUTH = 0x18,
    OB_MQTT_RC_REAUTHENTICATE = 0x19,
    OB_MQTT_RC_UNSPECIFIED = 0x80,
    OB_MQTT_RC_MALFORMED = 0x81,
    OB_MQTT_RC_PROTOCOL_ERROR = 0x82,
    OB_MQTT_RC_IMPL_SPECIFIC = 0x83,
    OB_MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    OB_MQTT_RC_CLIENT_ID_INVALID = 0x85,
    OB_MQTT_RC_BAD_USER_OR_PASSWORD = 0x86,
    OB_MQTT_RC_NOT_AUTHORIZED = 0x87,
    OB_MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    OB_MQTT_RC_SERVER_BUSY = 0x89,
    OB_MQTT_RC_BANNED = 0x8A,
    OB_MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    OB_MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    OB_MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    OB_MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    OB_MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    OB_MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    OB_MQTT_RC_PACKET_ID_IN_USE = 0x91,
    OB_MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    OB_MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
    OB_MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    OB_MQTT_RC_PACKET_TOO_LARGE = 0x95,
    OB_MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    OB_MQTT_RC_QUOTA_EXCEEDED = 0x97,
    OB_MQTT_RC_ADMIN_ACTION = 0x98,
    OB_MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    OB_MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    OB_MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    OB_MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    OB_MQTT_RC_SERVER_MOVED = 0x9D,
    OB_MQTT_RC_SHARED_SUB_NOT_SUPPORTED = 0x9E,
    OB_MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    OB_MQTT_RC_MAX_CONNECT_TIME = 0xA0,
    OB_MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    OB_MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* MQTT 5.0 property identifiers (section 2.2.2.2). */
enum ob_mqtt_prop_id {
    OB_MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    OB_MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    OB_MQTT_PROP_CONTENT_TYPE = 0x03,
    OB_MQTT_PROP_RESPONSE_TOPIC = 0x08,
    OB_MQTT_PROP_CORRELATION_DATA = 0x09,
    OB_MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    OB_MQTT_PROP_SESSION_EXPIRY = 0x11,
    OB_MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    OB_MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    OB_MQTT_PROP_AUTH_METHOD = 0x15,
    OB_MQTT_PROP_AUTH_DATA = 0x16,
    OB_MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    OB_MQTT_PROP_WILL_DELAY = 0x18,
    OB_MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    OB_MQTT_PROP_RESPONSE_INFO = 0x1A,
    OB_MQTT_PROP_SERVER_REFERENCE = 0x1C,
    OB_MQTT_PROP_REASON_STRING = 0x1F,
    OB_MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    OB_MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    OB_MQTT_PROP_TOPIC_ALIAS = 0x23,
    OB_MQTT_PROP_MAXIMUM_QOS = 0x24,
    OB_MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    OB_MQTT_PROP_USER = 0x26,
    OB_MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    OB_MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    OB_MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    OB_MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Where a property block sits: a packet type, or the will properties inside CONNECT. */
#define OB_MQTT_PROPS_WILL 16

/* Protocol limits. */
#define OB_MQTT_MAX_REMAINING 268435455u /* largest variable-byte integer */
#define OB_MQTT_MAX_PACKET    (1u + 4u + OB_MQTT_MAX_REMAINING)

/*
 * v5 properties of one packet (or of a will). A property is carried iff its bit
 * (1 << id) is set in present; the field then holds its value. Subscription identifiers
 * and user properties may repeat: they are arrays, in wire order (the bit is set when the
 * array is non-empty). Decoded arrays belong to the decoder; for encoding, the caller's.
 */
struct ob_mqtt_props {
    uint64_t present;
    uint8_t payload_format;             /* 0x01: 0 bytes, 1 UTF-8 */
    uint32_t message_expiry;            /* 0x02: seconds */
    struct ob_slice content_type;       /* 0x03 */
    struct ob_slice response_topic;     /* 0x08 */
    struct ob_slice correlation_data;   /* 0x09: binary */
    uint32_t session_expiry;            /* 0x11: seconds */
    struct ob_slice assigned_client_id; /* 0x12 */
    uint16_t server_keep_alive;         /* 0x13 */
    struct ob_slice auth_method;        /* 0x15 */
    struct ob_slice auth_data;          /* 0x16: binary */
    uint8_t request_problem_info;       /* 0x17 */
    uint32_t will_delay;                /* 0x18: seconds */
    uint8_t request_response_info;      /* 0x19 */
    struct ob_slice response_info;      /* 0x1A */
    struct ob_slice server_reference;   /* 0x1C */
    struct ob_slice reason_string;      /* 0x1F */
    uint16_t receive_maximum;           /* 0x21 */
    uint16_t topic_alias_maximum;       /* 0x22 */
    uint16_t topic_alias;               /* 0x23 */
    uint8_t maximum_qos;                /* 0x24 */
    uint8_t retain_available;           /* 0x25 */
    uint32_t maximum_packet_size;       /* 0x27 */
    uint8_t wildcard_sub_available;     /* 0x28 */
    uint8_t sub_id_available;           /* 0x29 */
    uint8_t shared_sub_available;       /* 0x2A */
    const uint32_t *sub_ids;            /* 0x0B: several only in PUBLISH */
    size_t nsub_ids;
    const struct ob_header *user; /* 0x26: name/value UTF-8 pairs */
    size_t nuser;
};

static inline bool ob_mqtt_props_has(const struct ob_mqtt_props *p, enum ob_mqtt_prop_id id)
{
    return (p->present >> id) & 1u;
}

struct ob_mqtt_connect {
    uint8_t version;  /* protocol level: 3, 4 or 5 */
    bool clean_start; /* "clean session" in 3.1.1 */
    uint16_t keep_alive;
    struct ob_slice client_id;
    bool will;
    uint8_t will_qos;
    bool will_retain;
    struct ob_mqtt_props will_props; /* v5 */
    struct ob_slice will_topic;
    struct ob_slice will_payload;
    bool has_username;
    bool has_password;
    struct ob_slice username;
    struct ob_slice password;
};

struct ob_mqtt_connack {
    bool session_present;
    uint8_t reason; /* v5 reason code, or 3.1.1 return code 0..5 */
};

struct ob_mqtt_publish {
    bool dup;
    uint8_t qos;
    bool retain;
    struct ob_slice topic; /* empty in v5 when a topic alias stands for it */
    uint16_t packet_id;    /* QoS 1 and 2 only */
    struct ob_slice payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
struct ob_mqtt_ack {
    uint16_t packet_id;
    uint8_t reason; /* v5; 0 in 3.1.1 */
};

struct ob_mqtt_sub {
    struct ob_slice filter;
    uint8_t qos;              /* maximum QoS */
    bool no_local;            /* v5 */
    bool retain_as_published; /* v5 */
    uint8_t retain_handling;  /* v5: 0 send, 1 send if new, 2 never */
};

struct ob_mqtt_subscribe {
    uint16_t packet_id;
    const struct ob_mqtt_sub *subs;
    size_t nsubs;
};

/* SUBACK and UNSUBACK: one reason code per filter (3.1.1 UNSUBACK has none). */
struct ob_mqtt_suback {
    uint16_t packet_id;
    struct ob_slice reasons;
};

struct ob_mqtt_unsubscribe {
    uint16_t packet_id;
    const struct ob_slice *filters;
    size_t nfilters;
};

/* DISCONNECT and AUTH (v5 carry a reason; 3.1.1 DISCONNECT is empty). */
struct ob_mqtt_reason_only {
    uint8_t reason;
};

struct ob_mqtt_packet {
    uint8_t type;               /* enum ob_mqtt_type */
    struct ob_mqtt_props props; /* v5 */
    union {
        struct ob_mqtt_connect connect;
        struct ob_mqtt_connack connack;
        struct ob_mqtt_publish publish;
        struct ob_mqtt_ack ack;
        struct ob_mqtt_subscribe subscribe;
        struct ob_mqtt_suback suback;
        struct ob_mqtt_unsubscribe unsubscribe;
        struct ob_mqtt_reason_only disconnect;
        struct ob_mqtt_reason_only auth;
    };
    size_t wire_size; /* decoded: bytes on the wire, fixed header included */
};

/* ---- decoder ------------------------------------------------------------------------ */

struct ob_mqtt_error {
    uint8_t reason;   /* v5 reason code for the peer */
    uint8_t type;     /* type of the offending packet; 0 if its fixed header was bad */
    const char *what; /* static detail for logs */
};

/* Growable arrays a decoder reuses for the repeated parts of a property block. */
struct ob_mqtt_scratch {
    struct ob_header *user;
    size_t user_cap;
    uint32_t *ids;
    size_t ids_cap;
};

struct ob_mqtt_dec_arrays; /* codec.c */

/* Embeddable; fields other than those set by ob_mqtt_decoder_init are private. */
struct ob_mqtt_decoder {
    uint8_t version;          /* 0 until set: then only CONNECT is accepted */
    uint32_t max_packet_size; /* whole packet, fixed header included */
    /* private */
    struct ob_buf buf; /* reassembly of a packet that arrived in pieces */
    bool have_header;
    bool reset_buf;
    uint8_t first_byte;
    uint8_t header_len;
    uint32_t remaining;
    int failed; /* sticky OB_E* code once an error was reported */
    struct ob_mqtt_error err;
    /* Arrays for repeated parts (user properties, subscriptions), allocated the first
     * time a packet has any: an idle 3.1.1 connection never needs them. */
    struct ob_mqtt_dec_arrays *arrays;
};

/* version: 0 (server before CONNECT) or 3/4/5; max_packet_size 0 means the protocol's. */
void ob_mqtt_decoder_init(struct ob_mqtt_decoder *d, uint8_t version, uint32_t max_packet_size);
void ob_mqtt_decoder_release(struct ob_mqtt_decoder *d);
/* Called by the session once CONNECT fixed the protocol level. */
void ob_mqtt_decoder_set_version(struct ob_mqtt_decoder *d, uint8_t version);

/*
 * Feeds n bytes. Returns 1 with *pkt filled when a packet completed (*consumed says how
 * many input bytes it took: call again with the rest), 0 when every byte was consumed
 * without completing one (the partial packet is kept), or a negative OB_E* code
 * (OB_EPROTO, OB_ETOOBIG, OB_ENOTSUP) with ob_mqtt_decoder_error() saying why; errors are
 * sticky. Too large is reported as soon as the fixed header is known, before any of the
 * body is buffered. A CONNECT is decoded with the protocol level it carries.
 */
int ob_mqtt_decode(struct ob_mqtt_decoder *d, const uint8_t *in, size_t n, size_t *consumed,
                   struct ob_mqtt_packet *pkt);
const struct ob_mqtt_error *ob_mqtt_decoder_error(const struct ob_mqtt_decoder *d);

/* ---- encoder ------------------------------------------------------------------------ */

/*
 * Appends pkt encoded for protocol level version (CONNECT uses pkt->connect.version).
 * Returns 0, OB_EINVAL if pkt breaks a rule the decoder enforces (a value out of range,
 * packet id 0, a property not allowed in this packet or version, a string over 65535
 * bytes), or OB_ETOOBIG past the protocol's size limit; out is unchanged on error. The
 * encoder trusts that strings are valid UTF-8 and topics valid: check input from
 * elsewhere with the functions below.
 */
int ob_mqtt_encode(struct ob_buf *out, uint8_t version, const struct ob_mqtt_packet *pkt);
/* PUBLISH without its payload, for writev(header, payload): the remaining length counts
 * pkt->publish.payload.n but only the bytes before the payload are appended. */
int ob_mqtt_encode_publish_header(struct ob_buf *out, uint8_t version,
                                  const struct ob_mqtt_packet *pkt);

/* Deep equality of two packets decoded or built for the same version (wire_size ignored). */
bool ob_mqtt_packet_equal(const struct ob_mqtt_packet *a, const struct ob_mqtt_packet *b);
bool ob_mqtt_props_equal(const struct ob_mqtt_props *a, const struct ob_mqtt_props *b);
/* True when p carries no property at all. */
bool ob_mqtt_props_empty(const struct ob_mqtt_props *p);
const char *ob_mqtt_type_name(uint8_t type);

/* ---- strings and topics (topic.c) --------------------------------------------------- */

/* Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) without U+0000. */
bool ob_mqtt_utf8_valid(struct ob_slice s);
/* A topic name: 1..65535 bytes, valid UTF-8, no '+' or '#'. */
bool ob_mqtt_topic_valid(struct ob_slice topic);
/* A topic filter: 1..65535 bytes, valid UTF-8, '+' only as a whole level, '#' only as the
 * whole last level. */
bool ob_mqtt_filter_valid(struct ob_slice filter);
/* MQTT matching (section 4.7), including: a filter starting with a wildcard does not
 * match a topic starting with '$'; "a/#" matches "a". Both arguments must be valid. */
bool ob_mqtt_filter_matches(struct ob_slice filter, struct ob_slice topic);
/* "$share/<group>/<filter>": returns 1 and sets group and filter for a valid shared
 * subscription, 0 if the filter is not shared, OB_EINVAL if it starts with "$share/" but
 * breaks the rules (empty group, '+' or '#' in it, no filter after it). */
int ob_mqtt_shared_split(struct ob_slice filter, struct ob_slice *group, struct ob_slice *inner);

/* ---- pieces shared by codec.c and props.c (not for sessions) ------------------------- */

/* Variable-byte integer: returns its length (1..4), 0 if more bytes are needed, or -1 if
 * malformed (a fifth byte, or not the minimal encoding, which v5 1.5.5 requires and
 * 3.1.1's algorithm only ever produces: we reject it in every version). */
int ob_mqtt_vbi_decode(const uint8_t *p, size_t n, uint32_t *value);
size_t ob_mqtt_vbi_size(uint32_t v);

/* A bounds-checked cursor over a packet body; failures record the reason in *err. */
struct ob_mqtt_rd {
    const uint8_t *p;
    size_t n;
    size_t off;
    struct ob_mqtt_error *err;
};
int ob_mqtt_rd_fail(struct ob_mqtt_rd *r, uint8_t reason, const char *what);
int ob_mqtt_rd_u8(struct ob_mqtt_rd *r, uint8_t *v);
int ob_mqtt_rd_u16(struct ob_mqtt_rd *r, uint16_t *v);
int ob_mqtt_rd_u32(struct ob_mqtt_rd *r, uint32_t *v);
int ob_mqtt_rd_vbi(struct ob_mqtt_rd *r, uint32_t *v);
int ob_mqtt_rd_bin(struct ob_mqtt_rd *r, struct ob_slice *s);
int ob_mqtt_rd_str(struct ob_mqtt_rd *r, struct ob_slice *s);

/* An appender that, with b == NULL, only counts (so a length can precede its content);
 * err latches OB_EINVAL when a string or binary is over 65535 bytes. */
struct ob_mqtt_wr {
    struct ob_buf *b;
    size_t n;
    int err;
};
void ob_mqtt_wr_u8(struct ob_mqtt_wr *w, uint8_t v);
void ob_mqtt_wr_u16(struct ob_mqtt_wr *w, uint16_t v);
void ob_mqtt_wr_u32(struct ob_mqtt_wr *w, uint32_t v);
void ob_mqtt_wr_vbi(struct ob_mqtt_wr *w, uint32_t v);
void ob_mqtt_wr_raw(struct ob_mqtt_wr *w, struct ob_slice s);
void ob_mqtt_wr_bin(struct ob_mqtt_wr *w, struct ob_slice s); /* u16 length + bytes */

/* Property blocks (props.c). where is a packet type or OB_MQTT_PROPS_WILL. Decoding reads
 * the length prefix and block; arrays go to scratch. */
int ob_mqtt_props_decode(struct ob_mqtt_rd *r, unsigned where, struct ob_mqtt_props *out,
                         struct ob_mqtt_scratch *scratch);
void ob_mqtt_scratch_release(struct ob_mqtt_scratch *s);
/* 0, or OB_EINVAL if p carries a property not allowed at where or a value out of range. */
int ob_mqtt_props_check(const struct ob_mqtt_props *p, unsigned where);
/* Writes length prefix and block (assumes ob_mqtt_props_check passed). */
void ob_mqtt_props_write(struct ob_mqtt_wr *w, const struct ob_mqtt_props *p);

#endif
