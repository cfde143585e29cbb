/*
 * meta.c — configuration files of streams and consumers (*.meta): one CRC-checked store
 * record each, replaced atomically: write a temp file, fsync it, rename it over the old
 * one, fsync the directory. A torn write leaves the old file in place.
 */
#include "core/core.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(const char *path, const struct ob_buf *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return OB_EIO;
    int rc = 0;
    if (write(fd, b->p, b->len) != (ssize_t)b->len || fsync(fd) != 0)
        rc = errno == ENOSPC ? OB_ENOSPC : OB_EIO;
    close(fd);
    return rc;
}

int ob_meta_write(const char *path, struct ob_slice body)
{
    struct ob_buf rec = OB_BUF_INIT, tmp = OB_BUF_INIT;
    struct ob_record r = {OB_REC_META, 1, ob_wall_ns(), body};
    ob_record_encode(&rec, &r);
    ob_buf_printf(&tmp, "%s.tmp", path);
    ob_buf_putc(&tmp, 0);
    int rc = write_all((const char *)tmp.p, &rec);
    if (!rc && rename((const char *)tmp.p, path) != 0) rc = OB_EIO;
    if (rc) unlink((const char *)tmp.p);
    if (!rc) {
        char *dir = ob_path_dirname(path);
        ob_fsync_dir(dir);
        free(dir);
    }
    ob_buf_release(&tmp);
    ob_buf_release(&rec);
    return rc;
}

int ob_meta_read(const char *path, struct ob_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? OB_ENOENT : OB_EIO;
    struct ob_buf raw = OB_BUF_INIT;
    uint8_t chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        ob_buf_append(&raw, chunk, (size_t)n);
    close(fd);
    struct ob_record r;
    size_t used;
    int rc = ob_record_decode(raw.p, raw.len, &r, &used) == 0 ? 0 : OB_ECORRUPT;
    if (!rc) {
        out->len = 0;
        ob_buf_append(out, r.body.p, r.body.n);
    }
    ob_buf_release(&raw);
    return rc;
}

void ob_meta_each(struct ob_slice body, void (*fn)(void *arg, const char *key, const char *value),
                  void *arg)
{
    char *text = ob_slice_dup(body), *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        fn(arg, line, eq + 1);
    }
    free(text);
}
