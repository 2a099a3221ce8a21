/* The kernel command line's uvmd.* settings, as the agent reads them when it
 * is a VM's PID 1 (guest_boot.c). Plain C: unit-tested on the host. */
#pragma once

#include <stdint.h>

/* The value of "KEY=N" among cmdline's space-separated words (the last
 * one wins, as with the kernel's own parameters): 1 and *ret set, 0 when
 * KEY is absent, -EINVAL when its value is not a decimal (or 0x hex)
 * number in 1..UINT32_MAX. */
int agent_cmdline_u32(const char *cmdline, const char *key, uint32_t *ret);
