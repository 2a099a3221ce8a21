/* VM templates, the pure parts (sandbox/drivers/qemu/tpl.h): the key, meta.json
 * and the QMP sequences that save and restore, against a fake QMP peer on
 * a socketpair that follows a script of (command, reply) steps. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "sandbox/drivers/qemu/qmp-internal.h"
#include "sandbox/drivers/qemu/tpl.h"

/* --- the key --- */

static struct qtpl_shape shape(void)
{
        struct qtpl_shape s = {.memory_mb = 1024, .vcpus = 1, .append = "pcie_ports=native"};

        snprintf(s.image, sizeof(s.image), "%064d", 7);
        snprintf(s.qemu, sizeof(s.qemu), "/usr/bin/qemu-system-x86_64:1:2.3:4");
        return s;
}

static void key_of(const struct qtpl_shape *s, char out[QTPL_KEY_LEN + 1])
{
        assert_int_equal(qtpl_key(s, out), 0);
        assert_true(qtpl_key_valid(out));
}

static void test_key_changes_with_every_input(void **state)
{
        char base[QTPL_KEY_LEN + 1], again[QTPL_KEY_LEN + 1], other[QTPL_KEY_LEN + 1];
        struct qtpl_shape s = shape(), t;

        (void) state;
        key_of(&s, base);
        key_of(&s, again);
        assert_string_equal(base, again);
        t = s, t.image[0] = '1', key_of(&t, other), assert_string_not_equal(base, other);
        t = s, t.qemu[1] = 'x', key_of(&t, other), assert_string_not_equal(base, other);
        t = s, t.memory_mb = 2048, key_of(&t, other), assert_string_not_equal(base, other);
        t = s, t.vcpus = 2, key_of(&t, other), assert_string_not_equal(base, other);
        t = s, t.kvm = true, key_of(&t, other), assert_string_not_equal(base, other);
        t = s, t.append = NULL, key_of(&t, other), assert_string_not_equal(base, other);
}

static void test_key_valid(void **state)
{
        (void) state;
        assert_true(qtpl_key_valid("0123456789abcdef0123456789abcdef"));
        assert_false(qtpl_key_valid(NULL));
        assert_false(qtpl_key_valid(""));
        assert_false(qtpl_key_valid("0123456789abcdef0123456789abcde"));
        assert_false(qtpl_key_valid("0123456789ABCDEF0123456789abcdef"));
        assert_false(qtpl_key_valid("../3456789abcdef0123456789abcdef"));
}

/* --- meta.json --- */

#define KEY "00112233445566778899aabbccddeeff"

static struct qtpl_meta meta(void)
{
        struct qtpl_meta m = {.memory_mb = 1024, .vcpus = 1, .state_bytes = 99368, .boot_ms = 7448};

        memcpy(m.key, KEY, sizeof(m.key));
        memcpy(m.mac, QTPL_MAC, sizeof(m.mac));
        return m;
}

static void test_meta_round_trip(void **state)
{
        struct qtpl_meta m = meta(), back;
        struct uvm_error *err = NULL;
        char *text = qtpl_meta_format(&m);

        (void) state;
        assert_non_null(text);
        assert_int_equal(qtpl_meta_parse(text, KEY, &back, &err), 0);
        assert_memory_equal(&m, &back, sizeof(m));
        assert_int_equal(qtpl_meta_parse(text, NULL, &back, &err), 0);
        free(text);
}

static void expect_bad(const char *text, const char *want, const char *msg)
{
        struct qtpl_meta out = {0};
        struct uvm_error *err = NULL;
        int r = qtpl_meta_parse(text, want, &out, &err);

        assert_int_equal(r, -EINVAL);
        assert_non_null(err);
        if (!strstr(err->msg, msg))
                fail_msg("'%s': error '%s' lacks '%s'", text ? text : "NULL", err->msg, msg);
        assert_int_equal(out.memory_mb, 0); /* written only on success */
        uvm_error_free(err);
}

/* meta()'s JSON with key k replaced by the raw JSON value v (NULL: removed). */
static char *with(const char *k, const char *v)
{
        struct qtpl_meta m = meta();
        char *text = qtpl_meta_format(&m), *out;
        json_object *o = json_tokener_parse(text);

        free(text);
        json_object_object_del(o, k);
        if (v)
                json_object_object_add(o, k, json_tokener_parse(v));
        out = strdup(json_object_to_json_string(o));
        json_object_put(o);
        return out;
}

