/* grpc.health.v1.Health: Check and Watch. */

#include <string.h>

#include "grpc/health/v1/health.pb-c.h"

#include "service/daemon.h"

/* A watch ends when the server drains or the peer goes: UNAVAILABLE.
 * mingw's errno.h has no ESHUTDOWN; EAGAIN maps to the same status. */
#ifdef ESHUTDOWN
#define WATCH_ENDED ESHUTDOWN
#else
#define WATCH_ENDED EAGAIN
#endif

static bool known_service(struct uvmd *d, const char *name)
{
        if (STR_EMPTY(name))
                return true;
        for (size_t i = 0; i < descdb_n_services(d->descdb); i++)
                if (STR_EQ(descdb_service(d->descdb, i), name))
                        return true;
        return false;
}

static Grpc__Health__V1__HealthCheckResponse *make_resp(struct srv_ctx *ctx, int status)
{
        Grpc__Health__V1__HealthCheckResponse *r =
                srv_new(ctx, Grpc__Health__V1__HealthCheckResponse);

        if (r) {
                grpc__health__v1__health_check_response__init(r);
                r->status = status;
        }
        return r;
}

static int current_status(struct uvmd *d)
{
        bool serving;

        pthread_mutex_lock(&d->lock);
        serving = d->serving;
        pthread_mutex_unlock(&d->lock);
        return serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                       : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int health_check(struct srv_ctx *ctx, const ProtobufCMessage *m, ProtobufCMessage **ret,
                        struct uvm_error **err)
{
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *) m;

        if (!known_service(ctx->daemon, req->service))
                return uvm_error_set(err, ENOENT, "unknown service '%s'", req->service);
        *ret = (ProtobufCMessage *) make_resp(ctx, current_status(ctx->daemon));
        return 0;
}

static void wake_health(void *data)
{
        struct uvmd *d = data;

        pthread_mutex_lock(&d->lock);
        pthread_cond_broadcast(&d->health_cond);
        pthread_mutex_unlock(&d->lock);
}

static int health_watch(struct srv_ctx *ctx, const ProtobufCMessage *m, struct uvm_error **err)
{
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *) m;
        struct uvmd *d = ctx->daemon;
        uint64_t seen = UINT64_MAX;

        srv_ctx_on_done(ctx, wake_health, d);
        for (;;) {
                int status;
                uint64_t gen;

                pthread_mutex_lock(&d->lock);
                while (d->health_gen == seen && !srv_ctx_done(ctx))
                        pthread_cond_wait(&d->health_cond, &d->lock);
                gen = d->health_gen;
                pthread_mutex_unlock(&d->lock);
                if (gen == seen) /* woken because the call is over */
                        break;
                seen = gen;
                status =
                        known_service(d, req->service)
                                ? current_status(d)
                                : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
                if (srv_stream_send(ctx, (ProtobufCMessage *) make_resp(ctx, status)) < 0)
                        break;
        }
        srv_ctx_on_done(ctx, NULL, NULL);
        return uvm_error_set(err, WATCH_ENDED, "health watch ended: server stopping or peer gone");
}

void uvmd_set_serving(struct uvmd *d, bool serving)
{
        pthread_mutex_lock(&d->lock);
        if (d->serving != serving) {
                d->serving = serving;
                d->health_gen++;
                pthread_cond_broadcast(&d->health_cond);
        }
        pthread_mutex_unlock(&d->lock);
}

const struct srv_binding health_bindings[] = {
        {"grpc.health.v1.Health", "Check", SRV_UNARY, true, health_check, NULL},
        {"grpc.health.v1.Health", "Watch", SRV_SERVER_STREAM, false, NULL, health_watch},
        {0},
};
