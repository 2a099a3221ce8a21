/*
 * Server reflection (grpc.reflection.v1 and v1alpha, wire-identical): one
 * response per request, in lockstep, until the client closes its side.
 * Requests arriving on v1alpha are re-read as v1 messages.
 */

#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.pb-c.h"

#include "common/log.h"
#include "service/daemon.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_req;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_resp;

/* Same bytes, v1 types. Freed with the caller's cleanup. */
static refl_req *as_v1(const ProtobufCMessage *m)
{
        size_t len = protobuf_c_message_get_packed_size(m);
        _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);

        if (!buf)
                return NULL;
        protobuf_c_message_pack(m, buf);
        return grpc__reflection__v1__server_reflection_request__unpack(NULL, len, buf);
}

static void set_error(struct srv_ctx *ctx, refl_resp *r, int code, const char *msg)
{
        Grpc__Reflection__V1__ErrorResponse *e = srv_new(ctx, Grpc__Reflection__V1__ErrorResponse);

        if (!e)
                return;
        grpc__reflection__v1__error_response__init(e);
        e->error_code = code;
        e->error_message = srv_strdup(ctx, msg);
        r->message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        r->error_response = e;
}

static void set_files(struct srv_ctx *ctx, refl_resp *r, long file)
{
        const struct descdb *db = ctx->daemon->descdb;
        Grpc__Reflection__V1__FileDescriptorResponse *fr;
        size_t *order = srv_new_array(ctx, size_t, descdb_n_files(db));
        size_t n;

        fr = srv_new(ctx, Grpc__Reflection__V1__FileDescriptorResponse);
        if (!order || !fr)
                return;
        grpc__reflection__v1__file_descriptor_response__init(fr);
        n = descdb_closure(db, (size_t) file, order);
        fr->file_descriptor_proto = srv_new_array(ctx, ProtobufCBinaryData, n);
        if (!fr->file_descriptor_proto)
                return;
        for (size_t i = 0; i < n; i++) {
                const struct descdb_file *f = descdb_file(db, order[i]);
                fr->file_descriptor_proto[i].data = f->bytes;
                fr->file_descriptor_proto[i].len = f->len;
        }
        fr->n_file_descriptor_proto = n;
        r->message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
        r->file_descriptor_response = fr;
}

static void set_services(struct srv_ctx *ctx, refl_resp *r)
{
        const struct descdb *db = ctx->daemon->descdb;
        size_t n = descdb_n_services(db);
        Grpc__Reflection__V1__ListServiceResponse *l =
                srv_new(ctx, Grpc__Reflection__V1__ListServiceResponse);

        if (!l)
                return;
        grpc__reflection__v1__list_service_response__init(l);
        l->service = srv_new_array(ctx, Grpc__Reflection__V1__ServiceResponse *, n);
        for (size_t i = 0; l->service && i < n; i++) {
                Grpc__Reflection__V1__ServiceResponse *s =
                        srv_new(ctx, Grpc__Reflection__V1__ServiceResponse);
                if (!s)
                        return;
                grpc__reflection__v1__service_response__init(s);
                s->name = (char *) descdb_service(db, i);
                l->service[l->n_service++] = s;
        }
        r->message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        r->list_services_response = l;
}

static void answer(struct srv_ctx *ctx, const refl_req *q, refl_resp *r)
{
        const struct descdb *db = ctx->daemon->descdb;
        long f;

        switch (q->message_request_case) {
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
                set_services(ctx, r);
                break;
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
                f = descdb_find_file(db, q->file_by_filename);
                if (f < 0)
                        set_error(ctx, r, 5, "file not found");
                else
                        set_files(ctx, r, f);
                break;
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
                f = descdb_find_symbol(db, q->file_containing_symbol);
                if (f < 0)
                        set_error(ctx, r, 5, "symbol not found");
                else
                        set_files(ctx, r, f);
                break;
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
                set_error(ctx, r, 5, "no extensions are defined");
                break;
        default:
                set_error(ctx, r, 3, "unknown reflection request");
                break;
        }
}

static int reflection_info(struct srv_ctx *ctx, const ProtobufCMessage *first,
                           struct uvm_error **err)
{
        const ProtobufCMessage *m = first;

        while (m) {
                refl_req *q = as_v1(m);
                refl_resp *r = srv_new(ctx, refl_resp);
                int rc;

                if (!q || !r) {
                        if (q)
                                grpc__reflection__v1__server_reflection_request__free_unpacked(
                                        q, NULL);
                        return uvm_error_set(err, ENOMEM, "out of memory");
                }
                grpc__reflection__v1__server_reflection_response__init(r);
                r->valid_host = q->host;
                r->original_request = q;
                answer(ctx, q, r);
                rc = srv_stream_send(ctx, &r->base);
                grpc__reflection__v1__server_reflection_request__free_unpacked(q, NULL);
                if (rc < 0)
                        return uvm_error_set(err, -rc, "reflection stream: peer gone");
                rc = srv_stream_recv(ctx, (ProtobufCMessage **) &m);
                if (rc < 0)
                        return uvm_error_set(err, rc == -EBADMSG ? EINVAL : -rc,
                                             "reflection stream: %s",
                                             rc == -EBADMSG ? "malformed request" : "peer gone");
        }
        return 0;
}

const struct srv_binding reflection_bindings[] = {
        {"grpc.reflection.v1.ServerReflection", "ServerReflectionInfo", SRV_BIDI_STREAM, false,
         NULL, reflection_info},
        {"grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo", SRV_BIDI_STREAM, false,
         NULL, reflection_info},
        {0},
};
