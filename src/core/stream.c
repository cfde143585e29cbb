/*
 * stream.c — durable streams: a table of every sequence in memory (subject, size,
 * time, cached message), messages in a store log, purges in a second log.
 *
 * Which messages are gone is mostly derived, not written: limits (count, bytes, age)
 * and compaction are re-applied on recovery, and interest / work-queue removals follow
 * from the consumers' persisted acks. Only explicit purges need a record. This keeps
 * the write path to one append per message.
 *
 * Consumers see a message only once it is committed (durable per the stream's fsync
 * policy); a message whose write failed is removed and never delivered.
 *
 * Layout under <data>/streams/<name>/: stream.meta (config), msgs/ (log), dels/ (log),
 * consumers/<consumer>/ (see consumer.c).
 */
#include "core/core.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_BUDGET (UINT64_C(32) << 20) /* cached message bytes per disk stream */
#define NAME_MAX_LEN 64
#define COMPACT_MIN  (UINT64_C(4) << 20) /* dead bytes worth a rewrite */

/* ---- small helpers ------------------------------------------------------------------ */

bool ob_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > NAME_MAX_LEN) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

/* ---- configuration: copy, compare, (de)serialize ------------------------------------ */

static void config_copy(struct ob_stream_config *dst, const struct ob_stream_config *src)
{
    *dst = *src;
    dst->name = ob_xstrdup(src->name);
    char **subs = ob_xcalloc(src->nsubjects, sizeof *subs);
    for (size_t i = 0; i < src->nsubjects; i++)
        subs[i] = ob_xstrdup(src->subjects[i]);
    dst->subjects = (const char *const *)subs;
}

static void config_free(struct ob_stream_config *c)
{
    for (size_t i = 0; i < c->nsubjects; i++)
        free((char *)c->subjects[i]);
    free((void *)c->subjects);
    free((char *)c->name);
}

static bool subjects_equal(const struct ob_stream_config *a, const struct ob_stream_config *b)
{
    if (a->nsubjects != b->nsubjects) return false;
    for (size_t i = 0; i < a->nsubjects; i++)
        if (strcmp(a->subjects[i], b->subjects[i]) != 0) return false;
    return true;
}

static bool config_equal(const struct ob_stream_config *a, const struct ob_stream_config *b)
{
    return subjects_equal(a, b) && a->retention == b->retention && a->max_msgs == b->max_msgs &&
           a->max_bytes == b->max_bytes && a->max_age_ms == b->max_age_ms &&
           a->max_msg_size == b->max_msg_size && a->compaction == b->compaction &&
           a->fsync == b->fsync && a->fsync_interval_ms == b->fsync_interval_ms &&
           a->memory == b->memory && a->segment_bytes == b->segment_bytes;
}

static int config_check(const struct ob_stream_config *c)
{
    if (!ob_name_valid(c->name)) return OB_EINVAL;
    if (c->nsubjects == 0) return OB_EINVAL;
    for (size_t i = 0; i < c->nsubjects; i++)
        if (!c->subjects[i] || !ob_filter_valid(ob_slice_str(c->subjects[i])))
            return OB_EBADSUBJECT;
    if (c->retention > OB_RETAIN_WORKQUEUE || c->fsync > OB_FSYNC_NEVER ||
        c->compaction > OB_COMPACT_SUBJECT || c->max_age_ms < 0)
        return OB_EINVAL;
    return 0;
}

static void config_encode(struct ob_buf *b, const struct ob_stream_config *c)
{
    ob_buf_printf(b, "name=%s\n", c->name);
    for (size_t i = 0; i < c->nsubjects; i++)
        ob_buf_printf(b, "subject=%s\n", c->subjects[i]);
    ob_buf_printf(b,
                  "retention=%d\nmax_msgs=%" PRIu64 "\nmax_bytes=%" PRIu64 "\nmax_age_ms=%" PRId64
                  "\nmax_msg_size=%u\ncompaction=%d\nfsync=%d\nfsync_interval_ms=%u\n"
                  "segment_bytes=%" PRIu64 "\n",
                  (int)c->retention, c->max_msgs, c->max_bytes, c->max_age_ms, c->max_msg_size,
                  (int)c->compaction, (int)c->fsync, c->fsync_interval_ms, c->segment_bytes);
}

