/*
 * map.h — MQTT topic names and filters ⇄ omnibus subjects (docs/mapping/mqtt.md).
 *
 * Levels become tokens ('/' ⇄ '.'), '+' ⇄ '*' and '#' ⇄ '>'. Inside a level, the bytes a
 * subject token cannot hold are escaped with '/', the one byte no MQTT level contains:
 * an empty level is the token "/", '.' is "//", and space, control bytes, '*' and '>' are
 * "/HH" (two upper-case hex digits). Every valid topic round-trips exactly.
 *
 * Ownership: results are appended to the caller's struct ob_buf; on error it is unchanged.
 */
#ifndef OB_PROTO_MQTT_MAP_H
#define OB_PROTO_MQTT_MAP_H

#include "base/buf.h"

#include <omnibus.h>

/* Appends the subject for a topic name. OB_EBADSUBJECT if topic is not a valid name. */
int ob_mqtt_topic_to_subject(struct ob_slice topic, struct ob_buf *out);
/*
 * Appends the subject filter for a topic filter. Returns 0; or 1 when the filter ends in
 * "/#", which in MQTT also matches its parent ("a/#" matches "a") while "a.>" does not:
 * the caller then also subscribes the parent, which is what was appended minus its last
 * two bytes (".>"). OB_EBADSUBJECT if filter is not a valid topic filter.
 */
int ob_mqtt_filter_to_subject(struct ob_slice filter, struct ob_buf *out);
/*
 * Appends the topic name for a subject: the inverse of ob_mqtt_topic_to_subject. A
 * subject from another protocol may hold a '/' that starts no escape: it is kept, and so
 * reads as a level separator in MQTT. OB_EBADSUBJECT if the subject has an empty token
 * or the result is no valid topic name (a foreign '+', '#' or NUL).
 */
int ob_mqtt_subject_to_topic(struct ob_slice subject, struct ob_buf *out);
/* Appends the topic filter for a subject filter ('*' ⇄ '+', '>' ⇄ '#'). */
int ob_mqtt_subject_to_filter(struct ob_slice subject, struct ob_buf *out);

#endif
