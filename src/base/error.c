/* error.c — names for OB_E* codes. */
#include <omnibus.h>

const char *ob_strerror(int err)
{
    switch (err) {
    case OB_OK:
        return "success";
    case OB_EINVAL:
        return "invalid argument";
    case OB_ENOMEM:
        return "memory limit reached";
    case OB_ENOENT:
        return "not found";
    case OB_EEXIST:
        return "already exists with a different configuration";
    case OB_EIO:
        return "I/O error";
    case OB_ENOSPC:
        return "no space left on device";
    case OB_ETOOBIG:
        return "too large";
    case OB_ELIMIT:
        return "limit reached";
    case OB_EBADSUBJECT:
        return "invalid subject";
    case OB_ECORRUPT:
        return "corrupt data";
    case OB_ECLOSED:
        return "closed";
    case OB_EPERM:
        return "not authorized";
    case OB_EAUTH:
        return "authentication failed";
    case OB_EAGAIN:
        return "try again";
    case OB_EPROTO:
        return "protocol error";
    case OB_ECONFIG:
        return "invalid configuration";
    case OB_EADDRINUSE:
        return "address in use";
    case OB_ETIMEDOUT:
        return "timed out";
    case OB_ENOTSUP:
        return "not supported";
    case OB_EOVERLAP:
        return "consumer filters overlap";
    default:
        return "unknown error";
    }
}
