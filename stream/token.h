#pragma once

/*
 * Single-use tokens for streaming URLs. The CRI Exec/Attach/PortForward call
 * issues a token for what it was asked and answers with a URL carrying it;
 * the streaming server redeems the token when the client connects, once.
 *
 *   token_table_new(max_outstanding, ttl_ms, clock_ms)
 *       clock_ms returns a monotonic time in milliseconds; NULL means
 *       CLOCK_MONOTONIC (tests inject a fake one to expire tokens without
 *       sleeping).
 *   token_issue(t, req, token, err)
 *       stores a deep copy of req and writes the token: 32 bytes from
 *       getrandom(2), base64url without padding (TOKEN_LEN characters). When
 *       max_outstanding tokens are outstanding, expired ones are dropped first;
 *       if none has expired, -EBUSY (the caller answers RESOURCE_EXHAUSTED).
 *   token_redeem(t, token, &req, err)
 *       removes the token and hands over its request. Unknown, already used
 *       or expired (issued ttl_ms or more ago): -ENOENT. The presented token is
 *       compared with every outstanding one in constant time, so response
 *       times say nothing about how much of a guess was right.
 *   token_outstanding(t)   tokens held, expired ones not yet dropped included
 *
 * All calls are thread-safe (one mutex per table; no call blocks inside it).
 *
 *   token_request_copy(src, &dst, err) / token_request_free(r)
 *       deep copy and free of a request (free accepts NULL, returns NULL).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define TOKEN_BYTES 32
#define TOKEN_LEN 43 /* base64url of TOKEN_BYTES, unpadded */

enum token_kind {
        TOKEN_EXEC,
        TOKEN_ATTACH,
        TOKEN_PORT_FORWARD,
};

struct token_request {
        enum token_kind kind;
        char *pod_id;       /* PORT_FORWARD: the pod sandbox */
        char *container_id; /* EXEC, ATTACH */
        char **argv;        /* EXEC: the command, NULL-terminated; else NULL */
        bool tty;
        bool want_stdin, want_stdout, want_stderr;
        int32_t *ports; /* PORT_FORWARD: as the CRI request gave them */
        size_t n_ports;
};

struct token_request *token_request_free(struct token_request *r);
static inline void token_request_freep(struct token_request **r)
{
        token_request_free(*r);
}
int token_request_copy(const struct token_request *src, struct token_request **ret,
                       struct uvm_error **err);

struct token_table;

struct token_table *token_table_new(size_t max_outstanding, uint64_t ttl_ms,
                                    uint64_t (*clock_ms)(void));
struct token_table *token_table_free(struct token_table *t);
static inline void token_table_freep(struct token_table **t)
{
        token_table_free(*t);
}

int token_issue(struct token_table *t, const struct token_request *req,
                char ret_token[TOKEN_LEN + 1], struct uvm_error **err);
int token_redeem(struct token_table *t, const char *token, struct token_request **ret_req,
                 struct uvm_error **err);
size_t token_outstanding(struct token_table *t);
