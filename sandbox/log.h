#pragma once

/*
 * Container log files in the kubelet's CRI format, one record per line:
 *   <RFC3339Nano> <stdout|stderr> <P|F> <text>
 * Output arrives in arbitrary chunks (the driver's ctr_output); complete
 * lines are written as F, lines longer than CRILOG_MAX_LINE are cut into P
 * records, and a trailing partial line is written as P on flush. Safe to
 * call from several threads. Portable: the format and the splitting are
 * log.c's on both platforms, the file log-plat.h's (log_linux.c,
 * log_win.c; paths UTF-8, UTF-16 at the Windows edge).
 */

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "sandbox/driver.h"

#define CRILOG_MAX_LINE (16 * 1024)

struct crilog;

/* Open (create, append) path; its directory must exist. A symlink is
 * refused. */
int crilog_open(const char *path, struct crilog **ret, struct uvm_error **err);
struct crilog *crilog_free(struct crilog *l); /* flushes first */

int crilog_write(struct crilog *l, enum drv_stream stream, const char *buf, size_t len);
/* Write any buffered partial line as a P record. */
int crilog_flush(struct crilog *l);
/* After rotation: flush, close, open the path again (ReopenContainerLog). */
int crilog_reopen(struct crilog *l, struct uvm_error **err);

/* Format a CRI timestamp (UTC, nanoseconds) into buf (>= 40 bytes). */
void crilog_timestamp(int64_t realtime_ns, char *buf, size_t size);
