#pragma once

/*
 * The ComputeAgent service's handlers (proto/computeagent.proto): decoding,
 * the bounds every request is held to, the answers. Shared by Linux's
 * per-pod endpoints and uvmd.exe; what a request does comes through
 * compute_agent-plat.h.
 */

#include "service/handler.h"

#define CAGENT_SERVICE "uvmd.computeagent.v1.ComputeAgent"
/* The pod's annotation (PodSandboxStatus) with its endpoint's address. */
#define CAGENT_ANNOTATION "io.uvmd.computeagent.address"
#define CAGENT_MAX_ADDRESSES 16 /* network/nic.h's NIC_MAX_ADDRESSES */
#define CAGENT_MAX_ROUTES 16

/* AddNIC, ModifyNIC, DeleteNIC; {0}-terminated. */
extern const struct srv_binding cagent_bindings[];
