/*
 * tree.c — YAML text to a position-carrying document tree (libyaml's event parser),
 * and the tree operations the layering needs: lookup, put, merge, copy.
 *
 * Aliases are refused rather than expanded: a config has no need for them, and
 * expanding them is how a few hundred bytes of YAML become gigabytes ("billion
 * laughs"). Nesting is bounded so that hostile input cannot exhaust the stack.
 */
#include "config/internal.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

static struct cfg_node *node_new(enum cfg_kind kind, const char *src, unsigned line, unsigned col)
{
    struct cfg_node *n = ob_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->src = ob_xstrdup(src);
    n->line = line;
    n->col = col;
    return n;
}

struct cfg_node *cfg_scalar(const char *src, const char *value)
{
    struct cfg_node *n = node_new(CFG_SCALAR, src, 0, 0);
    n->len = strlen(value);
    n->str = ob_xstrdup(value);
    return n;
}

struct cfg_node *cfg_map(const char *src)
{
    return node_new(CFG_MAP, src, 0, 0);
}

struct cfg_node *cfg_seq(const char *src)
{
    return node_new(CFG_SEQ, src, 0, 0);
}

void cfg_free(struct cfg_node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++)
        cfg_free(n->kids[i]);
    free(n->kids);
    free(n->src);
    free(n->str);
    free(n->key);
    free(n);
}

struct cfg_node *cfg_dup(const struct cfg_node *n)
{
    struct cfg_node *d = node_new(n->kind, n->src, n->line, n->col);
    if (n->str) d->str = ob_xmemdup(n->str, n->len + 1);
    d->len = n->len;
    if (n->key) d->key = ob_xstrdup(n->key);
    d->key_line = n->key_line;
    d->key_col = n->key_col;
    for (size_t i = 0; i < n->n; i++)
        cfg_append(d, cfg_dup(n->kids[i]));
    return d;
}

void cfg_append(struct cfg_node *seq, struct cfg_node *v)
{
    OB_GROW(seq->kids, seq->cap, seq->n + 1);
    seq->kids[seq->n++] = v;
}

struct cfg_node *cfg_get(const struct cfg_node *m, const char *key)
{
    for (size_t i = 0; m && m->kind == CFG_MAP && i < m->n; i++)
        if (!strcmp(m->kids[i]->key, key)) return m->kids[i];
    return NULL;
}

/* Moves the key (and its position) of old onto v, which replaces old. */
static void take_key(struct cfg_node *v, struct cfg_node *old)
{
    free(v->key);
    v->key = old->key;
    v->key_line = old->key_line;
    v->key_col = old->key_col;
    old->key = NULL;
}

void cfg_put(struct cfg_node *m, const char *key, struct cfg_node *v)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->kids[i]->key, key) != 0) continue;
        if (!v->key) take_key(v, m->kids[i]);
        cfg_free(m->kids[i]);
        m->kids[i] = v;
        return;
    }
    if (!v->key) v->key = ob_xstrdup(key);
    cfg_append(m, v);
}

void cfg_merge(struct cfg_node *base, struct cfg_node *over)
{
    for (size_t i = 0; i < over->n; i++) {
        struct cfg_node *v = over->kids[i];
        struct cfg_node *old = cfg_get(base, v->key);
        if (old && old->kind == CFG_MAP && v->kind == CFG_MAP)
            cfg_merge(old, v);
        else
            cfg_put(base, v->key, v);
        over->kids[i] = NULL;
    }
    over->n = 0;
    cfg_free(over);
}

/* ---- diagnostics ------------------------------------------------------------------ */

static void diag_add(char ***arr, size_t *n, const char *fmt, va_list ap)
{
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_vprintf(&b, fmt, ap);
    ob_buf_putc(&b, 0);
    *arr = ob_xrealloc(*arr, (*n + 1) * sizeof **arr);
    (*arr)[(*n)++] = (char *)b.p;
}

void diag_error(struct ob_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(&d->errors, &d->nerrors, fmt, ap);
    va_end(ap);
}

void diag_warn(struct ob_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(&d->warnings, &d->nwarnings, fmt, ap);
    va_end(ap);
}

void ob_diag_release(struct ob_diag *d)
{
    for (size_t i = 0; i < d->nerrors; i++)
        free(d->errors[i]);
    for (size_t i = 0; i < d->nwarnings; i++)
        free(d->warnings[i]);
    free(d->errors);
    free(d->warnings);
    memset(d, 0, sizeof *d);
}

void cfg_where(const struct cfg_node *n, bool at_key, char *out, size_t size)
{
    unsigned line = at_key && n->key_line ? n->key_line : n->line;
    unsigned col = at_key && n->key_line ? n->key_col : n->col;
    if (line)
        snprintf(out, size, "%s:%u:%u", n->src, line, col);
    else
        snprintf(out, size, "%s", n->src);
}

/* ---- YAML to tree -------------------------------------------------------------------- */

struct parser {
    yaml_parser_t y;
    const char *src;
    struct ob_diag *diag;
    bool failed;
};

static bool next_event(struct parser *p, yaml_event_t *ev)
{
    if (yaml_parser_parse(&p->y, ev)) return true;
    const char *what = p->y.problem ? p->y.problem : "syntax error";
    yaml_mark_t m = p->y.problem_mark;
    diag_error(p->diag, "%s:%zu:%zu: invalid YAML: %s", p->src, m.line + 1, m.column + 1, what);
    p->failed = true;
    return false;
}

