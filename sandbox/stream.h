#pragma once

/*
 * Exec, Attach and PortForward sessions on uvmd's pods: the streaming
 * server's backend (stream/stream.h), whose data is the struct sbx.
 */

#include "sandbox/sandbox.h"
#include "stream/stream.h"

struct sbx_pod;

/* The backend table with s as its data. */
struct stream_backend sbx_stream_backend(struct sbx *s);

/* End every session of the pod (their clients are told why), before its
 * driver pod (and agent connection) is freed. */
void sbx_streams_end(struct sbx_pod *p, const char *why);

/* For the CRI calls that hand out URLs: the full id of a running container
 * (of a ready pod with a network namespace) that can have sessions. */
int sbx_stream_check_ctr(struct sbx *s, const char *id_prefix, char **ret_id,
                         struct uvm_error **err);
int sbx_stream_check_pod(struct sbx *s, const char *id_prefix, char **ret_id,
                         struct uvm_error **err);
