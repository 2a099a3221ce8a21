/* libFuzzer harness for the agent's side of the bridge: a request frame from
 * the host, decoded by agent/frame.c and dispatched as the agent does
 * (agent_main.c's on_request) into the decoders of each request's JSON
 * body: container create (id, OCI spec, layers), start, signal, delete,
 * exec (args, limits, terminal options), attach, port-forward, resize,
 * update, stats, guest settings and protocol negotiation.
 *
 * Input: byte 0 picks the request type (% the number of rpcs below), the
 * rest is the frame's JSON payload.
 *
 * The agent runs here with no container and nothing behind it: its state
 * dirs and OCI runtime are under /dev/null (every mkdir, mount and spawn
 * fails), it is not a VM guest, and the harness holds a network namespace
 * of its own where it can (root), so a port-forward reaches no port of the
 * node; without one, port-forward requests are not dispatched. Every handler
 * must answer with 0 or -errno and a message, and create can never succeed. */

#include <sched.h>

/* The agent's own main() is not the fuzzer's. */
#define main agent_main_unused
#include "agent/agent_main.c"
#undef main

#include "agent/frame.h"

static const uint32_t rpcs[] = {
        AGENT_RPC_CREATE,
        AGENT_RPC_START,
        AGENT_RPC_SHUTDOWN_GRACEFUL,
        AGENT_RPC_SHUTDOWN_FORCED,
        AGENT_RPC_EXECUTE_PROCESS,
        AGENT_RPC_WAIT_FOR_PROCESS,
        AGENT_RPC_SIGNAL_PROCESS,
        AGENT_RPC_RESIZE_CONSOLE,
        AGENT_RPC_GET_PROPERTIES,
        AGENT_RPC_MODIFY_SETTINGS,
        AGENT_RPC_NEGOTIATE_PROTOCOL,
        AGENT_RPC_DUMP_STACKS,
        AGENT_RPC_DELETE_CONTAINER_STATE,
        AGENT_RPC_UPDATE_CONTAINER,
};

static bool own_netns;

static void quiet(const char *record, size_t len, void *userdata)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        agent_cfg.state_dir = "/dev/null/uvmd-agent-fuzz";
        agent_cfg.runc_root = "/dev/null/uvmd-agent-fuzz/runc";
        agent_cfg.ctr_root = "/dev/null/uvmd-agent-fuzz/ctr";
        agent_cfg.runtime = "/dev/null/uvmd-agent-fuzz-runc";
        agent_cfg.userns_fd = -1;
        agent_cfg.guest = false;
        own_netns = unshare(CLONE_NEWNET) == 0;
        log_set_sink(quiet, NULL);
        return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

/* True for an ExecuteProcess port-forward, which connects to a port. */
static bool connects(uint32_t rpc, json_object *req)
{
        json_object *v;

        return rpc == AGENT_RPC_EXECUTE_PROCESS &&
               json_object_object_get_ex(req, "PortForward", &v) && json_object_get_boolean(v);
}

static void dispatch(uint32_t rpc, json_object *req)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL;
        int r;

        if (!own_netns && connects(rpc, req))
                return;
        r = on_request(NULL, rpc, req, &ret, NULL, &err);
        if ((r < 0) != (err != NULL) || (err && (!err->msg || err->code != -r)))
                abort();
        if (rpc == AGENT_RPC_CREATE && r >= 0)
                abort(); /* nothing can be made here: a create that passed lies */
        if (r >= 0 && ret && !json_object_is_type(ret, json_type_object))
                abort(); /* the answer goes back as a JSON frame */
        uvm_error_free(err);
        json_object_put(ret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_decoder *d;
        struct agent_frame *f = NULL;
        uint8_t head[AGENT_HEADER_SIZE] = {0};
        uint32_t rpc;

        if (size < 1 || size - 1 > AGENT_MAX_JSON)
                return 0;
        rpc = rpcs[data[0] % ARRAY_SIZE(rpcs)];
        put_le32(head, AGENT_CLASS_REQUEST | rpc);
        put_le32(head + 4, (uint32_t) (AGENT_HEADER_SIZE + size - 1));
        put_le32(head + 8, 7);
        d = agent_decoder_new();
        if (!d)
                return 0;
        /* As conn.c: frames the decoder refuses never reach a handler. */
        if (agent_decoder_feed(d, head, sizeof(head), NULL) == 0 &&
            agent_decoder_feed(d, data + 1, size - 1, NULL) == 0 &&
            agent_decoder_pop(d, &f, NULL) == 1) {
                dispatch(f->type & AGENT_RPC_MASK, f->json);
                agent_frame_free(f);
        }
        agent_decoder_free(d);
        return 0;
}
