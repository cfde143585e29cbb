/*
 * defaults.c — the compiled-in default configuration: the bottom layer every other
 * layer overlays, and the place where every key gets its default value. Keep it in
 * step with docs/configuration.md.
 */
#include "config/config.h"

const char ob_config_default_yaml[] = "data_dir: ./omnibus-data\n"
                                      "log:\n"
                                      "  level: info\n"
                                      "  format: logfmt\n"
                                      "listeners:\n"
                                      "  http: 127.0.0.1:8080\n"
                                      "  mqtt: 127.0.0.1:1883\n"
                                      "  amqp: 127.0.0.1:5672\n"
                                      "  stomp: 127.0.0.1:61613\n"
                                      "  kafka: 127.0.0.1:9092\n"
                                      "  grpc: 127.0.0.1:8085\n"
                                      "  ftp: 127.0.0.1:2121\n"
                                      "  sftp: 127.0.0.1:2222\n"
                                      "  echo: off\n"
                                      "limits:\n"
                                      "  max_connections: 10000\n"
                                      "  max_connections_per_ip: 1000\n"
                                      "  max_msg_size: 8MiB\n"
                                      "  max_frame_size: 16MiB\n"
                                      "  conn_write_buffer: 1MiB\n"
                                      "  idle_timeout: 0\n"
                                      "store:\n"
                                      "  fsync: always\n"
                                      "  fsync_interval_ms: 100\n"
                                      "  segment_bytes: 64MiB\n"
                                      "auth:\n"
                                      "  anonymous: loopback\n"
                                      "  users: []\n"
                                      "  rules: []\n"
                                      "streams: []\n";
