/* Attach: a session that gets a running container's output from the moment
 * it is made (the output thread copies what it reads, agent_pump_tee) while
 * the container's own streams, the CRI log, keep every byte; and passes host
 * bytes to the container's stdin. An attach that falls more than 1 MiB
 * behind ends with ENOBUFS rather than stall the log or drop bytes silently
 * (a terminal with holes in its output is worse than a clear end). */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent-internal.h"
#include "common/log.h"

int agent_attach(struct agent_conn *conn, json_object *req, json_object **ret,
                 struct uvm_error **err)
{
        const char *id = json_string_of(req, "ContainerId");
        _cleanup_(agent_sess_freep) struct agent_sess *s = NULL;
        bool in = false, out = false, errs = false, tty = false;
        uint64_t src[2] = {0, 0};
        int r;

        r = agent_json_bool(req, "Stdin", &in, err);
        if (r >= 0)
                r = agent_json_bool(req, "Stdout", &out, err);
        if (r >= 0)
                r = agent_json_bool(req, "Stderr", &errs, err);
        if (r >= 0 && !in && !out && !errs)
                r = uvm_error_set(err, EINVAL, "one of Stdin, Stdout and Stderr must be true");
        if (r >= 0)
                r = agent_ctr_streams(id, &src[0], &src[1], &tty, err);
        if (r >= 0)
                r = agent_sess_new(AGENT_SESS_ATTACH, id, &s, err);
        if (r < 0)
                return uvm_error_wrap(err, "attach to container '%s'", id);
        if (out)
                agent_sess_out(s, 0, -1, src[0], true);
        if (errs && !tty) /* a terminal has one output: the stdout stream */
                agent_sess_out(s, 1, -1, src[1], true);
        if (in)
                agent_sess_ctr_stdin(s);
        r = agent_pump_add(TAKE_PTR(s), conn, ret, err);
        if (r < 0)
                return uvm_error_wrap(err, "attach to container '%s'", id);
        /* Output that ended before the attach was there ends it too. */
        for (int i = 0; i < 2; i++)
                if (src[i] && agent_out_eof(src[i]))
                        agent_pump_tee(src[i], NULL, 0);
        return 0;
}
