#pragma once

/*
 * Where a service's log records go: it has no console, so common/log.h's
 * sink is pointed at a file (under the data root; appended, one record per
 * write) and, when asked, the Windows event log too. Windows only.
 *
 *   struct winsvc_log *l;
 *   winsvc_log_open("C:\\ProgramData\\uvmd\\uvmd.log", "uvmd", &l, &err);
 *   log_set_sink(winsvc_log_sink, l);
 *   ...
 *   log_set_sink(NULL, NULL);
 *   winsvc_log_close(l);
 */

#include <stddef.h>

#include "common/error.h"

struct winsvc_log;

/* Opens (creating it and its missing directories) the file at path for
 * appending. event_source: also report every record to the Application
 * event log under that source name; NULL for the file only. */
int winsvc_log_open(const char *path, const char *event_source, struct winsvc_log **ret_log,
                    struct uvm_error **err);

/* A log_sink_fn: userdata is the struct winsvc_log. */
void winsvc_log_sink(const char *record, size_t len, void *userdata);

struct winsvc_log *winsvc_log_close(struct winsvc_log *log);

/* The event type a text or JSON record asks for (EVENTLOG_*_TYPE), from
 * its level: the sink is given the formatted record only. */
unsigned short winsvc_log_event_type(const char *record, size_t len);
