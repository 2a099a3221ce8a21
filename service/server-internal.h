#pragma once

/* Shared between server.c, call.c and stream.c; not for handlers. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "service/arena.h"
#include "service/dispatch.h"
#include "service/server.h"

enum op_type {
        OP_REQUEST, /* a new call arrived (grpc_server_request_call) */
        OP_RECV,    /* the first request message */
        OP_CLOSE,   /* RECV_CLOSE_ON_SERVER: the call is over or cancelled */
        OP_SYNC,    /* a stream handler's send or recv, waited for by it */
        OP_FINAL,   /* status (and last message) sent */
        OP_SHUTDOWN,
};

struct srv_op {
        enum op_type type;
        struct srv_call *call;
};

/* A method registered with the core so that its request message arrives
 * with the call (one batch fewer per unary call). */
struct srv_method {
        void *handle;
        const struct dispatch_entry *entry;
        unsigned slots; /* calls kept armed for it */
};

struct srv_call {
        struct srv *srv;
        grpc_call *call;
        const struct srv_method *registered; /* NULL: a generic call */
        gpr_timespec deadline;               /* registered calls only */
        bool close_watched; /* RECV_CLOSE started on its own; else it rides on the final batch */
        grpc_call_details details;
        grpc_metadata_array md;
        const struct dispatch_entry *entry;
        uint64_t arrived_ns; /* monotonic, for the duration metric */
        atomic_int refs;

        struct srv_op op_request, op_recv, op_close, op_sync, op_final;
        grpc_byte_buffer *recv_bb; /* OP_RECV / OP_SYNC receive target */
        grpc_byte_buffer *send_bb; /* OP_SYNC / OP_FINAL message */
        grpc_slice status_details; /* kept until OP_FINAL completes */
        int close_cancelled;       /* written by the core on OP_CLOSE */
        bool initial_md_sent;      /* only touched by the call's owner */

        /* guarded by lock */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool sync_done, sync_ok;
        bool done;     /* cancelled or closed: nothing more can be sent */
        bool draining; /* server stopping: the handler should finish, but may still send */
        void (*on_done)(void *);
        void *on_done_data;

        /* srv_reply_packed's answer; released with the call unless sent */
        const void *packed;
        size_t packed_len;
        void (*packed_release)(void *); /* NULL: none */
        void *packed_arg;

        ProtobufCMessage *req;
        ProtobufCMessage *extra[8]; /* further stream requests, freed with the call */
        size_t n_extra;
        struct arena arena;
        struct srv_ctx ctx;

        struct srv_call *next_q;                /* worker queue link (srv->lock) */
        struct srv_call *prev_live, *next_live; /* live list (srv->lock) */
};

struct srv_queue {
        grpc_completion_queue *cq;
        pthread_t thread;
        int64_t spin_ns; /* polled this long after an event before sleeping */
};

struct srv {
        struct srv_options opts;
        char *address;
        char *socket_path; /* Linux: filesystem socket to remove at stop, or NULL */
        int bind_dir_fd;   /* Linux: the (removed) dir it was bound in; 0: none */
        const struct dispatch_table *table;
        grpc_server *server;
        grpc_completion_queue *cq; /* its own, or shared's */
        struct srv_queue *shared;  /* NULL: cq and io_threads are its own */
        struct srv_op op_shutdown;

        struct srv_method *methods; /* registered unary methods */
        size_t n_methods;

        pthread_t *io_threads;
        pthread_t *workers;

        pthread_mutex_t lock;  /* guards everything below */
        pthread_cond_t cond;   /* live calls or streams dropped (waited on while draining) */
        pthread_cond_t q_cond; /* work queued, or workers told to stop */
        struct srv_call *q_head, *q_tail;
        unsigned q_len;
        unsigned live;
        unsigned streams;
        struct srv_call *live_list;
        bool draining, stopping_workers, shutdown_done;
        void (*on_drain)(void *);
        void *on_drain_data;
};

/* call.c */
struct srv_call *call_new(struct srv *s, const struct srv_method *m);
void call_ref(struct srv_call *c);
void call_unref(struct srv_call *c);
void call_arrived(struct srv_call *c);
void call_recv_done(struct srv_call *c, bool ok);
void call_close_done(struct srv_call *c);
void call_sync_done(struct srv_call *c, bool ok);
void call_run_unary(struct srv_call *c);
void call_finish(struct srv_call *c, grpc_status_code code, const char *msg,
                 grpc_byte_buffer *last_msg);
void call_finish_errno(struct srv_call *c, int r, struct uvm_error *err);
void call_mark_done(struct srv_call *c);
void call_mark_draining(struct srv_call *c);
int call_pack(const ProtobufCMessage *msg, size_t max, grpc_byte_buffer **ret_bb);
ProtobufCMessage *call_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb);

/* server.c */
/* Listens on address (gRPC's syntax) without TLS: the port, 0 on failure. */
int srv_listen(struct srv *s, const char *address);
bool srv_submit(struct srv *s, struct srv_call *c); /* false: queue full */
bool srv_stream_admit(struct srv *s);               /* false: too many */
void srv_stream_release(struct srv *s);

/* The listening address, one file per platform: server_unix.c (unix
 * sockets) on Linux, server_win.c (TCP on loopback) on Windows. */
int srv_bind(struct srv *s, struct uvm_error **err); /* before the server starts */
void srv_unbind(struct srv *s);       /* at the start of a drain: new clients fail fast */
void srv_bind_release(struct srv *s); /* when the server is freed */
