/*
 * fs.h — small filesystem helpers for the store and the core's metadata files.
 * Strings returned are owned by the caller (free()).
 */
#ifndef OB_BASE_FS_H
#define OB_BASE_FS_H

/* "a/b" */
char *ob_path_join(const char *a, const char *b);
/* mkdir -p; 0 or OB_EIO. */
int ob_mkdir_p(const char *path);
/* fsync a directory so that entries created, renamed or removed in it are durable
 * (directories are opened only for this). 0, OB_ENOSPC or OB_EIO. */
int ob_fsync_dir(const char *path);
/* The directory holding path ("." if none). */
char *ob_path_dirname(const char *path);
/* rm -r; 0 or OB_EIO. */
int ob_rm_rf(const char *path);

#endif
