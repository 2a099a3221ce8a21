#pragma once

/* For tests and the fuzzer: the QMP client on a connected socket. */

#include "sandbox/drivers/qemu/qmp.h"

/* qmp_connect on fd, a connected stream socket that it owns from now on
 * (closed on failure too). */
int qmp_connect_fd(int fd, int timeout_ms, struct qmp **ret, struct uvm_error **err);
