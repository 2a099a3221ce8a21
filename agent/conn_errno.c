/* Result codes on the bridge are Linux errno values (conn.h): the identity
 * on Linux, a table on Windows, whose C library numbers most codes above
 * ERANGE differently (ECONNRESET is 108 there, 104 on Linux). */

#include <errno.h>
#include <stddef.h>

#include "agent/conn.h"
#include "common/macros.h"

#ifdef _WIN32
/* {local, Linux}: every code mingw-w64's errno.h has. Linux has one number
 * for EOPNOTSUPP and ENOTSUP: the first wins coming in. */
static const struct {
        int local, wire;
} codes[] = {
        {E2BIG, 7},
        {EACCES, 13},
        {EADDRINUSE, 98},
        {EADDRNOTAVAIL, 99},
        {EAFNOSUPPORT, 97},
        {EAGAIN, 11},
        {EWOULDBLOCK, 11}, /* apart from EAGAIN in mingw-w64 */
        {EALREADY, 114},
        {EBADF, 9},
        {EBADMSG, 74},
        {EBUSY, 16},
        {ECANCELED, 125},
        {ECHILD, 10},
        {ECONNABORTED, 103},
        {ECONNREFUSED, 111},
        {ECONNRESET, 104},
        {EDEADLK, 35},
        {EDESTADDRREQ, 89},
        {EDOM, 33},
        {EEXIST, 17},
        {EFAULT, 14},
        {EFBIG, 27},
        {EHOSTUNREACH, 113},
        {EIDRM, 43},
        {EILSEQ, 84},
        {EINPROGRESS, 115},
        {EINTR, 4},
        {EINVAL, 22},
        {EIO, 5},
        {EISCONN, 106},
        {EISDIR, 21},
        {ELOOP, 40},
        {EMFILE, 24},
        {EMLINK, 31},
        {EMSGSIZE, 90},
        {ENAMETOOLONG, 36},
        {ENETDOWN, 100},
        {ENETRESET, 102},
        {ENETUNREACH, 101},
        {ENFILE, 23},
        {ENOBUFS, 105},
        {ENODATA, 61},
        {ENODEV, 19},
        {ENOENT, 2},
        {ENOEXEC, 8},
        {ENOLCK, 37},
        {ENOLINK, 67},
        {ENOMEM, 12},
        {ENOMSG, 42},
        {ENOPROTOOPT, 92},
        {ENOSPC, 28},
        {ENOSR, 63},
        {ENOSTR, 60},
        {ENOSYS, 38},
        {ENOTCONN, 107},
        {ENOTDIR, 20},
        {ENOTEMPTY, 39},
        {ENOTRECOVERABLE, 131},
        {ENOTSOCK, 88},
        {ENOTTY, 25},
        {ENXIO, 6},
        {EOVERFLOW, 75},
        {EOWNERDEAD, 130},
        {EPERM, 1},
        {EPIPE, 32},
        {EPROTO, 71},
        {EPROTONOSUPPORT, 93},
        {EPROTOTYPE, 91},
        {ERANGE, 34},
        {EROFS, 30},
        {ESPIPE, 29},
        {ESRCH, 3},
        {ETIME, 62},
        {ETIMEDOUT, 110},
        {ETXTBSY, 26},
        {EXDEV, 18},
        {EOPNOTSUPP, 95},
        {ENOTSUP, 95},
};

int agent_errno_from_wire(int wire)
{
        for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
                if (codes[i].wire == wire)
                        return codes[i].local;
        return EIO;
}

int agent_errno_to_wire(int code)
{
        for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
                if (codes[i].local == code)
                        return codes[i].wire;
        return 5; /* EIO */
}
#else
int agent_errno_from_wire(int wire)
{
        return wire;
}

int agent_errno_to_wire(int code)
{
        return code;
}
#endif
