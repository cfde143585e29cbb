/*
 * test_tmpdir.h — a fresh temp directory per test (under $OB_TEST_TMP when ctest sets
 * it, else /tmp) for tests that open durable buses; removed after the test.
 */
#ifndef OB_TEST_TMPDIR_H
#define OB_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char g_dir[640];

/* Creates g_dir as <base>/<prefix>-XXXXXX; 0 or -1 (cmocka setup convention). */
static inline int ob_test_mkdtemp(const char *prefix)
{
    const char *base = getenv("OB_TEST_TMP");
    char tmpl[600];
    if (base) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", base);
        if (system(cmd) != 0) return -1;
    }
    snprintf(tmpl, sizeof tmpl, "%s/%s-XXXXXX", base ? base : "/tmp", prefix);
    if (!mkdtemp(tmpl)) return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    return 0;
}

static inline int ob_test_rmtemp(void)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