struct decode {
    struct ob_stream_config *c;
    char **subs;
};

static void config_set(void *arg, const char *k, const char *v)
{
    struct decode *d = arg;
    struct ob_stream_config *c = d->c;
    char ***subs = &d->subs;
    if (!strcmp(k, "name"))
        c->name = ob_xstrdup(v);
    else if (!strcmp(k, "subject")) {
        *subs = ob_xrealloc(*subs, (c->nsubjects + 1) * sizeof **subs);
        (*subs)[c->nsubjects++] = ob_xstrdup(v);
    } else if (!strcmp(k, "retention"))
        c->retention = (enum ob_retention)atoi(v);
    else if (!strcmp(k, "max_msgs"))
        c->max_msgs = strtoull(v, NULL, 10);
    else if (!strcmp(k, "max_bytes"))
        c->max_bytes = strtoull(v, NULL, 10);
    else if (!strcmp(k, "max_age_ms"))
        c->max_age_ms = strtoll(v, NULL, 10);
    else if (!strcmp(k, "max_msg_size"))
        c->max_msg_size = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "compaction"))
        c->compaction = (enum ob_compaction)atoi(v);
    else if (!strcmp(k, "fsync"))
        c->fsync = (enum ob_fsync)atoi(v);
    else if (!strcmp(k, "fsync_interval_ms"))
        c->fsync_interval_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "segment_bytes"))
        c->segment_bytes = strtoull(v, NULL, 10);
}

/* Parses "key=value" lines into a config the caller frees with config_free. */
static int config_decode(struct ob_slice body, struct ob_stream_config *c)
{
    memset(c, 0, sizeof *c);
    struct decode d = {c, NULL};
    ob_meta_each(body, config_set, &d);
    c->subjects = (const char *const *)d.subs;
    if (!c->name) c->name = ob_xstrdup("");
    return config_check(c) ? OB_ECORRUPT : 0;
}

/* ---- the message table -------------------------------------------------------------- */

static const char *intern(struct ob_stream *st, struct ob_slice s)
{
    struct interned *in = ob_map_get(&st->subjects, s);
    if (!in) {
        in = ob_xcalloc(1, sizeof *in);
        in->s = ob_slice_dup(s);
        in->n = s.n;
        ob_map_put(&st->subjects, ob_slice_make(in->s, in->n), in);
    }
    in->refs++;
    return in->s;
}

static void unintern(struct ob_stream *st, const char *s)
{
    struct ob_slice key = ob_slice_str(s);
    struct interned *in = ob_map_get(&st->subjects, key);
    if (!in || --in->refs) return;
    ob_map_del(&st->subjects, key);
    free(in->s);
    free(in);
}

struct ob_entry *ob_stream_entry(struct ob_stream *st, uint64_t seq)
{
    if (seq < st->base + st->tab_off || seq >= st->base + st->tab_len) return NULL;
    struct ob_entry *e = &st->tab[seq - st->base];
    return (e->flags & E_LIVE) ? e : NULL;
}

/* Makes room for sequence seq (always last_seq + 1 or beyond, for gaps). */
static struct ob_entry *table_extend(struct ob_stream *st, uint64_t seq)
{
    if (st->tab_len == 0) st->base = seq;
    if (st->tab_off > 4096 && st->tab_off * 2 > st->tab_len) {
        memmove(st->tab, st->tab + st->tab_off, (st->tab_len - st->tab_off) * sizeof *st->tab);
        st->tab_len -= st->tab_off;
        st->base += st->tab_off;
        st->tab_off = 0;
    }
    size_t idx = (size_t)(seq - st->base);
    OB_GROW(st->tab, st->tab_cap, idx + 1);
    memset(&st->tab[st->tab_len], 0, (idx + 1 - st->tab_len) * sizeof *st->tab);
    st->tab_len = idx + 1;
    return &st->tab[idx];
}

static void uncache(struct ob_stream *st, struct ob_entry *e)
{
    if (!e->msg || !st->log) return;
    st->cached_bytes -= e->size;
    ob_msg_unref(e->msg);
    e->msg = NULL;
}

