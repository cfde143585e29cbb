/*
 * client.h — the client subcommands of the omnibus command, over the HTTP API with
 * libcurl: pub, sub (SSE, resuming with Last-Event-ID after a disconnect), stream
 * (ls/add/info/rm) and bench http. libcurl rather than our own client: it brings
 * keep-alive, chunked decoding, proxies, TLS and HTTP/2 for free, and the CLI is the
 * only user (the library does not link it).
 *
 * Owner: the HTTP gateway (REST/SSE/WebSocket). main.c calls ob_cli_client_main.
 */
#ifndef OB_CLI_CLIENT_H
#define OB_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct curl_slist;

/* The usage lines of the client commands (for `omnibus help`). */
extern const char ob_cli_client_usage[];

/* Runs client command cmd with its arguments; the exit status, or -1 if cmd is not a
 * client command. */
int ob_cli_client_main(const char *cmd, int argc, char **argv);

/* ---- shared between client*.c --------------------------------------------------- */

struct ob_cli_opts {
    const char *url;   /* --url, default http://127.0.0.1:8080 (or OMNIBUS_URL) */
    const char *token; /* --token (Bearer) */
    const char *user;  /* --user name:password (Basic) */
};

/* An HTTP exchange's result: status (0 if no response) and body (malloc'd, NUL-ended). */
struct ob_cli_resp {
    long status;
    char *body;
    size_t len;
    char error[256]; /* curl's message when status is 0 */
};

/* Takes --url/--token/--user (as "--opt v" or "--opt=v") at argv[*i]; true if it was
 * one (and *i advanced past its value). */
bool ob_cli_common_opt(struct ob_cli_opts *o, int argc, char **argv, int *i);
/* method path [body len content_type] -> resp. extra: NULL-terminated header lines. */
int ob_cli_request(const struct ob_cli_opts *o, const char *method, const char *path,
                   const void *body, size_t len, const char *const *extra,
                   struct ob_cli_resp *resp);
void ob_cli_resp_release(struct ob_cli_resp *r);
/* Prints a failed response (problem detail or body) to stderr; returns 1. */
int ob_cli_fail(const char *what, const struct ob_cli_resp *r);
/* Percent-encodes s for a path segment or query value into a malloc'd string. */
char *ob_cli_escape(const char *s);
/* Applies the auth options to a curl easy handle. */
void ob_cli_auth(void *curl, const struct ob_cli_opts *o, struct curl_slist **headers);

int ob_cli_sub(int argc, char **argv);
int ob_cli_bench(int argc, char **argv);

#endif
