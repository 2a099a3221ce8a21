#pragma once

/*
 * RuntimeService's pod sandbox handlers, the part both builds share
 * (cri_pod_common.c): the request's checks and translation into a pod
 * record, Stop and Remove, the Status and List answers from records. The
 * Linux handlers (cri_pod.c) add namespaces, sysctls, cgroups, CNI and the
 * ComputeAgent; the Windows ones (service/windows/cri_pod_win.c) refuse
 * what an hcs pod cannot have.
 */

#include "proto/api.pb-c.h"

#include "sandbox/record.h"
#include "service/handler.h"
#include "service/handlers.h"

/* The request's metadata, log directory syntax left to the caller, its
 * runtime handler (*ret_handler), UVM size, labels and annotations into
 * rec (strings borrowed from req and ctx, except the label and annotation
 * copies: cri_pod_rec_release). */
int cri_pod_rec_common(struct srv_ctx *ctx, const Runtime__V1__RunPodSandboxRequest *req,
                       struct pod_record *rec, const struct handler_entry **ret_handler,
                       struct uvm_error **err);
void cri_pod_rec_release(struct pod_record *rec);

/* Port mappings a pod may have (CRI gives each container port). */
#define CRI_POD_MAX_PORTS 64

struct net_port;
struct net_pod_config;
/* The pod's network config for the sandbox layer (network/net.h): its
 * names, its published port mappings (checked, into ports, which holds
 * CRI_POD_MAX_PORTS) and its DNS config, borrowed from c and ctx. */
int cri_pod_net_cfg(struct srv_ctx *ctx, const Runtime__V1__PodSandboxConfig *c,
                    const char *hostname, struct net_port *ports, struct net_pod_config *ret,
                    struct uvm_error **err);

/* RunPodSandbox's answer for id. */
int cri_pod_run_answer(struct srv_ctx *ctx, const char *id, ProtobufCMessage **ret,
                       struct uvm_error **err);

/* A pod id argument: a full one (Status), or any the kubelet may retry
 * Stop and Remove with (one that names nothing is success). */
int cri_pod_id_arg(const char *id, struct uvm_error **err);
int cri_any_pod_id_arg(const char *id, struct uvm_error **err);

/* StopPodSandbox and RemovePodSandbox, whole. */
int cri_pod_stop(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                 struct uvm_error **err);
int cri_pod_remove(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                   struct uvm_error **err);

/* UpdatePodSandboxResources, whole: the kubelet resized the pod; the new
 * limits are checked and handed to the sandbox layer (sbx_pod_set_limits:
 * kept in the record, applied where the platform can). */
int cri_pod_update_resources(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                             struct uvm_error **err);

/* PodSandboxStatus's answer from a copy of the record; agent (may be
 * NULL) is the pod's ComputeAgent address, announced as the annotation
 * agent_key (borrowed: a constant). */
int cri_pod_status_answer(struct srv_ctx *ctx, const struct pod_record *r, const char *agent_key,
                          const char *agent, bool verbose, ProtobufCMessage **ret,
                          struct uvm_error **err);

/* ListPodSandbox built by a walk of the live records (filter may be NULL);
 * cri_pod_list_all is the unfiltered one as a list_build_fn (ctx). */
int cri_pod_list(struct srv_ctx *ctx, const Runtime__V1__PodSandboxFilter *f,
                 ProtobufCMessage **ret, struct uvm_error **err);
int cri_pod_list_all(void *ctx, ProtobufCMessage **ret, struct uvm_error **err);
/* ListPodSandbox, whole: unfiltered answers from the list cache
 * (cri_list_cached), filtered ones by a walk. */
int cri_pod_list_call(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err);
