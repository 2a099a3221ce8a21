/* libFuzzer harness for the QMP client's decoding of what QEMU sends: the
 * input is the whole byte stream from "QEMU" (greeting, capabilities reply,
 * replies, events), then EOF. Every call must end in success or an error
 * with a message, never crash, hang or leak. Run with
 * tests/unit/qemu/fuzz.sh. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/error.h"
#include "sandbox/drivers/qemu/qmp-internal.h"

static void count_event(void *userdata, const char *event, json_object *data)
{
        if (!event || !*event || (data && !json_object_is_type(data, json_type_object)))
                abort();
        ++*(int *) userdata;
}

/* r and err agree, and a failure says what failed. */
static void check(int r, struct uvm_error **err)
{
        if ((r < 0) != (*err != NULL) || (*err && (!(*err)->msg || (*err)->code != -r)))
                abort();
        *err = uvm_error_free(*err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct uvm_error *err = NULL;
        json_object *ret = NULL;
        struct qmp *q = NULL;
        int sv[2], events = 0, r;

        /* The stream fits the socket buffer: written whole, then EOF. */
        if (size > 64 * 1024 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 0;
        if (write(sv[1], data, size) != (ssize_t) size)
                abort();
        shutdown(sv[1], SHUT_WR);

        r = qmp_connect_fd(sv[0], 0, &q, &err);
        check(r, &err);
        if (r == 0) {
                qmp_set_event_handler(q, count_event, &events);
                for (int i = 0; i < 4; i++) {
                        r = qmp_execute(q, i % 2 ? "query-status" : "cont", NULL, 0, &ret, &err);
                        check(r, &err);
                        json_object_put(ret);
                        ret = NULL;
                        r = qmp_wait_event(q, "SHUTDOWN", 0, &ret, &err);
                        check(r, &err);
                        json_object_put(ret);
                        ret = NULL;
                }
        }
        qmp_close(q);
        close(sv[1]);
        return 0;
}
