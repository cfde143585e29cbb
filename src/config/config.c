/*
 * config.c — the layering pipeline: default document, --no-default-listeners, file,
 * environment, --set, --data-dir; then one validation pass over the merged tree.
 */
#include "config/internal.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_PREFIX     "OMNIBUS_"
#define MAX_FILE_BYTES (16u << 20)

/* ---- overlays --------------------------------------------------------------------- */

/* Splits a value given for a list of scalars on commas: "a.>,b.*" -> [a.>, b.*]. */
static struct cfg_node *split_list(const char *src, const char *value)
{
    struct cfg_node *seq = cfg_seq(src);
    const char *p = value;
    while (*value) {
        size_t len = strcspn(p, ",");
        char *item = ob_xstrndup(p, len);
        cfg_append(seq, cfg_scalar(src, item));
        free(item);
        if (!p[len]) break;
        p += len + 1;
    }
    return seq;
}

/* The node an overlay value becomes, shaped by what the schema expects there: scalars
 * stay literal (so "[::1]:8080" is an address, not YAML), lists and maps are YAML flow
 * text ("[{name: a, subjects: [a.>]}]"). */
static struct cfg_node *overlay_value(enum cfg_expect e, const char *src, const char *value,
                                      struct ob_diag *diag)
{
    if (e == EXPECT_SCALAR) return cfg_scalar(src, value);
    if (e == EXPECT_SCALAR_SEQ && value[0] != '[') return split_list(src, value);
    return cfg_parse(value, strlen(value), src, diag);
}

/* The child of node at segment seg, created (as a map) if missing or a scalar. */
static struct cfg_node *step(struct cfg_node *node, const char *seg, const char *src,
                             bool *bad_index)
{
    if (node->kind == CFG_MAP) {
        struct cfg_node *kid = cfg_get(node, seg);
        if (!kid || kid->kind == CFG_SCALAR) {
            kid = cfg_map(src);
            cfg_put(node, seg, kid);
        }
        return kid;
    }
    size_t i = strtoul(seg, NULL, 10);
    if (node->kind != CFG_SEQ || i > node->n) {
        *bad_index = true;
        return NULL;
    }
    if (i == node->n) cfg_append(node, cfg_map(src));
    return node->kids[i];
}

/* Puts v at the dotted path under root; v is consumed. */
static bool put_path(struct cfg_node *root, const char *path, struct cfg_node *v, const char *src)
{
    char *copy = ob_xstrdup(path), *seg = copy, *dot;
    struct cfg_node *node = root;
    bool bad = false;
    while (node && (dot = strchr(seg, '.'))) {
        *dot = 0;
        node = step(node, seg, src, &bad);
        seg = dot + 1;
    }
    if (node && node->kind == CFG_MAP) {
        cfg_put(node, seg, v);
    } else if (node && node->kind == CFG_SEQ && strtoul(seg, NULL, 10) <= node->n) {
        size_t i = strtoul(seg, NULL, 10);
        if (i == node->n) {
            cfg_append(node, v);
        } else {
            cfg_free(node->kids[i]);
            node->kids[i] = v;
        }
    } else {
        bad = true;
        cfg_free(v);
    }
    free(copy);
    return !bad;
}

/* Applies path=value from src ("--set k=v", "env OMNIBUS_K") to the tree. */
static bool apply(struct cfg_node *root, const char *path, const char *value, const char *src,
                  struct ob_diag *diag)
{
    enum cfg_expect e;
    const char *bad;
    if (schema_lookup(path, &e, &bad)) {
        diag_error(diag, "%s: %s: unknown key", src, path);
        return false;
    }
    struct cfg_node *v = overlay_value(e, src, value, diag);
    if (!v) return false;
    if (!put_path(root, path, v, src)) {
        diag_error(diag, "%s: %s: no such list element", src, path);
        return false;
    }
    return true;
}

static bool apply_assignment(struct cfg_node *root, const char *assignment, const char *src,
                             struct ob_diag *diag)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        diag_error(diag, "%s: expected path.to.key=value", src);
        return false;
    }
    char *path = ob_xstrndup(assignment, (size_t)(eq - assignment));
    bool ok = apply(root, path, eq + 1, src, diag);
    free(path);
    return ok;
}

static char *label(const char *prefix, const char *what, size_t n)
{
    struct ob_buf b = OB_BUF_INIT;
    ob_buf_printf(&b, "%s%.*s", prefix, (int)n, what);
    ob_buf_putc(&b, 0);
    return (char *)b.p;
}

/* OMNIBUS_LIMITS__MAX_CONNECTIONS=5 -> limits.max_connections=5 */
static bool apply_env(struct cfg_node *root, const char *entry, struct ob_diag *diag)
{
    const char *eq = strchr(entry, '=');
    if (!eq) return true;
    char *src = label("env ", entry, (size_t)(eq - entry));
    struct ob_buf path = OB_BUF_INIT;
    for (const char *p = entry + strlen(ENV_PREFIX); p < eq; p++) {
        if (p[0] == '_' && p + 1 < eq && p[1] == '_') {
            ob_buf_putc(&path, '.');
            p++;
        } else {
            ob_buf_putc(&path, (uint8_t)tolower((unsigned char)*p));
        }
    }
    ob_buf_putc(&path, 0);
    bool ok = apply(root, (const char *)path.p, eq + 1, src, diag);
    ob_buf_release(&path);
    free(src);
    return ok;
}

