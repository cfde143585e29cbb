/*
 * will.c — the will message: built at CONNECT (v5 will properties become headers as for
 * any publish), published when the connection ends without a normal DISCONNECT, or
 * after the v5 will delay (the session keeps it; a reconnect in time cancels it).
 */
#include "proto/mqtt/broker.h"

#include "base/alloc.h"
#include "proto/mqtt/map.h"

#include <stdlib.h>

struct will *ob_mqtt_will_new(struct ob_mqtt_broker *b, const char *origin,
                              const struct ob_mqtt_connect *cn, int *reason)
{
    struct ob_buf sb = OB_BUF_INIT;
    struct ob_msg *m = NULL;
    int rc = ob_mqtt_topic_to_subject(cn->will_topic, &sb);
    if (!rc)
        rc = ob_mqtt_build_msg(b, origin, ob_slice_make(sb.p, sb.len), cn->will_qos,
                               cn->will_retain, &cn->will_props, cn->will_payload, &m);
    ob_buf_release(&sb);
    if (rc) {
        *reason = OB_MQTT_RC_TOPIC_NAME_INVALID;
        return NULL;
    }
    struct will *w = ob_xcalloc(1, sizeof *w);
    w->msg = m;
    w->qos = cn->will_qos;
    w->retain = cn->will_retain;
    if (ob_mqtt_props_has(&cn->will_props, OB_MQTT_PROP_WILL_DELAY))
        w->delay_s = cn->will_props.will_delay;
    return w;
}

void ob_mqtt_will_publish(struct ob_mqtt_broker *b, struct will *w)
{
    ob_publish(b->bus, w->msg, NULL, NULL);
    if (w->retain) ob_mqtt_retain_store(b, w->msg, NULL, NULL);
}

void ob_mqtt_will_free(struct will *w)
{
    ob_msg_unref(w->msg);
    free(w);
}
