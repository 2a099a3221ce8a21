/* Exec, resource updates, usage and guest settings through the agent
 * (agent/client.h). */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/client-internal.h"
#include "agent/frame.h"
#include "common/macros.h"
#include "common/platform.h"

static json_object *strv_to_json(char *const *v, size_t *ret_n)
{
        json_object *a = json_object_new_array();
        size_t n = 0;

        for (; a && v && v[n]; n++)
                if (json_object_array_add(a, json_object_new_string(v[n])) < 0)
                        return json_object_put(a), NULL;
        *ret_n = n;
        return a;
}

static int exec_timeout(int64_t timeout_ms)
{
        if (timeout_ms <= 0 || timeout_ms > INT_MAX - EXEC_GRACE_MS)
                return -1; /* the agent enforces none: neither do we */
        return (int) timeout_ms + EXEC_GRACE_MS;
}

static int exec_parse(json_object *resp, size_t max, struct drv_exec_result *ret,
                      struct uvm_error **err)
{
        const char *what = "ExecuteProcess response";
        struct drv_exec_result res = {0};
        int64_t code;
        int r;

        r = cfield_int(resp, what, "ExitCode", -1, MAX_EXIT_CODE, true, 0, &code, err);
        if (r >= 0)
                r = cfield_bool(resp, what, "TimedOut", &res.timed_out, err);
        if (r >= 0)
                r = cfield_b64(resp, what, "Stdout", max, &res.out, &res.out_len, err);
        if (r >= 0)
                r = cfield_b64(resp, what, "Stderr", max, &res.errout, &res.err_len, err);
        if (r >= 0) /* absent from an older agent: not known to be cut */
                r = cfield_bool(resp, what, "StdoutCut", &res.out_cut, err);
        if (r >= 0)
                r = cfield_bool(resp, what, "StderrCut", &res.err_cut, err);
        if (r < 0) {
                free(res.out);
                free(res.errout);
                return r;
        }
        res.exit_code = (int) code;
        *ret = res;
        return 0;
}

int agent_client_exec_sync(struct agent_client *c, const char *ctr_id,
                           const struct drv_exec_spec *spec, struct drv_exec_result *ret,
                           struct uvm_error **err)
{
        _cleanup_json_ json_object *req = NULL, *resp = NULL;
        size_t max = spec->max_output, argc = 0;
        json_object *args;
        int r;

        r = client_check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        if (!spec->argv || !spec->argv[0])
                return uvm_error_set(err, EINVAL, "exec in %s: no command given", ctr_id);
        if (max == 0 || max > AGENT_EXEC_MAX_OUTPUT)
                max = AGENT_EXEC_MAX_OUTPUT;
        req = client_req_new(c, ctr_id);
        if (!req)
                return uvm_error_set(err, ENOMEM, "out of memory");
        args = strv_to_json(spec->argv, &argc);
        if (client_req_add(req, "Args", args, err) < 0)
                return -ENOMEM;
        if (argc > MAX_EXEC_ARGS)
                return uvm_error_set(err, E2BIG, "exec in %s: more than %d arguments", ctr_id,
                                     MAX_EXEC_ARGS);
        if (client_req_add(req, "TimeoutMs",
                           json_object_new_int64(spec->timeout_ms > 0 ? spec->timeout_ms : 0),
                           err) < 0 ||
            client_req_add(req, "MaxOutput", json_object_new_int64((int64_t) max), err) < 0)
                return -ENOMEM;
        r = client_call(c, AGENT_RPC_EXECUTE_PROCESS, TAKE_PTR(req), exec_timeout(spec->timeout_ms),
                        &resp, err);
        if (r >= 0)
                r = exec_parse(resp, max, ret, err);
        return r < 0 ? uvm_error_wrap(err, "exec in container %s", ctr_id) : 0;
}

int agent_client_update(struct agent_client *c, const char *ctr_id, const char *resources_json,
                        struct uvm_error **err)
{
        _cleanup_json_ json_object *req = NULL;
        json_object *res;
        int r;

        r = client_check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        res = resources_json ? json_tokener_parse(resources_json) : NULL;
        if (!json_object_is_type(res, json_type_object)) {
                json_object_put(res);
                return uvm_error_set(err, EINVAL, "update %s: resources are not a JSON object",
                                     ctr_id);
        }
        req = client_req_new(c, ctr_id);
        if (!req) {
                json_object_put(res);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (client_req_add(req, "Resources", res, err) < 0)
                return -ENOMEM;
        r = client_call_simple(c, AGENT_RPC_UPDATE_CONTAINER, TAKE_PTR(req), err);
        return r < 0 ? uvm_error_wrap(err, "update container %s", ctr_id) : 0;
}

int agent_client_stats(struct agent_client *c, const char *ctr_id, struct drv_ctr_stats *ret,
                       struct uvm_error **err)
{
        const char *what = "ModifySettings (stats) response";
        _cleanup_json_ json_object *req = NULL, *resp = NULL;
        struct drv_ctr_stats s = {0};
        int r;

