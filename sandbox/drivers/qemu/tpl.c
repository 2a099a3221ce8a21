/* VM templates, the pure parts: key, meta.json, QMP sequences (tpl.h). */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/macros.h"
#include "common/sha256.h"
#include "sandbox/drivers/qemu/cmdline.h"
#include "sandbox/drivers/qemu/tpl.h"

#define POLL_NS 5000000L /* query-migrate every 5 ms */

static bool is_hex(const char *s, size_t len)
{
        return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

bool qtpl_key_valid(const char *s)
{
        return s && is_hex(s, QTPL_KEY_LEN);
}

int qtpl_key(const struct qtpl_shape *shape, char ret[QTPL_KEY_LEN + 1])
{
        unsigned char d[SHA256_LEN];
        _cleanup_free_ char *text = NULL;
        int n = asprintf(&text,
                         "uvmd-vm-template\nlayout=%d\nimage=%s\nqemu=%s\nmemory_mb=%" PRIu32
                         "\nvcpus=%" PRIu32 "\naccel=%s\nappend=%s\n",
                         QEMU_LAYOUT_VERSION, shape->image, shape->qemu, shape->memory_mb,
                         shape->vcpus, shape->kvm ? "kvm" : "tcg",
                         shape->append ? shape->append : "");

        if (n < 0)
                return -ENOMEM;
        if (sha256_buf(text, (size_t) n, d) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < QTPL_KEY_LEN / 2; i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
        return 0;
}

char *qtpl_meta_format(const struct qtpl_meta *m)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        const char *text;

        if (!o)
                return NULL;
        json_object_object_add(o, "version", json_object_new_int(QTPL_META_VERSION));
        json_object_object_add(o, "key", json_object_new_string(m->key));
        json_object_object_add(o, "memoryMb", json_object_new_int64(m->memory_mb));
        json_object_object_add(o, "vcpus", json_object_new_int64(m->vcpus));
        json_object_object_add(o, "mac", json_object_new_string(m->mac));
        json_object_object_add(o, "stateBytes", json_object_new_int64((int64_t) m->state_bytes));
        json_object_object_add(o, "bootMs", json_object_new_int64(m->boot_ms));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        return text ? strdup(text) : NULL;
}

/* o[key] as an integer in lo..hi, else -EINVAL naming it. */
static int int_field(json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *ret,
                     struct uvm_error **err)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return uvm_error_set(err, EINVAL, "template meta: %s must be an integer", key);
        *ret = json_object_get_int64(v);
        if (*ret < lo || *ret > hi)
                return uvm_error_set(err, EINVAL,
                                     "template meta: %s %" PRId64 " is out of range (%" PRId64
                                     "..%" PRId64 ")",
                                     key, *ret, lo, hi);
        return 0;
}

static bool valid_mac(const char *s)
{
        if (!s || strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !s[i] || !strchr("0123456789abcdef", s[i]))
                        return false;
        return (strtoul(s, NULL, 16) & 1) == 0; /* unicast */
}

int qtpl_meta_parse(const char *text, const char *want_key, struct qtpl_meta *ret,
                    struct uvm_error **err)
{
        _cleanup_json_ json_object *o = NULL;
        struct qtpl_meta m = {0};
        const char *key, *mac;
        int64_t version, mem, vcpus, state, boot;
        int r;

