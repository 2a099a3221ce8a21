#pragma once

/*
 * A QMP client (QEMU Machine Protocol) over a unix socket.
 *
 * On connect QEMU sends a greeting {"QMP": {...}}; we negotiate with
 * qmp_capabilities; then each command {"execute": ..., "arguments": ...,
 * "id": N} gets {"return": ..., "id": N} or {"error": {"class", "desc"},
 * "id": N}. Events {"event": NAME, "data": ..., "timestamp": ...} may arrive
 * at any time, also before the reply to the command that caused them (QEMU
 * 7.2 sends SHUTDOWN before the reply to "quit").
 *
 * Everything QEMU sends is validated and bounded: one message is at most
 * QMP_MAX_MESSAGE bytes, every read has a deadline. Messages are parsed as a
 * stream of JSON objects (newline or CRLF separated in practice; pretty
 * printed output parses too).
 *
 * Errors: a QMP error reply is -EIO ("qmp <command>: <class>: <desc>") and
 * leaves the connection usable, as does a timeout (a late reply to a command
 * that timed out is recognised by its id and dropped). A protocol error
 * (-EPROTO: not JSON, not an object, wrong id, neither return nor error), an
 * oversized message (-EMSGSIZE), EOF (-ECONNRESET) or an I/O error leaves it
 * unusable: later calls fail with -ENOTCONN; close it and connect again.
 *
 * Not thread-safe: one caller at a time (the driver serialises). The event
 * handler runs on the caller's thread, inside qmp_execute/qmp_wait_event, and
 * must not call back into this connection.
 */

#include <json-c/json.h>

#include "common/error.h"

#define QMP_MAX_MESSAGE (1024 * 1024)

struct qmp;

/* Connect to the QMP socket at path, read the greeting and negotiate
 * capabilities, all within timeout_ms. While the socket does not exist yet
 * or refuses (QEMU still starting), retry until the deadline. */
int qmp_connect(const char *path, int timeout_ms, struct qmp **ret, struct uvm_error **err);

/* Run command with args (borrowed, may be NULL). On success *ret_return (may
 * be NULL) gets a new reference to the "return" value. Events that arrive
 * meanwhile go to the event handler. */
int qmp_execute(struct qmp *q, const char *command, json_object *args, int timeout_ms,
                json_object **ret_return, struct uvm_error **err);

/* qmp_execute with fd (borrowed) passed along with the command's bytes
 * (SCM_RIGHTS), for "getfd", which names it for later commands
 * ("netdev_add" with fd=<name>). */
int qmp_execute_fd(struct qmp *q, const char *command, json_object *args, int fd, int timeout_ms,
                   json_object **ret_return, struct uvm_error **err);

/* data_obj is the event's "data" (NULL when absent), borrowed for the call. */
typedef void (*qmp_event_fn)(void *userdata, const char *event, json_object *data_obj);

/* Every event read is passed to fn (NULL: none), once, in arrival order. */
void qmp_set_event_handler(struct qmp *q, qmp_event_fn fn, void *userdata);

/* Wait up to timeout_ms for an event named name; -ETIMEDOUT when none came.
 * An event that arrived since the start of the latest qmp_execute and was
 * not yet taken by a wait counts too, so "execute, then wait for the event
 * it causes" never misses it. *ret_data (may be NULL) gets a new reference
 * to the event's "data" (NULL when absent). */
int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, json_object **ret_data,
                   struct uvm_error **err);

/* Close the socket and free everything; NULL is fine. Returns NULL. */
struct qmp *qmp_close(struct qmp *q);

static inline void qmp_closep(struct qmp **q)
{
        qmp_close(*q);
}

#define _cleanup_qmp_ _cleanup_(qmp_closep)