        r = client_check_ctr_id(ctr_id, false, err);
        if (r < 0)
                return r;
        req = client_req_new(c, ctr_id);
        if (!req || client_req_add(req, "Stats", json_object_new_boolean(true), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = client_call(c, AGENT_RPC_MODIFY_SETTINGS, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r >= 0)
                r = cfield_u64(resp, what, "CpuUsageNs", &s.cpu_usage_ns, err);
        if (r >= 0)
                r = cfield_u64(resp, what, "MemoryUsageBytes", &s.memory_usage_bytes, err);
        if (r >= 0)
                r = cfield_u64(resp, what, "MemoryWorkingSetBytes", &s.memory_working_set_bytes,
                               err);
        if (r >= 0)
                r = cfield_u64(resp, what, "MemoryRssBytes", &s.memory_rss_bytes, err);
        if (r >= 0)
                r = cfield_u64(resp, what, "PageFaults", &s.page_faults, err);
        if (r >= 0)
                r = cfield_u64(resp, what, "MajorPageFaults", &s.major_page_faults, err);
        /* Newer fields: an older agent leaves them out. */
        if (r >= 0)
                r = cfield_u64_opt(resp, what, "Pids", &s.process_count, err);
        if (r >= 0)
                r = cfield_u64_opt(resp, what, "WritableBytes", &s.writable_bytes, err);
        if (r >= 0)
                r = cfield_u64_opt(resp, what, "WritableInodes", &s.writable_inodes, err);
        if (r < 0)
                return uvm_error_wrap(err, "stats of container %s", ctr_id);
        s.timestamp_ns = (int64_t) plat_realtime_ns();
        *ret = s;
        return 0;
}

static int interface_from(json_object *o, struct drv_interface_stats *ret, struct uvm_error **err)
{
        const char *what = "ModifySettings (pod stats) interface";
        const char *name = json_object_get_string(json_object_object_get(o, "Name"));
        int r;

        if (!json_object_is_type(o, json_type_object) || !name || !*name ||
            strlen(name) >= sizeof(ret->name))
                return uvm_error_set(err, EBADMSG, "agent %s: bad Name", what);
        snprintf(ret->name, sizeof(ret->name), "%s", name);
        r = cfield_u64(o, what, "RxBytes", &ret->rx_bytes, err);
        if (r >= 0)
                r = cfield_u64(o, what, "RxErrors", &ret->rx_errors, err);
        if (r >= 0)
                r = cfield_u64(o, what, "TxBytes", &ret->tx_bytes, err);
        if (r >= 0)
                r = cfield_u64(o, what, "TxErrors", &ret->tx_errors, err);
        return r;
}

int agent_client_pod_stats(struct agent_client *c, struct drv_pod_stats *ret,
                           struct uvm_error **err)
{
        _cleanup_json_ json_object *req = client_req_new(c, ""), *resp = NULL;
        struct drv_pod_stats s = {0};
        json_object *a;
        int r;

        if (!req || client_req_add(req, "Stats", json_object_new_boolean(true), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = client_call(c, AGENT_RPC_MODIFY_SETTINGS, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r < 0)
                return uvm_error_wrap(err, "pod stats");
        if (!json_object_object_get_ex(resp, "Interfaces", &a) ||
            !json_object_is_type(a, json_type_array))
                return uvm_error_set(err, EBADMSG, "agent pod stats: Interfaces is not an array");
        for (size_t i = 0; i < json_object_array_length(a) && i < DRV_MAX_INTERFACES; i++) {
                r = interface_from(json_object_array_get_idx(a, i), &s.interfaces[i], err);
                if (r < 0)
                        return r;
                s.n_interfaces = i + 1;
        }
        s.timestamp_ns = (int64_t) plat_realtime_ns();
        *ret = s;
        return 0;
}

int agent_client_modify(struct agent_client *c, const char *type, json_object *settings,
                        json_object **ret, struct uvm_error **err)
{
        _cleanup_json_ json_object *req = client_req_new(c, "");
        json_object *resp = NULL;
        int r;

        if (!req || client_req_add(req, "ResourceType", json_object_new_string(type), err) < 0 ||
            client_req_add(req, "Settings", json_object_get(settings), err) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = client_call(c, AGENT_RPC_MODIFY_SETTINGS, TAKE_PTR(req), CALL_TIMEOUT_MS, &resp, err);
        if (r < 0)
                return uvm_error_wrap(err, "guest settings %s", type);
        if (ret)
                *ret = resp;
        else
                json_object_put(resp);
        return 0;
}
