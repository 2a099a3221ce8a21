#pragma once

/*
 * Persisted pod records: <state_root>/pods/<id>/pod.json, written
 * atomically (fs_write_atomic), read back after a restart. Every field read
 * back is checked: a damaged record is an error naming the file, never a
 * half-filled pod.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/driver.h"
#include "sandbox/idmap.h"
#include "sandbox/state.h"

/* The one limit on a pod's or container's labels, and on its annotations,
 * each: checked when the request arrives and again when the record is read
 * back, so whatever was accepted survives a restart. */
#define RECORD_MAX_KV 256
#define RECORD_MAX_KV_BYTES (512 << 10) /* keys and values together */
#define RECORD_MAX_KEY 1024
/* A record file: room for the above with every byte JSON-escaped. */
#define RECORD_MAX_BYTES (4 << 20)

struct record_kv {
        char *key, *value;
};

struct pod_record {
        char *id, *name, *namespace_, *uid;
        uint32_t attempt;
        enum pod_state state;
        int64_t created_ns;
        char *runtime_handler, *driver;
        char *hostname, *log_directory;
        char *netns_path; /* NULL: host network */
        char *ips[2];     /* from CNI: the primary first (dual stack: one per family) */
        size_t n_ips;
        bool host_ipc, host_pid, share_pid;
        char **sysctls;      /* "name=value", NULL-terminated, checked; NULL: none */
        char *cgroup_parent; /* the kubelet's, checked; NULL: uvmd's own */
        struct drv_uvm_options uvm;
        struct userns_map userns;     /* the kubelet's mappings; none: the host's user namespace */
        struct sbx_pod_limits limits; /* pod resources + overhead, as last given */
        struct record_kv *labels, *annotations;
        size_t n_labels, n_annotations;
};

void pod_record_clear(struct pod_record *r);

/* Labels and annotations, as pod and container records keep them. */
/* -EINVAL naming field when kv is over the limits above. */
int record_kv_check(const char *field, const struct record_kv *kv, size_t n,
                    struct uvm_error **err);
void record_kv_free(struct record_kv *kv, size_t n);
/* A deep copy (-ENOMEM; *ret untouched on failure). */
int record_kv_copy(const struct record_kv *src, size_t n, struct record_kv **ret);
json_object *record_kv_to_json(const struct record_kv *kv, size_t n);
/* From a JSON object of at most RECORD_MAX_KV strings; -EINVAL with *ret_why
 * saying what is wrong, or -ENOMEM. *ret untouched on failure. */
int record_kv_from_json(json_object *o, struct record_kv **ret, size_t *ret_n,
                        const char **ret_why);

/* Write <pod_dir>/pod.json. */
int pod_record_save(const char *pod_dir, const struct pod_record *r, struct uvm_error **err);
/* Read <pod_dir>/pod.json into *ret (cleared first on success only). */
int pod_record_load(const char *pod_dir, struct pod_record *ret, struct uvm_error **err);
