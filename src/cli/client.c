/*
 * client.c — client subcommands (see client.h): the shared HTTP helper on libcurl, and
 * `pub` and `stream`. `sub` is in client_sub.c, `bench http` in client_bench.c.
 */
#include "cli/client.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char ob_cli_client_usage[] =
    "client commands (talk to a server's HTTP API; --url URL, default http://127.0.0.1:8080\n"
    "or $OMNIBUS_URL; --token T or --user NAME:PASSWORD to authenticate):\n"
    "  pub SUBJECT [DATA|-]        publish DATA (or stdin with -, or no DATA); prints the\n"
    "                              stream and sequence. -H 'Name: value' adds a header,\n"
    "                              --key K, --content-type T\n"
    "  sub FILTER...               print messages as they come (SSE); reconnects and resumes\n"
    "                              from the last position. --raw (payloads only), --count N,\n"
    "                              --from-seq N\n"
    "  stream ls                   list streams\n"
    "  stream add NAME FILTER...   create a stream (--retention limits|interest|workqueue,\n"
    "                              --max-msgs N, --max-bytes N, --max-age-ms N, --memory,\n"
    "                              --fsync always|interval|never)\n"
    "  stream info NAME            a stream's configuration and state\n"
    "  stream rm NAME              delete a stream\n"
    "  bench http                  publish load over REST (--count N, --size BYTES,\n"
    "                              --concurrency C, --subject S); a progress line on a TTY\n";

/* ---- shared helpers ----------------------------------------------------------------- */

bool ob_cli_common_opt(struct ob_cli_opts *o, int argc, char **argv, int *i)
{
    static const char *const names[] = {"--url", "--token", "--user"};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(names[k]);
        const char *a = argv[*i], *v = NULL;
        if (!strncmp(a, names[k], n) && a[n] == '=')
            v = a + n + 1;
        else if (!strcmp(a, names[k]) && *i + 1 < argc)
            v = argv[++*i];
        else
            continue;
        const char **dst[] = {&o->url, &o->token, &o->user};
        *dst[k] = v;
        return true;
    }
    return false;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    ob_buf_append(arg, p, size * n);
    return size * n;
}

void ob_cli_auth(void *curl, const struct ob_cli_opts *o, struct curl_slist **headers)
{
    if (o->user) {
        if (!curl) return; /* the caller sets CURLOPT_USERPWD on each handle */
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, o->user);
    } else if (o->token) {
        char h[512];
        snprintf(h, sizeof h, "Authorization: Bearer %s", o->token);
        *headers = curl_slist_append(*headers, h);
    }
}

static char *full_url(const struct ob_cli_opts *o, const char *path)
{
    const char *base = o->url ? o->url : getenv("OMNIBUS_URL");
    if (!base || !*base) base = "http://127.0.0.1:8080";
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_printf(&b, "%.*s%s", (int)n, base, path);
    ob_buf_putc(&b, 0);
    return (char *)b.p;
}

int ob_cli_request(const struct ob_cli_opts *o, const char *method, const char *path,
                   const void *body, size_t len, const char *const *extra, struct ob_cli_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct ob_buf out = OB_BUF_INIT;
    char *url = full_url(o, path);
    for (size_t i = 0; extra && extra[i]; i++)
        h = curl_slist_append(h, extra[i]);
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    ob_cli_auth(c, o, &h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, resp->error);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (rc != CURLE_OK && !resp->error[0])
        snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(rc));
    ob_buf_putc(&out, 0);
    resp->body = (char *)out.p;
    resp->len = out.len - 1;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    return rc == CURLE_OK ? 0 : -1;
}

void ob_cli_resp_release(struct ob_cli_resp *r)
{
    free(r->body);
    r->body = NULL;
}

int ob_cli_fail(const char *what, const struct ob_cli_resp *r)
{
    if (!r->status) {
        fprintf(stderr, "omnibus %s: %s\n", what, r->error);
        return 1;
    }
    json_t *j = json_loads(r->body, 0, NULL);
    const char *detail = json_string_value(json_object_get(j, "detail"));
    const char *title = json_string_value(json_object_get(j, "title"));
    if (detail || title)
        fprintf(stderr, "omnibus %s: %ld %s%s%s\n", what, r->status, title ? title : "",
                detail ? ": " : "", detail ? detail : "");
    else
        fprintf(stderr, "omnibus %s: HTTP %ld %s\n", what, r->status, r->body);
    json_decref(j);
    return 1;
}

char *ob_cli_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = ob_xstrdup(e);
    curl_free(e);
    return out;
}

static int usage(const char *msg)
{
    fprintf(stderr, "omnibus: %s\n%s", msg, ob_cli_client_usage);
    return 1;
}

/* ---- pub ------------------------------------------------------------------------------ */