static void test_meta_refusals(void **state)
{
        static const struct {
                const char *key, *value, *msg;
        } cases[] = {
                {"version", "2", "version"},
                {"version", NULL, "version"},
                {"memoryMb", "\"1024\"", "memoryMb must be an integer"},
                {"memoryMb", "1", "out of range"},
                {"vcpus", "0", "vcpus"},
                {"vcpus", "100000", "vcpus"},
                {"stateBytes", "0", "stateBytes"},
                {"stateBytes", "1000000000", "stateBytes"},
                {"bootMs", "-1", "bootMs"},
                {"key", "\"../../etc\"", "key must be"},
                {"key", "5", "key must be"},
                {"key", NULL, "key must be"},
                {"key", "\"ffffffffffffffffffffffffffffffff\"", "is not"},
                {"mac", "\"03:00:00:00:00:01\"", "unicast"},
                {"mac", "\"02:00:00:00:00\"", "mac"},
                {"mac", "\"02:00:00:00:00:0g\"", "mac"},
                {"mac", "\"02-00-00-00-00-01\"", "mac"},
                {"mac", NULL, "mac"},
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *text = with(cases[i].key, cases[i].value);

                expect_bad(text, KEY, cases[i].msg);
                free(text);
        }
        expect_bad(NULL, KEY, "not a JSON object");
        expect_bad("", KEY, "not a JSON object");
        expect_bad("[1]", KEY, "not a JSON object");
        expect_bad("{\"version\": 1", KEY, "not a JSON object");
}

/* --- the QMP sequences, against a scripted peer --- */

struct step {
        const char *command; /* expected */
        const char *args;    /* a substring its arguments' JSON must have, or NULL */
        const char *reply;   /* "return" or "error" member, raw JSON */
};

struct peer {
        int fd;
        const struct step *steps;
        size_t n;
        pthread_t thread;
        char failure[512];
};

static void peer_send(int fd, const char *s)
{
        size_t len = strlen(s);

        while (len > 0) {
                ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

                if (n <= 0)
                        return;
                s += n;
                len -= (size_t) n;
        }
}

static json_object *peer_read(int fd)
{
        char line[4096];
        size_t n = 0;

        while (n < sizeof(line) - 1 && read(fd, line + n, 1) == 1)
                if (line[n++] == '\n')
                        break;
        line[n] = '\0';
        return n ? json_tokener_parse(line) : NULL;
}

/* One command: check it, answer it. */
static bool peer_step(struct peer *p, const char *command, const char *args, const char *reply)
{
        json_object *req = peer_read(p->fd), *v;
        const char *got = NULL, *a = "";
        char out[1024];

        if (req && json_object_object_get_ex(req, "execute", &v))
                got = json_object_get_string(v);
        if (req && json_object_object_get_ex(req, "arguments", &v))
                a = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        if (!got || strcmp(got, command) != 0 || (args && !strstr(a, args))) {
                snprintf(p->failure, sizeof(p->failure), "expected %s (%s), got %s (%s)", command,
                         args ? args : "", got ? got : "nothing", a);
                json_object_put(req);
                return false;
        }
        json_object_object_get_ex(req, "id", &v);
        snprintf(out, sizeof(out), "{%s, \"id\": %lld}\r\n", reply,
                 (long long) json_object_get_int64(v));
        peer_send(p->fd, out);
        json_object_put(req);
        return true;
}

