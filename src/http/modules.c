/*
 * modules.c — expands OB_HTTP_MODULE_LIST (modules.h) into the table of built-in
 * modules. Nothing to edit here: add a module in modules.h.
 */
#include "http/modules.h"

#include <stddef.h>

#define OB_HTTP_MODULE_ENTRY(name) {#name, ob_http_mod_##name},
const struct ob_http_module ob_http_builtin_modules[] = {
    OB_HTTP_MODULE_LIST(OB_HTTP_MODULE_ENTRY){NULL, NULL},
};
