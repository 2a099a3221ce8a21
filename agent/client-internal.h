#pragma once

/* What the files of the host-side client (client.c: connection, streams,
 * container lifecycle; client_fields.c: response checks; client_calls.c:
 * exec, update, usage, guest settings; client_stream.c: streaming sessions)
 * share. Not for other modules. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "common/error.h"
#include "common/json.h"

#define CALL_TIMEOUT_MS 30000
#define EXEC_GRACE_MS 10000
#define MAX_EXEC_ARGS 4096 /* ExecuteProcess argv entries */
#define MAX_EXIT_CODE 255

/* A request for ctr_id ("" for the pod) with a fresh ActivityId; NULL when
 * out of memory. */
json_object *client_req_new(struct agent_client *c, const char *ctr_id);
/* req[key] = v (consumed); -ENOMEM. */
int client_req_add(json_object *req, const char *key, json_object *v, struct uvm_error **err);
/* Send req (consumed) and wait for the response (*ret_resp may be NULL). */
int client_call(struct agent_client *c, uint32_t rpc, json_object *req, int timeout_ms,
                json_object **ret_resp, struct uvm_error **err);
/* A call whose response carries nothing but Result. */
int client_call_simple(struct agent_client *c, uint32_t rpc, json_object *req,
                       struct uvm_error **err);
int client_check_ctr_id(const char *id, bool allow_empty, struct uvm_error **err);
struct agent_conn *client_conn(struct agent_client *c);
struct client_sessions *client_sessions_of(struct agent_client *c);

/* client_stream.c: the streaming sessions of one client, and the hooks
 * client.c calls from the bridge's reader thread. */
struct client_sessions;

struct client_sessions *client_sessions_new(void);
/* After the connection was freed: no callback runs any more. */
void client_sessions_free(struct client_sessions *ss);
/* Data or a close (data NULL) on a session stream: true if it was one (its
 * id is a session's), false to leave it to the container streams. */
bool client_sessions_data(struct client_sessions *ss, struct agent_conn *conn, uint64_t stream,
                          const void *data, size_t len);
/* A notification carrying ProcessId: a session ended. */
void client_sessions_notify(struct client_sessions *ss, json_object *payload);
void client_sessions_credit(struct client_sessions *ss, uint64_t stream);
void client_sessions_closed(struct client_sessions *ss, const char *reason);

/* client_fields.c: response field checks; what names the message. */
int cfield_get(json_object *o, const char *what, const char *name, json_type type, bool required,
               json_object **ret, struct uvm_error **err);
int cfield_int(json_object *o, const char *what, const char *name, int64_t min, int64_t max,
               bool required, int64_t def, int64_t *ret, struct uvm_error **err);
int cfield_u64_req(json_object *o, const char *what, const char *name, bool required, uint64_t *ret,
                   struct uvm_error **err);
int cfield_u64(json_object *o, const char *what, const char *name, uint64_t *ret,
               struct uvm_error **err);
int cfield_u64_opt(json_object *o, const char *what, const char *name, uint64_t *ret,
                   struct uvm_error **err);
int cfield_bool(json_object *o, const char *what, const char *name, bool *ret,
                struct uvm_error **err);
int cfield_str(json_object *o, const char *what, const char *name, size_t max_len, const char **ret,
               struct uvm_error **err);
/* A base64 string field, decoded (at most max bytes). */
int cfield_b64(json_object *o, const char *what, const char *name, size_t max, char **ret,
               size_t *ret_len, struct uvm_error **err);
