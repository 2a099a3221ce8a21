/* CRI ExecSync, the same on Linux and Windows: the request checked, the
 * command run through the pod's driver (the agent, for VM pods) with its
 * timeout and output caps, the answer. */

#include "proto/api.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/container.h"
#include "service/cri.h"
#include "service/cri_ctr_common.h"
#include "service/daemon.h"

/* msvcrt's stdout and stderr are macros; here they are only ever the
 * response's fields. */
#undef stdout
#undef stderr

#define EXEC_MAX_ARGS 1024

static const char cut_notice[] = "\nuvmd: ExecSync %s cut at %u bytes\n";

/* The notice that a stream was cut, written at out (room for cut_notice
 * plus digits); its length. */
static size_t cut_note(uint8_t *out, const char *stream, bool cut)
{
        int n = cut ? snprintf((char *) out, sizeof(cut_notice) + 16, cut_notice, stream,
                               DRV_EXEC_MAX_OUTPUT)
                    : 0;

        return n > 0 ? (size_t) n : 0;
}

int cri_ctr_exec_sync(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        const Runtime__V1__ExecSyncRequest *req = (const void *) m;
        Runtime__V1__ExecSyncResponse *resp = srv_new(ctx, Runtime__V1__ExecSyncResponse);
        struct drv_exec_result res = {0};
        struct drv_exec_spec spec = {0};
        char **argv;
        int r = cri_ctr_id_arg(req->container_id, err);

        if (r < 0)
                return r;
        if (req->n_cmd == 0 || req->n_cmd > EXEC_MAX_ARGS || STR_EMPTY(req->cmd[0]))
                return uvm_error_set(err, EINVAL, "cmd: 1 to %d arguments, the first non-empty",
                                     EXEC_MAX_ARGS);
        if (req->timeout < 0 || req->timeout > 86400)
                return uvm_error_set(err, EINVAL, "timeout %lld: 0 to 86400 seconds",
                                     (long long) req->timeout);
        argv = srv_new_array(ctx, char *, req->n_cmd + 1);
        if (!resp || !argv)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < req->n_cmd; i++)
                argv[i] = req->cmd[i];
        spec.argv = argv;
        spec.timeout_ms = req->timeout * 1000;
        spec.max_output = DRV_EXEC_MAX_OUTPUT;
        r = sbx_ctr_exec_sync(ctx->daemon->sbx, req->container_id, &spec, &res, err);
        if (r < 0)
                return r;
        if (res.timed_out) {
                drv_exec_result_clear(&res);
                return uvm_error_set(err, ETIMEDOUT, "command timed out after %llds",
                                     (long long) req->timeout);
        }
        runtime__v1__exec_sync_response__init(resp);
        resp->exit_code = res.exit_code;
        resp->stdout.data = srv_alloc(ctx, res.out_len + 1);
        resp->stderr.data = srv_alloc(ctx, res.err_len + 2 * (sizeof(cut_notice) + 16));
        if (!resp->stdout.data || !resp->stderr.data) {
                drv_exec_result_clear(&res);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (res.out_len)
                memcpy(resp->stdout.data, res.out, res.out_len);
        if (res.err_len)
                memcpy(resp->stderr.data, res.errout, res.err_len);
        resp->stdout.len = res.out_len;
        resp->stderr.len = res.err_len;
        /* The CRI has no field for it: the caller is told on stderr. */
        resp->stderr.len += cut_note(resp->stderr.data + resp->stderr.len, "stdout", res.out_cut);
        resp->stderr.len += cut_note(resp->stderr.data + resp->stderr.len, "stderr", res.err_cut);
        drv_exec_result_clear(&res);
        *ret = &resp->base;
        return 0;
}
