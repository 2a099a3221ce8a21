#pragma once

/* The fixture of the streaming-session tests (agent_stream_test.c,
 * agent_attach_test.c): a busybox rootfs, a uvmd-agent running containers
 * with runc, a host client (agent/client.h) recording the containers' output
 * and exits, and recorders of sessions. Needs root, runc and busybox: the
 * tests skip otherwise (fx.skip). */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/client.h"

#define WAIT_MS 15000
#define MAX_LOGS 32

/* Bytes received, NUL-terminated; grown by doubling (megabytes come). */
struct buf {
        char *data;
        size_t len, cap;
};

struct log {
        char id[32];
        int which;
        struct buf b;
};

/* Shared by a test binary's tests, in order. */
struct fixture {
        char dir[32], sock[64], state[64], rootfs[64];
        pid_t agent;
        struct agent_client *client;
        bool skip;

        pthread_mutex_t mu; /* guards the fields below and every rec */
        pthread_cond_t cond;
        struct log logs[MAX_LOGS];
        size_t n_logs;
        char exit_ids[16][32];
        int exit_codes[16];
        size_t n_exits;
};

extern struct fixture fx;

/* A session's output, end and exit, as its callbacks saw them (fx.mu). */
struct rec {
        struct agent_stream *s; /* once started */
        bool hold;              /* do not consume (flow control) */
        struct buf out[2];
        size_t unconsumed[2];
        bool ended[2], done;
        int code;
        char reason[256];
};

void buf_append(struct buf *b, const void *data, size_t n);
long now_ms(void);

/* The container's log (stream 1 or 2) holds want; false after WAIT_MS. */
bool wait_log(const char *id, int which, const char *want);
size_t log_len(const char *id, int which);
char *log_copy(const char *id, int which);
/* The exit code notified for id, or -1 after WAIT_MS. */
int wait_exit(const char *id);

struct agent_stream_ops rec_ops(struct rec *r);
/* Started: its output is consumed as it comes, unless hold. */
void rec_started(struct rec *r, struct agent_stream *s, bool hold);
/* Consume from now on, and what came while held. */
void rec_release(struct rec *r);
void rec_clear(struct rec *r);
bool wait_rec_output(struct rec *r, int stream, const char *want);
/* The session's done code; -100000 after WAIT_MS. */
int wait_rec_done(struct rec *r);

/* Create and start a container running sh -c script (no double quotes). */
void ctr_run_full(const char *id, const char *script, bool tty, bool in, bool once);
void ctr_run(const char *id, const char *script);
void ctr_delete(const char *id);
void client_connect(void);
/* Setup: the agent, its client, and container c1 (sleep 1000, no stdin). */
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* Exec in id; a terminal starts 10x20. */
struct agent_stream *exec_start(const char *id, char *const *argv, bool tty, bool in, bool out,
                                bool errs, struct rec *r, bool hold);
void write_all(struct agent_stream *s, const char *text);
/* Host processes whose command line is argv0 arg. */
int count_procs(const char *argv0, const char *arg);
bool wait_procs(const char *argv0, const char *arg, int want);
long agent_rss_kb(void);