static void *peer_main(void *arg)
{
        struct peer *p = arg;

        peer_send(p->fd, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
        if (!peer_step(p, "qmp_capabilities", NULL, "\"return\": {}"))
                return NULL;
        for (size_t i = 0; i < p->n; i++)
                if (!peer_step(p, p->steps[i].command, p->steps[i].args, p->steps[i].reply))
                        return NULL;
        return NULL;
}

static struct qmp *peer_start(struct peer *p, const struct step *steps, size_t n)
{
        struct uvm_error *err = NULL;
        struct qmp *q = NULL;
        int sv[2];

        memset(p, 0, sizeof(*p));
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        p->fd = sv[1];
        p->steps = steps;
        p->n = n;
        assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
        assert_int_equal(qmp_connect_fd(sv[0], 2000, &q, &err), 0);
        return q;
}

static void peer_stop(struct peer *p, struct qmp *q)
{
        qmp_close(q);
        shutdown(p->fd, SHUT_RDWR);
        pthread_join(p->thread, NULL);
        close(p->fd);
        if (p->failure[0])
                fail_msg("QMP peer: %s", p->failure);
}

#define CAPS "{\"capabilities\":[{\"capability\":\"x-ignore-shared\",\"state\":true}]}"
#define STEPS(s) s, sizeof(s) / sizeof(s[0])

static void test_save(void **state)
{
        static const struct step steps[] = {
                {"stop", NULL, "\"return\": {}"},
                {"migrate-set-capabilities", CAPS, "\"return\": {}"},
                {"migrate", "{\"uri\":\"unix:\\/t\\/mig.sock\"}", "\"return\": {}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"setup\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"completed\"}"},
        };
        struct uvm_error *err = NULL;
        struct peer p;
        struct qmp *q = peer_start(&p, STEPS(steps));

        (void) state;
        assert_int_equal(qtpl_qmp_save_start(q, "unix:/t/mig.sock", 2000, &err), 0);
        assert_int_equal(qtpl_qmp_wait_done(q, 2000, &err), 0);
        peer_stop(&p, q);
}

static void test_restore(void **state)
{
        static const struct step steps[] = {
                {"migrate-set-capabilities", CAPS, "\"return\": {}"},
                {"migrate-incoming", "{\"uri\":\"fd:5\"}", "\"return\": {}"},
                {"query-migrate", NULL, "\"return\": {}"}, /* no status yet */
                {"query-migrate", NULL, "\"return\": {\"status\": \"completed\"}"},
                {"cont", NULL, "\"return\": {}"},
        };
        struct uvm_error *err = NULL;
        struct peer p;
        struct qmp *q = peer_start(&p, STEPS(steps));

        (void) state;
        assert_int_equal(qtpl_qmp_restore(q, "fd:5", 2000, &err), 0);
        peer_stop(&p, q);
}

static void test_restore_failed_migration(void **state)
{
        static const struct step steps[] = {
                {"migrate-set-capabilities", CAPS, "\"return\": {}"},
                {"migrate-incoming", NULL, "\"return\": {}"},
                {"query-migrate", NULL,
                 "\"return\": {\"status\": \"failed\", \"error-desc\": \"load of migration "
                 "failed: Invalid argument\"}"},
        };
        struct uvm_error *err = NULL;
        struct peer p;
        struct qmp *q = peer_start(&p, STEPS(steps));

        (void) state;
        assert_int_equal(qtpl_qmp_restore(q, "fd:5", 2000, &err), -EIO);
        assert_non_null(strstr(err->msg, "migration failed: load of migration failed"));
        uvm_error_free(err);
        peer_stop(&p, q);
}

static void test_restore_refused(void **state)
{
        static const struct step steps[] = {
                {"migrate-set-capabilities", CAPS,
                 "\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}"},
        };
        struct uvm_error *err = NULL;
        struct peer p;
        struct qmp *q = peer_start(&p, STEPS(steps));

        (void) state;
        assert_int_equal(qtpl_qmp_restore(q, "fd:5", 2000, &err), -EIO);
        assert_non_null(strstr(err->msg, "nope"));
        uvm_error_free(err);
        peer_stop(&p, q);
}

static void test_wait_times_out(void **state)
{
        static const struct step steps[] = {
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
                {"query-migrate", NULL, "\"return\": {\"status\": \"active\"}"},
        };
        struct uvm_error *err = NULL;
        struct peer p;
        struct qmp *q = peer_start(&p, STEPS(steps));

        (void) state;
        assert_int_equal(qtpl_qmp_wait_done(q, 10, &err), -ETIMEDOUT);
        assert_non_null(strstr(err->msg, "status active"));
        uvm_error_free(err);
        qmp_close(q);
        shutdown(p.fd, SHUT_RDWR);
        pthread_join(p.thread, NULL);
        close(p.fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_changes_with_every_input),
                cmocka_unit_test(test_key_valid),
                cmocka_unit_test(test_meta_round_trip),
                cmocka_unit_test(test_meta_refusals),
                cmocka_unit_test(test_save),
                cmocka_unit_test(test_restore),
                cmocka_unit_test(test_restore_failed_migration),
                cmocka_unit_test(test_restore_refused),
                cmocka_unit_test(test_wait_times_out),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
