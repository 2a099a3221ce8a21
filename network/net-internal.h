#pragma once

/* What the pod attachment code (pod.c) needs from the net object (net.c). */

#include "common/error.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"
#include "network/net.h"

/* A private copy of the current valid config (rescanned if the dir changed),
 * or the not-ready reason as an error. */
int net_conf_snapshot(struct net *n, struct cni_conf **ret_conf, struct uvm_error **err);

/* The executor for plugin runs: ops, CNI path and timeout. Valid while n is. */
void net_exec(struct net *n, struct cni_exec *ret);

const char *net_state_dir(struct net *n);
