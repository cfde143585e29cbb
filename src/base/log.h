/*
 * log.h — leveled logging as logfmt lines on stderr, one module tag per line:
 *   ts=2026-11-25T18:00:00.123Z level=info mod=store msg="recovered" stream=orders
 * The level and format are process-wide (set once by the server or embedding app).
 */
#ifndef OB_BASE_LOG_H
#define OB_BASE_LOG_H

#include <omnibus.h>

void ob_log_set_level(enum ob_log_level level);
enum ob_log_level ob_log_get_level(void);
/* true: JSON lines instead of logfmt. */
void ob_log_set_json(int json);
/* Parses "debug", "info", "warn", "error", "off"; -1 if unknown. */
int ob_log_level_parse(const char *s);

/* msg is a plain message; fmt (may be NULL) adds logfmt key=value pairs, e.g.
 * ob_log(OB_LOG_INFO, "store", "recovered", "stream=%s msgs=%llu", name, n). */
void ob_log(enum ob_log_level level, const char *mod, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define OB_DEBUG(mod, msg, ...) ob_log(OB_LOG_DEBUG, mod, msg, __VA_ARGS__)
#define OB_INFO(mod, msg, ...)  ob_log(OB_LOG_INFO, mod, msg, __VA_ARGS__)
#define OB_WARN(mod, msg, ...)  ob_log(OB_LOG_WARN, mod, msg, __VA_ARGS__)
#define OB_ERROR(mod, msg, ...) ob_log(OB_LOG_ERROR, mod, msg, __VA_ARGS__)

#endif
