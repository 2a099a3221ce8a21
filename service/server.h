#pragma once

/*
 * The gRPC server core on the C-core completion-queue API.
 *
 * One queue; io_threads poll it. Methods marked inline run right there
 * (memory-only handlers: Version, health); a method with a fast path (the
 * unfiltered List answered from its cache) tries it right there and goes to
 * the workers when it declines; other unary handlers go to a bounded pool
 * of workers, so a slow handler never stalls other calls; streaming
 * handlers get a thread each (bounded). Shutdown drains in-flight
 * calls for a grace period, then cancels the rest, and only shuts the queue
 * down once no call is alive.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "service/dispatch.h"

struct srv;
struct srv_queue;

/* A completion queue and its one thread, shared by many small servers (a
 * pod's ComputeAgent endpoint each): in gRPC's poller every thread waiting
 * on a queue takes turns polling all of the process's sockets, so one
 * queue thread per endpoint made the CRI server's calls hop threads. The
 * servers using it must be stopped before it is freed. */
/* spin_us: after each event the thread keeps polling (yielding the CPU)
 * this long before it sleeps; 0: it sleeps at once. */
int srv_queue_new(unsigned spin_us, struct srv_queue **ret, struct uvm_error **err);
void srv_queue_free(struct srv_queue *q);

struct srv_options {
        /* Linux: "unix:/path" or "unix-abstract:name"; Windows: "127.0.0.1:PORT" */
        const char *address;
        unsigned io_threads;      /* queue pollers (1 is best on 2 cores) */
        struct srv_queue *queue;  /* shared queue (io_threads unused), or NULL: its own */
        unsigned workers;         /* unary worker pool size */
        unsigned queue_limit;     /* waiting unary calls before UNAVAILABLE */
        unsigned max_streams;     /* concurrent streaming calls */
        size_t max_message_bytes; /* request and response bound */
        struct uvmd *daemon;      /* handed to handlers in srv_ctx */
        void *data;               /* handed to handlers in srv_ctx (per-instance state) */
        unsigned socket_mode;     /* a unix socket's mode; 0 means 0660 */
        /* Appended to the UNIMPLEMENTED message of a served service's method
         * that has no handler ("method M is not implemented by uvmd: ..."):
         * why, in a build that leaves some out. NULL: nothing. */
        const char *unimplemented_why;
};

/* Binds the address (a unix socket gets socket_mode; a busy or stale socket
 * and a missing directory are clear errors) and starts serving. The server
 * borrows table. */
int srv_start(const struct srv_options *opts, const struct dispatch_table *table,
              struct srv **ret_srv, struct uvm_error **err);

/* Calls fn(data) when draining starts (before in-flight calls are waited
 * for), e.g. to flip health to NOT_SERVING. */
void srv_on_drain(struct srv *s, void (*fn)(void *), void *data);

/* Graceful stop: stop accepting, let in-flight calls finish for grace_ms,
 * cancel the rest, wait for them, remove the socket, free everything. */
void srv_stop(struct srv *s, unsigned grace_ms);

/* Counts for tests and status. */
unsigned srv_live_calls(struct srv *s);
