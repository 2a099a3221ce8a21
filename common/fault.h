#pragma once

/*
 * Fault points: named steps where a test build of uvmd can be killed, to
 * prove that a restart finds every half-made pod and container.
 *
 * Names are "<op>.<step>" (docs/pods.md lists them). The production uvmd
 * links a no-op (fault_off.c); uvmd-fault links fault_on.c, which reads
 * UVMD_FAULT=<step>[:<n>] once and, at the n-th (default first) time the
 * step is reached, logs "fault: killed at <step>" and raises SIGKILL.
 */

void fault_point(const char *step);
