/*
 * sse_feed.c — resumable subscriptions for SSE and WebSocket (see sse_feed.h).
 */
#include "http/sse_feed.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "core/auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define DRAIN_BUDGET  256 /* messages per loop turn before yielding */
#define POLL_FIRST_MS 1   /* first re-poll for a commit after a wake-up */
#define POLL_MAX_MS   500 /* the delay doubles up to this */
#define POLL_TRIES    16  /* re-polls without progress before waiting for a wake-up */

struct ob_feed {
    struct ob_bus *bus;
    char **filters;
    size_t nfilters;
    struct ob_sub **subs;
    ob_feed_fn fn;
    void *arg;
    struct ob_feed_live *live;
    struct ob_msg *last_live; /* live mode: de-duplicates overlapping filters */
    char *stream;             /* stream mode: the stream's name */
    uint64_t cursor;          /* stream mode: next sequence to look at */
    uint64_t want;            /* stream mode: last sequence assigned when woken */
    uv_timer_t timer;
    uint32_t poll_ms, tries;
    bool paused, closed, draining;
};

bool ob_feed_parse_id(const char *id, char *stream, size_t n, uint64_t *seq)
{
    const char *colon = id ? strrchr(id, ':') : NULL;
    if (!colon || colon == id || (size_t)(colon - id) >= n) return false;
    const char *d = colon + 1;
    uint64_t v = 0;
    if (*d < '1' || *d > '9') return false;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*d - '0');
    }
    memcpy(stream, id, (size_t)(colon - id));
    stream[colon - id] = 0;
    *seq = v;
    return true;
}

/* ---- which stream --------------------------------------------------------------- */

/* How many literal tokens a pattern has: the more, the narrower ("orders.eu.>" 2). */
static int pattern_tokens(const char *p)
{
    int n = 0;
    for (const char *t = p; t; t = strchr(t, '.') ? strchr(t, '.') + 1 : NULL)
        n += *t != '*' && *t != '>';
    return n;
}

/* -1 if the stream does not capture every filter; else how narrowly it does (the sum,
 * over the filters, of the literal tokens of the narrowest subject covering each), so a
 * dedicated stream ("orders.>") wins over a catch-all one (">"). */
static int stream_score(struct ob_stream *st, char *const *filters, size_t n)
{
    const struct ob_stream_config *c = ob_stream_config(st);
    int score = 0;
    for (size_t i = 0; i < n; i++) {
        int best = -1;
        for (size_t j = 0; j < c->nsubjects; j++)
            if (ob_filter_covers(ob_slice_str(c->subjects[j]), ob_slice_str(filters[i])) &&
                pattern_tokens(c->subjects[j]) > best)
                best = pattern_tokens(c->subjects[j]);
        if (best < 0) return -1;
        score += best;
    }
    return score;
}

static bool stream_covers(struct ob_stream *st, char *const *filters, size_t n)
{
    return stream_score(st, filters, n) >= 0;
}

struct find {
    struct ob_feed *f;
    struct ob_stream *found;
    int score;
};

/* Keeps the narrowest covering stream; the first by name among equals. Only streams
 * with limits retention are a log to replay: an interest or work-queue stream drops
 * messages as consumers ack them (or never keeps them without consumers). */
static int find_covering(void *arg, struct ob_stream *st)
{
    struct find *fd = arg;
    if (ob_stream_config(st)->retention != OB_RETAIN_LIMITS) return 0;
    int score = stream_score(st, fd->f->filters, fd->f->nfilters);
    if (score > fd->score) {
        fd->found = st;
        fd->score = score;
    }
    return 0;
}

/* ---- stream mode ---------------------------------------------------------------- */

static void drain(struct ob_feed *f);

static void on_timer(uv_timer_t *t)
{
    drain(t->data);
}

static void schedule(struct ob_feed *f, uint64_t ms)
{
    if (!f->closed) uv_timer_start(&f->timer, on_timer, ms, 0);
}

/* The smallest stored sequence >= cursor matching any filter; false if none. */
static bool next_match(struct ob_feed *f, struct ob_stream *st, uint64_t *out)
{
    bool found = false;
    for (size_t i = 0; i < f->nfilters; i++) {
        uint64_t s;
        if (!ob_stream_next_seq(st, f->cursor, f->filters[i], &s) && (!found || s < *out)) {
            *out = s;
            found = true;
        }
    }
    return found;
}

/* Delivers one message; false if the feed was paused or closed by the callback. */
static bool deliver_seq(struct ob_feed *f, struct ob_stream *st, uint64_t seq)
{
    struct ob_msg *m;
    f->cursor = seq + 1;
    if (ob_stream_get(st, seq, &m)) return true; /* removed meanwhile: skip */
    char id[128];
    snprintf(id, sizeof id, "%s:%" PRIu64, f->stream, seq);
    f->fn(f->arg, m, f->stream, seq, id);
    ob_msg_unref(m);
    return !f->paused && !f->closed;
}

/* Where a drain stopped for lack of committed messages: poll again while the stream
 * has sequences assigned (at wake-up) that we have not passed yet. */
static void after_drain(struct ob_feed *f, bool progress)
{
    if (f->cursor > f->want) return;
    if (progress) f->tries = 0, f->poll_ms = POLL_FIRST_MS;
    if (f->tries++ >= POLL_TRIES) return;
    schedule(f, f->poll_ms);
    f->poll_ms = f->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : f->poll_ms * 2;
}

