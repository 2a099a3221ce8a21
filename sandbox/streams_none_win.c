/*
 * What the sandbox layer calls in stream.c (Exec, Attach and PortForward
 * sessions, Linux's streaming server), for the Windows build, which serves
 * none: a pod has no sessions to end.
 */

#include "sandbox/sandbox-internal.h"
#include "sandbox/stream.h"

void sbx_streams_end(struct sbx_pod *p, const char *why)
{
}
