/*
 * log.c — logfmt / JSON-lines logger. Each line is built in one buffer and written
 * with a single write(2) so lines from the storage thread never interleave.
 */
#include "base/log.h"

#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum ob_log_level g_level = OB_LOG_INFO;
static int g_json;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void ob_log_set_level(enum ob_log_level level)
{
    g_level = level;
}

enum ob_log_level ob_log_get_level(void)
{
    return g_level;
}

void ob_log_set_json(int json)
{
    g_json = json;
}

int ob_log_level_parse(const char *s)
{
    for (int i = 0; i <= OB_LOG_OFF; i++)
        if (strcasecmp(s, level_names[i]) == 0) return i;
    if (strcasecmp(s, "warning") == 0) return OB_LOG_WARN;
    return -1;
}

static void put_timestamp(struct ob_buf *b)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char t[32];
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    ob_buf_printf(b, "%s.%03ldZ", t, ts.tv_nsec / 1000000);
}

/* Quotes s for logfmt or JSON: backslash-escapes quotes, backslashes and controls. */
static void put_quoted(struct ob_buf *b, const char *s)
{
    ob_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            ob_buf_putc(b, '\\');
            ob_buf_putc(b, c);
        } else if (c < 0x20) {
            ob_buf_printf(b, "\\u%04x", c);
        } else {
            ob_buf_putc(b, c);
        }
    }
    ob_buf_putc(b, '"');
}

/* In JSON mode the logfmt key=value extras are carried as one "fields" string, so
 * the line stays valid JSON without parsing the caller's format. */
static void format_line(struct ob_buf *b, enum ob_log_level level, const char *mod, const char *msg,
                        const char *extra)
{
    if (g_json) {
        ob_buf_printf(b, "{\"ts\":\"");
        put_timestamp(b);
        ob_buf_printf(b, "\",\"level\":\"%s\",\"mod\":\"%s\",\"msg\":", level_names[level], mod);
        put_quoted(b, msg);
        if (extra && *extra) {
            ob_buf_printf(b, ",\"fields\":");
            put_quoted(b, extra);
        }
        ob_buf_printf(b, "}\n");
        return;
    }
    ob_buf_printf(b, "ts=");
    put_timestamp(b);
    ob_buf_printf(b, " level=%s mod=%s msg=", level_names[level], mod);
    put_quoted(b, msg);
    if (extra && *extra) ob_buf_printf(b, " %s", extra);
    ob_buf_putc(b, '\n');
}

void ob_log(enum ob_log_level level, const char *mod, const char *msg, const char *fmt, ...)
{
    if (level < g_level || level >= OB_LOG_OFF) return;
    struct ob_buf extra = OB_BUF_INIT, line = OB_BUF_INIT;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        ob_buf_vprintf(&extra, fmt, ap);
        va_end(ap);
        ob_buf_putc(&extra, 0);
    }
    format_line(&line, level, mod, msg, extra.p ? (const char *)extra.p : NULL);
    ssize_t w = write(STDERR_FILENO, line.p, line.len);
    (void)w;
    ob_buf_release(&extra);
    ob_buf_release(&line);
}