static void drain(struct ob_feed *f)
{
    if (f->paused || f->closed || f->draining) return;
    struct ob_stream *st = ob_stream_lookup(f->bus, f->stream);
    if (!st) {
        f->fn(f->arg, NULL, f->stream, 0, NULL); /* the stream is gone: end of feed */
        return;
    }
    f->draining = true;
    bool progress = false;
    uint64_t seq = 0;
    for (int n = 0; n < DRAIN_BUDGET; n++) {
        if (!next_match(f, st, &seq)) {
            f->draining = false;
            after_drain(f, progress);
            return;
        }
        progress = true;
        if (!deliver_seq(f, st, seq)) break;
    }
    f->draining = false;
    if (!f->paused && !f->closed) schedule(f, 0); /* budget spent: yield to the loop */
}

static void on_wake(void *arg, const struct ob_delivery *d)
{
    struct ob_feed *f = arg;
    (void)d;
    struct ob_stream *st = ob_stream_lookup(f->bus, f->stream);
    if (st) {
        struct ob_stream_info in;
        ob_stream_get_info(st, &in);
        if (in.last_seq > f->want) f->want = in.last_seq;
    }
    f->tries = 0;
    f->poll_ms = POLL_FIRST_MS;
    drain(f);
}

/* ---- live mode ------------------------------------------------------------------ */

static void on_live(void *arg, const struct ob_delivery *d)
{
    struct ob_feed *f = arg;
    if (f->closed || d->msg == f->last_live) return;
    if (f->last_live) ob_msg_unref(f->last_live);
    f->last_live = ob_msg_ref(d->msg);
    struct ob_feed_live *l = f->live;
    if (l->last != d->msg) {
        if (l->last) ob_msg_unref(l->last);
        l->last = ob_msg_ref(d->msg);
        snprintf(l->id, sizeof l->id, "%" PRIu64, ++l->counter);
    }
    f->fn(f->arg, d->msg, NULL, 0, l->id);
}

void ob_feed_live_release(struct ob_feed_live *l)
{
    if (l->last) ob_msg_unref(l->last);
    l->last = NULL;
}

/* ---- open / close ----------------------------------------------------------------- */

static int pick_stream(struct ob_feed *f, const struct ob_feed_opts *o, struct ob_stream **st)
{
    *st = NULL;
    if (o->live) return 0;
    if (o->stream) {
        *st = ob_stream_lookup(f->bus, o->stream);
        if (!*st) return OB_ENOENT;
        return stream_covers(*st, f->filters, f->nfilters) ? 0 : OB_EINVAL;
    }
    struct find fd = {f, NULL, -1};
    ob_stream_foreach(f->bus, find_covering, &fd);
    *st = fd.found;
    return 0;
}

static void start_cursor(struct ob_feed *f, struct ob_stream *st, const struct ob_feed_opts *o)
{
    struct ob_stream_info in;
    ob_stream_get_info(st, &in);
    f->stream = ob_xstrdup(ob_stream_name(st));
    f->cursor = o->resume ? (o->from_seq ? o->from_seq : 1) : in.last_seq + 1;
    f->want = in.last_seq;
}

int ob_feed_open(struct ob_feed **out, struct ob_bus *bus, const struct ob_feed_opts *o,
                 ob_feed_fn fn, void *arg)
{
    for (size_t i = 0; i < o->nfilters; i++)
        if (!ob_filter_valid(ob_slice_str(o->filters[i]))) return OB_EBADSUBJECT;
    if (!o->nfilters) return OB_EBADSUBJECT;
    struct ob_feed *f = ob_xcalloc(1, sizeof *f);
    f->bus = bus;
    f->fn = fn;
    f->arg = arg;
    f->live = o->live_ids;
    f->nfilters = o->nfilters;
    f->filters = ob_xcalloc(o->nfilters, sizeof *f->filters);
    f->subs = ob_xcalloc(o->nfilters, sizeof *f->subs);
    for (size_t i = 0; i < o->nfilters; i++)
        f->filters[i] = ob_xstrdup(o->filters[i]);
    uv_timer_init(ob_bus_uv_loop(bus), &f->timer);
    f->timer.data = f;
    struct ob_stream *st;
    int rc = pick_stream(f, o, &st);
    if (st) start_cursor(f, st, o);
    for (size_t i = 0; i < f->nfilters && !rc; i++)
        rc = ob_subscribe(bus, f->filters[i], OB_SUB_ASYNC, st ? on_wake : on_live, f, &f->subs[i]);
    if (rc) {
        ob_feed_close(f);
        return rc;
    }
    *out = f;
    if (st) schedule(f, 0); /* a resume has a backlog to send */
    return 0;
}

const char *ob_feed_stream(const struct ob_feed *f)
{
    return f->stream;
}

uint64_t ob_feed_cursor(const struct ob_feed *f)
{
    return f->cursor;
}

void ob_feed_pause(struct ob_feed *f)
{
    if (f->stream) f->paused = true;
}

void ob_feed_resume(struct ob_feed *f)
{
    if (!f->paused) return;
    f->paused = false;
    schedule(f, 0);
}

static void feed_free(uv_handle_t *h)
{
    struct ob_feed *f = h->data;
    for (size_t i = 0; i < f->nfilters; i++)
        free(f->filters[i]);
    free(f->filters);
    free(f->subs);
    free(f->stream);
    free(f);
}

void ob_feed_close(struct ob_feed *f)
{
    if (!f || f->closed) return;
    f->closed = true;
    for (size_t i = 0; i < f->nfilters; i++)
        if (f->subs[i]) ob_unsubscribe(f->subs[i]);
    if (f->last_live) ob_msg_unref(f->last_live);
    f->last_live = NULL;
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, feed_free);
}
