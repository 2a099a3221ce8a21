#pragma once

/*
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram of "KEY=VALUE\n" lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or the abstract namespace when it starts with
 * '@'). Linux only.
 *
 *   notify_init()             once, in main before any thread starts: takes
 *                             $NOTIFY_SOCKET and removes it from the
 *                             environment, so that the processes uvmd spawns
 *                             (agents, QEMU, CNI plugins) do not inherit it
 *   notify_send("READY=1")    send one message; 0 when not under systemd
 *   notify_sendf(fmt, ...)
 */

#include <stdbool.h>

/* Reads and unsets $NOTIFY_SOCKET. Not thread-safe (the environment). */
void notify_init(void);

/* Whether a notify socket was given. */
bool notify_enabled(void);

/* Send state (e.g. "READY=1\nSTATUS=serving"): 1 when sent, 0 when there is
 * no notify socket, -errno when the address is bad or sending failed. */
int notify_send(const char *state);
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For tests: use addr as $NOTIFY_SOCKET would be (NULL: none). */
void notify_set_socket(const char *addr);
