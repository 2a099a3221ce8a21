#pragma once

/* A scripted agent for host-side tests, portable (Linux and Wine): an
 * agent_conn on the agent's end of a connected socket (a loopback TCP pair
 * from sock_loopback_pair()) that answers each rpc with the JSON text a
 * test set, or misbehaves on purpose. */

#include <stdint.h>

#include <json-c/json.h>

#include "agent/conn.h"

/* Special answers for fake_agent_set(). */
#define FAKE_FAIL "fail"   /* -ETIMEDOUT "handler gave up" (numbered apart on Windows) */
#define FAKE_HANG "hang"   /* block until fake_agent_release() or stop */
#define FAKE_CLOSE "close" /* drop the connection while the call waits */

struct fake_agent;

/* Serve fd (ownership passes). Negotiate and GetProperties have working
 * defaults; every other rpc answers {} until set. */
struct fake_agent *fake_agent_start(int fd);
/* Release hanging handlers, close, free. NULL is fine. */
void fake_agent_stop(struct fake_agent *f);
/* The answer to rpc (AGENT_RPC_*): a JSON object text or one of FAKE_*.
 * text is borrowed: keep it alive. */
void fake_agent_set(struct fake_agent *f, uint32_t rpc, const char *text);
/* Requests of rpc served so far (a hanging one counts once it arrived). */
int fake_agent_calls(struct fake_agent *f, uint32_t rpc);
/* The last request of rpc (a new reference; NULL if none). */
json_object *fake_agent_last(struct fake_agent *f, uint32_t rpc);
/* Wake the FAKE_HANG handlers (they answer {}). */
void fake_agent_release(struct fake_agent *f);
struct agent_conn *fake_agent_conn(struct fake_agent *f);