/* Disk streams keep recent messages cached within a budget; older ones are re-read. */
static void trim_cache(struct ob_stream *st)
{
    if (!st->log) return;
    if (st->cache_floor < st->base + st->tab_off) st->cache_floor = st->base + st->tab_off;
    while (st->cached_bytes > CACHE_BUDGET && st->cache_floor <= st->committed) {
        struct ob_entry *e = &st->tab[st->cache_floor - st->base];
        if (e->msg) uncache(st, e);
        st->cache_floor++;
    }
}

static void advance_head(struct ob_stream *st)
{
    while (st->tab_off < st->tab_len && !(st->tab[st->tab_off].flags & E_LIVE))
        st->tab_off++;
}

void ob_stream_remove(struct ob_stream *st, uint64_t seq)
{
    struct ob_entry *e = ob_stream_entry(st, seq);
    if (!e) return;
    e->flags &= (uint8_t)~E_LIVE;
    st->removed++;
    st->msgs--;
    st->bytes -= e->size;
    if (e->msg) {
        if (st->log) st->cached_bytes -= e->size;
        ob_msg_unref(e->msg);
        e->msg = NULL;
    }
    unintern(st, e->subject);
    e->subject = NULL;
    advance_head(st);
}

static uint64_t first_seq(const struct ob_stream *st)
{
    return st->msgs ? st->base + st->tab_off : 0;
}

static void on_compacted(void *arg, int status)
{
    struct ob_stream *st = arg;
    st->compacting = false;
    if (status)
        OB_WARN("stream", "compaction failed", "stream=%s err=\"%s\"", st->name,
                ob_strerror(status));
}

/*
 * Interior removals (work-queue acks out of order, superseded keys) leave dead records
 * in sealed segments that dropping whole segments never reaches. When at least half of
 * the log (and more than COMPACT_MIN) is dead, the store rewrites the segments holding
 * them, one at a time on its own thread.
 */
static void maybe_compact(struct ob_stream *st)
{
    if (!st->log || st->compacting || st->deleting) return;
    uint64_t disk = ob_log_bytes(st->log);
    uint64_t live = st->bytes + st->msgs * (OB_RECORD_HEADER + 16);
    if (disk < COMPACT_MIN || disk < 2 * live) return;
    uint64_t *drop = NULL;
    size_t n = 0, cap = 0;
    uint64_t end = st->base + st->tab_len;
    for (uint64_t s = st->base + st->tab_off; s <= st->committed && s < end; s++) {
        if (st->tab[s - st->base].flags & E_LIVE) continue;
        OB_GROW(drop, cap, n + 1);
        drop[n++] = s;
    }
    if (n && ob_log_compact(st->log, drop, n, on_compacted, st) == 0) st->compacting = true;
    free(drop);
}

/* Drops log segments that hold only removed messages, and compacts the rest when
 * enough of it is dead. */
static void reclaim(struct ob_stream *st)
{
    if (!st->log) return;
    uint64_t keep = st->msgs ? first_seq(st) : st->last_seq + 1;
    if (keep > st->committed + 1) keep = st->committed + 1;
    ob_log_drop_before(st->log, keep);
    maybe_compact(st);
}

static void enforce_limits(struct ob_stream *st)
{
    const struct ob_stream_config *c = &st->cfg;
    while (st->msgs > 1 &&
           ((c->max_msgs && st->msgs > c->max_msgs) || (c->max_bytes && st->bytes > c->max_bytes)))
        ob_stream_remove(st, first_seq(st));
    if (c->max_age_ms) {
        int64_t cutoff = ob_wall_ns() - c->max_age_ms * OB_NS_PER_MS;
        while (st->msgs && st->tab[st->tab_off].ts < cutoff)
            ob_stream_remove(st, first_seq(st));
    }
}

/* ---- consumers' view ---------------------------------------------------------------- */

static void kick_consumers(struct ob_stream *st)
{
    size_t i = 0;
    void *v;
    while (ob_map_next(&st->consumers, &i, NULL, &v))
        ob_bus_kick(st->bus, v);
}

static bool anyone_wants(struct ob_stream *st, struct ob_slice subject)
{
    size_t i = 0;
    void *v;
    while (ob_map_next(&st->consumers, &i, NULL, &v))
        if (ob_consumer_wants(v, subject)) return true;
    return false;
}