static char *read_stdin(size_t *len)
{
    struct ob_buf b = OB_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        ob_buf_append(&b, chunk, n);
    ob_buf_putc(&b, 0);
    *len = b.len - 1;
    return (char *)b.p;
}

/* "Name: value" -> "Omnibus-Header-Name: value" (Content-Type stays itself). */
static char *header_line(const char *h)
{
    struct ob_buf b = OB_BUF_INIT;
    if (!strncasecmp(h, "content-type:", 13))
        ob_buf_printf(&b, "%s", h);
    else
        ob_buf_printf(&b, "Omnibus-Header-%s", h);
    ob_buf_putc(&b, 0);
    return (char *)b.p;
}

static int pub_send(struct ob_cli_opts *o, const char *subject, const char *data, size_t len,
                    char **extra)
{
    char *esc = ob_cli_escape(subject), path[1024];
    snprintf(path, sizeof path, "/v1/subjects/%s", esc);
    free(esc);
    struct ob_cli_resp r;
    int rc = ob_cli_request(o, "POST", path, data, len, (const char *const *)extra, &r);
    if (rc || r.status / 100 != 2) {
        rc = ob_cli_fail("pub", &r);
    } else {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *st = json_string_value(json_object_get(j, "stream"));
        if (st)
            printf("stored %s:%lld\n", st,
                   (long long)json_integer_value(json_object_get(j, "seq")));
        else
            printf("accepted (no stream captures %s)\n", subject);
        json_decref(j);
    }
    ob_cli_resp_release(&r);
    return rc;
}

static int cmd_pub(int argc, char **argv)
{
    struct ob_cli_opts o = {0};
    const char *pos[2] = {NULL, NULL};
    char **extra = ob_xcalloc((size_t)argc + 3, sizeof *extra);
    size_t nextra = 0, npos = 0;
    extra[nextra++] = ob_xstrdup("Content-Type: application/octet-stream");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (ob_cli_common_opt(&o, argc, argv, &i)) continue;
        if ((!strcmp(a, "-H") || !strcmp(a, "--key") || !strcmp(a, "--content-type")) &&
            i + 1 < argc) {
            const char *v = argv[++i];
            struct ob_buf b = OB_BUF_INIT;
            if (!strcmp(a, "-H")) {
                extra[nextra++] = header_line(v);
                continue;
            }
            ob_buf_printf(&b, "%s: %s", a[2] == 'k' ? "Omnibus-Key" : "Content-Type", v);
            ob_buf_putc(&b, 0);
            if (a[2] == 'c')
                free(extra[0]), extra[0] = (char *)b.p;
            else
                extra[nextra++] = (char *)b.p;
        } else if (npos < 2 && (a[0] != '-' || !strcmp(a, "-"))) {
            pos[npos++] = a;
        } else {
            for (size_t k = 0; k < nextra; k++)
                free(extra[k]);
            free(extra);
            return usage("pub: unexpected argument");
        }
    }
    int rc;
    if (!pos[0]) {
        rc = usage("pub needs a SUBJECT");
    } else if (pos[1] && !strcmp(pos[1], "-")) {
        size_t len;
        char *data = read_stdin(&len);
        rc = pub_send(&o, pos[0], data, len, extra);
        free(data);
    } else {
        rc = pub_send(&o, pos[0], pos[1] ? pos[1] : "", pos[1] ? strlen(pos[1]) : 0, extra);
    }
    for (size_t k = 0; k < nextra; k++)
        free(extra[k]);
    free(extra);
    return rc;
}

/* ---- stream ------------------------------------------------------------------------- */

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

static int stream_ls(struct ob_cli_opts *o)
{
    struct ob_cli_resp r;
    if (ob_cli_request(o, "GET", "/v1/streams", NULL, 0, NULL, &r) || r.status != 200) {
        int rc = ob_cli_fail("stream ls", &r);
        ob_cli_resp_release(&r);
        return rc;
    }
    json_t *j = json_loads(r.body, 0, NULL), *s;
    size_t i;
    printf("%-24s %12s %14s %10s %10s %s\n", "NAME", "MSGS", "BYTES", "FIRST", "LAST", "SUBJECTS");
    json_array_foreach(json_object_get(j, "streams"), i, s)
    {
        json_t *st = json_object_get(s, "state"),
               *subs = json_object_get(json_object_get(s, "config"), "subjects");
        char *sj = json_dumps(subs, JSON_COMPACT);
        printf("%-24s %12lld %14lld %10lld %10lld %s\n",
               json_string_value(json_object_get(s, "name")),
               (long long)json_integer_value(json_object_get(st, "msgs")),
               (long long)json_integer_value(json_object_get(st, "bytes")),
               (long long)json_integer_value(json_object_get(st, "first_seq")),
               (long long)json_integer_value(json_object_get(st, "last_seq")), sj ? sj : "[]");
        free(sj);
    }
    json_decref(j);
    ob_cli_resp_release(&r);
    return 0;
}

