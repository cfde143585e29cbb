/*
 * net.c — the network layer object: listeners, the list of live connections, the
 * connection limits (total and per source address), and orderly shutdown.
 */
#include "net/net_int.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WRITE_BUFFER (1u << 20)

static void set_limits(struct ob_net *net, const struct ob_net_limits *limits)
{
    net->limits = *limits;
    if (!net->limits.write_buffer) net->limits.write_buffer = DEFAULT_WRITE_BUFFER;
}

int ob_net_new(struct ob_net **out, void *uv_loop, const struct ob_net_limits *limits)
{
    struct ob_net *net = ob_xcalloc(1, sizeof *net);
    net->loop = uv_loop;
    net->linger_ms = OB_NET_LINGER_MS;
    set_limits(net, limits);
    wheel_init(net);
    *out = net;
    return 0;
}

void ob_net_set_limits(struct ob_net *net, const struct ob_net_limits *limits)
{
    set_limits(net, limits);
}

const struct ob_net_limits *ob_net_limits(const struct ob_net *net)
{
    return &net->limits;
}

size_t ob_net_connection_count(const struct ob_net *net)
{
    return net->nconns;
}

/* ---- per-address counts ---------------------------------------------------------- */

static size_t ip_key(const union peer_addr *pa, uint8_t key[17])
{
    memset(key, 0, 17);
    key[0] = (uint8_t)pa->sa.sa_family;
    if (pa->sa.sa_family == AF_INET)
        memcpy(key + 1, &pa->in.sin_addr, 4);
    else if (pa->sa.sa_family == AF_INET6)
        memcpy(key + 1, &pa->in6.sin6_addr, 16);
    size_t h = 0;
    for (int i = 0; i < 17; i++)
        h = h * 31 + key[i];
    return h % 256;
}

static struct ipcount *ip_get(struct ob_net *net, const union peer_addr *pa)
{
    uint8_t key[17];
    size_t b = ip_key(pa, key);
    for (struct ipcount *e = net->ips[b]; e; e = e->next)
        if (!memcmp(e->key, key, sizeof key)) return e;
    struct ipcount *e = ob_xcalloc(1, sizeof *e);
    memcpy(e->key, key, sizeof key);
    e->bucket = b;
    e->next = net->ips[b];
    net->ips[b] = e;
    return e;
}

static void ip_put(struct ob_net *net, struct ipcount *ip)
{
    if (--ip->n > 0) return;
    for (struct ipcount **p = &net->ips[ip->bucket]; *p; p = &(*p)->next)
        if (*p == ip) {
            *p = ip->next;
            free(ip);
            return;
        }
}

bool net_admit(struct ob_net *net, struct ob_conn *c)
{
    const struct ob_net_limits *l = &net->limits;
    if (net->shutting_down) return false;
    if (l->max_connections && net->nconns >= l->max_connections) {
        OB_WARN("net", "connection refused: max_connections reached",
                "listener=%s peer=%s max=%llu", c->l->name, ob_conn_peer_name(c),
                (unsigned long long)l->max_connections);
        return false;
    }
    struct ipcount *ip = ip_get(net, &c->peer);
    if (l->max_connections_per_ip && ip->n >= l->max_connections_per_ip) {
        /* ip->n > 0 here, so the entry is in use and stays */
        OB_WARN("net", "connection refused: max_connections_per_ip reached",
                "listener=%s peer=%s max=%llu", c->l->name, ob_conn_peer_name(c),
                (unsigned long long)l->max_connections_per_ip);
        return false;
    }
    ip->n++;
    c->ip = ip;
    c->linked = true;
    c->next = net->conns;
    if (net->conns) net->conns->prev = c;
    net->conns = c;
    net->nconns++;
    return true;
}

void net_conn_unlink(struct ob_net *net, struct ob_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->linked = false;
    net->nconns--;
    ip_put(net, c->ip);
    c->ip = NULL;
}

