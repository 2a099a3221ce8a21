/*
 * What the pod half of the sandbox layer (sandbox.c, list.c) calls in the
 * container half, for the Windows build, which has pods but no containers
 * yet (container.c, its OCI specs, mounts and logs are Linux's): the
 * container registry stays empty, so each call has nothing to do, and
 * what a driver reports about a container is logged and dropped. No
 * Exec/Attach/PortForward sessions exist either.
 */

#include <assert.h>

#include "common/log.h"
#include "sandbox/container-internal.h"
#include "sandbox/stream.h"

void sbx_ctr_on_exit(struct sbx *s, const char *ctr_id, int exit_code, int64_t finished_ns,
                     bool oom_killed)
{
        log_debug("container %s exited (%d): no such container in this build, ignoring",
                  ctr_id ? ctr_id : "", exit_code);
}

void sbx_ctr_on_output(struct sbx *s, const char *ctr_id, enum drv_stream stream, const char *buf,
                       size_t len)
{
}

void sbx_ctr_pod_stopped(struct sbx *s, const char *pod_id)
{
}

void sbx_ctr_pod_died(struct sbx *s, const char *pod_id, const char *why)
{
}

int sbx_ctr_remove_pod(struct sbx *s, const char *pod_id, struct uvm_error **err)
{
        return 0;
}

void sbx_ctr_recover_pod(struct sbx *s, struct sbx_pod *p)
{
}

void sbx_ctr_reconcile_pod(struct sbx *s, struct sbx_pod *p)
{
}

/* Never reached: nothing registers a container here (n_ctrs stays 0). */
void sbx_ctr_forget(struct sbx *s, struct sbx_ctr *c)
{
        assert(!c);
}

void ctr_unref(struct sbx_ctr *c)
{
        assert(!c);
}

void sbx_streams_end(struct sbx_pod *p, const char *why)
{
}