        if (!text || !(o = json_tokener_parse(text)) || !json_object_is_type(o, json_type_object))
                return uvm_error_set(err, EINVAL, "template meta: not a JSON object");
        r = int_field(o, "version", QTPL_META_VERSION, QTPL_META_VERSION, &version, err);
        if (r >= 0)
                r = int_field(o, "memoryMb", QEMU_MIN_MEMORY_MB, QEMU_MAX_MEMORY_MB, &mem, err);
        if (r >= 0)
                r = int_field(o, "vcpus", 1, QEMU_MAX_VCPUS_KVM, &vcpus, err);
        if (r >= 0)
                r = int_field(o, "stateBytes", 1, QTPL_MAX_STATE, &state, err);
        if (r >= 0)
                r = int_field(o, "bootMs", 0, INT32_MAX, &boot, err);
        if (r < 0)
                return r;
        key = json_string_of(o, "key");
        mac = json_string_of(o, "mac");
        if (!qtpl_key_valid(key))
                return uvm_error_set(err, EINVAL, "template meta: key must be %d hex digits",
                                     QTPL_KEY_LEN);
        if (want_key && !STR_EQ(key, want_key))
                return uvm_error_set(err, EINVAL, "template meta: key %s is not %s", key, want_key);
        if (!valid_mac(mac))
                return uvm_error_set(err, EINVAL, "template meta: mac must be a unicast MAC");
        memcpy(m.key, key, QTPL_KEY_LEN + 1);
        memcpy(m.mac, mac, sizeof(m.mac));
        m.memory_mb = (uint32_t) mem;
        m.vcpus = (uint32_t) vcpus;
        m.state_bytes = (uint64_t) state;
        m.boot_ms = boot;
        *ret = m;
        return 0;
}

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_object *ignore_shared(void)
{
        json_object *cap = json_object_new_object(), *caps = json_object_new_array(),
                    *args = json_object_new_object();

        json_object_object_add(cap, "capability", json_object_new_string("x-ignore-shared"));
        json_object_object_add(cap, "state", json_object_new_boolean(true));
        json_object_array_add(caps, cap);
        json_object_object_add(args, "capabilities", caps);
        return args;
}

static int run_uri(struct qmp *q, const char *command, const char *uri, int timeout_ms,
                   struct uvm_error **err)
{
        _cleanup_json_ json_object *args = json_object_new_object();

        json_object_object_add(args, "uri", json_object_new_string(uri));
        return qmp_execute(q, command, args, timeout_ms, NULL, err);
}

int qtpl_qmp_save_start(struct qmp *q, const char *uri, int timeout_ms, struct uvm_error **err)
{
        _cleanup_json_ json_object *caps = ignore_shared();
        int r = qmp_execute(q, "stop", NULL, timeout_ms, NULL, err);

        if (r >= 0)
                r = qmp_execute(q, "migrate-set-capabilities", caps, timeout_ms, NULL, err);
        if (r >= 0)
                r = run_uri(q, "migrate", uri, timeout_ms, err);
        return r;
}

int qtpl_qmp_wait_done(struct qmp *q, int timeout_ms, struct uvm_error **err)
{
        int64_t end = mono_ms() + timeout_ms;

        for (;;) {
                _cleanup_json_ json_object *st = NULL;
                const char *status;
                int r = qmp_execute(q, "query-migrate", NULL, timeout_ms, &st, err);

                if (r < 0)
                        return r;
                status = json_string_of(st, "status");
                if (status && STR_EQ(status, "completed"))
                        return 0;
                if (status && (STR_EQ(status, "failed") || STR_EQ(status, "cancelled")))
                        return uvm_error_set(err, EIO, "migration %s: %s", status,
                                             json_string_of(st, "error-desc") ?: "no reason given");
                if (mono_ms() >= end)
                        return uvm_error_set(err, ETIMEDOUT,
                                             "migration not completed after %d ms (status %s)",
                                             timeout_ms, status ? status : "none");
                nanosleep(&(struct timespec){0, POLL_NS}, NULL);
        }
}

int qtpl_qmp_restore(struct qmp *q, const char *uri, int timeout_ms, struct uvm_error **err)
{
        _cleanup_json_ json_object *caps = ignore_shared();
        int r = qmp_execute(q, "migrate-set-capabilities", caps, timeout_ms, NULL, err);

        if (r >= 0)
                r = run_uri(q, "migrate-incoming", uri, timeout_ms, err);
        if (r >= 0)
                r = qtpl_qmp_wait_done(q, timeout_ms, err);
        if (r >= 0)
                r = qmp_execute(q, "cont", NULL, timeout_ms, NULL, err);
        return r;
}