/* ---- listeners --------------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    if (status < 0) {
        OB_WARN("net", "accept failed", "listener=%s error=\"%s\"", l->name, uv_strerror(status));
        return;
    }
    conn_accept(l);
}

static void free_listener(struct listener *l)
{
    if (l->state && l->proto->listener_free) l->proto->listener_free(l->state);
    struct ob_net *net = l->net;
    free(l->name);
    free(l);
    net->alive--;
    net_check_done(net);
}

void net_release_listener(struct listener *l)
{
    if (--l->refs == 0) free_listener(l);
}

static void on_listener_closed(uv_handle_t *h)
{
    net_release_listener(h->data);
}

static int resolve(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
    if (strchr(ip, ':')) return uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(ip, port, (struct sockaddr_in *)ss);
}

static uint16_t bound_port(uv_tcp_t *h)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(h, (struct sockaddr *)&ss, &len)) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int bind_listen(struct listener *l, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    int rc = resolve(ip, port, &ss);
    if (rc == 0) rc = uv_tcp_bind(&l->handle, (const struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&l->handle, 511, on_connection);
    return rc;
}

static int listen_error(int uvrc, const char *name, const char *ip, uint16_t port, char *err,
                        size_t errlen)
{
    const char *fmt = strchr(ip, ':') ? "listener %s: [%s]:%u: %s" : "listener %s: %s:%u: %s";
    snprintf(err, errlen, fmt, name, ip, (unsigned)port, uv_strerror(uvrc));
    if (uvrc == UV_EADDRINUSE) return OB_EADDRINUSE;
    return uvrc == UV_EINVAL || uvrc == UV_EADDRNOTAVAIL ? OB_EINVAL : OB_EIO;
}

int ob_net_listen(struct ob_net *net, const char *name, const struct ob_protocol *proto,
                  const struct ob_proto_host *host, const char *ip, uint16_t port, char *err,
                  size_t errlen)
{
    struct listener *l = ob_xcalloc(1, sizeof *l);
    l->net = net;
    l->name = ob_xstrdup(name);
    l->proto = proto;
    l->tp = &ob_transport_tcp;
    if (host) l->host = *host;
    l->refs = 1;
    net->alive++;
    uv_tcp_init(net->loop, &l->handle);
    l->handle.data = l;
    int rc = bind_listen(l, ip, port);
    if (rc == 0 && proto->listener_init && proto->listener_init(&l->state, &l->host) != 0) {
        snprintf(err, errlen, "listener %s: %s adapter failed to start", name, proto->name);
        uv_close((uv_handle_t *)&l->handle, on_listener_closed);
        return OB_EINVAL;
    }
    if (rc) {
        uv_close((uv_handle_t *)&l->handle, on_listener_closed);
        return listen_error(rc, name, ip, port, err, errlen);
    }
    l->port = bound_port(&l->handle);
    l->next = net->listeners;
    net->listeners = l;
    return 0;
}

uint16_t ob_net_listener_port(const struct ob_net *net, const char *name)
{
    for (const struct listener *l = net->listeners; l; l = l->next)
        if (!strcmp(l->name, name)) return l->port;
    return 0;
}

/* ---- shutdown ------------------------------------------------------------------------ */

void net_check_done(struct ob_net *net)
{
    if (!net->shutting_down || net->alive || !net->done) return;
    void (*done)(void *) = net->done;
    net->done = NULL;
    done(net->done_arg);
}

void ob_net_shutdown(struct ob_net *net, uint32_t linger_ms, void (*done)(void *arg), void *arg)
{
    net->shutting_down = true;
    net->linger_ms = linger_ms;
    net->done = done;
    net->done_arg = arg;
    while (net->listeners) {
        struct listener *l = net->listeners;
        net->listeners = l->next;
        uv_close((uv_handle_t *)&l->handle, on_listener_closed);
    }
    /* ob_conn_close may unlink c at once; take the next one first. */
    for (struct ob_conn *c = net->conns, *next; c; c = next) {
        next = c->next;
        ob_conn_close(c, OB_ECLOSED);
    }
    net_check_done(net);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void ob_net_free(struct ob_net *net)
{
    if (!net) return;
    if (net->flusher) uv_close((uv_handle_t *)net->flusher, free_handle);
    wheel_free(net);
    if (net->tp_shared) ob_transport_tcp.free_shared(net->tp_shared);
    for (size_t b = 0; b < 256; b++)
        while (net->ips[b]) {
            struct ipcount *e = net->ips[b];
            net->ips[b] = e->next;
            free(e);
        }
    free(net);
}
