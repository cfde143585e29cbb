/*
 * internal.h — the config module's private pieces: a YAML document tree that remembers
 * where each value came from (tree.c), and the schema that turns a tree into struct
 * ob_config (schema.c). Layers are merged as trees, then validated once, so a value's
 * error always names the layer that supplied it.
 */
#ifndef OB_CONFIG_INTERNAL_H
#define OB_CONFIG_INTERNAL_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>

enum cfg_kind { CFG_SCALAR, CFG_MAP, CFG_SEQ };

/* A node owns its strings and children. In a map, each child carries its key and the
 * key's position; line 0 means the source has no positions (env, --set). */
struct cfg_node {
    enum cfg_kind kind;
    char *src;
    unsigned line, col;
    char *str; /* scalar value, NUL-terminated */
    size_t len;
    char *key; /* set when the node is a map value */
    unsigned key_line, key_col;
    struct cfg_node **kids;
    size_t n, cap;
};

/* Parses one YAML document; NULL (and an error in diag) on a syntax error, an alias,
 * more than one document or nesting deeper than 64. An empty document gives an empty
 * map. */
struct cfg_node *cfg_parse(const char *text, size_t len, const char *src, struct ob_diag *diag);
struct cfg_node *cfg_scalar(const char *src, const char *value);
struct cfg_node *cfg_map(const char *src);
struct cfg_node *cfg_seq(const char *src);
void cfg_free(struct cfg_node *n);
struct cfg_node *cfg_dup(const struct cfg_node *n);
/* The child of map m under key, or NULL. */
struct cfg_node *cfg_get(const struct cfg_node *m, const char *key);
/* Sets m[key] = v (v is consumed), replacing any previous value. */
void cfg_put(struct cfg_node *m, const char *key, struct cfg_node *v);
void cfg_append(struct cfg_node *seq, struct cfg_node *v);
/* Merges over into base (consuming over): maps merge key by key, anything else
 * replaces. */
void cfg_merge(struct cfg_node *base, struct cfg_node *over);

/* Diagnostics. */
void diag_error(struct ob_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warn(struct ob_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "src:line:col" or just "src" when the node has no position. */
void cfg_where(const struct cfg_node *n, bool at_key, char *out, size_t size);

/* Schema. */
enum cfg_expect { EXPECT_SCALAR, EXPECT_MAP, EXPECT_SEQ, EXPECT_SCALAR_SEQ };
/* Resolves a dotted path (list indexes as numbers) against the schema: 0 and what the
 * leaf expects, or OB_ENOENT with *bad pointing into path at the first unknown segment. */
int schema_lookup(const char *path, enum cfg_expect *out, const char **bad);
/* Validates the whole tree into cfg (zeroed first); false if diag got errors. */
bool schema_build(const struct cfg_node *root, struct ob_config *cfg, struct ob_diag *diag);
void schema_release(struct ob_config *cfg);

#endif