/* Interest / work-queue: is every consumer that wants seq done with it? */
static bool all_done(struct ob_stream *st, uint64_t seq, struct ob_slice subject)
{
    size_t i = 0, wanting = 0;
    void *v;
    while (ob_map_next(&st->consumers, &i, NULL, &v)) {
        if (!ob_consumer_wants(v, subject)) continue;
        wanting++;
        if (!ob_consumer_done_with(v, seq)) return false;
    }
    /* Work waits for a worker; interest without interest is gone. */
    return wanting > 0 || st->cfg.retention == OB_RETAIN_INTEREST;
}

void ob_stream_acked(struct ob_stream *st, uint64_t seq)
{
    if (st->cfg.retention == OB_RETAIN_LIMITS) return;
    struct ob_entry *e = ob_stream_entry(st, seq);
    if (!e || !all_done(st, seq, ob_slice_str(e->subject))) return;
    ob_stream_remove(st, seq);
    reclaim(st);
}

void ob_stream_apply_interest(struct ob_stream *st)
{
    if (st->cfg.retention == OB_RETAIN_LIMITS) return;
    for (uint64_t s = st->base + st->tab_off; s < st->base + st->tab_len; s++) {
        struct ob_entry *e = ob_stream_entry(st, s);
        if (e && all_done(st, s, ob_slice_str(e->subject))) ob_stream_remove(st, s);
    }
    reclaim(st);
}

/* ---- capture (the write path) ------------------------------------------------------- */

struct write_ctx {
    struct ob_stream *st;
    uint64_t seq;
    struct ob_pubctx *pc;
};

static void commit_upto(struct ob_stream *st, uint64_t seq)
{
    if (seq > st->committed) st->committed = seq;
    kick_consumers(st);
    trim_cache(st);
}

static void on_written(void *arg, int status)
{
    struct write_ctx *w = arg;
    struct ob_stream *st = w->st;
    if (status) {
        ob_bus_note_error(st->bus, status);
        OB_WARN("stream", "write failed", "stream=%s seq=%" PRIu64 " err=\"%s\"", st->name, w->seq,
                ob_strerror(status));
        ob_stream_remove(st, w->seq);
    }
    commit_upto(st, w->seq);
    if (w->pc) ob_pubctx_done(w->pc, st, status ? 0 : w->seq, status);
    free(w);
}

/* Compaction: the newest message per key (or subject) supersedes the previous one. */
static void supersede(struct ob_stream *st, struct ob_msg *msg, uint64_t seq)
{
    struct ob_slice k = st->cfg.compaction == OB_COMPACT_KEY ? msg->key : msg->subject;
    if (st->cfg.compaction == OB_COMPACT_NONE || !k.n) return;
    uint64_t *box = ob_map_get(&st->last_by, k);
    if (!box) {
        box = ob_xmalloc(sizeof *box + k.n);
        memcpy(box + 1, k.p, k.n);
        ob_map_put(&st->last_by, ob_slice_make(box + 1, k.n), box);
    } else {
        ob_stream_remove(st, *box);
    }
    *box = seq;
}

static uint64_t append_entry(struct ob_stream *st, struct ob_msg *msg, bool cache)
{
    uint64_t seq = ++st->last_seq;
    struct ob_entry *e = table_extend(st, seq);
    e->subject = intern(st, msg->subject);
    e->ts = msg->ts;
    e->size = (uint32_t)ob_msg_size(msg);
    e->flags = E_LIVE;
    if (cache) {
        e->msg = ob_msg_ref(msg);
        if (st->log) st->cached_bytes += e->size;
    }
    st->msgs++;
    st->bytes += e->size;
    return seq;
}

static int write_message(struct ob_stream *st, struct ob_msg *msg, uint64_t seq,
                         struct ob_pubctx *pc)
{
    ob_buf_reserve(&st->scratch, 0);
    st->scratch.len = 0;
    ob_msg_encode(&st->scratch, msg);
    struct ob_record r = {OB_REC_MSG, seq, msg->ts, ob_slice_make(st->scratch.p, st->scratch.len)};
    struct write_ctx *w = ob_xmalloc(sizeof *w);
    *w = (struct write_ctx){st, seq, pc};
    if (pc) ob_pubctx_hold(pc);
    int rc = ob_log_append(st->log, &r, on_written, w);
    if (rc) {
        w->pc = NULL;
        if (pc) ob_pubctx_done(pc, st, 0, rc);
        on_written(w, rc);
    }
    return rc;
}

