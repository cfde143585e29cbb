/*
 * connect.c — CONNECT to CONNACK (authentication, client identifiers, session takeover,
 * clean start / session expiry, keepalive) and the end of a connection (DISCONNECT,
 * the will, the session going offline or ending).
 */
#include "proto/mqtt/broker.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void send_connack(struct ob_mqtt_conn *c, uint8_t reason, bool present)
{
    struct ob_mqtt_packet p = {.type = OB_MQTT_CONNACK};
    p.connack.reason = reason;
    p.connack.session_present = present && reason == 0;
    if (c->version == OB_MQTT_V5 && reason == 0) {
        struct ob_mqtt_props *pr = &p.props;
        pr->present |= 1ull << OB_MQTT_PROP_RECEIVE_MAXIMUM;
        pr->receive_maximum = c->b->opt.receive_maximum;
        if (c->b->opt.alias_max) { /* absent means 0 (MQTT-3.2.2.3.8) */
            pr->present |= 1ull << OB_MQTT_PROP_TOPIC_ALIAS_MAXIMUM;
            pr->topic_alias_maximum = c->b->opt.alias_max;
        }
        if (c->dec.max_packet_size) {
            pr->present |= 1ull << OB_MQTT_PROP_MAXIMUM_PACKET_SIZE;
            pr->maximum_packet_size = c->dec.max_packet_size;
        }
        if (c->cid_assigned) {
            pr->present |= 1ull << OB_MQTT_PROP_ASSIGNED_CLIENT_ID;
            pr->assigned_client_id = ob_slice_str(c->cid);
        }
        if (c->server_keepalive) {
            pr->present |= 1ull << OB_MQTT_PROP_SERVER_KEEP_ALIVE;
            pr->server_keep_alive = c->server_keepalive;
        }
    }
    ob_mqtt_send(c, &p);
}

/* Refuses the connection with the version's own code. */
static void refuse(struct ob_mqtt_conn *c, uint8_t v5, uint8_t v3)
{
    send_connack(c, c->version == OB_MQTT_V5 ? v5 : v3, false);
    ob_mqtt_conn_close(c, OB_EAUTH);
}

static void set_keepalive(struct ob_mqtt_conn *c)
{
    uint32_t ka = c->keepalive;
    uint16_t max = c->b->opt.max_keepalive;
    if (c->version == OB_MQTT_V5 && (ka == 0 || ka > max)) {
        ka = max;
        c->server_keepalive = (uint16_t)ka;
    }
    /* 1.5 times the keepalive (MQTT-3.1.2-24); 0 means none. */
    c->idle_ms = ka * 1500u;
    if (c->out->set_idle_timeout) c->out->set_idle_timeout(c->ctx, c->idle_ms);
}

/* The old connection of a client id that connects again (MQTT-3.1.4-3). */
static void take_over(struct ob_mqtt_conn *old)
{
    ob_mqtt_conn_hold(old);
    ob_mqtt_conn_detach(old);
    ob_mqtt_conn_kick(old, OB_MQTT_RC_SESSION_TAKEN_OVER);
    ob_mqtt_conn_drop(old);
}

static bool attach_session(struct ob_mqtt_conn *c)
{
    struct ob_mqtt_broker *b = c->b;
    struct ob_slice id = ob_slice_str(c->cid);
    struct msess *s = ob_mqtt_sess_find(b, id);
    if (s && s->conn) take_over(s->conn);
    s = ob_mqtt_sess_find(b, id);
    if (s && c->clean_start) {
        ob_mqtt_sess_destroy(s);
        s = NULL;
    }
    bool present = s != NULL;
    if (!s) s = ob_mqtt_sess_create(b, id);
    bool cancelled = s->will != NULL;
    if (s->will) { /* a new connection before the will delay passed: no will */
        ob_mqtt_will_free(s->will);
        s->will = NULL;
    }
    bool was = ob_mqtt_sess_persistent(s);
    uint32_t old_expiry = s->expiry;
    s->version = c->version;
    s->expiry = c->expiry;
    s->expires_ns = 0;
    s->conn = c;
    c->s = s;
    /* One copy of the id while attached: the session's. */
    free(c->cid);
    c->cid = s->id;
    c->cid_owned = false;
    b->connected++;
    if (ob_mqtt_sess_persistent(s) && (!was || old_expiry != s->expiry || !present || cancelled))
        ob_mqtt_sess_save(s, NULL, NULL);
    return present;
}

