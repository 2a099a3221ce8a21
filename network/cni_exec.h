#pragma once

/*
 * The CNI executor: runs a config list's plugins for ADD, CHECK and DEL as
 * the CNI spec says (environment, per-plugin config on stdin with name,
 * cniVersion, prevResult and runtimeConfig injected, result or error JSON on
 * stdout). How a plugin is started is a table of function pointers, so tests
 * substitute a fake executor.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "network/cni_conf.h"

#define CNI_MAX_OUTPUT (1 << 20)
#define CNI_RESULT_MAX_IPS 2

struct cni_exec_ops {
        /* Run plugin_path with exactly env and stdin_json; on return 0 the
         * plugin ran to completion: *ret_stdout holds its output (owned by the
         * caller, NUL-terminated, at most CNI_MAX_OUTPUT bytes) and *ret_exit
         * its exit status (or 128 + signal). */
        int (*run)(void *data, const char *plugin_path, char *const *env, const char *stdin_json,
                   unsigned timeout_ms, char **ret_stdout, int *ret_exit, struct uvm_error **err);
};

/* posix_spawn with piped stdin/stdout/stderr, bounded output, a timeout
 * after which the plugin's process group is killed; always reaped. */
extern const struct cni_exec_ops cni_exec_spawn;

struct cni_exec {
        const struct cni_exec_ops *ops;
        void *data;
        char *const *bin_dirs; /* CNI_PATH, searched for plugin types */
        unsigned timeout_ms;   /* per plugin invocation */
};

/* One attachment: what goes into the environment and runtimeConfig. */
struct cni_invocation {
        const char *container_id;
        const char *netns; /* "" on DEL when the namespace is gone */
        const char *ifname;
        const char *args; /* CNI_ARGS, may be NULL */
        /* JSON object of capability arguments (portMappings, dns, bandwidth,
         * ipRanges); each plugin gets the keys it declares. May be NULL. */
        const char *runtime_config;
        /* The ADD result, given as prevResult to CHECK and DEL. May be NULL. */
        const char *prev_result;
};

/* A result's "dns", which the spec calls advice: kept only when every
 * entry passes the pod files' rules (pod_files.h), else left empty with a
 * warning (the ADD still succeeds). Lists NULL-terminated, or NULL. */
struct cni_dns {
        char **nameservers;
        char *domain;
        char **search;
        char **options;
};

struct cni_result {
        char *json;                    /* the final result, as the last plugin printed it */
        char *ips[CNI_RESULT_MAX_IPS]; /* bare addresses, on the sandbox interface */
        size_t n_ips;
        char *interface; /* sandbox interface name, or NULL */
        struct cni_dns dns;
};

void cni_result_clear(struct cni_result *r);

/* Whether the spec version is one this executor speaks (0.3.0 .. 1.1.0). */
bool cni_version_supported(const char *version);

int cni_add(const struct cni_exec *x, const struct cni_conf *c, const struct cni_invocation *inv,
            struct cni_result *ret, struct uvm_error **err);

/* -EOPNOTSUPP for versions before 0.4.0, which have no CHECK. */
int cni_check(const struct cni_exec *x, const struct cni_conf *c, const struct cni_invocation *inv,
              struct uvm_error **err);

/* Runs every plugin in reverse order even past failures; the first failure
 * is returned. */
int cni_del(const struct cni_exec *x, const struct cni_conf *c, const struct cni_invocation *inv,
            struct uvm_error **err);

/* Strict parse: one JSON value and nothing after it (NULL otherwise).
 * For the documents CNI code reads: results, records. */
struct json_object;
struct json_object *cni_json_parse(const char *text);

/* Parse a result document (0.3.x/0.4.0/1.x) into addresses on the sandbox
 * interface and its advised DNS. Exposed for the pod layer's persisted records and for tests. */
int cni_result_parse(const char *plugin, const char *json, struct cni_result *ret,
                     struct uvm_error **err);
