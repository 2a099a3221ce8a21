#pragma once

/*
 * A guest's network interface by its MAC address, read from sysfs
 * (<sys_net>/<name>/address and .../ifindex; "/sys/class/net" in a VM), and
 * the bounded wait for one that a hot-add has not brought up yet: the
 * Network and Nic guest settings (guest_settings.c) share it. Tests give
 * a directory of their own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_LINK_SYS_NET "/sys/class/net"
#define AGENT_LINK_MAX_WAIT_MS 30000 /* the most a request may ask to wait */
#define AGENT_LINK_POLL_MS 50

/* The index of the interface with mac (case-insensitive, "aa:bb:cc:dd:ee:ff"),
 * its name in name (len bytes); -ENODEV when none has it. */
int agent_link_by_mac(const char *sys_net, const char *mac, char *name, size_t len);
/* agent_link_by_mac of mac, else of from (NULL: none), looked up at once
 * and then every AGENT_LINK_POLL_MS until one is there or wait_ms (at most
 * AGENT_LINK_MAX_WAIT_MS) have passed: an interface that is there costs no
 * wait. *ret_from: found by from. -ENODEV when neither came in time. */
int agent_link_wait(const char *sys_net, const char *mac, const char *from, int64_t wait_ms,
                    char *name, size_t len, bool *ret_from);
