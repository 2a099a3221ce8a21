#pragma once

/*
 * A pod's CNI attachment record: everything DEL needs to undo ADD after a
 * restart. Written before the pod's namespace exists and before ADD runs,
 * and again with ADD's result; removed last. Shared by Linux's pod.c and
 * Windows' net_hcn.c, each adding its own namespace fields by name
 * (Linux "netns" and "ifname", Windows "namespace"):
 *
 *   {"version":1,"podId":ID,<the platform's fields>,"args":CNI_ARGS,
 *    "confFile":PATH,"conflist":{..},"runtimeConfig":{..},"result":{..}}
 *
 * Not to be confused with the sandbox layer's pod record.
 */

#include <stdbool.h>

#include "common/error.h"
#include "network/cni_conf.h"
#include "network/cni_exec.h"
#include "network/net.h"

#define CNI_RECORD_VERSION 1
/* conflist (1 MiB max) + result (1 MiB max) + the rest */
#define CNI_RECORD_MAX (3 << 20)
#define CNI_RECORD_MAX_FIELDS 2
#define CNI_RECORD_MAX_FIELD 4096

struct cni_record {
        char *pod_id;
        char *args;                          /* CNI_ARGS */
        char *runtime_config;                /* JSON object text */
        struct cni_conf *conf;               /* the exact list ADD used: DEL must undo that ADD */
        char *result;                        /* ADD's result, JSON text; NULL until ADD succeeded */
        char *fields[CNI_RECORD_MAX_FIELDS]; /* the platform's, named by its keys */
};

void cni_record_clear(struct cni_record *rec);

/* rec's pod id, CNI_ARGS and runtime config from cfg (cni_pod.h, checked
 * there); its conf and fields are the caller's to set. */
int cni_record_init(struct cni_record *rec, const struct net_pod_config *cfg,
                    struct uvm_error **err);

/* keys: the platform's field names, NULL-terminated, at most
 * CNI_RECORD_MAX_FIELDS; rec->fields[i] is the value of keys[i]. */
int cni_record_encode(const struct cni_record *rec, const char *const *keys, char **ret_text,
                      struct uvm_error **err);

/* Every field checked (the version, podId equal to pod_id, each key a
 * string of at most CNI_RECORD_MAX_FIELD bytes, the list parses, the
 * runtime config and result are objects); -EINVAL when anything is off.
 * The caller checks its own fields' values. */
int cni_record_decode(const char *text, const char *pod_id, const char *const *keys,
                      struct cni_record *ret, struct uvm_error **err);

/* Atomically, mode 0600. */
int cni_record_write(const char *path, const struct cni_record *rec, const char *const *keys,
                     struct uvm_error **err);

/* -ENOENT, with nothing in err, when there is no record. */
int cni_record_read(const char *path, const char *pod_id, const char *const *keys,
                    struct cni_record *ret, struct uvm_error **err);

/* The recorded ADD, CHECK or DEL with CNI_NETNS netns ("" for a DEL
 * whose namespace is gone) and CNI_IFNAME ifname. */
void cni_record_invocation(const struct cni_record *rec, const char *netns, const char *ifname,
                           struct cni_invocation *ret);

/* How an attachment is undone, in order: DEL with the recorded list
 * (when ADD may have run), the platform's namespace (ns_remove), the
 * record at path. */
struct cni_undo {
        const struct cni_exec *exec;
        const char *netns; /* CNI_NETNS for DEL: "" when the namespace is gone */
        const char *ifname;
        bool del; /* ADD may have run */
        /* A setup's rollback: every step runs, failures are logged and the
         * caller's first error stays the one reported. Otherwise the first
         * failure stops the steps and is returned, the record kept for
         * another try. */
        bool best_effort;
        int (*ns_remove)(void *data, struct uvm_error **err);
        void *data;
};

int cni_record_undo(const struct cni_record *rec, const char *path, const struct cni_undo *u,
                    struct uvm_error **err);
