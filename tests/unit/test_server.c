/* test_server.c — the server in-process: start-up from a config (listeners, predeclared
 * streams on the bus), reload of reloadable keys, a refused reload, port in use, config
 * errors, and shutdown through the same path as SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/log.h"
#include "server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static char path[64];

static void write_config(const char *yaml)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/omnibus-test-server-%ld.yaml", (long)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    ob_log_set_level(OB_LOG_INFO);
    return 0;
}

static const char base_yaml[] = "data_dir: \"\"\n"
                                "log: {level: warn}\n"
                                "listeners: {echo: 127.0.0.1:0}\n"
                                "streams:\n"
                                "  - name: orders\n"
                                "    subjects: [orders.>]\n"
                                "    max_age: 1h\n"
                                "    max_msgs: 100\n";

static struct ob_server *open_server(void)
{
    struct ob_config_source src = {.file = path, .no_default_listeners = true};
    struct ob_diag d = {0};
    struct ob_server *s;
    int rc = ob_server_open(&s, &src, &d);
    for (size_t i = 0; i < d.nerrors; i++)
        fprintf(stderr, "%s\n", d.errors[i]);
    ob_diag_release(&d);
    assert_int_equal(rc, 0);
    return s;
}

static void test_start_and_streams(void **state)
{
    (void)state;
    write_config(base_yaml);
    struct ob_server *s = open_server();
    assert_true(ob_server_listener_port(s, "echo") > 0);
    assert_int_equal(ob_server_listener_port(s, "http"), 0);
    struct ob_stream *st = ob_stream_lookup(ob_server_bus(s), "orders");
    assert_non_null(st);
    const struct ob_stream_config *sc = ob_stream_config(st);
    assert_int_equal(sc->max_age_ms, 3600000);
    assert_int_equal(sc->max_msgs, 100);
    assert_int_equal(sc->fsync, OB_FSYNC_ALWAYS); /* from store.fsync */
    assert_int_equal(ob_log_get_level(), OB_LOG_WARN);
    ob_server_shutdown(s);
    assert_int_equal(ob_server_run(s), 0);
    ob_server_close(s);
}

static void test_reload(void **state)
{
    (void)state;
    write_config(base_yaml);
    struct ob_server *s = open_server();
    write_config("data_dir: \"\"\n"
                 "log: {level: error}\n"
                 "listeners: {echo: 127.0.0.1:1}\n"
                 "limits: {max_connections: 7}\n"
                 "auth: {users: [{name: u, tokens: [t]}]}\n");
    assert_int_equal(ob_server_reload(s), 0);
    assert_int_equal(ob_log_get_level(), OB_LOG_ERROR);
    const struct ob_config *cfg = ob_server_config(s);
    assert_int_equal(cfg->limits.max_connections, 7);
    assert_int_equal(cfg->auth.nusers, 1);
    write_config("log: {level: nope}\n");
    assert_int_equal(ob_server_reload(s), OB_ECONFIG);
    assert_int_equal(ob_server_config(s)->limits.max_connections, 7); /* kept */
    assert_int_equal(ob_log_get_level(), OB_LOG_ERROR);
    ob_server_close(s); /* close without run: shuts down on its own */
}

static void test_port_in_use(void **state)
{
    (void)state;
    write_config(base_yaml);
    struct ob_server *a = open_server();
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "data_dir: \"\"\nlog: {level: error}\nlisteners: {echo: 127.0.0.1:%u}\n",
             ob_server_listener_port(a, "echo"));
    write_config(yaml);
    struct ob_config_source src = {.file = path, .no_default_listeners = true};
    struct ob_diag d = {0};
    struct ob_server *b;
    assert_int_equal(ob_server_open(&b, &src, &d), OB_EADDRINUSE);
    assert_null(b);
    ob_server_close(a);
}

/* Sends a WebSocket upgrade for /mqtt and returns the response head (runs the loop). */
static void ws_upgrade(struct ob_server *s, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(ob_server_listener_port(s, "http"))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char req[] = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < 2000 && !strstr(buf, "\r\n\r\n"); i++) {
        ob_bus_run(ob_server_bus(s), OB_RUN_NOWAIT);
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r > 0) {
            n += (size_t)r;
            buf[n] = 0;
        } else {
            usleep(1000);
        }
    }
    close(fd);
}

/* MQTT over WebSocket is mounted because the server registers its module at start-up
 * (ob_server_http_modules), not through link order; a second server in the same
 * process registers it once and mounts it as well. */
static void test_mqtt_ws_mounted(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        write_config("data_dir: \"\"\nlog: {level: warn}\nlisteners: {http: 127.0.0.1:0}\n");
        struct ob_server *s = open_server();
        char head[2048];
        ws_upgrade(s, head, sizeof head);
        if (strncmp(head, "HTTP/1.1 101", 12) != 0) fail_msg("response: %s", head);
        assert_non_null(strcasestr(head, "Sec-WebSocket-Protocol: mqtt"));
        ob_server_close(s);
    }
}

static void test_config_error(void **state)
{
    (void)state;
    write_config("listeners: {mqtt: somewhere}\n");
    struct ob_config_source src = {.file = path};
    struct ob_diag d = {0};
    struct ob_server *s;
    assert_int_equal(ob_server_open(&s, &src, &d), OB_ECONFIG);
    assert_int_equal(d.nerrors, 1);
    assert_non_null(strstr(d.errors[0], ":1:19: listeners.mqtt: expected host:port"));
    ob_diag_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_and_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt_ws_mounted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
