/*
 * client_sub.c — `omnibus sub FILTER...`: Server-Sent Events from /v1/subscribe, printed
 * one message per line (the message JSON, or with --raw the payload). After a
 * disconnect (server restart, network, a cut-off for being slow) it reconnects after
 * the server's retry delay and sends Last-Event-ID, so a stream-backed subscription
 * resumes without a gap. It stops on --count N messages, on "event: end", on a 204
 * (nothing more to send) or on a client error (4xx).
 */
#include "cli/client.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RETRY_MS 10000

struct sse {
    struct ob_buf line, data;
    char last_id[256];
    char event[64];
    long retry_ms;
    long count, limit; /* limit 0: forever */
    bool raw, ended, connected;
};

static void emit(struct sse *s)
{
    if (!s->data.len && !s->event[0]) return;
    ob_buf_putc(&s->data, 0);
    const char *ev = s->event[0] ? s->event : "message";
    if (!strcmp(ev, "message")) {
        json_t *j = s->raw ? json_loads((const char *)s->data.p, 0, NULL) : NULL;
        const char *p = json_string_value(json_object_get(j, "payload"));
        if (s->raw && p)
            printf("%s\n", p);
        else
            printf("%s\n", (const char *)s->data.p);
        fflush(stdout);
        json_decref(j);
        s->count++;
    } else if (!strcmp(ev, "end")) {
        s->ended = true;
    } else {
        fprintf(stderr, "omnibus sub: event %s: %s\n", ev, (const char *)s->data.p);
    }
    s->data.len = 0;
    s->event[0] = 0;
}

/* One SSE line (without its end of line). */
static void field(struct sse *s, const char *l, size_t n)
{
    const char *colon = memchr(l, ':', n);
    size_t nl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    if (v < l + n && *v == ' ') v++;
    size_t vl = (size_t)(l + n - v);
    if (n == 0) {
        emit(s); /* an empty line ends the event */
        return;
    }
    if (nl == 0) return; /* a comment: heartbeat */
    if (nl == 4 && !memcmp(l, "data", 4)) {
        if (s->data.len) ob_buf_putc(&s->data, '\n');
        ob_buf_append(&s->data, v, vl);
    } else if (nl == 2 && !memcmp(l, "id", 2) && vl < sizeof s->last_id) {
        memcpy(s->last_id, v, vl);
        s->last_id[vl] = 0;
    } else if (nl == 5 && !memcmp(l, "event", 5) && vl < sizeof s->event) {
        memcpy(s->event, v, vl);
        s->event[vl] = 0;
    } else if (nl == 5 && !memcmp(l, "retry", 5)) {
        s->retry_ms = strtol(v, NULL, 10);
    }
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sse *s = arg;
    s->connected = true;
    for (size_t i = 0; i < size * n; i++) {
        if (p[i] == '\r') continue; /* CRLF and LF both end a line */
        if (p[i] != '\n') {
            ob_buf_putc(&s->line, (uint8_t)p[i]);
            continue;
        }
        field(s, (const char *)s->line.p, s->line.len);
        s->line.len = 0;
        if (s->ended || (s->limit && s->count >= s->limit)) return 0; /* stop the transfer */
    }
    return size * n;
}

static char *sub_url(const struct ob_cli_opts *o, char **filters, size_t n, long from)
{
    struct ob_buf b = OB_BUF_INIT;
    const char *base = o->url ? o->url : getenv("OMNIBUS_URL");
    if (!base || !*base) base = "http://127.0.0.1:8080";
    ob_buf_printf(&b, "%s/v1/subscribe?", base);
    for (size_t i = 0; i < n; i++) {
        char *e = ob_cli_escape(filters[i]);
        ob_buf_printf(&b, "%ssubject=%s", i ? "&" : "", e);
        free(e);
    }
    if (from > 0) ob_buf_printf(&b, "&from_seq=%ld", from);
    ob_buf_putc(&b, 0);
    return (char *)b.p;
}

/* One connection; returns the HTTP status (0: no response). */
static long connect_once(struct sse *s, const struct ob_cli_opts *o, const char *url)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Accept: text/event-stream");
    char lei[300];
    if (s->last_id[0]) {
        snprintf(lei, sizeof lei, "Last-Event-ID: %s", s->last_id);
        h = curl_slist_append(h, lei);
    }
    ob_cli_auth(c, o, &h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    /* heartbeats come every 15 s: 60 s of silence means a dead connection */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    s->line.len = s->data.len = 0;
    s->event[0] = 0;
    curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ob_cli_sub(int argc, char **argv)
{
    struct ob_cli_opts o = {0};
    struct sse s = {.retry_ms = 1000};
    char **filters = ob_xcalloc((size_t)argc + 1, sizeof *filters);
    size_t n = 0;
    long from = 0;
    for (int i = 0; i < argc; i++) {
        if (ob_cli_common_opt(&o, argc, argv, &i)) continue;
        if (!strcmp(argv[i], "--raw"))
            s.raw = true;
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            s.limit = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--from-seq") && i + 1 < argc)
            from = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            filters[n++] = argv[i];
        else {
            free(filters);
            fprintf(stderr, "omnibus sub: unknown option %s\n%s", argv[i], ob_cli_client_usage);
            return 1;
        }
    }
    if (!n) {
        free(filters);
        fprintf(stderr, "omnibus sub: needs a FILTER\n%s", ob_cli_client_usage);
        return 1;
    }
    char *url = sub_url(&o, filters, n, from);
    int rc = 0;
    long backoff = 0;
    while (!s.ended && !(s.limit && s.count >= s.limit)) {
        s.connected = false;
        long status = connect_once(&s, &o, url);
        if (status == 204) break;
        if (status >= 400 && status < 500) {
            fprintf(stderr, "omnibus sub: HTTP %ld\n", status);
            rc = 1;
            break;
        }
        if (s.ended || (s.limit && s.count >= s.limit)) break;
        backoff = s.connected ? s.retry_ms : (backoff ? backoff * 2 : s.retry_ms);
        if (backoff > MAX_RETRY_MS) backoff = MAX_RETRY_MS;
        fprintf(stderr, "omnibus sub: disconnected; reconnecting in %ld ms%s%s\n", backoff,
                s.last_id[0] ? " from " : "", s.last_id);
        sleep_ms(backoff);
    }
    ob_buf_release(&s.line);
    ob_buf_release(&s.data);
    free(url);
    free(filters);
    return rc;
}
