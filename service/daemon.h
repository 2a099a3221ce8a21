#pragma once

/* The daemon's state, shared by the handlers. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "service/config.h"
#include "service/descdb.h"
#include "service/dispatch.h"
#include "service/handlers.h"
#include "service/server.h"
#include "stream/stream.h"

struct cagent;
struct img_store;
struct list_cache;
struct sbx;
struct srv_queue;

#define UVMD_NAME "uvmd"
#define UVMD_VERSION "0.1.0"
#define CRI_API_VERSION "v1"

struct uvmd {
        struct uvmd_config cfg;       /* read-only after start-up */
        struct dispatch_table *table; /* read-only after start-up */
        struct descdb *descdb;        /* read-only after start-up */
        struct handlers handlers;     /* read-only after start-up */
        struct srv *srv;
        struct srv_queue *queue;              /* with io_threads 1: the CRI server's and every
                                               * ComputeAgent endpoint's one queue thread */
        struct net *net;                      /* pod networking (network/net.h) */
        struct img_store *images;             /* image store (image/image.h) */
        struct sbx *sbx;                      /* pods and containers (sandbox/sandbox.h) */
        struct cagent *cagent;                /* per-pod ComputeAgent endpoints (compute_agent.h) */
        struct stream_backend stream_backend; /* the sandbox's, for the streaming server */
        struct stream_server *stream;         /* Exec/Attach/PortForward URLs (stream/) */
        struct list_cache *lists;             /* unfiltered List answers (list_cache.h) */

        pthread_mutex_t lock;       /* guards the fields below */
        pthread_cond_t health_cond; /* serving or pod_cidr changed */
        bool serving;
        uint64_t health_gen; /* bumped on every health change */
        char *pod_cidr;      /* from UpdateRuntimeConfig */
};

/* Every binding table the server serves. */
extern const struct srv_binding health_bindings[];
extern const struct srv_binding reflection_bindings[];
extern const struct srv_binding cri_runtime_bindings[];
extern const struct srv_binding cri_image_bindings[];
extern const struct srv_binding cri_pod_bindings[];
extern const struct srv_binding cri_container_bindings[];
extern const struct srv_binding cri_events_bindings[];
extern const struct srv_binding cri_stream_bindings[];

void uvmd_set_serving(struct uvmd *d, bool serving);

/* Life cycle: init prepares state and the method table, start serves,
 * stop drains and frees. */
int uvmd_init(struct uvmd *d, struct uvm_error **err);
int uvmd_start(struct uvmd *d, struct uvm_error **err);
void uvmd_stop(struct uvmd *d);
void uvmd_fini(struct uvmd *d);
