/*
 * fuzz_config.c — libFuzzer target for the config loader: the input is a YAML file
 * overlaid on the defaults (from memory, like -c FILE). A valid result is also diffed
 * against the defaults and edited with ob_config_set, and the value parsers see the
 * input as a string. Errors are expected; crashes, leaks and hangs are not.
 */
#include "config/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_values(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    uint64_t v;
    struct ob_listen_config l;
    ob_parse_size(s, &v);
    ob_parse_duration_ms(s, &v);
    if (ob_parse_listen(s, &l) == 0) free(l.host);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ob_config_source src = {
        .text = (const char *)data, .text_len = size, .text_name = "fuzz.yaml"};
    struct ob_config cfg, defaults;
    struct ob_diag d = {0};
    if (ob_config_load(&cfg, &src, &d) == 0) {
        if (ob_config_load(&defaults, NULL, &d) == 0) {
            ob_config_diff(&defaults, &cfg, NULL, NULL);
            ob_config_release(&defaults);
        }
        ob_config_set(&cfg, "limits.max_msg_size=1MiB", NULL, &d);
        ob_config_release(&cfg);
    }
    ob_diag_release(&d);
    parse_values(data, size);
    return 0;
}
