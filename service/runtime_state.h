#pragma once

/* Daemon-wide runtime facts: the pod CIDR (persisted), the cgroup driver,
 * the OCI runtime binary. */

#include <stdbool.h>

#include "common/error.h"
#include "service/config.h"

struct uvmd;

/* Reload the persisted pod CIDR from the state root (absent: none). */
int rt_load(struct uvmd *d, struct uvm_error **err);
int rt_set_pod_cidr(struct uvmd *d, const char *cidr, struct uvm_error **err);
char *rt_pod_cidr(struct uvmd *d); /* a copy, or NULL */

/* Configured driver, or systemd when PID 1 is systemd. */
bool rt_cgroup_driver_is_systemd(const struct uvmd_config *cfg);
