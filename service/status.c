#include <errno.h>
#include <stdlib.h>

#include "common/macros.h"
#include "service/status.h"

grpc_status_code status_from_errno(int err)
{
        switch (abs(err)) {
        case 0:
                return GRPC_STATUS_OK;
        case ENOENT:
        case ESRCH:
                return GRPC_STATUS_NOT_FOUND;
        case EEXIST:
                return GRPC_STATUS_ALREADY_EXISTS;
        case EINVAL:
        case E2BIG:
        case ENAMETOOLONG:
        case EBADMSG:
        case EDOM:
                return GRPC_STATUS_INVALID_ARGUMENT;
        case ETIMEDOUT:
                return GRPC_STATUS_DEADLINE_EXCEEDED;
        case EAGAIN:
        case ECONNREFUSED:
        case EHOSTUNREACH:
        case ENETUNREACH:
#ifdef ESHUTDOWN /* mingw's errno.h lacks these four and the two EKEY ones */
        case ESHUTDOWN:
#endif
                return GRPC_STATUS_UNAVAILABLE;
        case EBUSY:
        case ENOTEMPTY:
        case ENODEV: /* a driver that cannot run on this node */
#ifdef ESTALE
        case ESTALE:
#endif
                return GRPC_STATUS_FAILED_PRECONDITION;
        case EPERM:
        case EACCES:
                return GRPC_STATUS_PERMISSION_DENIED;
        case ENOSYS:
        case EOPNOTSUPP:
                return GRPC_STATUS_UNIMPLEMENTED;
        case ENOSPC:
        case EMFILE:
        case ENFILE:
#ifdef EDQUOT
        case EDQUOT:
#endif
        case EFBIG:
        case EMSGSIZE:
                return GRPC_STATUS_RESOURCE_EXHAUSTED;
        case ECANCELED:
                return GRPC_STATUS_CANCELLED;
        case ERANGE:
                return GRPC_STATUS_OUT_OF_RANGE;
#ifdef EKEYREJECTED
        case EKEYREJECTED:
        case EKEYEXPIRED:
                return GRPC_STATUS_UNAUTHENTICATED;
#endif
        default:
                return GRPC_STATUS_INTERNAL;
        }
}

const char *status_code_name(grpc_status_code code)
{
        static const char *const names[] = {
                "OK",
                "CANCELLED",
                "UNKNOWN",
                "INVALID_ARGUMENT",
                "DEADLINE_EXCEEDED",
                "NOT_FOUND",
                "ALREADY_EXISTS",
                "PERMISSION_DENIED",
                "RESOURCE_EXHAUSTED",
                "FAILED_PRECONDITION",
                "ABORTED",
                "OUT_OF_RANGE",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS",
                "UNAUTHENTICATED",
        };
        if ((unsigned) code < ARRAY_SIZE(names))
                return names[code];
        return "UNKNOWN";
}
