#pragma once

/*
 * The pod half of the sandbox layer is portable (sandbox.c: the registry,
 * the state machine, records, driver calls, recovery); what a pod gets
 * from its host besides its driver's sandbox comes through these calls,
 * one file per platform:
 *
 *   sandbox_linux.c  the pod's user namespace, network namespace and CNI
 *                    (pod_net.h), its own cgroup, image layers as disks;
 *   sandbox_win.c    the directory and the pod's network: an HCN
 *                    namespace and CNI (network/net_hcn.h), whose
 *                    endpoints the hcs driver makes NICs.
 *
 * Each is called under the pod's op_lock where a pod is named.
 */

#include <stdbool.h>

#include "common/error.h"
#include "sandbox/driver.h"
#include "sandbox/phase.h"
#include "sandbox/sandbox-internal.h"

struct net_pod_config;

/* <state_root>/pods, made if missing; searchable by all (a pod's root in
 * a user namespace passes through it). */
int sbx_plat_pods_root(const char *path, struct uvm_error **err);

/* The pod's directory (its parent exists); and its removal with whatever
 * the platform pinned in it. Removal is idempotent. */
int sbx_plat_pod_dir_create(const char *dir, struct uvm_error **err);
int sbx_plat_pod_dir_remove(const char *dir, struct uvm_error **err);

/* The driver spec of p from its record (sandbox.c), borrowing from it. */
void sbx_pod_fill_spec(struct sbx *s, struct sbx_pod *p, struct drv_pod_spec *spec);

/* What the platform adds to a driver spec sandbox.c filled (cgroup
 * parent, layer disks); *ret_owned is freed by the caller after use. */
int sbx_plat_spec(struct sbx *s, struct sbx_pod *p, struct drv_pod_spec *spec, char **ret_owned,
                  struct uvm_error **err);

/* From a recorded CREATING pod to a running sandbox: the platform's parts
 * of the pod (network, cgroup) and the driver's pod_create, timed on pc.
 * Puts the pod's IPs in p->rec (under p->lock). On failure *ret_drv is
 * what the driver made (NULL if nothing) and the caller undoes the rest
 * with sbx_plat_pod_release. */
int sbx_plat_pod_start(struct sbx *s, struct sbx_pod *p, const struct net_pod_config *net,
                       bool host_network, struct phase_clock *pc, struct drv_pod **ret_drv,
                       struct uvm_error **err);

/* A stopped pod gives its network back (as containerd does); idempotent. */
int sbx_plat_pod_net_stop(struct sbx_pod *p, struct phase_clock *pc, struct uvm_error **err);

/* New pod limits applied where the platform can (Linux: the pod's own
 * cgroup), before sbx_pod_set_limits keeps them in the record. */
int sbx_plat_pod_limits(struct sbx *s, struct sbx_pod *p, const struct sbx_pod_limits *l,
                        struct uvm_error **err);

/* What sbx_plat_pod_start may have made besides the driver's sandbox and
 * the directory: the pod's own cgroup, and its network too when asked
 * (a stopped pod has given it back already). Failures logged, ignored. */
void sbx_plat_pod_release(struct sbx *s, const char *pod_id, const char *kubelet_parent,
                          bool network);
