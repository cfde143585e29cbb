/* test_config.c — config loading: defaults, layering (file, env, --set, --data-dir),
 * unit parsers, and that every error names file:line:col (or its source) and the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ob_config_source text_source(const char *yaml)
{
    struct ob_config_source s = {
        .text = yaml, .text_len = strlen(yaml), .text_name = "omnibus.yaml"};
    return s;
}

/* Loads yaml (expecting failure) and asserts the single error equals want. */
static void expect_error(const char *yaml, const char *want)
{
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = text_source(yaml);
    int rc = ob_config_load(&cfg, &s, &d);
    if (rc != OB_ECONFIG || d.nerrors < 1 || strcmp(d.errors[0], want) != 0) {
        fprintf(stderr, "yaml:\n%s\nwant: %s\n", yaml, want);
        for (size_t i = 0; i < d.nerrors; i++)
            fprintf(stderr, "got:  %s\n", d.errors[i]);
        fail();
    }
    ob_diag_release(&d);
}

static void test_defaults(void **state)
{
    (void)state;
    struct ob_config cfg;
    struct ob_diag d = {0};
    assert_int_equal(ob_config_load(&cfg, NULL, &d), 0);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(d.nwarnings, 0);
    assert_string_equal(cfg.data_dir, "./omnibus-data");
    assert_int_equal(cfg.log.level, OB_LOG_INFO);
    assert_int_equal(cfg.log.format, OB_LOG_LOGFMT);
    static const uint16_t ports[] = {8080, 1883, 5672, 61613, 9092, 8085, 2121, 2222};
    for (int i = 0; i < OB_LISTEN_ECHO; i++) {
        assert_true(cfg.listeners[i].enabled);
        assert_string_equal(cfg.listeners[i].host, "127.0.0.1");
        assert_int_equal(cfg.listeners[i].port, ports[i]);
    }
    assert_false(cfg.listeners[OB_LISTEN_ECHO].enabled);
    assert_int_equal(cfg.limits.max_msg_size, 8u << 20);
    assert_int_equal(cfg.limits.conn_write_buffer, 1u << 20);
    assert_int_equal(cfg.limits.max_connections, 10000);
    assert_int_equal(cfg.store.fsync, OB_FSYNC_ALWAYS);
    assert_int_equal(cfg.store.segment_bytes, 64u << 20);
    assert_int_equal(cfg.auth.anonymous, OB_ANON_LOOPBACK);
    assert_int_equal(cfg.auth.nusers, 0);
    assert_int_equal(cfg.nstreams, 0);
    ob_config_release(&cfg);
}

static void test_listener_names(void **state)
{
    (void)state;
    static const char *const want[] = {"http", "mqtt", "amqp", "stomp", "kafka",
                                       "grpc", "ftp",  "sftp", "echo"};
    for (int i = 0; i < OB_NLISTENERS; i++) {
        assert_string_equal(ob_listener_names[i], want[i]);
        char key[64];
        snprintf(key, sizeof key, "listeners.%s", want[i]);
        assert_false(ob_config_key_reloadable(key));
    }
}

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {{"0", 0},
              {"65536", 65536},
              {"64KiB", 65536},
              {"1MiB", 1 << 20},
              {"8MiB", 8u << 20},
              {"2GiB", UINT64_C(2) << 30},
              {"1TiB", UINT64_C(1) << 40},
              {"10B", 10},
              {"5KB", 5000},
              {"3 MB", 3000000},
              {"1GB", 1000000000}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        assert_int_equal(ob_parse_size(ok[i].s, &v), 0);
        assert_true(v == ok[i].v);
    }
    static const char *const bad[] = {
        "", "-1", "1.5MiB", "MiB", "1mib", "1 XB", "1KiBs", "99999999999999999999", "20000000TiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        assert_int_equal(ob_parse_size(bad[i], &v), OB_EINVAL);
    }
}