static void fail_at(struct parser *p, const yaml_event_t *ev, const char *msg)
{
    diag_error(p->diag, "%s:%zu:%zu: %s", p->src, ev->start_mark.line + 1,
               ev->start_mark.column + 1, msg);
    p->failed = true;
}

static struct cfg_node *parse_node(struct parser *p, yaml_event_t *ev, int depth);

static struct cfg_node *scalar_from(struct parser *p, const yaml_event_t *ev)
{
    struct cfg_node *n = node_new(CFG_SCALAR, p->src, (unsigned)ev->start_mark.line + 1,
                                  (unsigned)ev->start_mark.column + 1);
    /* len keeps the real length: a scalar with a NUL byte ("\0") has strlen < len,
     * which the schema rejects. */
    n->len = ev->data.scalar.length;
    n->str = ob_xmalloc(n->len + 1);
    memcpy(n->str, ev->data.scalar.value, n->len);
    n->str[n->len] = 0;
    return n;
}

/* Parses the children of a mapping (after its start event) until its end event. */
static bool parse_map_body(struct parser *p, struct cfg_node *m, int depth)
{
    for (;;) {
        yaml_event_t kev, vev;
        if (!next_event(p, &kev)) return false;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return true;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            fail_at(p, &kev, "mapping keys must be plain strings");
            yaml_event_delete(&kev);
            return false;
        }
        char *key = ob_xstrndup((const char *)kev.data.scalar.value, kev.data.scalar.length);
        unsigned kl = (unsigned)kev.start_mark.line + 1, kc = (unsigned)kev.start_mark.column + 1;
        if (cfg_get(m, key)) {
            struct ob_buf b = OB_BUF_INIT;
            ob_buf_printf(&b, "duplicate key \"%s\"%c", key, 0);
            fail_at(p, &kev, (const char *)b.p);
            ob_buf_release(&b);
        }
        yaml_event_delete(&kev);
        struct cfg_node *v = NULL;
        if (!p->failed && next_event(p, &vev)) {
            v = parse_node(p, &vev, depth + 1);
            yaml_event_delete(&vev);
        }
        if (!v) {
            free(key);
            return false;
        }
        v->key = key;
        v->key_line = kl;
        v->key_col = kc;
        cfg_append(m, v);
    }
}

static bool parse_seq_body(struct parser *p, struct cfg_node *s, int depth)
{
    for (;;) {
        yaml_event_t ev;
        if (!next_event(p, &ev)) return false;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return true;
        }
        struct cfg_node *v = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!v) return false;
        cfg_append(s, v);
    }
}

/* Builds the node that starts with ev (which the caller deletes). */
static struct cfg_node *parse_node(struct parser *p, yaml_event_t *ev, int depth)
{
    if (depth > MAX_DEPTH) {
        fail_at(p, ev, "nesting too deep");
        return NULL;
    }
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    struct cfg_node *n = NULL;
    bool ok = true;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return scalar_from(p, ev);
    case YAML_MAPPING_START_EVENT:
        n = node_new(CFG_MAP, p->src, line, col);
        ok = parse_map_body(p, n, depth);
        break;
    case YAML_SEQUENCE_START_EVENT:
        n = node_new(CFG_SEQ, p->src, line, col);
        ok = parse_seq_body(p, n, depth);
        break;
    case YAML_ALIAS_EVENT:
        fail_at(p, ev, "YAML aliases are not supported");
        return NULL;
    default:
        fail_at(p, ev, "unexpected YAML event");
        return NULL;
    }
    if (!ok) {
        cfg_free(n);
        return NULL;
    }
    return n;
}

/* Reads stream-start and document-start; false at the end of an empty stream. */
static bool expect_event(struct parser *p, yaml_event_type_t type)
{
    yaml_event_t ev;
    if (!next_event(p, &ev)) return false;
    bool ok = ev.type == type;
    yaml_event_delete(&ev);
    return ok;
}

static struct cfg_node *parse_document(struct parser *p)
{
    yaml_event_t ev;
    if (!expect_event(p, YAML_STREAM_START_EVENT) || !next_event(p, &ev)) return NULL;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return node_new(CFG_MAP, p->src, 1, 1);
    }
    yaml_event_delete(&ev);
    if (!next_event(p, &ev)) return NULL;
    struct cfg_node *root = parse_node(p, &ev, 0);
    yaml_event_delete(&ev);
    if (!root) return NULL;
    if (!expect_event(p, YAML_DOCUMENT_END_EVENT) || !next_event(p, &ev)) {
        cfg_free(root);
        return NULL;
    }
    if (ev.type != YAML_STREAM_END_EVENT) {
        fail_at(p, &ev, "only one YAML document is allowed");
        cfg_free(root);
        root = NULL;
    }
    yaml_event_delete(&ev);
    return root;
}

struct cfg_node *cfg_parse(const char *text, size_t len, const char *src, struct ob_diag *diag)
{
    struct parser p = {.src = src, .diag = diag};
    if (!yaml_parser_initialize(&p.y)) abort();
    yaml_parser_set_input_string(&p.y, (const unsigned char *)text, len);
    struct cfg_node *root = parse_document(&p);
    yaml_parser_delete(&p.y);
    if (!root && !p.failed) diag_error(diag, "%s: invalid YAML", src);
    return root;
}
