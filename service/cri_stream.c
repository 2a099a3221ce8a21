/* Exec, Attach and PortForward: each checks its request, binds it to the
 * container or pod it names with a single-use token, and answers with the
 * streaming server's URL (stream/stream.h); the session itself runs when
 * the client connects there. */

#include <errno.h>
#include <stdlib.h>

#include "common/macros.h"
#include "proto/api.pb-c.h"
#include "sandbox/stream.h"
#include "service/cri.h"
#include "service/daemon.h"
#include "service/validate.h"

/* msvcrt's stdin, stdout and stderr are macros; here they are only ever
 * the CRI fields. */
#undef stdin
#undef stdout
#undef stderr

#define EXEC_MAX_ARGS 1024

static int url_of(struct srv_ctx *ctx, const struct token_request *req, char **ret,
                  struct uvm_error **err)
{
        _cleanup_free_ char *url = NULL;
        int r = stream_server_url(ctx->daemon->stream, req, &url, err);

        if (r == -EBUSY)
                return uvm_error_set(err, ENOSPC, "too many streaming URLs outstanding");
        if (r < 0)
                return r;
        *ret = srv_strdup(ctx, url);
        return *ret ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}

/* Exec and Attach: the container, the stdio flags, then the URL for t. */
static int ctr_url(struct srv_ctx *ctx, const char *ctr, struct token_request *t, char **ret_url,
                   struct uvm_error **err)
{
        _cleanup_free_ char *id = NULL;
        int r = validate_string("container_id", ctr, 64, err);

        if (r < 0)
                return r;
        if (!t->want_stdin && !t->want_stdout && !t->want_stderr)
                return uvm_error_set(err, EINVAL, "one of stdin, stdout and stderr must be true");
        if (t->tty && t->want_stderr)
                return uvm_error_set(err, EINVAL,
                                     "tty and stderr cannot both be true: a terminal has one "
                                     "output");
        r = sbx_stream_check_ctr(ctx->daemon->sbx, ctr, &id, err);
        if (r < 0)
                return r;
        t->container_id = id;
        return url_of(ctx, t, ret_url, err);
}

static int cri_exec(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                    struct uvm_error **err)
{
        const Runtime__V1__ExecRequest *req = (const void *) m;
        Runtime__V1__ExecResponse *resp = srv_new(ctx, Runtime__V1__ExecResponse);
        char **argv = srv_new_array(ctx, char *, req->n_cmd + 1);
        int r;

        if (!resp || !argv)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (req->n_cmd == 0 || req->n_cmd > EXEC_MAX_ARGS || STR_EMPTY(req->cmd[0]))
                return uvm_error_set(err, EINVAL, "cmd: 1 to %d arguments, the first non-empty",
                                     EXEC_MAX_ARGS);
        for (size_t i = 0; i < req->n_cmd; i++)
                argv[i] = req->cmd[i];
        runtime__v1__exec_response__init(resp);
        r = ctr_url(ctx, req->container_id,
                    &(struct token_request){.kind = TOKEN_EXEC,
                                            .argv = argv,
                                            .tty = req->tty,
                                            .want_stdin = req->stdin,
                                            .want_stdout = req->stdout,
                                            .want_stderr = req->stderr},
                    &resp->url, err);
        if (r < 0)
                return r;
        *ret = &resp->base;
        return 0;
}

static int cri_attach(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                      struct uvm_error **err)
{
        const Runtime__V1__AttachRequest *req = (const void *) m;
        Runtime__V1__AttachResponse *resp = srv_new(ctx, Runtime__V1__AttachResponse);
        int r;

        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__attach_response__init(resp);
        r = ctr_url(ctx, req->container_id,
                    &(struct token_request){.kind = TOKEN_ATTACH,
                                            .tty = req->tty,
                                            .want_stdin = req->stdin,
                                            .want_stdout = req->stdout,
                                            .want_stderr = req->stderr},
                    &resp->url, err);
        if (r < 0)
                return r;
        *ret = &resp->base;
        return 0;
}

static int cri_port_forward(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                            struct uvm_error **err)
{
        const Runtime__V1__PortForwardRequest *req = (const void *) m;
        Runtime__V1__PortForwardResponse *resp = srv_new(ctx, Runtime__V1__PortForwardResponse);
        _cleanup_free_ char *id = NULL;
        int r = validate_string("pod_sandbox_id", req->pod_sandbox_id, 64, err);

        if (r >= 0 && req->n_port > 64)
                r = uvm_error_set(err, EINVAL, "port: at most 64 ports");
        for (size_t i = 0; r >= 0 && i < req->n_port; i++)
                if (req->port[i] < 1 || req->port[i] > 65535)
                        r = uvm_error_set(err, EINVAL, "port %d: 1 to 65535", req->port[i]);
        if (r >= 0)
                r = sbx_stream_check_pod(ctx->daemon->sbx, req->pod_sandbox_id, &id, err);
        if (r < 0)
                return r;
        if (!resp)
                return uvm_error_set(err, ENOMEM, "out of memory");
        runtime__v1__port_forward_response__init(resp);
        r = url_of(ctx,
                   &(struct token_request){.kind = TOKEN_PORT_FORWARD,
                                           .pod_id = id,
                                           .ports = req->port,
                                           .n_ports = req->n_port},
                   &resp->url, err);
        if (r < 0)
                return r;
        *ret = &resp->base;
        return 0;
}

const struct srv_binding cri_stream_bindings[] = {
        {"runtime.v1.RuntimeService", "Exec", SRV_UNARY, false, cri_exec, NULL},
        {"runtime.v1.RuntimeService", "Attach", SRV_UNARY, false, cri_attach, NULL},
        {"runtime.v1.RuntimeService", "PortForward", SRV_UNARY, false, cri_port_forward, NULL},
        {0},
};
