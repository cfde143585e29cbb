/*
 * config.h — the server's configuration: an embedded default document, overlaid in
 * this order by a YAML file (-c FILE), OMNIBUS_PATH__TO__KEY environment variables,
 * `--set path.to.key=value` assignments and `--data-dir DIR`, then validated against a
 * strict schema into struct ob_config. Every error names where the bad value came
 * from (file:line:col, or the env variable / --set argument) and the key path, e.g.
 *   omnibus.yaml:7:3: listeners.mqtt: expected host:port or "off"
 * docs/configuration.md documents every key.
 *
 * Ownership: ob_config_load fills a struct the caller owns and frees with
 * ob_config_release; every pointer inside it is owned by the config. Diagnostics are
 * owned by the struct ob_diag (ob_diag_release).
 */
#ifndef OB_CONFIG_CONFIG_H
#define OB_CONFIG_CONFIG_H

#include "core/auth.h"

#include <omnibus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Listener slots, in the order of ob_listener_names. "echo" is a line echo service for
 * diagnosing the network layer (off by default); the others are protocol adapters. */
enum ob_listener_id {
    OB_LISTEN_HTTP,
    OB_LISTEN_MQTT,
    OB_LISTEN_AMQP,
    OB_LISTEN_STOMP,
    OB_LISTEN_KAFKA,
    OB_LISTEN_GRPC,
    OB_LISTEN_FTP,
    OB_LISTEN_SFTP,
    OB_LISTEN_ECHO,
    OB_NLISTENERS
};
extern const char *const ob_listener_names[OB_NLISTENERS];

enum ob_log_format { OB_LOG_LOGFMT = 0, OB_LOG_JSON = 1 };

struct ob_listen_config {
    bool enabled;
    char *host;    /* an IP literal, IPv6 without brackets; NULL when disabled */
    uint16_t port; /* 0: any free port */
};

struct ob_log_config {
    int level;  /* enum ob_log_level */
    int format; /* enum ob_log_format */
};

struct ob_limits_config {
    uint64_t max_connections;        /* 0: unlimited */
    uint64_t max_connections_per_ip; /* 0: unlimited */
    uint64_t max_msg_size;           /* bytes, <= 64 MiB */
    uint64_t max_frame_size;         /* bytes */
    uint64_t conn_write_buffer;      /* bytes queued per connection before back-pressure */
    uint64_t idle_timeout_ms;        /* 0: none */
};

/* The HTTP server layer (struct ob_http_options in src/http/server.h). */
struct ob_http_config {
    uint64_t header_timeout_ms;    /* 0: none */
    uint64_t keepalive_timeout_ms; /* 0: none */
    uint64_t max_header_bytes;     /* needs a restart */
    uint64_t max_headers;          /* needs a restart */
    uint64_t h2_max_streams;       /* needs a restart */
    char **cors_origins;           /* origins, or the single entry "*"; none: CORS off */
    size_t ncors_origins;
    bool access_log;
    bool gzip;
};

/* The MQTT broker (struct ob_mqtt_options in src/proto/mqtt/session.h); every key needs
 * a restart (the broker takes them when it is created). */
struct ob_mqtt_config {
    uint64_t max_inflight_messages; /* unacked QoS 1/2 deliveries per client */
    uint64_t max_queued_messages;   /* deliveries waiting per clean session */
    uint64_t receive_maximum;       /* v5 Receive Maximum we announce */
    uint64_t max_keepalive;         /* seconds; v5 larger or 0 -> Server Keep Alive */
    uint64_t sys_interval_ms;       /* $SYS publishing period; 0: never */
    uint64_t topic_alias_maximum;   /* inbound topic aliases; 0: none */
    uint64_t max_packet_size;       /* bytes; 0: limits.max_frame_size */
};

struct ob_store_config {
    int fsync; /* enum ob_fsync */
    uint64_t fsync_interval_ms;
    uint64_t segment_bytes;
};

#define OB_STREAM_FSYNC_DEFAULT (-1) /* a stream without fsync: store.fsync */

struct ob_stream_decl {
    char *name;
    char **subjects;
    size_t nsubjects;
    int retention; /* enum ob_retention */
    uint64_t max_msgs;
    uint64_t max_bytes;
    uint64_t max_age_ms;
    int fsync;      /* enum ob_fsync or OB_STREAM_FSYNC_DEFAULT */
    int compaction; /* enum ob_compaction */
};

struct cfg_node;

struct ob_config {
    char *data_dir; /* NULL: in memory only (data_dir: "") */
    struct ob_log_config log;
    struct ob_listen_config listeners[OB_NLISTENERS];
    struct ob_limits_config limits;
    struct ob_http_config http;
    struct ob_mqtt_config mqtt;
    struct ob_store_config store;
    struct ob_auth_config auth;
    struct ob_stream_decl *streams;
    size_t nstreams;
    struct cfg_node *tree; /* private: the merged document ob_config_set edits */
};

/* Where a configuration comes from. Every member is optional. */
struct ob_config_source {
    const char *file; /* a YAML file (-c FILE) */
    const char *text; /* or a YAML document in memory (used if file is NULL) */
    size_t text_len;
    const char *text_name;   /* name for text in messages; NULL: "<memory>" */
    char *const *envp;       /* environment scanned for OMNIBUS_*; NULL: none */
    const char *const *sets; /* "path.to.key=value" assignments, applied in order */
    size_t nsets;
    const char *data_dir;      /* --data-dir, applied last */
    bool no_default_listeners; /* every listener off before the overlays */
};

/* Messages, one line each without a trailing newline. */
struct ob_diag {
    char **errors;
    size_t nerrors;
    char **warnings;
    size_t nwarnings;
};
void ob_diag_release(struct ob_diag *d);

/* The compiled-in default document. */
extern const char ob_config_default_yaml[];

/* Loads and validates. 0 (warnings may be present) or OB_ECONFIG with diag->errors
 * filled; on error *cfg is zeroed and needs no release. */
int ob_config_load(struct ob_config *cfg, const struct ob_config_source *src, struct ob_diag *diag);

/* Applies one "path.to.key=value" assignment (source names it in messages; NULL:
 * "--set ASSIGNMENT") and revalidates. On error cfg is unchanged. */
int ob_config_set(struct ob_config *cfg, const char *assignment, const char *source,
                  struct ob_diag *diag);

void ob_config_release(struct ob_config *cfg);

/* Whether a change to key (e.g. "log.level", "auth.users") takes effect on SIGHUP:
 * log.*, limits.* (but max_msg_size), http.* (but max_header_bytes, max_headers and
 * h2_max_streams) and auth.* do; listeners, data_dir, store and streams need a
 * restart. false for unknown keys. */
bool ob_config_key_reloadable(const char *key);

/* Calls fn once per leaf key (lists count as one key) whose value differs between a
 * and b, in schema order. Returns the number of differences. */
typedef void (*ob_config_change_fn)(void *arg, const char *key, bool reloadable);
size_t ob_config_diff(const struct ob_config *a, const struct ob_config *b, ob_config_change_fn fn,
                      void *arg);

/* Parsers shared with the tests: sizes ("65536", "64KiB", "8MiB", "1GB"), durations
 * ("0", "500ms", "30s", "5m", "24h", "7d") in milliseconds, listen addresses
 * ("127.0.0.1:8080", "[::1]:8080", "off"; host is allocated). 0 or OB_EINVAL. */
int ob_parse_size(const char *s, uint64_t *out);
int ob_parse_duration_ms(const char *s, uint64_t *out);
int ob_parse_listen(const char *s, struct ob_listen_config *out);

#endif