static void reject(struct ob_pubctx *pc, struct ob_stream *st, int rc)
{
    if (!pc) return;
    ob_pubctx_hold(pc);
    ob_pubctx_done(pc, st, 0, rc);
}

int ob_stream_capture(struct ob_stream *st, struct ob_msg *msg, struct ob_pubctx *pc)
{
    uint32_t limit = st->cfg.max_msg_size ? st->cfg.max_msg_size : st->bus->max_msg_size;
    int rc = ob_msg_size(msg) > limit ? OB_ETOOBIG : st->deleting ? OB_ECLOSED : 0;
    if (rc) {
        reject(pc, st, rc);
        return rc;
    }
    /* Interest retention with nobody interested: not stored, and not an error. */
    if (st->cfg.retention == OB_RETAIN_INTEREST && !anyone_wants(st, msg->subject)) return 0;
    uint64_t seq = append_entry(st, msg, true);
    supersede(st, msg, seq);
    enforce_limits(st);
    /* Limits and compaction remove as we write: reclaim disk space now and then. */
    if (st->log && st->removed >= 1024) {
        st->removed = 0;
        reclaim(st);
    }
    if (st->log) return write_message(st, msg, seq, pc);
    commit_upto(st, seq);
    if (pc) {
        ob_pubctx_hold(pc);
        ob_pubctx_done(pc, st, seq, 0);
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

int ob_stream_load(struct ob_stream *st, uint64_t seq, struct ob_msg **out)
{
    struct ob_entry *e = ob_stream_entry(st, seq);
    if (!e) return OB_ENOENT;
    if (e->msg) {
        *out = ob_msg_ref(e->msg);
        return 0;
    }
    struct ob_record r;
    int rc = ob_log_read(st->log, seq, &st->scratch, &r);
    if (!rc) rc = ob_msg_decode(r.body, r.ts, out);
    if (rc)
        OB_ERROR("stream", "read failed", "stream=%s seq=%" PRIu64 " err=\"%s\"", st->name, seq,
                 ob_strerror(rc));
    return rc;
}

int ob_stream_get(struct ob_stream *st, uint64_t seq, struct ob_msg **out)
{
    if (seq > st->committed) return OB_ENOENT;
    return ob_stream_load(st, seq, out);
}

int ob_stream_next_seq(struct ob_stream *st, uint64_t seq, const char *filter, uint64_t *out)
{
    struct ob_slice f = ob_slice_str(filter);
    if (filter && *filter && !ob_filter_valid(f)) return OB_EBADSUBJECT;
    uint64_t s = seq > st->base + st->tab_off ? seq : st->base + st->tab_off;
    for (; s <= st->committed && s < st->base + st->tab_len; s++) {
        struct ob_entry *e = &st->tab[s - st->base];
        if (!(e->flags & E_LIVE)) continue;
        if (filter && *filter && !ob_subject_matches(f, ob_slice_str(e->subject))) continue;
        *out = s;
        return 0;
    }
    return OB_ENOENT;
}

int ob_stream_seq_for_time(struct ob_stream *st, int64_t ts_ns, uint64_t *out)
{
    for (uint64_t s = st->base + st->tab_off; s <= st->committed && s < st->base + st->tab_len;
         s++) {
        struct ob_entry *e = &st->tab[s - st->base];
        if ((e->flags & E_LIVE) && e->ts >= ts_ns) {
            *out = s;
            return 0;
        }
    }
    return OB_ENOENT;
}

/* ---- purge -------------------------------------------------------------------------- */

/* Removes live messages below upto (0: all) matching filter (NULL: all). */
static int64_t purge_apply(struct ob_stream *st, const char *filter, uint64_t upto)
{
    int64_t n = 0;
    uint64_t end = st->base + st->tab_len;
    if (upto && upto < end) end = upto;
    for (uint64_t s = st->base + st->tab_off; s < end; s++) {
        struct ob_entry *e = ob_stream_entry(st, s);
        if (!e || (filter && !ob_subject_matches(ob_slice_str(filter), ob_slice_str(e->subject))))
            continue;
        ob_stream_remove(st, s);
        n++;
    }
    return n;
}

/* Purge record body: u64 upto, then the filter bytes (none: every subject). */
static int purge_persist(struct ob_stream *st, const char *filter, uint64_t upto)
{
    if (!st->dels) return 0;
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_put_u64le(&b, upto ? upto : st->last_seq + 1);
    if (filter) ob_buf_append(&b, filter, strlen(filter));
    struct ob_record r = {OB_REC_DELETE, ++st->dels_seq, ob_wall_ns(), ob_slice_make(b.p, b.len)};
    int rc = ob_log_append(st->dels, &r, NULL, NULL);
    ob_buf_release(&b);
    return rc;
}

int64_t ob_stream_purge(struct ob_stream *st, const char *filter, uint64_t upto)
{
    if (filter && (!*filter || !ob_filter_valid(ob_slice_str(filter)))) {
        if (*filter) return OB_EBADSUBJECT;
        filter = NULL;
    }
    int rc = purge_persist(st, filter, upto);
    if (rc) return rc;
    int64_t n = purge_apply(st, filter, upto);
    size_t i = 0;
    void *v;
    while (ob_map_next(&st->consumers, &i, NULL, &v))
        ob_consumer_stream_purged(v);
    reclaim(st);
    return n;
}

static int replay_purge(void *arg, const struct ob_record *r)
{
    struct ob_stream *st = arg;
    st->dels_seq = r->seq;
    if (r->type != OB_REC_DELETE || r->body.n < 8) return 0;
    char *filter = r->body.n > 8 ? ob_slice_dup(ob_slice_make(r->body.p + 8, r->body.n - 8)) : NULL;
    purge_apply(st, filter, ob_get_u64le(r->body.p));
    free(filter);
    return 0;
}

/* ---- age limit ---------------------------------------------------------------------- */

static void on_age_timer(uv_timer_t *t)
{
    struct ob_stream *st = t->data;
    uint64_t before = st->msgs;
    enforce_limits(st);
    if (st->msgs != before) reclaim(st);
}

static void arm_age_timer(struct ob_stream *st)
{
    if (!st->cfg.max_age_ms) {
        if (st->age_timer_on) uv_timer_stop(&st->age_timer);
        return;
    }
    uint64_t every = (uint64_t)st->cfg.max_age_ms / 4;
    if (every < 10) every = 10;
    if (every > 1000) every = 1000;
    uv_timer_start(&st->age_timer, on_age_timer, every, every);
    st->age_timer_on = true;
}

/* ---- create / open / close / delete -------------------------------------------------- */

static struct ob_log_options log_options(const struct ob_stream_config *c)
{
    struct ob_log_options o = {c->segment_bytes, c->fsync, c->fsync_interval_ms};
    return o;
}

static void register_subjects(struct ob_stream *st, bool add)
{
    for (size_t i = 0; i < st->cfg.nsubjects; i++) {
        struct ob_slice f = ob_slice_str(st->cfg.subjects[i]);
        if (add)
            ob_sublist_insert(&st->bus->subs, f, st);
        else
            ob_sublist_remove(&st->bus->subs, f, st);
    }
}

static struct ob_stream *stream_alloc(struct ob_bus *bus, const struct ob_stream_config *cfg)
{
    struct ob_stream *st = ob_xcalloc(1, sizeof *st);
    st->kind = OB_ITEM_STREAM;
    st->bus = bus;
    config_copy(&st->cfg, cfg);
    st->name = (char *)st->cfg.name;
    uv_timer_init(bus->loop, &st->age_timer);
    st->age_timer.data = st;
    if (bus->data_dir && !cfg->memory) {
        char *streams = ob_path_join(bus->data_dir, "streams");
        st->dir = ob_path_join(streams, st->name);
        free(streams);
    }
    return st;
}

/* Opens the message and purge logs (durable streams only). */
static int open_logs(struct ob_stream *st)
{
    if (!st->dir) return 0;
    struct ob_log_options o = log_options(&st->cfg);
    char *msgs = ob_path_join(st->dir, "msgs"), *dels = ob_path_join(st->dir, "dels");
    int rc = ob_mkdir_p(st->dir);
    if (!rc) rc = ob_log_open(st->bus->store, msgs, &o, &st->log);
    struct ob_log_options d = {0, OB_FSYNC_ALWAYS, 0};
    if (!rc) rc = ob_log_open(st->bus->store, dels, &d, &st->dels);
    free(msgs);
    free(dels);
    return rc;
}

static void stream_free(struct ob_stream *st)
{
    for (size_t i = st->tab_off; i < st->tab_len; i++) {
        if (st->tab[i].msg) ob_msg_unref(st->tab[i].msg);
        if (st->tab[i].subject) unintern(st, st->tab[i].subject);
    }
    free(st->tab);
    size_t i = 0;
    void *v;
    while (ob_map_next(&st->last_by, &i, NULL, &v))
        free(v);
    ob_map_release(&st->last_by);
    ob_map_release(&st->subjects);
    ob_map_release(&st->consumers);
    ob_buf_release(&st->scratch);
    free(st->dir);
    config_free(&st->cfg);
    free(st);
}

static void on_timer_closed(uv_handle_t *h)
{
    stream_free(h->data);
}

static void close_consumers(struct ob_stream *st)
{
    size_t n;
    void **list = ob_map_values(&st->consumers, &n);
    for (size_t k = 0; k < n; k++)
        ob_consumer_close(list[k]);
    free(list);
}

void ob_stream_close(struct ob_stream *st)
{
    st->deleting = true;
    register_subjects(st, false);
    ob_map_del(&st->bus->streams, ob_slice_str(st->name));
    close_consumers(st);
    if (st->log) ob_log_close(st->log);
    if (st->dels) ob_log_close(st->dels);
    st->log = st->dels = NULL;
    uv_close((uv_handle_t *)&st->age_timer, on_timer_closed);
}

static int write_meta(struct ob_stream *st)
{
    if (!st->dir) return 0;
    struct ob_buf b = OB_BUF_INIT;
    config_encode(&b, &st->cfg);
    char *path = ob_path_join(st->dir, "stream.meta");
    int rc = ob_meta_write(path, ob_slice_make(b.p, b.len));
    free(path);
    ob_buf_release(&b);
    return rc;
}

static void stream_publish_open(struct ob_bus *bus, struct ob_stream *st)
{
    ob_map_put(&bus->streams, ob_slice_str(st->name), st);
    register_subjects(st, true);
    arm_age_timer(st);
}

int ob_stream_create(struct ob_bus *bus, const struct ob_stream_config *cfg, struct ob_stream **out)
{
    int rc = config_check(cfg);
    if (rc) return rc;
    struct ob_stream *st = ob_stream_lookup(bus, cfg->name);
    if (st) {
        if (!config_equal(&st->cfg, cfg)) return OB_EEXIST;
        if (out) *out = st;
        return 0;
    }
    st = stream_alloc(bus, cfg);
    rc = open_logs(st);
    if (!rc) rc = write_meta(st);
    if (rc) {
        ob_stream_close(st);
        return rc;
    }
    stream_publish_open(bus, st);
    if (out) *out = st;
    return 0;
}

int ob_stream_update(struct ob_stream *st, const struct ob_stream_config *cfg)
{
    int rc = config_check(cfg);
    if (rc) return rc;
    if (strcmp(cfg->name, st->name) || cfg->retention != st->cfg.retention ||
        cfg->compaction != st->cfg.compaction || cfg->memory != st->cfg.memory)
        return OB_EINVAL;
    register_subjects(st, false);
    struct ob_stream_config old = st->cfg;
    config_copy(&st->cfg, cfg);
    st->name = (char *)st->cfg.name;
    ob_map_put(&st->bus->streams, ob_slice_str(st->name), st);
    config_free(&old);
    register_subjects(st, true);
    if (st->log) {
        struct ob_log_options o = log_options(&st->cfg);
        ob_log_set_options(st->log, &o);
    }
    enforce_limits(st);
    reclaim(st);
    arm_age_timer(st);
    return write_meta(st);
}

int ob_stream_delete(struct ob_bus *bus, const char *name)
{
    struct ob_stream *st = ob_stream_lookup(bus, name);
    if (!st) return OB_ENOENT;
    char *dir = st->dir ? ob_xstrdup(st->dir) : NULL;
    ob_stream_close(st);
    int rc = dir ? ob_rm_rf(dir) : 0;
    free(dir);
    return rc;
}

struct ob_stream *ob_stream_lookup(struct ob_bus *bus, const char *name)
{
    return name ? ob_map_get(&bus->streams, ob_slice_str(name)) : NULL;
}

const char *ob_stream_name(const struct ob_stream *st)
{
    return st->name;
}

const struct ob_stream_config *ob_stream_config(const struct ob_stream *st)
{
    return &st->cfg;
}

void ob_stream_get_info(const struct ob_stream *st, struct ob_stream_info *info)
{
    info->msgs = st->msgs;
    info->bytes = st->bytes;
    info->first_seq = first_seq(st);
    info->last_seq = st->last_seq;
    info->consumers = st->consumers.count;
}

static int cmp_names(const void *a, const void *b)
{
    const struct ob_stream *x = *(void *const *)a, *y = *(void *const *)b;
    return strcmp(x->name, y->name);
}

void ob_stream_foreach(struct ob_bus *bus, int (*fn)(void *arg, struct ob_stream *st), void *arg)
{
    size_t n;
    void **list = ob_map_values(&bus->streams, &n);
    qsort(list, n, sizeof *list, cmp_names);
    for (size_t k = 0; k < n && !fn(arg, list[k]); k++)
        continue;
    free(list);
}

/* ---- recovery ----------------------------------------------------------------------- */

static int replay_message(void *arg, const struct ob_record *r)
{
    struct ob_stream *st = arg;
    if (r->type != OB_REC_MSG) return 0;
    struct ob_msg *m;
    if (ob_msg_decode(r->body, r->ts, &m) != 0) {
        OB_ERROR("stream", "undecodable message skipped", "stream=%s seq=%" PRIu64, st->name,
                 r->seq);
        return 0;
    }
    st->last_seq = r->seq - 1; /* gaps (failed writes, compaction) stay as dead entries */
    append_entry(st, m, false);
    supersede(st, m, r->seq);
    ob_msg_unref(m);
    return 0;
}

static int recover_consumers(struct ob_stream *st)
{
    char *cdir = ob_path_join(st->dir, "consumers");
    DIR *d = opendir(cdir);
    int rc = 0;
    struct dirent *de;
    while (d && !rc && (de = readdir(d))) {
        if (!ob_name_valid(de->d_name)) continue;
        char *p = ob_path_join(cdir, de->d_name);
        struct ob_consumer *c;
        rc = ob_consumer_recover(st, p, &c);
        if (rc == OB_ENOENT) rc = 0; /* half-created consumer: no meta yet */
        free(p);
    }
    if (d) closedir(d);
    free(cdir);
    return rc;
}

static int recover_stream(struct ob_bus *bus, const char *dir)
{
    struct ob_buf body = OB_BUF_INIT;
    char *meta = ob_path_join(dir, "stream.meta");
    int rc = ob_meta_read(meta, &body);
    free(meta);
    struct ob_stream_config cfg;
    if (!rc) rc = config_decode(ob_slice_make(body.p, body.len), &cfg);
    ob_buf_release(&body);
    if (rc) return rc == OB_ENOENT ? 0 : rc;
    struct ob_stream *st = stream_alloc(bus, &cfg);
    config_free(&cfg);
    rc = open_logs(st);
    if (!rc) rc = ob_log_scan(st->log, 0, replay_message, st);
    if (!rc && ob_log_last_seq(st->log) > st->last_seq) st->last_seq = ob_log_last_seq(st->log);
    if (!rc) rc = ob_log_scan(st->dels, 0, replay_purge, st);
    st->committed = st->last_seq;
    if (!rc) rc = recover_consumers(st);
    if (rc) {
        ob_stream_close(st);
        return rc;
    }
    enforce_limits(st);
    ob_stream_apply_interest(st);
    stream_publish_open(bus, st);
    OB_INFO("stream", "recovered", "stream=%s msgs=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64,
            st->name, st->msgs, first_seq(st), st->last_seq);
    return 0;
}

int ob_streams_recover(struct ob_bus *bus)
{
    char *root = ob_path_join(bus->data_dir, "streams");
    int rc = ob_mkdir_p(root);
    DIR *d = rc ? NULL : opendir(root);
    struct dirent *de;
    while (d && !rc && (de = readdir(d))) {
        if (!ob_name_valid(de->d_name)) continue;
        char *p = ob_path_join(root, de->d_name);
        rc = recover_stream(bus, p);
        if (rc) OB_ERROR("stream", "recovery failed", "dir=%s err=\"%s\"", p, ob_strerror(rc));
        free(p);
    }
    if (d) closedir(d);
    free(root);
    return rc;
}