static void test_parse_duration(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(ob_parse_duration_ms("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(ob_parse_duration_ms("500ms", &v), 0);
    assert_true(v == 500);
    assert_int_equal(ob_parse_duration_ms("30s", &v), 0);
    assert_true(v == 30000);
    assert_int_equal(ob_parse_duration_ms("5m", &v), 0);
    assert_true(v == 300000);
    assert_int_equal(ob_parse_duration_ms("7d", &v), 0);
    assert_true(v == 7 * 86400000ull);
    assert_int_equal(ob_parse_duration_ms("10", &v), OB_EINVAL);
    assert_int_equal(ob_parse_duration_ms("1w", &v), OB_EINVAL);
}

static void test_parse_listen(void **state)
{
    (void)state;
    struct ob_listen_config l;
    assert_int_equal(ob_parse_listen("127.0.0.1:8080", &l), 0);
    assert_true(l.enabled);
    assert_string_equal(l.host, "127.0.0.1");
    assert_int_equal(l.port, 8080);
    free(l.host);
    assert_int_equal(ob_parse_listen("[::1]:0", &l), 0);
    assert_string_equal(l.host, "::1");
    assert_int_equal(l.port, 0);
    free(l.host);
    assert_int_equal(ob_parse_listen("localhost:1", &l), 0);
    assert_string_equal(l.host, "127.0.0.1");
    free(l.host);
    assert_int_equal(ob_parse_listen("off", &l), 0);
    assert_false(l.enabled);
    static const char *const bad[] = {"8080",       "127.0.0.1", "127.0.0.1:",     "1.2.3.4:65536",
                                      "::1:80",     "[::1]80",   "example.com:80", "[1.2.3.4]:80",
                                      "1.2.3.4:-1", "on"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ob_parse_listen(bad[i], &l), OB_EINVAL);
}

static void test_file_overrides_default(void **state)
{
    (void)state;
    const char *yaml = "log:\n"
                       "  level: debug\n"
                       "listeners:\n"
                       "  mqtt: off\n"
                       "  http: \"[::1]:18080\"\n"
                       "limits:\n"
                       "  conn_write_buffer: 64KiB\n"
                       "streams:\n"
                       "  - name: orders\n"
                       "    subjects: [orders.>, \"billing.*\"]\n"
                       "    retention: workqueue\n"
                       "    max_age: 7d\n"
                       "    max_bytes: 1GiB\n"
                       "    compaction: key\n";
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = text_source(yaml);
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_int_equal(cfg.log.level, OB_LOG_DEBUG);
    assert_int_equal(cfg.log.format, OB_LOG_LOGFMT); /* untouched keys keep defaults */
    assert_false(cfg.listeners[OB_LISTEN_MQTT].enabled);
    assert_string_equal(cfg.listeners[OB_LISTEN_HTTP].host, "::1");
    assert_int_equal(cfg.listeners[OB_LISTEN_HTTP].port, 18080);
    assert_true(cfg.listeners[OB_LISTEN_AMQP].enabled);
    assert_int_equal(cfg.limits.conn_write_buffer, 65536);
    assert_int_equal(cfg.nstreams, 1);
    assert_string_equal(cfg.streams[0].name, "orders");
    assert_int_equal(cfg.streams[0].nsubjects, 2);
    assert_string_equal(cfg.streams[0].subjects[1], "billing.*");
    assert_int_equal(cfg.streams[0].retention, OB_RETAIN_WORKQUEUE);
    assert_true(cfg.streams[0].max_age_ms == 7 * 86400000ull);
    assert_true(cfg.streams[0].max_bytes == UINT64_C(1) << 30);
    assert_int_equal(cfg.streams[0].fsync, OB_STREAM_FSYNC_DEFAULT);
    assert_int_equal(cfg.streams[0].compaction, OB_COMPACT_KEY);
    ob_config_release(&cfg);
}

static void test_errors_name_position_and_key(void **state)
{
    (void)state;
    expect_error("listeners:\n  http: 127.0.0.1:8080\n  mqtt: nowhere\n",
                 "omnibus.yaml:3:9: listeners.mqtt: expected host:port or \"off\"");
    expect_error("log:\n  levle: debug\n", "omnibus.yaml:2:3: log.levle: unknown key");
    expect_error("bogus: 1\n", "omnibus.yaml:1:1: bogus: unknown key");
    expect_error("log:\n  level: loud\n",
                 "omnibus.yaml:2:10: log.level: expected one of debug|info|warn|error, got "
                 "\"loud\"");
    expect_error("limits:\n  max_msg_size: 8 parsecs\n",
                 "omnibus.yaml:2:17: limits.max_msg_size: expected a size like 65536, 64KiB or "
                 "8MiB, got \"8 parsecs\"");
    expect_error("limits:\n  max_msg_size: 1GiB\n",
                 "omnibus.yaml:2:17: limits.max_msg_size: 1GiB is out of range [1, 67108864]");
    expect_error("limits:\n  max_connections: -3\n",
                 "omnibus.yaml:2:20: limits.max_connections: expected a whole number, got "
                 "\"-3\"");
    expect_error("log: [debug]\n", "omnibus.yaml:1:6: log: expected a mapping, not a list");
    expect_error("data_dir: {a: 1}\n",
                 "omnibus.yaml:1:11: data_dir: expected a string, not a mapping");
    expect_error("store:\n  fsync: sometimes\n",
                 "omnibus.yaml:2:10: store.fsync: expected one of always|interval|never, got "
                 "\"sometimes\"");
    expect_error("auth:\n  anonymous: maybe\n",
                 "omnibus.yaml:2:14: auth.anonymous: expected one of loopback|always|never, got "
                 "\"maybe\"");
}

static void test_errors_in_lists(void **state)
{
    (void)state;
    expect_error("streams:\n  - name: a\n    subjects: [\"a..b\"]\n",
                 "omnibus.yaml:3:16: streams[0].subjects[0]: not a valid subject filter");
    expect_error("streams:\n  - subjects: [a]\n",
                 "omnibus.yaml:2:5: streams[0]: missing required key \"name\"");
    expect_error("streams:\n  - {name: a, subjects: [a]}\n  - {name: a, subjects: [b]}\n",
                 "omnibus.yaml:3:5: streams[1]: duplicate stream \"a\"");
    expect_error("streams:\n  - {name: \"a b\", subjects: [a]}\n",
                 "omnibus.yaml:2:12: streams[0].name: must be 1 to 64 characters "
                 "[A-Za-z0-9_-]");
    expect_error("auth:\n  users:\n    - name: bob\n",
                 "omnibus.yaml:3:7: auth.users[0]: needs password_hash, password or tokens");
    expect_error("auth:\n  users:\n    - name: bob\n      password_hash: secret\n",
                 "omnibus.yaml:4:22: auth.users[0].password_hash: expected an argon2id hash "
                 "from `omnibus passwd`");
    expect_error("auth:\n  rules:\n    - {user: eve, actions: [publish], subjects: [a]}\n",
                 "omnibus.yaml:3:14: auth.rules[0]: user \"eve\" is not in auth.users (use "
                 "\"*\" or \"anonymous\" for those)");
    expect_error("auth:\n  rules:\n    - {user: \"*\", actions: [read], subjects: [a]}\n",
                 "omnibus.yaml:3:29: auth.rules[0].actions: expected publish or subscribe, got "
                 "\"read\"");
    expect_error("auth:\n  rules:\n    - {user: \"*\", effect: maybe, actions: [publish], "
                 "subjects: [a]}\n",
                 "omnibus.yaml:3:27: auth.rules[0].effect: expected one of deny|allow, got "
                 "\"maybe\"");
    expect_error("auth:\n  users:\n    - {name: anonymous, tokens: [t]}\n",
                 "omnibus.yaml:3:14: auth.users[0].name: is reserved for rules");
}

static void test_errors_yaml_level(void **state)
{
    (void)state;
    expect_error("log:\n  level: [\n", "omnibus.yaml:3:1: invalid YAML: did not find expected "
                                       "node content");
    expect_error("log: {level: info}\nlog: {level: info}\n",
                 "omnibus.yaml:2:1: duplicate key \"log\"");
    expect_error("a: &x 1\nb: *x\n", "omnibus.yaml:2:4: YAML aliases are not supported");
    expect_error("- 1\n", "omnibus.yaml:1:1: expected a mapping of keys at the top level");
    expect_error("log: {}\n---\nlog: {}\n", "omnibus.yaml:2:1: only one YAML document is "
                                            "allowed");
    expect_error("data_dir: \"a\\0b\"\n", "omnibus.yaml:1:11: data_dir: contains a NUL byte");
    expect_error("? [a]\n: 1\n", "omnibus.yaml:1:3: mapping keys must be plain strings");
}

static void test_all_errors_reported(void **state)
{
    (void)state;
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = text_source("log: {level: x, format: y}\nlimits: {nope: 1}\n");
    assert_int_equal(ob_config_load(&cfg, &s, &d), OB_ECONFIG);
    assert_int_equal(d.nerrors, 3);
    ob_diag_release(&d);
}

static void test_file_source(void **state)
{
    (void)state;
    char path[] = "/tmp/omnibus-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "# comment\nlisteners:\n  kafka: 10.0.0.1\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = {.file = path};
    assert_int_equal(ob_config_load(&cfg, &s, &d), OB_ECONFIG);
    char want[256];
    snprintf(want, sizeof want, "%s:3:10: listeners.kafka: expected host:port or \"off\"", path);
    assert_string_equal(d.errors[0], want);
    ob_diag_release(&d);
    unlink(path);
    assert_int_equal(ob_config_load(&cfg, &s, &d), OB_ECONFIG);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(d.errors[0], want);
    ob_diag_release(&d);
}

static void test_env_overrides(void **state)
{
    (void)state;
    char *env[] = {"PATH=/bin",
                   "OMNIBUS_LOG__LEVEL=warn",
                   "omnibus_x=ignored",
                   "OMNIBUS_LIMITS__MAX_CONNECTIONS=5",
                   "OMNIBUS_Listeners__Mqtt=127.0.0.1:11883",
                   "OMNIBUS_STREAMS=[{name: s, subjects: [a.>]}]",
                   "OMNIBUS_AUTH__USERS__0__NAME=alice",
                   "OMNIBUS_AUTH__USERS__0__TOKENS=t1,t2",
                   NULL};
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = text_source("log: {level: debug}\n");
    s.envp = env;
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_int_equal(cfg.log.level, OB_LOG_WARN);
    assert_int_equal(cfg.limits.max_connections, 5);
    assert_int_equal(cfg.listeners[OB_LISTEN_MQTT].port, 11883);
    assert_int_equal(cfg.nstreams, 1);
    assert_string_equal(cfg.streams[0].subjects[0], "a.>");
    assert_int_equal(cfg.auth.nusers, 1);
    assert_string_equal(cfg.auth.users[0].name, "alice");
    assert_int_equal(cfg.auth.users[0].ntokens, 2);
    assert_string_equal(cfg.auth.users[0].tokens[1], "t2");
    ob_config_release(&cfg);

    char *bad[] = {"OMNIBUS_LISTENERS__HTTP=nope", "OMNIBUS_LOG__COLOR=red", NULL};
    s.envp = bad;
    assert_int_equal(ob_config_load(&cfg, &s, &d), OB_ECONFIG);
    assert_int_equal(d.nerrors, 2);
    assert_string_equal(d.errors[0], "env OMNIBUS_LOG__COLOR: log.color: unknown key");
    assert_string_equal(d.errors[1], "env OMNIBUS_LISTENERS__HTTP: listeners.http: expected "
                                     "host:port or \"off\"");
    ob_diag_release(&d);
}

static void test_set_and_precedence(void **state)
{
    (void)state;
    char *env[] = {"OMNIBUS_LOG__LEVEL=warn", "OMNIBUS_DATA_DIR=/env", NULL};
    static const char rule[] = "auth.rules=[{user: '*', effect: deny, actions: [publish], "
                               "subjects: [a.>]}]";
    const char *sets[] = {"log.level=error", "listeners.http=[::1]:9000", rule};
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = text_source("log: {level: debug}\ndata_dir: /file\n");
    s.envp = env;
    s.sets = sets;
    s.nsets = 3;
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_int_equal(cfg.log.level, OB_LOG_ERROR); /* --set beats env beats file */
    assert_string_equal(cfg.data_dir, "/env");
    assert_string_equal(cfg.listeners[OB_LISTEN_HTTP].host, "::1");
    assert_int_equal(cfg.auth.nrules, 1);
    assert_int_equal(cfg.auth.rules[0].effect, OB_RULE_DENY);
    assert_int_equal(cfg.auth.rules[0].actions, OB_ACT_PUBLISH);
    ob_config_release(&cfg);

    s.data_dir = "/flag"; /* --data-dir beats everything */
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_string_equal(cfg.data_dir, "/flag");
    ob_config_release(&cfg);

    const char *bad[] = {"listeners.http=..."};
    s.sets = bad;
    s.nsets = 1;
    assert_int_equal(ob_config_load(&cfg, &s, &d), OB_ECONFIG);
    assert_string_equal(d.errors[0], "--set listeners.http=...: listeners.http: expected "
                                     "host:port or \"off\"");
    ob_diag_release(&d);
    const char *bad2[] = {"listeners.gopher=127.0.0.1:70", "noequals", "auth.users.3.name=x"};
    s.sets = bad2;
    s.nsets = 3;
    assert_int_equal(ob_config_load(&cfg, &s, &d), OB_ECONFIG);
    assert_int_equal(d.nerrors, 3);
    assert_string_equal(d.errors[0],
                        "--set listeners.gopher=127.0.0.1:70: listeners.gopher: unknown key");
    assert_string_equal(d.errors[1], "--set noequals: expected path.to.key=value");
    assert_string_equal(d.errors[2],
                        "--set auth.users.3.name=x: auth.users.3.name: no such list element");
    ob_diag_release(&d);
}

static void test_no_default_listeners(void **state)
{
    (void)state;
    const char *sets[] = {"listeners.echo=127.0.0.1:0"};
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = {.no_default_listeners = true, .sets = sets, .nsets = 1};
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    for (int i = 0; i < OB_LISTEN_ECHO; i++)
        assert_false(cfg.listeners[i].enabled);
    assert_true(cfg.listeners[OB_LISTEN_ECHO].enabled);
    ob_config_release(&cfg);
    /* a file may turn a listener back on */
    s = text_source("listeners: {stomp: 127.0.0.1:1}\n");
    s.no_default_listeners = true;
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_true(cfg.listeners[OB_LISTEN_STOMP].enabled);
    assert_false(cfg.listeners[OB_LISTEN_HTTP].enabled);
    ob_config_release(&cfg);
}

static void test_config_set(void **state)
{
    (void)state;
    struct ob_config cfg;
    struct ob_diag d = {0};
    assert_int_equal(ob_config_load(&cfg, NULL, &d), 0);
    assert_int_equal(ob_config_set(&cfg, "limits.max_msg_size=1MiB", NULL, &d), 0);
    assert_int_equal(cfg.limits.max_msg_size, 1 << 20);
    assert_int_equal(ob_config_set(&cfg, "limits.max_msg_size=lots", NULL, &d), OB_ECONFIG);
    assert_string_equal(d.errors[0], "--set limits.max_msg_size=lots: limits.max_msg_size: "
                                     "expected a size like 65536, 64KiB or 8MiB, got \"lots\"");
    assert_int_equal(cfg.limits.max_msg_size, 1 << 20); /* unchanged */
    ob_diag_release(&d);
    assert_int_equal(ob_config_set(&cfg, "data_dir=", "test", &d), 0);
    assert_null(cfg.data_dir); /* "" means in memory */
    assert_int_equal(ob_config_set(&cfg, "auth.users.0={name: u, password: pw}", NULL, &d), 0);
    assert_int_equal(cfg.auth.nusers, 1);
    assert_int_equal(d.nwarnings, 1);
    assert_non_null(strstr(d.warnings[0], "auth.users[0].password: plain-text password"));
    assert_int_equal(ob_config_set(&cfg, "auth.users.0.password=pw2", NULL, &d), 0);
    assert_string_equal(cfg.auth.users[0].password, "pw2");
    ob_diag_release(&d);
    ob_config_release(&cfg);
}

struct diffs {
    char keys[8][64];
    bool reload[8];
    int n;
};

static void on_change(void *arg, const char *key, bool reloadable)
{
    struct diffs *d = arg;
    snprintf(d->keys[d->n], sizeof d->keys[0], "%s", key);
    d->reload[d->n++] = reloadable;
}

static void test_diff_and_reloadable(void **state)
{
    (void)state;
    struct ob_config a, b;
    struct ob_diag d = {0};
    const char *sets[] = {"log.level=debug", "listeners.http=127.0.0.1:1",
                          "auth.users=[{name: x, tokens: [t]}]", "limits.idle_timeout=5m"};
    struct ob_config_source s = {.sets = sets, .nsets = 4};
    assert_int_equal(ob_config_load(&a, NULL, &d), 0);
    assert_int_equal(ob_config_load(&b, &s, &d), 0);
    assert_int_equal(ob_config_diff(&a, &a, NULL, NULL), 0);
    struct diffs got = {0};
    assert_int_equal(ob_config_diff(&a, &b, on_change, &got), 4);
    assert_string_equal(got.keys[0], "log.level");
    assert_true(got.reload[0]);
    assert_string_equal(got.keys[1], "listeners.http");
    assert_false(got.reload[1]);
    assert_string_equal(got.keys[2], "limits.idle_timeout");
    assert_true(got.reload[2]);
    assert_string_equal(got.keys[3], "auth.users");
    assert_true(got.reload[3]);
    assert_true(ob_config_key_reloadable("auth.rules"));
    assert_true(ob_config_key_reloadable("limits.max_connections"));
    assert_false(ob_config_key_reloadable("limits.max_msg_size")); /* the bus has it */
    assert_false(ob_config_key_reloadable("streams"));
    assert_false(ob_config_key_reloadable("store.fsync"));
    assert_false(ob_config_key_reloadable("no.such"));
    ob_config_release(&a);
    ob_config_release(&b);
}

/* ---- http ---------------------------------------------------------------------------- */

static void test_http_defaults(void **state)
{
    (void)state;
    struct ob_config cfg;
    struct ob_diag d = {0};
    assert_int_equal(ob_config_load(&cfg, NULL, &d), 0);
    assert_int_equal(cfg.http.header_timeout_ms, 10000);
    assert_int_equal(cfg.http.keepalive_timeout_ms, 60000);
    assert_int_equal(cfg.http.max_header_bytes, 16 * 1024);
    assert_int_equal(cfg.http.max_headers, 100);
    assert_int_equal(cfg.http.h2_max_streams, 100);
    assert_int_equal(cfg.http.ncors_origins, 1);
    assert_string_equal(cfg.http.cors_origins[0], "*");
    assert_true(cfg.http.access_log);
    assert_true(cfg.http.gzip);
    ob_config_release(&cfg);
}

static void test_http_values(void **state)
{
    (void)state;
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s =
        text_source("http:\n  header_timeout: 2s\n  keepalive_timeout: 0\n"
                    "  max_header_bytes: 64KiB\n  max_headers: 50\n  h2_max_streams: 10\n"
                    "  cors_origins: [\"https://a.example\", \"http://localhost:3000\"]\n"
                    "  access_log: false\n  gzip: False\n");
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_int_equal(cfg.http.header_timeout_ms, 2000);
    assert_int_equal(cfg.http.keepalive_timeout_ms, 0);
    assert_int_equal(cfg.http.max_header_bytes, 64 * 1024);
    assert_int_equal(cfg.http.max_headers, 50);
    assert_int_equal(cfg.http.h2_max_streams, 10);
    assert_int_equal(cfg.http.ncors_origins, 2);
    assert_string_equal(cfg.http.cors_origins[1], "http://localhost:3000");
    assert_false(cfg.http.access_log);
    assert_false(cfg.http.gzip);
    ob_config_release(&cfg);

    /* A single value is a list of one; an empty list turns CORS off. */
    s = text_source("http: {cors_origins: \"*\"}\n");
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_int_equal(cfg.http.ncors_origins, 1);
    assert_string_equal(cfg.http.cors_origins[0], "*");
    ob_config_release(&cfg);
    s = text_source("http: {cors_origins: []}\n");
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_int_equal(cfg.http.ncors_origins, 0);
    ob_config_release(&cfg);

    /* --set and the environment: comma-separated origins, booleans. */
    char *env[] = {"OMNIBUS_HTTP__GZIP=false", NULL};
    const char *sets[] = {"http.cors_origins=https://a.example,https://b.example:8443",
                          "http.access_log=false", "http.header_timeout=500ms"};
    struct ob_config_source o = {.envp = env, .sets = sets, .nsets = 3};
    assert_int_equal(ob_config_load(&cfg, &o, &d), 0);
    assert_int_equal(cfg.http.ncors_origins, 2);
    assert_string_equal(cfg.http.cors_origins[0], "https://a.example");
    assert_string_equal(cfg.http.cors_origins[1], "https://b.example:8443");
    assert_false(cfg.http.access_log);
    assert_false(cfg.http.gzip);
    assert_int_equal(cfg.http.header_timeout_ms, 500);
    assert_int_equal(ob_config_set(&cfg, "http.cors_origins=", NULL, &d), 0);
    assert_int_equal(cfg.http.ncors_origins, 0);
    ob_config_release(&cfg);
    assert_int_equal(d.nerrors, 0);
}

static void test_http_errors(void **state)
{
    (void)state;
    expect_error("http:\n  access_log: yes\n",
                 "omnibus.yaml:2:15: http.access_log: expected true or false, got \"yes\"");
    expect_error("http:\n  gzip: [true]\n",
                 "omnibus.yaml:2:9: http.gzip: expected true or false, not a list");
    expect_error("http:\n  header_timeout: soon\n",
                 "omnibus.yaml:2:19: http.header_timeout: expected a duration like 500ms, 30s, "
                 "5m, 24h or 7d, got \"soon\"");
    expect_error("http:\n  header_timeout: 2h\n",
                 "omnibus.yaml:2:19: http.header_timeout: 2h is out of range [0, 3600000]");
    expect_error("http:\n  max_headers: 0\n",
                 "omnibus.yaml:2:16: http.max_headers: 0 is out of range [1, 10000]");
    expect_error("http:\n  max_header_bytes: 2MiB\n",
                 "omnibus.yaml:2:21: http.max_header_bytes: 2MiB is out of range [1024, "
                 "1048576]");
    expect_error("http:\n  h2_max_streams: many\n",
                 "omnibus.yaml:2:19: http.h2_max_streams: expected a whole number, got "
                 "\"many\"");
    expect_error("http:\n  cors_origins: [\"https://a.example\", \"https://b.example/app\"]\n",
                 "omnibus.yaml:2:39: http.cors_origins[1]: expected \"*\" or an origin "
                 "scheme://host[:port] in lower case without a path, like "
                 "https://app.example.com");
    expect_error("http:\n  cors_origins: a.example\n",
                 "omnibus.yaml:2:17: http.cors_origins: expected \"*\" or an origin "
                 "scheme://host[:port] in lower case without a path, like "
                 "https://app.example.com");
    expect_error("http:\n  cors_origins: [\"*\", \"https://a.example\"]\n",
                 "omnibus.yaml:2:17: http.cors_origins: \"*\" must be the only entry");
    expect_error("http:\n  cors_origins: {a: 1}\n",
                 "omnibus.yaml:2:17: http.cors_origins: expected a list, not a mapping");
    expect_error("http:\n  gzipp: true\n", "omnibus.yaml:2:3: http.gzipp: unknown key");

    struct ob_config cfg;
    struct ob_diag d = {0};
    const char *sets[] = {"http.access_log=maybe"};
    struct ob_config_source s = {.sets = sets, .nsets = 1};
    assert_int_equal(ob_config_load(&cfg, &s, &d), OB_ECONFIG);
    assert_string_equal(d.errors[0], "--set http.access_log=maybe: http.access_log: expected "
                                     "true or false, got \"maybe\"");
    ob_diag_release(&d);
}

static void test_http_reloadable(void **state)
{
    (void)state;
    static const char *const live[] = {"http.header_timeout", "http.keepalive_timeout",
                                       "http.cors_origins", "http.access_log", "http.gzip"};
    static const char *const restart[] = {"http.max_header_bytes", "http.max_headers",
                                          "http.h2_max_streams"};
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        assert_true(ob_config_key_reloadable(live[i]));
    for (size_t i = 0; i < sizeof restart / sizeof restart[0]; i++)
        assert_false(ob_config_key_reloadable(restart[i]));

    struct ob_config a, b;
    struct ob_diag d = {0};
    const char *sets[] = {"http.access_log=false", "http.max_headers=7",
                          "http.cors_origins=https://a.example"};
    struct ob_config_source s = {.sets = sets, .nsets = 3};
    assert_int_equal(ob_config_load(&a, NULL, &d), 0);
    assert_int_equal(ob_config_load(&b, &s, &d), 0);
    struct diffs got = {0};
    assert_int_equal(ob_config_diff(&a, &b, on_change, &got), 3);
    assert_string_equal(got.keys[0], "http.max_headers");
    assert_false(got.reload[0]);
    assert_string_equal(got.keys[1], "http.cors_origins");
    assert_true(got.reload[1]);
    assert_string_equal(got.keys[2], "http.access_log");
    assert_true(got.reload[2]);
    ob_config_release(&a);
    ob_config_release(&b);
}

static void test_mqtt_keys(void **state)
{
    (void)state;
    struct ob_config cfg;
    struct ob_diag d = {0};
    assert_int_equal(ob_config_load(&cfg, NULL, &d), 0);
    assert_int_equal(cfg.mqtt.max_inflight_messages, 1000);
    assert_int_equal(cfg.mqtt.max_queued_messages, 100000);
    assert_int_equal(cfg.mqtt.receive_maximum, 1024);
    assert_int_equal(cfg.mqtt.max_keepalive, 3600);
    assert_int_equal(cfg.mqtt.sys_interval_ms, 10000);
    assert_int_equal(cfg.mqtt.topic_alias_maximum, 64);
    assert_int_equal(cfg.mqtt.max_packet_size, 0);
    ob_config_release(&cfg);

    struct ob_config_source s =
        text_source("mqtt:\n  max_inflight_messages: 20\n  max_queued_messages: 500\n"
                    "  receive_maximum: 7\n  max_keepalive: 60\n  sys_interval: 0\n"
                    "  topic_alias_maximum: 0\n  max_packet_size: 64KiB\n");
    assert_int_equal(ob_config_load(&cfg, &s, &d), 0);
    assert_int_equal(cfg.mqtt.max_inflight_messages, 20);
    assert_int_equal(cfg.mqtt.max_queued_messages, 500);
    assert_int_equal(cfg.mqtt.receive_maximum, 7);
    assert_int_equal(cfg.mqtt.max_keepalive, 60);
    assert_int_equal(cfg.mqtt.sys_interval_ms, 0);
    assert_int_equal(cfg.mqtt.topic_alias_maximum, 0);
    assert_int_equal(cfg.mqtt.max_packet_size, 64 * 1024);
    ob_config_release(&cfg);

    char *env[] = {"OMNIBUS_MQTT__RECEIVE_MAXIMUM=99", NULL};
    const char *sets[] = {"mqtt.sys_interval=30s", "mqtt.max_keepalive=120"};
    struct ob_config_source o = {.envp = env, .sets = sets, .nsets = 2};
    assert_int_equal(ob_config_load(&cfg, &o, &d), 0);
    assert_int_equal(cfg.mqtt.receive_maximum, 99);
    assert_int_equal(cfg.mqtt.sys_interval_ms, 30000);
    assert_int_equal(cfg.mqtt.max_keepalive, 120);
    ob_config_release(&cfg);
    assert_int_equal(d.nerrors, 0);

    expect_error("mqtt:\n  receive_maximum: 0\n",
                 "omnibus.yaml:2:20: mqtt.receive_maximum: 0 is out of range [1, 65535]");
    expect_error("mqtt:\n  max_inflight_messages: 70000\n",
                 "omnibus.yaml:2:26: mqtt.max_inflight_messages: 70000 is out of range [1, "
                 "65535]");
    expect_error("mqtt:\n  max_keepalive: 1h\n",
                 "omnibus.yaml:2:18: mqtt.max_keepalive: expected a whole number, got \"1h\"");
    expect_error("mqtt:\n  topic_alias_maximum: 65536\n",
                 "omnibus.yaml:2:24: mqtt.topic_alias_maximum: 65536 is out of range [0, 65535]");
    expect_error("mqtt:\n  max_packet_size: 1GiB\n",
                 "omnibus.yaml:2:20: mqtt.max_packet_size: 1GiB is out of range [0, 268435460]");
    expect_error("mqtt:\n  sys_interval: 2d\n",
                 "omnibus.yaml:2:17: mqtt.sys_interval: 2d is out of range [0, 86400000]");
    expect_error("mqtt:\n  max_inflight: 5\n", "omnibus.yaml:2:3: mqtt.max_inflight: unknown key");
    /* Not reloadable: the broker takes them when it starts. */
    assert_false(ob_config_key_reloadable("mqtt.receive_maximum"));
}

/* The example shipped in the repository must load cleanly. */
static void test_example_file(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strstr(path, "tests/unit/");
    assert_non_null(slash);
    strcpy(slash, "omnibus.example.yaml");
    struct ob_config cfg;
    struct ob_diag d = {0};
    struct ob_config_source s = {.file = path};
    int rc = ob_config_load(&cfg, &s, &d);
    for (size_t i = 0; i < d.nerrors; i++)
        fprintf(stderr, "%s\n", d.errors[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(d.nwarnings, 0);
    ob_diag_release(&d);
    ob_config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_listener_names),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_file_overrides_default),
        cmocka_unit_test(test_errors_name_position_and_key),
        cmocka_unit_test(test_errors_in_lists),
        cmocka_unit_test(test_errors_yaml_level),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_file_source),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_set_and_precedence),
        cmocka_unit_test(test_no_default_listeners),
        cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_diff_and_reloadable),
        cmocka_unit_test(test_mqtt_keys),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_http_defaults),
        cmocka_unit_test(test_http_values),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_http_reloadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