static void go_live(struct ob_mqtt_conn *c)
{
    if (c->will) {
        const char *subj = (const char *)ob_msg_subject(c->will->msg).p;
        char *z = ob_xstrndup(subj, ob_msg_subject(c->will->msg).n);
        int rc = ob_auth_authorize(*c->b->auth, c->who, OB_ACT_PUBLISH, z);
        free(z);
        if (rc) {
            refuse(c, OB_MQTT_RC_NOT_AUTHORIZED, 0x05);
            return;
        }
    }
    set_keepalive(c);
    bool present = attach_session(c);
    c->state = C_LIVE;
    send_connack(c, 0, present);
    struct msess *s = c->s;
    for (struct msub *u = s->subs; u; u = u->next)
        ob_mqtt_sub_attach(u);
    ob_mqtt_resend(s);
    ob_mqtt_pump(s);
    OB_DEBUG("mqtt", "client connected", "client=%s version=%u present=%d", s->id, c->version,
             present);
}

static void on_auth(void *arg, int status, struct ob_principal *p)
{
    struct ob_mqtt_conn *c = arg;
    struct ob_mqtt_broker *b = c->b;
    if (c->gone) {
        if (p) ob_principal_free(p);
        ob_mqtt_conn_drop(c);
        return;
    }
    ob_mqtt_enter(b);
    if (c->paused && c->out->resume) c->out->resume(c->ctx);
    c->paused = false;
    c->state = C_NEW;
    if (status || !p) {
        if (p) ob_principal_free(p);
        OB_INFO("mqtt", "authentication failed", "client=%s", c->cid);
        refuse(c, c->has_credentials ? OB_MQTT_RC_BAD_USER_OR_PASSWORD : OB_MQTT_RC_NOT_AUTHORIZED,
               c->has_credentials ? 0x04 : 0x05);
    } else {
        c->who = p;
        go_live(c);
        if (ob_mqtt_conn_live(c)) ob_mqtt_conn_unstash(c);
    }
    ob_mqtt_conn_drop(c);
    ob_mqtt_leave(b);
}

static void authenticate(struct ob_mqtt_conn *c, const struct ob_mqtt_connect *cn)
{
    struct ob_auth *a = *c->b->auth;
    const struct sockaddr *peer = c->out->peer ? c->out->peer(c->ctx) : NULL;
    char *user = cn->has_username ? ob_slice_dup(cn->username) : NULL;
    c->has_credentials = cn->has_username || cn->has_password;
    c->state = C_AUTH;
    ob_mqtt_conn_hold(c);
    if (!cn->has_username && !cn->has_password && c->out->principal && c->out->principal(c->ctx)) {
        free(user); /* the transport authenticated the client (WebSocket upgrade) */
        on_auth(c, 0, ob_principal_dup(c->out->principal(c->ctx)));
        return;
    }
    if (!cn->has_password) {
        /* No password: no hash to check, so no need for the thread pool. */
        struct ob_principal *p = NULL;
        int rc = ob_auth_authenticate(a, user, NULL, 0, peer, &p);
        free(user);
        on_auth(c, rc, p);
        return;
    }
    if (c->out->pause) c->out->pause(c->ctx);
    c->paused = true;
    int rc = ob_auth_authenticate_async(a, c->b->loop, user, cn->password.p, cn->password.n, peer,
                                        on_auth, c);
    free(user);
    if (rc) on_auth(c, OB_EAUTH, NULL);
}

/* Reads what the connection keeps from CONNECT; false if it was refused. */
static bool read_connect(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    const struct ob_mqtt_connect *cn = &pkt->connect;
    const struct ob_mqtt_props *pr = &pkt->props;
    if (c->version == OB_MQTT_V5 && ob_mqtt_props_has(pr, OB_MQTT_PROP_AUTH_METHOD)) {
        refuse(c, OB_MQTT_RC_BAD_AUTH_METHOD, 0x05);
        return false;
    }
    if (cn->client_id.n == 0) {
        if (c->version != OB_MQTT_V5 && !cn->clean_start) {
            refuse(c, OB_MQTT_RC_CLIENT_ID_INVALID, 0x02); /* MQTT-3.1.3-8 */
            return false;
        }
        char id[64];
        snprintf(id, sizeof id, "auto-%016llx-%llu", (unsigned long long)c->b->start_ns,
                 (unsigned long long)++c->b->next_auto_id);
        c->cid = ob_xstrdup(id);
        c->cid_assigned = true;
    } else {
        c->cid = ob_slice_dup(cn->client_id);
    }
    c->cid_owned = true;
    c->clean_start = cn->clean_start;
    c->keepalive = cn->keep_alive;
    if (c->version == OB_MQTT_V5) {
        c->expiry = ob_mqtt_props_has(pr, OB_MQTT_PROP_SESSION_EXPIRY) ? pr->session_expiry : 0;
        if (ob_mqtt_props_has(pr, OB_MQTT_PROP_RECEIVE_MAXIMUM)) c->recv_max = pr->receive_maximum;
        if (ob_mqtt_props_has(pr, OB_MQTT_PROP_MAXIMUM_PACKET_SIZE))
            c->max_packet = pr->maximum_packet_size;
        if (ob_mqtt_props_has(pr, OB_MQTT_PROP_TOPIC_ALIAS_MAXIMUM))
            c->alias_max = pr->topic_alias_maximum;
        c->problem_info =
            !ob_mqtt_props_has(pr, OB_MQTT_PROP_REQUEST_PROBLEM_INFO) || pr->request_problem_info;
    } else {
        c->expiry = cn->clean_start ? 0 : UINT32_MAX;
    }
    if (cn->will) {
        int reason = 0;
        c->will = ob_mqtt_will_new(c->b, c->cid, cn, &reason);
        if (!c->will) {
            refuse(c, (uint8_t)reason, 0x05);
            return false;
        }
    }
    return true;
}

