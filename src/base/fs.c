/* fs.c — path joining, mkdir -p, rm -r, directory fsync. */
#include "base/fs.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <omnibus.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ob_path_join(const char *a, const char *b)
{
    struct ob_buf p = OB_BUF_INIT;
    ob_buf_printf(&p, "%s/%s", a, b);
    ob_buf_putc(&p, 0);
    return (char *)p.p;
}

int ob_mkdir_p(const char *path)
{
    char *tmp = ob_xstrdup(path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) break;
        *s = '/';
    }
    int rc = mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : OB_EIO;
    free(tmp);
    return rc;
}

static int errno_code(int e)
{
    return e == ENOSPC || e == EDQUOT ? OB_ENOSPC : OB_EIO;
}

int ob_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_code(errno);
    int rc = fsync(fd) == 0 ? 0 : errno_code(errno);
    close(fd);
    return rc;
}

char *ob_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return ob_xstrdup(".");
    return ob_xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
}

int ob_rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return unlink(path) == 0 || errno == ENOENT ? 0 : OB_EIO;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = ob_path_join(path, de->d_name);
        ob_rm_rf(p);
        free(p);
    }
    closedir(d);
    return rmdir(path) == 0 ? 0 : OB_EIO;
}
