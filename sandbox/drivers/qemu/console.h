#pragma once

/* A VM's serial console, read from QEMU's chardev socket into a bounded,
 * rotated log; the guest agent's records go on to uvmd's log (console.c). */

#include "common/error.h"

struct qconsole;

/* Connect to sock (retrying up to timeout_ms: QEMU may be starting) and read
 * it on a thread of its own into log. */
int qconsole_start(const char *pod_id, const char *sock, const char *log, int timeout_ms,
                   struct qconsole **ret, struct uvm_error **err);
/* Stop reading (the VM may run on) and release. */
struct qconsole *qconsole_free(struct qconsole *c);