void ob_mqtt_handle_connect(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    c->version = pkt->connect.version;
    ob_mqtt_decoder_set_version(&c->dec, c->version);
    if (!read_connect(c, pkt)) return;
    authenticate(c, &pkt->connect);
}

void ob_mqtt_handle_disconnect(struct ob_mqtt_conn *c, const struct ob_mqtt_packet *pkt)
{
    struct msess *s = c->s;
    if (c->version == OB_MQTT_V5 && s &&
        ob_mqtt_props_has(&pkt->props, OB_MQTT_PROP_SESSION_EXPIRY)) {
        uint32_t e = pkt->props.session_expiry;
        if (s->expiry == 0 && e != 0) { /* MQTT-3.14.2-2 */
            ob_mqtt_conn_fail(c, OB_MQTT_RC_PROTOCOL_ERROR, "session expiry set after 0");
            return;
        }
        if (e != s->expiry) {
            s->expiry = e;
            if (e) ob_mqtt_sess_save(s, NULL, NULL);
        }
    }
    c->clean_disconnect =
        c->version != OB_MQTT_V5 || pkt->disconnect.reason != OB_MQTT_RC_DISCONNECT_WITH_WILL;
    ob_mqtt_conn_detach(c);
    ob_mqtt_conn_close(c, 0);
}

static void will_stored(struct msess *s, const char *id, int status, const void *data)
{
    (void)s, (void)data;
    if (status)
        OB_WARN("mqtt", "delayed will not stored", "client=%s error=\"%s\"", id,
                ob_strerror(status));
    else
        OB_DEBUG("mqtt", "delayed will stored", "client=%s", id);
}

static void handle_will(struct ob_mqtt_conn *c, struct msess *s)
{
    struct will *w = c->will;
    c->will = NULL;
    if (!w) return;
    if (c->clean_disconnect) {
        ob_mqtt_will_free(w);
        return;
    }
    if (w->delay_s && s->expiry) {
        /* Published at the earlier of the will delay and the session's end. */
        uint32_t d = w->delay_s < s->expiry ? w->delay_s : s->expiry;
        ob_mqtt_will_arm(w, ob_wall_ns() + (int64_t)d * OB_NS_PER_SEC);
        if (s->will) ob_mqtt_will_free(s->will);
        s->will = w;
        ob_mqtt_sess_save_then(s, will_stored, NULL, 0); /* survives a restart */
        return;
    }
    ob_mqtt_will_publish(c->b, w);
    ob_mqtt_will_free(w);
}

void ob_mqtt_conn_detach(struct ob_mqtt_conn *c)
{
    struct msess *s = c->s;
    if (!s) return;
    c->s = NULL;
    s->conn = NULL;
    c->cid = ob_xstrdup(s->id); /* the session may end before the connection */
    c->cid_owned = true;
    c->b->connected--;
    ob_mqtt_out_offline(s); /* first: it holds shared QoS 2 messages before the unbind */
    for (struct msub *u = s->subs; u; u = u->next)
        ob_mqtt_sub_detach(u);
    handle_will(c, s);
    if (s->expiry == 0) {
        ob_mqtt_sess_destroy(s);
    } else if (s->expiry != UINT32_MAX) {
        s->expires_ns = ob_mono_ns() + (int64_t)s->expiry * OB_NS_PER_SEC;
    }
}
