#pragma once

/* What the session engine (agent_pump.c: the thread and the byte moving) and
 * the session registry (agent_sess.c: building, lookups, requests) share.
 * Every field is guarded by pump.lock; fds and epoll registrations are
 * changed by the pump thread only once a session was added. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/agent-internal.h"

/* Host bytes waiting for the fd, or the host's close of the stream. */
struct chunk {
        struct chunk *next;
        size_t len, off;
        bool close;
        char data[];
};

/* Bytes toward the host on one stream. */
struct out_leg {
        uint64_t stream; /* 0: none (and with fd >= 0: read and dropped) */
        bool send;       /* before the ids are given: a stream is wanted */
        int fd;          /* non-blocking read end; -1 when tee-fed or after EOF */
        bool watched;    /* fd is in the epoll set */
        bool ready;      /* a read may find bytes (epoll sets it) */
        bool tee;        /* fed by agent_pump_tee from container stream src */
        uint64_t src;
        char *buf; /* tee'd bytes not sent yet, at most PUMP_ATTACH_PENDING */
        size_t len, cap;
        bool eof;    /* no more bytes will come */
        bool closed; /* DATA_CLOSE sent, or nothing to close */
};

/* Bytes from the host on one stream. */
struct in_leg {
        uint64_t stream; /* 0: none */
        int fd;          /* non-blocking write end; -1 once closed */
        bool watched, ready;
        struct chunk *head, *tail;
        bool done; /* the host's close was applied, or the fd went */
};

struct agent_sess {
        uint64_t id; /* ProcessId, AttachId or StreamId */
        enum agent_sess_kind kind;
        char *ctr_id;            /* "" for a port-forward */
        struct agent_conn *conn; /* its host; never used once abandoned */
        bool held;               /* its response is not out yet: silent */
        bool abandoned;          /* its host went: freed without a word */
        bool ending;             /* cut short (closed by the host, an error) */
        bool finished;           /* to be freed by the pump thread */
        long added_ms;
        struct out_leg out[2];
        struct in_leg in;
        int console_fd; /* a pty master (resize; an exec's end of input), or -1 */
        bool ctr_stdin; /* attach: stdin goes to the container's */
        bool stdin_once, ctr_exited;
        pid_t pid; /* exec */
        int pidfd;
        bool pid_watched, exit_seen, reaped, killed;
        int status;
        long exit_ms; /* exec: the exit was seen; attach: the container exited */
        int result;   /* 0 or -errno: why it ended */
        char *msg;
        struct agent_sess *next;
};

/* A container's stdin and console, for its attaches. */
struct ctr_stdio {
        char *id;
        int stdin_fd, console_fd;
        bool stdin_once;
        struct ctr_stdio *next;
};

struct pump_state {
        pthread_mutex_t lock;
        pthread_cond_t conn_cond; /* conn changed */
        struct agent_conn *conn;  /* the host sessions are added for */
        struct agent_sess *list;
        struct ctr_stdio *ctrs;
        unsigned count[_AGENT_SESS_KIND_MAX];
        uint64_t next_id;
        int epfd, wake_fd;
};

extern struct pump_state pump;

#define PUMP_ATTACH_PENDING (1u << 20) /* an attach further behind than this ends */

long pump_now_ms(void);
void pump_watch(int fd, bool *watched, bool *flag, uint32_t events, bool want);
void pump_close_fd(int *fd, bool *watched);
void pump_kill(struct agent_sess *s);
void pump_fail(struct agent_sess *s, int code, const char *msg);
/* Drop the queued host bytes (credited on conn, if any) and close the fd. */
void pump_in_drop(struct in_leg *in, struct agent_conn *conn);

/* agent_sess.c */
struct agent_sess *pump_find_in(uint64_t stream);
void pump_abandon(struct agent_sess *s);
void pump_sess_destroy(struct agent_sess *s);
/* Append tee'd bytes to o; -ENOBUFS beyond PUMP_ATTACH_PENDING. */
int pump_buf_append(struct out_leg *o, const void *data, size_t len);
/* StdinOnce: close the container's stdin, for every attach of it. */
void pump_ctr_stdin_close(const char *ctr_id);
