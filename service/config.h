#pragma once

/*
 * The daemon's configuration: built-in defaults, then the JSON config file
 * (optional unless named explicitly), then command-line flags. Unknown keys
 * and out-of-range values are errors naming the file and the field.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/log.h"

#ifdef _WIN32
#define UVMD_DEFAULT_CONFIG "C:\\ProgramData\\uvmd\\config.json"
#else
#define UVMD_DEFAULT_CONFIG "/etc/uvmd/config.json"
#endif
#define UVMD_MAX_HANDLERS 16

struct uvmd_handler {
        char *name;   /* RuntimeClass handler, "" is the default */
        char *driver; /* "ns", "qemu", "hcs" */
};

struct uvmd_config {
        char *socket;     /* Linux: the CRI socket's path; Windows: "tcp://127.0.0.1:PORT" */
        char *state_root; /* runtime state (tmpfs): /run/uvmd */
        char *data_root;  /* persistent data: /var/lib/uvmd */
        enum log_level log_level;
        enum log_format log_format;

        char *cni_conf_dir;
        char **cni_bin_dirs;  /* NULL-terminated */
        char *cgroup_driver;  /* "" = detect, "cgroupfs", "systemd" */
        char *oci_runtime;    /* "runc" or "crun" (a name on PATH or a path) */
        char *default_driver; /* "auto": chosen at start-up (service/handlers.h) */
        char *kvm_device;     /* what the qemu driver probes; tests hide it */
        /* Each CNI plugin run; killed with its process group after it. */
        unsigned cni_plugin_timeout_ms;
        /* The qemu driver: the binary (a name on PATH or a path), the guest
         * image directory (vmlinux, initrd.img, manifest.json), the
         * accelerator ("auto": KVM once a guest was seen booting with it,
         * else TCG; "kvm"; "tcg"), and how long a guest may take to answer. */
        char *qemu_binary;
        char *guest_dir;
        char *qemu_accel;
        unsigned vm_boot_timeout_ms;
        /* "ignore" (default) or "allow": whether pods' computetopology
         * annotations size their VM (within the pod's limits). */
        char *vm_size_annotations;
        /* Start VM pods from a booted, saved template (default true). */
        bool vm_templates;
        struct uvmd_handler handlers[UVMD_MAX_HANDLERS];
        size_t n_handlers;

        char **insecure_registries;     /* hosts pulled from over plain HTTP, NULL-terminated */
        char **registry_mirrors;        /* "registry=url1,url2", NULL-terminated */
        unsigned image_pull_timeout_ms; /* per registry request; 0 = the client's default */

        unsigned io_threads;
        unsigned queue_spin_us; /* with io_threads 1: the queue thread polls this long after an
                                   event */
        unsigned workers;
        unsigned queue_limit;
        unsigned max_streams;
        unsigned max_message_bytes;
        unsigned shutdown_grace_ms;

        /* The streaming server of Exec, Attach and PortForward (stream/):
         * where it listens, TLS (both files or neither), how long a URL's
         * token lives. */
        char *stream_address;
        char *stream_tls_cert, *stream_tls_key;
        unsigned stream_token_ttl_ms;

        /* The Prometheus endpoint (GET /metrics): NULL when off (the
         * default); loopback only, "127.0.0.1:PORT" or "[::1]:PORT". */
        char *metrics_address;

        /* Windows: reach every hcs pod's agent over TCP at this loopback
         * "127.0.0.1:PORT" instead of HvSocket (NULL, the default): a rig
         * whose VMs' bridges are forwarded to the host, such as
         * tests/windows/uvmd_pods_test.sh's. */
        char *hcs_bridge_address;
        /* Windows: the size of each hcs pod container's scratch VHD, a
         * sparse file (hcsshim's 20 GiB); 0: the guest's memory instead. */
        unsigned scratch_size_gb;
};

void config_init_defaults(struct uvmd_config *c);
void config_free(struct uvmd_config *c);

/* Merge a JSON document (text) into c. source names it in errors. */
int config_parse(struct uvmd_config *c, const char *source, const char *text,
                 struct uvm_error **err);

/* Load path; a missing file is fine unless required. */
int config_load(struct uvmd_config *c, const char *path, bool required, struct uvm_error **err);

/* The CRI endpoint on Windows, "tcp://127.0.0.1:PORT" (loopback only:
 * deploy/windows/README.md): its port in *ret_port (may be NULL); another
 * scheme or host, a missing or bad port: -EINVAL saying which. Portable,
 * so that it is tested on Linux too. */
int config_tcp_endpoint_port(const char *endpoint, unsigned *ret_port, struct uvm_error **err);

/* A loopback HOST:PORT, "127.0.0.1:PORT" or "[::1]:PORT" with a port from 1
 * to 65535: *ret_v6 and *ret_port (either may be NULL); anything else,
 * another host above all, -EINVAL saying why. */
int config_loopback_address(const char *addr, bool *ret_v6, unsigned *ret_port,
                            struct uvm_error **err);

/* Cross-field checks after everything is merged. */
int config_validate(const struct uvmd_config *c, struct uvm_error **err);
