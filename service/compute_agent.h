#pragma once

/*
 * The per-pod ComputeAgent endpoint (proto/computeagent.proto): every READY
 * pod with a network namespace gets a gRPC server of its own on
 * <pod dir>/computeagent.sock (mode 0600), started and stopped through the
 * sandbox layer's hooks. Its AddNIC/ModifyNIC/DeleteNIC act on that pod
 * only (network/nic.h); what they added is removed when the pod stops.
 */

#include "common/error.h"
#include "sandbox/sandbox.h"
#include "service/compute_agent_common.h" /* CAGENT_ANNOTATION */

#define CAGENT_SOCKET_NAME "computeagent.sock"

struct cagent;
struct srv_queue;
struct uvmd;

/* queue: the completion queue every endpoint polls on (server.h), shared
 * with the CRI server, or NULL: one of the endpoints' own. */
int cagent_new(struct uvmd *d, struct srv_queue *queue, struct cagent **ret,
               struct uvm_error **err);
/* Stops every endpoint (the pods and their NICs stay: a restarted uvmd
 * serves them again). */
struct cagent *cagent_free(struct cagent *ca);

/* The hooks to hand to sbx_new. */
void cagent_hooks(struct cagent *ca, struct sbx_hooks *ret);

/* "unix://<socket>" of the pod's endpoint (malloc'd), or NULL when the pod
 * has none. */
char *cagent_address(struct cagent *ca, const char *pod_id);
