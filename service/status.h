#pragma once

/* The one place where errno values become gRPC status codes. */

#include <grpc/status.h>

/* err is a negative or positive errno value. */
grpc_status_code status_from_errno(int err);
const char *status_code_name(grpc_status_code code);