/* ---- layers ------------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len, struct ob_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(diag, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct ob_buf b = OB_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= MAX_FILE_BYTES)
        ob_buf_append(&b, chunk, n);
    bool err = ferror(f);
    fclose(f);
    if (err || b.len > MAX_FILE_BYTES) {
        diag_error(diag, "%s: %s", path, err ? "read error" : "larger than 16 MiB");
        ob_buf_release(&b);
        return NULL;
    }
    ob_buf_putc(&b, 0);
    *len = b.len - 1;
    return (char *)b.p;
}

static bool merge_text(struct cfg_node *root, const char *text, size_t len, const char *name,
                       struct ob_diag *diag)
{
    struct cfg_node *doc = cfg_parse(text, len, name, diag);
    if (!doc) return false;
    if (doc->kind != CFG_MAP) {
        diag_error(diag, "%s:%u:%u: expected a mapping of keys at the top level", name, doc->line,
                   doc->col);
        cfg_free(doc);
        return false;
    }
    cfg_merge(root, doc);
    return true;
}

static bool merge_source_doc(struct cfg_node *root, const struct ob_config_source *src,
                             struct ob_diag *diag)
{
    if (src->file) {
        size_t len;
        char *text = read_file(src->file, &len, diag);
        if (!text) return false;
        bool ok = merge_text(root, text, len, src->file, diag);
        free(text);
        return ok;
    }
    if (src->text)
        return merge_text(root, src->text, src->text_len,
                          src->text_name ? src->text_name : "<memory>", diag);
    return true;
}

static void listeners_off(struct cfg_node *root)
{
    struct cfg_node *l = cfg_get(root, "listeners");
    for (size_t i = 0; i < OB_NLISTENERS; i++)
        cfg_put(l, ob_listener_names[i], cfg_scalar("--no-default-listeners", "off"));
}

static void apply_overlays(struct cfg_node *root, const struct ob_config_source *src,
                           struct ob_diag *diag)
{
    for (char *const *e = src->envp; e && *e; e++)
        if (!strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX))) apply_env(root, *e, diag);
    for (size_t i = 0; i < src->nsets; i++) {
        char *lbl = label("--set ", src->sets[i], strlen(src->sets[i]));
        apply_assignment(root, src->sets[i], lbl, diag);
        free(lbl);
    }
    if (src->data_dir) cfg_put(root, "data_dir", cfg_scalar("--data-dir", src->data_dir));
}

/* Builds cfg from root (consumed); on failure cfg is zeroed. */
static int finish(struct ob_config *cfg, struct cfg_node *root, struct ob_diag *diag)
{
    if (!schema_build(root, cfg, diag)) {
        schema_release(cfg);
        memset(cfg, 0, sizeof *cfg);
        cfg_free(root);
        return OB_ECONFIG;
    }
    cfg->tree = root;
    return 0;
}

int ob_config_load(struct ob_config *cfg, const struct ob_config_source *src, struct ob_diag *diag)
{
    static const struct ob_config_source none;
    if (!src) src = &none;
    memset(cfg, 0, sizeof *cfg);
    size_t errors = diag->nerrors;
    struct cfg_node *root =
        cfg_parse(ob_config_default_yaml, strlen(ob_config_default_yaml), "<default>", diag);
    if (!root) abort(); /* the compiled-in document is tested valid */
    if (src->no_default_listeners) listeners_off(root);
    if (!merge_source_doc(root, src, diag)) {
        cfg_free(root);
        return OB_ECONFIG;
    }
    /* Validate even after an overlay error, so that one run reports every problem. */
    apply_overlays(root, src, diag);
    int rc = finish(cfg, root, diag);
    if (rc == 0 && diag->nerrors != errors) {
        ob_config_release(cfg);
        rc = OB_ECONFIG;
    }
    return rc;
}

int ob_config_set(struct ob_config *cfg, const char *assignment, const char *source,
                  struct ob_diag *diag)
{
    char *lbl = source ? ob_xstrdup(source) : label("--set ", assignment, strlen(assignment));
    struct cfg_node *root = cfg_dup(cfg->tree);
    bool ok = apply_assignment(root, assignment, lbl, diag);
    free(lbl);
    if (!ok) {
        cfg_free(root);
        return OB_ECONFIG;
    }
    struct ob_config next;
    int rc = finish(&next, root, diag);
    if (rc) return rc;
    ob_config_release(cfg);
    *cfg = next;
    return 0;
}

void ob_config_release(struct ob_config *cfg)
{
    schema_release(cfg);
    cfg_free(cfg->tree);
    memset(cfg, 0, sizeof *cfg);
}
