/* The scripted agent of fake_agent.h. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/macros.h"
#include "tests/unit/agent/fake_agent.h"

#define N_RPC 16 /* AGENT_RPC(n) for n below this */

struct fake_agent {
        struct agent_conn *conn;
        pthread_mutex_t lock;
        pthread_cond_t cond;       /* released */
        const char *answer[N_RPC]; /* lock */
        json_object *last[N_RPC];  /* lock */
        int calls[N_RPC];          /* lock */
        bool released;             /* lock */
};

static int rpc_index(uint32_t rpc)
{
        return (int) ((rpc >> 8) & 0xfff) % N_RPC;
}

static const char *default_answer(uint32_t rpc)
{
        if (rpc == AGENT_RPC_NEGOTIATE_PROTOCOL)
                return "{\"Version\":1,\"Capabilities\":{\"Streaming\":true}}";
        if (rpc == AGENT_RPC_GET_PROPERTIES)
                return "{\"Containers\":[]}";
        return "{}";
}

/* Note the request and pick the answer. */
static const char *arrive(struct fake_agent *f, uint32_t rpc, json_object *req)
{
        int i = rpc_index(rpc);
        const char *text;

        pthread_mutex_lock(&f->lock);
        f->calls[i]++;
        json_object_put(f->last[i]);
        f->last[i] = json_object_get(req);
        text = f->answer[i] ? f->answer[i] : default_answer(rpc);
        pthread_mutex_unlock(&f->lock);
        return text;
}

static int fake_request(struct agent_conn *conn, uint32_t rpc, json_object *req, json_object **ret,
                        void *userdata, struct uvm_error **err)
{
        struct fake_agent *f = userdata;
        const char *text = arrive(f, rpc, req);

        if (STR_EQ(text, FAKE_FAIL))
                return uvm_error_set(err, ETIMEDOUT, "handler gave up");
        if (STR_EQ(text, FAKE_CLOSE)) {
                agent_conn_close(conn);
                return uvm_error_set(err, ECONNRESET, "closed on purpose");
        }
        if (STR_EQ(text, FAKE_HANG)) {
                pthread_mutex_lock(&f->lock);
                while (!f->released)
                        pthread_cond_wait(&f->cond, &f->lock);
                pthread_mutex_unlock(&f->lock);
                text = "{}";
        }
        *ret = json_tokener_parse(text);
        assert_non_null(*ret);
        return 0;
}

struct fake_agent *fake_agent_start(int fd)
{
        static const struct agent_conn_ops ops = {.request = fake_request};
        struct fake_agent *f = calloc(1, sizeof(*f));
        struct uvm_error *err = NULL;

        assert_non_null(f);
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->cond, NULL);
        if (agent_conn_new(fd, &ops, f, &f->conn, &err) < 0)
                fail_msg("fake agent: %s", err->msg);
        return f;
}

void fake_agent_release(struct fake_agent *f)
{
        pthread_mutex_lock(&f->lock);
        f->released = true;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
}

void fake_agent_stop(struct fake_agent *f)
{
        if (!f)
                return;
        fake_agent_release(f);
        agent_conn_free(f->conn); /* waits for the handlers */
        for (int i = 0; i < N_RPC; i++)
                json_object_put(f->last[i]);
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

void fake_agent_set(struct fake_agent *f, uint32_t rpc, const char *text)
{
        pthread_mutex_lock(&f->lock);
        f->answer[rpc_index(rpc)] = text;
        pthread_mutex_unlock(&f->lock);
}

int fake_agent_calls(struct fake_agent *f, uint32_t rpc)
{
        int n;

        pthread_mutex_lock(&f->lock);
        n = f->calls[rpc_index(rpc)];
        pthread_mutex_unlock(&f->lock);
        return n;
}

json_object *fake_agent_last(struct fake_agent *f, uint32_t rpc)
{
        json_object *o;

        pthread_mutex_lock(&f->lock);
        o = json_object_get(f->last[rpc_index(rpc)]);
        pthread_mutex_unlock(&f->lock);
        return o;
}

struct agent_conn *fake_agent_conn(struct fake_agent *f)
{
        return f->conn;
}