/* Maps --flag value options of `stream add` onto the config object. */
static int stream_add_opt(json_t *cfg, int argc, char **argv, int *i)
{
    static const char *const ints[] = {"--max-msgs", "--max-bytes", "--max-age-ms", NULL};
    static const char *const strs[] = {"--retention", "--fsync", "--compaction", NULL};
    const char *a = argv[*i];
    if (!strcmp(a, "--memory")) return json_object_set_new(cfg, "memory", json_true()), 0;
    for (int k = 0; ints[k]; k++)
        if (!strcmp(a, ints[k]) && *i + 1 < argc) {
            char key[32];
            snprintf(key, sizeof key, "%s", a + 2);
            for (char *c = key; *c; c++)
                if (*c == '-') *c = '_';
            json_object_set_new(cfg, key, json_integer(strtoll(argv[++*i], NULL, 10)));
            return 0;
        }
    for (int k = 0; strs[k]; k++)
        if (!strcmp(a, strs[k]) && *i + 1 < argc) {
            json_object_set_new(cfg, a + 2, json_string(argv[++*i]));
            return 0;
        }
    return -1;
}

static int stream_add(struct ob_cli_opts *o, int argc, char **argv)
{
    json_t *cfg = json_object(), *subs = json_array();
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (ob_cli_common_opt(o, argc, argv, &i) || !stream_add_opt(cfg, argc, argv, &i)) continue;
        if (argv[i][0] == '-') {
            json_decref(cfg);
            json_decref(subs);
            return usage("stream add: unknown option");
        }
        if (!name)
            name = argv[i];
        else
            json_array_append_new(subs, json_string(argv[i]));
    }
    if (!name || !json_array_size(subs)) {
        json_decref(cfg);
        json_decref(subs);
        return usage("stream add needs NAME and at least one FILTER");
    }
    json_object_set_new(cfg, "name", json_string(name));
    json_object_set_new(cfg, "subjects", subs);
    char *body = json_dumps(cfg, JSON_COMPACT);
    struct ob_cli_resp r;
    int rc = ob_cli_request(o, "POST", "/v1/streams", body, strlen(body), json_ct, &r);
    if (rc || r.status / 100 != 2)
        rc = ob_cli_fail("stream add", &r);
    else
        printf("%s %s\n", r.status == 201 ? "created" : "exists (same config)", name);
    ob_cli_resp_release(&r);
    free(body);
    json_decref(cfg);
    return rc;
}

static int stream_one(struct ob_cli_opts *o, const char *method, const char *name)
{
    char *esc = ob_cli_escape(name), path[512];
    snprintf(path, sizeof path, "/v1/streams/%s", esc);
    free(esc);
    struct ob_cli_resp r;
    int rc = ob_cli_request(o, method, path, NULL, 0, NULL, &r);
    if (rc || r.status / 100 != 2) {
        rc = ob_cli_fail(method[0] == 'G' ? "stream info" : "stream rm", &r);
    } else if (method[0] == 'G') {
        json_t *j = json_loads(r.body, 0, NULL);
        char *pretty = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", pretty);
        free(pretty);
        json_decref(j);
    } else {
        printf("deleted %s\n", name);
    }
    ob_cli_resp_release(&r);
    return rc;
}

static int cmd_stream(int argc, char **argv)
{
    struct ob_cli_opts o = {0};
    if (argc < 1) return usage("stream needs ls, add, info or rm");
    const char *sub = argv[0];
    if (!strcmp(sub, "add")) return stream_add(&o, argc - 1, argv + 1);
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (ob_cli_common_opt(&o, argc, argv, &i)) continue;
        if (name || argv[i][0] == '-') return usage("stream: unexpected argument");
        name = argv[i];
    }
    if (!strcmp(sub, "ls")) return name ? usage("stream ls takes no NAME") : stream_ls(&o);
    if (!name) return usage("stream info/rm need a NAME");
    if (!strcmp(sub, "info")) return stream_one(&o, "GET", name);
    if (!strcmp(sub, "rm")) return stream_one(&o, "DELETE", name);
    return usage("stream needs ls, add, info or rm");
}

int ob_cli_client_main(const char *cmd, int argc, char **argv)
{
    int (*fn)(int, char **) = !strcmp(cmd, "pub")      ? cmd_pub
                              : !strcmp(cmd, "sub")    ? ob_cli_sub
                              : !strcmp(cmd, "stream") ? cmd_stream
                              : !strcmp(cmd, "bench")  ? ob_cli_bench
                                                       : NULL;
    if (!fn) return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = fn(argc, argv);
    curl_global_cleanup();
    return rc;
}
